//! Cursor pagination (`start_cursor`/`next_cursor`/`has_more` list envelopes) as a stream of pages, for GET endpoints (cursor in the
//! query string) and POST endpoints (cursor in the JSON body). Every page goes through the
//! client's one send path.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::client::{ApiRequest, NotionClient};
use super::error::{ErrorKind, NotionError};

/// One page of a list response, its items decoded as `T`: [`Value`], or [`RawRow`] for row
/// queries, whose rows stay raw JSON until each is used.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage<T = Value> {
    /// The items of this page.
    pub results: Vec<T>,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The envelope `type` (`block`, `user`, `page_or_data_source`, `property_item`…).
    pub list_type: Option<String>,
    /// The `property_item` descriptor of property-item lists (what property they list).
    pub property_item: Option<Value>,
    /// `request_status`, when sent: `incomplete` when the per-query cap cut the results.
    pub request_status: Option<Value>,
}

impl ListPage {
    /// Parses a list envelope.
    pub fn from_json(endpoint: &str, mut v: Value) -> Result<Self, NotionError> {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Envelope {
            object: text(&v, "object"),
            results: match v.get_mut("results").map(Value::take) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            },
            has_more: v.get("has_more").and_then(Value::as_bool),
            next_cursor: text(&v, "next_cursor"),
            list_type: text(&v, "type"),
            property_item: v.get_mut("property_item").map(Value::take),
            request_status: v.get_mut("request_status").map(Value::take),
        }
        .into_page(endpoint)
    }
}

/// One item of a list response as the raw JSON text Notion sent.
///
/// A query response holds up to 100 rows of several kilobytes each. Decoded into [`Value`]s all
/// at once, they fill the CPU caches many times over before the first row is flattened; kept raw
/// and decoded one by one ([`decode_row`]) just before use, each row is flattened while its
/// objects are still in cache and its memory is reused by the next row (measured in
/// `benches/flatten.rs`: decoding ~40% cheaper, flattening ~20% cheaper).
pub type RawRow = Box<RawValue>;

/// Decodes one raw row.
pub fn decode_row(endpoint: &str, row: &RawValue) -> Result<Value, NotionError> {
    serde_json::from_str(row.get()).map_err(|e| NotionError::Decode {
        endpoint: endpoint.to_string(),
        detail: format!("a list item is not JSON ({e})"),
    })
}

/// The list envelope, its items decoded as `T`.
#[derive(Deserialize)]
struct Envelope<T> {
    object: Option<String>,
    results: Option<Vec<T>>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: Option<bool>,
    #[serde(default, rename = "type")]
    list_type: Option<String>,
    #[serde(default)]
    property_item: Option<Value>,
    #[serde(default)]
    request_status: Option<Value>,
}

impl<T> Envelope<T> {
    /// The page, once the envelope is checked: a list, with results, and a cursor when more
    /// follow.
    fn into_page(self, endpoint: &str) -> Result<ListPage<T>, NotionError> {
        let decode = |detail: &str| NotionError::Decode {
            endpoint: endpoint.to_string(),
            detail: detail.to_string(),
        };
        if self.object.as_deref() != Some("list") {
            return Err(decode("expected a list envelope (\"object\": \"list\")"));
        }
        let Some(results) = self.results else {
            return Err(decode("the list has no \"results\" array"));
        };
        let has_more = self.has_more.unwrap_or(false);
        if has_more && self.next_cursor.is_none() {
            return Err(decode("has_more is true but next_cursor is missing"));
        }
        Ok(ListPage {
            results,
            next_cursor: self.next_cursor,
            has_more,
            list_type: self.list_type,
            property_item: self.property_item,
            request_status: self.request_status,
        })
    }
}

impl ListPage<RawRow> {
    /// Parses a list envelope from the response body, leaving its items raw.
    pub fn from_slice(endpoint: &str, body: &[u8]) -> Result<Self, NotionError> {
        serde_json::from_slice::<Envelope<RawRow>>(body)
            .map_err(|e| NotionError::Decode {
                endpoint: endpoint.to_string(),
                detail: format!("response body is not a list envelope ({e})"),
            })?
            .into_page(endpoint)
    }

    /// Every row of the page decoded (for callers that want them all at once).
    pub fn decode_rows(&self, endpoint: &str) -> Result<Vec<Value>, NotionError> {
        self.results
            .iter()
            .map(|r| decode_row(endpoint, r))
            .collect()
    }
}

impl<T> ListPage<T> {
    /// True when Notion cut the result set at the query cap (`request_status.type == incomplete`).
    pub fn is_incomplete(&self) -> bool {
        self.request_status
            .as_ref()
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            == Some("incomplete")
    }
}

/// The request for one page: `req` with `page_size` and, after the first, `start_cursor`,
/// where this method expects them (query string for GET, body for POST).
pub fn page_request(req: &ApiRequest, cursor: Option<&str>, page_size: u32) -> ApiRequest {
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

/// How the items of a list page are decoded from a response body.
pub trait ListItem: Sized + Send + 'static {
    /// The page in `body`, a response of `endpoint`.
    fn page(endpoint: &str, body: &[u8]) -> Result<ListPage<Self>, NotionError>;
}

impl ListItem for Value {
    fn page(endpoint: &str, body: &[u8]) -> Result<ListPage<Self>, NotionError> {
        ListPage::from_json(endpoint, super::client::parse_body(endpoint, body)?)
    }
}

