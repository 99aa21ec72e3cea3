//! `GET /v1/pages/{id}/markdown`: a page (or, for a block id from an earlier answer's
//! `unknown_block_ids`, that block's subtree) in Notion's enhanced markdown: tab-indented
//! children, `<details>`, `<callout>`, `<columns>`, `<table>`, `<page>`/`<database>` references,
//! `<mention-*>` tags, `<meeting-notes>` (the transcript only with `include_transcript=true`),
//! and `<unknown url alt/>` for the types the format does not render. Past the record limit
//! (`FakeConfig::markdown_record_limit`, about 20,000 in Notion) every block not loaded is an
//! `<unknown>` tag whose id is listed in `unknown_block_ids`, with `truncated: true`; so is a
//! child page the integration cannot see. Versions before 2025-09-03 do not have the endpoint.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::respond::{error, not_found, ok};
use super::routes::{Q, q, restricted, version};
use super::state::FakeState;
use super::workspace::{Block, Workspace};
use crate::flatten::markdown::enhanced::escape;
use crate::model::normalize_id;
use crate::notion::NotionVersion;

fn url_of(id: &str) -> String {
    format!("https://www.notion.so/{}", id.replace('-', ""))
}

fn attr(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;")
}

/// Rich text in the enhanced format (annotations wrap each item; colours as `<span>`).
fn rich(value: Option<&Value>) -> String {
    let Some(items) = value.and_then(Value::as_array) else {
        return String::new();
    };
    let mut out = String::new();
    for item in items {
        let plain = item.get("plain_text").and_then(Value::as_str).unwrap_or("");
        let flag = |k: &str| item.pointer(&format!("/annotations/{k}")) == Some(&json!(true));
        let m = item.get("mention");
        let kind = m.and_then(|m| m.get("type")).and_then(Value::as_str);
        let target = |k: &str| {
            m.and_then(|m| m.pointer(&format!("/{k}/id")))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut s = match (item.get("type").and_then(Value::as_str), kind) {
            (Some("equation"), _) => format!("${plain}$"),
            (_, Some("user")) => format!(
                "<mention-user url=\"user://{}\">{}</mention-user>",
                target("user"),
                escape(plain.trim_start_matches('@'))
            ),
            (_, Some(k @ ("page" | "database"))) => format!(
                "<mention-{k} url=\"{}\">{}</mention-{k}>",
                url_of(&target(k)),
                escape(plain)
            ),
            (_, Some("date")) => format!(
                "<mention-date start=\"{}\"/>",
                attr(
                    m.and_then(|m| m.pointer("/date/start"))
                        .and_then(Value::as_str)
                        .unwrap_or(plain)
                )
            ),
            _ if flag("code") => format!("`{plain}`"),
            _ => escape(plain),
        };
        if let (Some(href), None) = (item.get("href").and_then(Value::as_str), kind) {
            s = format!("[{s}]({href})");
        } else if kind == Some("link_preview") {
            s = format!("[{}]({})", escape(plain), plain);
        }
        for (k, open, close) in [
            ("bold", "**", "**"),
            ("italic", "*", "*"),
            ("strikethrough", "~~", "~~"),
            ("underline", "<span underline=\"true\">", "</span>"),
        ] {
            if flag(k) && !s.is_empty() {
                s = format!("{open}{s}{close}");
            }
        }
        if let Some(c) = item
            .pointer("/annotations/color")
            .and_then(Value::as_str)
            .filter(|c| *c != "default")
        {
            s = format!(
                "<span color=\"{}\">{s}</span>",
                c.replace("_background", "_bg")
            );
        }
        out.push_str(&s);
    }
    out
}

/// A markdown answer in the making.
struct Answer<'a> {
    ws: &'a Workspace,
    version: NotionVersion,
    page: String,
    loaded: usize,
    limit: usize,
    transcript: bool,
    unknown: Vec<String>,
}

/// `open` and `close` at the block's indentation around `inner` (already indented deeper).
fn wrap(open: &str, inner: &str, close: &str, tabs: usize) -> String {
    let pad = "\t".repeat(tabs);
    format!("{pad}{open}{inner}\n{pad}{close}")
}

