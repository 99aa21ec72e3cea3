//! The lake lock: one sync at a time per lake. `_notionlake/lock.json` is created with a
//! conditional put (create-if-absent, atomic on S3 and on local disk); it names its holder and
//! expires unless the holder keeps refreshing it. A lock whose holder died (expired, or a process
//! on this host that no longer exists) is taken over.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::sink::{Lake, SinkError};

/// Where the lock lives in the lake.
pub const LOCK_PATH: &str = "_notionlake/lock.json";

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The holder's run.
    pub run_id: String,
    /// The holder's host.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// Until when the lock holds without a refresh.
    pub expires_at: DateTime<Utc>,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another sync holds it.
    #[error(
        "another sync is running on this lake (run {} on {} pid {}, lock valid until {}); wait for it to finish. If it died on another machine, the lock expires by itself at that time",
        .0.run_id, .0.host, .0.pid, .0.expires_at.to_rfc3339()
    )]
    Held(LockInfo),
    /// Storage failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// A held lock; refreshed in the background until released.
#[derive(Debug)]
pub struct LakeLock {
    lake: Lake,
    heartbeat: JoinHandle<()>,
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.exists() || proc.join(pid.to_string()).exists()
}

fn store_err(action: &'static str, lake: &Lake, source: object_store::Error) -> SinkError {
    SinkError::Store {
        action,
        path: lake.path(LOCK_PATH).to_string(),
        source,
    }
}

impl LockInfo {
    fn is_stale(&self) -> bool {
        self.expires_at < Utc::now() || (self.host == hostname() && !process_alive(self.pid))
    }
}

impl LakeLock {
    /// Takes the lock for `run_id`, valid for `ttl` and refreshed every `ttl / 3`.
    pub async fn acquire(lake: &Lake, run_id: &str, ttl: Duration) -> Result<LakeLock, LockError> {
        let path = lake.path(LOCK_PATH);
        let info = |ttl: Duration| LockInfo {
            run_id: run_id.to_string(),
            host: hostname(),
            pid: std::process::id(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10)),
        };
        let body = |i: &LockInfo| {
            PutPayload::from(Bytes::from(
                serde_json::to_vec(i).expect("lock info serialises"),
            ))
        };
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match lake
            .store()
            .put_opts(&path, body(&info(ttl)), create.clone())
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                let existing = lake
                    .store()
                    .get(&path)
                    .await
                    .map_err(|e| store_err("reading", lake, e))?;
                let version = object_store::UpdateVersion {
                    e_tag: existing.meta.e_tag.clone(),
                    version: existing.meta.version.clone(),
                };
                let bytes = existing
                    .bytes()
                    .await
                    .map_err(|e| store_err("reading", lake, e))?;
                let holder: Option<LockInfo> = serde_json::from_slice(&bytes).ok();
                if let Some(h) = holder.as_ref().filter(|h| !h.is_stale()) {
                    return Err(LockError::Held(h.clone()));
                }
                tracing::warn!(holder = ?holder, "taking over a stale lake lock");
                // Replace exactly the stale lock we read; a racing sync makes one of us fail.
                let update = PutOptions {
                    mode: PutMode::Update(version),
                    ..Default::default()
                };
                match lake.store().put_opts(&path, body(&info(ttl)), update).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotImplemented { .. }) => {
                        // Local disk: no compare-and-swap on update; delete, then create.
                        lake.store()
                            .delete(&path)
                            .await
                            .map_err(|e| store_err("removing", lake, e))?;
                        lake.store()
                            .put_opts(&path, body(&info(ttl)), create)
                            .await
                            .map_err(|e| match e {
                                object_store::Error::AlreadyExists { .. } => {
                                    LockError::Held(info(ttl))
                                }
                                other => store_err("writing", lake, other).into(),
                            })?;
                    }
                    Err(object_store::Error::Precondition { .. }) => {
                        return Err(LockError::Held(holder.unwrap_or_else(|| info(ttl))));
                    }
                    Err(e) => return Err(store_err("writing", lake, e).into()),
                }
            }
            Err(e) => return Err(store_err("writing", lake, e).into()),
        }
        let (hb_lake, hb_path) = (lake.clone(), path.clone());
        let hb_info = info(ttl);
        let heartbeat = tokio::spawn(async move {
            let mut current = hb_info;
            loop {
                tokio::time::sleep(ttl / 3).await;
                current.expires_at = Utc::now()
                    + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10));
                if let Err(e) = hb_lake.store().put(&hb_path, body(&current)).await {
                    tracing::warn!(error = %e, "could not refresh the lake lock");
                }
            }
        });
        Ok(LakeLock {
            lake: lake.clone(),
            heartbeat,
        })
    }

    /// Releases the lock.
    pub async fn release(self) -> Result<(), SinkError> {
        self.heartbeat.abort();
        let path = self.lake.path(LOCK_PATH);
        match self.lake.store().delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err("removing", &self.lake, e)),
        }
    }
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let first = LakeLock::acquire(&lake, "run-1", Duration::from_secs(60))
            .await
            .unwrap();
        let err = LakeLock::acquire(&lake, "run-2", Duration::from_secs(60))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another sync") && err.contains("run-1"),
            "{err}"
        );
        first.release().await.unwrap();
        LakeLock::acquire(&lake, "run-3", Duration::from_secs(60))
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_expired_or_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let dead = LockInfo {
            run_id: "dead".into(),
            host: hostname(),
            pid: u32::MAX - 1,
            expires_at: Utc::now() + chrono::Duration::hours(1),
        };
        lake.write(LOCK_PATH, Bytes::from(serde_json::to_vec(&dead).unwrap()))
            .await
            .unwrap();
        LakeLock::acquire(&lake, "next", Duration::from_secs(60))
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
        let expired = LockInfo {
            run_id: "old".into(),
            host: "elsewhere".into(),
            pid: 1,
            expires_at: Utc::now() - chrono::Duration::seconds(1),
        };
        lake.write(
            LOCK_PATH,
            Bytes::from(serde_json::to_vec(&expired).unwrap()),
        )
        .await
        .unwrap();
        LakeLock::acquire(&lake, "next", Duration::from_secs(60))
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
    }
}
