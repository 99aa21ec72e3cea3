//! Near-real-time: `webhooks serve --sync` receives Notion's events and syncs soon after they
//! land, with a one-hour polling interval that cannot be what found them. The fake delivers
//! 5 s after each edit, as Notion does within seconds to a minute.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::fake::edits::Edit;
use notionlake::fake::webhooks::Subscription;
use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::{CommentsRefresh, SyncOptions};
use serde_json::{Value, json};

use crate::demo_fake;
use crate::lake::{content_rows, sync_with};

const TOKEN: &str = "secret_fake_verification_token_rt";

/// `webhooks serve --sync --watch 1h` on a free port, killed on drop.
struct Serving {
    child: Child,
    url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(fake: &FakeNotion, lake: &str, dir: &std::path::Path) -> Serving {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_notionlake"))
        .args(["webhooks", "serve", "--sync", "--watch", "1h", "--arm"])
        .args(["--lake", lake, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--api-base", &fake.url().to_string(), "--files", "none"])
        .args(["--comments-refresh", "none"])
        .arg("--token-file")
        .arg(dir.join("webhook-token"))
        .env("NOTION_TOKEN", DEMO_TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Serving {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    }
}

/// Waits (up to `within`) until `done` holds; the time it took.
async fn until<F: std::future::Future<Output = bool>>(
    within: Duration,
    mut done: impl FnMut() -> F,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if done().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// Committed runs of the lake.
fn runs(lake: &std::path::Path) -> usize {
    std::fs::read_dir(lake.join("_notionlake/runs")).map_or(0, |d| d.count())
}

fn deliver_in(url: &str, delay: Duration) -> Subscription {
    Subscription {
        delay,
        ..Subscription::to(url, TOKEN)
    }
}

async fn subscribe(fake: &FakeNotion, url: &str, delay: Duration) {
    // The receiver may take a moment to listen.
    for _ in 0..100 {
        if fake.subscribe(deliver_in(url, delay)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not subscribe to {url}");
}

async fn stage(lake: &Lake, deal: &str) -> Option<String> {
    content_rows(lake, &format!("SELECT * FROM deals WHERE _id = '{deal}'"))
        .await
        .first()
        .and_then(|r| r["stage"].as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_a_comment_and_a_trash_land_within_30_s_and_a_burst_is_few_runs() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    let lake_path = lake_dir.to_str().unwrap().to_string();
    let serving = serve(&fake, &lake_path, dir.path());
    subscribe(&fake, &serving.url, Duration::from_secs(5)).await;
    // The first run, at start.
    until(Duration::from_secs(120), || async {
        lake_dir.join("_notionlake/state.json").exists()
    })
    .await
    .expect("the first run");
    let lake = Lake::open(&lake_path).unwrap();
    let deals = fake.workspace().data_sources[&ids.data_sources["Deals"]]
        .rows
        .clone();
    let (won, open): (Vec<String>, Vec<String>) = {
        let ws = fake.workspace();
        let live: Vec<&String> = deals
            .iter()
            .filter(|d| !ws.page(d).unwrap().in_trash)
            .collect();
        let stage_of = |d: &str| {
            ws.page(d).unwrap().properties["dStg"]["name"]
                .as_str()
                .map(str::to_string)
        };
        (
            live.iter()
                .filter(|d| stage_of(d).as_deref() == Some("Won"))
                .map(|d| d.to_string())
                .collect(),
            live.iter()
                .filter(|d| !matches!(stage_of(d).as_deref(), Some("Won") | Some("Lost")))
                .map(|d| d.to_string())
                .collect(),
        )
    };
    let won_value = fake.workspace().page(&won[0]).unwrap().properties["dStg"].clone();
    let (deal, trashed) = (open[0].clone(), open[1].clone());
    let runs_before = runs(&lake_dir);

    // Three edits: a deal moved to Won, a comment, a trashed deal.
    let edited = Instant::now();
    fake.edit(&Edit::SetProperty {
        page: deal.clone(),
        property: "dStg".into(),
        value: won_value,
    })
    .unwrap();
    fake.edit(&Edit::AddComment {
        page: deal.clone(),
        text: "Signed today".into(),
        block: None,
    })
    .unwrap();
    fake.edit(&Edit::Trash {
        page: trashed.clone(),
    })
    .unwrap();
    let landed = until(Duration::from_secs(30), || {
        let (lake, deal, trashed) = (&lake, &deal, &trashed);
        async move {
            let comments = content_rows(
                lake,
                &format!("SELECT * FROM comments WHERE page_id = '{deal}'"),
            )
            .await;
            let gone = content_rows(
                lake,
                &format!("SELECT * FROM deals WHERE _id = '{trashed}'"),
            )
            .await
            .is_empty();
            stage(lake, deal).await.as_deref() == Some("Won")
                && comments.iter().any(|c| {
                    c["plain_text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Signed today"))
                })
                && gone
        }
    })
    .await;
    let took = landed.map(|_| edited.elapsed());
    assert!(
        took.is_some_and(|t| t <= Duration::from_secs(30)),
        "the edits reached the lake in {took:?}"
    );
    assert!(runs(&lake_dir) > runs_before, "a run after the events");
    eprintln!("edits reached the lake {took:?} after the edit");
    // What reached the lake is what a fresh full sync reads: the rows, the rollups over the
    // deal (dependents), the documents and the history.
    let truth_dir = tempfile::tempdir().unwrap();
    let truth = Lake::open(truth_dir.path().to_str().unwrap()).unwrap();
    let options = SyncOptions {
        comments_refresh: CommentsRefresh::None,
        ..SyncOptions::default()
    };
    sync_with(&fake, &truth, &options).await;
    let companies = "SELECT * FROM companies ORDER BY _id";
    assert_eq!(
        content_rows(&lake, companies).await,
        content_rows(&truth, companies).await,
        "dependents"
    );
    let docs = format!(
        "SELECT page_id, markdown FROM documents WHERE page_id IN ('{deal}', '{trashed}') ORDER BY page_id"
    );
    assert_eq!(
        content_rows(&lake, &docs).await,
        content_rows(&truth, &docs).await,
        "documents"
    );
    let history = content_rows(
        &lake,
        &format!("SELECT * FROM deals_history WHERE _id = '{deal}'"),
    )
    .await;
    let stages: Vec<&Value> = history.iter().map(|r| &r["stage"]).collect();
    assert!(
        stages.contains(&&json!("Won")) && stages.len() >= 2,
        "history holds both stages: {stages:?}"
    );

    // A burst of 200 edits within 10 s is at most 3 runs.
    let before = runs(&lake_dir);
    let burst = Instant::now();
    for i in 0..200u32 {
        fake.edit(&Edit::SetProperty {
            page: open[2 + (i as usize % (open.len() - 2))].clone(),
            property: "dAmt".into(),
            value: json!(1000.0 + f64::from(i)),
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(45)).await;
    }
    assert!(burst.elapsed() < Duration::from_secs(11));
    let settled = fake.settle_deliveries(Duration::from_secs(60)).await;
    assert_eq!(settled.pending, 0);
    // The last batch's run: wait until no batch is left and the runs stop.
    let mut last = (runs(&lake_dir), Instant::now());
    while last.1.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = runs(&lake_dir);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let burst_runs = runs(&lake_dir) - before;
    eprintln!("a burst of 200 edits: {burst_runs} runs");
    assert!(
        (1..=3).contains(&burst_runs),
        "{burst_runs} runs for a burst of 200 edits"
    );
    let amounts = content_rows(&lake, "SELECT _id, amount FROM deals ORDER BY _id").await;
    let truth_dir = tempfile::tempdir().unwrap();
    let truth = Lake::open(truth_dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &truth, &options).await;
    assert_eq!(
        amounts,
        content_rows(&truth, "SELECT _id, amount FROM deals ORDER BY _id").await,
        "the burst's last values"
    );
    drop(serving);
}
