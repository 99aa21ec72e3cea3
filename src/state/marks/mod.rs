//! Page marks (`PageMarks`): what the lake remembers of every page (its `last_edited_time`, its
//! table, whether it was in the trash) plus a run's bookkeeping (seen by this run, seen by the
//! current data-source listing). There is one mark per page of the workspace, so memory is
//! capped: at most a budget of marks (100,000 by default, about 4 MiB) is held in a hash map;
//! past it the map is sorted and spilled to an anonymous temporary file (a sorted run of 32-byte
//! records), which lookups binary-search through a sparse index (16 bytes per 256 marks). Runs
//! are merged into one when there are more than four. Iterating (to write `state.json`, or to
//! find the pages a full refresh no longer saw) streams a merge of the runs in id order.
//!
//! A canonical page id is kept as its 128 bits, a `last_edited_time` in Notion's form
//! (`2026-11-24T10:15:00.000Z`) as milliseconds and the table as an index into the few table
//! names. Marks in any other form (ids that are not UUIDs, timestamps written differently; real
//! Notion sends neither) are kept verbatim, in memory.
//!
//! Why spill at all, measured (`cargo bench --bench sync_memory -- tables 400000`, a table of
//! 400,000 rows, so 400,000 marks): peak 108.3 MiB with the default budget, 114.8 MiB with every
//! mark in memory (`NOTIONLAKE_BENCH_MARKS=100000000`). The 300,000 marks past the budget cost
//! about 22 bytes each in memory, so memory without the spill grows by about 220 MB per
//! 10 million pages, while with it a sync's memory does not depend on the workspace's size.
//! Why not an embedded store (redb, sled, SQLite): those put every mark through an on-disk
//! B-tree with transactions, while here a workspace under the budget (most of them) never
//! touches the disk, and past it the disk sees only sequential writes of sorted runs and one
//! 8 KiB read per lookup; the marks are scratch state of one run (the durable copy is
//! `state.json`), so a store's durability buys nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) mod runs;
use crate::model::{uuid_bits, uuid_text};
use runs::{
    CHANGED, MAX_RUNS, Merge, OTHER, OtherMark, Rec, SEEN, SETTLED, SETTLED_KNOWN, SortedRun,
    Source, TRASHED,
};

/// Marks held in memory before they spill to temporary files, by default.
pub const DEFAULT_MARKS_IN_MEMORY: usize = 100_000;

/// What the lake remembers of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMark {
    /// `last_edited_time` as Notion sent it.
    pub last_edited_time: String,
    /// The page's data source (rows) — for tombstones in its table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// In the trash when last seen.
    #[serde(default)]
    pub trashed: bool,
    /// Whether the page was last read in a later minute than the minute of its last edit.
    /// Notion rounds `last_edited_time` down to the minute, so an edit made in the minute of a
    /// read keeps the timestamp the read saw; only a settled page with an unchanged timestamp
    /// is known unchanged. `None` for marks written before this was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<bool>,
    /// Seen by the run a checkpoint committed, which is not finished: the resumed run knows
    /// what it saw (a full refresh finds deletions from it). Written only by checkpoints.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seen: bool,
    /// Taken as changed by that unfinished run: when the resumed run lists the page again it
    /// writes it again (a row read before the checkpoint but written only after it, in a
    /// segment that never committed, would otherwise be taken as unchanged and lost). Written
    /// only by checkpoints.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changed: bool,
}

/// What [`PageMarks::observe`] found of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The mark the lake had before this run; `None` for a new page, or one this run already
    /// recorded.
    pub previous: Option<PageMark>,
    /// Not seen yet by this run.
    pub first_in_run: bool,
    /// Not returned yet by the current listing.
    pub first_in_listing: bool,
    /// Seen earlier by this run, which took it as changed then.
    pub changed_in_run: bool,
}

impl Observed {
    fn first(previous: Option<PageMark>) -> Observed {
        Observed {
            previous,
            first_in_run: true,
            first_in_listing: true,
            changed_in_run: false,
        }
    }
}

