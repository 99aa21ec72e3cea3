//! What a token can see: the workspace, users, data sources with their sizes, and pages in
//! search, without writing anything.

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{DataSourceSchema, is_trashed};
use crate::notion::{NotionClient, NotionError, SearchTarget, StatsSnapshot};

/// One data source found by discovery.
#[derive(Debug, Clone, Serialize)]
pub struct DataSourceSummary {
    /// Data source id (the database id under 2022-06-28).
    pub id: String,
    /// Containing database.
    pub database_id: Option<String>,
    /// Title.
    pub title: String,
    /// Number of properties.
    pub properties: usize,
    /// Non-trashed rows.
    pub rows: usize,
    /// True when the query cap cut the row count.
    pub capped: bool,
}

/// What a token can see.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// Workspace name from `users/me`.
    pub workspace: Option<String>,
    /// The integration's bot id.
    pub bot_id: Option<String>,
    /// Users listed, or `None` when the capability is missing.
    pub users: Option<usize>,
    /// Data sources with their sizes.
    pub data_sources: Vec<DataSourceSummary>,
    /// Pages returned by search (rows included).
    pub pages_in_search: usize,
    /// Request counters of the run.
    pub requests: StatsSnapshot,
}

/// Discovers what the client's token can see.
pub async fn inventory(client: &NotionClient) -> Result<Inventory, NotionError> {
    let me = client.users_me().await?;
    let users = match client.list_users().try_collect::<Vec<Value>>().await {
        Ok(u) => Some(u.len()),
        Err(e) if e.is_restricted() => {
            tracing::warn!(
                "the integration cannot read users (403 restricted_resource); skipping users"
            );
            None
        }
        Err(e) => return Err(e),
    };
    let sources: Vec<_> = super::discover::discover_data_sources(client)
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mut data_sources = Vec::new();
    for source in sources {
        let schema_obj = match client.retrieve_schema_object(&source).await {
            Ok(o) => o,
            Err(e) if e.is_not_found() => {
                tracing::warn!(id = %source.id, "data source vanished or is no longer shared; skipping");
                continue;
            }
            Err(e) => return Err(e),
        };
        let schema = DataSourceSchema::from_object(&schema_obj);
        let mut rows = 0;
        let mut capped = false;
        let mut pages = client.query_rows(&source, json!({}));
        while let Some(page) = pages.try_next().await? {
            rows += page.results.len();
            capped |= page.is_incomplete();
        }
        data_sources.push(DataSourceSummary {
            id: source.id.clone(),
            database_id: source.database_id.clone(),
            title: schema.as_ref().map(|s| s.title.clone()).unwrap_or_default(),
            properties: schema.map(|s| s.properties.len()).unwrap_or(0),
            rows,
            capped,
        });
    }
    let pages_in_search = client
        .search(SearchTarget::Pages)
        .try_fold(0usize, |n, p| async move {
            Ok(n + usize::from(!is_trashed(&p)))
        })
        .await?;
    Ok(Inventory {
        workspace: me
            .pointer("/bot/workspace_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        bot_id: me.get("id").and_then(Value::as_str).map(str::to_string),
        users,
        data_sources,
        pages_in_search,
        requests: client.stats(),
    })
}
