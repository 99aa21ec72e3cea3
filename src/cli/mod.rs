//! The command line: clap types for every subcommand (`sync`, `sql`, `demo`, `fake-notion`,
//! `auth`) and their dispatch. Raw arguments become validated [`Settings`] here and never leave
//! this module.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{ConfigError, ConnectionArgs, FileConfig, Settings};
use crate::fake::{
    DEMO_TOKEN, FakeConfig, FakeNotion, FaultConfig, SynthSpec, demo_workspace, synthetic_workspace,
};
use crate::notion::{ClientConfig, NotionClient, NotionError, StaticToken};
use crate::sink::Lake;
use crate::sync::{CommentsMode, Selection, SyncError, SyncOptions, sync_workspace};

/// An error that ends the program, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad settings (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Notion failed (exit 1).
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// The sync failed (exit 1).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Local I/O failed (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A SQL statement or shell command failed (exit 1).
    #[error("{0}")]
    Shell(String),
}

impl From<crate::config::ClientSetupError> for CliError {
    fn from(e: crate::config::ClientSetupError) -> Self {
        match e {
            crate::config::ClientSetupError::Config(c) => CliError::Config(c),
            crate::config::ClientSetupError::Notion(n) => CliError::Notion(n),
        }
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Config(_) => 2,
            _ => 1,
        }
    }
}

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
    /// Optional TOML config file (keys: api_base, notion_version, rps, burst, timeout_secs, max_attempts, lake).
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
}

