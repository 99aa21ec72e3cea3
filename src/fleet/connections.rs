//! The `[[connection]]` list of the config file: one Notion workspace connection each, with
//! its own credentials, lake and client settings. Every entry is checked before any request is
//! made, and a bad one names the connection and the field. Secrets never sit in the file: a
//! connection names the environment variable that holds its token (`token_env`) or an OAuth
//! credential file (`credentials`, checked for its mode as ssh checks a key's).

use std::collections::BTreeSet;
use std::path::Path;

use crate::config::{ConfigError, ConnectionArgs, ConnectionEntry, FileConfig, Settings};
use crate::notion::SecretString;

/// A connection checked and ready to run.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Its name.
    pub name: String,
    /// Its client settings (token included, never shown by `Debug`).
    pub settings: Settings,
    /// Its lake.
    pub lake: String,
    /// Its own sync options as written (the sync flags' long names; read by the command line's
    /// definitions).
    pub sync: toml::Table,
}

fn invalid(connection: &str, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Connection {
        connection: connection.to_string(),
        field: field.into(),
        message: message.into(),
    }
}

/// Whether a file's permissions let other users change it (or, for a `secret`, read it): what
/// ssh refuses for its keys and config.
#[cfg(unix)]
fn too_open(path: &Path, secret: bool) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    let forbidden = if secret { 0o077 } else { 0o022 };
    (mode & forbidden != 0).then_some(mode)
}

#[cfg(not(unix))]
fn too_open(_path: &Path, _secret: bool) -> Option<u32> {
    None
}

/// Whether `name` can name a connection: letters, digits, `-` and `_`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// Where `auth login --connection NAME` keeps the connection's OAuth credentials:
/// `<config dir>/notionlake/connections/NAME.json`.
pub fn credentials_path(name: &str) -> Result<std::path::PathBuf, ConfigError> {
    if !valid_name(name) {
        return Err(invalid(name, "name", "use letters, digits, - and _ only"));
    }
    let default = crate::notion::oauth::default_credentials_path();
    let dir = default.parent().unwrap_or(Path::new("."));
    Ok(dir.join("connections").join(format!("{name}.json")))
}

/// Checks the config file's own mode (it says which tokens and lakes a run uses: nobody else
/// may change it).
pub fn check_file_mode(path: &Path) -> Result<(), ConfigError> {
    match too_open(path, false) {
        Some(mode) => Err(ConfigError::Invalid {
            name: "config",
            message: format!(
                "{} is writable by other users (mode {mode:o}); run `chmod go-w {}`",
                path.display(),
                path.display()
            ),
        }),
        None => Ok(()),
    }
}

