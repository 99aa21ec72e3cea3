//! The SQL shell in the manner of datafusion-cli and the duckdb CLI: statements end with `;`
//! and may span lines; backslash commands (`\d`, `\d name`, `\queries`, `\q`); an interactive
//! loop with history where ctrl-c cancels the running query, not the shell; scripts from `-c`,
//! `-f` or stdin where a failing statement prints its error and the next one runs.

use std::collections::HashMap;
use std::io::IsTerminal;

use datafusion::prelude::SessionContext;

pub use super::error::ShellError;
pub use super::print::{MaxRows, OutputFormat};
use super::print::{Printed, print_stream};
use super::statements::{has_sql, split_statements};
use super::{RegisteredTable, register_lake};
use crate::flatten::mapping::type_name;
use crate::sink::Lake;
use crate::state::Registry;
use crate::state::registry::REGISTRY_PATH;

/// The bundled queries of `queries/`, by name.
pub const QUERIES: &[(&str, &str)] = &[
    (
        "deals_per_owner",
        include_str!("../../queries/deals_per_owner.sql"),
    ),
    (
        "deals_with_companies",
        include_str!("../../queries/deals_with_companies.sql"),
    ),
    (
        "most_linked_pages",
        include_str!("../../queries/most_linked_pages.sql"),
    ),
    (
        "most_discussed_pages",
        include_str!("../../queries/most_discussed_pages.sql"),
    ),
    (
        "open_action_items",
        include_str!("../../queries/open_action_items.sql"),
    ),
    (
        "overdue_tasks_by_assignee",
        include_str!("../../queries/overdue_tasks_by_assignee.sql"),
    ),
    (
        "pages_edited_per_person_per_week",
        include_str!("../../queries/pages_edited_per_person_per_week.sql"),
    ),
    (
        "pipeline_by_stage",
        include_str!("../../queries/pipeline_by_stage.sql"),
    ),
    (
        "search_documents",
        include_str!("../../queries/search_documents.sql"),
    ),
    (
        "stale_documents",
        include_str!("../../queries/stale_documents.sql"),
    ),
    (
        "tasks_completed_per_week",
        include_str!("../../queries/tasks_completed_per_week.sql"),
    ),
    (
        "win_rate_by_month",
        include_str!("../../queries/win_rate_by_month.sql"),
    ),
];

/// A session over one lake.
pub struct Shell {
    ctx: SessionContext,
    tables: Vec<RegisteredTable>,
    registry: Registry,
    /// Output format.
    pub format: OutputFormat,
    /// Rows the aligned table shows.
    pub max_rows: MaxRows,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("tables", &self.tables)
            .finish()
    }
}

