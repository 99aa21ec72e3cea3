//! What a run's commit goes by: how each table's rows become current ([`Rule`]), what the
//! run found deleted or read again besides its rows ([`RunChanges`]), and what one table's
//! commit did ([`TableCommit`]).

use std::collections::HashSet;

use super::maintain::Compacted;
use crate::flatten::fixed::{FixedTable, RICH_TEXT_TABLE};

/// What a run found deleted or read again, besides its rows.
#[derive(Debug, Clone, Default)]
pub struct RunChanges {
    /// The run read every data source and page of the workspace (an unrestricted full
    /// refresh): rows it did not find are gone.
    pub complete: bool,
    /// Pages whose blocks and comments the run read again.
    pub crawled: HashSet<String>,
    /// Pages whose comments alone the run read again (their other content untouched).
    pub comments_read: HashSet<String>,
    /// Rows and pages deleted in Notion: (table, id), `pages` for a standalone page.
    pub deleted: Vec<(String, String)>,
    /// The `files` table's groups the run read whole (a page's properties, content or
    /// comments, a database): each holds exactly the run's references, none if it found none.
    pub file_groups: HashSet<String>,
}

/// How a table's rows become current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// One row per `key`; a row of the run replaces the current one unless its `edited` time
    /// is older (data-source tables, `pages`).
    Versioned {
        /// The row key.
        key: &'static str,
        /// The last-edit column.
        edited: &'static str,
    },
    /// One row per `keys`; a row of the run replaces the current one.
    Latest {
        /// The row key.
        keys: &'static [&'static str],
    },
    /// Rows belong to a `group` (a page, a data source); a group the run wrote (or read again)
    /// holds exactly the run's rows.
    Groups {
        /// The row key.
        keys: &'static [&'static str],
        /// The group column.
        group: &'static str,
    },
    /// The run's rows are the whole table (`users`: each run lists them all).
    Whole {
        /// The row key.
        keys: &'static [&'static str],
    },
    /// Rows are only added (`tombstones`).
    Append,
}

impl Rule {
    /// The rule of the table in `table_dir`.
    pub fn of(table_dir: &str) -> Rule {
        if table_dir.starts_with("tables/") {
            return Rule::Versioned {
                key: "_id",
                edited: "_last_edited_time",
            };
        }
        if table_dir == RICH_TEXT_TABLE {
            return Rule::Groups {
                keys: &["page_id", "property_id", "item_index"],
                group: "page_id",
            };
        }
        match FixedTable::from_name(table_dir) {
            Some(FixedTable::Pages) => Rule::Versioned {
                key: "id",
                edited: "last_edited_time",
            },
            Some(FixedTable::Databases | FixedTable::DataSources) => Rule::Latest { keys: &["id"] },
            Some(FixedTable::Properties) => Rule::Groups {
                keys: &["data_source_id", "property_id"],
                group: "data_source_id",
            },
            Some(FixedTable::Blocks | FixedTable::Comments) => Rule::Groups {
                keys: &["page_id", "id"],
                group: "page_id",
            },
            Some(FixedTable::Documents) => Rule::Groups {
                keys: &["page_id"],
                group: "page_id",
            },
            Some(FixedTable::Files) => Rule::Groups {
                keys: &["ref_group", "ref_id"],
                group: "ref_group",
            },
            Some(FixedTable::Users) => Rule::Whole { keys: &["id"] },
            Some(FixedTable::Tombstones) | None => Rule::Append,
        }
    }

    /// The columns that key a row (none for appended tables).
    pub(crate) fn keys(self) -> Vec<&'static str> {
        match self {
            Rule::Versioned { key, .. } => vec![key],
            Rule::Latest { keys } | Rule::Groups { keys, .. } | Rule::Whole { keys } => {
                keys.to_vec()
            }
            Rule::Append => Vec::new(),
        }
    }
}

/// What one table's commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCommit {
    /// The table's Delta version after the commit (`None`: nothing to commit).
    pub version: Option<u64>,
    /// Rows inserted, updated and deleted.
    pub inserted: usize,
    /// Rows updated.
    pub updated: usize,
    /// Rows deleted.
    pub deleted: usize,
    /// The small files compacted after the commit, when there were too many.
    pub compacted: Option<Compacted>,
}
