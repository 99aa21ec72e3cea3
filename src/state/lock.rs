//! The lake lock: one sync at a time per lake. `_notionlake/lock.json` names its holder and
//! expires unless the holder keeps refreshing it.
//!
//! Every write of the lock is conditional on the version its writer last saw, so that a run
//! whose lock was taken over can never write over the new holder's lock, commit, or release it:
//! - creating it is a create-if-absent put (atomic on S3 and on local disk);
//! - refreshing, taking over a stale lock and releasing are compare-and-swap writes: on S3 a put
//!   with `If-Match` on the ETag we hold; on local disk a compare of the bytes we wrote and a
//!   rename, both under an OS file lock on `_notionlake/lock.guard` (object_store's local store
//!   has no conditional update);
//! - S3 has no conditional delete, so a release there swaps in a `released` record and never
//!   deletes it: an unconditional delete, however late it lands, could remove the lock of a
//!   sync that took over meanwhile. The next sync takes a released record over at once, by
//!   the same compare-and-swap.
//!
//! A lock is stale when it expired or was released. A holder process that died is a shortcut
//! to staleness only when it ran in the same PID namespace of the same boot (hostnames are not
//! unique: containers share them).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use crate::sink::{Lake, SinkError};

/// How long a lock holds without a refresh. Its holder refreshes it every third of that (20 s),
/// so two refreshes can fail (a slow store, a stalled network) before it lapses; and a holder
/// that died on another machine, whose process cannot be checked, holds the lake at most this
/// long: a pod restarted elsewhere waits up to 60 s for the lock.
pub const LOCK_TTL: Duration = Duration::from_secs(60);

/// Where the lock lives in the lake.
pub const LOCK_PATH: &str = "_notionlake/lock.json";

/// The file whose OS lock makes compare-and-swap of a local lake's lock atomic.
const GUARD_PATH: &str = "_notionlake/lock.guard";

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The holder's run.
    pub run_id: String,
    /// The holder's host.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// The holder's boot and PID namespace (empty where unknown): a PID means something only
    /// there.
    #[serde(default)]
    pub boot: String,
    /// Until when the lock holds without a refresh.
    pub expires_at: DateTime<Utc>,
    /// Set when the holder let it go (the record is about to be deleted).
    #[serde(default)]
    pub released: bool,
}

/// Why the lock could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another sync holds it.
    #[error(
        "another sync is running on this lake (run {} on {} pid {}, lock valid until {}); wait for it to finish. If it died on another machine, the lock expires by itself at that time",
        .0.run_id, .0.host, .0.pid, .0.expires_at.to_rfc3339()
    )]
    Held(LockInfo),
    /// The lock was taken over while this run held it: the run stopped before committing.
    #[error(
        "run {run_id} lost the lake lock{}; it stopped before committing anything (its data files are removed by the next sync). Another sync took the lake over: make sure only one sync is scheduled per lake, and that a run is not paused longer than the lock's validity",
        .holder.as_ref().map(|h| format!(" to run {} on {} pid {}", h.run_id, h.host, h.pid)).unwrap_or_default()
    )]
    Lost {
        /// This run.
        run_id: String,
        /// Who holds the lock now, when known.
        holder: Option<LockInfo>,
    },
    /// Storage failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// The lock object as this process last wrote or read it.
#[derive(Debug, Clone)]
struct Seen {
    bytes: Bytes,
    version: UpdateVersion,
}

/// What the heartbeat and the run share.
#[derive(Debug)]
struct Holding {
    info: LockInfo,
    seen: Seen,
    /// Set once the lock is known lost: no write is attempted after that.
    lost: Option<Option<LockInfo>>,
}

