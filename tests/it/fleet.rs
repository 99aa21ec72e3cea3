//! `sync --all` over the config file's `[[connection]]` list: connections to two fake
//! workspaces and one whose token Notion refuses, synced concurrently; the good ones land, each
//! lake equal to a sync of that connection alone, the bad one is reported by name, and the
//! exit code says that not every connection succeeded.

use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::SyncOptions;

use crate::demo_fake;
use crate::lake::{snapshot, sync_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_all_runs_every_connection_and_names_the_one_that_failed() {
    let (acme, _) = demo_fake(FakeConfig::unlimited()).await;
    let names = FakeNotion::start(crate::names::workspace(), FakeConfig::unlimited())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = |n: &str| dir.path().join(n).display().to_string();
    let config = dir.path().join("notionlake.toml");
    let text = format!(
        "rps = 1000\nburst = 100\n\n\
         [[connection]]\nname = \"acme\"\ntoken_env = \"NL_TEST_ACME\"\nlake = \"{}\"\napi_base = \"{}\"\n\n\
         [[connection]]\nname = \"names\"\ntoken_env = \"NL_TEST_NAMES\"\nlake = \"{}\"\napi_base = \"{}\"\n\n\
         [[connection]]\nname = \"revoked\"\ntoken_env = \"NL_TEST_REVOKED\"\nlake = \"{}\"\napi_base = \"{}\"\n",
        lake("acme"),
        acme.url(),
        lake("names"),
        names.url(),
        lake("revoked"),
        acme.url(),
    );
    std::fs::write(&config, text).unwrap();
    let config_path = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"))
            .args(["--log-format", "json", "sync", "--all", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .env("NL_TEST_ACME", DEMO_TOKEN)
            .env("NL_TEST_NAMES", DEMO_TOKEN)
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
        stderr.contains("1 of 3 connections failed: revoked"),
        "{stderr}"
    );
    assert!(!stderr.contains("ntn_revoked_0000") && !stdout.contains("ntn_revoked_0000"));
    for name in ["acme", "names", "revoked"] {
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
    assert!(line("acme").contains(" ok "), "{stdout}");
    assert!(line("names").contains(" ok "), "{stdout}");
    assert!(
        line("revoked").contains("failed") && line("revoked").contains("401"),
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
        assert!(["acme", "names"].contains(&connection), "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "ERROR" && l["span"]["connection"] == "revoked"),
        "{stderr}"
    );

    // Each lake equals a sync of its connection alone.
    for (name, fake) in [("acme", &acme), ("names", &names)] {
        let alone = tempfile::tempdir().unwrap();
        let reference = Lake::open(alone.path().to_str().unwrap()).unwrap();
        sync_with(fake, &reference, &SyncOptions::default()).await;
        let synced = Lake::open(&lake(name)).unwrap();
        assert_eq!(
            snapshot(&synced).await,
            snapshot(&reference).await,
            "{name}"
        );
    }
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
