//! Removing stored files no reference uses any more, after a retention. A sync never removes a
//! stored file; `notionlake vacuum` does, in two steps so that the retention counts from when
//! a file stopped being used: it marks each stored file the `files` table no longer lists
//! (the marks are kept in `files/_unused.json`), and removes those marked at least the
//! retention ago. A file listed again loses its mark.

use std::collections::{BTreeMap, HashSet};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::store::CONTENT_DIR;
use crate::sink::{Lake, SinkError};

/// Where the marks are kept.
pub const UNUSED_PATH: &str = "files/_unused.json";

/// What a vacuum of the stored files did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesVacuumed {
    /// Stored files removed.
    pub removed: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Stored files no reference uses, kept until their retention ends.
    pub waiting: usize,
}

/// The marks: when each stored file (by SHA-256) was first found unused.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Unused {
    since: BTreeMap<String, chrono::DateTime<chrono::Utc>>,
}

/// Marks the stored files of `lake` that `used` (the SHA-256s the `files` table lists) does
/// not hold, and removes those marked at least `retain` before `now`. Run under the lake lock.
pub async fn vacuum_files(
    lake: &Lake,
    used: &HashSet<String>,
    retain: std::time::Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<FilesVacuumed, SinkError> {
    let mut marks: Unused = match lake.read(UNUSED_PATH).await? {
        // Unreadable marks start again: files are then kept a retention longer, never less.
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Unused::default(),
    };
    let retain = chrono::Duration::from_std(retain).unwrap_or(chrono::Duration::MAX);
    let prefix = lake.path(CONTENT_DIR);
    let store = lake.store();
    let mut listing = store.list(Some(&prefix));
    let mut done = FilesVacuumed::default();
    let mut stored = HashSet::new();
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|source| SinkError::Store {
            action: "listing",
            path: prefix.to_string(),
            source,
        })?;
        let Some(sha256) = meta.location.filename().map(str::to_string) else {
            continue;
        };
        stored.insert(sha256.clone());
        if used.contains(&sha256) {
            marks.since.remove(&sha256);
            continue;
        }
        let since = *marks.since.entry(sha256.clone()).or_insert(now);
        if since
            .checked_add_signed(retain)
            .is_some_and(|end| end <= now)
        {
            super::store::remove_object(lake, &meta.location).await?;
            marks.since.remove(&sha256);
            done.removed += 1;
            done.bytes += meta.size;
        } else {
            done.waiting += 1;
        }
    }
    marks.since.retain(|sha, _| stored.contains(sha));
    let json = serde_json::to_vec_pretty(&marks).map_err(|e| SinkError::Location {
        location: UNUSED_PATH.into(),
        message: e.to_string(),
    })?;
    lake.write(UNUSED_PATH, json.into()).await?;
    Ok(done)
}