/// The marks of every page the lake knows, and which of them this run has seen; memory capped
/// by spilling to temporary files (see the module documentation). Serialised as the JSON
/// object `{page id: PageMark}` in id order.
#[derive(Debug, Clone)]
pub struct PageMarks {
    hot: HashMap<u128, Rec>,
    /// Oldest first; a later run's record of an id replaces an earlier one's.
    runs: Vec<Arc<SortedRun>>,
    other: BTreeMap<String, OtherMark>,
    tables: Vec<String>,
    table_index: HashMap<String, u32>,
    budget: usize,
    /// Where spilled runs go (`None`: the system's temporary directory).
    spill_dir: Option<std::path::PathBuf>,
    listing: u16,
    forget_vanished: bool,
}

impl Default for PageMarks {
    fn default() -> Self {
        PageMarks {
            hot: HashMap::new(),
            runs: Vec::new(),
            other: BTreeMap::new(),
            tables: Vec::new(),
            table_index: HashMap::new(),
            budget: DEFAULT_MARKS_IN_MEMORY,
            spill_dir: None,
            listing: 0,
            forget_vanished: false,
        }
    }
}

/// Milliseconds of a timestamp written exactly as Notion writes them, `None` for any other
/// form (which is then kept verbatim, so nothing is lost or reformatted).
fn compact_time(s: &str) -> Option<i64> {
    let ms = DateTime::parse_from_rfc3339(s).ok()?.timestamp_millis();
    (notion_time(ms)? == s).then_some(ms)
}

