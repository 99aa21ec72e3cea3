//! The command line's clap types: global flags, connection and selection flags, every
//! subcommand's arguments, and the parsing of intervals.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::ConnectionArgs;
use crate::fake::DEMO_TOKEN;
use crate::sync::{CommentsMode, Selection, SyncOptions};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for schedulers.
    Json,
}

/// notionlake: turn a Notion workspace into an analytics lake (Parquet + SQL).
#[derive(Debug, Parser)]
#[command(name = "notionlake", version, about, long_about = None, after_help = "\
Examples:
  notionlake demo                                   # everything against the built-in demo workspace
  NOTION_TOKEN=ntn_… notionlake sync --lake ./lake  # extract your workspace
  notionlake fake-notion --port 7700                # run the fake Notion server")]
pub struct Cli {
    /// Optional TOML config file (keys: api_base, notion_version, rps, burst, timeout_secs, max_attempts, lake, and [[connection]] entries for sync --all).
    #[arg(long, global = true, env = "NOTIONLAKE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log detail (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
    /// The sync flags the command line (or the environment) gave, by clap id: they win over a
    /// connection's own sync options. Filled by [`super::parse`].
    #[arg(skip)]
    pub explicit_sync_flags: std::collections::BTreeSet<String>,
}

/// Connection flags shared by commands that talk to Notion.
#[derive(Debug, Clone, Args)]
pub struct ConnectionFlags {
    /// Internal integration token.
    #[arg(long, env = "NOTION_TOKEN", hide_env_values = true, value_parser = crate::notion::SecretString::parse)]
    pub token: Option<crate::notion::SecretString>,
    /// Base URL of the Notion API.
    #[arg(long, env = "NOTION_API_BASE")]
    pub api_base: Option<String>,
    /// Notion-Version: 2022-06-28, 2025-09-03 (default) or 2026-03-11.
    #[arg(long, env = "NOTION_VERSION")]
    pub notion_version: Option<String>,
    /// Average requests per second (default 3, Notion's limit).
    #[arg(long)]
    pub rps: Option<f64>,
    /// Requests allowed at once before pacing (default 2).
    #[arg(long)]
    pub burst: Option<u32>,
    /// Per-request timeout in seconds (default 60).
    #[arg(long)]
    pub timeout_secs: Option<f64>,
    /// Largest response body accepted from Notion, in MiB (default 64).
    #[arg(long)]
    pub max_response_mb: Option<usize>,
    /// OAuth credential file (from `notionlake auth login`), used when no token is given.
    #[arg(long, env = "NOTIONLAKE_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
}

