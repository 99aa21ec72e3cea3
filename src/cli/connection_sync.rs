//! A connection's own sync options: the `sync` table of a `[[connection]]` entry, whose keys are
//! the sync flags' long names (`comments = "all"`, `files = "none"`, `include = ["tables"]`,
//! `full_every = 10`). They are read by the same clap definitions as the command line, so they
//! take the same values and defaults; a flag given on the command line wins over every
//! connection's table. Which flags the command line gave is read from clap's value sources when
//! the command line is parsed (`super::parse`).

use std::collections::BTreeSet;

use clap::{Args, FromArgMatches};

use super::SelectFlags;
use crate::config::ConfigError;

/// Sync flags a connection's table may not set: they belong to the whole process.
const PROCESS_WIDE: [&str; 2] = ["watch", "stop_grace"];

/// The clap command that reads a connection's sync table.
fn table_command() -> clap::Command {
    SelectFlags::augment_args(clap::Command::new("sync").no_binary_name(true))
}

/// A connection's sync flags: its `table` over the defaults, under the flags the command line
/// gave (`explicit`, with their values in `cli`).
pub(super) fn connection_flags(
    connection: &str,
    table: &toml::Table,
    cli: &SelectFlags,
    explicit: &BTreeSet<String>,
) -> Result<SelectFlags, ConfigError> {
    let command = table_command();
    let invalid = |key: &str, message: String| ConfigError::Connection {
        connection: connection.to_string(),
        field: format!("sync.{key}"),
        message,
    };
    let mut argv: Vec<String> = Vec::new();
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long().is_some_and(|l| l.replace('-', "_") == *key))
            .filter(|a| !PROCESS_WIDE.contains(&a.get_id().as_str()))
            .ok_or_else(|| {
                invalid(
                    key,
                    "not a sync option a connection can set (the sync flags' long names, with _ for -, except watch and stop_grace)".into(),
                )
            })?;
        if explicit.contains(arg.get_id().as_str()) {
            continue;
        }
        let flag = format!("--{}", arg.get_long().unwrap_or_default());
        let values = match value {
            toml::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        let mut args = Vec::new();
        for v in values {
            match v {
                toml::Value::Boolean(true) => args.push(flag.clone()),
                toml::Value::Boolean(false) => {}
                other => {
                    let v = scalar(other).map_err(|m| invalid(key, m))?;
                    args.push(format!("{flag}={v}"));
                }
            }
        }
        // Each key alone first, so that an error names its key.
        table_command()
            .try_get_matches_from(&args)
            .map_err(|e| invalid(key, clap_message(&e)))?;
        argv.extend(args);
    }
    let matches = command
        .try_get_matches_from(&argv)
        .map_err(|e| invalid("?", clap_message(&e)))?;
    let mut flags =
        SelectFlags::from_arg_matches(&matches).map_err(|e| invalid("?", clap_message(&e)))?;
    keep_explicit(&mut flags, cli, explicit);
    Ok(flags)
}

/// The first line of clap's error, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.trim_start_matches("error: ").to_string()
}

/// A TOML value as one flag value.
fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "expected a string, number or boolean, got {}",
            other.type_str()
        )),
    }
}

/// Defines [`FIELDS`] and [`keep_explicit`] from one list of [`SelectFlags`]'s fields (a test
/// checks the list against clap's).
macro_rules! select_fields {
    ($($field:ident),* $(,)?) => {
        /// Every field of [`SelectFlags`], by clap id.
        #[cfg(test)]
        const FIELDS: &[&str] = &[$(stringify!($field)),*];

        /// Copies the fields the command line gave explicitly from `cli` into `flags`; the
        /// process-wide ones always.
        fn keep_explicit(flags: &mut SelectFlags, cli: &SelectFlags, explicit: &BTreeSet<String>) {
            $( if explicit.contains(stringify!($field)) { flags.$field = cli.$field.clone(); } )*
            flags.watch = cli.watch;
            flags.stop_grace = cli.stop_grace;
        }
    };
}

select_fields!(
    include,
    exclude,
    comments,
    comments_refresh,
    checkpoint_every,
    stop_grace,
    comments_refresh_budget,
    content,
    roots,
    databases,
    max_depth,
    concurrency,
    full_refresh,
    full_every,
    marks_in_memory,
    ascii_names,
    watch,
    files,
    max_file_mb,
    files_budget_mb,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::CommentsMode;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_table_sets_its_connection_and_the_command_line_wins() {
        let cli = SelectFlags {
            comments: CommentsMode::None,
            ..SelectFlags::default()
        };
        let t = table(
            "comments = \"all\"\nfiles = \"none\"\nfull_every = 7\ninclude = [\"tables\", \"users\"]\nfull_refresh = true",
        );
        let f = connection_flags("acme", &t, &cli, &BTreeSet::new()).unwrap();
        assert_eq!(f.comments, CommentsMode::All);
        assert_eq!(f.files, crate::files::FilesMode::None);
        assert_eq!(f.full_every, 7);
        assert_eq!(f.include.len(), 2);
        assert!(f.full_refresh);
        let explicit = BTreeSet::from(["comments".to_string()]);
        let f = connection_flags("acme", &t, &cli, &explicit).unwrap();
        assert_eq!(f.comments, CommentsMode::None, "the command line wins");
        assert_eq!(f.full_every, 7);
    }

    #[test]
    fn a_bad_key_or_value_names_the_connection_and_the_field() {
        let cli = SelectFlags::default();
        let e = connection_flags("acme", &table("comment = \"all\""), &cli, &BTreeSet::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("acme") && e.contains("sync.comment"), "{e}");
        let e = connection_flags("acme", &table("watch = \"5m\""), &cli, &BTreeSet::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("sync.watch"), "{e}");
        let e = connection_flags(
            "acme",
            &table("comments = \"most\""),
            &cli,
            &BTreeSet::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("acme") && e.contains("most"), "{e}");
    }

    #[test]
    fn every_sync_flag_is_copied_when_explicit() {
        let ids: BTreeSet<String> = table_command()
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "help")
            .collect();
        let listed: BTreeSet<String> = FIELDS.iter().map(|s| s.to_string()).collect();
        assert_eq!(ids, listed, "select_fields! lists every SelectFlags field");
    }
}