/// Notion's form of a timestamp.
fn notion_time(ms: i64) -> Option<String> {
    Some(DateTime::from_timestamp_millis(ms)?.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// One mark as iterated.
struct Entry {
    id: String,
    mark: PageMark,
    seen: bool,
    changed: bool,
}

impl PageMarks {
    /// Holds at most `marks` marks in memory (at least 1); the rest spill to temporary files.
    pub fn set_budget(&mut self, marks: usize) -> io::Result<()> {
        self.budget = marks.max(1);
        if self.hot.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Spills into `dir` instead of the system's temporary directory (tests make it fail).
    #[cfg(test)]
    fn set_spill_dir(&mut self, dir: impl Into<std::path::PathBuf>) {
        self.spill_dir = Some(dir.into());
    }

    /// Sorted runs spilled to temporary files so far (after merging).
    #[cfg(test)]
    fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// The mark of a page.
    pub fn get(&self, id: &str) -> io::Result<Option<PageMark>> {
        Ok(match self.compact_rec(id)? {
            Some((_, r)) => Some(self.expand(&r)),
            None => self.other.get(id).map(|o| o.mark.clone()),
        })
    }

    /// Sets the mark of a page as the lake knows it (not seen by this run).
    pub fn insert(&mut self, id: &str, mark: PageMark) -> io::Result<()> {
        let (seen, changed) = (mark.seen, mark.seen && mark.changed);
        self.store(id, mark, seen, 0, changed)
    }

    /// Sets the mark of a page seen by this run; `listing` is the current listing
    /// ([`PageMarks::begin_listing`]) when a data-source query returned it, else 0.
    pub fn record(&mut self, id: &str, mark: PageMark, listing: u16) -> io::Result<()> {
        self.store(id, mark, true, listing, false)
    }

    /// [`PageMarks::record`] for a page this run takes as changed (a later observation in
    /// the run says so).
    pub fn record_changed(&mut self, id: &str, mark: PageMark, listing: u16) -> io::Result<()> {
        self.store(id, mark, true, listing, true)
    }

    /// Whether this run has recorded the page.
    pub fn seen(&self, id: &str) -> io::Result<bool> {
        Ok(match self.compact_rec(id)? {
            Some((_, r)) => r.flags & SEEN != 0,
            None => self.other.get(id).is_some_and(|o| o.seen),
        })
    }

    /// Starts a listing (one data source's query, across its windows and restarts) and returns
    /// its number, for [`PageMarks::observe`] and [`PageMarks::record`].
    pub fn begin_listing(&mut self) -> io::Result<u16> {
        if self.listing == u16::MAX {
            // Numbers are reused: forget which listing returned what.
            for r in self.hot.values_mut() {
                r.listing = 0;
            }
            for o in self.other.values_mut() {
                o.listing = 0;
            }
            self.merge_runs(true)?;
            self.listing = 0;
        }
        self.listing += 1;
        Ok(self.listing)
    }

    /// Looks a page up for this run. When the run has already recorded it, fills in its table
    /// if it had none and notes the listing (`0`: none) that returned it; otherwise returns the
    /// previous mark, and the caller records the new one ([`PageMarks::record`]).
    pub fn observe(&mut self, id: &str, table: Option<&str>, listing: u16) -> io::Result<Observed> {
        match self.compact_rec(id)? {
            Some((b, mut r)) => {
                if r.flags & SEEN == 0 {
                    return Ok(Observed::first(Some(self.expand(&r))));
                }
                let first_in_listing = listing == 0 || r.listing != listing;
                let before = r;
                if listing != 0 {
                    r.listing = listing;
                }
                if r.table == 0
                    && let Some(t) = table
                {
                    r.table = self.intern(t);
                }
                if r != before {
                    self.put(b, r)?;
                }
                Ok(Observed {
                    previous: None,
                    first_in_run: false,
                    first_in_listing,
                    changed_in_run: r.flags & CHANGED != 0,
                })
            }
            None => {
                let Some(o) = self.other.get_mut(id) else {
                    return Ok(Observed::first(None));
                };
                if !o.seen {
                    return Ok(Observed::first(Some(o.mark.clone())));
                }
                let first_in_listing = listing == 0 || o.listing != listing;
                if listing != 0 {
                    o.listing = listing;
                }
                if let Some(t) = table {
                    o.mark.table.get_or_insert_with(|| t.to_string());
                }
                Ok(Observed {
                    previous: None,
                    first_in_run: false,
                    first_in_listing,
                    changed_in_run: o.changed,
                })
            }
        }
    }

    /// Pages this run has not seen and that were not in the trash, with their tables: what a
    /// full refresh reports as vanished. In id order.
    pub fn vanished(&self) -> impl Iterator<Item = io::Result<(String, Option<String>)>> + '_ {
        self.entries().filter_map(|e| match e {
            Ok(e) if !e.seen && !e.mark.trashed => Some(Ok((e.id, e.mark.table))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// Drops the [`PageMarks::vanished`] pages from what is iterated and serialised.
    pub fn forget_vanished(&mut self) {
        self.forget_vanished = true;
    }

    /// Every mark, in id order.
    /// Every mark with whether this run saw the page ([`PageMark::seen`]), for a checkpoint.
    pub fn iter_seen(&self) -> impl Iterator<Item = io::Result<(String, PageMark)>> + '_ {
        self.entries().map(|e| {
            e.map(|e| {
                let mut mark = e.mark;
                mark.seen = e.seen;
                mark.changed = e.seen && e.changed;
                (e.id, mark)
            })
        })
    }

    /// Every mark, in id order (pages a full refresh no longer found are left out once
    /// forgotten).
    pub fn iter(&self) -> impl Iterator<Item = io::Result<(String, PageMark)>> + '_ {
        let forget = self.forget_vanished;
        self.entries().filter_map(move |e| match e {
            Ok(e) if forget && !e.seen && !e.mark.trashed => None,
            Ok(e) => Some(Ok((e.id, e.mark))),
            Err(e) => Some(Err(e)),
        })
    }

    fn entries(&self) -> impl Iterator<Item = io::Result<Entry>> + '_ {
        let mut sources: Vec<Source> = self.runs.iter().cloned().map(Source::run).collect();
        sources.push(Source::Memory(self.hot_sorted().into_iter()));
        let mut compact = Merge::new(sources).filter_map(|r| match r {
            Ok((_, rec)) if rec.flags & OTHER != 0 => None,
            Ok((bits, rec)) => Some(Ok(Entry {
                id: uuid_text(bits),
                mark: self.expand(&rec),
                seen: rec.flags & SEEN != 0,
                changed: rec.flags & CHANGED != 0,
            })),
            Err(e) => Some(Err(e)),
        });
        let mut other = self.other.iter().map(|(k, o)| Entry {
            id: k.clone(),
            mark: o.mark.clone(),
            seen: o.seen,
            changed: o.changed,
        });
        let (mut a, mut b) = (compact.next(), other.next());
        std::iter::from_fn(move || {
            let take_a = match (&a, &b) {
                (Some(Ok(x)), Some(y)) => x.id <= y.id,
                (Some(_), _) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            if take_a {
                std::mem::replace(&mut a, compact.next())
            } else {
                std::mem::replace(&mut b, other.next()).map(Ok)
            }
        })
    }

    /// The compact record of a page and its id's bits; `None` when the id is not a canonical
    /// UUID, is unknown, or has its mark kept verbatim in `other`.
    fn compact_rec(&self, id: &str) -> io::Result<Option<(u128, Rec)>> {
        let Some(bits) = uuid_bits(id) else {
            return Ok(None);
        };
        Ok(self
            .find(bits)?
            .filter(|r| r.flags & OTHER == 0)
            .map(|r| (bits, r)))
    }

    /// The in-memory records in id order.
    fn hot_sorted(&self) -> Vec<(u128, Rec)> {
        let mut hot: Vec<(u128, Rec)> = self.hot.iter().map(|(k, r)| (*k, *r)).collect();
        hot.sort_unstable_by_key(|e| e.0);
        hot
    }

    fn find(&self, bits: u128) -> io::Result<Option<Rec>> {
        if let Some(r) = self.hot.get(&bits) {
            return Ok(Some(*r));
        }
        for run in self.runs.iter().rev() {
            if let Some(r) = run.find(bits)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    fn store(
        &mut self,
        id: &str,
        mark: PageMark,
        seen: bool,
        listing: u16,
        changed: bool,
    ) -> io::Result<()> {
        let bits = uuid_bits(id);
        match (bits, compact_time(&mark.last_edited_time)) {
            (Some(b), Some(edited_ms)) => {
                if !self.other.is_empty() {
                    self.other.remove(id);
                }
                let table = mark.table.as_deref().map_or(0, |t| self.intern(t));
                let settled = match mark.settled {
                    None => 0,
                    Some(false) => SETTLED_KNOWN,
                    Some(true) => SETTLED_KNOWN | SETTLED,
                };
                let flags = if mark.trashed { TRASHED } else { 0 }
                    | if seen { SEEN } else { 0 }
                    | if changed { CHANGED } else { 0 }
                    | settled;
                self.put(
                    b,
                    Rec {
                        edited_ms,
                        table,
                        flags,
                        listing,
                    },
                )
            }
            (bits, _) => {
                self.other.insert(
                    id.to_string(),
                    OtherMark {
                        mark,
                        seen,
                        changed,
                        listing,
                    },
                );
                match bits {
                    // Shadows any older record of the id in a run.
                    Some(b) => self.put(
                        b,
                        Rec {
                            edited_ms: 0,
                            table: 0,
                            flags: OTHER,
                            listing: 0,
                        },
                    ),
                    None => Ok(()),
                }
            }
        }
    }

    fn put(&mut self, bits: u128, rec: Rec) -> io::Result<()> {
        self.hot.insert(bits, rec);
        if self.hot.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the in-memory marks as a sorted run (the map keeps its capacity).
    fn spill(&mut self) -> io::Result<()> {
        let run = SortedRun::write(
            self.spill_dir.as_deref(),
            self.hot_sorted().into_iter().map(Ok),
        )?;
        // Only once the run is written: a failed spill keeps every mark in memory.
        self.hot.clear();
        self.runs.push(Arc::new(run));
        if self.runs.len() > MAX_RUNS {
            self.merge_runs(false)?;
        }
        Ok(())
    }

    /// Merges every run into one (newest record of each id), optionally clearing listings.
    fn merge_runs(&mut self, clear_listings: bool) -> io::Result<()> {
        if self.runs.is_empty() {
            return Ok(());
        }
        let sources = self.runs.iter().cloned().map(Source::run).collect();
        let merged = Merge::new(sources).map(|r| {
            r.map(|(id, mut rec)| {
                if clear_listings {
                    rec.listing = 0;
                }
                (id, rec)
            })
        });
        let run = SortedRun::write(self.spill_dir.as_deref(), merged)?;
        self.runs = vec![Arc::new(run)];
        Ok(())
    }

    fn intern(&mut self, table: &str) -> u32 {
        if let Some(&i) = self.table_index.get(table) {
            return i;
        }
        self.tables.push(table.to_string());
        let i = self.tables.len() as u32;
        self.table_index.insert(table.to_string(), i);
        i
    }

    fn expand(&self, r: &Rec) -> PageMark {
        PageMark {
            last_edited_time: notion_time(r.edited_ms).unwrap_or_default(),
            table: r
                .table
                .checked_sub(1)
                .and_then(|i| self.tables.get(i as usize))
                .cloned(),
            trashed: r.flags & TRASHED != 0,
            settled: (r.flags & SETTLED_KNOWN != 0).then_some(r.flags & SETTLED != 0),
            seen: false,
            changed: false,
        }
    }
}

impl PartialEq for PageMarks {
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (self.iter(), other.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(Ok(x)), Some(Ok(y))) if x == y => {}
                _ => return false,
            }
        }
    }
}

impl Serialize for PageMarks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for entry in self.iter() {
            let (id, mark) = entry.map_err(|e| {
                serde::ser::Error::custom(format!("could not read spilled page marks: {e}"))
            })?;
            map.serialize_entry(&id, &mark)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PageMarks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Marks;
        impl<'de> Visitor<'de> for Marks {
            type Value = PageMarks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of page ids to page marks")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<PageMarks, A::Error> {
                let mut marks = PageMarks::default();
                while let Some((id, mark)) = m.next_entry::<String, PageMark>()? {
                    marks.insert(&id, mark).map_err(|e| {
                        serde::de::Error::custom(format!(
                            "could not spill page marks to a temporary file: {e}"
                        ))
                    })?;
                }
                Ok(marks)
            }
        }
        d.deserialize_map(Marks)
    }
}

#[cfg(test)]
mod tests {
    use super::runs::REC;
    use super::*;
    use proptest::prelude::*;

    fn mark(t: &str, table: Option<&str>, trashed: bool) -> PageMark {
        PageMark {
            settled: None,
            last_edited_time: t.into(),
            table: table.map(str::to_string),
            trashed,
            seen: false,
            changed: false,
        }
    }

    fn all(marks: &PageMarks) -> Vec<(String, PageMark)> {
        marks.iter().map(Result::unwrap).collect()
    }

    #[test]
    fn page_marks_keep_every_mark_and_the_json_of_a_plain_map() {
        let a = "0a1b2c3d-0000-4000-8000-00000000000a";
        let b = "ffffffff-0000-4000-8000-00000000000b";
        let entries = [
            (a, mark("2026-11-24T10:15:00.000Z", Some("deals"), false)),
            // An id that is not a canonical UUID, and a timestamp not in Notion's form: kept
            // verbatim, in id order with the others.
            ("legacy-id", mark("2026-11-24T10:15:00Z", None, true)),
            (b, mark("2026-11-24T10:15:00+01:00", Some("tasks"), false)),
            (
                "0000",
                mark("2026-01-01T00:00:00.000Z", Some("deals"), true),
            ),
        ];
        for budget in [1, 2, 100] {
            let mut marks = PageMarks::default();
            marks.set_budget(budget).unwrap();
            let mut plain = BTreeMap::new();
            for (id, m) in &entries {
                marks.insert(id, m.clone()).unwrap();
                plain.insert(id.to_string(), m.clone());
            }
            assert_eq!(marks.spilled_runs() > 0, budget < 3, "budget {budget}");
            assert_eq!(marks.iter().count(), 4);
            assert_eq!(
                serde_json::to_string(&marks).unwrap(),
                serde_json::to_string(&plain).unwrap()
            );
            let back: PageMarks =
                serde_json::from_str(&serde_json::to_string(&plain).unwrap()).unwrap();
            assert_eq!(back, marks);
            for (id, m) in &entries {
                assert_eq!(back.get(id).unwrap().as_ref(), Some(m), "{id}");
                assert_eq!(marks.get(id).unwrap().as_ref(), Some(m), "{id}");
            }
            assert_eq!(
                marks.get("00000000-0000-4000-8000-000000000000").unwrap(),
                None
            );
            // A page whose timestamp changes form moves between the two stores without
            // duplicates, whichever of them holds the older mark.
            marks
                .insert(b, mark("2026-11-24T11:00:00.000Z", Some("tasks"), true))
                .unwrap();
            marks
                .insert(a, mark("yesterday", Some("deals"), false))
                .unwrap();
            assert_eq!(marks.iter().count(), 4);
            assert_eq!(
                marks.get(b).unwrap(),
                Some(mark("2026-11-24T11:00:00.000Z", Some("tasks"), true))
            );
            assert_eq!(
                marks.get(a).unwrap(),
                Some(mark("yesterday", Some("deals"), false))
            );
        }
        assert_eq!(std::mem::size_of::<(u128, Rec)>(), 32);
    }

    /// A checkpoint writes which pages its run saw and took as changed; the resumed run reads
    /// them back so, both in memory and past the budget (spilled), and a listing that returns
    /// such a page again takes it as changed (its row is written), an unchanged one as
    /// unchanged.
    #[test]
    fn seen_and_changed_survive_a_checkpoint() {
        for budget in [100, 1] {
            let (changed, unchanged) = (
                "00000000-0000-4000-8000-000000000001",
                "00000000-0000-4000-8000-000000000002",
            );
            let mut run = PageMarks::default();
            run.set_budget(budget).unwrap();
            let at = "2026-11-24T10:15:00.000Z";
            run.record_changed(changed, mark(at, Some("t"), false), 0)
                .unwrap();
            run.record(unchanged, mark(at, Some("t"), false), 0)
                .unwrap();
            let written: Vec<(String, PageMark)> = run.iter_seen().map(Result::unwrap).collect();
            let mut resumed = PageMarks::default();
            resumed.set_budget(budget).unwrap();
            for (id, m) in written {
                let m: PageMark = serde_json::from_value(serde_json::to_value(m).unwrap()).unwrap();
                resumed.insert(&id, m).unwrap();
            }
            let listing = resumed.begin_listing().unwrap();
            let a = resumed.observe(changed, Some("t"), listing).unwrap();
            assert!(
                !a.first_in_run && a.first_in_listing && a.changed_in_run,
                "{budget}"
            );
            let b = resumed.observe(unchanged, Some("t"), listing).unwrap();
            assert!(!b.first_in_run && !b.changed_in_run, "{budget}");
        }
    }

    #[test]
    fn a_record_survives_the_disk_round_trip() {
        let rec = Rec {
            edited_ms: -1_234_567_890_123,
            table: 0xdead_beef,
            flags: TRASHED | SEEN,
            listing: 65_535,
        };
        let mut buf = [0u8; REC];
        Rec::encode(u128::MAX - 7, &rec, &mut buf);
        assert_eq!(Rec::decode(&buf), (u128::MAX - 7, rec));
    }

    #[test]
    fn listing_numbers_are_reused_without_confusing_listings() {
        let id = "00000000-0000-4000-8000-000000000001";
        let mut marks = PageMarks::default();
        marks.set_budget(1).unwrap();
        let first = marks.begin_listing().unwrap();
        assert!(marks.observe(id, None, first).unwrap().first_in_listing);
        marks
            .record(id, mark("2026-11-24T10:15:00.000Z", None, false), first)
            .unwrap();
        assert!(!marks.observe(id, None, first).unwrap().first_in_listing);
        marks.listing = u16::MAX - 1;
        let last = marks.begin_listing().unwrap();
        assert_eq!(last, u16::MAX);
        assert!(marks.observe(id, None, last).unwrap().first_in_listing);
        // Wraps: every listing number is forgotten, so listing 1 is new again for the page.
        assert_eq!(marks.begin_listing().unwrap(), first);
        let seen = marks.observe(id, Some("tasks"), first).unwrap();
        assert!(seen.first_in_listing && !seen.first_in_run);
        assert_eq!(
            marks.get(id).unwrap().unwrap().table.as_deref(),
            Some("tasks")
        );
    }

    #[test]
    fn a_spill_that_fails_is_an_error_and_loses_no_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut marks = PageMarks::default();
        marks.set_budget(2).unwrap();
        marks.set_spill_dir(dir.path().join("missing"));
        let id = |i: u32| format!("00000000-0000-4000-8000-{i:012}");
        let m = mark("2026-11-24T10:15:00.000Z", Some("deals"), false);
        marks.insert(&id(1), m.clone()).unwrap();
        let err = marks.insert(&id(2), m.clone()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        // The marks stay in memory: readable, and written out once the directory exists.
        assert_eq!(marks.get(&id(1)).unwrap(), Some(m.clone()));
        assert_eq!(marks.get(&id(2)).unwrap(), Some(m.clone()));
        std::fs::create_dir(dir.path().join("missing")).unwrap();
        marks.insert(&id(3), m.clone()).unwrap();
        assert_eq!(marks.spilled_runs(), 1);
        assert_eq!(marks.iter().count(), 3);
    }

    /// What the model keeps of a page: its mark, whether the run saw it, its listing.
    type Model = BTreeMap<String, (PageMark, bool, u16)>;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(usize, usize, usize, bool),
        Listing,
        Observe(usize, usize, bool, usize, bool),
    }

    const IDS: [&str; 8] = [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
        "0a1b2c3d-0000-4000-8000-00000000000a",
        "7fffffff-ffff-4fff-bfff-ffffffffffff",
        "80000000-0000-4000-8000-000000000000",
        "ffffffff-ffff-4fff-bfff-fffffffffffe",
        "legacy-id",
        "Zz",
    ];
    const TIMES: [&str; 4] = [
        "2026-11-24T10:15:00.000Z",
        "2026-11-24T10:16:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "2026-11-24T10:15:00+01:00",
    ];
    const TABLES: [Option<&str>; 3] = [None, Some("deals"), Some("tasks")];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..IDS.len(), 0..TIMES.len(), 0..TABLES.len(), any::<bool>())
                .prop_map(|(i, t, b, x)| Op::Insert(i, t, b, x)),
            Just(Op::Listing),
            (
                0..IDS.len(),
                0..TABLES.len(),
                any::<bool>(),
                0..TIMES.len(),
                any::<bool>()
            )
                .prop_map(|(i, b, l, t, x)| Op::Observe(i, b, l, t, x)),
        ]
    }

    proptest! {
        /// Whatever the memory budget (so whichever marks spilled, and how the runs were
        /// merged), the marks behave like a plain map of id to (mark, seen, listing).
        #[test]
        fn spilled_marks_behave_like_a_map(
            budget in 1usize..6,
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let mut marks = PageMarks::default();
            marks.set_budget(budget).unwrap();
            let mut model = Model::new();
            let mut listing = 0u16;
            for op in ops {
                match op {
                    Op::Insert(i, t, b, x) => {
                        let m = mark(TIMES[t], TABLES[b], x);
                        marks.insert(IDS[i], m.clone()).unwrap();
                        model.insert(IDS[i].to_string(), (m, false, 0));
                    }
                    Op::Listing => {
                        listing = marks.begin_listing().unwrap();
                    }
                    Op::Observe(i, b, in_listing, t, x) => {
                        let l = if in_listing { listing } else { 0 };
                        let got = marks.observe(IDS[i], TABLES[b], l).unwrap();
                        let want = match model.get_mut(IDS[i]) {
                            Some((m, true, seen_in)) => {
                                let first = l == 0 || *seen_in != l;
                                if l != 0 {
                                    *seen_in = l;
                                }
                                if m.table.is_none() {
                                    m.table = TABLES[b].map(str::to_string);
                                }
                                Observed { previous: None, first_in_run: false, first_in_listing: first, changed_in_run: false }
                            }
                            other => Observed::first(other.map(|o| o.0.clone())),
                        };
                        prop_assert_eq!(&got, &want);
                        if got.first_in_run {
                            let m = mark(TIMES[t], TABLES[b], x);
                            marks.record(IDS[i], m.clone(), l).unwrap();
                            model.insert(IDS[i].to_string(), (m, true, l));
                        }
                    }
                }
                prop_assert!(marks.spilled_runs() <= MAX_RUNS);
            }
            for id in IDS {
                prop_assert_eq!(marks.get(id).unwrap(), model.get(id).map(|e| e.0.clone()));
                prop_assert_eq!(marks.seen(id).unwrap(), model.get(id).is_some_and(|e| e.1));
            }
            let want: Vec<(String, PageMark)> =
                model.iter().map(|(k, e)| (k.clone(), e.0.clone())).collect();
            prop_assert_eq!(all(&marks), want);
            let vanished: Vec<(String, Option<String>)> = model
                .iter()
                .filter(|(_, e)| !e.1 && !e.0.trashed)
                .map(|(k, e)| (k.clone(), e.0.table.clone()))
                .collect();
            prop_assert_eq!(
                marks.vanished().map(Result::unwrap).collect::<Vec<_>>(),
                vanished
            );
            marks.forget_vanished();
            let kept: Vec<(String, PageMark)> = model
                .iter()
                .filter(|(_, e)| e.1 || e.0.trashed)
                .map(|(k, e)| (k.clone(), e.0.clone()))
                .collect();
            prop_assert_eq!(all(&marks), kept);
        }
    }
}
