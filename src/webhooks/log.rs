//! Accepted events in the lake, under [`EVENTS_DIR`]: one JSON object per batch the receiver
//! accepted (`<received time>-<uuid>.json`, holding the events' whole bodies), written through
//! object_store before the receiver answers. A sync reads every batch not consumed yet, records
//! the names it consumed in the state it commits with the data the events caused, and removes
//! them after the commit.

use bytes::Bytes;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::WebhookEvent;
use crate::sink::{Lake, SinkError};

/// Where accepted events live, relative to the lake root.
pub const EVENTS_DIR: &str = "_notionlake/events";

/// A batch that cannot be stored or read back.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The lake failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A stored batch is not one.
    #[error(
        "the event batch {EVENTS_DIR}/{name} is not readable ({message}); move it out of the lake to go on"
    )]
    Corrupt {
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// One stored batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredBatch {
    /// When the receiver accepted it (RFC 3339).
    pub received_at: String,
    /// The events' bodies, as delivered.
    pub events: Vec<Value>,
}

/// A batch read back by a sync.
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// Its object's name under [`EVENTS_DIR`].
    pub name: String,
    /// Its events (bodies a sync cannot read as events are skipped with a warning).
    pub events: Vec<WebhookEvent>,
    /// Bodies that are not events.
    pub unreadable: usize,
}

/// Writes `events` as one batch; returns its name.
pub async fn write_batch(lake: &Lake, events: Vec<Value>) -> Result<String, EventLogError> {
    let now = chrono::Utc::now();
    let name = format!(
        "{}-{}.json",
        now.format("%Y%m%dT%H%M%S%.6fZ"),
        uuid::Uuid::new_v4().simple()
    );
    let batch = StoredBatch {
        received_at: now.to_rfc3339(),
        events,
    };
    let bytes = serde_json::to_vec(&batch).map_err(|e| EventLogError::Corrupt {
        name: name.clone(),
        message: e.to_string(),
    })?;
    lake.write(&format!("{EVENTS_DIR}/{name}"), Bytes::from(bytes))
        .await?;
    Ok(name)
}

/// The names of the stored batches, oldest first.
pub async fn batch_names(lake: &Lake) -> Result<Vec<String>, SinkError> {
    let dir = lake.path(EVENTS_DIR);
    let listed: Vec<object_store::ObjectMeta> = lake
        .store()
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(|source| SinkError::Store {
        action: "listing",
        path: dir.to_string(),
        source,
    })?;
    let mut names: Vec<String> = listed
        .iter()
        .filter_map(|m| m.location.filename().map(str::to_string))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads one batch; `None` if it is gone (consumed and removed meanwhile).
pub async fn read_batch(lake: &Lake, name: &str) -> Result<Option<EventBatch>, EventLogError> {
    let Some(bytes) = lake.read(&format!("{EVENTS_DIR}/{name}")).await? else {
        return Ok(None);
    };
    let stored: StoredBatch =
        serde_json::from_slice(&bytes).map_err(|e| EventLogError::Corrupt {
            name: name.to_string(),
            message: e.to_string(),
        })?;
    let mut events = Vec::new();
    let mut unreadable = 0;
    for body in stored.events {
        match serde_json::from_value::<WebhookEvent>(body) {
            Ok(e) => events.push(e),
            Err(_) => unreadable += 1,
        }
    }
    Ok(Some(EventBatch {
        name: name.to_string(),
        events,
        unreadable,
    }))
}

/// Removes consumed batches (a missing one is not an error).
pub async fn remove_batches(lake: &Lake, names: &[String]) -> Result<(), SinkError> {
    for name in names {
        let path = lake.path(&format!("{EVENTS_DIR}/{name}"));
        lake.delete_path(path.as_ref()).await?;
    }
    Ok(())
}
