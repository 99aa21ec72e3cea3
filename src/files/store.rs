//! The lake's file store: the bytes of Notion-hosted files, kept by content under
//! `files/_sha256/<2 hex>/<sha-256 hex>`, so the same bytes referenced from ten pages are stored
//! once, on a local disk or S3 alike (through object_store). The directories start with `_`
//! so that a table kept at `files/` (the references) never takes them for its data: Delta
//! readers and `VACUUM` pass over names starting with `_`.
//!
//! A file is streamed in: its chunks go to a multipart upload under `files/_partial/` (parts of
//! 5 MiB, two in flight, so memory stays bounded whatever its size) while they are hashed; once
//! complete, the object is renamed to its content address (an atomic rename on disk; a
//! server-side copy on S3, which makes the object appear whole, then a delete). A file already
//! stored under that address is not stored again. A download killed at any instant leaves at
//! most an object under `files/_partial/` (on S3 an unfinished multipart upload, which no
//! listing shows), never a partial file at a content address; [`remove_partials`] clears them
//! at the start of the next run, which holds the lake lock.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::ObjectStoreExt;
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use crate::sink::{Lake, SinkError};

/// Where stored files live in the lake.
pub const FILES_DIR: &str = "files";

/// Where stored files' bytes live, by SHA-256.
pub const CONTENT_DIR: &str = "files/_sha256";

/// Where files being stored wait until they are complete.
pub const PARTIAL_DIR: &str = "files/_partial";

/// A file stored in the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The SHA-256 of its bytes, in lowercase hex.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Its path relative to the lake's root (`files/_sha256/ab/ab…`).
    pub path: String,
    /// Whether this call stored it (false: the same bytes were already there).
    pub new: bool,
}

/// Why a file could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is larger than allowed; nothing was kept.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Reading the file's bytes failed (the download broke off); nothing was kept.
    #[error("reading the file failed: {0}")]
    Source(String),
    /// The lake could not be written.
    #[error(transparent)]
    Lake(#[from] SinkError),
}

/// The lake path of the file whose SHA-256 is `sha256` (lowercase hex).
pub fn content_path(sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or("00");
    format!("{CONTENT_DIR}/{prefix}/{sha256}")
}

/// Stores the bytes `chunks` yields, at most `limit` of them (see the module documentation).
pub async fn store_stream<S, E>(lake: &Lake, chunks: S, limit: u64) -> Result<Stored, StoreError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let partial = format!("{PARTIAL_DIR}/{}", uuid::Uuid::new_v4().simple());
    let partial_path = lake.path(&partial);
    let store_error = |action: &'static str, path: &object_store::path::Path| {
        let path = path.to_string();
        move |source: object_store::Error| SinkError::Store {
            action,
            path,
            source,
        }
    };
    let mut out = crate::sink::writer::upload_writer(lake.store(), partial_path.clone());
    let mut hash = sha2::Sha256::new();
    let mut bytes = 0u64;
    let mut chunks = chunks;
    while let Some(chunk) = chunks.next().await {
        let failed = match chunk {
            Err(e) => Some(StoreError::Source(e.to_string())),
            Ok(chunk) => {
                bytes += chunk.len() as u64;
                if bytes > limit {
                    Some(StoreError::TooLarge { limit })
                } else {
                    hash.update(&chunk);
                    out.put(chunk)
                        .await
                        .err()
                        .map(|e| StoreError::Lake(store_error("writing", &partial_path)(e)))
                }
            }
        };
        if let Some(e) = failed {
            let _ = out.abort().await;
            let _ = lake.store().delete(&partial_path).await;
            return Err(e);
        }
    }
    out.shutdown().await.map_err(|e| {
        store_error("writing", &partial_path)(object_store::Error::Generic {
            store: "lake",
            source: Box::new(e),
        })
    })?;
    let sha256 = hex::encode(hash.finalize());
    let path = content_path(&sha256);
    let final_path = lake.path(&path);
    let store = lake.store();
    let new = match store.head(&final_path).await {
        Ok(_) => false,
        Err(object_store::Error::NotFound { .. }) => true,
        Err(e) => return Err(store_error("checking", &final_path)(e).into()),
    };
    if new {
        store
            .rename(&partial_path, &final_path)
            .await
            .map_err(store_error("storing", &final_path))?;
    } else {
        store
            .delete(&partial_path)
            .await
            .map_err(store_error("removing", &partial_path))?;
    }
    Ok(Stored {
        sha256,
        bytes,
        path,
        new,
    })
}