impl ListItem for RawRow {
    fn page(endpoint: &str, body: &[u8]) -> Result<ListPage<Self>, NotionError> {
        ListPage::from_slice(endpoint, body)
    }
}

/// Streams the pages of a paginated request, following `next_cursor` while `has_more`.
pub fn pages<T: ListItem>(
    client: NotionClient,
    req: ApiRequest,
) -> BoxStream<'static, Result<ListPage<T>, NotionError>> {
    pages_from(client, req, Cursor::First)
}

/// Streams the pages of a paginated request after its first page, which ended at `cursor`.
pub fn pages_after<T: ListItem>(
    client: NotionClient,
    req: ApiRequest,
    cursor: String,
) -> BoxStream<'static, Result<ListPage<T>, NotionError>> {
    pages_from(client, req, Cursor::Next(cursor))
}

fn pages_from<T: ListItem>(
    client: NotionClient,
    req: ApiRequest,
    start: Cursor,
) -> BoxStream<'static, Result<ListPage<T>, NotionError>> {
    let page_size = client.page_size();
    stream::try_unfold(start, move |cursor| {
        let client = client.clone();
        let req = req.clone();
        async move {
            let cursor_str = match &cursor {
                Cursor::Done => return Ok(None),
                Cursor::First => None,
                Cursor::Next(c) => Some(c.clone()),
            };
            let page_req = page_request(&req, cursor_str.as_deref(), page_size);
            let page = T::page(req.endpoint, &client.send_raw(&page_req).await?)?;
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

/// Times one listing may be started again after Notion rejects its pagination cursor.
pub const MAX_RESTARTS: u32 = 3;

/// What a [`Restarting`] listing gives next.
#[derive(Debug)]
pub enum Listed<T> {
    /// The next item (an item, or a page, of the listing).
    Item(T),
    /// Notion rejected a pagination cursor as stale, and the listing started again from its
    /// first page: what it gave before comes again.
    Restarted(NotionError),
}

/// A listing that starts again from its first page when Notion rejects a pagination cursor
/// (a cursor goes stale when the listing changes under it), up to an allowance of restarts.
pub struct Restarting<T, F> {
    make: F,
    stream: BoxStream<'static, Result<T, NotionError>>,
    allowed: u32,
    used: u32,
}

impl<T, F: FnMut() -> BoxStream<'static, Result<T, NotionError>>> Restarting<T, F> {
    /// The listing `make` starts, which may be started again `allowed` times.
    pub fn new(mut make: F, allowed: u32) -> Self {
        let stream = make();
        Restarting {
            make,
            stream,
            allowed,
            used: 0,
        }
    }

    /// The next item, a restart, or the end of the listing.
    pub async fn next(&mut self) -> Result<Option<Listed<T>>, NotionError> {
        match self.stream.try_next().await {
            Ok(Some(x)) => Ok(Some(Listed::Item(x))),
            Ok(None) => Ok(None),
            Err(e) if e.kind() == ErrorKind::StaleCursor && self.used < self.allowed => {
                self.used += 1;
                self.stream = (self.make)();
                Ok(Some(Listed::Restarted(e)))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: &Value) -> Result<ListPage<RawRow>, NotionError> {
        ListPage::from_slice("test", &serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn raw_rows_decode_to_what_the_value_path_reads() {
        let body = json!({
            "object": "list",
            "results": [{"object": "page", "id": "a", "properties": {"n": {"type": "number", "number": 1.5}}},
                        {"object": "page", "id": "b", "title": "caf\u{e9} \"q\""}],
            "next_cursor": "c2",
            "has_more": true,
            "type": "page_or_data_source",
            "page_or_data_source": {},
            "request_status": {"type": "incomplete"},
        });
        let lazy = raw(&body).unwrap();
        let eager = ListPage::from_json("test", body).unwrap();
        assert_eq!(lazy.decode_rows("test").unwrap(), eager.results);
        assert_eq!(lazy.next_cursor, eager.next_cursor);
        assert_eq!(lazy.has_more, eager.has_more);
        assert_eq!(lazy.list_type, eager.list_type);
        assert_eq!(lazy.request_status, eager.request_status);
        assert!(lazy.is_incomplete());
    }

    #[test]
    fn malformed_envelopes_are_decode_errors() {
        let err = |r: Result<ListPage<RawRow>, NotionError>| r.unwrap_err().to_string();
        assert!(
            err(ListPage::from_slice("test", b"{\"object\": \"list\", "))
                .contains("not a list envelope")
        );
        assert!(
            err(raw(&json!({"object": "page", "results": []})))
                .contains("expected a list envelope")
        );
        assert!(err(raw(&json!({"object": "list"}))).contains("no \"results\" array"));
        assert!(
            err(raw(
                &json!({"object": "list", "results": [], "has_more": true, "next_cursor": null})
            ))
            .contains("next_cursor is missing")
        );
        // The Value path checks the envelope the same way.
        for (bad, message) in [
            (
                json!({"object": "page", "results": []}),
                "expected a list envelope",
            ),
            (json!({"object": "list"}), "no \"results\" array"),
            (
                json!({"object": "list", "results": [], "has_more": true}),
                "next_cursor is missing",
            ),
        ] {
            let e = ListPage::from_json("test", bad).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
        }
        let last =
            raw(&json!({"object": "list", "results": [], "has_more": false, "next_cursor": null}))
                .unwrap();
        assert!(last.results.is_empty() && !last.has_more && last.next_cursor.is_none());
    }
}
