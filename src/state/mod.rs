//! State kept in the lake under `_notionlake/`: the schema registry (property id ↔ column) and
//! the run log. Written only after the data it describes is durable.

pub mod commit;
pub mod lock;
pub mod marks;
pub mod registry;
pub mod resume;
pub mod run_id;
pub mod sync_state;

pub use registry::{ColumnEntry, Registry, SchemaChange, TableEntry};
