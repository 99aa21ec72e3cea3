//! Parsing the process's command line: clap's derive types, plus what derive alone does not
//! give: the long `--version` text built at run time, and which sync flags the command line (or
//! the environment) gave explicitly, so that they win over a connection's own sync options.

use std::collections::BTreeSet;

use clap::{CommandFactory, FromArgMatches, parser::ValueSource};

use super::Cli;

/// Parses the process's command line (with the long `--version` text), recording which sync
/// flags it gave explicitly.
pub fn parse() -> Cli {
    let matches = Cli::command()
        .long_version(crate::build_info::long_version_static())
        .get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(("sync", sync)) = matches.subcommand() {
        cli.explicit_sync_flags = explicit_ids(sync);
    }
    cli
}

/// The ids of the arguments `matches` got from the command line or the environment.
fn explicit_ids(matches: &clap::ArgMatches) -> BTreeSet<String> {
    matches
        .ids()
        .filter(|id| {
            matches!(
                matches.value_source(id.as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
        .map(|id| id.as_str().to_string())
        .collect()
}
