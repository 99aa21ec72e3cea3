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

#[test]
fn version_names_the_commit_and_the_notion_versions() {
    let out = bin().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with(&format!("notionlake {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    for v in notionlake::notion::NotionVersion::ALL {
        assert!(text.contains(v.as_str()), "{text}");
    }
    // Built from this checkout: the commit is HEAD's.
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert!(text.contains(&format!("commit: {head}")), "{text}"),
        None => assert!(text.contains("commit: "), "{text}"),
    }
}

#[test]
fn the_run_record_names_the_version_that_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("demo");
    let out = bin()
        .args(["demo", "--lake", lake.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let runs: Vec<_> = std::fs::read_dir(lake.join("_notionlake/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!runs.is_empty());
    for run in runs {
        let record: Value = serde_json::from_slice(&std::fs::read(&run).unwrap()).unwrap();
        assert_eq!(
            record["notionlake_version"],
            env!("CARGO_PKG_VERSION"),
            "{run:?}"
        );
        assert!(record["notionlake_commit"].as_str().is_some(), "{run:?}");
    }
}

/// Bash completion from the generated script: `notionlake sync --com<TAB>` offers both
/// comments flags.
#[test]
fn bash_completes_sync_flags() {
    let script = bin().args(["completions", "bash"]).output().unwrap();
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notionlake.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let probe = format!(
        "source {}\n\
         COMP_WORDS=(notionlake sync --com); COMP_CWORD=2\n\
         COMP_LINE='notionlake sync --com'; COMP_POINT=${{#COMP_LINE}}\n\
         _notionlake notionlake --com sync\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{offered}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offered: Vec<&str> = offered.lines().collect();
    assert!(offered.contains(&"--comments"), "{offered:?}");
    assert!(offered.contains(&"--comments-refresh"), "{offered:?}");
    assert!(
        offered.iter().all(|o| o.starts_with("--com")),
        "only what matches: {offered:?}"
    );
    for shell in ["zsh", "fish", "powershell"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && out.stdout.len() > 1000, "{shell}");
    }
}

/// The man page lists every subcommand, by the clap definitions; `--out` writes a page per
/// command.
#[test]
fn the_man_page_lists_every_subcommand() {
    use clap::CommandFactory;
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    // roff escapes hyphens.
    let page = String::from_utf8_lossy(&out.stdout).replace("\\-", "-");
    assert!(
        page.starts_with(".ie") || page.contains(".TH notionlake"),
        "{page}"
    );
    let command = notionlake::cli::Cli::command();
    let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        assert!(page.contains(name), "{name} missing from the man page");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.path().join("notionlake.1").exists());
    assert!(dir.path().join("notionlake-sync.1").exists());
}

/// `notionlake config check --config <path>`, with extra environment variables.
fn config_check(path: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = bin();
    cmd.args(["config", "check", "--config"]).arg(path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `config check`: a typo'd key fails, naming the file, the key and its line, with the key
/// meant; a good file prints the effective settings with their sources, the token hidden.
#[test]
fn config_check_places_a_typo_and_shows_the_effective_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notionlake.toml");
    std::fs::write(
        &path,
        "lake = \"./lake\"\nburst = 4\nnotion_verison = \"2022-06-28\"\n",
    )
    .unwrap();
    let out = config_check(&path, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("`notion_verison`"), "{stderr}");
    assert!(
        stderr.contains("did you mean `notion_version`?"),
        "{stderr}"
    );

    std::fs::write(
        &path,
        "lake = \"./lake\"\nburst = 4\nnotion_version = \"2022-06-28\"\n",
    )
    .unwrap();
    let out = config_check(&path, &[("NOTION_TOKEN", "ntn_secret_value_0000")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = |key: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("{key}: {stdout}"))
            .to_string()
    };
    assert!(row("burst").contains("file, line 2"), "{stdout}");
    assert!(row("notion_version").contains("2022-06-28"), "{stdout}");
    assert!(row("rps").ends_with("default"), "{stdout}");
    assert!(row("token").contains("env NOTION_TOKEN"), "{stdout}");
    assert!(!stdout.contains("ntn_secret_value_0000"), "{stdout}");

    // A bad value of a connection's own sync options is placed too.
    std::fs::write(
        &path,
        "[[connection]]\nname = \"acme\"\ntoken_env = \"HOME\"\nlake = \"./a\"\n[connection.sync]\ncomments = \"most\"\n",
    )
    .unwrap();
    let out = config_check(&path, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line 6") && stderr.contains("connection.acme.sync.comments"),
        "{stderr}"
    );
}
