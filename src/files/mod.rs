//! Notion-hosted files kept in the lake. Notion hands out such a file as a URL signed for an
//! hour; this module keeps the file's bytes: [`store`] stores them by content under `files/`,
//! [`download`] fetches them from the file host into the store.

pub mod download;
pub mod store;