/// Removes what interrupted runs left under `files/_partial/`; returns how many objects.
/// Called by a run holding the lake lock (no other run is storing files). On a local disk a
/// download cut off mid-way is a staging file the store does not list: the folder is emptied
/// on disk. On S3 it is an unfinished multipart upload, which S3 keeps out of every listing
/// and read; a bucket lifecycle rule (`AbortIncompleteMultipartUpload`) frees its parts.
pub async fn remove_partials(lake: &Lake) -> Result<usize, SinkError> {
    let mut removed = 0;
    if let Some(dir) = lake.local_dir() {
        let partial = dir.join(PARTIAL_DIR);
        for entry in std::fs::read_dir(&partial).into_iter().flatten().flatten() {
            let path = entry.path();
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match gone {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(SinkError::LocalFile {
                        action: "removing the partial download",
                        path: path.display().to_string(),
                        source: e,
                    });
                }
            }
        }
    }
    let prefix = lake.path(PARTIAL_DIR);
    let store = lake.store();
    let mut listing = store.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|source| SinkError::Store {
            action: "listing",
            path: prefix.to_string(),
            source,
        })?;
        remove_object(lake, &meta.location).await?;
        removed += 1;
    }
    Ok(removed)
}

/// Removes the object at `location` of `lake`'s store; one already gone is no error.
pub(super) async fn remove_object(
    lake: &Lake,
    location: &object_store::path::Path,
) -> Result<(), SinkError> {
    match lake.store().delete(location).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(SinkError::Store {
            action: "removing",
            path: location.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: Vec<Vec<u8>>) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))))
    }

    fn files_under(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// The same bytes, in any chunking, are stored once at their SHA-256; nothing stays partial.
    #[tokio::test]
    async fn same_bytes_are_stored_once_at_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let first = store_stream(&lake, chunks(vec![bytes.clone()]), u64::MAX)
            .await
            .unwrap();
        let halves = vec![bytes[..7].to_vec(), bytes[7..].to_vec()];
        let second = store_stream(&lake, chunks(halves), u64::MAX).await.unwrap();
        let want = hex::encode(sha2::Sha256::digest(&bytes));
        assert_eq!(first.sha256, want);
        assert!(first.new && !second.new);
        assert_eq!(
            (first.path.as_str(), first.bytes),
            (second.path.as_str(), 200_000)
        );
        assert_eq!(std::fs::read(dir.path().join(&first.path)).unwrap(), bytes);
        assert_eq!(
            files_under(&dir.path().join(FILES_DIR)),
            vec![format!("_sha256/{}/{want}", &want[..2])]
        );
    }

    /// A file over the limit, or whose download breaks off, leaves nothing behind.
    #[tokio::test]
    async fn too_large_and_broken_files_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let big = chunks(vec![vec![1u8; 6 << 20], vec![2u8; 6 << 20]]);
        let e = store_stream(&lake, big, 8 << 20).await.unwrap_err();
        assert!(
            matches!(e, StoreError::TooLarge { limit } if limit == 8 << 20),
            "{e}"
        );
        let broken = futures::stream::iter(vec![
            Ok(Bytes::from(vec![3u8; 6 << 20])),
            Err("connection reset".to_string()),
        ]);
        let e = store_stream(&lake, broken, u64::MAX).await.unwrap_err();
        assert!(
            matches!(e, StoreError::Source(ref m) if m.contains("reset")),
            "{e}"
        );
        assert_eq!(
            files_under(&dir.path().join(FILES_DIR)),
            Vec::<String>::new()
        );
    }

    /// What a killed run left under `files/_partial/` is removed by the next one.
    #[tokio::test]
    async fn partials_of_a_killed_run_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        lake.write(&format!("{PARTIAL_DIR}/abc"), Bytes::from_static(b"half"))
            .await
            .unwrap();
        let kept = store_stream(&lake, chunks(vec![b"whole".to_vec()]), 100)
            .await
            .unwrap();
        assert_eq!(remove_partials(&lake).await.unwrap(), 1);
        assert_eq!(
            files_under(&dir.path().join(FILES_DIR)),
            vec![kept.path[6..].to_string()]
        );
    }
}