fn indent(text: &str, tabs: usize) -> String {
    let pad = "\t".repeat(tabs);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Answer<'_> {
    fn unknown_tag(&self, b: &Block) -> String {
        format!(
            "<unknown url=\"{}#{}\" alt=\"{}\"/>",
            url_of(&self.page),
            b.id.replace('-', ""),
            b.kind
        )
    }

    fn children(&mut self, ids: &[String], tabs: usize) -> String {
        let ws = self.ws;
        let mut lines = Vec::new();
        for id in ids {
            if let Some(b) = ws.blocks.get(id).filter(|b| !b.in_trash) {
                lines.push(self.block(b, tabs));
            }
        }
        lines.join("\n")
    }

    fn nested(&mut self, b: &Block, tabs: usize) -> String {
        let r = super::render::Renderer::new(self.ws, self.version);
        let kids = r.children_of(b).to_vec();
        let inner = self.children(&kids, tabs + 1);
        if inner.is_empty() {
            String::new()
        } else {
            format!("\n{inner}")
        }
    }

    /// One block and its subtree, each line indented by `tabs`.
    fn block(&mut self, b: &Block, tabs: usize) -> String {
        let hidden_page = b.kind == "child_page" && !self.ws.is_visible(&b.id);
        if self.loaded >= self.limit || hidden_page {
            self.unknown.push(b.id.clone());
            return indent(&self.unknown_tag(b), tabs);
        }
        self.loaded += 1;
        let p = &b.payload;
        let pad = "\t".repeat(tabs);
        let text = rich(p.get("rich_text"));
        let own = match b.kind.as_str() {
            "paragraph" if text.is_empty() && b.children.is_empty() => "<empty-block/>".into(),
            "paragraph" => text,
            k if k.starts_with("heading_") => {
                let level = k[8..].parse::<usize>().unwrap_or(1);
                let toggle = if p.get("is_toggleable") == Some(&json!(true)) {
                    " {toggle=\"true\"}"
                } else {
                    ""
                };
                format!("{} {text}{toggle}", "#".repeat(level))
            }
            "bulleted_list_item" => format!("- {text}"),
            "numbered_list_item" => format!("1. {text}"),
            "to_do" if p.get("checked") == Some(&json!(true)) => format!("- [x] {text}"),
            "to_do" => format!("- [ ] {text}"),
            "quote" => format!("> {text}"),
            "toggle" => {
                let inner = self.nested(b, tabs);
                return wrap(
                    &format!("<details>\n{pad}<summary>{text}</summary>"),
                    &inner,
                    "</details>",
                    tabs,
                );
            }
            "callout" => {
                let icon = p
                    .pointer("/icon/emoji")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let inner = self.nested(b, tabs);
                let open = format!("<callout icon=\"{}\">\n{pad}\t{text}", attr(icon));
                return wrap(&open, &inner, "</callout>", tabs);
            }
            "code" => {
                let code = crate::model::plain_text(p.get("rich_text").unwrap_or(&Value::Null));
                let lang = p.get("language").and_then(Value::as_str).unwrap_or("");
                format!("```{lang}\n{code}\n```")
            }
            "equation" => format!(
                "$$\n{}\n$$",
                p.get("expression").and_then(Value::as_str).unwrap_or("")
            ),
            "divider" => "---".into(),
            "table_of_contents" => "<table_of_contents/>".into(),
            "table" => return indent(&self.table(b), tabs),
            "column_list" | "column" => {
                let tag = if b.kind == "column" {
                    "column"
                } else {
                    "columns"
                };
                let inner = self.nested(b, tabs);
                return wrap(&format!("<{tag}>"), &inner, &format!("</{tag}>"), tabs);
            }
            "synced_block" => {
                let original = p.pointer("/synced_from/block_id").and_then(Value::as_str);
                let (tag, id) = match original {
                    Some(o) => ("synced_block_reference", o.to_string()),
                    None => ("synced_block", b.id.clone()),
                };
                let inner = self.nested(b, tabs);
                let url = format!("{}#{}", url_of(&self.page), id.replace('-', ""));
                return wrap(
                    &format!("<{tag} url=\"{url}\">"),
                    &inner,
                    &format!("</{tag}>"),
                    tabs,
                );
            }
            "image" => format!("![{}]({})", rich(p.get("caption")), media_url(p)),
            k @ ("file" | "video" | "audio" | "pdf") => {
                format!(
                    "<{k} src=\"{}\">{}</{k}>",
                    attr(&media_url(p)),
                    rich(p.get("caption"))
                )
            }
            "child_page" => format!(
                "<page url=\"{}\">{}</page>",
                url_of(&b.id),
                escape(p.get("title").and_then(Value::as_str).unwrap_or(""))
            ),
            "child_database" => format!(
                "<database url=\"{}\">{}</database>",
                url_of(&b.id),
                escape(p.get("title").and_then(Value::as_str).unwrap_or(""))
            ),
            "link_to_page" => {
                let (k, id) = match p.get("type").and_then(Value::as_str) {
                    Some("database_id") => ("database", p.get("database_id")),
                    _ => ("page", p.get("page_id")),
                };
                let id = id.and_then(Value::as_str).unwrap_or_default();
                format!("<mention-{k} url=\"{}\"/>", url_of(id))
            }
            "meeting_notes" => return self.meeting_notes(b, tabs),
            _ => self.unknown_tag(b),
        };
        let children_rendered =
            !matches!(b.kind.as_str(), "child_page" | "child_database") && b.kind != "unsupported";
        let inner = if children_rendered {
            self.nested(b, tabs)
        } else {
            String::new()
        };
        format!("{}{inner}", indent(&own, tabs))
    }

    fn table(&mut self, b: &Block) -> String {
        let p = &b.payload;
        let mut lines = vec![format!(
            "<table header-row=\"{}\" header-column=\"{}\">",
            p.get("has_column_header") == Some(&json!(true)),
            p.get("has_row_header") == Some(&json!(true))
        )];
        for row in b.children.iter().filter_map(|r| self.ws.blocks.get(r)) {
            self.loaded += 1;
            lines.push("\t<tr>".into());
            for cell in row
                .payload
                .get("cells")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                lines.push(format!("\t\t<td>{}</td>", rich(Some(cell))));
            }
            lines.push("\t</tr>".into());
        }
        lines.push("</table>".into());
        lines.join("\n")
    }

    fn meeting_notes(&mut self, b: &Block, tabs: usize) -> String {
        let pad = "\t".repeat(tabs);
        let mut out = vec![
            format!("{pad}<meeting-notes>"),
            format!("{pad}\t{}", rich(b.payload.get("title"))),
        ];
        for (key, tag) in [
            ("summary_block_id", "summary"),
            ("notes_block_id", "notes"),
            ("transcript_block_id", "transcript"),
        ] {
            if tag == "transcript" && !self.transcript {
                continue;
            }
            let Some(section) = b
                .payload
                .pointer(&format!("/children/{key}"))
                .and_then(Value::as_str)
                .and_then(|id| self.ws.blocks.get(id))
            else {
                continue;
            };
            let inner = self.block(section, tabs + 2);
            out.push(format!("{pad}\t<{tag}>\n{inner}\n{pad}\t</{tag}>"));
        }
        out.push(format!("{pad}</meeting-notes>"));
        out.join("\n")
    }
}

