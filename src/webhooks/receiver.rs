//! `notionlake webhooks serve`: the endpoint Notion delivers webhook events to. Every request is
//! hostile until proven otherwise; per request, in this order:
//! 1. the body is read within a size bound ([`MAX_BODY_BYTES`], checked against
//!    `Content-Length` first) and a time bound;
//! 2. a delivery carrying `X-Notion-Signature` is checked against the stored token over the raw
//!    bytes, in constant time, before any parse: a bad or missing signature gets 401 and
//!    nothing is recorded;
//! 3. a signed body is then checked as an event ([`super::intake`]): shallow JSON whose ids are
//!    UUIDs, or 400;
//! 4. an event already stored (a retry, a replay) is answered 200 and not stored again; a copy
//!    that arrives while the first is being written waits for that write ([`super::seen`]);
//! 5. an accepted event is written to the lake (one object per batch of the deliveries waiting
//!    at that moment) before the answer: 200 once stored, 500 (Notion retries) when the lake
//!    failed.
//!
//! An unsigned body is read only as the subscription's verification request, and only while
//! the operator armed the receiver for it (`--arm`, for a bounded time): the first token is
//! stored atomically (a file created 0600, never replaced) and printed once, and arming ends.
//! Unarmed, a verification request is refused (403); a second token is refused (409), since
//! accepting it would let its sender sign events. A stranger who reaches the URL can therefore
//! never set the signing key. No other work happens in a request: the next sync reads the
//! events. Connections, header read time and header size are bounded by [`super::serve`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot, watch};

use super::intake::{self, MAX_BODY_BYTES};
use super::log::{self, EventLogError};
use super::seen::{Claim, SeenIds};
use super::serve::{Limits, serve};
use super::signature::{SIGNATURE_HEADER, verify};
use super::token;
use crate::notion::SecretString;
use crate::sink::Lake;

/// Deliveries written as one batch at most.
const MAX_BATCH: usize = 100;

/// How long a request waits for its event to be stored before answering 500 (Notion retries).
const STORE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an armed receiver accepts a verification request by default.
pub const DEFAULT_ARM_FOR: Duration = Duration::from_secs(15 * 60);

/// How the receiver runs.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Where the verification token is kept.
    pub token_path: PathBuf,
    /// Print the verification token on stdout when Notion sends it (the command line does;
    /// tests do not).
    pub print_token: bool,
    /// Accept the subscription's verification request for this long after the start (the
    /// operator creating the subscription arms it); `None`: refuse every verification request.
    pub arm: Option<Duration>,
    /// Bounds of the HTTP server.
    pub limits: Limits,
}

