//! `notionlake webhooks serve`: the webhook receiver, until ctrl-c; with `--sync`, the
//! event-driven sync of the same lake in the same process (the receiver's tasks answer Notion
//! whatever a run is doing).

use super::*;
use crate::webhooks::receiver::{Receiver, ReceiverConfig};

/// The interval of `webhooks serve --sync` without `--watch`: the safety net behind the events.
const SERVE_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

pub(super) async fn run_webhooks(
    action: &WebhooksAction,
    file: &FileConfig,
) -> Result<(), CliError> {
    match action {
        WebhooksAction::Serve {
            lake,
            listen,
            token_file,
            arm,
            arm_for,
            sync,
            conn,
            select,
            events,
        } => {
            let location = lake_location(lake.as_deref(), file)?;
            let lake = crate::sink::Lake::open(&location).map_err(SyncError::from)?;
            // The sync's settings are checked before anything listens.
            let client = match sync {
                true => Some(Settings::resolve(&conn.into(), file)?.client()?),
                false => None,
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|source| CliError::Io {
                    context: format!("listening on {listen}"),
                    source,
                })?;
            let config = ReceiverConfig {
                print_token: true,
                arm: arm.then_some(*arm_for),
                ..ReceiverConfig::new(
                    token_file
                        .clone()
                        .unwrap_or_else(crate::webhooks::token::default_token_path),
                )
            };
            let receiver = Receiver::start(lake.clone(), listener, config).await?;
            eprintln!(
                "receiving Notion webhooks on http://{} into {location} (stop: ctrl-c)",
                receiver.addr()
            );
            if *arm {
                eprintln!(
                    "armed for {}: the subscription's verification request is accepted once",
                    humantime::format_duration(*arm_for)
                );
            }
            let result = match client {
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                    Ok(())
                }
                Some(client) => {
                    let stop = super::sync::stop_on_signals(select.stop_grace);
                    let options = crate::sync::SyncOptions {
                        stop: Some(stop.clone()),
                        ..select.options()
                    };
                    let every = select.watch.unwrap_or(SERVE_SYNC_INTERVAL);
                    let trigger =
                        crate::sync::trigger::EventTrigger::new(lake.clone(), events.options());
                    super::sync::run_sync_or_watch(
                        &client,
                        &lake,
                        &options,
                        Some(every),
                        &stop,
                        Some(trigger),
                    )
                    .await
                }
            };
            receiver.shutdown().await;
            result
        }
    }
}
