//! The lake: where tables live (a local directory or `s3://bucket/prefix`, through
//! object_store) and how Parquet files are written there — zstd, bounded row groups, files rolled
//! at a target size, hive-style partitions (`tables/<table>/sync_date=YYYY-MM-DD/`), and never a
//! partially written file visible to a reader (local files are staged and renamed; S3 objects
//! appear when their upload completes). A run's staged rows keep one row per key
//! ([`dedupe`]) before any format commits them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

pub mod dedupe;
pub mod delta;
pub mod format;
pub(crate) mod writer;

pub use format::{StagedTable, TableFormat};
pub(crate) use writer::part_name;
use writer::upload_writer;
pub use writer::{ParquetOptions, TableWriter, UPLOAD_PART_BYTES, UPLOADS_IN_FLIGHT, WrittenFile};

/// What a commit asks before each table it makes current: that the run may still write the
/// lake. The lake lock answers it; a run whose lock was taken over stops before the next table,
/// and the tables it did not reach stay as the last committed run left them.
#[async_trait::async_trait]
pub trait CommitGuard: Send + Sync {
    /// `Ok` while the run may write; the error ([`SinkError::Stopped`]) says why not.
    async fn ensure(&self) -> Result<(), SinkError>;
}

/// A guard that always lets the commit go on: for tools and tests that hold the lake alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unguarded;

#[async_trait::async_trait]
impl CommitGuard for Unguarded {
    async fn ensure(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The hive partition column of every table: the UTC date of the sync that wrote a file. No
/// property column may take this name.
pub const PARTITION_COLUMN: &str = "sync_date";

/// A storage failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The lake location is not usable.
    #[error("invalid lake location {location:?}: {message}")]
    Location {
        /// What was given.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A storage operation failed.
    #[error("storage error while {action} {path}: {source}{}", storage_hint(.source))]
    Store {
        /// What was being done.
        action: &'static str,
        /// The object.
        path: String,
        /// The error.
        source: object_store::Error,
    },
    /// A local temporary file (an object being read) failed.
    #[error(
        "could not copy {path} to a temporary file in {dir}: {source}; free space there, or point TMPDIR at a directory with room"
    )]
    Temp {
        /// The object.
        path: String,
        /// The temporary directory.
        dir: String,
        /// The error.
        source: std::io::Error,
    },
    /// A file of a lake on a local disk could not be changed.
    #[error("{action} {path}: {source} (check the lake directory's permissions)")]
    LocalFile {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A Delta Lake operation failed.
    #[error("Delta table {table}: {source}{}", delta_hint(.source))]
    Delta {
        /// The table's directory.
        table: String,
        /// The error.
        source: Box<deltalake::DeltaTableError>,
    },
    /// The commit stopped before a table: the run may no longer write the lake (its
    /// [`CommitGuard`] said so).
    #[error(transparent)]
    Stopped(Box<dyn std::error::Error + Send + Sync>),
    /// Parquet encoding failed.
    #[error("could not write Parquet file {path}: {source}{}", parquet_hint(.source))]
    Parquet {
        /// The object.
        path: String,
        /// The error.
        source: parquet::errors::ParquetError,
    },
}

const DISK_FULL_HINT: &str =
    " — the disk is full: free space or point --lake elsewhere; files already written are intact";

/// The I/O error at the root of `e`, if any.
fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    std::iter::successors(Some(e), |e| e.source()).find_map(|e| e.downcast_ref::<std::io::Error>())
}

fn disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    io_cause(e).is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
}

fn storage_hint(e: &object_store::Error) -> &'static str {
    match e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            " — check the permissions (or AWS credentials) for the lake location"
        }
        _ if io_cause(e).is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied) => {
            " — check the permissions (or AWS credentials) for the lake location"
        }
        _ if disk_full(e) => DISK_FULL_HINT,
        _ => "",
    }
}

fn delta_hint(e: &deltalake::DeltaTableError) -> &'static str {
    match e {
        deltalake::DeltaTableError::VersionAlreadyExists(_) => {
            " — another writer committed to this table at the same time; run the sync again"
        }
        deltalake::DeltaTableError::ObjectStore { source } => storage_hint(source),
        _ if disk_full(e) => DISK_FULL_HINT,
        _ => "",
    }
}

fn parquet_hint(e: &parquet::errors::ParquetError) -> &'static str {
    if disk_full(e) { DISK_FULL_HINT } else { "" }
}