impl From<&ConnectionFlags> for ConnectionArgs {
    fn from(f: &ConnectionFlags) -> Self {
        ConnectionArgs {
            token: f.token.clone(),
            api_base: f.api_base.clone(),
            notion_version: f.notion_version.clone(),
            rps: f.rps,
            burst: f.burst,
            timeout_secs: f.timeout_secs,
            max_response_mb: f.max_response_mb,
            credentials: f.credentials.clone(),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Extract the workspace the token can see.
    #[command(
        after_help = "Examples:\n  NOTION_TOKEN=ntn_… notionlake sync --lake ./lake\n  notionlake sync --api-base http://127.0.0.1:7700 --token ntn_demo_fake_token_0000"
    )]
    Sync {
        /// Connection settings.
        #[command(flatten)]
        conn: ConnectionFlags,
        /// Lake location: a directory or s3://bucket/prefix.
        #[arg(long)]
        lake: Option<String>,
        /// Only list what the token can see (no lake needed, nothing written).
        #[arg(long)]
        inventory: bool,
        /// What to extract.
        #[command(flatten)]
        select: Box<SelectFlags>,
        /// Event-driven runs (with --watch).
        #[command(flatten)]
        events: EventFlags,
        /// Table format of a new lake: delta (the default: tables whose rows are the current
        /// state, with history) or parquet (files appended by each run, latest state as views).
        /// A lake keeps its format; another one is refused.
        #[arg(long, value_enum)]
        format: Option<crate::sink::TableFormat>,
        /// Sync every [[connection]] of the config file (each its own token, lake and limits).
        #[arg(long, conflicts_with_all = ["connections", "lake", "inventory"])]
        all: bool,
        /// Sync this [[connection]] of the config file (repeatable).
        #[arg(long = "connection", value_name = "NAME", conflicts_with_all = ["lake", "inventory"])]
        connections: Vec<String>,
        /// Connections synced at once with --all or --connection.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// With --all or --connection: a JSON file, rewritten atomically after each
        /// connection's run, with each one's last success, outcome, rows, requests, 429s,
        /// duration and lag (for schedulers and monitors).
        #[arg(long, value_name = "PATH")]
        status_file: Option<std::path::PathBuf>,
        /// Skip a lake whose last complete run, by any process, started less than this long
        /// ago (e.g. 10m): machines running the same connections then sync each once per
        /// round. With --watch and --all or --connection: half the interval unless given.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        skip_synced_within: Option<std::time::Duration>,
    },
    /// Write the lake's documents as Markdown files: one per page, in folders that follow the
    /// page hierarchy, with YAML front matter; a later run writes only what changed and removes
    /// the files of deleted pages.
    #[command(
        name = "export-md",
        after_help = "Examples:\n  notionlake export-md --lake ./lake --out ./docs"
    )]
    ExportMd {
        /// Lake location: a directory or s3://bucket/prefix.
        #[arg(long)]
        lake: Option<String>,
        /// The folder to write (created when missing).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Write the lake as a dbt package: a source over every table, typed staging models,
    /// relation bridges with relationships tests, example models.
    #[command(
        after_help = "Examples:\n  notionlake dbt --lake ./lake --out ./notion_dbt && cd notion_dbt && dbt build --profiles-dir .\n  notionlake dbt --lake s3://bucket/lake --out ./notion_dbt --adapter spark"
    )]
    Dbt {
        /// Lake location: a directory or s3://bucket/prefix.
        #[arg(long)]
        lake: Option<String>,
        /// The package's folder (created when missing); files you edited there are kept.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The dbt adapter to read the lake with: duckdb (its delta plugin) or spark
        /// (dbt-spark and dbt-databricks, delta.`<path>`).
        #[arg(long, value_enum, default_value_t = crate::dbt::Adapter::Duckdb)]
        adapter: crate::dbt::Adapter,
    },
    /// Compact each Delta table's small files into large ones (same rows, fewer files).
    #[command(after_help = "Examples:\n  notionlake optimize --lake ./lake")]
    Optimize {
        /// Lake location: a directory or s3://bucket/prefix.
        #[arg(long)]
        lake: Option<String>,
    },
    /// Delete files of Delta tables that no version younger than --retain needs; older
    /// versions can no longer be read (time travel, history).
    #[command(after_help = "Examples:\n  notionlake vacuum --lake ./lake --retain 7d")]
    Vacuum {
        /// Lake location: a directory or s3://bucket/prefix.
        #[arg(long)]
        lake: Option<String>,
        /// Keep what versions younger than this need (e.g. 7d, 24h, 0s).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "7d")]
        retain: Duration,
    },
    /// SQL over the lake (DataFusion): an interactive shell, or statements from -c, -f or stdin.
    #[command(
        after_help = "Examples:\n  notionlake sql --lake ./notionlake-demo\n  notionlake sql --lake ./lake -c 'SELECT stage, count(*) FROM deals GROUP BY stage'\n  notionlake sql --lake s3://bucket/lake --query pipeline_by_stage --format csv\n  echo 'SELECT count(*) FROM pages;' | notionlake sql --lake ./lake"
    )]
    Sql {
        /// Lake location: a directory or s3://bucket/prefix.
        #[arg(long)]
        lake: Option<String>,
        /// A statement to run (repeatable).
        #[arg(short = 'c', long = "command")]
        commands: Vec<String>,
        /// A file of statements to run.
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// Run a bundled query (see queries/, or \\queries in the shell).
        #[arg(long)]
        query: Option<String>,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, value_enum)]
        format: Option<crate::shell::repl::OutputFormat>,
        /// Rows the table format shows of each result (0: all); csv, json and ndjson print
        /// every row.
        #[arg(long, default_value_t = crate::shell::print::DEFAULT_MAX_ROWS)]
        maxrows: usize,
    },
    /// Run against the built-in demo workspace (no Notion account needed).
    #[command(after_help = "Examples:\n  notionlake demo\n  notionlake demo --lake /tmp/demo-lake")]
    Demo {
        /// Lake location (default ./notionlake-demo).
        #[arg(long, default_value = "./notionlake-demo")]
        lake: String,
        /// Notion-Version the demo client speaks.
        #[arg(long, env = "NOTION_VERSION")]
        notion_version: Option<String>,
        /// Table format of a new demo lake (delta or parquet).
        #[arg(long, value_enum)]
        format: Option<crate::sink::TableFormat>,
    },
    /// Serve the fake Notion API (demo or synthetic workspace) on loopback.
    #[command(
        name = "fake-notion",
        after_help = "Examples:\n  notionlake fake-notion --port 7700\n  curl -s -H 'Authorization: Bearer ntn_demo_fake_token_0000' -H 'Notion-Version: 2025-09-03' localhost:7700/v1/users\n  notionlake fake-notion --port 7700 --latency-ms 200 --fault-rate 0.1 --synthetic-rows 20000"
    )]
    FakeNotion(FakeNotionArgs),
    /// Credentials: OAuth login, status, logout.
    Auth {
        /// What to do.
        #[command(subcommand)]
        action: AuthAction,
    },
    /// Notion's webhooks: receive deliveries that tell the next sync what changed.
    Webhooks {
        /// What to do.
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// The config file: check it.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell or elvish).
    #[command(
        after_help = "Examples:\n  notionlake completions bash > ~/.local/share/bash-completion/completions/notionlake\n  notionlake completions zsh > ~/.zfunc/_notionlake\n  notionlake completions fish > ~/.config/fish/completions/notionlake.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with --out write one page per command into a directory.
    #[command(
        after_help = "Examples:\n  notionlake man | man -l -\n  notionlake man --out /usr/local/share/man/man1"
    )]
    Man {
        /// Write notionlake.1 and notionlake-<command>.1 into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// What `notionlake config` does.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Validate the config file (--config FILE or NOTIONLAKE_CONFIG) without a request or a
    /// write: unknown keys (with the key meant), values, connections and their sync options,
    /// the file's mode; then print the effective settings and where each comes from.
    Check,
}

