//! Notion-hosted files kept in the lake. Notion hands out such a file as a URL signed for an
//! hour; this module keeps the file's bytes: [`refs`] finds where Notion objects reference
//! such files, [`download`] fetches them from the file host into the store, [`store`] stores
//! them by content under `files/`, [`table`] is the `files` table's rows, [`known`] what the
//! lake already holds, [`keeper`] a run's downloads, [`options`] what a sync is asked, and
//! [`vacuum`] the removal of files no reference uses any more.

pub mod download;
pub mod keeper;
pub mod known;
pub mod options;
pub mod refs;
pub mod store;
pub mod table;
pub mod vacuum;

pub use options::{FilesMode, FilesOptions};
