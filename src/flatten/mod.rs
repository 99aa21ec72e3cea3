//! Notion JSON → Arrow, pure and synchronous: the per-property-type mapping ([`mapping`], the
//! single source of truth documented in `schemas/property-types.md`), name sanitising
//! ([`names`]), shared value parsing ([`values`]), column builders ([`columns`]) and the table
//! builder ([`batch`]) that turns page objects into record batches plus the `rich_text_items`
//! side table.

pub mod batch;
pub(crate) mod columns;
mod compound;
pub mod documents;
pub mod fixed;
pub mod fixed_batch;
pub mod mapping;
pub mod markdown;
pub mod names;
mod reuse;
pub mod values;

pub use batch::{ColumnLayout, RunInfo, TableBuilder, TableLayout, rich_text_schema, table_schema};