impl Shell {
    /// Opens a shell on a lake: every table registered, the schema registry loaded.
    pub async fn open(lake: &Lake, format: OutputFormat) -> Result<Shell, ShellError> {
        let registry = match lake.read(REGISTRY_PATH).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "the lake's schema registry is not valid JSON ({e}); \\d shows no Notion names"
                );
                Registry::default()
            }),
            Ok(None) => {
                return Err(ShellError::NoLake {
                    location: lake.location(),
                });
            }
            Err(e) => return Err(ShellError::Lake(e)),
        };
        let ctx = SessionContext::new();
        let tables = register_lake(&ctx, lake).await?;
        Ok(Shell {
            ctx,
            tables,
            registry,
            format,
            max_rows: MaxRows::default(),
        })
    }

    /// Runs one statement and returns its printed result (without the footer).
    pub async fn execute(&self, sql: &str) -> Result<String, ShellError> {
        let mut out = Vec::new();
        self.print(sql, &mut out).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Runs one statement and writes its result to `out` as the batches arrive.
    pub async fn print(
        &self,
        sql: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<Printed, ShellError> {
        let stream = self.ctx.sql(sql).await?.execute_stream().await?;
        print_stream(stream, self.format, self.max_rows, out).await
    }

    /// Runs one statement, streams its result to stdout and ends with the footer (on stdout
    /// under the aligned table, on stderr under machine formats so that their output stays
    /// clean).
    async fn print_with_footer(&self, sql: &str) -> Result<(), ShellError> {
        let started = std::time::Instant::now();
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let printed = self.print(sql, &mut out).await;
        std::io::Write::flush(&mut out).map_err(|e| ShellError::Command(e.to_string()))?;
        drop(out);
        let footer = printed?.footer(started.elapsed());
        if self.format == OutputFormat::Table {
            println!("{footer}");
        } else {
            eprintln!("{footer}");
        }
        Ok(())
    }

    /// Runs a backslash command.
    pub async fn command(&self, line: &str) -> Result<String, ShellError> {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("\\d"), None) => Ok(self.list_tables()),
            (Some("\\d"), Some(name)) => self.describe(name.trim_end_matches(';')).await,
            (Some("\\queries"), _) => Ok(QUERIES
                .iter()
                .map(|(n, sql)| format!("{n:<34} {}\n", first_comment(sql)))
                .collect()),
            (Some("\\?") | Some("\\help"), _) => Ok(HELP.to_string()),
            _ => Err(ShellError::Command(format!(
                "unknown command {line:?}; \\? lists the commands"
            ))),
        }
    }

    fn list_tables(&self) -> String {
        let mut out = String::from("table                          kind         history table\n");
        for t in &self.tables {
            let kind = if t.data_source {
                "data source"
            } else {
                "workspace"
            };
            out.push_str(&format!("{:<30} {:<12} {}\n", t.name, kind, t.history));
        }
        out
    }

    async fn describe(&self, name: &str) -> Result<String, ShellError> {
        let entry = self.registry.tables.values().find(|t| t.table == name);
        // A formula that reads the clock says so: its stored value ages with the row.
        let clock: Vec<&str> = entry
            .map(|e| {
                e.properties
                    .iter()
                    .filter(|p| p.reads_clock())
                    .map(|p| p.id.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let notion: HashMap<&str, (&str, &str)> = entry
            .map(|e| {
                e.columns
                    .iter()
                    .filter(|c| c.active)
                    .map(|c| {
                        let kind = if clock.contains(&c.property_id.as_str()) {
                            "formula (reads the clock: as of the row's last read)"
                        } else {
                            c.notion_type.as_str()
                        };
                        (c.column.as_str(), (c.name.as_str(), kind))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let table = self
            .tables
            .iter()
            .find(|t| t.name == name || t.history == name)
            .ok_or_else(|| {
                ShellError::Command(format!("no table {name:?}; \\d lists the tables"))
            })?;
        let provider = self.ctx.table(table.history.as_str()).await?;
        let schema = provider.schema().as_arrow().clone();
        let mut out = format!(
            "{:<28} {:<40} {:<24} {}\n",
            "column", "type", "Notion property", "Notion type"
        );
        for f in schema.fields() {
            let (pname, ptype) = notion.get(f.name().as_str()).copied().unwrap_or(("", ""));
            out.push_str(&format!(
                "{:<28} {:<40} {:<24} {}\n",
                f.name(),
                type_name(f.data_type()),
                pname,
                ptype
            ));
        }
        Ok(out)
    }

    /// Runs a script (statements and backslash commands); prints results to stdout and errors
    /// to stderr, going on after a failure. Returns the number of failed statements.
    pub async fn run_script(&self, script: &str) -> usize {
        let mut failures = 0;
        let mut sql_buffer = String::new();
        for line in script.lines() {
            if sql_buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
                if line.trim() == "\\q" {
                    break;
                }
                match self.command(line.trim()).await {
                    Ok(text) => print!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failures += 1;
                    }
                }
                continue;
            }
            sql_buffer.push_str(line);
            sql_buffer.push('\n');
            let (statements, rest) = split_statements(&sql_buffer);
            for s in statements {
                failures += usize::from(!self.run_one(&s).await);
            }
            sql_buffer = rest;
        }
        if has_sql(&sql_buffer) {
            failures += usize::from(!self.run_one(sql_buffer.trim()).await);
        }
        failures
    }

    async fn run_one(&self, sql: &str) -> bool {
        match self.print_with_footer(sql).await {
            Ok(()) => true,
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    }

    /// The interactive loop: history in the user's data directory, multi-line statements, ctrl-c
    /// cancels the running query (or clears the line), ctrl-d or `\q` quits.
    pub async fn run_interactive(&self) -> Result<(), ShellError> {
        let mut rl =
            rustyline::DefaultEditor::new().map_err(|e| ShellError::Command(e.to_string()))?;
        let history = dirs::data_dir().map(|d| d.join("notionlake").join("sql_history"));
        if let Some(h) = &history {
            let _ = std::fs::create_dir_all(h.parent().unwrap_or(h));
            let _ = rl.load_history(h);
        }
        println!(
            "notionlake SQL shell: {} tables. End statements with ';'. \\? for help, \\q to quit.",
            self.tables.len()
        );
        let mut buffer = String::new();
        loop {
            let prompt = prompt_for(&buffer);
            let line = match tokio::task::block_in_place(|| rl.readline(prompt)) {
                Ok(l) => l,
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    buffer.clear();
                    continue;
                }
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => return Err(ShellError::Command(e.to_string())),
            };
            if buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
                let _ = rl.add_history_entry(line.as_str());
                if line.trim() == "\\q" {
                    break;
                }
                match self.command(line.trim()).await {
                    Ok(t) => print!("{t}"),
                    Err(e) => eprintln!("error: {e}"),
                }
                continue;
            }
            let typed = format!("{buffer}{line}\n");
            let (statements, rest) = take_line(&buffer, &line);
            if statements.is_empty() {
                buffer = rest;
                continue;
            }
            let _ = rl.add_history_entry(typed.trim());
            buffer = rest;
            for s in statements {
                tokio::select! {
                    result = self.print_with_footer(&s) => if let Err(e) = result {
                        eprintln!("error: {e}");
                    },
                    _ = tokio::signal::ctrl_c() => eprintln!("query cancelled"),
                }
            }
        }
        if let Some(h) = &history {
            let _ = rl.save_history(h);
        }
        Ok(())
    }
}

/// The prompt for the text typed so far: the main one when no statement is begun.
fn prompt_for(pending: &str) -> &'static str {
    if has_sql(pending) {
        "        ...> "
    } else {
        "notionlake> "
    }
}

/// Adds a typed line to the pending text: the statements it completes, and the pending text
/// left (empty when nothing but white space and comments follows the last statement).
fn take_line(pending: &str, line: &str) -> (Vec<String>, String) {
    let (statements, rest) = split_statements(&format!("{pending}{line}\n"));
    let rest = if has_sql(&rest) { rest } else { String::new() };
    (statements, rest)
}

fn first_comment(sql: &str) -> &str {
    sql.lines()
        .next()
        .map(|l| l.trim_start_matches("--").trim())
        .unwrap_or("")
}

const HELP: &str =
    "\\d              list tables (<name> = latest state, <name>_history = every version)
\\d <table>      describe a table: columns, types, Notion property names and types
\\queries        list the bundled queries (run one with `notionlake sql --query <name>`)
\\q              quit (or ctrl-d)
Statements end with ';'. ctrl-c cancels a running query.
";

/// Whether stdin is a terminal (then the shell is interactive).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: after a complete statement the prompt stayed at the continuation prompt.
    #[test]
    fn the_prompt_returns_after_a_complete_statement() {
        let (done, rest) = take_line("", "SELECT 1;");
        assert_eq!(done, ["SELECT 1"]);
        assert_eq!(prompt_for(&rest), "notionlake> ");
        let (done, rest) = take_line("", "SELECT 1; -- done");
        assert_eq!(done.len(), 1);
        assert_eq!(prompt_for(&rest), "notionlake> ");
        let (done, rest) = take_line("", "SELECT");
        assert!(done.is_empty());
        assert_eq!(prompt_for(&rest), "        ...> ");
        let (done, rest) = take_line(&rest, "  2; SELECT");
        assert_eq!(done, ["SELECT\n  2"]);
        assert_eq!(prompt_for(&rest), "        ...> ");
    }

    #[test]
    fn every_bundled_query_is_documented() {
        assert!(QUERIES.len() >= 8);
        for (name, sql) in QUERIES {
            assert!(
                sql.starts_with("--"),
                "{name} starts with a comment saying what it answers"
            );
        }
    }
}
