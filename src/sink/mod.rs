//! The lake: where tables live (a local directory or `s3://bucket/prefix`, through
//! object_store) and how Parquet files are written there — zstd, bounded row groups, files rolled
//! at a target size, hive-style partitions (`tables/<table>/sync_date=YYYY-MM-DD/`), and never a
//! partially written file visible to a reader (local files are staged and renamed; S3 objects
//! appear when their upload completes). A run's staged rows keep one row per key
//! ([`dedupe`]) before any format commits them.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::{ArrowSchemaConverter, AsyncArrowWriter};
use parquet::basic::{Compression, Type as PhysicalType, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

pub mod dedupe;
pub mod delta;
pub mod format;

pub use format::{StagedTable, TableFormat};

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

/// Bytes an object writer buffers before it starts a multipart upload, and the size of each
/// part: S3's minimum part size.
pub const UPLOAD_PART_BYTES: usize = 5 << 20;

/// Parts of one object uploading at once.
pub const UPLOADS_IN_FLIGHT: usize = 2;

/// The writer of one object: memory per open object stays under about
/// `UPLOAD_PART_BYTES × (1 + UPLOADS_IN_FLIGHT)` however large it grows (object_store's
/// defaults, 10 MiB parts and 8 in flight, allow 90 MiB per open file on a slow link).
fn upload_writer(store: Arc<dyn ObjectStore>, path: Path) -> BufWriter {
    BufWriter::with_capacity(store, path, UPLOAD_PART_BYTES).with_max_concurrency(UPLOADS_IN_FLIGHT)
}

/// Parquet settings of the lake.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// Rows per row group at most.
    pub row_group_rows: usize,
    /// Buffered bytes that force a row group out early (bounds memory per open file).
    pub row_group_bytes: usize,
    /// Rows after which a file is closed and the next one started.
    pub file_rows: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            row_group_rows: 65_536,
            row_group_bytes: 32 << 20,
            file_rows: 1_000_000,
        }
    }
}

/// Top-level columns whose few distinct values vary from row to row (kinds, colours, users), so a
/// dictionary pays for itself. Every other column is written plain: ids, urls and text are
/// mostly distinct, and columns constant within a file (run id, data source, table) shrink to
/// nothing under zstd without one; measured in `benches/flatten.rs`, dictionaries elsewhere cost
/// CPU and did not make the files smaller.
const DICTIONARY_COLUMNS: &[&str] = &[
    "_created_by",
    "_last_edited_by",
    "type",
    "parent_type",
    "created_by",
    "last_edited_by",
    "color",
    "mention_type",
    "reason",
    "language",
];

/// Notion property types whose columns hold few distinct values.
const DICTIONARY_PROPERTY_TYPES: &[&str] = &[
    "select",
    "multi_select",
    "status",
    "created_by",
    "last_edited_by",
];

impl ParquetOptions {
    /// The Parquet writer properties of the lake for a table of `schema`: zstd level 1 (measured
    /// in `benches/flatten.rs`: as small as level 3 on Notion rows, at about half the cost), the
    /// row-group size, and dictionary encoding only for low-cardinality columns. Text leaves
    /// (top-level or nested in lists and structs) carry no min/max statistics unless they are
    /// low-cardinality: on ids, urls and prose they prune nothing, and computing them was the
    /// largest single cost of encoding. Numbers, timestamps, booleans and low-cardinality text
    /// keep them (row-group and page pruning).
    pub fn writer_properties(&self, schema: &Schema) -> WriterProperties {
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_dictionary_enabled(false)
            .set_created_by(concat!("notionlake ", env!("CARGO_PKG_VERSION")).to_string());
        let low_cardinality = |top: &str| {
            schema.field_with_name(top).is_ok_and(|field| {
                DICTIONARY_COLUMNS.contains(&top)
                    || field
                        .metadata()
                        .get("notion.type")
                        .is_some_and(|t| DICTIONARY_PROPERTY_TYPES.contains(&t.as_str()))
            })
        };
        // The Parquet leaves of the Arrow schema, nested ones included (`tags.list.element`).
        let Ok(parquet) = ArrowSchemaConverter::new().convert(schema) else {
            return builder.build();
        };
        for leaf in parquet.columns() {
            if leaf.physical_type() != PhysicalType::BYTE_ARRAY {
                continue;
            }
            let path = leaf.path().clone();
            let top = path.parts().first().map(String::as_str).unwrap_or_default();
            builder = if low_cardinality(top) {
                builder.set_column_dictionary_enabled(path, true)
            } else {
                builder.set_column_statistics_enabled(path, EnabledStatistics::None)
            };
        }
        builder.build()
    }
}

