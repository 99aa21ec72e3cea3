//! Resumable syncs: a run killed (SIGKILL) at ten points spread over it, each time resumed by
//! the next run, ends with exactly the lake an uninterrupted run gives; so does a full refresh
//! (which must not tombstone what it has not reached), an incremental run with dependent rows
//! to read again, and a run stopped with SIGTERM, which checkpoints within its grace and exits
//! with the documented code. The fake and the syncs run in processes of their own, over a
//! synthetic workspace with content, comments and relations.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::sink::Lake;
use serde_json::{Value, json};

use crate::lake::snapshot;

const BIN: &str = env!("CARGO_BIN_EXE_notionlake");

/// A fake Notion in a process of its own (it outlives the killed syncs).
pub(crate) struct Fake {
    child: Child,
    /// Its base URL.
    pub(crate) url: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Fake {
    /// The synthetic workspace these tests sync: content, comments, related tables.
    fn start() -> Fake {
        Fake::start_with(&[
            "--latency-ms",
            "2",
            "--synthetic-rows",
            "60",
            "--synthetic-sources",
            "3",
            "--synthetic-pages",
            "80",
            "--synthetic-comments",
            "20",
        ])
    }

    /// `notionlake fake-notion` on a free port, without a rate limit, with `extra` flags.
    pub(crate) fn start_with(extra: &[&str]) -> Fake {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(BIN)
            .args(["fake-notion", "--port", "0", "--no-rate-limit"])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        stderr.read_line(&mut line).unwrap();
        // Whatever the fake logs later is drained: a closed pipe would end it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .trim_end_matches([',', ')'])
            .to_string();
        Fake { child, url }
    }

    fn requests(&self) -> u64 {
        let body: Value =
            serde_json::from_str(&http(&self.url, "GET", "/__fake/stats", "")).unwrap();
        body["total"].as_u64().unwrap()
    }

    fn edit(&self, edit: Value) {
        let answer = http(&self.url, "POST", "/__fake/edits", &edit.to_string());
        assert!(!answer.contains("\"error\""), "{answer}");
    }

    /// A sync of `lake` (with `extra` flags), checkpointing often.
    pub(crate) fn sync(&self, lake: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args([
            "sync",
            "--rps",
            "1000",
            "--burst",
            "100",
            "--api-base",
            &self.url,
        ])
        .arg("--lake")
        .arg(lake)
        .args(extra);
        if !extra.contains(&"--checkpoint-every") {
            c.args(["--checkpoint-every", "500ms"]);
        }
        c.env("NOTION_TOKEN", notionlake::fake::DEMO_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Runs a sync of `lake` to its end; panics with its errors unless it succeeds.
    pub(crate) fn finish(&self, lake: &Path, extra: &[&str]) {
        let out = self
            .sync(lake, extra)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a sync to its end; returns the requests it made.
    fn sync_through(&self, lake: &Path, extra: &[&str]) -> u64 {
        let before = self.requests();
        self.finish(lake, extra);
        self.requests() - before
    }

    /// Syncs `lake`, killing the sync (SIGKILL) each time the requests made since the start
    /// reach the next of ten points spread over `total`; each next sync resumes. Returns the
    /// kills that landed before a run ended.
    fn sync_killed_ten_times(&self, lake: &Path, extra: &[&str], total: u64) -> usize {
        let start = self.requests();
        let mut landed = 0;
        for k in 1..=10u64 {
            let target = total * k / 11;
            let mut child = self.sync(lake, extra).spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if self.requests() - start >= target {
                    landed += 1;
                    break;
                }
                assert!(Instant::now() < deadline, "the sync made no progress");
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = child.kill();
            child.wait().unwrap();
            eprintln!(
                "kill {k}: {} requests of {total} since the start",
                self.requests() - start
            );
        }
        landed
    }
}

/// One HTTP/1.0 request to the fake at `base`; the answer's body.
fn http(base: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

async fn lake_at(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    snapshot(&Lake::open(dir.to_str().unwrap()).unwrap()).await
}

async fn assert_same_lake(got: &Path, want: &Path, what: &str) {
    let (got, want) = (lake_at(got).await, lake_at(want).await);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: tables"
    );
    for (table, rows) in &want {
        if got[table].len() != rows.len() {
            let missing: Vec<&Value> = rows.iter().filter(|r| !got[table].contains(r)).collect();
            let extra: Vec<&Value> = got[table].iter().filter(|r| !rows.contains(r)).collect();
            panic!(
                "{what}: {} rows of {table}, want {}; {} missing (first: {:?}), {} extra (first: {:?})",
                got[table].len(),
                rows.len(),
                missing.len(),
                missing.first(),
                extra.len(),
                extra.first()
            );
        }
        if let Some((g, w)) = got[table].iter().zip(rows).find(|(g, w)| g != w) {
            panic!("{what}: table {table} differs: got {g}, want {w}");
        }
    }
}

fn state(lake: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(lake.join("_notionlake/state.json")).unwrap()).unwrap()
}

/// Two lakes synced alike from `fake`, and a SQL context over the first.
async fn two_synced_lakes(
    fake: &Fake,
) -> (
    tempfile::TempDir,
    tempfile::TempDir,
    datafusion::prelude::SessionContext,
) {
    let (clean, killed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fake.sync_through(clean.path(), &[]);
    fake.sync_through(killed.path(), &[]);
    let lake = Lake::open(clean.path().to_str().unwrap()).unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, &lake).await.unwrap();
    (clean, killed, ctx)
}

/// SIGKILL at ten points of a first sync (the tables, the crawl, the commits), each time
/// resumed: the lake equals an uninterrupted sync's, and the resumed runs said so.
#[tokio::test]
async fn a_first_sync_killed_ten_times_resumes_to_the_same_lake() {
    let fake = Fake::start();
    let (clean, killed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let total = fake.sync_through(clean.path(), &[]);
    let landed = fake.sync_killed_ten_times(killed.path(), &[], total);
    assert!(landed >= 8, "{landed} kills landed mid-run");
    fake.finish(killed.path(), &[]);
    assert!(state(killed.path()).get("resume").is_none(), "finished");
    assert_same_lake(killed.path(), clean.path(), "first sync").await;
    // Every killed run left its checkpoints: some run resumed from one.
    let runs: Vec<Value> = std::fs::read_dir(killed.path().join("_notionlake/runs"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert!(runs.iter().any(|r| r["status"] == "checkpoint"));
    assert!(
        runs.iter().any(|r| r["resumed"].is_object()),
        "a run resumed"
    );
    assert_eq!(
        runs.iter().filter(|r| r["status"] == "complete").count(),
        1,
        "one run, in segments"
    );
}

/// A full refresh killed ten times after a page was deleted, and a page and a row trashed: it
/// never tombstones what it has not reached, and ends as an uninterrupted one does.
#[tokio::test]
async fn a_full_refresh_killed_ten_times_resumes_to_the_same_lake() {
    let fake = Fake::start();
    let (clean, killed, ctx) = two_synced_lakes(&fake).await;
    let pages = crate::lake::rows(
        &ctx,
        "SELECT id FROM pages WHERE title LIKE 'Page 1%' ORDER BY id LIMIT 2",
    )
    .await;
    let row = crate::lake::rows(&ctx, "SELECT _id FROM table_1 ORDER BY _id LIMIT 1").await;
    fake.edit(json!({"edit": "delete", "page": pages[0]["id"]}));
    fake.edit(json!({"edit": "trash", "page": pages[1]["id"]}));
    fake.edit(json!({"edit": "trash", "page": row[0]["_id"]}));
    let total = fake.sync_through(clean.path(), &["--full-refresh"]);
    let landed = fake.sync_killed_ten_times(killed.path(), &["--full-refresh"], total);
    assert!(landed >= 8, "{landed} kills landed mid-run");
    // The next plain sync finishes the interrupted full refresh.
    fake.finish(killed.path(), &[]);
    assert_same_lake(killed.path(), clean.path(), "full refresh").await;
}

/// An incremental run after a bulk edit (rows of the first table, whose rollups the second
/// table reads: their dependents are read again) killed ten times; then edits made while it
/// was stopped reach the lake by the resumed run or the next one.
#[tokio::test]
async fn an_incremental_run_with_dependents_killed_ten_times_resumes_to_the_same_lake() {
    let fake = Fake::start();
    let (clean, killed, ctx) = two_synced_lakes(&fake).await;
    let rows = crate::lake::rows(&ctx, "SELECT _id FROM table_0 ORDER BY _id LIMIT 60").await;
    for (n, r) in rows.iter().enumerate() {
        fake.edit(json!({"edit": "set_property", "page": r["_id"], "property": "s02", "value": 5000.0 + n as f64}));
    }
    let total = fake.sync_through(clean.path(), &[]);
    let landed = fake.sync_killed_ten_times(killed.path(), &[], total);
    assert!(landed >= 5, "{landed} kills landed mid-run");
    let page = crate::lake::rows(&ctx, "SELECT id FROM pages WHERE title = 'Page 7'").await;
    fake.edit(
        json!({"edit": "set_property", "page": rows[0]["_id"], "property": "s02", "value": 1.0}),
    );
    fake.edit(
        json!({"edit": "add_comment", "page": page[0]["id"], "text": "While it was stopped."}),
    );
    // The interrupted run resumes and ends; a table it had read in full before the edits is
    // not listed again by it, so the edits land by the next run at the latest (the cursor
    // stays at the interrupted run's start). Both lakes get two runs.
    for dir in [clean.path(), killed.path()] {
        fake.finish(dir, &[]);
    }
    assert!(
        state(killed.path()).get("resume").is_none(),
        "resumed and ended"
    );
    for dir in [clean.path(), killed.path()] {
        fake.finish(dir, &[]);
    }
    assert_same_lake(killed.path(), clean.path(), "incremental").await;
}

/// SIGTERM: the run stops issuing requests, checkpoints within its grace, releases the lock
/// and exits 75; the next run resumes it to the same lake.
#[tokio::test]
async fn sigterm_checkpoints_within_the_grace_and_exits_75() {
    let fake = Fake::start();
    let (clean, stopped) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let total = fake.sync_through(clean.path(), &[]);
    let start = fake.requests();
    let mut child = fake
        .sync(
            stopped.path(),
            &["--checkpoint-every", "1h", "--stop-grace", "10s"],
        )
        .spawn()
        .unwrap();
    while fake.requests() - start < total / 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let signalled = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    assert_eq!(
        status.code(),
        Some(notionlake::sync::EXIT_STOPPED),
        "{status:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "exited within the grace: {took:?}"
    );
    let after = fake.requests();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.requests(), after, "no request after the exit");
    let resume = state(stopped.path())["resume"].clone();
    assert!(resume.is_object(), "a checkpoint was committed");
    assert!(
        !stopped.path().join("_notionlake/lock.json").exists(),
        "the lock was released"
    );
    fake.finish(stopped.path(), &[]);
    assert_same_lake(stopped.path(), clean.path(), "stopped").await;
}

/// A row trashed in Notion, found by a segment that writes nothing to the row's table (a
/// checkpoint at every safe point): its table is committed for the deletion all the same.
#[tokio::test]
async fn a_deletion_found_by_a_segment_that_writes_nothing_to_its_table_lands() {
    let fake = Fake::start();
    let (clean, segmented, ctx) = two_synced_lakes(&fake).await;
    let row = crate::lake::rows(&ctx, "SELECT _id FROM table_1 ORDER BY _id LIMIT 1").await;
    fake.edit(json!({"edit": "trash", "page": row[0]["_id"]}));
    fake.finish(clean.path(), &["--checkpoint-every", "1h"]);
    fake.finish(segmented.path(), &["--checkpoint-every", "1ms"]);
    let runs: Vec<Value> = std::fs::read_dir(segmented.path().join("_notionlake/runs"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert!(
        runs.iter().filter(|r| r["status"] == "checkpoint").count() >= 2,
        "the run was committed in segments"
    );
    let lake = Lake::open(segmented.path().to_str().unwrap()).unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, &lake).await.unwrap();
    let left = crate::lake::rows(
        &ctx,
        &format!(
            "SELECT _id FROM table_1 WHERE _id = '{}'",
            row[0]["_id"].as_str().unwrap()
        ),
    )
    .await;
    assert!(left.is_empty(), "the trashed row left its table");
    assert_same_lake(segmented.path(), clean.path(), "segmented").await;
}