impl ReceiverConfig {
    /// A receiver keeping its token at `token_path`, unarmed, silent, with default bounds.
    pub fn new(token_path: PathBuf) -> ReceiverConfig {
        ReceiverConfig {
            token_path,
            print_token: false,
            arm: None,
            limits: Limits::default(),
        }
    }
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The token file.
    #[error(transparent)]
    Token(#[from] token::TokenFileError),
    /// The lake's stored events.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// The listening socket.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// An event handed to the writer, with the sender of its outcome.
struct Pending {
    id: u128,
    event: Value,
    outcome: watch::Sender<Option<bool>>,
}

struct ReceiverState {
    token: RwLock<Option<SecretString>>,
    /// Until when a verification request is accepted; checked and cleared under this lock,
    /// together with the token's store (one check-and-set).
    armed_until: Mutex<Option<tokio::time::Instant>>,
    config: ReceiverConfig,
    seen: Arc<Mutex<SeenIds>>,
    writer: mpsc::Sender<Pending>,
}

/// A running receiver.
pub struct Receiver {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// The ids of the events stored and not consumed yet, read one batch at a time.
async fn stored_ids(lake: &Lake) -> Result<SeenIds, EventLogError> {
    let mut seen = SeenIds::default();
    for name in log::batch_names(lake).await? {
        if let Some(batch) = log::read_batch(lake, &name).await? {
            for e in batch.events {
                if let Some(bits) = crate::model::uuid_bits(&crate::model::normalize_id(&e.id)) {
                    seen.stored(bits);
                }
            }
        }
    }
    Ok(seen)
}

impl Receiver {
    /// Starts receiving on `listener`, storing events in `lake`. Events already stored and not
    /// consumed yet are remembered, so their retries are not stored twice.
    pub async fn start(
        lake: Lake,
        listener: tokio::net::TcpListener,
        config: ReceiverConfig,
    ) -> Result<Receiver, ReceiverError> {
        let stored = token::load(&config.token_path)?;
        if stored.is_some() && config.arm.is_some() {
            tracing::warn!(
                "a verification token is stored already ({}): arming accepts no other; delete the file to subscribe anew",
                config.token_path.display()
            );
        }
        let seen = Arc::new(Mutex::new(stored_ids(&lake).await?));
        let (writer, inbox) = mpsc::channel(1024);
        tokio::spawn(write_batches(lake, inbox, Arc::clone(&seen)));
        let limits = config.limits;
        let armed_until = config.arm.map(|d| tokio::time::Instant::now() + d);
        let state = Arc::new(ReceiverState {
            token: RwLock::new(stored),
            armed_until: Mutex::new(armed_until),
            config,
            seen,
            writer,
        });
        let app = Router::new()
            .route("/", post(deliver).get(health))
            .fallback(post(deliver))
            .with_state(state);
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, limits, rx));
        tracing::info!(%addr, armed = armed_until.is_some(), "receiving Notion webhooks");
        Ok(Receiver {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes the requests in flight, and returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the server stops.
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Writes the deliveries waiting at each moment as one batch; reports each outcome, and
/// records it in the ids (whether or not the request that brought the event still waits).
async fn write_batches(lake: Lake, mut inbox: mpsc::Receiver<Pending>, seen: Arc<Mutex<SeenIds>>) {
    while let Some(first) = inbox.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let events: Vec<Value> = batch.iter().map(|p| p.event.clone()).collect();
        let n = events.len();
        let stored = match log::write_batch(&lake, events).await {
            Ok(name) => {
                tracing::info!(events = n, batch = %name, "stored webhook events");
                true
            }
            Err(e) => {
                tracing::error!(
                    "could not store {n} webhook events ({e}); Notion will deliver them again"
                );
                false
            }
        };
        if let Ok(mut s) = seen.lock() {
            for p in &batch {
                s.finished(p.id, stored);
            }
        }
        for p in batch {
            let _ = p.outcome.send(Some(stored));
        }
    }
}

async fn health() -> &'static str {
    "notionlake webhook receiver\n"
}

fn answer(status: StatusCode, text: &str) -> (StatusCode, String) {
    (status, format!("{text}\n"))
}

/// The body, read within the size and time bounds.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: Duration,
) -> Result<axum::body::Bytes, (StatusCode, String)> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
    }
    match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Err(_) => Err(answer(StatusCode::REQUEST_TIMEOUT, "body too slow")),
        Ok(Err(_)) => Err(answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large")),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// One delivery.
async fn deliver(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    let body = match read_body(&headers, body, state.config.limits.body_read).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let stored = state.token.read().map(|t| t.clone()).unwrap_or_default();
    let signature = headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok());
    let Some(signature) = signature else {
        return match intake::verification_token(&body) {
            Some(offered) => verification(&state, &offered),
            None if stored.is_none() => {
                tracing::warn!("rejected a delivery: the subscription is not verified yet");
                answer(StatusCode::UNAUTHORIZED, "not verified yet")
            }
            None => {
                tracing::warn!("rejected a delivery without X-Notion-Signature");
                answer(StatusCode::UNAUTHORIZED, "bad signature")
            }
        };
    };
    let Some(token) = stored else {
        tracing::warn!("rejected a signed delivery: the subscription is not verified yet");
        return answer(StatusCode::UNAUTHORIZED, "not verified yet");
    };
    if !verify(token.expose(), &body, signature) {
        tracing::warn!("rejected a delivery with a wrong X-Notion-Signature");
        return answer(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let (id, event) = match intake::event(&body) {
        Ok(e) => e,
        Err(refusal) => {
            tracing::warn!("rejected a signed delivery: {refusal}");
            return answer(StatusCode::BAD_REQUEST, &refusal.to_string());
        }
    };
    store(&state, id, event).await
}

/// Stores an accepted event once; answers when it is stored (or was already).
async fn store(state: &ReceiverState, id: u128, event: Value) -> (StatusCode, String) {
    let claim = match state.seen.lock() {
        Ok(mut seen) => seen.claim(id),
        Err(_) => return answer(StatusCode::INTERNAL_SERVER_ERROR, "not stored"),
    };
    let mut outcome = match claim {
        Claim::Stored => {
            tracing::debug!("an event already stored was delivered again");
            return answer(StatusCode::OK, "already stored");
        }
        Claim::Storing(outcome) => outcome,
        Claim::Fresh(tx) => {
            let rx = tx.subscribe();
            let pending = Pending {
                id,
                event,
                outcome: tx,
            };
            if state.writer.send(pending).await.is_err() {
                if let Ok(mut seen) = state.seen.lock() {
                    seen.finished(id, false);
                }
                return answer(StatusCode::INTERNAL_SERVER_ERROR, "not stored");
            }
            rx
        }
    };
    let waited = tokio::time::timeout(STORE_TIMEOUT, outcome.wait_for(Option::is_some)).await;
    match waited {
        Ok(Ok(done)) if *done == Some(true) => answer(StatusCode::OK, "stored"),
        _ => answer(StatusCode::INTERNAL_SERVER_ERROR, "not stored"),
    }
}

/// The verification request: while armed, the first token is stored (and printed when
/// asked), and arming ends; the same token again is acknowledged; another one is refused,
/// since it would let its sender sign; unarmed, a first token is refused.
fn verification(state: &ReceiverState, offered: &str) -> (StatusCode, String) {
    // The check and the set happen under one lock (and the file is created, never replaced).
    let Ok(mut armed_until) = state.armed_until.lock() else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, "token not stored");
    };
    let stored = state.token.read().map(|t| t.clone()).unwrap_or_default();
    if let Some(t) = stored {
        if bool::from(t.expose().as_bytes().ct_eq(offered.as_bytes())) {
            return answer(StatusCode::OK, "already verified");
        }
        tracing::warn!(
            "refused a verification request with another token; to accept a new subscription, stop the receiver, delete {} and start it again with --arm",
            state.config.token_path.display()
        );
        return answer(StatusCode::CONFLICT, "already verified with another token");
    }
    let armed = armed_until.is_some_and(|until| tokio::time::Instant::now() < until);
    if !armed {
        tracing::warn!(
            "refused a verification request: the receiver is not armed; start it with --arm while you create the subscription"
        );
        return answer(StatusCode::FORBIDDEN, "verification is not armed");
    }
    let token = SecretString::new(offered);
    if let Err(e) = token::create(&state.config.token_path, &token) {
        tracing::error!("{e}");
        return answer(StatusCode::CONFLICT, "token not stored");
    }
    *armed_until = None;
    if let Ok(mut t) = state.token.write() {
        *t = Some(token);
    }
    tracing::info!(file = %state.config.token_path.display(), "stored the subscription's verification token; verification is disarmed");
    if state.config.print_token {
        println!(
            "Notion sent the subscription's verification token. Paste it into the integration's Webhooks tab to verify the subscription:\n{offered}"
        );
    }
    answer(StatusCode::OK, "verification token stored")
}