/// A held lock; refreshed in the background until released.
#[derive(Debug)]
pub struct LakeLock {
    lake: Lake,
    ttl: Duration,
    holding: Arc<Mutex<Holding>>,
    stop: Arc<Notify>,
    heartbeat: Option<JoinHandle<()>>,
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// This boot's id and this process's PID namespace, or empty where the system does not say.
fn boot_identity() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id");
    let ns = std::fs::read_link("/proc/self/ns/pid");
    match (boot, ns) {
        (Ok(b), Ok(ns)) => format!("{}/{}", b.trim(), ns.display()),
        _ => String::new(),
    }
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

fn store_err(action: &'static str, lake: &Lake, source: object_store::Error) -> SinkError {
    SinkError::Store {
        action,
        path: lake.path(LOCK_PATH).to_string(),
        source,
    }
}

fn io_err(action: &'static str, lake: &Lake, source: std::io::Error) -> SinkError {
    store_err(
        action,
        lake,
        object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(source),
        },
    )
}

impl LockInfo {
    fn new(run_id: &str, ttl: Duration) -> LockInfo {
        LockInfo {
            run_id: run_id.to_string(),
            host: hostname(),
            pid: std::process::id(),
            boot: boot_identity(),
            expires_at: expiry(ttl),
            released: false,
        }
    }

    fn is_stale(&self) -> bool {
        self.released
            || self.expires_at < Utc::now()
            || (!self.boot.is_empty() && self.boot == boot_identity() && !process_alive(self.pid))
    }

    fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("lock info serialises"))
    }
}

fn expiry(ttl: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10))
}

/// The directory of a local lake (`None` for S3).
fn local_dir(lake: &Lake) -> Option<PathBuf> {
    lake.url().strip_prefix("file://").map(PathBuf::from)
}

