//! Notion's webhooks, the deployment's side: events tell a sync what changed between polls.
//! - [`event`]: the events Notion delivers, and what each asks a sync to read again;
//! - [`signature`]: `X-Notion-Signature` (HMAC-SHA256 of the raw body, keyed by the
//!   subscription's verification token);
//! - [`token`]: the verification token, kept in a 0600 file and never logged;
//! - [`log`]: accepted events in the lake (`_notionlake/events/`, one object per batch), read
//!   and removed by the sync that consumes them;
//! - [`intake`]: the checks of a body before anything is stored (depth, UUID ids, the shape of
//!   a verification request);
//! - [`seen`]: the event ids stored or being stored, bounded;
//! - [`serve`]: HTTP serving with bounded connections, header read time and sizes;
//! - [`receiver`]: `notionlake webhooks serve`, armed by the operator for the verification,
//!   which verifies, deduplicates and stores each delivery before answering 200, and does no
//!   other work.

pub mod event;
pub mod intake;
pub mod log;
pub mod receiver;
pub mod seen;
pub mod serve;
pub mod signature;
pub mod token;

pub use event::{EventKind, WebhookEvent};
pub use log::{EVENTS_DIR, EventBatch};
pub use receiver::{Receiver, ReceiverConfig};
