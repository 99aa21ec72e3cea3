//! `notionlake sync`: one run or `--watch`, and `--list` the inventory.

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
    let report = sync_workspace(client, lake, options).await?;
    print_report(&mut std::io::stdout().lock(), &report, lake.url()).map_err(stdout_error)
}
