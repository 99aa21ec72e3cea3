//! `notionlake sync --all` and `sync --connection NAME`: the config file's connections synced
//! concurrently, each one's summary under its name, then one line per connection; the exit
//! code says whether every one succeeded. With `--watch`, again at each interval.

use std::path::Path;

use super::connection_sync::connection_flags;
use super::print::print_report;
use super::*;
use crate::config::ConnectionArgs;
use crate::fleet::{Budgets, Ended, Outcome, check_file_mode, connections, sync_connections};

/// What a fleet run is asked.
pub(super) struct Fleet<'a> {
    /// The config file's path, when one was given.
    pub config: Option<&'a Path>,
    /// The config file.
    pub file: &'a FileConfig,
    /// The command line's connection settings (over each connection's).
    pub flags: ConnectionArgs,
    /// The connections asked for (none: every one).
    pub names: Vec<String>,
    /// Connections at once.
    pub parallel: usize,
    /// The status file to keep, if any.
    pub status_file: Option<std::path::PathBuf>,
    /// The sync flags the command line gave (they win over a connection's own).
    pub explicit: &'a std::collections::BTreeSet<String>,
    /// `--skip-synced-within`, if given.
    pub skip_synced_within: Option<std::time::Duration>,
}

/// `sync --all` or `sync --connection NAME…` as the command line asks.
pub(super) async fn run_from(cli: &Cli, file: &FileConfig) -> Result<(), CliError> {
    let Command::Sync {
        all,
        connections,
        parallel,
        status_file,
        skip_synced_within,
        conn,
        select,
        format,
        events,
        ..
    } = &cli.command
    else {
        return Ok(());
    };
    if events.on_events {
        return Err(ConfigError::Invalid {
            name: "on-events",
            message: "event-driven runs watch one lake: use them with sync --lake or webhooks serve --sync; --all and --connection poll with --watch".into(),
        }
        .into());
    }
    let fleet = Fleet {
        config: cli.config.as_deref(),
        file,
        flags: conn.into(),
        names: if *all {
            Vec::new()
        } else {
            connections.clone()
        },
        parallel: *parallel,
        status_file: status_file.clone(),
        explicit: &cli.explicit_sync_flags,
        skip_synced_within: *skip_synced_within,
    };
    fleet.run(select, *format).await
}

impl Fleet<'_> {
    /// Checks every connection, then syncs them (every interval with `--watch`).
    pub(super) async fn run(
        &self,
        select: &SelectFlags,
        format: Option<crate::sink::TableFormat>,
    ) -> Result<(), CliError> {
        let Some(path) = self.config else {
            return Err(CliError::Config(ConfigError::Invalid {
                name: "config",
                message: "--all and --connection read the [[connection]] list of a config file: pass --config FILE (or set NOTIONLAKE_CONFIG)".into(),
            }));
        };
        check_file_mode(path)?;
        let list = connections(self.file, &self.flags, &self.names, |v| {
            std::env::var(v).ok()
        })?;
        // Every connection's options before any request: a bad sync table fails the run here.
        let stop = super::sync::stop_on_signals(select.stop_grace);
        let skip = self
            .skip_synced_within
            .or_else(|| select.watch.map(|every| every / 2));
        let runs = list
            .into_iter()
            .map(|c| {
                let flags = connection_flags(&c.name, &c.sync, select, self.explicit)?;
                let options = crate::sync::SyncOptions {
                    format,
                    stop: Some(stop.clone()),
                    skip_synced_within: skip,
                    ..flags.options()
                };
                Ok((c, options))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let budgets = Budgets::default();
        loop {
            let record = |o: &Outcome| {
                if let Some(path) = &self.status_file
                    && let Err(e) = crate::fleet::status::record(path, o, chrono::Utc::now())
                {
                    tracing::warn!("could not write the status file {}: {e}", path.display());
                }
            };
            let outcomes = sync_connections(runs.clone(), self.parallel, &budgets, &record).await;
            let failed = summarize(&outcomes)?;
            let Some(every) = select.watch else {
                return match failed.is_empty() {
                    true => Ok(()),
                    false => Err(CliError::Connections {
                        failed,
                        total: outcomes.len(),
                    }),
                };
            };
            if stop.is_stopped() {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                () = stop.clone().stopped() => return Ok(()),
            }
        }
    }
}

/// Prints each connection's summary under its name, then a line per connection; returns the
/// failed ones' names.
fn summarize(outcomes: &[Outcome]) -> Result<Vec<String>, CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut failed = Vec::new();
    for o in outcomes {
        writeln!(out, "== connection {} ({})", o.name, o.lake).map_err(stdout_error)?;
        match &o.ended {
            Ended::Synced(report) => {
                print_report(&mut out, report, &o.lake).map_err(stdout_error)?
            }
            Ended::RunningElsewhere(why) | Ended::SyncedRecently(why) => {
                writeln!(out, "skipped: {why}").map_err(stdout_error)?
            }
            Ended::Failed(e) => writeln!(out, "error: {e}").map_err(stdout_error)?,
        }
    }
    writeln!(out, "connections:").map_err(stdout_error)?;
    for o in outcomes {
        let line = match &o.ended {
            Ended::Synced(r) => {
                let rows: usize = r.tables.iter().map(|t| t.rows).sum();
                format!(
                    "ok      {rows} rows, {} requests ({} rate-limited)",
                    r.requests.total_requests, r.requests.rate_limited
                )
            }
            Ended::RunningElsewhere(why) | Ended::SyncedRecently(why) => {
                format!("skipped {why}")
            }
            Ended::Failed(e) => {
                failed.push(o.name.clone());
                format!("failed  {e}")
            }
        };
        writeln!(
            out,
            "  {:<20} {line} in {:.1} s",
            o.name,
            o.duration.as_secs_f64()
        )
        .map_err(stdout_error)?;
    }
    print_workspaces(&mut out, outcomes).map_err(stdout_error)?;
    Ok(failed)
}

/// One line per workspace the connections belong to: which share it, and the rate they share
/// once Notion refused a higher one.
fn print_workspaces(out: &mut impl std::io::Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    let mut by_workspace: std::collections::BTreeMap<
        &str,
        (Vec<&str>, &crate::notion::BudgetView),
    > = std::collections::BTreeMap::new();
    for o in outcomes {
        if let Some(w) = &o.workspace {
            let entry = by_workspace
                .entry(w.workspace_id.as_str())
                .or_insert_with(|| (Vec::new(), w));
            entry.0.push(&o.name);
            // The latest view of the shared budget: the one with the most decreases.
            if w.decreases > entry.1.decreases {
                entry.1 = w;
            }
        }
    }
    if by_workspace.is_empty() {
        return Ok(());
    }
    writeln!(out, "workspaces:")?;
    for (id, (names, view)) in by_workspace {
        let limit = match view.rate {
            Some(rate) => format!(
                "shared limit met {} times, now {rate:.2} requests/s",
                view.decreases
            ),
            None => "shared limit never met".to_string(),
        };
        writeln!(out, "  {id}  {}: {limit}", names.join(", "))?;
    }
    Ok(())
}