/// Which tables and which part of the workspace a sync extracts.
#[derive(Debug, Clone, Args)]
pub struct SelectFlags {
    /// Extract only these table groups (comma-separated): tables, pages, databases, blocks, users, comments.
    #[arg(long, value_delimiter = ',')]
    pub include: Vec<TableGroup>,
    /// Skip these table groups (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<TableGroup>,
    /// Comments to read: none, pages (one request per page) or all (one more per block).
    #[arg(long, value_enum, default_value_t = CommentsMode::Pages)]
    pub comments: CommentsMode,
    /// Comments an incremental sync reads again on pages nobody edited (a new comment does not
    /// mark a page edited): none, recent:<duration> (pages edited within it, e.g. recent:7d:
    /// each hourly while edited today, daily after, within --comments-refresh-budget) or all
    /// (every page, every run); one request per page, plus one per block known to hold
    /// comments with --comments all.
    #[arg(long, default_value_t = crate::sync::CommentsRefresh::DEFAULT)]
    pub comments_refresh: crate::sync::CommentsRefresh,
    /// How often a long run commits its progress (a checkpoint the next run resumes from),
    /// e.g. 5m; 0s commits only once the tables are read (before a long content crawl) and at
    /// the end.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub checkpoint_every: std::time::Duration,
    /// On SIGTERM or SIGINT, how long the run has to checkpoint before it exits anyway (exit
    /// code 75 either way: the next sync resumes it).
    #[arg(long, default_value = "25s", value_parser = humantime::parse_duration)]
    pub stop_grace: std::time::Duration,
    /// Requests a run spends at most on the recent:<duration> comments refresh; due pages
    /// past it wait for the next run.
    #[arg(long, default_value_t = crate::sync::refresh_plan::DEFAULT_BUDGET)]
    pub comments_refresh_budget: usize,
    /// How page content is read: blocks (every block level by level: the blocks table and
    /// documents rendered from it) or markdown-api (one request per page for documents in
    /// Notion's enhanced markdown; no blocks table; Notion-Version 2025-09-03 or later).
    #[arg(long, value_enum, default_value_t = crate::sync::ContentMode::Blocks)]
    pub content: crate::sync::ContentMode,
    /// Restrict the sync to this page and its subtree (repeatable).
    #[arg(long = "root")]
    pub roots: Vec<String>,
    /// Restrict data sources to this database (repeatable).
    #[arg(long = "database")]
    pub databases: Vec<String>,
    /// Deepest block nesting followed.
    #[arg(long, default_value_t = crate::sync::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// Pages crawled at once (they share the rate limit).
    #[arg(long, default_value_t = crate::sync::MAX_IN_FLIGHT_PAGES)]
    pub concurrency: usize,
    /// Read everything again and detect deleted pages (instead of only what changed).
    #[arg(long)]
    pub full_refresh: bool,
    /// Make every Nth run a full refresh (0: only with --full-refresh).
    #[arg(long, default_value_t = crate::sync::DEFAULT_FULL_EVERY)]
    pub full_every: u32,
    /// Page marks (the per-page incremental state) held in memory, about 40 bytes each; the
    /// rest spill to sorted files in the temporary directory ($TMPDIR).
    #[arg(long, default_value_t = crate::state::marks::DEFAULT_MARKS_IN_MEMORY)]
    pub marks_in_memory: usize,
    /// Name tables and columns with ASCII letters only (accents folded; names in other scripts
    /// fall back to type-derived ones such as `select_1`), for engines that accept nothing
    /// else. Recorded in a new lake and kept for its life; refused on a lake named otherwise.
    #[arg(long)]
    pub ascii_names: bool,
    /// Keep syncing at this interval (e.g. 30s, 5m, 1h) until ctrl-c.
    #[arg(long, value_parser = parse_interval)]
    pub watch: Option<Duration>,
    /// Notion-hosted files (images, attachments, covers, icons): download (kept in the lake
    /// under files/, one copy per content, listed in the files table) or none.
    #[arg(long, value_enum, default_value_t = crate::files::FilesMode::Download)]
    pub files: crate::files::FilesMode,
    /// The largest file downloaded, in MiB; larger ones are listed as too_large.
    #[arg(long, default_value_t = crate::files::options::DEFAULT_MAX_FILE_MB)]
    pub max_file_mb: u64,
    /// MiB one run downloads at most; files past it are listed as deferred and the next run
    /// downloads them.
    #[arg(long, default_value_t = crate::files::options::DEFAULT_BUDGET_MB)]
    pub files_budget_mb: u64,
}

