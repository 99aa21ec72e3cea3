//! Helpers to sync the demo into a lake and read it back with DataFusion as JSON rows, plus the
//! external test tools (a moto S3 server, a Python with pyarrow and duckdb) that `.ci/run`
//! installs into `$HOME/.cache/notionlake-venv`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use datafusion::prelude::SessionContext;
use notionlake::fake::FakeNotion;
use notionlake::notion::NotionVersion;
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, SyncReport, sync_workspace};
use serde_json::Value;

use crate::{client_with, test_config};

/// Syncs the fake's data sources (typed tables only) into `lake`.
pub async fn sync_into(fake: &FakeNotion, lake: &Lake) -> SyncReport {
    sync_with(fake, lake, &SyncOptions::tables_only()).await
}

/// Syncs the fake's workspace into `lake` with `options`.
pub async fn sync_with(fake: &FakeNotion, lake: &Lake, options: &SyncOptions) -> SyncReport {
    let client = client_with(test_config(fake, NotionVersion::V2025_09_03));
    sync_workspace(&client, lake, options).await.expect("sync")
}

/// A DataFusion session over the lake at `dir`, its tables registered by the shell's own
/// registration (whatever the lake's format): `tables` must be among them.
pub async fn session(dir: &Path, tables: &[&str]) -> SessionContext {
    // Plain Utf8 rather than DataFusion's default Utf8View, so that schemas read back are the
    // files' own types.
    let config = datafusion::prelude::SessionConfig::new().set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let ctx = SessionContext::new_with_config(config);
    let lake = Lake::open_existing(dir.to_str().unwrap(), &[]).unwrap();
    let registered = notionlake::shell::register_lake(&ctx, &lake)
        .await
        .unwrap_or_else(|e| panic!("register the lake: {e}"));
    for t in tables {
        assert!(
            registered.iter().any(|r| r.name == *t),
            "table {t} is not in the lake"
        );
    }
    ctx
}

/// Runs SQL and returns the rows as JSON objects.
pub async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Value> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b).unwrap();
    }
    writer.finish().unwrap();
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&bytes).unwrap()
}

/// The rows `sql` gives over the lake, without the columns about the run that wrote them
/// (`_synced_at`, `_run_id`) and with Notion-hosted files unsigned ([`unsigned`]): what two
/// lakes holding the same Notion state agree on.
pub async fn content_rows(lake: &Lake, sql: &str) -> Vec<Value> {
    let ctx = SessionContext::new();
    notionlake::shell::register_lake(&ctx, lake).await.unwrap();
    let mut out = rows(&ctx, sql).await;
    for r in &mut out {
        if let Some(o) = r.as_object_mut() {
            o.retain(|k, _| k != "_synced_at" && k != "_run_id");
        }
        unsigned(r);
    }
    out
}

/// The origin every fake's file host is written as in [`unsigned_text`].
pub const FAKE_FILE_HOST: &str = "https://files.fake.test/";

/// `text` with each Notion-hosted file's signed URL cut before its query string: two reads of
/// one file differ only there (Notion signs every read anew), as two reads of the fake do; and
/// the fake's file host (`http://<its address>/__files/`) written as [`FAKE_FILE_HOST`], since
/// two fakes serve the same files at two addresses.
pub fn unsigned_text(text: &str) -> String {
    let text = neutral_file_host(text);
    let text = text.as_str();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("?X-Amz-") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '<' | '>' | '\\'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with every `http://<address>/__files/` written as [`FAKE_FILE_HOST`].
fn neutral_file_host(text: &str) -> String {
    const PATH: &str = "/__files/";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PATH) {
        let origin = rest[..at].rfind("http://").filter(|o| {
            rest[o + 7..at]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        });
        match origin {
            Some(o) => {
                out.push_str(&rest[..o]);
                out.push_str(FAKE_FILE_HOST);
            }
            None => out.push_str(&rest[..at + PATH.len()]),
        }
        rest = &rest[at + PATH.len()..];
    }
    out.push_str(rest);
    out
}

/// `v` with every Notion-hosted file unsigned ([`unsigned_text`]) and every `expiry_time`
/// cleared, in JSON text held in a string too (a block's `raw` column): what two reads of the
/// same Notion state agree on.
pub fn unsigned(v: &mut Value) {
    match v {
        Value::String(s)
            if s.contains("expiry_time") || s.contains("?X-Amz-") || s.contains("/__files/") =>
        {
            match serde_json::from_str::<Value>(s) {
                Ok(mut inner) if inner.is_object() || inner.is_array() => {
                    unsigned(&mut inner);
                    *s = inner.to_string();
                }
                _ => *s = unsigned_text(s),
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "expiry_time" {
                    *x = Value::Null;
                } else {
                    unsigned(x);
                }
            }
        }
        _ => {}
    }
}

pub fn venv_bin(name: &str) -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let venv = std::env::var("NOTIONLAKE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(home).join(".cache/notionlake-venv"));
    let bin = venv.join("bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: the S3 and interop tests need moto, pyarrow and duckdb; run `bash .ci/run` once (it installs them into {}) or set NOTIONLAKE_VENV",
        bin.display(),
        venv.display()
    );
    bin
}

/// The venv's Python (with pyarrow and duckdb).
pub fn python() -> PathBuf {
    venv_bin("python")
}

/// Runs `script` with the venv's Python (pyarrow, duckdb) and `args` as `sys.argv[1:]`;
/// fails the test with Python's stderr unless it succeeds. Returns its stdout.
pub fn run_python(script: &str, args: &[&Path]) -> String {
    // Python's deltalake can abort while the interpreter shuts down after reading a table
    // with more than one version ("terminate called without an active exception"): the
    // script's work is done by then, so it ends without that teardown.
    let script =
        format!("{script}\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_os._exit(0)\n");
    let out = Command::new(python())
        .arg("-c")
        .arg(&script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A moto S3 server on a free loopback port, stopped on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto and creates `bucket`.
    pub async fn start(bucket: &str) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..100 {
            if http.get(&endpoint).send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "moto did not start on {endpoint}");
        let r = http
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        Moto { child, endpoint }
    }

    /// object_store settings for this server.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint.clone()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", "test".into()),
            ("aws_secret_access_key", "test".into()),
            ("aws_region", "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The latest content of every table of `lake`, without the columns about the run that wrote
/// a row, Notion-hosted files unsigned ([`unsigned`]), rows in a stable order: what two lakes
/// holding the same Notion state agree on.
pub async fn snapshot(lake: &Lake) -> std::collections::BTreeMap<String, Vec<Value>> {
    let ctx = SessionContext::new();
    let tables = notionlake::shell::register_lake(&ctx, lake).await.unwrap();
    let mut out = std::collections::BTreeMap::new();
    for t in tables {
        let mut r = rows(&ctx, &format!("SELECT * FROM \"{}\"", t.name)).await;
        for row in &mut r {
            let o = row.as_object_mut().unwrap();
            // `files`' first and last seen are the times of the runs that read a reference.
            let run_times = t.name == "files";
            o.retain(|k, _| {
                let about_the_run = k.starts_with("_synced")
                    || k.starts_with("_run")
                    || k == "sync_date"
                    || (run_times && matches!(k.as_str(), "first_seen" | "last_seen"));
                !about_the_run
            });
            unsigned(row);
        }
        let mut keyed: Vec<(String, Value)> = r.into_iter().map(|v| (v.to_string(), v)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        out.insert(t.name, keyed.into_iter().map(|(_, v)| v).collect());
    }
    out
}
