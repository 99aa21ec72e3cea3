//! `documents` rows: a crawled page's block rows, rebuilt into their tree and rendered by
//! [`super::markdown`], with the page's title, url, parent and edit time. No request is made:
//! everything comes from the rows the crawl already produced.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::markdown::{BlockNode, Context, Document, LinkKind, Titles, render};

/// The page columns a document repeats from its `pages` row, kept from the moment the page is
/// queued for its crawl until its content arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocumentHead {
    /// Title.
    pub title: Option<Box<str>>,
    /// Notion URL.
    pub url: Option<Box<str>>,
    /// Parent kind.
    pub parent_type: Option<Box<str>>,
    /// Parent id.
    pub parent_id: Option<Box<str>>,
    /// Last edit, as Notion sent it.
    pub last_edited_time: Option<Box<str>>,
}

impl DocumentHead {
    /// The head of a `pages` row.
    pub fn of(page_row: &Value) -> DocumentHead {
        let text = |k: &str| page_row.get(k).and_then(Value::as_str).map(Box::from);
        DocumentHead {
            title: text("title"),
            url: text("url"),
            parent_type: text("parent_type"),
            parent_id: text("parent_id"),
            last_edited_time: text("last_edited_time"),
        }
    }

    fn insert_into(&self, row: &mut Map<String, Value>) {
        let fields = [
            ("title", &self.title),
            ("url", &self.url),
            ("parent_type", &self.parent_type),
            ("parent_id", &self.parent_id),
            ("last_edited_time", &self.last_edited_time),
        ];
        for (k, v) in fields {
            row.insert(k.into(), v.as_deref().map_or(Value::Null, |v| json!(v)));
        }
    }
}

/// The block tree of a page from its `blocks` rows (children ordered by `position`; a row
/// whose parent is missing hangs from the page, so nothing is dropped).
pub fn block_tree(page_id: &str, rows: &[Value]) -> Vec<BlockNode> {
    let text = |r: &Value, k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let ids: std::collections::HashSet<String> = rows.iter().map(|r| text(r, "id")).collect();
    let mut children: HashMap<String, Vec<(i64, usize)>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let parent = text(r, "parent_id");
        let parent = if ids.contains(&parent) && parent != text(r, "id") {
            parent
        } else {
            page_id.to_string()
        };
        let position = r.get("position").and_then(Value::as_i64).unwrap_or(0);
        children.entry(parent).or_default().push((position, i));
    }
    for list in children.values_mut() {
        list.sort_unstable();
    }
    fn build(
        id: &str,
        rows: &[Value],
        children: &mut HashMap<String, Vec<(i64, usize)>>,
    ) -> Vec<BlockNode> {
        let Some(list) = children.remove(id) else {
            return Vec::new();
        };
        list.into_iter()
            .map(|(_, i)| {
                let r = &rows[i];
                let id = r
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let payload = r
                    .get("raw")
                    .and_then(Value::as_str)
                    .and_then(|raw| serde_json::from_str(raw).ok())
                    .unwrap_or(Value::Null);
                BlockNode {
                    kind: r
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string(),
                    payload,
                    children: build(&id, rows, children),
                    id,
                }
            })
            .collect()
    }
    // `remove` takes each list once, so a cycle in bad data ends instead of looping.
    build(page_id, rows, &mut children)
}

/// The synced-block originals of a tree, by id (a copy on the same page renders from them).
fn originals(nodes: &[BlockNode], out: &mut HashMap<String, BlockNode>) {
    for n in nodes {
        if n.kind == "synced_block" && n.payload.get("synced_from").is_none_or(Value::is_null) {
            out.insert(n.id.clone(), n.clone());
        }
        originals(&n.children, out);
    }
}

/// The `documents` row of page `page_id` from its head and its `blocks` rows; `titles` names
/// the pages its links point at, when known.
pub fn document_row(page_id: &str, head: &DocumentHead, rows: &[Value], titles: &Titles) -> Value {
    let tree = block_tree(page_id, rows);
    let mut synced = HashMap::new();
    originals(&tree, &mut synced);
    let ctx = Context {
        synced: Some(&synced),
        titles,
        ..Context::default()
    };
    let doc = render(&tree, &ctx);
    row_of(page_id, head, &doc, ContentSource::Blocks)
}

/// Where a document's Markdown came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentSource {
    /// Rendered here from the page's blocks.
    Blocks,
    /// Notion's enhanced markdown (`GET /v1/pages/{id}/markdown`).
    MarkdownApi,
}

impl ContentSource {
    /// The `content_source` column's value.
    pub fn name(self) -> &'static str {
        match self {
            ContentSource::Blocks => "blocks",
            ContentSource::MarkdownApi => "markdown_api",
        }
    }
}

/// The `documents` row of page `page_id` read as enhanced markdown.
pub fn markdown_api_row(page_id: &str, head: &DocumentHead, markdown: &str) -> Value {
    let doc = super::markdown::enhanced::summarize(markdown);
    row_of(page_id, head, &doc, ContentSource::MarkdownApi)
}

fn row_of(page_id: &str, head: &DocumentHead, doc: &Document, source: ContentSource) -> Value {
    let links = |kind: LinkKind| -> Vec<&str> {
        doc.links
            .0
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t.as_str())
            .collect()
    };
    let headings: Vec<Value> = doc
        .headings
        .iter()
        .map(|h| json!({"level": h.level, "text": h.text, "anchor": h.anchor}))
        .collect();
    let mut r = Map::new();
    r.insert("page_id".into(), json!(page_id));
    head.insert_into(&mut r);
    r.insert("markdown".into(), json!(doc.markdown));
    r.insert("content_source".into(), json!(source.name()));
    r.insert("text".into(), json!(doc.text));
    r.insert("word_count".into(), json!(doc.words));
    let blocks = match source {
        ContentSource::Blocks => json!(doc.blocks),
        ContentSource::MarkdownApi => Value::Null,
    };
    r.insert("block_count".into(), blocks);
    r.insert("headings".into(), Value::Array(headings).to_string().into());
    r.insert("links_pages".into(), json!(links(LinkKind::Page)));
    r.insert("links_databases".into(), json!(links(LinkKind::Database)));
    r.insert("links_urls".into(), json!(links(LinkKind::Url)));
    r.insert(
        "placeholder_count".into(),
        json!(doc.placeholders.values().sum::<usize>()),
    );
    r.insert(
        "placeholders".into(),
        json!(doc.placeholders).to_string().into(),
    );
    Value::Object(r)
}