/// Replaces the lock object with `new` (or deletes it, with `None`) if it is still `expected`,
/// under the OS lock of the guard file. Returns whether it was replaced.
fn local_swap(dir: PathBuf, expected: Bytes, new: Option<Bytes>) -> std::io::Result<bool> {
    let guard = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(GUARD_PATH))?;
    guard.lock()?;
    let path = dir.join(LOCK_PATH);
    let current = match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if current.as_deref() != Some(&expected[..]) {
        return Ok(false);
    }
    match new {
        Some(bytes) => {
            let tmp = dir.join(format!("{LOCK_PATH}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)?;
        }
        None => std::fs::remove_file(&path)?,
    }
    Ok(true)
}

/// Writes `new` in place of the lock object if it is still `expected`; `None` when another
/// writer changed it first.
async fn swap(lake: &Lake, expected: &Seen, new: Bytes) -> Result<Option<Seen>, SinkError> {
    let path = lake.path(LOCK_PATH);
    let update = PutOptions {
        mode: PutMode::Update(expected.version.clone()),
        ..Default::default()
    };
    match lake
        .store()
        .put_opts(&path, PutPayload::from(new.clone()), update)
        .await
    {
        Ok(r) => Ok(Some(Seen {
            bytes: new,
            version: UpdateVersion {
                e_tag: r.e_tag,
                version: r.version,
            },
        })),
        Err(object_store::Error::Precondition { .. }) => Ok(None),
        Err(object_store::Error::NotImplemented { .. }) => {
            let Some(dir) = local_dir(lake) else {
                return Err(store_err(
                    "updating",
                    lake,
                    object_store::Error::NotImplemented {
                        operation: "conditional update of the lake lock".into(),
                        implementer: lake.url().to_string(),
                    },
                ));
            };
            let (expected, written) = (expected.bytes.clone(), new.clone());
            let swapped =
                tokio::task::spawn_blocking(move || local_swap(dir, expected, Some(written)))
                    .await
                    .map_err(|e| io_err("updating", lake, std::io::Error::other(e)))?
                    .map_err(|e| io_err("updating", lake, e))?;
            Ok(swapped.then(|| Seen {
                bytes: new,
                version: UpdateVersion {
                    e_tag: None,
                    version: None,
                },
            }))
        }
        Err(e) => Err(store_err("updating", lake, e)),
    }
}

/// Lets the lock go if it is still `expected`: deleted on local disk (a guarded compare and
/// remove), marked released on S3 (a conditional put; never deleted, see the module
/// documentation). Returns whether it was ours to let go.
async fn delete_if(lake: &Lake, expected: &Seen, info: &LockInfo) -> Result<bool, SinkError> {
    if let Some(dir) = local_dir(lake) {
        let expected = expected.bytes.clone();
        return tokio::task::spawn_blocking(move || local_swap(dir, expected, None))
            .await
            .map_err(|e| io_err("removing", lake, std::io::Error::other(e)))?
            .map_err(|e| io_err("removing", lake, e));
    }
    // No conditional delete: the lock is marked released (conditionally), and stays so.
    let released = LockInfo {
        released: true,
        expires_at: Utc::now(),
        ..info.clone()
    };
    Ok(swap(lake, expected, released.to_bytes()).await?.is_some())
}

/// Reads the lock object: its holder (`None` if unreadable) and version. `None` if absent.
async fn read(lake: &Lake) -> Result<Option<(Option<LockInfo>, Seen)>, SinkError> {
    let got = match lake.store().get(&lake.path(LOCK_PATH)).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(store_err("reading", lake, e)),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let bytes = got
        .bytes()
        .await
        .map_err(|e| store_err("reading", lake, e))?;
    Ok(Some((
        serde_json::from_slice(&bytes).ok(),
        Seen { bytes, version },
    )))
}

impl LakeLock {
    /// Takes the lock for `run_id`, valid for `ttl` and refreshed every `ttl / 3`.
    pub async fn acquire(lake: &Lake, run_id: &str, ttl: Duration) -> Result<LakeLock, LockError> {
        let path = lake.path(LOCK_PATH);
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let (info, seen) = loop {
            let info = LockInfo::new(run_id, ttl);
            let bytes = info.to_bytes();
            match lake
                .store()
                .put_opts(&path, PutPayload::from(bytes.clone()), create.clone())
                .await
            {
                Ok(r) => {
                    let version = UpdateVersion {
                        e_tag: r.e_tag,
                        version: r.version,
                    };
                    break (info, Seen { bytes, version });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(store_err("writing", lake, e).into()),
            }
            let Some((holder, current)) = read(lake).await? else {
                continue; // released between our create and our read
            };
            match &holder {
                Some(h) if !h.is_stale() => return Err(LockError::Held(h.clone())),
                Some(h) if h.released => {}
                _ => tracing::warn!(holder = ?holder, "taking over a stale lake lock"),
            }
            // Replace exactly the stale lock we read; of two racing syncs one fails here.
            match swap(lake, &current, bytes).await? {
                Some(seen) => break (info, seen),
                None => {
                    let now = read(lake).await?.and_then(|(h, _)| h);
                    return Err(LockError::Held(now.unwrap_or(info)));
                }
            }
        };
        let holding = Arc::new(Mutex::new(Holding {
            info,
            seen,
            lost: None,
        }));
        let stop = Arc::new(Notify::new());
        let heartbeat = tokio::spawn(heartbeat(
            lake.clone(),
            ttl,
            Arc::clone(&holding),
            Arc::clone(&stop),
        ));
        Ok(LakeLock {
            lake: lake.clone(),
            ttl,
            holding,
            stop,
            heartbeat: Some(heartbeat),
        })
    }

    /// Proves that this run still holds the lock, and extends it, right before a commit step:
    /// a compare-and-swap refresh. Fails with [`LockError::Lost`] when another sync took it.
    pub async fn ensure_held(&self) -> Result<(), LockError> {
        let mut h = self.holding.lock().await;
        refresh(&self.lake, self.ttl, &mut h).await?;
        match &h.lost {
            Some(holder) => Err(LockError::Lost {
                run_id: h.info.run_id.clone(),
                holder: holder.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Releases the lock if this run still holds it; a lock another sync took over is left to
    /// that sync.
    pub async fn release(mut self) -> Result<(), SinkError> {
        self.stop.notify_one();
        if let Some(hb) = self.heartbeat.take() {
            let _ = hb.await;
        }
        let h = self.holding.lock().await;
        if h.lost.is_some() {
            tracing::warn!("the lake lock was taken over by another sync; left to it");
            return Ok(());
        }
        if !delete_if(&self.lake, &h.seen, &h.info).await? {
            tracing::warn!("the lake lock changed hands before release; left to its new holder");
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::sink::CommitGuard for LakeLock {
    async fn ensure(&self) -> Result<(), SinkError> {
        self.ensure_held()
            .await
            .map_err(|e| SinkError::Stopped(Box::new(e)))
    }
}

/// One compare-and-swap refresh of a held lock; records the loss when another writer took it.
async fn refresh(lake: &Lake, ttl: Duration, h: &mut Holding) -> Result<(), SinkError> {
    if h.lost.is_some() {
        return Ok(());
    }
    let mut next = h.info.clone();
    next.expires_at = expiry(ttl);
    match swap(lake, &h.seen, next.to_bytes()).await {
        Ok(Some(seen)) => {
            h.info = next;
            h.seen = seen;
            Ok(())
        }
        Ok(None) => {
            h.lost = Some(read(lake).await.ok().flatten().and_then(|(i, _)| i));
            Ok(())
        }
        Err(e) if h.info.expires_at < Utc::now() => {
            // Unrefreshed past its expiry: another sync may rightly have taken it.
            h.lost = Some(None);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Refreshes the lock every `ttl / 3` until stopped or lost.
async fn heartbeat(lake: Lake, ttl: Duration, holding: Arc<Mutex<Holding>>, stop: Arc<Notify>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ttl / 3) => {}
            _ = stop.notified() => return,
        }
        let mut h = holding.lock().await;
        if let Err(e) = refresh(&lake, ttl, &mut h).await {
            tracing::warn!(error = %e, "could not refresh the lake lock");
        }
        if h.lost.is_some() {
            tracing::error!(
                "the lake lock was taken over by another sync; this run will not commit"
            );
            return;
        }
    }
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        if let Some(hb) = &self.heartbeat {
            hb.abort();
        }
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
            pid: u32::MAX - 1,
            expires_at: Utc::now() + chrono::Duration::hours(1),
            ..LockInfo::new("dead", Duration::from_secs(60))
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
            boot: String::new(),
            expires_at: Utc::now() - chrono::Duration::seconds(1),
            released: false,
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

    /// Regression: a dead PID on a host of the same name (another container) was taken as a
    /// dead holder, so a live lock was taken over.
    #[tokio::test]
    async fn a_holder_in_another_pid_namespace_is_live_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let other_container = LockInfo {
            run_id: "container-b".into(),
            pid: u32::MAX - 1,
            boot: format!("{}/pid:[1]", "another-boot"),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            ..LockInfo::new("x", Duration::from_secs(60))
        };
        assert_eq!(other_container.host, hostname());
        lake.write(LOCK_PATH, other_container.to_bytes())
            .await
            .unwrap();
        let err = LakeLock::acquire(&lake, "mine", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LockError::Held(ref h) if h.run_id == "container-b"),
            "{err}"
        );
    }

    /// Regression: the heartbeat overwrote a lock another sync had taken over, and release
    /// deleted it.
    #[tokio::test]
    async fn a_lock_taken_over_is_never_written_over_nor_released() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let ttl = Duration::from_millis(300);
        let first = LakeLock::acquire(&lake, "first", ttl).await.unwrap();
        first.ensure_held().await.unwrap();
        let taker = LockInfo {
            run_id: "taker".into(),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            ..LockInfo::new("taker", ttl)
        };
        lake.write(LOCK_PATH, taker.to_bytes()).await.unwrap();
        // Several heartbeats go by: none may write over the new holder.
        tokio::time::sleep(ttl).await;
        let on_disk: LockInfo =
            serde_json::from_slice(&lake.read(LOCK_PATH).await.unwrap().unwrap()).unwrap();
        assert_eq!(on_disk, taker);
        let err = first.ensure_held().await.unwrap_err();
        assert!(
            matches!(err, LockError::Lost { ref holder, .. } if holder.as_ref().is_some_and(|h| h.run_id == "taker")),
            "{err}"
        );
        assert!(
            err.to_string().contains("stopped before committing"),
            "{err}"
        );
        first.release().await.unwrap();
        let on_disk: LockInfo =
            serde_json::from_slice(&lake.read(LOCK_PATH).await.unwrap().unwrap()).unwrap();
        assert_eq!(on_disk, taker, "release leaves another holder's lock");
    }
}
