//! The `notionlake` binary: the demo, the fake server subcommand (the curl acceptance), and
//! clear errors with the right exit codes for missing tokens and broken config files.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use notionlake::fake::DEMO_TOKEN;
use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_notionlake"));
    c.env_remove("NOTION_TOKEN")
        .env_remove("NOTION_API_BASE")
        .env_remove("NOTION_VERSION");
    c
}

#[test]
fn demo_writes_the_demo_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("demo");
    let out = bin()
        .args(["demo", "--lake", lake.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Acme Robotics"), "{stdout}");
    let deals_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("deals "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(deals_line.contains("24 rows"), "{stdout}");
    assert!(lake.join("_notionlake/registry.json").exists());
    assert!(lake.join("tables/deals").is_dir());
}

#[test]
fn sync_inventory_lists_what_the_token_sees() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (fake, _) = rt.block_on(crate::demo_fake(notionlake::fake::FakeConfig::unlimited()));
    let out = bin()
        .args(["sync", "--inventory", "--api-base", &fake.url()])
        .env("NOTION_TOKEN", DEMO_TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("data sources: 7") && stdout.contains("workspace: Acme Robotics"),
        "{stdout}"
    );
    drop(fake);
}

#[tokio::test]
async fn fake_notion_subcommand_serves_the_api() {
    let mut child = bin()
        .args(["fake-notion", "--port", "0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // Keep reading stderr alive for the whole test: a closed pipe would end the server.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url on stderr")
        .to_string();
    let http = reqwest::Client::new();
    let r = http.get(format!("{url}/v1/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "unauthorized");
    let r = http
        .get(format!("{url}/v1/users"))
        .bearer_auth(DEMO_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "missing_version");
    let r = http
        .get(format!("{url}/v1/users"))
        .bearer_auth(DEMO_TOKEN)
        .header("Notion-Version", "2025-09-03")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["object"], "list");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sync_without_a_token_says_what_to_do() {
    let out = bin().args(["sync", "--lake", "/tmp/x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOTION_TOKEN") && err.contains("notionlake demo"),
        "{err}"
    );
}

#[test]
fn a_broken_config_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "rps = \"fast\"\n").unwrap();
    let out = bin()
        .args(["--config", path.to_str().unwrap(), "sync"])
        .env("NOTION_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("rps"), "{err}");
}

#[test]
fn sync_against_a_fake_reports_the_token_error_without_the_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (fake, _) = rt.block_on(crate::demo_fake(notionlake::fake::FakeConfig::unlimited()));
    let secret = "ntn_super_secret_value_987";
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "sync",
            "-vvv",
            "--api-base",
            &fake.url(),
            "--lake",
            dir.path().to_str().unwrap(),
        ])
        .env("NOTION_TOKEN", secret)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("unauthorized"), "{all}");
    assert!(!all.contains(secret), "the token leaked: {all}");
    drop(fake);
}

#[test]
fn help_has_examples() {
    for sub in [
        vec!["--help"],
        vec!["fake-notion", "--help"],
        vec!["sync", "--help"],
    ] {
        let out = bin().args(&sub).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Examples:"),
            "{sub:?}: {text}"
        );
    }
}

#[test]
fn json_logs_for_schedulers_and_no_progress_bar_off_a_terminal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (fake, _) = rt.block_on(crate::demo_fake(notionlake::fake::FakeConfig::unlimited()));
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "--log-format",
            "json",
            "-v",
            "sync",
            "--rps",
            "1000",
            "--burst",
            "100",
            "--api-base",
            &fake.url(),
            "--lake",
            dir.path().to_str().unwrap(),
        ])
        .env("NOTION_TOKEN", DEMO_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() >= 7,
        "one log line per table at least: {stderr}"
    );
    for line in lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    drop(fake);
}
