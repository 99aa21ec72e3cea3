//! Many workspaces from one deployment: [`connections`] reads and checks the config file's
//! `[[connection]]` list, and [`run`] syncs them concurrently, each with its own client (and
//! rate limiter), lake, lock, state and summary, one failing without stopping the others.

pub mod connections;
pub mod run;

pub use connections::{Connection, ConnectionEntry, check_file_mode, connections};
pub use run::{Ended, Outcome, sync_connections};
