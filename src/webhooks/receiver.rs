//! `notionlake webhooks serve`: the endpoint Notion delivers webhook events to. Per request:
//! 1. the one-time verification request (`{"verification_token": …}`) stores the token (0600)
//!    when none is stored, and has it printed once for the user to paste into Notion;
//! 2. every other delivery must carry a valid `X-Notion-Signature`, or is answered 401 with
//!    nothing recorded;
//! 3. an event whose id was accepted before (a retry, a replay) is answered 200 and not stored
//!    again;
//! 4. an accepted event is written to the lake (one object per batch of the deliveries
//!    waiting at that moment) before the answer: 200 once it is stored, 500 (Notion retries)
//!    when the lake failed. No other work happens here: the next sync reads the events.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::log::{self, EventLogError};
use super::signature::{SIGNATURE_HEADER, verify};
use super::token;
use crate::notion::SecretString;
use crate::sink::Lake;

/// Event ids remembered for deduplication (the oldest are forgotten first).
pub const REMEMBERED_IDS: usize = 100_000;

/// Largest delivery accepted (Notion's events are a few KiB).
const MAX_BODY_BYTES: usize = 1 << 20;

/// Deliveries written as one batch at most.
const MAX_BATCH: usize = 100;

/// How the receiver runs.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Where the verification token is kept.
    pub token_path: PathBuf,
    /// Print the verification token on stdout when Notion sends it (the command line does;
    /// tests do not).
    pub print_token: bool,
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

/// Ids accepted, bounded.
#[derive(Default)]
struct SeenIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl SeenIds {
    /// Records `id`; false if it was recorded already.
    fn insert(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > REMEMBERED_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    fn remove(&mut self, id: &str) {
        self.set.remove(id);
        self.order.retain(|x| x != id);
    }
}

type Ack = oneshot::Sender<Result<(), String>>;

struct ReceiverState {
    token: RwLock<Option<SecretString>>,
    config: ReceiverConfig,
    seen: Mutex<SeenIds>,
    writer: mpsc::Sender<(Value, Ack)>,
}

/// A running receiver.
pub struct Receiver {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
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
        let mut seen = SeenIds::default();
        for name in log::batch_names(&lake).await.map_err(EventLogError::from)? {
            if let Some(batch) = log::read_batch(&lake, &name).await? {
                for e in batch.events {
                    seen.insert(&e.id);
                }
            }
        }
        let (writer, inbox) = mpsc::channel(1024);
        tokio::spawn(write_batches(lake, inbox));
        let state = Arc::new(ReceiverState {
            token: RwLock::new(stored),
            config,
            seen: Mutex::new(seen),
            writer,
        });
        let app = Router::new()
            .route("/", post(deliver).get(health))
            .fallback(post(deliver))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(state);
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the webhook receiver stopped: {e}");
            }
        });
        tracing::info!(%addr, "receiving Notion webhooks");
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

/// Writes the deliveries waiting at each moment as one batch, and answers each.
async fn write_batches(lake: Lake, mut inbox: mpsc::Receiver<(Value, Ack)>) {
    while let Some(first) = inbox.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (events, acks): (Vec<Value>, Vec<Ack>) = batch.into_iter().unzip();
        let n = events.len();
        let result = log::write_batch(&lake, events)
            .await
            .map(|name| tracing::info!(events = n, batch = %name, "stored webhook events"))
            .map_err(|e| e.to_string());
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

async fn health() -> &'static str {
    "notionlake webhook receiver\n"
}

fn answer(status: StatusCode, text: &str) -> (StatusCode, String) {
    (status, format!("{text}\n"))
}

/// One delivery.
async fn deliver(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let offered = json
        .as_ref()
        .and_then(|v| v.get("verification_token"))
        .and_then(Value::as_str);
    let stored = state.token.read().map(|t| t.clone()).unwrap_or_default();
    if let Some(offered) = offered {
        return verification(&state, stored.as_ref(), offered);
    }
    let Some(token) = stored else {
        tracing::warn!(
            "rejected a delivery: the subscription is not verified yet (no verification token stored)"
        );
        return answer(StatusCode::UNAUTHORIZED, "not verified yet");
    };
    let signed = headers
        .get(SIGNATURE_HEADER)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|sig| verify(token.expose(), &body, sig));
    if !signed {
        tracing::warn!("rejected a delivery with a missing or wrong X-Notion-Signature");
        return answer(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let Some(event) = json.filter(|j| j.get("id").and_then(Value::as_str).is_some()) else {
        tracing::warn!("rejected a signed delivery that is not an event (no id)");
        return answer(StatusCode::BAD_REQUEST, "not an event");
    };
    let id = event["id"].as_str().unwrap_or_default().to_string();
    let fresh = state.seen.lock().map(|mut s| s.insert(&id)).unwrap_or(true);
    if !fresh {
        tracing::debug!(event = %id, "an event already stored was delivered again");
        return answer(StatusCode::OK, "already stored");
    }
    let (ack, done) = oneshot::channel();
    let stored = match state.writer.send((event, ack)).await {
        Ok(()) => done
            .await
            .unwrap_or_else(|_| Err("the writer stopped".into())),
        Err(_) => Err("the writer stopped".into()),
    };
    match stored {
        Ok(()) => answer(StatusCode::OK, "stored"),
        Err(e) => {
            if let Ok(mut s) = state.seen.lock() {
                s.remove(&id);
            }
            tracing::error!(event = %id, "could not store a webhook event ({e}); Notion will deliver it again");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "not stored")
        }
    }
}

/// The verification request: the first token is stored (and printed when asked); the same
/// token again is acknowledged; another one is refused, since it would let its sender sign.
fn verification(
    state: &ReceiverState,
    stored: Option<&SecretString>,
    offered: &str,
) -> (StatusCode, String) {
    match stored {
        Some(t) if t.expose() == offered => answer(StatusCode::OK, "already verified"),
        Some(_) => {
            tracing::warn!(
                "refused a second verification request with another token; to accept a new subscription, stop the receiver, delete {} and start it again",
                state.config.token_path.display()
            );
            answer(StatusCode::CONFLICT, "already verified with another token")
        }
        None => {
            let token = SecretString::new(offered);
            if let Err(e) = token::save(&state.config.token_path, &token) {
                tracing::error!("{e}");
                return answer(StatusCode::INTERNAL_SERVER_ERROR, "token not stored");
            }
            if let Ok(mut t) = state.token.write() {
                *t = Some(token);
            }
            tracing::info!(file = %state.config.token_path.display(), "stored the subscription's verification token");
            if state.config.print_token {
                println!(
                    "Notion sent the subscription's verification token. Paste it into the integration's Webhooks tab to verify the subscription:\n{offered}"
                );
            }
            answer(StatusCode::OK, "verification token stored")
        }
    }
}
