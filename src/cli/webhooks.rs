//! `notionlake webhooks serve`: the webhook receiver, until ctrl-c.

use super::*;
use crate::webhooks::receiver::{Receiver, ReceiverConfig};

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
        } => {
            let location = lake_location(lake.as_deref(), file)?;
            let lake = crate::sink::Lake::open(&location).map_err(SyncError::from)?;
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
            let receiver = Receiver::start(lake, listener, config).await?;
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
            let _ = tokio::signal::ctrl_c().await;
            receiver.shutdown().await;
            Ok(())
        }
    }
}
