//! What the lake's `files` table already holds, read once at the start of a run: the stored
//! content of each Notion key (so a file is downloaded once, not on every sync), when each
//! reference was first seen, and the groups holding a reference an earlier run deferred or
//! failed to download (retried by this one).

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::error::DataFusionError;
use futures::StreamExt;

use super::refs::{FileRef, Origin};
use super::table::{Content, FileRecord, FileStatus, ref_id};
use crate::flatten::fixed::FixedTable;
use crate::sink::Lake;

/// What the lake's `files` table holds (see the module documentation).
#[derive(Debug, Default)]
pub struct KnownFiles {
    /// Stored content by Notion key.
    by_key: HashMap<String, Content>,
    /// When each reference was first seen, by group and reference id.
    first_seen: HashMap<(String, String), i64>,
    /// Every record of each group that holds a reference to retry.
    retry: BTreeMap<String, Vec<FileRecord>>,
}

impl KnownFiles {
    /// Reads the current rows of the lake's `files` table (none if it has no such table).
    pub async fn read(lake: &Lake) -> Result<KnownFiles, DataFusionError> {
        let ctx = datafusion::prelude::SessionContext::new();
        let name = FixedTable::Files.name();
        let tables = crate::shell::register_tables(&ctx, lake, Some(&[name])).await?;
        let mut known = KnownFiles::default();
        if !tables.iter().any(|t| t.name == name) {
            return Ok(known);
        }
        let sql = "SELECT parent_id, origin, property_id, block_id, comment_id, \
                   CAST(item_index AS BIGINT), name, notion_key, status, reason, content_type, \
                   CAST(bytes AS BIGINT), sha256, CAST(first_seen AS BIGINT), \
                   CAST(last_seen AS BIGINT) FROM files";
        let mut groups: BTreeMap<String, Vec<FileRecord>> = BTreeMap::new();
        let mut stream = ctx.sql(sql).await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            for record in records(&batch?)? {
                known.add(record, &mut groups);
            }
        }
        known.retry = groups
            .into_iter()
            .filter(|(_, records)| records.iter().any(|r| r.status.retried()))
            .collect();
        Ok(known)
    }

    fn add(&mut self, record: FileRecord, groups: &mut BTreeMap<String, Vec<FileRecord>>) {
        let group = record.group();
        if let Some(content) = &record.content {
            self.by_key.insert(record.file.key.clone(), content.clone());
        }
        self.first_seen.insert(
            (group.clone(), ref_id(&record.file.origin)),
            record.first_seen,
        );
        groups.entry(group).or_default().push(record);
    }

    /// The stored content of the file with this Notion key, if a run stored it.
    pub fn content(&self, key: &str) -> Option<&Content> {
        self.by_key.get(key)
    }

    /// When a run first saw this reference, if one did.
    pub fn first_seen(&self, file: &FileRef) -> Option<i64> {
        let group = super::table::Scope::of(&file.origin).group(&file.parent_id);
        self.first_seen.get(&(group, ref_id(&file.origin))).copied()
    }

    /// The groups holding a reference to retry, each with all its records (taken: a run
    /// retries them once).
    pub fn take_retries(&mut self) -> BTreeMap<String, Vec<FileRecord>> {
        std::mem::take(&mut self.retry)
    }

    /// Notes content stored by this run (a later segment's reference to the same key reuses it).
    pub fn remember(&mut self, key: &str, content: &Content) {
        self.by_key.insert(key.to_string(), content.clone());
    }
}

/// The records of one batch of the query in [`KnownFiles::read`] (its column order).
fn records(batch: &RecordBatch) -> Result<Vec<FileRecord>, DataFusionError> {
    let text = |i: usize| arrow::compute::cast(batch.column(i), &DataType::Utf8);
    let texts: Vec<_> = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12]
        .into_iter()
        .map(|i| text(i).map(|a| (i, a)))
        .collect::<Result<_, _>>()?;
    let s = |i: usize, row: usize| -> Option<String> {
        let (_, a) = texts.iter().find(|(j, _)| *j == i)?;
        let a = a.as_string::<i32>();
        a.is_valid(row).then(|| a.value(row).to_string())
    };
    let n = |i: usize, row: usize| -> Option<i64> {
        let a = batch.column(i).as_primitive_opt::<Int64Type>()?;
        a.is_valid(row).then(|| a.value(row))
    };
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let (Some(parent_id), Some(kind), Some(key), Some(status)) =
            (s(0, row), s(1, row), s(7, row), s(8, row))
        else {
            continue;
        };
        let index = usize::try_from(n(5, row).unwrap_or(0)).unwrap_or(0);
        let Some(origin) = Origin::from_columns(&kind, s(2, row), s(3, row), s(4, row), index)
        else {
            continue;
        };
        let Some(status) = FileStatus::from_name(&status) else {
            continue;
        };
        let content = match (s(12, row), n(11, row)) {
            (Some(sha256), Some(bytes)) => Some(Content {
                sha256,
                bytes: u64::try_from(bytes).unwrap_or(0),
                content_type: s(10, row),
            }),
            _ => None,
        };
        out.push(FileRecord {
            file: FileRef {
                parent_id,
                origin,
                name: s(6, row),
                url: key.clone(),
                expiry_time: None,
                key,
            },
            status,
            reason: s(9, row),
            content,
            first_seen: n(13, row).unwrap_or(0),
            last_seen: n(14, row).unwrap_or(0),
        });
    }
    Ok(out)
}
