//! What the binary knows of its own build: the crate version, the git commit it was built from
//! (recorded by the build script; `unknown` outside a checkout), and the Notion API versions it
//! speaks. `notionlake --version` prints them; every run record carries the version.

use crate::notion::NotionVersion;

/// The crate version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from, or `unknown`.
pub const GIT_COMMIT: &str = env!("NOTIONLAKE_GIT_COMMIT");

/// [`long_version`], built once for the life of the process (clap keeps a `&'static str`).
pub fn long_version_static() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(long_version)
}

/// The long version text: version, commit, and the Notion API versions (the default marked).
pub fn long_version() -> String {
    let versions: Vec<String> = NotionVersion::ALL
        .iter()
        .map(|v| {
            if *v == NotionVersion::default() {
                format!("{} (default)", v.as_str())
            } else {
                v.as_str().to_string()
            }
        })
        .collect();
    format!(
        "{VERSION}\ncommit: {GIT_COMMIT}\nNotion API versions: {}",
        versions.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_version_names_every_notion_version() {
        let text = long_version();
        assert!(text.starts_with(VERSION));
        for v in NotionVersion::ALL {
            assert!(text.contains(v.as_str()), "{text}");
        }
        assert_eq!(text.matches("(default)").count(), 1);
    }
}
