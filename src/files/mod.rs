//! Notion-hosted files kept in the lake. Notion hands out such a file as a URL signed for an
//! hour; this module keeps the file's bytes: [`refs`] finds where Notion objects reference
//! such files, [`download`] fetches them from the file host into the store, [`store`] stores
//! them by content under `files/`, [`table`] is the `files` table's rows, [`known`] what the
//! lake already holds, [`keeper`] a run's downloads, and [`options`] what a sync is asked.

pub mod download;
pub mod keeper;
pub mod known;
pub mod options;
pub mod refs;
pub mod store;
pub mod table;

pub use options::{FilesMode, FilesOptions};
