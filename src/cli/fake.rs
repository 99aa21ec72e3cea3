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
            ..SynthSpec::default()
        }),
        None => demo_workspace().0,
    };
    let config = FakeConfig {
        tokens: vec![args.token.clone()],
        rps: (!args.no_rate_limit).then_some(args.rps),
        burst: args.burst,
        latency: Duration::from_millis(args.latency_ms),
        faults: FaultConfig {
            rate: args.fault_rate,
            seed: args.fault_seed,
            ..FaultConfig::default()
        },
        query_cap: args.query_cap,
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
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = fake.wait() => {}
    }
    Ok(())
}
