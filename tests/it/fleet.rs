//! `sync --all` over the config file's `[[connection]]` list: connections to two fake
//! workspaces and one whose token Notion refuses, synced concurrently; the good ones land, each
//! lake equal to a sync of that connection alone, the bad one is reported by name, and the
//! exit code says that not every connection succeeded.

use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::SyncOptions;

use crate::demo_fake;
use crate::lake::{snapshot, sync_with};

/// A second token of the demo workspace: another connection to the same workspace.
const SECOND_ACME_TOKEN: &str = "ntn_acme_second_0000";

/// A config entry.
fn entry(name: &str, env: &str, lake: &str, api: impl std::fmt::Display, extra: &str) -> String {
    format!(
        "[[connection]]\nname = \"{name}\"\ntoken_env = \"{env}\"\nlake = \"{lake}\"\napi_base = \"{api}\"\n{extra}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_all_runs_every_connection_and_names_the_one_that_failed() {
    // Three workspaces, two connections each; one connection's token is refused.
    let (acme, _) = demo_fake(FakeConfig {
        tokens: vec![DEMO_TOKEN.into(), SECOND_ACME_TOKEN.into()],
        ..FakeConfig::unlimited()
    })
    .await;
    let names = FakeNotion::start(crate::names::workspace(), FakeConfig::unlimited())
        .await
        .unwrap();
    let synth = FakeNotion::start(
        notionlake::fake::synthetic_workspace(notionlake::fake::SynthSpec {
            rows: 40,
            pages: 6,
            seed: 99,
            ..Default::default()
        }),
        FakeConfig::unlimited(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = |n: &str| dir.path().join(n).display().to_string();
    let config = dir.path().join("notionlake.toml");
    let lean = "[connection.sync]\ncomments = \"none\"\nfiles = \"none\"\n";
    let text = [
        "rps = 1000\nburst = 100\n".to_string(),
        entry("acme", "NL_TEST_ACME", &lake("acme"), acme.url(), ""),
        entry(
            "acme-second",
            "NL_TEST_ACME2",
            &lake("acme-second"),
            acme.url(),
            "",
        ),
        entry("names", "NL_TEST_NAMES", &lake("names"), names.url(), ""),
        entry(
            "revoked",
            "NL_TEST_REVOKED",
            &lake("revoked"),
            names.url(),
            "",
        ),
        entry("synth", "NL_TEST_SYNTH", &lake("synth"), synth.url(), ""),
        entry(
            "synth-lean",
            "NL_TEST_SYNTH",
            &lake("synth-lean"),
            synth.url(),
            lean,
        ),
    ]
    .concat();
    std::fs::write(&config, text).unwrap();
    let config_path = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"))
            .args([
                "--log-format",
                "json",
                "sync",
                "--all",
                "--parallel",
                "6",
                "--config",
            ])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .env("NL_TEST_ACME", DEMO_TOKEN)
            .env("NL_TEST_ACME2", SECOND_ACME_TOKEN)
            .env("NL_TEST_NAMES", DEMO_TOKEN)
            .env("NL_TEST_SYNTH", DEMO_TOKEN)
            .env("NL_TEST_REVOKED", "ntn_revoked_0000")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("1 of 6 connections failed: revoked"),
        "{stderr}"
    );
    assert!(!stderr.contains("ntn_revoked_0000") && !stdout.contains("ntn_revoked_0000"));
    let good = ["acme", "acme-second", "names", "synth", "synth-lean"];
    for name in good.iter().chain(&["revoked"]) {
        assert!(
            stdout.contains(&format!("== connection {name} (")),
            "{stdout}"
        );
    }
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no summary line for {name}: {stdout}"))
            .to_string()
    };
    for name in good {
        assert!(line(name).contains(" ok "), "{stdout}");
    }
    assert!(
        line("revoked").contains("failed") && line("revoked").contains("401"),
        "{stdout}"
    );
    // The two connections of each workspace are seen as one workspace's.
    let workspaces: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "workspaces:")
        .skip(1)
        .collect();
    assert_eq!(workspaces.len(), 3, "{stdout}");
    assert!(
        workspaces
            .iter()
            .any(|l| l.contains("  acme, acme-second: ")),
        "{stdout}"
    );
    assert!(
        workspaces
            .iter()
            .any(|l| l.contains("  synth, synth-lean: ")),
        "{stdout}"
    );

    // Every log line of a connection's run says which connection it is about, also from the
    // tasks a run spawns (the write side logs each table it writes).
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let written: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "table written")
        .collect();
    assert!(!written.is_empty(), "{stderr}");
    for l in &written {
        let connection = l["span"]["connection"].as_str().unwrap_or_default();
        assert!(good.contains(&connection), "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "ERROR" && l["span"]["connection"] == "revoked"),
        "{stderr}"
    );

    // Each lake equals a sync of its connection alone, with its own options.
    let lean_options = SyncOptions {
        comments: notionlake::sync::CommentsMode::None,
        files: notionlake::files::FilesOptions {
            mode: notionlake::files::FilesMode::None,
            ..Default::default()
        },
        ..SyncOptions::default()
    };
    let defaults = SyncOptions::default();
    for (name, fake, options) in [
        ("acme", &acme, &defaults),
        ("acme-second", &acme, &defaults),
        ("names", &names, &defaults),
        ("synth", &synth, &defaults),
        ("synth-lean", &synth, &lean_options),
    ] {
        let alone = tempfile::tempdir().unwrap();
        let reference = Lake::open(alone.path().to_str().unwrap()).unwrap();
        sync_with(fake, &reference, options).await;
        let synced = Lake::open(&lake(name)).unwrap();
        assert_eq!(
            snapshot(&synced).await,
            snapshot(&reference).await,
            "{name}"
        );
    }
    let tables = |name: &str| {
        std::fs::read_dir(dir.path().join(name))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert!(tables("synth").contains("comments"));
    assert!(
        !tables("synth-lean").contains("comments"),
        "the connection's own options held"
    );
    assert!(
        !std::path::Path::new(&lake("revoked"))
            .join("_notionlake/registry.json")
            .exists(),
        "the refused connection wrote no table"
    );
}

/// A connection whose lake another process is syncing (its lock is held, as by another machine
/// of the fleet) is skipped at once as running elsewhere, without failing the run; the others
/// are synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lake_locked_elsewhere_is_skipped_not_failed() {
    let (acme, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = |n: &str| dir.path().join(n).display().to_string();
    let busy = Lake::open(&lake("busy")).unwrap();
    let held = notionlake::state::lock::LakeLock::acquire(
        &busy,
        "run-on-another-pod",
        std::time::Duration::from_secs(600),
    )
    .await
    .unwrap();
    let config = dir.path().join("notionlake.toml");
    let entry = |name: &str| {
        format!(
            "[[connection]]\nname = \"{name}\"\ntoken_env = \"NL_TEST_TOKEN\"\nlake = \"{}\"\napi_base = \"{}\"\n",
            lake(name),
            acme.url()
        )
    };
    std::fs::write(
        &config,
        format!(
            "rps = 1000\nburst = 100\n{}{}",
            entry("free"),
            entry("busy")
        ),
    )
    .unwrap();
    let status = dir.path().join("status.json");
    let status_path = status.clone();
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"))
            .args(["sync", "--all", "--config"])
            .arg(&config)
            .arg("--status-file")
            .arg(&status)
            .env("NL_TEST_TOKEN", DEMO_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let busy_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("busy "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        busy_line.contains("skipped running elsewhere (run run-on-another-pod"),
        "{busy_line}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "skipped at once, not after the lock's validity"
    );
    assert!(Lake::open(&lake("free")).is_ok());
    assert!(
        dir.path().join("free/_notionlake/registry.json").exists(),
        "the free connection was synced"
    );
    assert!(
        !dir.path().join("busy/_notionlake/registry.json").exists(),
        "the busy lake was not touched"
    );
    // The status file: one entry per connection, as schedulers read it.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&status_path).unwrap()).unwrap();
    let free = &doc["connections"]["free"];
    assert_eq!(free["outcome"], "ok", "{doc}");
    assert!(free["rows"].as_u64().unwrap() > 0 && free["requests"].as_u64().unwrap() > 0);
    assert!(free["lag_secs"].as_i64().unwrap() <= 5, "{doc}");
    assert!(free["last_success"].is_string());
    let busy = &doc["connections"]["busy"];
    assert_eq!(busy["outcome"], "running_elsewhere", "{doc}");
    assert!(busy["last_success"].is_null());
    held.release().await.unwrap();
}

/// Notion's second limit: a workspace whose two connections together send more than the
/// workspace allows gets 429s naming the workspace's limit, and those lower the budget of that
/// workspace's connections only; a connection of another workspace is not slowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workspace_429_lowers_only_that_workspaces_connections() {
    let (shared, _) = demo_fake(FakeConfig {
        tokens: vec![DEMO_TOKEN.into(), SECOND_ACME_TOKEN.into()],
        rps: Some(60.0),
        burst: 4,
        workspace_rps: Some(30.0),
        workspace_burst: 4,
        ..FakeConfig::unlimited()
    })
    .await;
    let other = FakeNotion::start(
        crate::names::workspace(),
        FakeConfig {
            rps: Some(60.0),
            burst: 4,
            ..FakeConfig::unlimited()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = |n: &str| dir.path().join(n).display().to_string();
    let text = [
        "rps = 60\nburst = 4\n".to_string(),
        entry("a", "NL_A", &lake("a"), shared.url(), ""),
        entry("b", "NL_B", &lake("b"), shared.url(), ""),
        entry("c", "NL_C", &lake("c"), other.url(), ""),
    ]
    .concat();
    let file: notionlake::config::FileConfig = toml::from_str(&text).unwrap();
    let env = |v: &str| match v {
        "NL_A" | "NL_C" => Some(DEMO_TOKEN.to_string()),
        "NL_B" => Some(SECOND_ACME_TOKEN.to_string()),
        _ => None,
    };
    let list = notionlake::fleet::connections(&file, &Default::default(), &[], env).unwrap();
    let runs = list
        .into_iter()
        .map(|c| (c, SyncOptions::default()))
        .collect();
    let budgets = notionlake::fleet::Budgets::default();
    let outcomes = notionlake::fleet::sync_connections(runs, 3, &budgets, &|_| {}).await;
    let reasons = |name: &str| {
        let o = outcomes.iter().find(|o| o.name == name).unwrap();
        match &o.ended {
            notionlake::fleet::Ended::Synced(r) => r.requests.rate_limit_reasons.clone(),
            other => panic!("{name}: {other:?}"),
        }
    };
    let workspace = |name: &str| {
        outcomes
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.workspace.clone())
            .unwrap()
    };
    let space = notionlake::notion::workspace_budget::WORKSPACE_LIMIT_REASON;
    let hit: u64 = ["a", "b"]
        .iter()
        .map(|n| reasons(n).get(space).copied().unwrap_or(0))
        .sum();
    assert!(hit > 0, "the shared workspace's limit was met");
    assert_eq!(workspace("a").workspace_id, workspace("b").workspace_id);
    let learned = budgets
        .views()
        .into_iter()
        .find(|v| v.workspace_id == workspace("a").workspace_id)
        .unwrap();
    assert!(learned.decreases >= 1, "{learned:?}");
    assert!(
        learned.rate.is_some_and(|r| r < 60.0),
        "the shared budget came down: {learned:?}"
    );
    // The other workspace's connection: no workspace 429, its budget never lowered.
    assert_ne!(workspace("c").workspace_id, workspace("a").workspace_id);
    assert_eq!(reasons("c").get(space), None);
    assert_eq!(workspace("c").rate, None);
    assert_eq!(workspace("c").decreases, 0);
    assert_eq!(shared.stats().workspace_rate_limited, hit);
    assert_eq!(other.stats().workspace_rate_limited, 0);
}

/// The fleet without a coordinator: two processes run the same `sync --all` at once over lakes
/// on S3; each connection is synced by exactly one of them, the other skipping it (its lock
/// held: running elsewhere; or its lake just synced this round), and no run fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_machines_share_the_connections_through_the_lake_locks() {
    let moto = crate::lake::Moto::start("fleet").await;
    let (acme, _) = demo_fake(FakeConfig {
        latency: std::time::Duration::from_millis(5),
        ..FakeConfig::unlimited()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let names = ["one", "two", "three", "four"];
    let text: String = std::iter::once("rps = 1000\nburst = 100\n".to_string())
        .chain(
            names
                .iter()
                .map(|n| entry(n, "NL_TOKEN", &format!("s3://fleet/{n}"), acme.url(), "")),
        )
        .collect();
    let config = dir.path().join("notionlake.toml");
    std::fs::write(&config, text).unwrap();
    let round = |skip: &'static str| {
        let machines: Vec<std::process::Child> = (0..2)
            .map(|_| {
                let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"));
                cmd.args(["sync", "--all", "--parallel", "2", "--files", "none"])
                    .args(["--skip-synced-within", skip, "--config"])
                    .arg(&config)
                    .env("NL_TOKEN", DEMO_TOKEN)
                    .env("AWS_ENDPOINT", &moto.endpoint)
                    .env("AWS_ALLOW_HTTP", "true")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    .env("AWS_REGION", "us-east-1")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        machines
            .into_iter()
            .map(|m| m.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    };
    for (n, skip) in [(1, "10m")] {
        let outputs = tokio::task::block_in_place(|| round(skip));
        let mut synced = std::collections::BTreeMap::<&str, usize>::new();
        let mut skipped = std::collections::BTreeMap::<&str, usize>::new();
        for out in &outputs {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "round {n}: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            for name in names {
                let line = stdout
                    .lines()
                    .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                    .unwrap_or_else(|| panic!("round {n}: no line for {name}: {stdout}"));
                if line.contains(" ok ") {
                    *synced.entry(name).or_default() += 1;
                } else {
                    assert!(
                        line.contains("skipped running elsewhere")
                            || line.contains("skipped synced recently"),
                        "round {n}: {line}"
                    );
                    *skipped.entry(name).or_default() += 1;
                }
            }
        }
        for name in names {
            assert_eq!(synced.get(name), Some(&1), "round {n}: {name} synced once");
            assert_eq!(
                skipped.get(name),
                Some(&1),
                "round {n}: {name} skipped once"
            );
        }
    }
    // Each lake is whole: the demo's tables.
    let owned = moto.options();
    let opts: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for name in names {
        let lake = Lake::open_existing(&format!("s3://fleet/{name}"), &opts).unwrap();
        let snap = snapshot(&lake).await;
        assert!(snap.len() > 10, "{name}: {} tables", snap.len());
    }
}
