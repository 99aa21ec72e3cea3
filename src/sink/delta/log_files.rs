//! Which data files a Delta table's log names, in any of its versions. A version is read from
//! a checkpoint and the commits after it, so every file any readable version needs is named by
//! an `add` of a checkpoint or of a commit; `remove` and `cdc` actions name files the history
//! and the Change Data Feed read. The cleanup of interrupted runs keeps every file named here,
//! and leaves the rest of the table's history to `vacuum` and its retention.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, StructArray};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde_json::Value;

use super::{DELTA_LOG_DIR, delta_error, read_file};
use crate::sink::{Lake, SinkError};

/// The actions whose `path` names a data file.
const FILE_ACTIONS: [&str; 3] = ["add", "remove", "cdc"];

/// Of `names` (paths relative to the table in `table_dir`), those that a commit or a
/// checkpoint of the table's log names. Only the log is read, and only when `names` is not
/// empty; memory holds `names`, not the log.
pub async fn named_by_log(
    lake: &Lake,
    table_dir: &str,
    names: &HashSet<String>,
) -> Result<HashSet<String>, SinkError> {
    let mut named = HashSet::new();
    if names.is_empty() {
        return Ok(named);
    }
    let log = lake.path(&format!("{table_dir}/{DELTA_LOG_DIR}"));
    let store = lake.store();
    let entries: Vec<object_store::ObjectMeta> = store
        .list(Some(&log))
        .try_collect()
        .await
        .map_err(|source| SinkError::Store {
            action: "listing",
            path: log.to_string(),
            source,
        })?;
    for entry in entries {
        let file = entry.location.filename().unwrap_or_default();
        if is_commit(file) {
            let read_error = |source| SinkError::Store {
                action: "reading",
                path: entry.location.to_string(),
                source,
            };
            let bytes = store
                .get(&entry.location)
                .await
                .map_err(read_error)?
                .bytes()
                .await
                .map_err(read_error)?;
            commit_names(&bytes, names, &mut named);
        } else if file.contains(".checkpoint") && file.ends_with(".parquet") {
            checkpoint_names(lake, table_dir, &entry.location, names, &mut named).await?;
        }
    }
    Ok(named)
}

/// Whether `file` is a commit of the log (`<20-digit version>.json`).
fn is_commit(file: &str) -> bool {
    file.strip_suffix(".json")
        .is_some_and(|v| v.len() == 20 && v.bytes().all(|c| c.is_ascii_digit()))
}

/// The log's relative path, as a file name of the table (the log percent-encodes paths).
fn decoded(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Adds to `named` the members of `names` that the actions of one commit name. A line that is
/// not JSON names nothing (deltalake itself would refuse such a commit).
fn commit_names(bytes: &[u8], names: &HashSet<String>, named: &mut HashSet<String>) {
    for line in bytes.split(|b| *b == b'\n') {
        let Ok(action) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        for kind in FILE_ACTIONS {
            if let Some(path) = action
                .pointer(&format!("/{kind}/path"))
                .and_then(Value::as_str)
            {
                let path = decoded(path);
                if names.contains(&path) {
                    named.insert(path);
                }
            }
        }
    }
}

/// Adds to `named` the members of `names` that a checkpoint's `add` and `remove` name.
async fn checkpoint_names(
    lake: &Lake,
    table_dir: &str,
    object: &object_store::path::Path,
    names: &HashSet<String>,
    named: &mut HashSet<String>,
) -> Result<(), SinkError> {
    let failed = |e: &dyn std::fmt::Display| {
        delta_error(
            table_dir,
            deltalake::DeltaTableError::Generic(format!("checkpoint {object}: {e}")),
        )
    };
    let mut stream = read_file(lake, table_dir, object, &[]).await?;
    while let Some(batch) = stream.try_next().await.map_err(|e| failed(&e))? {
        for kind in ["add", "remove"] {
            let Some(actions) = batch
                .column_by_name(kind)
                .and_then(|c| c.as_any().downcast_ref::<StructArray>())
            else {
                continue;
            };
            let Some(paths) = actions.column_by_name("path") else {
                continue;
            };
            let paths = arrow::compute::cast(paths, &arrow::datatypes::DataType::Utf8)
                .map_err(|e| failed(&e))?;
            for path in paths.as_string::<i32>().iter().flatten() {
                let path = decoded(path);
                if names.contains(&path) {
                    named.insert(path);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_name_added_removed_and_change_files() {
        let names: HashSet<String> = ["a.parquet", "b c.parquet", "d.parquet", "e.parquet"]
            .map(String::from)
            .into();
        let commit = br#"{"commitInfo":{"timestamp":1}}
{"add":{"path":"a.parquet","size":1}}
{"remove":{"path":"b%20c.parquet"}}
{"cdc":{"path":"e.parquet"}}
not json
{"add":{"path":"x.parquet"}}"#;
        let mut named = HashSet::new();
        commit_names(commit, &names, &mut named);
        let mut got: Vec<&str> = named.iter().map(String::as_str).collect();
        got.sort();
        assert_eq!(got, ["a.parquet", "b c.parquet", "e.parquet"]);
        assert!(is_commit("00000000000000000012.json"));
        assert!(!is_commit("00000000000000000012.checkpoint.parquet"));
        assert!(!is_commit("_last_checkpoint"));
    }
}
