//! The SQL shell: every bundled query against the demo lake (snapshot-tested), the shell on S3
//! as on disk, piped statements where a bad one prints its error and the next runs, backslash
//! commands and output formats.

use std::io::Write;
use std::process::{Command, Stdio};

use notionlake::fake::FakeConfig;
use notionlake::shell::repl::{OutputFormat, QUERIES, Shell};
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::SyncOptions;

use crate::demo_fake;
use crate::lake::sync_with;

/// The demo, synced in full into a fresh local lake.
async fn demo_lake() -> (tempfile::TempDir, Lake) {
    demo_lake_in(None).await
}

/// The demo synced into a new lake of `format` (the default: Delta).
async fn demo_lake_in(format: Option<TableFormat>) -> (tempfile::TempDir, Lake) {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let options = SyncOptions {
        format,
        ..SyncOptions::default()
    };
    sync_with(&fake, &lake, &options).await;
    (dir, lake)
}

/// Queries that read the clock are pinned to a fixed instant so that snapshots hold.
fn pinned(sql: &str) -> String {
    sql.replace("now()", "TIMESTAMP '2026-11-24T00:00:00Z'")
}

#[tokio::test]
async fn every_bundled_query_runs_on_the_demo_lake() {
    // Both formats give the same answers: the same snapshots, and the same `\d deals`.
    let mut described = Vec::new();
    for format in [TableFormat::Delta, TableFormat::Parquet] {
        let (_dir, lake) = demo_lake_in(Some(format)).await;
        let shell = Shell::open(&lake, OutputFormat::Table).await.unwrap();
        for (name, sql) in QUERIES {
            let out = shell
                .execute(&pinned(sql))
                .await
                .unwrap_or_else(|e| panic!("{name} ({format:?}): {e}"));
            assert!(out.lines().count() > 4, "{name} returned no rows:\n{out}");
            insta::assert_snapshot!(format!("query_{name}"), out);
        }
        // `\d` also lists the columns each format's history adds: `sync_date` (Parquet),
        // `_commit_version` and `_commit_timestamp` (Delta); the rest must be the same.
        let d = shell.command("\\d deals").await.unwrap();
        let history_only = ["sync_date ", "_commit_version ", "_commit_timestamp "];
        let common: Vec<String> = d
            .lines()
            .filter(|l| !history_only.iter().any(|h| l.starts_with(h)))
            .map(str::to_string)
            .collect();
        assert!(common.len() > 40, "{d}");
        described.push(common);
    }
    assert_eq!(described[0], described[1]);
}

