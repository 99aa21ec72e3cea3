//! Resumable syncs against a rate-limited fake Notion: a synthetic workspace of pages with
//! content (two levels of blocks, a comment discussion each) beside data sources whose rows
//! relate to each other. The fake runs in this process; each sync runs as the `notionlake`
//! binary in a process of its own, so it can be killed with SIGKILL. Measured:
//! - an uninterrupted first sync: its requests, its wall time, the time until every data
//!   source's table is committed (its share of the wall time; target ≤ 5 %), its peak
//!   resident memory (VmHWM);
//! - for a kill at 25 %, 50 % and 75 % of the uninterrupted run's requests: the requests of the
//!   killed run plus those of the run that resumes it, against 1.05 × the uninterrupted run's
//!   plus one checkpoint interval's worth (interval × rate); the peak memory of either run
//!   against the uninterrupted run's (target: at most 10 % above); and every table's row count
//!   against the uninterrupted lake's.
//!
//! The checkpoint interval is the default (5 minutes) at 3 requests/s; at a higher `--rps` it
//! shrinks in proportion, so that an interval holds the same requests (900) and the figures
//! keep their meaning at a fraction of the time.
//!
//! Run: `cargo bench --bench resume` (5,000 pages, 3 data sources of 2,000 rows, 3 requests/s:
//! about 4 × 2 hours), or with any of `--pages N --rows N --sources N --rps R`, e.g.
//! `cargo bench --bench resume -- --rps 100`. Linux only (reads `/proc`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion, SynthSpec, synthetic_workspace};
use notionlake::sink::Lake;

const BIN: &str = env!("CARGO_BIN_EXE_notionlake");
/// Notion's average rate, at which the default checkpoint interval is meant.
const NOTION_RPS: f64 = 3.0;
/// How often the bench looks at the running sync.
const POLL: Duration = Duration::from_millis(50);

/// The bench's settings (see the module documentation).
struct Settings {
    pages: usize,
    rows: usize,
    sources: usize,
    rps: f64,
}