/// A file written to the lake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenFile {
    /// Object path.
    pub path: String,
    /// Rows.
    pub rows: usize,
}

/// The name of file `seq` of run `run_id` in a table directory: every file a run writes is
/// named so, which ties it to its run.
pub(crate) fn part_name(run_id: &str, seq: usize) -> String {
    format!("part-{run_id}-{seq:05}.parquet")
}

/// Writes one table's batches as a sequence of Parquet files under `dir`, named
/// `part-<run>-<seq>.parquet`. A file becomes visible only when closed.
pub struct TableWriter {
    lake: Lake,
    table_dir: String,
    dir: String,
    run_id: String,
    schema: SchemaRef,
    options: ParquetOptions,
    current: Option<(AsyncArrowWriter<BufWriter>, Path, usize)>,
    seq: usize,
    files: Vec<WrittenFile>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("dir", &self.dir)
            .field("files", &self.files)
            .finish()
    }
}

impl TableWriter {
    /// A writer of files with `schema` in partition `partition` (`sync_date=YYYY-MM-DD`) of the
    /// table whose directory is `table_dir` (relative to the lake root).
    pub fn new(
        lake: &Lake,
        table_dir: &str,
        partition: &str,
        run_id: &str,
        schema: SchemaRef,
        options: ParquetOptions,
    ) -> TableWriter {
        TableWriter {
            lake: lake.clone(),
            table_dir: table_dir.to_string(),
            dir: format!("{table_dir}/{partition}"),
            run_id: run_id.to_string(),
            schema,
            options,
            current: None,
            seq: 0,
            files: Vec::new(),
        }
    }

    /// Numbers this writer's files from `seq` (`part-<run>-<seq>.parquet`), so that a second
    /// writer of the same run and directory names its files apart from the first's.
    pub fn starting_at(mut self, seq: usize) -> TableWriter {
        self.seq = seq;
        self
    }

    /// Appends a batch (empty batches are ignored).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.current.is_none() {
            self.open()?;
        }
        let Some((writer, path, rows)) = self.current.as_mut() else {
            return Ok(());
        };
        writer
            .write(batch)
            .await
            .map_err(|source| SinkError::Parquet {
                path: path.to_string(),
                source,
            })?;
        *rows += batch.num_rows();
        if writer.in_progress_size() >= self.options.row_group_bytes {
            writer.flush().await.map_err(|source| SinkError::Parquet {
                path: path.to_string(),
                source,
            })?;
        }
        if *rows >= self.options.file_rows {
            self.close_current().await?;
        }
        Ok(())
    }

    fn open(&mut self) -> Result<(), SinkError> {
        let path = self.lake.path(&format!(
            "{}/{}",
            self.dir,
            part_name(&self.run_id, self.seq)
        ));
        self.seq += 1;
        let object = upload_writer(self.lake.store(), path.clone());
        let writer = AsyncArrowWriter::try_new(
            object,
            self.schema.clone(),
            Some(self.options.writer_properties(&self.schema)),
        )
        .map_err(|source| SinkError::Parquet {
            path: path.to_string(),
            source,
        })?;
        self.current = Some((writer, path, 0));
        Ok(())
    }

    async fn close_current(&mut self) -> Result<(), SinkError> {
        if let Some((writer, path, rows)) = self.current.take() {
            writer.close().await.map_err(|source| SinkError::Parquet {
                path: path.to_string(),
                source,
            })?;
            self.files.push(WrittenFile {
                path: path.to_string(),
                rows,
            });
        }
        Ok(())
    }

    /// Closes the open file and returns every file written, staged for the commit. A table that
    /// received no rows still gets one empty file, so that its schema is readable.
    pub async fn finish(mut self) -> Result<StagedTable, SinkError> {
        if self.files.is_empty() && self.current.is_none() {
            let empty = RecordBatch::new_empty(self.schema.clone());
            self.open()?;
            if let Some((writer, path, _)) = self.current.as_mut() {
                writer
                    .write(&empty)
                    .await
                    .map_err(|source| SinkError::Parquet {
                        path: path.to_string(),
                        source,
                    })?;
            }
        }
        self.close_current().await?;
        Ok(StagedTable {
            table_dir: self.table_dir,
            schema: self.schema,
            files: self.files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
