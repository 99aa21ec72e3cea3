//! A fake Notion server that behaves like the real one, so that tests, benchmarks and the demo
//! run with no Notion account and no network: the same endpoints, envelopes, error objects and
//! version-dependent shapes, real pagination and limits (page_size ≤ 100, the 25-reference
//! truncation, the query cap, minute-rounded timestamps, Notion-hosted file URLs signed anew
//! on every read), a token bucket answering 429 with
//! Retry-After, latency and seeded fault injection, and request stats.
//!
//! Layout: [`workspace`] (the model), [`render`] (objects as JSON per version), [`query`]
//! (filters, sorts, cursors), [`rollup`] (rollups computed from relations), [`state`] (configuration, shared state, stats), [`server`] (the running server and its router), `respond` (error objects, envelopes and the gate), `files` (hosted files signed per read), `routes`, `content` and `markdown` (the endpoints), [`demo`] (the built-in demo
//! workspace, its handbook page in `handbook`), [`synth`] (large synthetic workspaces), [`oauth`] (the OAuth endpoints), [`edits`] (the edit API for tests) and [`webhooks`] (signed deliveries of the edits' events).

mod content;
pub mod demo;
pub mod edits;
mod file_server;
mod files;
mod handbook;
mod markdown;
pub mod oauth;
pub mod query;
pub mod render;
mod respond;
pub mod rollup;
mod routes;
pub mod server;
pub mod state;
pub mod synth;
pub mod webhooks;
pub mod workspace;

pub use demo::{DemoIds, demo_workspace};
pub use server::FakeNotion;
pub use state::{DEMO_TOKEN, FakeConfig, FakeStats, FaultConfig, FaultKind};
pub use synth::{SynthSpec, synthetic_workspace};
pub use workspace::Workspace;