impl Settings {
    fn from_args() -> Settings {
        let mut s = Settings {
            pages: 5_000,
            rows: 2_000,
            sources: 3,
            rps: NOTION_RPS,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        for pair in args.windows(2) {
            let value = || pair[1].parse::<f64>().ok();
            match pair[0].as_str() {
                "--pages" => s.pages = value().map_or(s.pages, |v| v as usize),
                "--rows" => s.rows = value().map_or(s.rows, |v| v as usize),
                "--sources" => s.sources = value().map_or(s.sources, |v| v as usize),
                "--rps" => s.rps = value().unwrap_or(s.rps),
                _ => {}
            }
        }
        s
    }

    /// The checkpoint interval: the default's requests at this rate.
    fn checkpoint_every(&self) -> Duration {
        notionlake::sync::DEFAULT_CHECKPOINT_EVERY.mul_f64(NOTION_RPS / self.rps)
    }
}

/// What one sync process did.
#[derive(Debug, Default, Clone)]
struct Observed {
    requests: u64,
    wall: Duration,
    /// Since the start, when every data source's table had a committed version.
    tables_at: Option<Duration>,
    peak_kib: u64,
    exit: Option<i32>,
}

/// A value in KiB of `/proc/<pid>/status` (`VmHWM:` is the peak resident memory).
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Data sources whose table has a committed Delta version in `lake`.
fn tables_committed(lake: &Path) -> usize {
    std::fs::read_dir(lake.join("tables")).map_or(0, |dirs| {
        dirs.filter_map(Result::ok)
            .filter(|d| {
                d.path()
                    .join("_delta_log/00000000000000000000.json")
                    .exists()
            })
            .count()
    })
}

fn spawn_sync(settings: &Settings, url: &str, lake: &Path) -> Child {
    Command::new(BIN)
        .args(["sync", "--api-base", url, "--burst", "2"])
        .args(["--rps", &settings.rps.to_string()])
        .args([
            "--checkpoint-every",
            &format!("{}ms", settings.checkpoint_every().as_millis()),
        ])
        .arg("--lake")
        .arg(lake)
        .args(["--log-format", "json"])
        .env("NOTION_TOKEN", DEMO_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the sync")
}

/// Runs a sync of `lake` until it ends, or until it has made `kill_at` requests (then kills
/// it with SIGKILL).
async fn observe(
    settings: &Settings,
    fake: &FakeNotion,
    lake: &Path,
    kill_at: Option<u64>,
) -> Observed {
    let before = fake.stats().total;
    let start = Instant::now();
    let mut child = spawn_sync(settings, &fake.url(), lake);
    let mut seen = Observed::default();
    loop {
        if let Some(kib) = status_kib(child.id(), "VmHWM:") {
            seen.peak_kib = seen.peak_kib.max(kib);
        }
        if seen.tables_at.is_none() && tables_committed(lake) >= settings.sources {
            seen.tables_at = Some(start.elapsed());
        }
        if let Some(status) = child.try_wait().expect("wait") {
            seen.exit = status.code();
            break;
        }
        if kill_at.is_some_and(|n| fake.stats().total - before >= n) {
            child.kill().expect("kill");
            child.wait().expect("wait");
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    seen.wall = start.elapsed();
    seen.requests = fake.stats().total - before;
    seen
}

/// Every table's row count.
async fn row_counts(dir: &Path) -> BTreeMap<String, i64> {
    use arrow::array::AsArray;
    let lake = Lake::open(dir.to_str().expect("utf-8 path")).expect("lake");
    let ctx = datafusion::prelude::SessionContext::new();
    let tables = notionlake::shell::register_lake(&ctx, &lake)
        .await
        .expect("register");
    let mut counts = BTreeMap::new();
    for t in tables.iter().filter(|t| !t.name.ends_with("_history")) {
        let sql = format!("SELECT count(*) FROM \"{}\"", t.name);
        let batches = ctx
            .sql(&sql)
            .await
            .expect("sql")
            .collect()
            .await
            .expect("count");
        let n = batches[0]
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0);
        counts.insert(t.name.clone(), n);
    }
    counts
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main]
async fn main() {
    let settings = Settings::from_args();
    let spec = SynthSpec {
        data_sources: settings.sources,
        rows: settings.rows,
        pages: settings.pages,
        block_depth: 2,
        fanout: 3,
        comments: settings.pages,
        seed: 11,
        hosted_files: Vec::new(),
    };
    let config = FakeConfig {
        rps: Some(settings.rps),
        burst: 3,
        ..FakeConfig::default()
    };
    let fake = FakeNotion::start(synthetic_workspace(spec), config)
        .await
        .expect("start the fake");
    println!(
        "resume: {} pages with content and {} data sources of {} rows, at {} requests/s, checkpoints every {:?}",
        settings.pages,
        settings.sources,
        settings.rows,
        settings.rps,
        settings.checkpoint_every()
    );

    let clean = tempfile::tempdir().expect("tempdir");
    let whole = observe(&settings, &fake, clean.path(), None).await;
    assert_eq!(whole.exit, Some(0), "the uninterrupted sync failed");
    let tables_at = whole.tables_at.unwrap_or(whole.wall);
    println!(
        "uninterrupted: {} requests in {:.1} s; every data source's table committed after {:.1} s ({:.1} % of the sync); peak {:.1} MiB",
        whole.requests,
        whole.wall.as_secs_f64(),
        tables_at.as_secs_f64(),
        100.0 * tables_at.as_secs_f64() / whole.wall.as_secs_f64(),
        mib(whole.peak_kib)
    );
    let want = row_counts(clean.path()).await;
    let interval_requests = settings.checkpoint_every().as_secs_f64() * settings.rps;
    let bound = 1.05 * whole.requests as f64 + interval_requests;
    let mut ok = true;
    for percent in [25u64, 50, 75] {
        let dir = tempfile::tempdir().expect("tempdir");
        let killed = observe(
            &settings,
            &fake,
            dir.path(),
            Some(whole.requests * percent / 100),
        )
        .await;
        let resumed = observe(&settings, &fake, dir.path(), None).await;
        assert_eq!(resumed.exit, Some(0), "the resumed sync failed");
        let total = killed.requests + resumed.requests;
        let peak = killed.peak_kib.max(resumed.peak_kib);
        let same = row_counts(dir.path()).await == want;
        let within = (total as f64) <= bound && (peak as f64) <= 1.10 * whole.peak_kib as f64;
        ok &= within && same;
        println!(
            "killed at {percent} %: {} + {} = {} requests ({:.3} × uninterrupted; bound {:.0}); peak {:.1} MiB ({:+.1} %); rows {}",
            killed.requests,
            resumed.requests,
            total,
            total as f64 / whole.requests as f64,
            bound,
            mib(peak),
            100.0 * (peak as f64 / whole.peak_kib as f64 - 1.0),
            if same {
                "equal to the uninterrupted lake's"
            } else {
                "DIFFER"
            }
        );
    }
    println!(
        "{}",
        if ok {
            "resume: within every target"
        } else {
            "resume: a target was missed"
        }
    );
}
