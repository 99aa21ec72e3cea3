//! `notionlake completions <shell>` and `notionlake man`: shell completion scripts
//! (clap_complete) and man pages (clap_mangen), both generated from the clap definitions, so
//! they list exactly the commands and flags the binary takes.

use std::path::Path;

use clap::CommandFactory;

use super::*;

/// Prints the completion script of `shell`.
pub(super) fn print_completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "notionlake", &mut std::io::stdout());
    Ok(())
}

/// Prints the man page, or writes one page per command into `out`.
pub(super) fn man(out: Option<&Path>) -> Result<(), CliError> {
    let command = Cli::command().long_version(crate::build_info::long_version_static());
    let io = |context: String| move |source| CliError::Io { context, source };
    match out {
        None => clap_mangen::Man::new(command)
            .render(&mut std::io::stdout())
            .map_err(io("writing the man page".into())),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
            clap_mangen::generate_to(command, dir)
                .map_err(io(format!("writing man pages into {}", dir.display())))?;
            println!("man pages written to {}", dir.display());
            Ok(())
        }
    }
}
