//! Settings of a run, merged once from command-line flags, environment variables
//! (`NOTION_TOKEN`, `NOTION_API_BASE`, `NOTION_VERSION`) and an optional TOML config file, in that
//! order of precedence, then validated into a [`ClientConfig`]. Nothing downstream reads flags or
//! the environment.

pub mod check;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::notion::{
    ClientConfig, DEFAULT_API_BASE, NotionClient, NotionVersion, RetryConfig, SecretString,
    StaticToken,
};

/// A configuration problem, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for our settings.
    #[error("the config file {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column included).
        message: String,
    },
    /// A key of the config file is wrong, at a known place.
    #[error("{}", .problem.render(.path))]
    Placed {
        /// The file.
        path: PathBuf,
        /// The key, its line and what is wrong.
        problem: check::Problem,
    },
    /// A value is out of range or malformed.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A `[[connection]]` entry is wrong.
    #[error("connection {connection}: invalid {field}: {message}")]
    Connection {
        /// The connection's name (or its position).
        connection: String,
        /// The field.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// No token was given.
    #[error(
        "no Notion token: set NOTION_TOKEN to an internal integration token (https://www.notion.so/my-integrations), sign in with `notionlake auth login`, or run `notionlake demo` to try the tool without an account"
    )]
    MissingToken,
}

/// The optional TOML config file. Every key is optional; unknown keys are rejected so that a
/// typo does not silently fall back to a default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Base URL of the Notion API.
    pub api_base: Option<String>,
    /// Notion-Version to speak.
    pub notion_version: Option<String>,
    /// Average requests per second.
    pub rps: Option<f64>,
    /// Burst of the client's token bucket.
    pub burst: Option<u32>,
    /// Per-request timeout in seconds.
    pub timeout_secs: Option<f64>,
    /// Attempts per request.
    pub max_attempts: Option<u32>,
    /// Where the lake lives (a directory or `s3://bucket/prefix`).
    pub lake: Option<String>,
    /// Workspace connections that `sync --all` runs (`[[connection]]`).
    #[serde(default)]
    pub connection: Vec<ConnectionEntry>,
}

/// One `[[connection]]` entry as written in the file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEntry {
    /// Its name (letters, digits, `-` and `_`): in logs, summaries and `--connection`.
    pub name: Option<String>,
    /// The environment variable holding its integration token.
    pub token_env: Option<String>,
    /// Its OAuth credential file (from `notionlake auth login --connection NAME`).
    pub credentials: Option<PathBuf>,
    /// A token written into the file: refused (secrets never sit in the config).
    pub token: Option<toml::Value>,
    /// Its lake: a directory or `s3://bucket/prefix`.
    pub lake: Option<String>,
    /// Base URL of the Notion API (overrides the file's).
    pub api_base: Option<String>,
    /// Notion-Version (overrides the file's).
    pub notion_version: Option<String>,
    /// Average requests per second of this connection (overrides the file's).
    pub rps: Option<f64>,
    /// Burst of its token bucket (overrides the file's).
    pub burst: Option<u32>,
    /// Per-request timeout in seconds (overrides the file's).
    pub timeout_secs: Option<f64>,
    /// Attempts per request (overrides the file's).
    pub max_attempts: Option<u32>,
    /// Its own sync options: the sync flags' long names with `_` for `-` (`comments = "all"`,
    /// `files = "none"`); a flag on the command line wins.
    pub sync: Option<toml::Table>,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| match check::unknown_key(&text, &e) {
            Some(problem) => ConfigError::Placed {
                path: path.to_path_buf(),
                problem,
            },
            None => ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        })
    }
}

/// Connection settings as given on the command line or in the environment (flags win over env,
/// both win over the file).
#[derive(Debug, Clone, Default)]
pub struct ConnectionArgs {
    /// Bearer token (never shown by `Debug`).
    pub token: Option<SecretString>,
    /// Base URL.
    pub api_base: Option<String>,
    /// Notion-Version.
    pub notion_version: Option<String>,
    /// Requests per second.
    pub rps: Option<f64>,
    /// Burst.
    pub burst: Option<u32>,
    /// Timeout in seconds.
    pub timeout_secs: Option<f64>,
    /// Largest response body accepted, in MiB.
    pub max_response_mb: Option<usize>,
    /// OAuth credential file.
    pub credentials: Option<std::path::PathBuf>,
}

/// Why a client could not be set up: the settings (no token, exit code 2), or the client
/// itself (a credential file that cannot be read, a bad configuration).
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    /// The settings are incomplete.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The client could not be built.
    #[error(transparent)]
    Notion(#[from] crate::notion::NotionError),
}

/// Validated connection settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The token (kept out of `Debug` by [`StaticToken`]).
    pub token: Option<StaticToken>,
    /// Client configuration.
    pub client: ClientConfig,
    /// The OAuth credential file to use when no token is given (it exists).
    pub credentials: Option<std::path::PathBuf>,
}

