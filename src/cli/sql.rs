//! `notionlake sql`: the shell, statements from flags, files or stdin, bundled queries.

use super::*;
use crate::sink::Lake;
use crate::sync::SyncError;

pub(super) async fn run_sql(
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
