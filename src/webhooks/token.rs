//! The subscription's verification token: Notion sends it once, in the verification request,
//! and signs every later delivery with it. It is kept in a file created 0600 (by default next
//! to the OAuth credentials), held as a [`SecretString`] and never logged.

use std::path::{Path, PathBuf};

use crate::notion::SecretString;

/// The default token file: `<config dir>/notionlake/webhook-token`.
pub fn default_token_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("notionlake")
        .join("webhook-token")
}

/// A token file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the webhook verification token file {path}: {message}")]
pub struct TokenFileError {
    path: String,
    message: String,
}

fn error(path: &Path, message: impl std::fmt::Display) -> TokenFileError {
    TokenFileError {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The stored token, if the file exists.
pub fn load(path: &Path) -> Result<Option<SecretString>, TokenFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Err(error(
            path,
            "is empty; delete it, then let Notion verify the subscription again",
        )),
        Ok(text) => Ok(Some(SecretString::new(text.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(path, format!("cannot be read ({e})"))),
    }
}

/// Stores the token: a temporary file created 0600 in the same directory, renamed over the
/// old one.
pub fn save(path: &Path, token: &SecretString) -> Result<(), TokenFileError> {
    crate::notion::auth::write_private_file(path, token.expose().as_bytes())
        .map_err(|e| error(path, format!("cannot be written ({e})")))
}

/// Stores the first token: the file is created 0600 only if none is there, so that of two
/// receivers racing for it one wins and the other gets an error.
pub fn create(path: &Path, token: &SecretString) -> Result<(), TokenFileError> {
    crate::notion::auth::create_private_file(path, token.expose().as_bytes()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            error(
                path,
                "exists already: another receiver stored a token first",
            )
        } else {
            error(path, format!("cannot be written ({e})"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("webhook-token");
        assert!(load(&path).unwrap().is_none());
        save(&path, &SecretString::new("secret_token_1")).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().expose(), "secret_token_1");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "").unwrap();
        assert!(
            load(&path).is_err(),
            "an empty file is an error, not no token"
        );
        let first = dir.path().join("new").join("webhook-token");
        create(&first, &SecretString::new("secret_first")).unwrap();
        assert!(
            create(&first, &SecretString::new("secret_second")).is_err(),
            "a stored token is never replaced by create"
        );
        assert_eq!(load(&first).unwrap().unwrap().expose(), "secret_first");
    }
}