/// Connection flags shared by commands that talk to Notion.
#[derive(Debug, Clone, Args)]
pub struct ConnectionFlags {
    /// Internal integration token.
    #[arg(long, env = "NOTION_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
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
        select: SelectFlags,
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
    /// Restrict the sync to this page and its subtree (repeatable).
    #[arg(long = "root")]
    pub roots: Vec<String>,
    /// Restrict data sources to this database (repeatable).
    #[arg(long = "database")]
    pub databases: Vec<String>,
    /// Deepest block nesting followed.
    #[arg(long, default_value_t = crate::sync::tables::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// Pages crawled at once (they share the rate limit).
    #[arg(long, default_value_t = crate::sync::tables::MAX_IN_FLIGHT_PAGES)]
    pub concurrency: usize,
    /// Read everything again and detect deleted pages (instead of only what changed).
    #[arg(long)]
    pub full_refresh: bool,
    /// Make every Nth run a full refresh (0: only with --full-refresh).
    #[arg(long, default_value_t = crate::sync::tables::DEFAULT_FULL_EVERY)]
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
    fn options(&self) -> SyncOptions {
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
            max_depth: self.max_depth.max(1),
            concurrency: self.concurrency.max(1),
            progress: true,
            full_refresh: self.full_refresh,
            full_every: self.full_every,
            marks_in_memory: self.marks_in_memory,
            ascii_names: self.ascii_names,
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
            roots: Vec::new(),
            databases: Vec::new(),
            max_depth: crate::sync::tables::DEFAULT_MAX_DEPTH,
            concurrency: crate::sync::tables::MAX_IN_FLIGHT_PAGES,
            full_refresh: false,
            full_every: crate::sync::tables::DEFAULT_FULL_EVERY,
            marks_in_memory: crate::state::marks::DEFAULT_MARKS_IN_MEMORY,
            ascii_names: false,
            watch: None,
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
    /// Token-bucket rate in requests per second.
    #[arg(long, default_value_t = 3.0)]
    pub rps: f64,
    /// Token-bucket burst.
    #[arg(long, default_value_t = 3)]
    pub burst: u32,
    /// Turn rate limiting off.
    #[arg(long)]
    pub no_rate_limit: bool,
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
        #[arg(long, env = "NOTION_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
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

fn load_file(cli: &Cli) -> Result<FileConfig, CliError> {
    match &cli.config {
        Some(p) => Ok(FileConfig::load(p)?),
        None => Ok(FileConfig::default()),
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let file = load_file(&cli)?;
    match &cli.command {
        Command::Sync {
            conn,
            lake,
            inventory,
            select,
        } => {
            let settings = Settings::resolve(&conn.into(), &file)?;
            let client = settings.client()?;
            if *inventory {
                return print_inventory(&client).await;
            }
            let location = lake.clone().or_else(|| file.lake.clone()).ok_or(ConfigError::Invalid {
                name: "lake",
                message: "where should the lake go? pass --lake ./lake (or s3://bucket/prefix), or set `lake` in the config file".into(),
            })?;
            let Some(every) = select.watch else {
                return run_sync(&client, &location, &select.options()).await;
            };
            // Poll until ctrl-c; a run in progress is interrupted at once (it commits nothing,
            // and the next run reads its changes again).
            let options = select.options();
            loop {
                tokio::select! {
                    r = run_sync(&client, &location, &options) => {
                        if let Err(e) = r {
                            eprintln!("error: {e} (retrying at the next interval)");
                        }
                    }
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
            }
        }
        Command::Demo {
            lake,
            notion_version,
        } => run_demo(lake, notion_version.clone(), &file).await,
        Command::FakeNotion(args) => run_fake(args.clone()).await,
        Command::Auth { action } => run_auth(action, &file).await,
        Command::Sql {
            lake,
            commands,
            file: script,
            query,
            format,
            maxrows,
        } => {
            let location = lake.clone().or_else(|| file.lake.clone()).ok_or(ConfigError::Invalid {
                name: "lake",
                message: "which lake? pass --lake ./lake (or s3://bucket/prefix), or set `lake` in the config file".into(),
            })?;
            run_sql(
                &location,
                commands,
                script.as_deref(),
                query.as_deref(),
                *format,
                crate::shell::print::MaxRows::from_flag(*maxrows),
            )
            .await
        }
    }
}

fn stdout_error(source: std::io::Error) -> CliError {
    CliError::Io {
        context: "writing to stdout".into(),
        source,
    }
}

async fn print_inventory(client: &NotionClient) -> Result<(), CliError> {
    let inv = crate::sync::inventory(client).await?;
    let mut out = std::io::stdout().lock();
    let io = stdout_error;
    writeln!(
        out,
        "workspace: {}",
        inv.workspace.as_deref().unwrap_or("?")
    )
    .map_err(io)?;
    match inv.users {
        Some(n) => writeln!(out, "users: {n}").map_err(io)?,
        None => writeln!(out, "users: (not readable: capability missing)").map_err(io)?,
    }
    writeln!(out, "data sources: {}", inv.data_sources.len()).map_err(io)?;
    for ds in &inv.data_sources {
        writeln!(
            out,
            "  {:<24} {:>6} rows {:>3} properties{}",
            ds.title,
            ds.rows,
            ds.properties,
            if ds.capped {
                " (query cap reached)"
            } else {
                ""
            }
        )
        .map_err(io)?;
    }
    writeln!(out, "pages found by search: {}", inv.pages_in_search).map_err(io)?;
    writeln!(
        out,
        "requests: {} ({} retries, {} rate-limited, {} bytes received)",
        inv.requests.total_requests,
        inv.requests.retries,
        inv.requests.rate_limited,
        inv.requests.bytes_received
    )
    .map_err(io)?;
    Ok(())
}

async fn run_sync(
    client: &NotionClient,
    location: &str,
    options: &SyncOptions,
) -> Result<(), CliError> {
    let lake = Lake::open(location).map_err(SyncError::from)?;
    let report = sync_workspace(client, &lake, options).await?;
    let mut out = std::io::stdout().lock();
    let io = stdout_error;
    writeln!(
        out,
        "run {} wrote {} ({:.1} s):",
        report.run_id,
        lake.url(),
        report.duration_secs
    )
    .map_err(io)?;
    for t in &report.tables {
        let changes = if t.changes.is_empty() {
            String::new()
        } else {
            format!(", {} schema change(s)", t.changes.len())
        };
        writeln!(
            out,
            "  {:<22} {:>7} rows in {} file(s){changes}",
            t.table,
            t.rows,
            t.files.len()
        )
        .map_err(io)?;
    }
    let items: usize = report.rich_text_files.iter().map(|f| f.rows).sum();
    writeln!(out, "  {:<22} {:>7} rows", "rich_text_items", items).map_err(io)?;
    for f in &report.fixed {
        writeln!(out, "  {:<22} {:>7} rows", f.table, f.rows).map_err(io)?;
    }
    for s in &report.skipped {
        writeln!(out, "  {s:<22} skipped (capability missing)").map_err(io)?;
    }
    let r = &report.requests;
    writeln!(
        out,
        "requests: {} ({} retries, {} rate-limited, {} bytes received)",
        r.total_requests, r.retries, r.rate_limited, r.bytes_received
    )
    .map_err(io)?;
    for w in &report.warnings {
        writeln!(out, "warning: {w}").map_err(io)?;
    }
    Ok(())
}

async fn run_auth(action: &AuthAction, file: &FileConfig) -> Result<(), CliError> {
    use crate::notion::oauth::{
        Credentials, OAuthApp, check_redirect, default_credentials_path, load_credentials,
        save_credentials,
    };
    match action {
        AuthAction::Login {
            client_id,
            client_secret,
            api_base,
            redirect_port,
            manual,
            credentials,
        } => {
            let app = OAuthApp {
                client_id: client_id.clone(),
                client_secret: crate::notion::SecretString::new(client_secret.clone()),
                api_base: url::Url::parse(api_base).map_err(|e| ConfigError::Invalid {
                    name: "api_base",
                    message: e.to_string(),
                })?,
                timeout: crate::notion::oauth::OAUTH_TIMEOUT,
            };
            let (access, refresh) = if *manual {
                let redirect_uri = format!("http://127.0.0.1:{redirect_port}/callback");
                let (url, state) = app.authorize_url(&redirect_uri)?;
                eprintln!(
                    "Open this URL in a browser, approve, then paste the address you are redirected to (or just the code):\n{url}"
                );
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|source| CliError::Io {
                        context: "reading the redirect URL".into(),
                        source,
                    })?;
                let line = line.trim();
                let code = match url::Url::parse(line) {
                    Ok(u) => check_redirect(
                        &u.query_pairs().into_owned().collect::<Vec<_>>(),
                        state.secret(),
                    )?,
                    Err(_) => line.to_string(),
                };
                app.exchange_code(&code, &redirect_uri).await?
            } else {
                app.login_loopback(*redirect_port, |url| {
                    eprintln!("Open this URL in your browser to authorize notionlake:\n{url}")
                })
                .await?
            };
            let client = NotionClient::new(
                ClientConfig {
                    base_url: app.api_base.clone(),
                    ..ClientConfig::default()
                },
                Arc::new(StaticToken::new(access.clone())),
            )?;
            let me = client.users_me().await?;
            let field = |p: &str| me.pointer(p).and_then(|v| v.as_str()).map(str::to_string);
            let creds = Credentials {
                access_token: access,
                refresh_token: refresh,
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                api_base: api_base.clone(),
                workspace_id: field("/bot/workspace_id"),
                workspace_name: field("/bot/workspace_name"),
                bot_id: field("/id"),
            };
            let path = credentials.clone().unwrap_or_else(default_credentials_path);
            save_credentials(&path, &creds)?;
            println!(
                "logged in to workspace {} (bot {}); credentials in {}",
                creds.workspace_name.as_deref().unwrap_or("?"),
                creds.bot_id.as_deref().unwrap_or("?"),
                path.display()
            );
            Ok(())
        }
        AuthAction::Status { conn } => {
            let settings = Settings::resolve(&conn.into(), file)?;
            let me = settings.client()?.users_me().await?;
            let field = |p: &str| {
                me.pointer(p)
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string()
            };
            println!(
                "workspace: {} ({})",
                field("/bot/workspace_name"),
                field("/bot/workspace_id")
            );
            println!("bot:       {} ({})", field("/name"), field("/id"));
            match (&settings.token, &settings.credentials) {
                (None, Some(path)) => {
                    let creds = load_credentials(path)?;
                    let active = creds.app()?.introspect(&creds.access_token).await?;
                    println!(
                        "token:     OAuth, {} (introspect), from {}",
                        if active { "active" } else { "inactive" },
                        path.display()
                    );
                }
                _ => println!("token:     valid (internal integration token)"),
            }
            Ok(())
        }
        AuthAction::Logout { credentials } => {
            let path = credentials.clone().unwrap_or_else(default_credentials_path);
            let creds = load_credentials(&path)?;
            let app = creds.app()?;
            app.revoke(&creds.access_token).await?;
            if let Some(r) = &creds.refresh_token {
                app.revoke(r).await?;
            }
            std::fs::remove_file(&path).map_err(|source| CliError::Io {
                context: format!("removing {}", path.display()),
                source,
            })?;
            println!("logged out: tokens revoked, {} deleted", path.display());
            Ok(())
        }
    }
}

async fn run_sql(
    location: &str,
    commands: &[String],
    script: Option<&std::path::Path>,
    query: Option<&str>,
    format: Option<crate::shell::repl::OutputFormat>,
    max_rows: crate::shell::print::MaxRows,
) -> Result<(), CliError> {
    use crate::shell::repl::{OutputFormat, QUERIES, Shell, stdin_is_terminal};
    let terminal_out = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let format = format.unwrap_or(if terminal_out {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    });
    let lake = Lake::open_existing(location, &[]).map_err(SyncError::from)?;
    let mut shell = Shell::open(&lake, format)
        .await
        .map_err(|e| CliError::Shell(e.to_string()))?;
    shell.max_rows = max_rows;
    let mut text = String::new();
    if let Some(name) = query {
        let sql = QUERIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, sql)| *sql)
            .ok_or_else(|| {
                CliError::Shell(format!(
                    "no bundled query {name:?}; available: {}",
                    QUERIES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        text.push_str(sql);
    }
    for c in commands {
        text.push_str(c);
        text.push_str(if c.trim_end().ends_with(';') {
            "\n"
        } else {
            ";\n"
        });
    }
    if let Some(path) = script {
        text.push_str(
            &std::fs::read_to_string(path).map_err(|source| CliError::Io {
                context: format!("reading {}", path.display()),
                source,
            })?,
        );
    }
    if text.is_empty() {
        if stdin_is_terminal() {
            return shell
                .run_interactive()
                .await
                .map_err(|e| CliError::Shell(e.to_string()));
        }
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
            CliError::Io {
                context: "reading statements from stdin".into(),
                source,
            }
        })?;
    }
    match shell.run_script(&text).await {
        0 => Ok(()),
        n => Err(CliError::Shell(format!("{n} statement(s) failed"))),
    }
}

async fn run_demo(lake: &str, version: Option<String>, file: &FileConfig) -> Result<(), CliError> {
    let (ws, _) = demo_workspace();
    let fake = FakeNotion::start(
        ws,
        FakeConfig {
            rps: None,
            ..FakeConfig::default()
        },
    )
    .await
    .map_err(|source| CliError::Io {
        context: "starting the in-process demo server".into(),
        source,
    })?;
    let args = ConnectionArgs {
        token: Some(DEMO_TOKEN.into()),
        api_base: Some(fake.url()),
        notion_version: version,
        rps: Some(100.0),
        burst: Some(20),
        ..ConnectionArgs::default()
    };
    let demo_file = FileConfig {
        api_base: None,
        rps: None,
        burst: None,
        ..file.clone()
    };
    let settings = Settings::resolve(&args, &demo_file)?;
    println!(
        "demo: the built-in \"Acme Robotics\" workspace served by an in-process fake Notion at {}",
        fake.url()
    );
    let result = run_sync(&settings.client()?, lake, &SelectFlags::default().options()).await;
    fake.shutdown().await;
    result?;
    println!("\nThe lake is queryable with SQL. The bundled query pipeline_by_stage:\n");
    let shell_lake = Lake::open(lake).map_err(SyncError::from)?;
    let shell =
        crate::shell::repl::Shell::open(&shell_lake, crate::shell::repl::OutputFormat::Table)
            .await
            .map_err(|e| CliError::Shell(e.to_string()))?;
    let sql = crate::shell::repl::QUERIES
        .iter()
        .find(|(n, _)| *n == "pipeline_by_stage")
        .map(|(_, s)| *s)
        .unwrap_or("SELECT 1");
    print!(
        "{}",
        shell
            .execute(sql)
            .await
            .map_err(|e| CliError::Shell(e.to_string()))?
    );
    println!(
        "\nExplore it: notionlake sql --lake {lake}   (\\d lists the tables, \\queries the bundled queries)"
    );
    Ok(())
}

async fn run_fake(args: FakeNotionArgs) -> Result<(), CliError> {
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

/// A client for the demo/fake with a static token (used by tests and benches too).
pub fn fake_client(base: &str, config: ClientConfig) -> Result<NotionClient, NotionError> {
    let base_url = url::Url::parse(base).map_err(|e| NotionError::Config(e.to_string()))?;
    NotionClient::new(
        ClientConfig { base_url, ..config },
        Arc::new(StaticToken::new(DEMO_TOKEN)),
    )
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
