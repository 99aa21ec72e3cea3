//! notionlake turns a Notion workspace into an analytics lake: typed Parquet tables per data
//! source plus pages, blocks, users and comments, queryable with SQL.
//!
//! # Layout
//! - [`notion`]: the Notion API client — one send path with auth, `Notion-Version`, rate limit,
//!   retries and typed errors; pagination; the read endpoints for every supported version.
//! - [`model`]: the internal model that hides version differences (parents, trash flags,
//!   databases vs data sources).
//! - [`fake`]: a fake Notion server (axum) that behaves like the real one: envelopes, errors,
//!   pagination, limits, rollups computed from relations, rate limiting and fault injection;
//!   the demo workspace and a generator of large synthetic workspaces.
//! - [`flatten`]: Notion JSON → Arrow record batches, per the property-type mapping; names of
//!   tables and columns from Notion names.
//! - [`sink`]: the lake: local directory or S3 through object_store; atomic Parquet files.
//! - [`state`]: what the lake remembers under `_notionlake/` (schema registry, incremental
//!   state, page marks, the lake lock).
//! - [`shell`]: SQL over the lake (DataFusion): history tables and latest views, the shell,
//!   streamed printing, statement splitting.
//! - [`config`]: settings from flags, environment and a TOML file, validated once.
//! - [`sync`]: orchestration of a run: discovery of what the token can see, one data source's
//!   rows (windows, the query cap, splitting a minute past it), the page crawl.
//! - [`cli`]: the command-line interface (clap types and subcommand dispatch).

pub mod cli;
pub mod config;
pub mod fake;
pub mod flatten;
pub mod model;
pub mod notion;
pub mod shell;
pub mod sink;
pub mod state;
pub mod sync;