/// Parses `30s`, `5m`, `2h`, `1h 30m` or plain seconds.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    // Plain seconds, or any humantime duration (30s, 5m, 1h 30m, 2days).
    let interval = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("{s:?} is not an interval like 30s, 5m or 1h ({e})"))?,
    };
    if interval < Duration::from_secs(1) {
        return Err("the interval must be at least 1s".into());
    }
    Ok(interval)
}

/// Groups of tables a sync can include or exclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableGroup {
    /// One typed table per data source, and rich_text_items.
    Tables,
    /// The pages table.
    Pages,
    /// databases, data_sources and properties.
    Databases,
    /// The blocks table.
    Blocks,
    /// The users table.
    Users,
    /// The comments table.
    Comments,
}

impl SelectFlags {
    pub(super) fn options(&self) -> SyncOptions {
        let on = |g: TableGroup| {
            (self.include.is_empty() || self.include.contains(&g)) && !self.exclude.contains(&g)
        };
        SyncOptions {
            selection: Selection {
                tables: on(TableGroup::Tables),
                pages: on(TableGroup::Pages),
                databases: on(TableGroup::Databases),
                blocks: on(TableGroup::Blocks),
                users: on(TableGroup::Users),
                roots: self.roots.clone(),
                only_databases: self.databases.clone(),
            },
            comments: if on(TableGroup::Comments) {
                self.comments
            } else {
                CommentsMode::None
            },
            content: self.content,
            comments_refresh: self.comments_refresh,
            comments_refresh_budget: self.comments_refresh_budget,
            checkpoint_every: self.checkpoint_every,
            max_depth: self.max_depth.max(1),
            concurrency: self.concurrency.max(1),
            progress: true,
            full_refresh: self.full_refresh,
            full_every: self.full_every,
            marks_in_memory: self.marks_in_memory,
            ascii_names: self.ascii_names,
            files: crate::files::FilesOptions {
                mode: self.files,
                max_file_bytes: self.max_file_mb.saturating_mul(1 << 20),
                budget_bytes: self.files_budget_mb.saturating_mul(1 << 20),
                ..crate::files::FilesOptions::default()
            },
            ..SyncOptions::default()
        }
    }
}

