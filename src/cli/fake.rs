//! `notionlake fake-notion`: the fake Notion served on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::config::ConfigError;
use crate::fake::{
    FakeConfig, FakeNotion, FaultConfig, SynthSpec, demo_workspace, synthetic_workspace,
};

pub(super) async fn run_fake(args: FakeNotionArgs) -> Result<(), CliError> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(ConfigError::Invalid {
            name: "fault-rate",
            message: format!("{} is not a probability between 0 and 1", args.fault_rate),
        }
        .into());
    }
    let ws = match args.synthetic_rows {
        Some(rows) => synthetic_workspace(SynthSpec {
            rows,
            data_sources: args.synthetic_sources,
            pages: args.synthetic_pages,
            comments: args.synthetic_comments,
            hosted_files: args.synthetic_files.clone(),
            ..SynthSpec::default()
        }),
        None => demo_workspace().0,
    };
    let config = FakeConfig {
        tokens: std::iter::once(args.token.clone())
            .chain(args.extra_tokens.iter().cloned())
            .collect(),
        rps: (!args.no_rate_limit).then_some(args.rps),
        burst: args.burst,
        workspace_rps: args.workspace_rps,
        workspace_burst: args.workspace_burst,
        latency: Duration::from_millis(args.latency_ms),
        faults: FaultConfig {
            rate: args.fault_rate,
            seed: args.fault_seed,
            ..FaultConfig::default()
        },
        query_cap: args.query_cap,
        file_lifetime: Duration::from_secs(args.file_lifetime_secs.max(1)),
        ..FakeConfig::default()
    };
    let fake = FakeNotion::bind(ws, config, SocketAddr::new(args.host, args.port))
        .await
        .map_err(|source| CliError::Io {
            context: format!("binding {}:{}", args.host, args.port),
            source,
        })?;
    eprintln!(
        "fake Notion listening on {} (token: {})",
        fake.url(),
        args.token
    );
    eprintln!("stats: curl -s {}/__fake/stats   stop: ctrl-c", fake.url());
    if let Some(url) = &args.webhook_url {
        let token = format!("secret_{}", uuid::Uuid::new_v4().simple());
        let sub = crate::fake::webhooks::Subscription::to(url, &token);
        match fake.subscribe(sub).await {
            Ok(()) => eprintln!(
                "delivering webhook events to {url}; edit with: curl -s -X POST {}/__fake/edits -d '{{\"edit\":\"add_comment\",\"page\":\"<id>\",\"text\":\"hi\"}}' -H 'content-type: application/json'",
                fake.url()
            ),
            Err(e) => eprintln!("warning: no webhook deliveries: {e}"),
        }
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = fake.wait() => {}
    }
    Ok(())
}
