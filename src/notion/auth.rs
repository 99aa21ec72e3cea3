//! Token providers: where the bearer token of every request comes from, and what happens on a
//! 401. A static internal-integration token never refreshes; the OAuth provider (a later issue)
//! refreshes once and persists the rotated token. Tokens are wrapped in [`SecretString`] (the
//! `secrecy` crate's, boxed and zeroed on drop) so that they cannot reach a log line through
//! `Debug` or `Display`.

use std::fmt;

use async_trait::async_trait;

use super::error::NotionError;

/// Writes a file only its owner can read (mode 0600 on Unix) atomically: a temporary file in
/// the same directory (created if missing), synced, renamed over the old one. A reader sees the
/// old or the new file, never half of one.
pub fn write_private_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    private_file(path, bytes, true)
}

/// Creates a file only its owner can read, as [`write_private_file`] writes one, but only if
/// none is there: of two writers racing for `path`, exactly one succeeds, the other gets
/// [`std::io::ErrorKind::AlreadyExists`].
pub fn create_private_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    private_file(path, bytes, false)
}

fn private_file(path: &std::path::Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".private")
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    if replace {
        tmp.persist(path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}

/// A string that must never be printed: `Debug` and `Display` show `***`. Held in a
/// [`secrecy::SecretString`] (zeroed on drop). Serialises as the plain string (the credential
/// file holds it, created 0600).
#[derive(Clone)]
pub struct SecretString(secrecy::SecretString);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(secrecy::SecretString::from(s.into()))
    }

    /// Parses a secret from the command line (for clap's `value_parser`).
    pub fn parse(s: &str) -> Result<SecretString, std::convert::Infallible> {
        Ok(SecretString::new(s))
    }

    /// The secret itself, for the one place that needs it (the Authorization header).
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretString {}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString::new(s)
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString::new(s)
    }
}

impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Supplies bearer tokens to the client's send path.
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// The token to send now.
    async fn token(&self) -> Result<SecretString, NotionError>;

    /// Called once after Notion answered 401 to `rejected`. Returns `Ok(true)` when a new token is
    /// available (the request is then retried once), `Ok(false)` when nothing can be done.
    async fn refresh(&self, rejected: &SecretString) -> Result<bool, NotionError>;
}

/// An internal-integration token (`NOTION_TOKEN`): never refreshes.
#[derive(Debug, Clone)]
pub struct StaticToken(SecretString);

impl StaticToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        StaticToken(SecretString::new(token))
    }
}

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<SecretString, NotionError> {
        Ok(self.0.clone())
    }

    async fn refresh(&self, _rejected: &SecretString) -> Result<bool, NotionError> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = SecretString::new("ntn_very_secret");
        assert!(!format!("{s:?} {s}").contains("very_secret"));
        let t = StaticToken::new("ntn_very_secret");
        assert!(!format!("{t:?}").contains("very_secret"));
    }
}