impl Default for SelectFlags {
    fn default() -> Self {
        SelectFlags {
            include: Vec::new(),
            exclude: Vec::new(),
            comments: CommentsMode::Pages,
            content: crate::sync::ContentMode::Blocks,
            comments_refresh: crate::sync::CommentsRefresh::DEFAULT,
            comments_refresh_budget: crate::sync::refresh_plan::DEFAULT_BUDGET,
            checkpoint_every: crate::sync::DEFAULT_CHECKPOINT_EVERY,
            stop_grace: crate::sync::DEFAULT_STOP_GRACE,
            roots: Vec::new(),
            databases: Vec::new(),
            max_depth: crate::sync::DEFAULT_MAX_DEPTH,
            concurrency: crate::sync::MAX_IN_FLIGHT_PAGES,
            full_refresh: false,
            full_every: crate::sync::DEFAULT_FULL_EVERY,
            marks_in_memory: crate::state::marks::DEFAULT_MARKS_IN_MEMORY,
            ascii_names: false,
            watch: None,
            files: crate::files::FilesMode::Download,
            max_file_mb: crate::files::options::DEFAULT_MAX_FILE_MB,
            files_budget_mb: crate::files::options::DEFAULT_BUDGET_MB,
        }
    }
}

/// Options of `fake-notion`.
#[derive(Debug, Clone, Args)]
pub struct FakeNotionArgs {
    /// Port to listen on (0 picks one).
    #[arg(long, default_value_t = 7700)]
    pub port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Bearer token the fake accepts.
    #[arg(long, default_value = DEMO_TOKEN)]
    pub token: String,
    /// Each connection's (token's) token-bucket rate in requests per second.
    #[arg(long, default_value_t = 3.0)]
    pub rps: f64,
    /// Each connection's token-bucket burst.
    #[arg(long, default_value_t = 3)]
    pub burst: u32,
    /// Turn the connection limit off.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// The workspace's limit, shared by every token, in requests per second (off by default).
    #[arg(long)]
    pub workspace_rps: Option<f64>,
    /// The workspace bucket's burst.
    #[arg(long, default_value_t = 4)]
    pub workspace_burst: u32,
    /// More tokens the fake accepts, each its own connection (its own limit) to the same
    /// workspace.
    #[arg(long = "extra-token")]
    pub extra_tokens: Vec<String>,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability of an injected fault per request (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 7)]
    pub fault_seed: u64,
    /// Rows one data-source query returns at most.
    #[arg(long, default_value_t = 10_000)]
    pub query_cap: usize,
    /// Serve a synthetic workspace with this many rows per data source instead of the demo.
    #[arg(long)]
    pub synthetic_rows: Option<usize>,
    /// Data sources of the synthetic workspace.
    #[arg(long, default_value_t = 2)]
    pub synthetic_sources: usize,
    /// Pages with content (a block tree three levels deep) in the synthetic workspace.
    #[arg(long, default_value_t = 5)]
    pub synthetic_pages: usize,
    /// Comments spread over the synthetic workspace's pages.
    #[arg(long, default_value_t = 0)]
    pub synthetic_comments: usize,
    /// Notion-hosted files of the synthetic workspace, each a row's cover (comma-separated
    /// names; a size in the name sets the file's, e.g. scan-150MiB.bin; `slow` in the name
    /// streams it at 1 MiB/s; `missing` answers 404).
    #[arg(long, value_delimiter = ',')]
    pub synthetic_files: Vec<String>,
    /// How long the fake's signed file URLs hold, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub file_lifetime_secs: u64,
    /// Deliver webhook events of edits (`POST /__fake/edits`) to this receiver URL, signed
    /// with a verification token sent to it first.
    #[arg(long)]
    pub webhook_url: Option<String>,
}

