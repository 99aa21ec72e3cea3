//! One row per key in what a run staged. Whatever path wrote a row twice in one run, its
//! table keeps one copy: before a table is committed (in either format) its staged files are
//! deduplicated, and the last copy written wins, since it is the latest read.
//! - A table with a key (data-source rows, pages, blocks, comments, properties, documents,
//!   databases, data sources, users) keeps the last row of each key.
//! - `rich_text_items` keeps, for each row, the items of the row's last write: the items of
//!   one write of a row are staged together, as one run of consecutive rows, so the last run of
//!   each page stays, and a row written twice never keeps items only its first copy had.
//!
//! Pass 1 reads the key columns alone and finds what repeats. It holds a 128-bit digest of
//! each key (16 bytes a staged row, for one table at a time). When nothing repeats, as in
//! almost every run, that is all. Otherwise a second pass finds the last copies, and each file
//! holding an earlier copy is rewritten without it, under a new name of the run.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;
use futures::TryStreamExt;
use sha2::Digest;

use super::delta::merge::Rule;
use super::delta::{delta_error, read_file};
use super::{Lake, ParquetOptions, SinkError, StagedTable, TableWriter};
use crate::flatten::fixed::RICH_TEXT_TABLE;

/// File numbers of rewritten staged files (`part-<run>-<seq>.parquet`): above any the run's
/// writers reach, below the Delta upsert's own (90,000 and up).
const DEDUPED_SEQ: usize = 80_000;

/// What stays of rows that repeat in a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unique {
    /// The last row of each key (these columns).
    Key(Vec<&'static str>),
    /// The last run of consecutive rows of each group (this column).
    LastRun(&'static str),
}

impl Unique {
    /// The rule of the table in `table_dir`; `None` for a table whose rows are only added.
    pub fn of(table_dir: &str) -> Option<Unique> {
        match Rule::of(table_dir) {
            Rule::Append => None,
            Rule::Groups { group, .. } if table_dir == RICH_TEXT_TABLE => {
                Some(Unique::LastRun(group))
            }
            rule => Some(Unique::Key(rule.keys())),
        }
    }

    fn columns(&self) -> Vec<&'static str> {
        match self {
            Unique::Key(keys) => keys.clone(),
            Unique::LastRun(group) => vec![group],
        }
    }
}

/// A row's place among the staged rows: (file, row in the file).
type Place = (usize, usize);

/// What a deduplicated table lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deduped {
    /// Earlier copies dropped.
    pub dropped: usize,
}

fn failed(table_dir: &str, e: impl std::fmt::Display) -> SinkError {
    delta_error(
        table_dir,
        deltalake::DeltaTableError::Generic(format!("deduplicating the staged rows: {e}")),
    )
}

