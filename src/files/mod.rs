//! Notion-hosted files kept in the lake. Notion hands out such a file as a URL signed for an
//! hour; this module keeps the file's bytes: [`refs`] finds where Notion objects reference
//! such files, [`download`] fetches them from the file host into the store, and [`store`]
//! stores them by content under `files/`.

pub mod download;
pub mod refs;
pub mod store;
