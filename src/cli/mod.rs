//! The command line: errors and exit codes, and the dispatch of a parsed command line to its
//! subcommand. `args` holds the clap types; `sync`, `sql`, `demo`, `export`, `fake` and `auth`
//! one subcommand each; `print` what they print. Raw arguments become validated [`Settings`] here and never leave this
//! module.

mod args;
mod auth;
mod completions;
mod config_check;
mod connection_sync;
mod dbt;
mod demo;
mod export;
mod fake;
mod fleet;
mod maintain;
mod parse;
mod print;
mod sql;
mod sync;
mod webhooks;

pub use args::*;
use auth::run_auth;
use demo::run_demo;
use export::run_export;
use fake::run_fake;
use maintain::{run_optimize, run_vacuum};
pub use parse::parse;
use sql::run_sql;
use sync::{run_inventory, run_sync};

use crate::config::{ConfigError, FileConfig, Settings};
use crate::notion::NotionError;
use crate::sync::SyncError;

/// An error that ends the program, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad settings (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Notion failed (exit 1).
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// The sync failed (exit 1).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Local I/O failed (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// The webhook receiver failed (exit 1).
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::receiver::ReceiverError),
    /// A SQL statement or shell command failed (exit 1).
    #[error("{0}")]
    Shell(String),
    /// Some connections of a `sync --all` failed (exit 1).
    #[error("{} of {total} connections failed: {}", failed.len(), failed.join(", "))]
    Connections {
        /// The failed connections' names.
        failed: Vec<String>,
        /// How many ran.
        total: usize,
    },
    /// The export left files alone that were in its way (exit 1).
    #[error(
        "{kept} files in the export folder were left alone (listed above): the export never overwrites or removes a file it did not write, or one changed since; move them away (or keep your changes elsewhere) and export again"
    )]
    ExportKept {
        /// How many.
        kept: usize,
    },
}

impl From<crate::config::ClientSetupError> for CliError {
    fn from(e: crate::config::ClientSetupError) -> Self {
        match e {
            crate::config::ClientSetupError::Config(c) => CliError::Config(c),
            crate::config::ClientSetupError::Notion(n) => CliError::Notion(n),
        }
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Config(_) => 2,
            CliError::Sync(SyncError::Stopped { .. }) => crate::sync::EXIT_STOPPED,
            _ => 1,
        }
    }
}

fn load_file(cli: &Cli) -> Result<FileConfig, CliError> {
    match &cli.config {
        Some(p) => Ok(FileConfig::load(p)?),
        None => Ok(FileConfig::default()),
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    // Commands about the tool itself, or about the config file, do not load it first.
    let file = match &cli.command {
        Command::Config { .. } | Command::Completions { .. } | Command::Man { .. } => {
            FileConfig::default()
        }
        _ => load_file(&cli)?,
    };
    match &cli.command {
        Command::Sync {
            all, connections, ..
        } if *all || !connections.is_empty() => fleet::run_from(&cli, &file).await,
        Command::Sync {
            conn,
            lake,
            inventory,
            select,
            format,
            skip_synced_within,
            events,
            ..
        } => {
            let settings = Settings::resolve(&conn.into(), &file)?;
            let client = settings.client()?;
            if *inventory {
                return run_inventory(&client).await;
            }
            let location = lake_location(lake.as_deref(), &file)?;
            let lake = crate::sink::Lake::open(&location).map_err(SyncError::from)?;
            let stop = sync::stop_on_signals(select.stop_grace);
            let options = crate::sync::SyncOptions {
                format: *format,
                stop: Some(stop.clone()),
                skip_synced_within: *skip_synced_within,
                ..select.options()
            };
            if events.on_events && select.watch.is_none() {
                return Err(ConfigError::Invalid {
                    name: "on-events",
                    message: "event-driven runs are runs of a watch loop: add --watch with the safety-net interval (e.g. --watch 1h)".into(),
                }
                .into());
            }
            let trigger = events
                .on_events
                .then(|| crate::sync::trigger::EventTrigger::new(lake.clone(), events.options()));
            sync::run_sync_or_watch(&client, &lake, &options, select.watch, &stop, trigger).await
        }
        Command::Demo {
            lake,
            notion_version,
            format,
        } => run_demo(lake, notion_version.clone(), *format, &file).await,
        Command::ExportMd { lake, out } => {
            run_export(&lake_location(lake.as_deref(), &file)?, out).await
        }
        Command::Dbt { lake, out, adapter } => {
            dbt::run_dbt(&lake_location(lake.as_deref(), &file)?, out, *adapter).await
        }
        Command::Optimize { lake } => run_optimize(&lake_location(lake.as_deref(), &file)?).await,
        Command::Vacuum { lake, retain } => {
            run_vacuum(&lake_location(lake.as_deref(), &file)?, *retain).await
        }
        Command::FakeNotion(args) => run_fake(args.clone()).await,
        Command::Auth { action } => run_auth(action, &file).await,
        Command::Webhooks { action } => webhooks::run_webhooks(action, &file).await,
        Command::Config {
            action: ConfigAction::Check,
        } => config_check::run_config_check(cli.config.as_deref()),
        Command::Completions { shell } => completions::print_completions(*shell),
        Command::Man { out } => completions::man(out.as_deref()),
        Command::Sql {
            lake,
            commands,
            file: script,
            query,
            format,
            maxrows,
        } => {
            let location = lake_location(lake.as_deref(), &file)?;
            run_sql(
                &location,
                commands,
                script.as_deref(),
                query.as_deref(),
                *format,
                crate::shell::print::MaxRows::from_flag(*maxrows),
            )
            .await
        }
    }
}

/// The lake's location: `--lake`, else `lake` in the config file.
fn lake_location(flag: Option<&str>, file: &FileConfig) -> Result<String, CliError> {
    flag.map(str::to_string).or_else(|| file.lake.clone()).ok_or_else(|| {
        CliError::Config(ConfigError::Invalid {
            name: "lake",
            message: "which lake? pass --lake ./lake (or s3://bucket/prefix), or set `lake` in the config file".into(),
        })
    })
}

fn stdout_error(source: std::io::Error) -> CliError {
    CliError::Io {
        context: "writing to stdout".into(),
        source,
    }
}
