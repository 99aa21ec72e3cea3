//! notionlake turns a Notion workspace into an analytics lake: typed Parquet tables per data
//! source plus pages, blocks, users and comments, queryable with SQL.
//!
//! # Layout
//! The arrows point one way: [`cli`] → [`sync`] → {[`notion`], [`flatten`], [`sink`],
//! [`state`]}; [`shell`] → {[`sink`], [`state`]}; [`fake`] stands apart.
//! - [`notion`]: the Notion API client — one send path with auth, `Notion-Version`, rate limit,
//!   retries and typed errors ([`notion::ErrorKind`]); pagination and stale-cursor restarts; the
//!   read endpoints for every supported version; OAuth.
//! - [`model`]: the internal model that hides version differences (parents, trash flags,
//!   databases vs data sources, ids).
//! - [`fake`]: a fake Notion server (axum) that behaves like the real one: envelopes, errors,
//!   pagination, limits, rollups computed from relations, rate limiting and fault injection;
//!   the demo workspace and a generator of large synthetic workspaces.
//! - [`flatten`]: Notion JSON → Arrow record batches: [`flatten::mapping::PropertyType`] (one
//!   enum for each type's Arrow type, builder and documentation), column builders, typed and
//!   fixed tables, names of tables and columns from Notion names.
//! - [`sink`]: the lake: local directory or S3 through object_store; atomic Parquet files; the
//!   [`sink::TableFormat`] seam that commits a run's staged files.
//! - [`state`]: what the lake remembers under `_notionlake/` (schema registry, incremental
//!   state, page marks, the lake lock) and the commit of a run.
//! - [`shell`]: SQL over the lake (DataFusion): history tables and latest views, the shell,
//!   streamed printing, statement splitting.
//! - [`export`]: the lake's documents as Markdown files for publishing (`export-md`).
//! - [`dbt`]: the lake as a dbt package (`notionlake dbt`).
//! - [`files`]: Notion-hosted files kept in the lake.
//! - [`fleet`]: many workspace connections from one config.
//! - [`config`]: settings from flags, environment and a TOML file, validated once.
//! - [`sync`]: a run as the data flows: discovery, one data source, page marks, the crawl and
//!   its scheduler, the write side behind a bounded queue; inventory.
//! - [`webhooks`]: Notion's webhook deliveries — signatures, the verification token, the
//!   receiver, and the accepted events the lake keeps for the next sync.
//! - [`cli`]: the command-line interface (clap types, one file per subcommand, printing).
//! - [`build_info`]: the version, build commit and Notion versions `--version` prints.

pub mod build_info;
pub mod cli;
pub mod config;
pub mod dbt;
pub mod export;
pub mod fake;
pub mod files;
pub mod flatten;
pub mod fleet;
pub mod model;
pub mod notion;
pub mod shell;
pub mod sink;
pub mod state;
pub mod sync;
pub mod webhooks;
