//! `notionlake sync --all` and `sync --connection NAME`: the config file's connections synced
//! concurrently, each one's summary under its name, then one line per connection; the exit
//! code says whether every one succeeded. With `--watch`, again at each interval.

use std::path::Path;

use super::print::print_report;
use super::*;
use crate::config::ConnectionArgs;
use crate::fleet::{Ended, Outcome, check_file_mode, connections, sync_connections};

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
        let stop = super::sync::stop_on_signals(select.stop_grace);
        let options = crate::sync::SyncOptions {
            format,
            stop: Some(stop.clone()),
            ..select.options()
        };
        loop {
            let record = |o: &Outcome| {
                if let Some(path) = &self.status_file
                    && let Err(e) = crate::fleet::status::record(path, o, chrono::Utc::now())
                {
                    tracing::warn!("could not write the status file {}: {e}", path.display());
                }
            };
            let outcomes = sync_connections(list.clone(), &options, self.parallel, &record).await;
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
            Ended::RunningElsewhere(why) => {
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
            Ended::RunningElsewhere(why) => format!("skipped {why}"),
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
    Ok(failed)
}
