//! The fake Notion HTTP server (axum): its configuration (limits, latency, faults), shared state
//! and stats, the running server, and the router that maps Notion's endpoints to the routes in
//! `routes` and `content`, behind the gate in `respond`.

use std::net::SocketAddr;
use std::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::middleware::{self};
use axum::routing::{get, post};
use tokio::sync::oneshot;

use super::workspace::Workspace;

use super::content::{
    block_children, list_comments, page_property, retrieve_block, retrieve_comment, retrieve_page,
};
use super::respond::gate;
use super::routes::{
    fake_stats, fallback, list_users, query_data_source, query_database, reset_stats,
    retrieve_data_source, retrieve_database, retrieve_user, search, users_me,
};
use super::state::{FakeConfig, FakeState, FakeStats};

/// A running fake server.
#[derive(Debug)]
pub struct FakeNotion {
    addr: SocketAddr,
    state: Arc<FakeState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeNotion {
    /// Starts a fake on an ephemeral loopback port.
    pub async fn start(workspace: Workspace, config: FakeConfig) -> std::io::Result<FakeNotion> {
        Self::bind(workspace, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a fake on `addr`.
    pub async fn bind(
        workspace: Workspace,
        config: FakeConfig,
        addr: SocketAddr,
    ) -> std::io::Result<FakeNotion> {
        let state = FakeState::new(workspace, config).map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "fake Notion server stopped");
            }
        });
        Ok(FakeNotion {
            addr,
            state,
            shutdown: Some(tx),
            task,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:7700`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of the request counters.
    pub fn stats(&self) -> FakeStats {
        self.state.stats_mut().clone()
    }

    /// Clears the request counters.
    pub fn reset_stats(&self) {
        *self.state.stats_mut() = FakeStats::default();
    }

    /// The workspace, for reading.
    pub fn workspace(&self) -> RwLockReadGuard<'_, Workspace> {
        self.state.ws()
    }

    /// Successful refresh-token grants served.
    pub fn oauth_refreshes(&self) -> u64 {
        self.state.oauth_tokens().refreshes
    }

    /// Whether a refresh token is still accepted.
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        self.state.oauth_tokens().refresh.contains(token)
    }

    /// The workspace, for editing between syncs.
    pub fn workspace_mut(&self) -> RwLockWriteGuard<'_, Workspace> {
        self.state
            .workspace
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Applies an edit (stamped now) and queues its webhook event; returns the event.
    pub fn edit(&self, edit: &super::edits::Edit) -> Result<serde_json::Value, String> {
        self.state.edit(edit)
    }

    /// Subscribes a webhook receiver (see [`super::webhooks`]).
    pub async fn subscribe(&self, sub: super::webhooks::Subscription) -> Result<(), String> {
        self.state.subscribe(sub).await
    }

    /// The webhook deliveries so far, when a receiver is subscribed.
    pub fn deliveries(&self) -> Option<super::webhooks::DeliveryStats> {
        self.state.deliveries()
    }

    /// Waits until no webhook event is waiting or being retried (or `timeout` passed);
    /// returns the deliveries.
    pub async fn settle_deliveries(
        &self,
        timeout: std::time::Duration,
    ) -> super::webhooks::DeliveryStats {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let stats = self.deliveries().unwrap_or_default();
            if stats.pending == 0 || tokio::time::Instant::now() >= until {
                return stats;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the process is interrupted (for `notionlake fake-notion`).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for FakeNotion {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

/// The router of the fake (used by [`FakeNotion`], exposed for embedding).
pub fn router(state: Arc<FakeState>) -> Router {
    Router::new()
        .route("/v1/users", get(list_users))
        .route("/v1/users/me", get(users_me))
        .route("/v1/users/{id}", get(retrieve_user))
        .route("/v1/search", post(search))
        .route("/v1/databases/{id}", get(retrieve_database))
        .route("/v1/databases/{id}/query", post(query_database))
        .route("/v1/data_sources/{id}", get(retrieve_data_source))
        .route("/v1/data_sources/{id}/query", post(query_data_source))
        .route("/v1/pages/{id}", get(retrieve_page))
        .route(
            "/v1/pages/{id}/markdown",
            get(super::markdown::page_markdown),
        )
        .route(
            "/v1/pages/{id}/properties/{property_id}",
            get(page_property),
        )
        .route("/v1/blocks/{id}", get(retrieve_block))
        .route("/v1/blocks/{id}/children", get(block_children))
        .route("/v1/comments", get(list_comments))
        .route("/v1/comments/{id}", get(retrieve_comment))
        .merge(super::oauth::router(state.oauth.clone()))
        .route("/__files/{*key}", get(super::file_server::serve_file))
        .route("/__fake/stats", get(fake_stats))
        .route("/__fake/stats/reset", post(reset_stats))
        .route("/__fake/edits", post(super::routes::fake_edit))
        .route("/__fake/webhooks", post(super::routes::fake_subscribe))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}
