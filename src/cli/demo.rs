//! `notionlake demo`: the demo workspace synced into a lake, then a bundled query.

use super::*;
use crate::config::{ConnectionArgs, FileConfig, Settings};
use crate::fake::{DEMO_TOKEN, FakeConfig, FakeNotion, demo_workspace};
use crate::sink::Lake;
use crate::sync::SyncError;

pub(super) async fn run_demo(
    lake: &str,
    version: Option<String>,
    format: Option<crate::sink::TableFormat>,
    file: &FileConfig,
) -> Result<(), CliError> {
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
        token: Some(crate::notion::SecretString::new(DEMO_TOKEN)),
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
    let opened = Lake::open(lake).map_err(SyncError::from)?;
    let result = run_sync(
        &settings.client()?,
        &opened,
        &crate::sync::SyncOptions {
            format,
            ..SelectFlags::default().options()
        },
    )
    .await;
    fake.shutdown().await;
    result?;
    println!("\nThe lake is queryable with SQL. The bundled query pipeline_by_stage:\n");
    let shell = crate::shell::repl::Shell::open(&opened, crate::shell::repl::OutputFormat::Table)
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
