//! `notionlake config check`: validates a config file without a request or a write (unknown keys
//! with a suggestion, values, connections and their sync options, the file's mode), each error
//! naming the file, the key and its line; then prints the effective settings with where each
//! comes from (environment, file, default), secrets masked.

use std::path::Path;

use clap::Args;

use super::*;
use crate::config::check::{KeyPath, Problem, key_line};
use crate::config::{ConnectionArgs, Settings};

/// The environment variables the connection flags read (`NOTION_TOKEN`, …), by flag id, as
/// clap declares them.
fn flag_env() -> Vec<(String, String)> {
    ConnectionFlags::augment_args(clap::Command::new("x"))
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_string();
            Some((a.get_id().to_string(), env))
        })
        .collect()
}

/// The connection settings the environment gives.
fn env_args(env: &[(String, String)]) -> (ConnectionArgs, Vec<(String, String)>) {
    let value = |id: &str| {
        env.iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, var)| std::env::var(var).ok().map(|v| (var.clone(), v)))
            .filter(|(_, v)| !v.trim().is_empty())
    };
    let mut from_env = Vec::new();
    let mut take = |id: &str| {
        value(id).map(|(var, v)| {
            from_env.push((id.to_string(), var));
            v
        })
    };
    let args = ConnectionArgs {
        token: take("token").map(|t| crate::notion::SecretString::new(t.trim())),
        api_base: take("api_base"),
        notion_version: take("notion_version"),
        ..ConnectionArgs::default()
    };
    (args, from_env)
}

/// Places a configuration error at its key's line.
fn place(path: &Path, text: &str, e: ConfigError) -> ConfigError {
    let (key, at) = match &e {
        ConfigError::Invalid { name, .. } => (name.to_string(), KeyPath::Top(name)),
        ConfigError::Connection {
            connection, field, ..
        } => (
            format!("connection.{connection}.{field}"),
            KeyPath::Connection(connection, field),
        ),
        _ => return e,
    };
    let line = key_line(text, at);
    let message = match &e {
        ConfigError::Invalid { message, .. } | ConfigError::Connection { message, .. } => {
            message.clone()
        }
        _ => e.to_string(),
    };
    ConfigError::Placed {
        path: path.to_path_buf(),
        problem: Problem { key, line, message },
    }
}

/// Runs `config check` on the file at `path`.
pub(super) fn run_config_check(path: Option<&Path>) -> Result<(), CliError> {
    let Some(path) = path else {
        return Err(ConfigError::Invalid {
            name: "config",
            message: "which file? pass --config FILE (or set NOTIONLAKE_CONFIG)".into(),
        }
        .into());
    };
    let file = FileConfig::load(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    crate::fleet::check_file_mode(path)?;
    let env = flag_env();
    let (args, from_env) = env_args(&env);
    let settings = Settings::resolve(&args, &file).map_err(|e| place(path, &text, e))?;
    let mut lines = vec![format!("{}: ok", path.display())];
    let source = |id: &str, in_file: bool| match from_env.iter().find(|(i, _)| i == id) {
        Some((_, var)) => format!("env {var}"),
        None if in_file => key_line(&text, KeyPath::Top(id))
            .map_or("file".to_string(), |l| format!("file, line {l}")),
        None => "default".to_string(),
    };
    let c = &settings.client;
    let token = match (&settings.token, &settings.credentials) {
        (Some(_), _) => "set (hidden)".to_string(),
        (None, Some(p)) => format!("OAuth credentials {}", p.display()),
        (None, None) => "none".to_string(),
    };
    let rows = [
        ("api_base", c.base_url.to_string(), file.api_base.is_some()),
        (
            "notion_version",
            c.version.as_str().to_string(),
            file.notion_version.is_some(),
        ),
        ("rps", c.rps.to_string(), file.rps.is_some()),
        ("burst", c.burst.to_string(), file.burst.is_some()),
        (
            "timeout_secs",
            c.timeout.as_secs_f64().to_string(),
            file.timeout_secs.is_some(),
        ),
        (
            "max_attempts",
            c.retry.max_attempts.to_string(),
            file.max_attempts.is_some(),
        ),
        (
            "lake",
            file.lake.clone().unwrap_or_else(|| "(none)".into()),
            file.lake.is_some(),
        ),
        ("token", token, false),
    ];
    for (key, value, in_file) in rows {
        lines.push(format!("  {key:<15} {value:<40} {}", source(key, in_file)));
    }
    if !file.connection.is_empty() {
        let list = crate::fleet::connections(&file, &args, &[], |v| std::env::var(v).ok())
            .map_err(|e| place(path, &text, e))?;
        lines.push(format!("connections ({}):", list.len()));
        for conn in &list {
            super::connection_sync::connection_flags(
                &conn.name,
                &conn.sync,
                &SelectFlags::default(),
                &Default::default(),
            )
            .map_err(|e| place(path, &text, e))?;
            let sync: Vec<String> = conn.sync.iter().map(|(k, v)| format!("{k}={v}")).collect();
            lines.push(format!(
                "  {:<15} lake {}, {} requests/s, Notion-Version {}{}",
                conn.name,
                conn.lake,
                conn.settings.client.rps,
                conn.settings.client.version.as_str(),
                if sync.is_empty() {
                    String::new()
                } else {
                    format!(", sync {}", sync.join(" "))
                }
            ));
        }
    }
    println!("{}", lines.join("\n"));
    Ok(())
}
