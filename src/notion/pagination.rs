//! Cursor pagination (NOTION_API.md §3) as a stream of pages, for GET endpoints (cursor in the
//! query string) and POST endpoints (cursor in the JSON body). Every page goes through the
//! client's one send path.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{ApiRequest, NotionClient};
use super::error::NotionError;

/// One page of a list response.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The items of this page.
    pub results: Vec<Value>,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The envelope `type` (`block`, `user`, `page_or_data_source`, `property_item`…).
    pub list_type: Option<String>,
    /// The `property_item` descriptor of property-item lists (§4.7).
    pub property_item: Option<Value>,
    /// `request_status`, when sent (query cap, §2.3).
    pub request_status: Option<Value>,
}

impl ListPage {
    /// Parses a list envelope.
    pub fn from_json(endpoint: &str, mut v: Value) -> Result<Self, NotionError> {
        let decode = |detail: &str| NotionError::Decode {
            endpoint: endpoint.to_string(),
            detail: detail.to_string(),
        };
        if v.get("object").and_then(Value::as_str) != Some("list") {
            return Err(decode("expected a list envelope (\"object\": \"list\")"));
        }
        let results = match v.get_mut("results").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => return Err(decode("the list has no \"results\" array")),
        };
        let has_more = v.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        let next_cursor = v
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if has_more && next_cursor.is_none() {
            return Err(decode("has_more is true but next_cursor is missing"));
        }
        let list_type = v.get("type").and_then(Value::as_str).map(str::to_string);
        Ok(ListPage {
            results,
            next_cursor,
            has_more,
            property_item: v.get_mut("property_item").map(Value::take),
            request_status: v.get_mut("request_status").map(Value::take),
            list_type,
        })
    }

    /// True when Notion cut the result set at the query cap (`request_status.type == incomplete`).
    pub fn is_incomplete(&self) -> bool {
        self.request_status
            .as_ref()
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            == Some("incomplete")
    }
}

/// Adds `start_cursor` / `page_size` where this method expects them.
fn with_cursor(req: &ApiRequest, cursor: Option<&str>, page_size: u32) -> ApiRequest {
    let mut r = req.clone();
    if r.method == Method::GET {
        r.query
            .retain(|(k, _)| k != "start_cursor" && k != "page_size");
        r.query.push(("page_size".into(), page_size.to_string()));
        if let Some(c) = cursor {
            r.query.push(("start_cursor".into(), c.to_string()));
        }
    } else {
        let mut body = r.body.take().unwrap_or_else(|| json!({}));
        if let Some(obj) = body.as_object_mut() {
            obj.remove("start_cursor");
            obj.insert("page_size".into(), json!(page_size));
            if let Some(c) = cursor {
                obj.insert("start_cursor".into(), json!(c));
            }
        }
        r.body = Some(body);
    }
    r
}

enum Cursor {
    First,
    Next(String),
    Done,
}

/// Streams the pages of a paginated request, following `next_cursor` while `has_more`.
pub fn pages(
    client: NotionClient,
    req: ApiRequest,
) -> BoxStream<'static, Result<ListPage, NotionError>> {
    let page_size = client.page_size();
    stream::try_unfold(Cursor::First, move |cursor| {
        let client = client.clone();
        let req = req.clone();
        async move {
            let cursor_str = match &cursor {
                Cursor::Done => return Ok(None),
                Cursor::First => None,
                Cursor::Next(c) => Some(c.clone()),
            };
            let page_req = with_cursor(&req, cursor_str.as_deref(), page_size);
            let page = ListPage::from_json(req.endpoint, client.send(&page_req).await?)?;
            let next = match (&page.next_cursor, page.has_more) {
                (Some(next), true) if Some(next) == cursor_str.as_ref() => {
                    return Err(NotionError::Decode {
                        endpoint: req.endpoint.to_string(),
                        detail: "the server returned the same cursor twice".into(),
                    });
                }
                (Some(next), true) => Cursor::Next(next.clone()),
                _ => Cursor::Done,
            };
            Ok(Some((page, next)))
        }
    })
    .boxed()
}

/// Streams the items of every page of a paginated request.
pub fn items(
    client: NotionClient,
    req: ApiRequest,
) -> BoxStream<'static, Result<Value, NotionError>> {
    pages(client, req)
        .map_ok(|p| stream::iter(p.results.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}