/// A 128-bit digest of each row's key in `batch` (`None` where a part is null).
fn digests(
    batch: &RecordBatch,
    columns: &[&str],
    table_dir: &str,
) -> Result<Vec<Option<u128>>, SinkError> {
    let parts = columns
        .iter()
        .map(|c| {
            let column = batch
                .column_by_name(c)
                .ok_or_else(|| failed(table_dir, format!("no {c} column")))?;
            cast(column, &DataType::Utf8).map_err(|e| failed(table_dir, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let parts: Vec<_> = parts.iter().map(|p| p.as_string::<i32>()).collect();
    Ok((0..batch.num_rows())
        .map(|row| {
            let mut hash = sha2::Sha256::new();
            for part in &parts {
                if part.is_null(row) {
                    return None;
                }
                hash.update(part.value(row).as_bytes());
                hash.update([0x1f]);
            }
            let bytes = hash.finalize();
            let mut first = [0u8; 16];
            first.copy_from_slice(&bytes[..16]);
            Some(u128::from_le_bytes(first))
        })
        .collect())
}

/// Calls `each` with the place and key digest of every staged row, in the order written.
async fn scan(
    lake: &Lake,
    staged: &StagedTable,
    columns: &[&str],
    mut each: impl FnMut(Place, Option<u128>),
) -> Result<(), SinkError> {
    let dir = staged.table_dir.as_str();
    for (n, file) in staged.files.iter().enumerate() {
        if file.rows == 0 {
            continue;
        }
        let object = super::store_path_of(&file.path);
        let mut stream = read_file(lake, dir, &object, columns).await?;
        let mut row = 0;
        while let Some(batch) = stream.try_next().await.map_err(|e| failed(dir, e))? {
            for d in digests(&batch, columns, dir)? {
                each((n, row), d);
                row += 1;
            }
        }
    }
    Ok(())
}

/// The keys (or groups) that repeat.
async fn repeated(
    lake: &Lake,
    staged: &StagedTable,
    unique: &Unique,
) -> Result<HashSet<u128>, SinkError> {
    let (mut seen, mut repeated) = (HashSet::new(), HashSet::new());
    let mut previous = None;
    let last_run = matches!(unique, Unique::LastRun(_));
    scan(lake, staged, &unique.columns(), |_, d| {
        let Some(d) = d else { return };
        // A group counts once per run of consecutive rows.
        if (!last_run || previous != Some(d)) && !seen.insert(d) {
            repeated.insert(d);
        }
        previous = Some(d);
    })
    .await?;
    Ok(repeated)
}

/// The places of the earlier copies of `repeated`, by file.
async fn earlier_copies(
    lake: &Lake,
    staged: &StagedTable,
    unique: &Unique,
    repeated: &HashSet<u128>,
) -> Result<HashMap<usize, HashSet<usize>>, SinkError> {
    let mut places: Vec<(u128, Place)> = Vec::new();
    let mut last: HashMap<u128, Place> = HashMap::new();
    let mut previous = None;
    let last_run = matches!(unique, Unique::LastRun(_));
    scan(lake, staged, &unique.columns(), |place, d| {
        let Some(d) = d.filter(|d| repeated.contains(d)) else {
            previous = d;
            return;
        };
        places.push((d, place));
        // The last copy of a key; the start of the last run of a group.
        if !last_run || previous != Some(d) {
            last.insert(d, place);
        }
        previous = Some(d);
    })
    .await?;
    let mut out: HashMap<usize, HashSet<usize>> = HashMap::new();
    for (d, place) in places {
        if place < last[&d] {
            out.entry(place.0).or_default().insert(place.1);
        }
    }
    Ok(out)
}

/// Deduplicates the staged rows of one table (see the module documentation); the table's
/// files after it, and what it dropped.
pub async fn dedupe_staged(
    lake: &Lake,
    mut staged: StagedTable,
    run_id: &str,
    parquet: &ParquetOptions,
) -> Result<(StagedTable, Deduped), SinkError> {
    let Some(unique) = Unique::of(&staged.table_dir) else {
        return Ok((staged, Deduped::default()));
    };
    let repeated = repeated(lake, &staged, &unique).await?;
    if repeated.is_empty() {
        return Ok((staged, Deduped::default()));
    }
    let drops = earlier_copies(lake, &staged, &unique, &repeated).await?;
    let dir = staged.table_dir.clone();
    let table_path = format!("{}/", lake.path(&dir));
    let mut dropped = 0;
    let mut rewritten = 0;
    let mut files = Vec::new();
    for (n, file) in std::mem::take(&mut staged.files).into_iter().enumerate() {
        let Some(rows) = drops.get(&n) else {
            files.push(file);
            continue;
        };
        let partition = file
            .path
            .strip_prefix(&table_path)
            .and_then(|rel| rel.rsplit_once('/'))
            .map_or("", |(d, _)| d);
        let mut writer = TableWriter::new(
            lake,
            &dir,
            partition,
            run_id,
            staged.schema.clone(),
            parquet.clone(),
        )
        .starting_at(DEDUPED_SEQ + rewritten);
        let object = super::store_path_of(&file.path);
        let mut stream = read_file(lake, &dir, &object, &[]).await?;
        let mut row = 0;
        while let Some(batch) = stream.try_next().await.map_err(|e| failed(&dir, e))? {
            let keep: BooleanArray = (row..row + batch.num_rows())
                .map(|r| Some(!rows.contains(&r)))
                .collect();
            row += batch.num_rows();
            let kept = filter_record_batch(&batch, &keep).map_err(|e| failed(&dir, e))?;
            writer.write(&kept).await?;
        }
        let copy = writer.finish().await?;
        rewritten += copy.files.len();
        dropped += rows.len();
        lake.delete_path(&file.path).await?;
        files.extend(copy.files);
    }
    staged.files = files;
    tracing::info!(table = %dir, dropped, "rows written twice by the run: the last copy stays");
    Ok((staged, Deduped { dropped }))
}

/// The columns that key a row of the table in `table_dir` (none for a table whose rows are
/// only added): a current-state table holds each key once.
pub fn key_columns(table_dir: &str) -> Vec<&'static str> {
    Rule::of(table_dir).keys()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(columns: &[&str], rows: &[&[&str]]) -> RecordBatch {
        let schema = Schema::new(
            columns
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let arrays: Vec<ArrayRef> = (0..columns.len())
            .map(|i| Arc::new(rows.iter().map(|r| Some(r[i])).collect::<StringArray>()) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(schema), arrays).unwrap()
    }

    /// Stages `files` (each a list of rows) for `dir`, deduplicates, and returns the rows left
    /// in order and what was dropped.
    async fn dedupe_of(dir: &str, columns: &[&str], files: &[&[&[&str]]]) -> (Vec<String>, usize) {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path().to_str().unwrap()).unwrap();
        let options = ParquetOptions::default();
        let mut staged: Option<StagedTable> = None;
        for (n, rows) in files.iter().enumerate() {
            let b = batch(columns, rows);
            let mut w =
                TableWriter::new(&lake, dir, "", "r1", b.schema(), options.clone()).starting_at(n);
            w.write(&b).await.unwrap();
            let done = w.finish().await.unwrap();
            match staged.as_mut() {
                Some(s) => s.files.extend(done.files),
                None => staged = Some(done),
            }
        }
        let (staged, deduped) = dedupe_staged(&lake, staged.unwrap(), "r1", &options)
            .await
            .unwrap();
        let mut out = Vec::new();
        for f in &staged.files {
            let object = crate::sink::store_path_of(&f.path);
            let mut stream = read_file(&lake, dir, &object, &[]).await.unwrap();
            while let Some(b) = stream.try_next().await.unwrap() {
                let texts: Vec<&StringArray> = (0..b.num_columns())
                    .map(|i| b.column(i).as_string::<i32>())
                    .collect();
                for r in 0..b.num_rows() {
                    let row: Vec<&str> = texts.iter().map(|t| t.value(r)).collect();
                    out.push(row.join(" "));
                }
            }
        }
        (out, deduped.dropped)
    }

    #[tokio::test]
    async fn the_last_copy_of_a_key_stays_across_files() {
        let (rows, dropped) = dedupe_of(
            "tables/deals",
            &["_id", "amount"],
            &[
                &[&["d1", "a"], &["d2", "b"]],
                &[&["d1", "c"], &["d3", "d"], &["d3", "e"]],
            ],
        )
        .await;
        assert_eq!(rows, ["d2 b", "d1 c", "d3 e"]);
        assert_eq!(dropped, 2);
        let (rows, dropped) = dedupe_of(
            "tables/deals",
            &["_id", "amount"],
            &[&[&["d1", "a"], &["d2", "b"]]],
        )
        .await;
        assert_eq!((rows, dropped), (vec!["d1 a".into(), "d2 b".into()], 0));
    }

    /// A row written twice keeps the items of its last write only, even when its first write
    /// had more of them.
    #[tokio::test]
    async fn a_rows_formatting_items_are_those_of_its_last_write() {
        let columns = ["page_id", "property_id", "item_index", "text"];
        let (rows, dropped) = dedupe_of(
            RICH_TEXT_TABLE,
            &columns,
            &[
                &[
                    &["p1", "x", "0", "a"],
                    &["p1", "x", "1", "b"],
                    &["p2", "x", "0", "q"],
                ],
                &[&["p1", "x", "0", "A"], &["p3", "y", "0", "z"]],
            ],
        )
        .await;
        assert_eq!(rows, ["p2 x 0 q", "p1 x 0 A", "p3 y 0 z"]);
        assert_eq!(dropped, 2);
    }

    #[test]
    fn appended_tables_are_left_alone() {
        assert_eq!(Unique::of("tombstones"), None);
        assert_eq!(
            Unique::of("blocks"),
            Some(Unique::Key(vec!["page_id", "id"]))
        );
        assert_eq!(
            Unique::of(RICH_TEXT_TABLE),
            Some(Unique::LastRun("page_id"))
        );
    }
}