/// A lake location: an object store and the prefix inside it.
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    root: Path,
    url: String,
}

impl Lake {
    /// Opens `location`: a directory (created if missing) or `s3://bucket/prefix`. S3 settings
    /// come from the standard AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT` for S3-compatible servers, `AWS_ALLOW_HTTP`).
    pub fn open(location: &str) -> Result<Lake, SinkError> {
        Self::open_with(location, &[])
    }

    /// Like [`Lake::open`], with S3 settings given explicitly (`("aws_endpoint", "http://…")`,
    /// `("aws_allow_http", "true")`, …) on top of the environment's.
    pub fn open_with(location: &str, s3_options: &[(&str, &str)]) -> Result<Lake, SinkError> {
        Self::open_inner(location, s3_options, true)
    }

    /// Like [`Lake::open_with`] for a lake that must already be there (to read it): a local
    /// directory that does not exist is an error, never created.
    pub fn open_existing(location: &str, s3_options: &[(&str, &str)]) -> Result<Lake, SinkError> {
        Self::open_inner(location, s3_options, false)
    }

    fn open_inner(
        location: &str,
        s3_options: &[(&str, &str)],
        create: bool,
    ) -> Result<Lake, SinkError> {
        let bad = |message: String| SinkError::Location {
            location: location.to_string(),
            message,
        };
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("expected s3://bucket/prefix".into()));
            }
            let retry = object_store::RetryConfig {
                max_retries: 5,
                retry_timeout: Duration::from_secs(60),
                ..Default::default()
            };
            let mut builder = AmazonS3Builder::from_env();
            for (key, value) in s3_options {
                let key = key
                    .parse()
                    .map_err(|e| bad(format!("unknown S3 setting {key}: {e}")))?;
                builder = builder.with_config(key, *value);
            }
            let store = builder
                .with_bucket_name(bucket)
                .with_retry(retry)
                .build()
                .map_err(|e| bad(format!("{e}; set AWS_REGION, credentials and (for S3-compatible servers) AWS_ENDPOINT")))?;
            return Ok(Lake {
                store: Arc::new(store),
                root: Path::from(prefix.trim_matches('/')),
                url: format!("s3://{bucket}"),
            });
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(bad("only local directories and s3:// are supported".into()));
        }
        let dir = std::path::PathBuf::from(location.strip_prefix("file://").unwrap_or(location));
        if create {
            std::fs::create_dir_all(&dir)
                .map_err(|e| bad(format!("cannot create the directory: {e}")))?;
        } else if !dir.is_dir() {
            return Err(bad(
                "there is no lake there: the directory does not exist; sync into it first (notionlake sync --lake DIR, or notionlake demo --lake DIR)".into(),
            ));
        }
        let dir = dir.canonicalize().map_err(|e| bad(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
        Ok(Lake {
            store: Arc::new(store),
            root: Path::from(""),
            url: format!("file://{}", dir.display()),
        })
    }

    /// The lake's directory, for a lake on a local disk.
    pub fn local_dir(&self) -> Option<std::path::PathBuf> {
        self.url
            .strip_prefix("file://")
            .map(std::path::PathBuf::from)
    }

    /// The location as a person gives it: the directory, or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match self.url.strip_prefix("file://") {
            Some(dir) => dir.to_string(),
            None if self.root.as_ref().is_empty() => self.url.clone(),
            None => format!("{}/{}", self.url, self.root),
        }
    }

    /// The same lake reached through `wrap` of its store (instrumentation, fault injection in
    /// tests). Delta tables of a local lake are still opened by their file URL.
    pub fn map_store(
        &self,
        wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> Lake {
        Lake {
            store: wrap(Arc::clone(&self.store)),
            root: self.root.clone(),
            url: self.url.clone(),
        }
    }

    /// The object store.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The lake's URL (`file:///abs/dir` or `s3://bucket`); object paths are relative to it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Lets DataFusion sessions of `ctx` read a remote lake through the lake's own store (its
    /// endpoint, credentials and retries). Local lakes are read through DataFusion's own file
    /// store: ours is rooted at the lake directory and cannot serve absolute file:// URLs.
    pub fn register_store(&self, ctx: &datafusion::prelude::SessionContext) {
        if let Ok(url) = url::Url::parse(&self.url)
            && url.scheme() != "file"
        {
            ctx.register_object_store(&url, self.store.clone());
        }
    }

    /// The prefix of the lake inside the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path below the lake root.
    pub fn path(&self, relative: &str) -> Path {
        let mut p = self.root.clone();
        for part in relative.split('/').filter(|s| !s.is_empty()) {
            // Valid segments as they are, so that a table named in any script is a directory
            // of that name (`tables/タスク`) that every engine finds; object_store would
            // percent-encode every non-ASCII byte. Others (control characters) are encoded.
            let part = PathPart::parse(part).unwrap_or_else(|_| PathPart::from(part));
            p = p.clone().join(part);
        }
        p
    }

    /// Reads a small object; `Ok(None)` when it does not exist.
    pub async fn read(&self, relative: &str) -> Result<Option<Bytes>, SinkError> {
        let path = self.path(relative);
        match self.store.get(&path).await {
            Ok(r) => r
                .bytes()
                .await
                .map(Some)
                .map_err(|source| SinkError::Store {
                    action: "reading",
                    path: path.to_string(),
                    source,
                }),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(SinkError::Store {
                action: "reading",
                path: path.to_string(),
                source,
            }),
        }
    }

    /// Writes a small object in one put (atomic: readers see the old or the new content).
    pub async fn write(&self, relative: &str, data: Bytes) -> Result<(), SinkError> {
        let path = self.path(relative);
        self.store
            .put(&path, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|source| SinkError::Store {
                action: "writing",
                path: path.to_string(),
                source,
            })
    }

    /// Whether any object exists below `relative` (one listing request).
    pub async fn has_objects(&self, relative: &str) -> Result<bool, SinkError> {
        use futures::StreamExt;
        let path = self.path(relative);
        match self.store.list(Some(&path)).next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(source)) => Err(SinkError::Store {
                action: "listing",
                path: path.to_string(),
                source,
            }),
        }
    }

    /// Deletes the object at a store path as [`WrittenFile::path`] gives it; a missing one is
    /// not an error.
    pub async fn delete_path(&self, store_path: &str) -> Result<(), SinkError> {
        let path = store_path_of(store_path);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(SinkError::Store {
                action: "removing",
                path: store_path.to_string(),
                source,
            }),
        }
    }

    /// The size in bytes of the object at a store path as [`WrittenFile::path`] gives it.
    pub async fn size_of(&self, store_path: &str) -> Result<i64, SinkError> {
        let meta = self
            .store
            .head(&store_path_of(store_path))
            .await
            .map_err(|source| SinkError::Store {
                action: "reading",
                path: store_path.to_string(),
                source,
            })?;
        Ok(i64::try_from(meta.size).unwrap_or(i64::MAX))
    }

    /// Reads an object into an anonymous temporary file (rewound, deleted when dropped), chunk
    /// by chunk, for objects too large to hold in memory; `None` if it does not exist.
    pub async fn read_to_temp_file(
        &self,
        relative: &str,
    ) -> Result<Option<std::fs::File>, SinkError> {
        use futures::TryStreamExt;
        use std::io::{Seek, Write};
        let path = self.path(relative);
        let store_error = |source| SinkError::Store {
            action: "reading",
            path: path.to_string(),
            source,
        };
        let temp_error = |source| SinkError::Temp {
            path: path.to_string(),
            dir: std::env::temp_dir().display().to_string(),
            source,
        };
        let mut stream = match self.store.get(&path).await {
            Ok(r) => r.into_stream(),
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(store_error(source)),
        };
        let mut file = tempfile::tempfile().map_err(temp_error)?;
        while let Some(chunk) = stream.try_next().await.map_err(store_error)? {
            file.write_all(&chunk).map_err(temp_error)?;
        }
        file.rewind().map_err(temp_error)?;
        Ok(Some(file))
    }

    /// Writes an object given in pieces, never holding it whole: small objects are one put,
    /// larger ones a multipart upload of 5 MiB parts, two in flight. Like [`Lake::write`], the
    /// object appears complete or not at all; a piece that fails to serialise aborts the upload.
    pub async fn write_pieces<I, E>(&self, relative: &str, pieces: I) -> Result<(), SinkError>
    where
        I: IntoIterator<Item = Result<Vec<u8>, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        use tokio::io::AsyncWriteExt;
        let path = self.path(relative);
        let store_error = |source: object_store::Error| SinkError::Store {
            action: "writing",
            path: path.to_string(),
            source,
        };
        let generic = |e: Box<dyn std::error::Error + Send + Sync>| object_store::Error::Generic {
            store: "lake",
            source: e,
        };
        let mut out = upload_writer(self.store(), path.clone());
        for piece in pieces {
            let written = match piece {
                Ok(bytes) => out.put(Bytes::from(bytes)).await,
                Err(e) => Err(generic(Box::new(e))),
            };
            if let Err(e) = written {
                let _ = out.abort().await;
                return Err(store_error(e));
            }
        }
        out.shutdown()
            .await
            .map_err(|e| store_error(generic(Box::new(e))))
    }
}

