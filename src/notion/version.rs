//! The `Notion-Version` values this tool speaks, and the facts that differ between them
//! (2022-06-28, 2025-09-03, 2026-03-11; sent as the `Notion-Version` header). Everything version-dependent asks this module.

use std::fmt;
use std::str::FromStr;

/// A Notion API version the client and the fake server both understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum NotionVersion {
    /// The long-lived "classic" version: a database is one table, rows are queried on the database.
    V2022_06_28,
    /// Data sources: a database contains one or more data sources that hold schema and rows.
    #[default]
    V2025_09_03,
    /// The newest: `archived` removed, `transcription` blocks renamed `meeting_notes`.
    V2026_03_11,
}

impl NotionVersion {
    /// Every supported version, oldest first.
    pub const ALL: [NotionVersion; 3] = [
        NotionVersion::V2022_06_28,
        NotionVersion::V2025_09_03,
        NotionVersion::V2026_03_11,
    ];

    /// The header value, e.g. `2025-09-03`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotionVersion::V2022_06_28 => "2022-06-28",
            NotionVersion::V2025_09_03 => "2025-09-03",
            NotionVersion::V2026_03_11 => "2026-03-11",
        }
    }

    /// True when databases are containers of data sources (2025-09-03 and later).
    pub fn has_data_sources(self) -> bool {
        self >= NotionVersion::V2025_09_03
    }

    /// True when objects still carry the deprecated `archived` alias of `in_trash`.
    pub fn has_archived_alias(self) -> bool {
        self < NotionVersion::V2026_03_11
    }

    /// The list-envelope `type` of search and query results.
    pub fn page_or_container_type(self) -> &'static str {
        if self.has_data_sources() {
            "page_or_data_source"
        } else {
            "page_or_database"
        }
    }

    /// The search filter value that selects databases (2022) or data sources (2025+).
    pub fn container_search_value(self) -> &'static str {
        if self.has_data_sources() {
            "data_source"
        } else {
            "database"
        }
    }

    /// The wire name of the AI meeting-notes block in this version.
    pub fn meeting_notes_block_type(self) -> &'static str {
        if self >= NotionVersion::V2026_03_11 {
            "meeting_notes"
        } else {
            "transcription"
        }
    }
}

impl fmt::Display for NotionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a `Notion-Version` string this tool does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported Notion-Version {0:?}: use one of 2022-06-28, 2025-09-03 (default), 2026-03-11"
)]
pub struct UnknownVersion(pub String);

impl FromStr for NotionVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotionVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
            .ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_version() {
        for v in NotionVersion::ALL {
            assert_eq!(v.as_str().parse::<NotionVersion>().unwrap(), v);
        }
        assert!("2021-05-13".parse::<NotionVersion>().is_err());
    }

    #[test]
    fn version_facts() {
        assert!(!NotionVersion::V2022_06_28.has_data_sources());
        assert!(NotionVersion::V2025_09_03.has_data_sources());
        assert!(NotionVersion::V2025_09_03.has_archived_alias());
        assert!(!NotionVersion::V2026_03_11.has_archived_alias());
        assert_eq!(
            NotionVersion::V2026_03_11.meeting_notes_block_type(),
            "meeting_notes"
        );
    }
}