impl Settings {
    /// Merges flags/env over the file over the defaults and validates the result.
    pub fn resolve(args: &ConnectionArgs, file: &FileConfig) -> Result<Settings, ConfigError> {
        let defaults = ClientConfig::default();
        let base = args
            .api_base
            .clone()
            .or_else(|| file.api_base.clone())
            .unwrap_or_else(|| DEFAULT_API_BASE.to_string());
        let base_url = Url::parse(&base).map_err(|e| ConfigError::Invalid {
            name: "api_base",
            message: format!("{base:?} is not a URL ({e}); expected e.g. https://api.notion.com"),
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid {
                name: "api_base",
                message: format!("{base:?} must start with http:// or https://"),
            });
        }
        let version = match args
            .notion_version
            .as_deref()
            .or(file.notion_version.as_deref())
        {
            None => NotionVersion::default(),
            Some(v) => v
                .parse()
                .map_err(
                    |e: crate::notion::version::UnknownVersion| ConfigError::Invalid {
                        name: "notion_version",
                        message: e.to_string(),
                    },
                )?,
        };
        let rps = args.rps.or(file.rps).unwrap_or(defaults.rps);
        if !(rps.is_finite() && rps > 0.0 && rps <= 1000.0) {
            return Err(ConfigError::Invalid {
                name: "rps",
                message: format!("{rps} is not a rate between 0 and 1000 requests per second"),
            });
        }
        let burst = args.burst.or(file.burst).unwrap_or(defaults.burst);
        if burst == 0 {
            return Err(ConfigError::Invalid {
                name: "burst",
                message: "must be at least 1".into(),
            });
        }
        let timeout = args
            .timeout_secs
            .or(file.timeout_secs)
            .unwrap_or(defaults.timeout.as_secs_f64());
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(ConfigError::Invalid {
                name: "timeout_secs",
                message: format!("{timeout} is not a positive number of seconds"),
            });
        }
        let max_response_bytes = match args.max_response_mb {
            Some(0) => {
                return Err(ConfigError::Invalid {
                    name: "max_response_mb",
                    message: "must be at least 1".into(),
                });
            }
            Some(mb) => mb.saturating_mul(1 << 20),
            None => defaults.max_response_bytes,
        };
        let mut retry = RetryConfig::default();
        if let Some(n) = file.max_attempts {
            if n == 0 {
                return Err(ConfigError::Invalid {
                    name: "max_attempts",
                    message: "must be at least 1".into(),
                });
            }
            retry.max_attempts = n;
        }
        let credentials = args
            .credentials
            .clone()
            .or_else(|| Some(crate::notion::oauth::default_credentials_path()))
            .filter(|p| p.exists());
        Ok(Settings {
            credentials,
            token: args
                .token
                .as_ref()
                .map(|t| t.expose().trim())
                .filter(|t| !t.is_empty())
                .map(StaticToken::new),
            client: ClientConfig {
                base_url,
                version,
                rps,
                burst,
                timeout: Duration::from_secs_f64(timeout),
                retry,
                max_response_bytes,
                ..defaults
            },
        })
    }

    /// A client with these settings, or [`ConfigError::MissingToken`].
    pub fn client(&self) -> Result<NotionClient, ClientSetupError> {
        if let Some(token) = self.token.clone() {
            return Ok(NotionClient::new(self.client.clone(), Arc::new(token))?);
        }
        let path = self.credentials.as_ref().ok_or(ConfigError::MissingToken)?;
        let provider = crate::notion::oauth::OAuthProvider::from_file(path)?;
        Ok(NotionClient::new(self.client.clone(), provider)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_defaults_fill_in() {
        let file = FileConfig {
            api_base: Some("http://127.0.0.1:7700".into()),
            rps: Some(1.5),
            notion_version: Some("2022-06-28".into()),
            ..Default::default()
        };
        let args = ConnectionArgs {
            rps: Some(2.0),
            token: Some(SecretString::new("t")),
            ..Default::default()
        };
        let s = Settings::resolve(&args, &file).unwrap();
        assert_eq!(s.client.rps, 2.0);
        assert_eq!(s.client.base_url.as_str(), "http://127.0.0.1:7700/");
        assert_eq!(s.client.version, NotionVersion::V2022_06_28);
        assert_eq!(s.client.burst, 2);
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let file = FileConfig::default();
        let bad = |args: ConnectionArgs| Settings::resolve(&args, &file).unwrap_err().to_string();
        assert!(
            bad(ConnectionArgs {
                rps: Some(0.0),
                ..Default::default()
            })
            .contains("rps")
        );
        assert!(
            bad(ConnectionArgs {
                api_base: Some("ftp://x".into()),
                ..Default::default()
            })
            .contains("http")
        );
        assert!(
            bad(ConnectionArgs {
                notion_version: Some("2021-01-01".into()),
                ..Default::default()
            })
            .contains("2025-09-03")
        );
    }

    #[test]
    fn config_file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notionlake.toml");
        std::fs::write(&path, "rsp = 3\n").unwrap();
        let err = FileConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("rsp"), "{err}");
        assert!(
            err.contains("line 1: key `rsp`") && err.contains("did you mean `rps`?"),
            "{err}"
        );
        std::fs::write(&path, "rps = 2.5\nlake = \"./lake\"\n").unwrap();
        let cfg = FileConfig::load(&path).unwrap();
        assert_eq!(cfg.rps, Some(2.5));
    }
}
