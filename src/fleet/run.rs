//! Syncing several connections at once: at most `parallel` at a time, each an ordinary sync of
//! its own lake with its own client, inside a tracing span that carries its name (so every log
//! line, in text or JSON, says which connection it is about). A connection that fails (a
//! revoked token, an unreachable bucket) is an outcome like the others; one whose lake another
//! process is syncing (its lock is held: another machine of the fleet) is skipped at once as
//! running elsewhere. The lake locks are the fleet's only coordination. Before its sync, each
//! connection asks Notion which workspace it belongs to and joins that workspace's budget.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::Instrument;

use super::Connection;
use super::budgets::Budgets;
use crate::notion::BudgetView;
use crate::sink::Lake;
use crate::state::lock::LockError;
use crate::sync::{SyncError, SyncOptions, SyncReport, sync_workspace};

/// How one connection's run ended.
#[derive(Debug)]
pub enum Ended {
    /// Synced: its report.
    Synced(Box<SyncReport>),
    /// Another process holds its lake's lock (another machine of the fleet is syncing it): it
    /// was skipped at once, which is no failure.
    RunningElsewhere(String),
    /// Its lake was synced within the run's `skip_synced_within` (by this machine or another of
    /// the fleet, this round): it was skipped, which is no failure.
    SyncedRecently(String),
    /// It failed: the error as the user reads it.
    Failed(String),
}

/// One connection's run.
#[derive(Debug)]
pub struct Outcome {
    /// The connection.
    pub name: String,
    /// Its lake.
    pub lake: String,
    /// How it ended.
    pub ended: Ended,
    /// Its workspace's shared budget at the end of its run, once the workspace was known.
    pub workspace: Option<BudgetView>,
    /// How long it took.
    pub duration: Duration,
}

impl Outcome {
    /// Whether the run failed.
    pub fn failed(&self) -> bool {
        matches!(self.ended, Ended::Failed(_))
    }
}

/// Syncs every connection with its options, at most `parallel` at once, the connections of one
/// workspace sharing its budget in `budgets`, calling `done` with each outcome as it ends; the
/// outcomes in the connections' order.
pub async fn sync_connections(
    connections: Vec<(Connection, SyncOptions)>,
    parallel: usize,
    budgets: &Budgets,
    done: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let runs = connections
        .into_iter()
        .enumerate()
        .map(|(i, (c, options))| {
            let span = tracing::info_span!("connection", connection = %c.name);
            async move {
                let outcome = sync_one(c, &options, budgets).await;
                done(&outcome);
                (i, outcome)
            }
            .instrument(span)
        });
    let mut done: Vec<(usize, Outcome)> = futures::stream::iter(runs)
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, o)| o).collect()
}

async fn sync_one(connection: Connection, options: &SyncOptions, budgets: &Budgets) -> Outcome {
    let started = Instant::now();
    let mut workspace = None;
    let result = async {
        let client = connection.settings.client().map_err(|e| e.to_string())?;
        let lake = Lake::open(&connection.lake).map_err(|e| e.to_string())?;
        let budget = budgets.join(&client).await.map_err(|e| e.to_string())?;
        let synced = sync_workspace(&client, &lake, options).await;
        workspace = Some(budget.view());
        Ok::<_, String>(synced)
    }
    .await;
    let ended = match result {
        Ok(Ok(report)) => Ended::Synced(Box::new(report)),
        Ok(Err(SyncError::Locked(LockError::Held(holder)))) => {
            let elsewhere = format!(
                "running elsewhere (run {} on {} pid {})",
                holder.run_id, holder.host, holder.pid
            );
            tracing::info!("{elsewhere}: skipped");
            Ended::RunningElsewhere(elsewhere)
        }
        Ok(Err(e @ SyncError::RecentlySynced { .. })) => {
            tracing::info!("{e}: skipped");
            Ended::SyncedRecently(e.to_string())
        }
        Ok(Err(e)) => Ended::Failed(e.to_string()),
        Err(e) => Ended::Failed(e),
    };
    if let Ended::Failed(e) = &ended {
        tracing::error!("{e}");
    }
    Outcome {
        name: connection.name,
        lake: connection.lake,
        ended,
        workspace,
        duration: started.elapsed(),
    }
}
