//! `notionlake sync`: one run or `--watch`, and `--list` the inventory. SIGTERM or SIGINT asks
//! the run to stop: it stops issuing requests, checkpoints within `--stop-grace`, releases the
//! lock and exits with [`crate::sync::EXIT_STOPPED`]; past the grace, or at a second signal, the
//! process exits at once with the same code (the next run resumes from the last checkpoint).

use super::print::{print_inventory, print_report};
use super::*;
use crate::notion::NotionClient;
use crate::sink::Lake;
use crate::sync::{SyncOptions, sync_workspace};

/// `sync --list`: what the token can see.
pub(super) async fn run_inventory(client: &NotionClient) -> Result<(), CliError> {
    let inv = crate::sync::inventory(client).await?;
    print_inventory(&mut std::io::stdout().lock(), &inv).map_err(stdout_error)
}

/// One sync into `lake`, and its summary.
pub(super) async fn run_sync(
    client: &NotionClient,
    lake: &Lake,
    options: &SyncOptions,
) -> Result<(), CliError> {
    let report = match sync_workspace(client, lake, options).await {
        Err(e @ SyncError::RecentlySynced { .. }) => {
            println!("skipped: {e}");
            return Ok(());
        }
        other => other?,
    };
    print_report(&mut std::io::stdout().lock(), &report, lake.url()).map_err(stdout_error)
}

/// Syncs once, or with `watch` again at each interval until `stop` (a run in progress
/// checkpoints and the loop ends with it; a stop between runs ends the loop at once); with a
/// `trigger`, also soon after new webhook event batches land. Runs never overlap. A failed run
/// of the loop is reported and retried at the next wake.
pub(super) async fn run_sync_or_watch(
    client: &NotionClient,
    lake: &Lake,
    options: &SyncOptions,
    watch: Option<std::time::Duration>,
    stop: &crate::sync::StopSignal,
    mut trigger: Option<crate::sync::trigger::EventTrigger>,
) -> Result<(), CliError> {
    let Some(every) = watch else {
        return run_sync(client, lake, options).await;
    };
    let mut options = options.clone();
    loop {
        if let Some(t) = trigger.as_mut() {
            t.run_starts().await;
        }
        match run_sync(client, lake, &options).await {
            Err(CliError::Sync(SyncError::Stopped { .. })) | Ok(()) if stop.is_stopped() => {
                return Ok(());
            }
            Err(e) => eprintln!("error: {e} (retrying at the next wake)"),
            Ok(()) => {}
        }
        let deadline = tokio::time::Instant::now() + every;
        let wake = async {
            match trigger.as_mut() {
                Some(t) => t.wait(deadline).await,
                None => {
                    tokio::time::sleep_until(deadline).await;
                    crate::sync::trigger::Wake::Interval
                }
            }
        };
        tokio::select! {
            woke = wake => {
                options.trigger = match woke {
                    crate::sync::trigger::Wake::Events(n) => {
                        eprintln!("syncing: {n} new webhook event batches");
                        crate::sync::RunTrigger::Events
                    }
                    crate::sync::trigger::Wake::Interval => crate::sync::RunTrigger::Scheduled,
                };
            }
            () = stop.clone().stopped() => return Ok(()),
        }
    }
}

/// A stop signal the process's SIGTERM and SIGINT flip; a second signal, or `grace` after the
/// first, ends the process at once.
pub(super) fn stop_on_signals(grace: std::time::Duration) -> crate::sync::StopSignal {
    let (handle, signal) = crate::sync::StopSignal::new();
    tokio::spawn(async move {
        next_signal().await;
        handle.stop();
        eprintln!(
            "stopping: the run checkpoints and exits (at most {}; a second signal exits now)",
            humantime::format_duration(grace)
        );
        tokio::select! {
            () = tokio::time::sleep(grace) => {
                eprintln!("the checkpoint did not finish within the grace; exiting (the next sync resumes from the last checkpoint)");
            }
            () = next_signal() => eprintln!("exiting now (the next sync resumes from the last checkpoint)"),
        }
        std::process::exit(crate::sync::EXIT_STOPPED);
    });
    signal
}

/// The next SIGTERM or SIGINT.
async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
