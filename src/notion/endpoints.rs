//! The read endpoints an extractor needs (users, search, databases, data sources, pages,
//! property items, blocks, comments), as methods on [`NotionClient`].
//! Version differences are hidden here: callers ask for "rows of a data source" or "search for
//! data sources" and get the right path, body and filter value for the selected version.

use futures::TryStreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use super::client::{ApiRequest, NotionClient};
use super::error::NotionError;
use super::pagination::{self, ListPage, RawRow};
use crate::model::{DataSourceRef, normalize_id};

/// What a search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchTarget {
    /// Pages only.
    Pages,
    /// Data sources (2025+) or databases (2022-06-28).
    DataSources,
}

fn id_path(id: &str) -> String {
    normalize_id(id)
}

impl NotionClient {
    /// `GET /v1/users/me`: the token's bot user, with workspace name and id.
    pub async fn users_me(&self) -> Result<Value, NotionError> {
        self.send(&ApiRequest::get("GET /v1/users/me", "/v1/users/me"))
            .await
    }

    /// `GET /v1/users`: every member and bot, page by page.
    pub fn list_users(&self) -> BoxStream<'static, Result<Value, NotionError>> {
        pagination::items(self.clone(), ApiRequest::get("GET /v1/users", "/v1/users"))
    }

    /// `POST /v1/search`, with the filter value this version expects.
    pub fn search(&self, target: SearchTarget) -> BoxStream<'static, Result<Value, NotionError>> {
        let value = match target {
            SearchTarget::Pages => "page",
            SearchTarget::DataSources => self.version().container_search_value(),
        };
        let body = json!({"filter": {"property": "object", "value": value}});
        pagination::items(
            self.clone(),
            ApiRequest::post("POST /v1/search", "/v1/search", body),
        )
    }

    /// Pages by most recent edit first (`POST /v1/search` sorted by `last_edited_time`
    /// descending): an incremental sync stops reading when it reaches pages older than its cursor.
    pub fn search_pages_recent_first(&self) -> BoxStream<'static, Result<Value, NotionError>> {
        let body = json!({
            "filter": {"property": "object", "value": "page"},
            "sort": {"timestamp": "last_edited_time", "direction": "descending"}
        });
        pagination::items(
            self.clone(),
            ApiRequest::post("POST /v1/search", "/v1/search", body),
        )
    }

    /// `GET /v1/databases/{id}`.
    pub async fn retrieve_database(&self, id: &str) -> Result<Value, NotionError> {
        self.send(&ApiRequest::get(
            "GET /v1/databases/{id}",
            format!("/v1/databases/{}", id_path(id)),
        ))
        .await
    }

    /// `GET /v1/data_sources/{id}` (2025-09-03+).
    pub async fn retrieve_data_source(&self, id: &str) -> Result<Value, NotionError> {
        self.require_data_sources("GET /v1/data_sources/{id}")?;
        self.send(&ApiRequest::get(
            "GET /v1/data_sources/{id}",
            format!("/v1/data_sources/{}", id_path(id)),
        ))
        .await
    }

    /// The schema object of a table: the data source (2025+) or the database (2022-06-28).
    pub async fn retrieve_schema_object(
        &self,
        source: &DataSourceRef,
    ) -> Result<Value, NotionError> {
        if self.version().has_data_sources() {
            self.retrieve_data_source(&source.id).await
        } else {
            self.retrieve_database(&source.id).await
        }
    }

    /// The request that queries a table's rows with `body` (filter, sorts, in_trash), for the
    /// selected version. Page it with [`pagination::pages`].
    pub fn query_rows_request(&self, source: &DataSourceRef, body: Value) -> ApiRequest {
        let path = if self.version().has_data_sources() {
            format!("/v1/data_sources/{}/query", id_path(&source.id))
        } else {
            format!("/v1/databases/{}/query", id_path(&source.id))
        };
        ApiRequest::post(self.query_rows_endpoint(), path, body)
    }

    /// The endpoint that queries a table's rows in the selected version (for error messages).
    pub fn query_rows_endpoint(&self) -> &'static str {
        if self.version().has_data_sources() {
            "POST /v1/data_sources/{id}/query"
        } else {
            "POST /v1/databases/{id}/query"
        }
    }

    /// Rows of a table, page by page (the caller sees `request_status` for the query cap). The
    /// rows stay raw JSON: decode each with [`pagination::decode_row`] when it is used.
    pub fn query_rows(
        &self,
        source: &DataSourceRef,
        body: Value,
    ) -> BoxStream<'static, Result<ListPage<RawRow>, NotionError>> {
        pagination::pages(self.clone(), self.query_rows_request(source, body))
    }

    /// `GET /v1/pages/{id}`.
    pub async fn retrieve_page(&self, id: &str) -> Result<Value, NotionError> {
        self.send(&ApiRequest::get(
            "GET /v1/pages/{id}",
            format!("/v1/pages/{}", id_path(id)),
        ))
        .await
    }

    /// `GET /v1/pages/{id}/markdown`: a page's content (or, for an id from an earlier answer's
    /// `unknown_block_ids`, that block's subtree) in Notion's enhanced markdown, as Notion
    /// answers it (`markdown`, `truncated`, `unknown_block_ids`). Notion-Version 2025-09-03 and
    /// later.
    pub async fn page_markdown(
        &self,
        id: &str,
        include_transcript: bool,
    ) -> Result<Value, NotionError> {
        let mut req = ApiRequest::get(
            "GET /v1/pages/{id}/markdown",
            format!("/v1/pages/{}/markdown", id_path(id)),
        );
        if include_transcript {
            req.query.push(("include_transcript".into(), "true".into()));
        }
        self.send(&req).await
    }

    /// `GET /v1/pages/{id}/properties/{property_id}`, every page of it. The property id
    /// is passed verbatim (it is already URL-encoded). Simple types answer one `property_item`
    /// object, returned as it is; list types (title, rich_text, relation, people, rollup) are
    /// returned as one list envelope holding every item and the last page's `property_item`.
    pub async fn page_property(
        &self,
        page_id: &str,
        property_id: &str,
    ) -> Result<Value, NotionError> {
        let endpoint = "GET /v1/pages/{id}/properties/{property_id}";
        let req = ApiRequest::get(
            endpoint,
            format!("/v1/pages/{}/properties/{}", id_path(page_id), property_id),
        );
        let first_page = pagination::page_request(&req, None, self.page_size());
        let first = self.send(&first_page).await?;
        if first.get("object").and_then(Value::as_str) != Some("list") {
            return Ok(first);
        }
        let mut page = ListPage::from_json(endpoint, first)?;
        let mut results = std::mem::take(&mut page.results);
        let mut property_item = page.property_item.take();
        if let (true, Some(cursor)) = (page.has_more, page.next_cursor.take()) {
            let mut rest = pagination::pages_after::<Value>(self.clone(), req, cursor);
            while let Some(mut next) = rest.try_next().await? {
                results.append(&mut next.results);
                property_item = next.property_item.take().or(property_item);
            }
        }
        Ok(json!({
            "object": "list",
            "results": results,
            "next_cursor": null,
            "has_more": false,
            "type": "property_item",
            "property_item": property_item.unwrap_or(Value::Null),
        }))
    }

    /// `GET /v1/blocks/{id}`.
    pub async fn retrieve_block(&self, id: &str) -> Result<Value, NotionError> {
        self.send(&ApiRequest::get(
            "GET /v1/blocks/{id}",
            format!("/v1/blocks/{}", id_path(id)),
        ))
        .await
    }

    /// `GET /v1/comments/{id}`: one comment.
    pub async fn retrieve_comment(&self, id: &str) -> Result<Value, NotionError> {
        self.send(&ApiRequest::get(
            "GET /v1/comments/{id}",
            format!("/v1/comments/{}", id_path(id)),
        ))
        .await
    }

    /// `GET /v1/blocks/{id}/children`: the first level of children, every page.
    pub fn block_children(&self, id: &str) -> BoxStream<'static, Result<Value, NotionError>> {
        pagination::items(
            self.clone(),
            ApiRequest::get(
                "GET /v1/blocks/{id}/children",
                format!("/v1/blocks/{}/children", id_path(id)),
            ),
        )
    }

    /// `GET /v1/comments?block_id=…`: unresolved comments of a page or block.
    pub fn list_comments(&self, block_id: &str) -> BoxStream<'static, Result<Value, NotionError>> {
        pagination::items(
            self.clone(),
            ApiRequest::get("GET /v1/comments", "/v1/comments")
                .with_query("block_id", id_path(block_id)),
        )
    }

    fn require_data_sources(&self, endpoint: &str) -> Result<(), NotionError> {
        if self.version().has_data_sources() {
            Ok(())
        } else {
            Err(NotionError::Unsupported {
                endpoint: endpoint.to_string(),
                version: self.version().to_string(),
                hint: "data sources exist from 2025-09-03: use --notion-version 2025-09-03".into(),
            })
        }
    }
}
