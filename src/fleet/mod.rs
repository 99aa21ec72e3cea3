//! Many workspaces from one deployment: [`connections`] reads and checks the config file's
//! `[[connection]]` list, [`run`] syncs them concurrently, each with its own client (and rate
//! limiter), lake, lock, state and summary, one failing without stopping the others, and
//! [`status`] keeps the file schedulers read; [`budgets`] holds the budget each workspace's
//! connections share (Notion's second limit).

pub mod budgets;
pub mod connections;
pub mod run;
pub mod status;

pub use budgets::Budgets;
pub use connections::{Connection, check_file_mode, connections};
pub use run::{Ended, Outcome, sync_connections};
