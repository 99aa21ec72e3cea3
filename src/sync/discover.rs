//! Discovery: what a run reads. The users; the data sources search returns (or the databases
//! and root pages a selection names); the pages search returns, read as they arrive (since the
//! cursor, most recent first, on incremental runs); and databases found later through
//! `child_database` blocks or a database's sibling data sources.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::TryStreamExt;
use serde_json::Value;

use super::context::Run;
use super::error::SyncError;
use crate::flatten::fixed::{FixedTable, database_row, user_row};
use crate::model::{DataSourceRef, Parent, is_trashed, normalize_id};
use crate::notion::{ErrorKind, NotionClient, NotionError, SearchTarget};

/// What discovery found that the rest of the run reads.
#[derive(Debug, Default)]
pub(super) struct Discovered {
    /// The objects search returned for data sources (they carry the schema), by id.
    pub sources: HashMap<String, Value>,
    /// Rows of databases that Notion-Version 2022-06-28 cannot query (several data sources),
    /// as search returned them, by database id.
    pub search_rows: BTreeMap<String, Vec<Value>>,
}

/// Finds every data source the token can see (search, deduped, trashed ones skipped), with the
/// object search returned (it carries the schema).
pub(super) async fn discover_data_sources(
    client: &NotionClient,
) -> Result<Vec<(DataSourceRef, Value)>, NotionError> {
    let mut seen = HashSet::new();
    let found: Vec<Value> = client
        .search(SearchTarget::DataSources)
        .try_collect()
        .await?;
    Ok(found
        .into_iter()
        .filter(|o| !is_trashed(o))
        .filter_map(|o| DataSourceRef::from_object(&o).map(|r| (r, o)))
        .filter(|(r, _)| seen.insert(r.id.clone()))
        .collect())
}

/// The data sources a database object lists (under 2022-06-28, the database itself).
fn sources_of_database(client: &NotionClient, database_id: &str, db: &Value) -> Vec<DataSourceRef> {
    if !client.version().has_data_sources() {
        return DataSourceRef::from_object(db).into_iter().collect();
    }
    db.get("data_sources")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|d| d.get("id").and_then(Value::as_str))
                .map(|id| DataSourceRef {
                    id: normalize_id(id),
                    database_id: Some(database_id.to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Run<'_> {
    /// Reads the users into their table, or skips the table when the integration may not.
    pub(super) async fn read_users(&mut self) -> Result<(), SyncError> {
        if !self.wants(FixedTable::Users) {
            return Ok(());
        }
        match self.client.list_users().try_collect::<Vec<Value>>().await {
            Ok(users) => {
                let rows = users.iter().map(user_row).collect();
                self.output.fixed_rows(FixedTable::Users, rows).await
            }
            Err(e) if e.is_restricted() => {
                self.warnings.push("the integration cannot read users (403 restricted_resource); the users table is skipped — enable the \"Read user information\" capability to get it".into());
                self.skip(FixedTable::Users).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Finds what the run reads: the selected databases, or every data source and page search
    /// returns; then the selected root pages.
    pub(super) async fn discover(&mut self) -> Result<Discovered, SyncError> {
        let selection = &self.options.selection;
        let mut found = Discovered::default();
        if !selection.only_databases.is_empty() {
            for db in &selection.only_databases {
                let sources = self.add_database(db).await?;
                self.known.pending.extend(sources);
            }
        } else if selection.roots.is_empty() {
            for (source, obj) in discover_data_sources(self.client).await? {
                found.sources.insert(source.id.clone(), obj);
                self.known.pending.push(source);
            }
            if self.wants(FixedTable::Pages) || self.crawls() {
                found.search_rows = self.search_pages(&found.sources).await?;
            }
        }
        for root in &selection.roots {
            match self.client.retrieve_page(root).await {
                Ok(p) => {
                    self.add_page(&p, None, 0).await?;
                }
                Err(e) if e.is_not_found() => self.warnings.push(format!(
                    "page {root} does not exist or is not shared with the integration; skipped"
                )),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(found)
    }

    /// Reads the pages search returns (since the cursor, most recent first, on incremental
    /// runs), as they arrive: a workspace's results are never all in memory at once. Returns
    /// the rows of databases that `found_sources` lacks, by database: under Notion-Version
    /// 2022-06-28 search omits a database with several data sources, which cannot be queried,
    /// and its rows come only from here.
    async fn search_pages(
        &mut self,
        found_sources: &HashMap<String, Value>,
    ) -> Result<BTreeMap<String, Vec<Value>>, SyncError> {
        let client = self.client;
        let mut found = match self.mode.cursor {
            Some(_) => client.search_pages_recent_first(),
            None => client.search(SearchTarget::Pages),
        };
        let mut search_rows: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        while let Some(p) = found.try_next().await? {
            if let Some(c) = self.mode.cursor {
                let edited = p
                    .get("last_edited_time")
                    .and_then(Value::as_str)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                if edited.is_some_and(|t| t.with_timezone(&chrono::Utc) < c) {
                    break;
                }
            }
            if p.get("object").and_then(Value::as_str) != Some("page") {
                continue;
            }
            self.add_page(&p, None, 0).await?;
            if !client.version().has_data_sources()
                && let Some(Parent::Database { id }) = p.get("parent").map(Parent::from_json)
                && !found_sources.contains_key(&normalize_id(&id))
            {
                search_rows.entry(normalize_id(&id)).or_default().push(p);
            }
        }
        Ok(search_rows)
    }

    /// A database found by a child_database block, a `--database` selection or a data
    /// source's parent: its row in `databases`, and its data sources.
    pub(super) async fn add_database(
        &mut self,
        database_id: &str,
    ) -> Result<Vec<DataSourceRef>, SyncError> {
        let database_id = normalize_id(database_id);
        if !self.known.databases.insert(database_id.clone()) {
            return Ok(Vec::new());
        }
        let db = match self.client.retrieve_database(&database_id).await {
            Ok(db) => db,
            Err(e) if e.is_not_found() => {
                self.warnings.push(format!(
                    "database {database_id} vanished or is not shared; skipped"
                ));
                return Ok(Vec::new());
            }
            // Notion-Version 2022-06-28 cannot read a database with several data sources.
            Err(e) if e.kind() == ErrorKind::InvalidRequest => {
                self.warnings.push(format!(
                    "database {database_id} cannot be read with Notion-Version {}: {e}; its rows are read from search results where search returns them",
                    self.client.version()
                ));
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let sources = sources_of_database(self.client, &database_id, &db);
        let ids: Vec<String> = sources.iter().map(|s| s.id.clone()).collect();
        self.keep_database_files(&db);
        self.push(FixedTable::Databases, database_row(&db, &ids))
            .await?;
        Ok(sources)
    }
}