fn media_url(p: &Value) -> String {
    p.pointer("/file/url")
        .or_else(|| p.pointer("/external/url"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(super) async fn page_markdown(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
) -> Response {
    let version = version(&ext);
    if version < NotionVersion::V2025_09_03 {
        return error(
            400,
            "invalid_request_url",
            "Invalid request URL: the markdown endpoint needs Notion-Version 2025-09-03 or later.",
        );
    }
    if let Some(r) = restricted(&state, "content") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    if !ws.is_visible(&id) {
        return not_found("page", &id, &ws);
    }
    let root_page = match ws.page(&id) {
        Some(p) => p.id.clone(),
        None => match ws.block_root_page(&id) {
            Some(p) => p.id.clone(),
            None => return not_found("page", &id, &ws),
        },
    };
    let mut answer = Answer {
        ws: &ws,
        version,
        page: root_page,
        loaded: 0,
        limit: state.config.markdown_record_limit,
        transcript: q(&query, "include_transcript") == Some("true"),
        unknown: Vec::new(),
    };
    let markdown = match (ws.page(&id), ws.blocks.get(&id)) {
        (Some(p), _) => answer.children(&p.children, 0),
        (None, Some(b)) => answer.block(b, 0),
        (None, None) => return not_found("page", &id, &ws),
    };
    ok(json!({
        "object": "page_markdown",
        "id": id,
        "markdown": markdown,
        "truncated": !answer.unknown.is_empty(),
        "unknown_block_ids": answer.unknown,
    }))
}