/// `webhooks` actions.
#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Receive Notion's webhook deliveries into the lake, for the next sync to act on: while
    /// armed (`--arm`), the subscription's verification token is stored (0600) and printed
    /// once; every delivery's signature is checked before anything else; each event is stored
    /// once, before the 200.
    #[command(
        after_help = "Examples:\n  notionlake webhooks serve --lake ./lake --arm   # once, while you create the subscription in Notion\n  notionlake webhooks serve --lake ./lake --listen 127.0.0.1:8787\n  (behind a reverse proxy that terminates HTTPS and forwards to that address)"
    )]
    Serve {
        /// Lake location: a directory or s3://bucket/prefix.
        #[arg(long)]
        lake: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: std::net::SocketAddr,
        /// Where the verification token is kept (default: next to the OAuth credentials).
        #[arg(long, env = "NOTIONLAKE_WEBHOOK_TOKEN_FILE")]
        token_file: Option<PathBuf>,
        /// Accept the subscription's verification request (once, for `--arm-for`): start
        /// with it while you create the subscription. Unarmed, verification requests are
        /// refused, so nobody else who reaches the URL can set the signing key.
        #[arg(long)]
        arm: bool,
        /// How long `--arm` accepts the verification request (e.g. 15m).
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration, requires = "arm")]
        arm_for: std::time::Duration,
        /// Also sync the lake in this process: once at start, then soon after each burst of
        /// events the receiver stores, and at the --watch interval (default 1h) as the safety
        /// net. The receiver keeps answering while a run goes on; one lake lock still keeps
        /// runs (of this and any other process) apart.
        #[arg(long)]
        sync: bool,
        /// With --sync: connection settings.
        #[command(flatten)]
        conn: ConnectionFlags,
        /// With --sync: what to extract.
        #[command(flatten)]
        select: Box<SelectFlags>,
        /// With --sync: the debounce of event-driven runs.
        #[command(flatten)]
        events: EventFlags,
    },
}

/// Event-driven runs of a watch loop.
#[derive(Debug, Clone, Args)]
pub struct EventFlags {
    /// With --watch: also sync soon after new webhook event batches (from `webhooks serve`)
    /// land in the lake, debounced; the interval stays the safety net.
    #[arg(long)]
    pub on_events: bool,
    /// Start an event-driven run once no new batch has landed for this long.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub events_quiet: Duration,
    /// ...or at the latest this long after the first new batch.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub events_max_wait: Duration,
    /// Time between two listings of the lake's events (one LIST on S3).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub events_poll: Duration,
}