/// The store path of a written file's path text (segments in any script kept as written).
pub(crate) fn store_path_of(text: &str) -> Path {
    Path::parse(text).unwrap_or_else(|_| Path::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Schema;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::EnabledStatistics;

    /// The hints come from the error's variant and its I/O cause, not from its text.
    #[test]
    fn storage_hints_follow_error_variants_and_io_causes() {
        let full = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        };
        assert!(storage_hint(&full).contains("disk is full"));
        let denied = object_store::Error::PermissionDenied {
            path: "x".into(),
            source: "denied".into(),
        };
        assert!(storage_hint(&denied).contains("permissions"));
        let local_denied = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        };
        assert!(storage_hint(&local_denied).contains("permissions"));
        let other = object_store::Error::Generic {
            store: "S3",
            source: "status 403 in a message says nothing".into(),
        };
        assert_eq!(storage_hint(&other), "");
        let parquet = parquet::errors::ParquetError::External(Box::new(full));
        assert!(parquet_hint(&parquet).contains("disk is full"));
    }

    #[test]
    fn dictionaries_and_statistics_only_where_they_pay() {
        use arrow::datatypes::{DataType, Field};
        use parquet::schema::types::ColumnPath;
        let typed = |name: &str, t: &str| {
            Field::new(name, DataType::Utf8, true).with_metadata(
                [("notion.type".to_string(), t.to_string())]
                    .into_iter()
                    .collect(),
            )
        };
        let list = |item: DataType| DataType::List(Arc::new(Field::new("item", item, true)));
        let date = DataType::Struct(
            vec![
                Field::new("start", DataType::Int64, true),
                Field::new("start_text", DataType::Utf8, true),
            ]
            .into(),
        );
        let schema = Schema::new(vec![
            Field::new("_id", DataType::Utf8, false),
            Field::new("_created_by", DataType::Utf8, true),
            typed("stage", "status"),
            typed("notes", "rich_text"),
            typed("amount", "number").with_data_type(DataType::Float64),
            typed("tags", "multi_select").with_data_type(list(DataType::Utf8)),
            typed("links", "relation").with_data_type(list(DataType::Utf8)),
            typed("due", "date").with_data_type(date),
        ]);
        let props = ParquetOptions::default().writer_properties(&schema);
        let col = |n: &str| ColumnPath::new(n.split('.').map(str::to_string).collect());
        for (name, dictionary, statistics) in [
            ("_id", false, EnabledStatistics::None),
            ("_created_by", true, EnabledStatistics::Page),
            ("stage", true, EnabledStatistics::Page),
            ("notes", false, EnabledStatistics::None),
            ("amount", false, EnabledStatistics::Page),
            ("tags.list.item", true, EnabledStatistics::Page),
            ("links.list.item", false, EnabledStatistics::None),
            ("due.start", false, EnabledStatistics::Page),
            ("due.start_text", false, EnabledStatistics::None),
        ] {
            assert_eq!(props.dictionary_enabled(&col(name)), dictionary, "{name}");
            assert_eq!(props.statistics_enabled(&col(name)), statistics, "{name}");
        }
        assert_eq!(
            props.compression(&col("notes")),
            Compression::ZSTD(ZstdLevel::try_new(1).unwrap())
        );
    }

    #[test]
    fn rejects_unsupported_locations() {
        assert!(
            Lake::open("gs://bucket/x")
                .unwrap_err()
                .to_string()
                .contains("only local directories and s3://")
        );
        assert!(Lake::open("s3:///x").is_err());
    }

    #[tokio::test]
    async fn small_objects_round_trip_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        assert!(
            lake.read("_notionlake/registry.json")
                .await
                .unwrap()
                .is_none()
        );
        lake.write("_notionlake/registry.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(
            lake.read("_notionlake/registry.json")
                .await
                .unwrap()
                .unwrap(),
            Bytes::from_static(b"{}")
        );
    }
}
