//! The Notion API client: one send path (auth, version header, rate limit, retries, errors),
//! cursor pagination, and the read endpoints, hiding the differences between API versions.
//!
//! Layout: [`client`] (the send path), [`auth`] (token providers), [`rate_limit`] (governor),
//! [`retry`] (policy), [`pagination`] (cursor → stream), [`endpoints`] (one method per endpoint),
//! [`version`] (what differs per `Notion-Version`), [`error`], [`stats`] (per-run counters),
//! [`workspace_budget`] (the limit a workspace's connections share).

pub mod auth;
pub mod client;
pub mod endpoints;
pub mod error;
pub mod oauth;
pub mod pagination;
pub mod rate_limit;
pub mod retry;
pub mod stats;
pub mod version;
pub mod workspace_budget;

/// Items a compound filter (`and`/`or`) holds at most: Notion caps every array of a request
/// body at 100 elements.
pub const MAX_FILTER_ITEMS: usize = 100;

pub use auth::{SecretString, StaticToken, TokenProvider};
pub use client::{ApiRequest, ClientConfig, DEFAULT_API_BASE, NotionClient};
pub use endpoints::SearchTarget;
pub use error::{ApiError, ErrorKind, NotionError};
pub use pagination::{ListPage, RawRow, decode_row};
pub use retry::RetryConfig;
pub use stats::StatsSnapshot;
pub use version::NotionVersion;
pub use workspace_budget::{BudgetView, WorkspaceBudget};