#[tokio::test]
async fn the_shell_reads_a_lake_on_s3_as_on_disk() {
    let moto = crate::lake::Moto::start("sql").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s3 = Lake::open_with("s3://sql/demo", &refs).unwrap();
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    sync_with(&fake, &s3, &SyncOptions::default()).await;
    let (_dir, local) = demo_lake().await;
    let (remote, disk) = (
        Shell::open(&s3, OutputFormat::Csv).await.unwrap(),
        Shell::open(&local, OutputFormat::Csv).await.unwrap(),
    );
    for (name, sql) in QUERIES {
        let sql = pinned(sql);
        assert_eq!(
            remote.execute(&sql).await.unwrap(),
            disk.execute(&sql).await.unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        remote.command("\\d").await.unwrap(),
        disk.command("\\d").await.unwrap()
    );
}

#[tokio::test]
async fn backslash_commands_describe_tables_with_notion_names() {
    let (_dir, lake) = demo_lake().await;
    let shell = Shell::open(&lake, OutputFormat::Table).await.unwrap();
    let tables = shell.command("\\d").await.unwrap();
    for t in [
        "deals ",
        "deals_history",
        "blocks ",
        "pages ",
        "tombstones ",
    ] {
        assert!(tables.contains(t), "{t} missing from:\n{tables}");
    }
    let deals = shell.command("\\d deals").await.unwrap();
    let close = deals
        .lines()
        .find(|l| l.starts_with("close_date "))
        .unwrap();
    assert!(
        close.contains("Close date")
            && close.contains("date")
            && close.contains("struct<start: timestamp[us, UTC]"),
        "{close}"
    );
    assert!(
        shell
            .command("\\d nope")
            .await
            .unwrap_err()
            .to_string()
            .contains("no table")
    );
    assert!(
        shell
            .command("\\queries")
            .await
            .unwrap()
            .contains("pipeline_by_stage")
    );
    assert!(shell.command("\\bogus").await.is_err());
}

#[tokio::test]
async fn output_formats() {
    let (_dir, lake) = demo_lake().await;
    let mut shell = Shell::open(&lake, OutputFormat::Csv).await.unwrap();
    let sql = "SELECT stage, count(*) AS n FROM deals GROUP BY stage ORDER BY stage LIMIT 2";
    assert_eq!(
        shell.execute(sql).await.unwrap(),
        "stage,n\nLead,5\nLost,4\n"
    );
    shell.format = OutputFormat::Json;
    assert_eq!(
        shell.execute(sql).await.unwrap(),
        "[{\"stage\":\"Lead\",\"n\":5},{\"stage\":\"Lost\",\"n\":4}]\n"
    );
    shell.format = OutputFormat::Ndjson;
    assert_eq!(
        shell.execute(sql).await.unwrap(),
        "{\"stage\":\"Lead\",\"n\":5}\n{\"stage\":\"Lost\",\"n\":4}\n"
    );
    shell.format = OutputFormat::Json;
    assert_eq!(
        shell.execute("SELECT 1 AS x WHERE false").await.unwrap(),
        "[]\n"
    );
}

#[tokio::test]
async fn piped_statements_go_on_after_an_error() {
    let (dir, _lake) = demo_lake().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_notionlake"))
        .args(["sql", "--lake", dir.path().to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT nope FROM deals;\n\\d deals\nSELECT count(*) AS n\n  FROM deals; -- a multi-line statement\n\\q\nSELECT 'never';\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stderr.contains("error:") && stderr.contains("nope"),
        "{stderr}"
    );
    assert!(stdout.contains("Close date"), "\\d ran: {stdout}");
    assert!(
        stdout.contains("n\n24\n"),
        "the statement after the error ran: {stdout}"
    );
    assert!(!stdout.contains("never"), "\\q stops: {stdout}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed statement fails the run"
    );
}

#[tokio::test]
async fn duckdb_runs_the_documented_latest_view() {
    // Two syncs with an edit between them, so history and latest differ.
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    // The documented view is the Parquet format's latest state (a Delta table is its own).
    let parquet = SyncOptions {
        format: Some(notionlake::sink::TableFormat::Parquet),
        ..SyncOptions::default()
    };
    sync_with(&fake, &lake, &parquet).await;
    {
        let mut ws = fake.workspace_mut();
        let rows = ws.data_sources[&ids.data_sources["Deals"]].rows.clone();
        let ada = ids.people["ada"].clone();
        ws.edit_page_now(&rows[0], &ada, |p| {
            p.properties.insert("dAmt".into(), serde_json::json!(1.0));
        });
        ws.edit_page_now(&rows[1], &ada, |p| p.in_trash = true);
    }
    sync_with(&fake, &lake, &parquet).await;
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/latest-and-history.md"
    ))
    .unwrap();
    let view = doc
        .split("## Parquet")
        .nth(1)
        .unwrap()
        .split("```sql\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap()
        .replace("lake/", &format!("{}/", dir.path().display()));
    let script = format!(
        "import duckdb, json\ncon = duckdb.connect()\ncon.execute({view:?})\nprint(json.dumps(con.execute('SELECT count(*), sum(amount) FROM deals').fetchall()[0]))"
    );
    let duck: serde_json::Value =
        serde_json::from_str(&crate::lake::run_python(&script, &[])).unwrap();
    let shell = Shell::open(&lake, OutputFormat::Json).await.unwrap();
    let ours: serde_json::Value = serde_json::from_str(
        &shell
            .execute("SELECT count(*) AS n, sum(amount) AS s FROM deals")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(duck, serde_json::json!([ours[0]["n"], ours[0]["s"]]));
    assert_eq!(
        ours[0]["n"], 23,
        "the trashed deal is gone from the latest view"
    );
}

/// Regression: results were collected whole and printed without a row limit or a footer.
#[tokio::test]
async fn results_stream_with_a_row_limit_for_tables_and_a_footer() {
    let (dir, lake) = demo_lake().await;
    let blocks = Shell::open(&lake, OutputFormat::Csv)
        .await
        .unwrap()
        .execute("SELECT count(*) AS n FROM blocks")
        .await
        .unwrap();
    let total: usize = blocks.lines().nth(1).unwrap().parse().unwrap();
    assert!(total > 200, "{total}");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_notionlake"))
            .args(["sql", "--lake", dir.path().to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let sql = "SELECT id, type FROM blocks ORDER BY id";
    // The table shows 40 rows by default and says how many there were.
    let (out, _) = run(&["--format", "table", "-c", sql]);
    let data_rows = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| id "))
        .count();
    assert_eq!(data_rows, 40, "{out}");
    assert!(
        out.contains(&format!("{total} rows in ")) && out.contains("(40 shown;"),
        "{out}"
    );
    let (out, _) = run(&["--format", "table", "--maxrows", "5", "-c", sql]);
    let data_rows = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| id "))
        .count();
    assert_eq!(data_rows, 5, "{out}");
    let (out, _) = run(&["--format", "table", "--maxrows", "0", "-c", sql]);
    let data_rows = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| id "))
        .count();
    assert_eq!(data_rows, total, "--maxrows 0 shows all");
    assert!(!out.contains(" shown;"), "{out}");
    // Machine formats print every row; the footer goes to stderr.
    let (out, err) = run(&["--format", "csv", "-c", sql]);
    assert_eq!(out.lines().count(), total + 1, "header and every row");
    assert!(err.contains(&format!("{total} rows in ")), "{err}");
    let (out, _) = run(&["--format", "ndjson", "-c", sql]);
    assert_eq!(out.lines().count(), total);
    // `;` inside strings and block comments does not split a statement.
    let (out, _) = run(&[
        "--format",
        "csv",
        "-c",
        "SELECT 'a;b' AS x /* c; d */, 'it''s;' AS y",
    ]);
    assert_eq!(out, "x,y\na;b,it's;\n");
}

#[tokio::test]
async fn a_reader_of_one_table_registers_only_it_and_what_its_view_reads() {
    for format in [TableFormat::Delta, TableFormat::Parquet] {
        let (_dir, lake) = demo_lake_in(Some(format)).await;
        let ctx = datafusion::prelude::SessionContext::new();
        let tables = notionlake::shell::register_tables(&ctx, &lake, Some(&["pages"]))
            .await
            .unwrap();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["pages", "tombstones"], "{format:?}");
        let n = crate::lake::rows(&ctx, "SELECT count(*) AS n FROM pages").await;
        assert!(n[0]["n"].as_u64().unwrap() > 100, "{format:?}");
    }
}
