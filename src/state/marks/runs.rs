//! The on-disk side of the page marks: a mark packed into a fixed 32-byte record, sorted runs
//! of records in anonymous temporary files with a sparse index (one id per block of 256
//! records), binary-searched lookups through it, and the streamed merge of several runs in id
//! order.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use super::PageMark;

/// Records per indexed block of a sorted run (8 KiB, one read per lookup).
pub(super) const BLOCK: usize = 256;
/// Bytes of a record on disk: id (16), milliseconds (8), table (4), flags (1), pad, listing (2).
pub(super) const REC: usize = 32;
/// Sorted runs kept before they are merged into one.
pub(super) const MAX_RUNS: usize = 4;
/// Records read at a time when a run is streamed.
pub(super) const READ_RECS: usize = 2048;

pub(super) const TRASHED: u8 = 1;
/// Seen by the current run.
pub(super) const SEEN: u8 = 2;
/// The mark lives in `other` (its timestamp is not in Notion's form); this record only shadows
/// older records of the same id.
pub(super) const OTHER: u8 = 4;
/// [`PageMark::settled`] is known (marks from before it was recorded lack it)...
pub(super) const SETTLED_KNOWN: u8 = 8;
/// ...and true.
pub(super) const SETTLED: u8 = 16;
/// The page was taken as changed by this run (read, its content crawled).
pub(super) const CHANGED: u8 = 32;

/// A mark that fits in 16 bytes (32 with its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rec {
    pub(super) edited_ms: i64,
    /// 0: no table; otherwise an index into `tables`, plus one.
    pub(super) table: u32,
    pub(super) flags: u8,
    /// The listing (data-source query) of this run that last returned the page; 0: none.
    pub(super) listing: u16,
}

impl Rec {
    pub(super) fn encode(id: u128, r: &Rec, out: &mut [u8; REC]) {
        out[..16].copy_from_slice(&id.to_be_bytes());
        out[16..24].copy_from_slice(&r.edited_ms.to_le_bytes());
        out[24..28].copy_from_slice(&r.table.to_le_bytes());
        out[28] = r.flags;
        out[29] = 0;
        out[30..32].copy_from_slice(&r.listing.to_le_bytes());
    }

    pub(super) fn decode(b: &[u8]) -> (u128, Rec) {
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[..16]);
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&b[16..24]);
        let mut table = [0u8; 4];
        table.copy_from_slice(&b[24..28]);
        (
            u128::from_be_bytes(id),
            Rec {
                edited_ms: i64::from_le_bytes(ms),
                table: u32::from_le_bytes(table),
                flags: b[28],
                listing: u16::from_le_bytes([b[30], b[31]]),
            },
        )
    }
}

/// A mark kept verbatim.
#[derive(Debug, Clone)]
pub(super) struct OtherMark {
    pub(super) mark: PageMark,
    pub(super) seen: bool,
    /// Taken as changed by this run.
    pub(super) changed: bool,
    pub(super) listing: u16,
}

#[cfg(unix)]
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
pub(crate) fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Marks sorted by id in an anonymous temporary file (deleted when dropped, or by the OS if
/// the process dies), with the first id of every block in memory.
#[derive(Debug)]
pub(super) struct SortedRun {
    pub(super) file: File,
    pub(super) len: usize,
    pub(super) index: Vec<u128>,
}

impl SortedRun {
    pub(super) fn write(
        dir: Option<&std::path::Path>,
        records: impl Iterator<Item = io::Result<(u128, Rec)>>,
    ) -> io::Result<SortedRun> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d)?,
            None => tempfile::tempfile()?,
        };
        let mut w = BufWriter::with_capacity(1 << 16, file);
        let (mut len, mut index, mut buf) = (0, Vec::new(), [0u8; REC]);
        for r in records {
            let (id, rec) = r?;
            if len % BLOCK == 0 {
                index.push(id);
            }
            Rec::encode(id, &rec, &mut buf);
            w.write_all(&buf)?;
            len += 1;
        }
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(SortedRun { file, len, index })
    }

    pub(super) fn find(&self, id: u128) -> io::Result<Option<Rec>> {
        let Some(block) = self.index.partition_point(|&k| k <= id).checked_sub(1) else {
            return Ok(None);
        };
        let start = block * BLOCK;
        let n = BLOCK.min(self.len - start);
        let mut buf = [0u8; BLOCK * REC];
        let buf = &mut buf[..n * REC];
        read_exact_at(&self.file, buf, (start * REC) as u64)?;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (k, rec) = Rec::decode(&buf[mid * REC..(mid + 1) * REC]);
            match k.cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(rec)),
            }
        }
        Ok(None)
    }
}

/// One input of a merge.
pub(super) enum Source {
    Run {
        run: Arc<SortedRun>,
        next: usize,
        buf: Vec<u8>,
        pos: usize,
    },
    Memory(std::vec::IntoIter<(u128, Rec)>),
}

impl Source {
    pub(super) fn run(run: Arc<SortedRun>) -> Source {
        Source::Run {
            run,
            next: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn next(&mut self) -> io::Result<Option<(u128, Rec)>> {
        match self {
            Source::Memory(it) => Ok(it.next()),
            Source::Run {
                run,
                next,
                buf,
                pos,
            } => {
                if *pos == buf.len() {
                    let n = READ_RECS.min(run.len - *next);
                    if n == 0 {
                        return Ok(None);
                    }
                    buf.resize(n * REC, 0);
                    read_exact_at(&run.file, buf, (*next * REC) as u64)?;
                    *next += n;
                    *pos = 0;
                }
                let r = Rec::decode(&buf[*pos..*pos + REC]);
                *pos += REC;
                Ok(Some(r))
            }
        }
    }
}

/// A merge of sorted sources in id order; on equal ids the later source wins.
pub(super) struct Merge {
    pub(super) sources: Vec<Source>,
    pub(super) heads: Vec<Option<(u128, Rec)>>,
    pub(super) started: bool,
    pub(super) failed: bool,
}

impl Merge {
    pub(super) fn new(sources: Vec<Source>) -> Merge {
        Merge {
            heads: vec![None; sources.len()],
            sources,
            started: false,
            failed: false,
        }
    }

    pub(super) fn advance(&mut self, i: usize) -> io::Result<()> {
        self.heads[i] = self.sources[i].next()?;
        Ok(())
    }
}

impl Iterator for Merge {
    type Item = io::Result<(u128, Rec)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !std::mem::replace(&mut self.started, true) {
            for i in 0..self.sources.len() {
                if let Err(e) = self.advance(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let min = self.heads.iter().flatten().map(|h| h.0).min()?;
        let mut out = None;
        for i in 0..self.sources.len() {
            if self.heads[i].is_some_and(|h| h.0 == min) {
                out = self.heads[i];
                if let Err(e) = self.advance(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        out.map(Ok)
    }
}