/// The connections of `file` to run: every one, or those named in `only` (each must exist),
/// with `flags` (the command line's settings) over each entry's over the file's own.
pub fn connections(
    file: &FileConfig,
    flags: &ConnectionArgs,
    only: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Connection>, ConfigError> {
    if file.connection.is_empty() {
        return Err(ConfigError::Invalid {
            name: "connection",
            message: "the config file lists no [[connection]]: add one per workspace (name, token_env or credentials, lake)".into(),
        });
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, entry) in file.connection.iter().enumerate() {
        let label = entry.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let connection = check(entry, &label, file, flags, &env)?;
        if !names.insert(connection.name.clone()) {
            return Err(invalid(&label, "name", "another connection has this name"));
        }
        out.push(connection);
    }
    for name in only {
        if !names.contains(name) {
            return Err(ConfigError::Invalid {
                name: "connection",
                message: format!(
                    "no connection is named {name:?}; the config file has {}",
                    names.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    out.retain(|c| only.is_empty() || only.contains(&c.name));
    Ok(out)
}

/// One entry checked (see the module documentation).
fn check(
    entry: &ConnectionEntry,
    label: &str,
    file: &FileConfig,
    flags: &ConnectionArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Connection, ConfigError> {
    let name = entry
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(label, "name", "every connection needs a name"))?;
    if !valid_name(&name) {
        return Err(invalid(label, "name", "use letters, digits, - and _ only"));
    }
    if entry.token.is_some() {
        return Err(invalid(
            label,
            "token",
            "tokens never sit in the config file: put it in an environment variable and name it with token_env",
        ));
    }
    let lake = entry.lake.clone().ok_or_else(|| {
        invalid(
            label,
            "lake",
            "which lake? a directory or s3://bucket/prefix",
        )
    })?;
    let (token, credentials) = match (&entry.token_env, &entry.credentials) {
        (Some(var), None) => {
            let token = env(var).filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                invalid(
                    label,
                    "token_env",
                    format!("the environment variable {var} is not set"),
                )
            })?;
            (Some(SecretString::new(token.trim())), None)
        }
        (None, Some(path)) => {
            if !path.exists() {
                return Err(invalid(
                    label,
                    "credentials",
                    format!(
                        "{} does not exist: run `notionlake auth login --connection {name}`",
                        path.display()
                    ),
                ));
            }
            if let Some(mode) = too_open(path, true) {
                return Err(invalid(
                    label,
                    "credentials",
                    format!(
                        "{} is readable or writable by other users (mode {mode:o}); run `chmod 600 {}`",
                        path.display(),
                        path.display()
                    ),
                ));
            }
            (None, Some(path.clone()))
        }
        _ => {
            return Err(invalid(
                label,
                "token_env",
                "give exactly one of token_env (an environment variable holding the token) and credentials (an OAuth credential file)",
            ));
        }
    };
    let overlay = FileConfig {
        api_base: entry.api_base.clone().or_else(|| file.api_base.clone()),
        notion_version: entry
            .notion_version
            .clone()
            .or_else(|| file.notion_version.clone()),
        rps: entry.rps.or(file.rps),
        burst: entry.burst.or(file.burst),
        timeout_secs: entry.timeout_secs.or(file.timeout_secs),
        max_attempts: entry.max_attempts.or(file.max_attempts),
        lake: Some(lake.clone()),
        connection: Vec::new(),
    };
    let args = ConnectionArgs {
        token,
        credentials,
        ..flags.clone()
    };
    let mut settings = Settings::resolve(&args, &overlay).map_err(|e| match e {
        ConfigError::Invalid {
            name: field,
            message,
        } => invalid(label, field, message),
        other => other,
    })?;
    // A connection with a token uses it; one with credentials uses those, never the default
    // credential file.
    if settings.token.is_some() {
        settings.credentials = None;
    }
    Ok(Connection {
        name,
        settings,
        lake,
        sync: entry.sync.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    fn env(var: &str) -> Option<String> {
        (var != "UNSET").then(|| format!("token-of-{var}"))
    }

    #[test]
    fn entries_override_the_file_and_flags_override_both() {
        let file = parse(
            r#"
rps = 2.0
api_base = "http://127.0.0.1:7700"
[[connection]]
name = "acme"
token_env = "ACME_TOKEN"
lake = "./acme"
rps = 1.0
[[connection]]
name = "globex"
token_env = "GLOBEX_TOKEN"
lake = "s3://bucket/globex"
"#,
        );
        let all = connections(&file, &ConnectionArgs::default(), &[], env).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].name.as_str(), all[0].settings.client.rps),
            ("acme", 1.0)
        );
        assert_eq!(all[1].settings.client.rps, 2.0);
        assert_eq!(all[1].lake, "s3://bucket/globex");
        assert!(!format!("{:?}", all[0]).contains("token-of-ACME_TOKEN"));
        let flags = ConnectionArgs {
            rps: Some(5.0),
            ..Default::default()
        };
        let one = connections(&file, &flags, &["globex".into()], env).unwrap();
        assert_eq!((one.len(), one[0].settings.client.rps), (1, 5.0));
    }

    #[test]
    fn a_bad_entry_names_the_connection_and_the_field() {
        let bad = |text: &str| {
            connections(&parse(text), &ConnectionArgs::default(), &[], env)
                .unwrap_err()
                .to_string()
        };
        let e = bad("[[connection]]\nname = \"a\"\ntoken_env = \"UNSET\"\nlake = \"x\"\n");
        assert!(
            e.contains("connection a") && e.contains("token_env") && e.contains("UNSET"),
            "{e}"
        );
        let e = bad("[[connection]]\nname = \"a\"\ntoken = \"secret_x\"\nlake = \"x\"\n");
        assert!(e.contains("token") && e.contains("never"), "{e}");
        assert!(!e.contains("secret_x"), "{e}");
        let e = bad("[[connection]]\nname = \"a\"\ntoken_env = \"T\"\nlake = \"x\"\nrps = 0\n");
        assert!(e.contains("connection a") && e.contains("rps"), "{e}");
        let e = bad("[[connection]]\nname = \"a\"\ntoken_env = \"T\"\n");
        assert!(e.contains("lake"), "{e}");
        let e = bad("[[connection]]\nname = \"a b\"\ntoken_env = \"T\"\nlake = \"x\"\n");
        assert!(e.contains("name"), "{e}");
        let twice = "[[connection]]\nname = \"a\"\ntoken_env = \"T\"\nlake = \"x\"\n";
        let e = bad(&format!("{twice}{twice}"));
        assert!(e.contains("another connection"), "{e}");
        let e = connections(
            &parse(twice),
            &ConnectionArgs::default(),
            &["b".into()],
            env,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"b\"") && e.contains(" a"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn credential_files_and_the_config_must_not_be_open_to_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("acme.json");
        std::fs::write(&creds, "{}").unwrap();
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "[[connection]]\nname = \"acme\"\ncredentials = \"{}\"\nlake = \"x\"\n",
            creds.display()
        );
        let e = connections(&parse(&text), &ConnectionArgs::default(), &[], env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(connections(&parse(&text), &ConnectionArgs::default(), &[], env).is_ok());
        let config = dir.path().join("notionlake.toml");
        std::fs::write(&config, &text).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            check_file_mode(&config)
                .unwrap_err()
                .to_string()
                .contains("go-w")
        );
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_file_mode(&config).is_ok());
    }
}