impl EventFlags {
    /// The trigger's options.
    pub(super) fn options(&self) -> crate::sync::trigger::TriggerOptions {
        crate::sync::trigger::TriggerOptions {
            poll: self.events_poll.max(Duration::from_millis(100)),
            quiet: self.events_quiet,
            max_wait: self.events_max_wait.max(self.events_quiet),
        }
    }
}

/// `auth` actions.
#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Sign in with OAuth (public integrations): opens the authorize URL, listens on
    /// 127.0.0.1 for the redirect, stores the tokens (mode 0600).
    #[command(
        after_help = "Examples:\n  notionlake auth login --client-id … --client-secret … --redirect-port 8765\n  notionlake auth login --manual   # on a machine without a browser: paste the redirect URL"
    )]
    Login {
        /// OAuth client id of the public integration.
        #[arg(long, env = "NOTION_CLIENT_ID")]
        client_id: String,
        /// OAuth client secret.
        #[arg(long, env = "NOTION_CLIENT_SECRET", hide_env_values = true, value_parser = crate::notion::SecretString::parse)]
        client_secret: crate::notion::SecretString,
        /// Base URL of the Notion API.
        #[arg(long, env = "NOTION_API_BASE", default_value = crate::notion::DEFAULT_API_BASE)]
        api_base: String,
        /// Port of the loopback redirect (http://127.0.0.1:PORT/callback, as registered in the integration).
        #[arg(long, default_value_t = 8765)]
        redirect_port: u16,
        /// Print the URL and read the redirect URL (or the code) from stdin instead of listening.
        #[arg(long)]
        manual: bool,
        /// Where to store the credentials.
        #[arg(long, env = "NOTIONLAKE_CREDENTIALS")]
        credentials: Option<PathBuf>,
        /// Log in for this [[connection]] of the config file: the credentials go to
        /// <config dir>/notionlake/connections/NAME.json (unless --credentials says where), and
        /// the entry to add is printed.
        #[arg(long, value_name = "NAME")]
        connection: Option<String>,
    },
    /// Show the workspace and bot of the current token, and whether it is valid.
    Status {
        /// Connection settings.
        #[command(flatten)]
        conn: ConnectionFlags,
    },
    /// Revoke the stored OAuth tokens and delete the credential file.
    Logout {
        /// The credential file.
        #[arg(long, env = "NOTIONLAKE_CREDENTIALS")]
        credentials: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        select: SelectFlags,
    }

    #[test]
    fn secrets_on_the_command_line_never_show_in_debug() {
        let cli = Cli::parse_from([
            "notionlake",
            "sync",
            "--lake",
            "x",
            "--token",
            "ntn_secret_token_value",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("ntn_secret_token_value"), "{shown}");
        let Command::Sync { conn, .. } = &cli.command else {
            panic!("{shown}");
        };
        assert_eq!(
            conn.token.as_ref().map(|t| t.expose()),
            Some("ntn_secret_token_value")
        );
        let login = Cli::parse_from([
            "notionlake",
            "auth",
            "login",
            "--client-id",
            "cid",
            "--client-secret",
            "csecret_value_123",
        ]);
        let shown = format!("{login:?}");
        assert!(!shown.contains("csecret_value_123"), "{shown}");
    }

    #[test]
    fn intervals_take_units_or_plain_seconds() {
        assert_eq!(parse_interval("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_interval("0s").is_err());
        assert!(
            parse_interval("soon")
                .unwrap_err()
                .contains("30s, 5m or 1h")
        );
    }

    #[test]
    fn the_marks_budget_reaches_the_sync_options() {
        let parse = |args: &[&str]| {
            Flags::try_parse_from(std::iter::once("sync").chain(args.iter().copied()))
                .unwrap()
                .select
                .options()
        };
        assert_eq!(
            parse(&[]).marks_in_memory,
            crate::state::marks::DEFAULT_MARKS_IN_MEMORY
        );
        assert_eq!(parse(&["--marks-in-memory", "5000"]).marks_in_memory, 5000);
        assert_eq!(
            SelectFlags::default().options().marks_in_memory,
            parse(&[]).marks_in_memory
        );
    }
}
