//! Syncing several connections at once: at most `parallel` at a time, each an ordinary sync of
//! its own lake with its own client, inside a tracing span that carries its name (so every log
//! line, in text or JSON, says which connection it is about). A connection that fails (a
//! revoked token, an unreachable bucket) is an outcome like the others.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::Instrument;

use super::Connection;
use crate::sink::Lake;
use crate::sync::{SyncOptions, SyncReport, sync_workspace};

/// How one connection's run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The connection.
    pub name: String,
    /// Its lake.
    pub lake: String,
    /// Its run's report, or the error that ended it (as the user reads it).
    pub result: Result<SyncReport, String>,
    /// How long it took.
    pub duration: Duration,
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.result.is_ok()
    }
}

/// Syncs every connection with `options`, at most `parallel` at once; the outcomes in the
/// connections' order.
pub async fn sync_connections(
    connections: Vec<Connection>,
    options: &SyncOptions,
    parallel: usize,
) -> Vec<Outcome> {
    let runs = connections.into_iter().enumerate().map(|(i, c)| {
        let span = tracing::info_span!("connection", connection = %c.name);
        async move { (i, sync_one(c, options).await) }.instrument(span)
    });
    let mut done: Vec<(usize, Outcome)> = futures::stream::iter(runs)
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, o)| o).collect()
}

async fn sync_one(connection: Connection, options: &SyncOptions) -> Outcome {
    let started = Instant::now();
    let result = async {
        let client = connection.settings.client().map_err(|e| e.to_string())?;
        let lake = Lake::open(&connection.lake).map_err(|e| e.to_string())?;
        sync_workspace(&client, &lake, options)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = &result {
        tracing::error!("{e}");
    }
    Outcome {
        name: connection.name,
        lake: connection.lake,
        result,
        duration: started.elapsed(),
    }
}
