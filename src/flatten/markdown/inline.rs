//! Rich text → inline Markdown: annotations (bold, italic, strikethrough, code, underline as
//! `<u>`), links, inline equations as `$…$`, mentions, and escaping of Markdown's special
//! characters in text. Colours are dropped. A line break inside a value stays a `\n`; the
//! block renderer turns it into a hard break at the block's indentation.

use serde_json::Value;

use super::{Context, LinkKind, Links};

/// The emphasis markers that wrap text, outermost first when opened together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Bold,
    Italic,
    Strike,
    Underline,
}

impl Mark {
    const ALL: [Mark; 4] = [Mark::Bold, Mark::Italic, Mark::Strike, Mark::Underline];

    fn key(self) -> &'static str {
        match self {
            Mark::Bold => "bold",
            Mark::Italic => "italic",
            Mark::Strike => "strikethrough",
            Mark::Underline => "underline",
        }
    }

    fn open(self) -> &'static str {
        match self {
            Mark::Bold => "**",
            Mark::Italic => "*",
            Mark::Strike => "~~",
            Mark::Underline => "<u>",
        }
    }

    fn close(self) -> &'static str {
        match self {
            Mark::Underline => "</u>",
            other => other.open(),
        }
    }
}

/// Escapes the characters that would start Markdown syntax inside text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '~' | '|' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The longest run of `c` in `text`.
pub(super) fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

/// `text` as an inline code span, fenced by more backticks than it holds in a row.
fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The Notion URL of a page or database id.
pub fn notion_url(id: &str) -> String {
    format!("https://www.notion.so/{}", id.replace('-', ""))
}

/// One rich-text item's content, before emphasis: its Markdown and its plain text.
fn item_content(item: &Value, ctx: &Context<'_>, links: &mut Links) -> (String, String) {
    let plain = item
        .get("plain_text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let annotations = item.get("annotations");
    let flag = |k: &str| {
        annotations
            .and_then(|a| a.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let href = item.get("href").and_then(Value::as_str);
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("text");
    let body = match kind {
        "equation" => {
            let expr = item
                .pointer("/equation/expression")
                .and_then(Value::as_str)
                .unwrap_or(&plain);
            return (format!("${expr}$"), expr.to_string());
        }
        "mention" => return mention(item, &plain, ctx, links),
        _ if flag("code") => code_span(&plain),
        _ => escape(&plain),
    };
    match href {
        Some(url) => {
            links.push(LinkKind::Url, url);
            (format!("[{body}]({})", link_target(url)), plain)
        }
        None => (body, plain),
    }
}

/// A URL as a link destination (in angle brackets when it holds spaces or parentheses).
fn link_target(url: &str) -> String {
    if url.contains([' ', '(', ')', '<', '>']) {
        format!("<{}>", url.replace('<', "%3C").replace('>', "%3E"))
    } else {
        url.to_string()
    }
}

/// A mention: users as `@Name`, pages and databases as links with their titles, dates as their
/// text, link previews as links, custom emoji as their `:name:`.
fn mention(item: &Value, plain: &str, ctx: &Context<'_>, links: &mut Links) -> (String, String) {
    let m = item.get("mention").cloned().unwrap_or(Value::Null);
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let id = |k: &str| m.pointer(&format!("/{k}/id")).and_then(Value::as_str);
    match kind {
        "user" => {
            let name = id("user")
                .and_then(|u| ctx.users.get(u).cloned())
                .or_else(|| {
                    m.pointer("/user/name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| plain.trim_start_matches('@').to_string());
            (format!("@{}", escape(&name)), format!("@{name}"))
        }
        "page" | "database" => {
            let target = id(kind).unwrap_or_default();
            let title = ctx
                .titles
                .get(target)
                .map_or_else(|| plain.to_string(), str::to_string);
            let link = if kind == "page" {
                LinkKind::Page
            } else {
                LinkKind::Database
            };
            links.push(link, target);
            (
                format!("[{}]({})", escape(&title), notion_url(target)),
                title,
            )
        }
        "link_preview" | "link_mention" => {
            let url = m
                .pointer(&format!("/{kind}/url"))
                .or_else(|| m.pointer(&format!("/{kind}/href")))
                .and_then(Value::as_str)
                .unwrap_or(plain);
            links.push(LinkKind::Url, url);
            (
                format!("[{}]({})", escape(plain), link_target(url)),
                plain.to_string(),
            )
        }
        // Custom emoji stay their `:name:` text (the image is decoration, not a link out);
        // dates, templates and unknown subtypes keep Notion's text.
        _ => (escape(plain), plain.to_string()),
    }
}

/// The active emphasis of an item.
fn marks_of(item: &Value) -> Vec<Mark> {
    let a = item.get("annotations");
    Mark::ALL
        .into_iter()
        .filter(|m| {
            a.and_then(|a| a.get(m.key()))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .collect()
}

/// A rich-text array as inline Markdown and as plain text. Emphasis spans items: markers open
/// where an annotation starts and close where it ends (closing and reopening inner ones to keep
/// them nested), and whitespace at an item's edges stays outside its markers.
pub fn render(rich_text: &Value, ctx: &Context<'_>, links: &mut Links) -> (String, String) {
    let Some(items) = rich_text.as_array() else {
        return (String::new(), String::new());
    };
    let (mut md, mut plain) = (String::new(), String::new());
    let mut open: Vec<Mark> = Vec::new();
    for item in items {
        let (body, text) = item_content(item, ctx, links);
        plain.push_str(&text);
        let want = marks_of(item);
        let trimmed_start = body.trim_start();
        let lead = &body[..body.len() - trimmed_start.len()];
        let core = trimmed_start.trim_end();
        let trail = &trimmed_start[core.len()..];
        if core.is_empty() {
            md.push_str(&body);
            continue;
        }
        // Close from the top of the stack down to the first mark no longer wanted.
        if let Some(first_gone) = open.iter().position(|m| !want.contains(m)) {
            for m in open.drain(first_gone..).rev() {
                md.push_str(m.close());
            }
        }
        md.push_str(lead);
        let opening: Vec<Mark> = want.into_iter().filter(|m| !open.contains(m)).collect();
        for m in opening {
            md.push_str(m.open());
            open.push(m);
        }
        md.push_str(core);
        if !trail.is_empty() {
            for m in open.drain(..).rev() {
                md.push_str(m.close());
            }
            md.push_str(trail);
        }
    }
    for m in open.drain(..).rev() {
        md.push_str(m.close());
    }
    (md, plain)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(t: &str, bold: bool, italic: bool, code: bool) -> Value {
        json!({"type": "text", "text": {"content": t}, "plain_text": t, "href": null,
               "annotations": {"bold": bold, "italic": italic, "strikethrough": false,
                               "underline": false, "code": code, "color": "red"}})
    }

    fn md(items: Vec<Value>) -> String {
        let ctx = Context::default();
        render(&Value::Array(items), &ctx, &mut Links::default()).0
    }

    #[test]
    fn annotations_nest_and_overlap() {
        assert_eq!(md(vec![text("a", true, false, false)]), "**a**");
        assert_eq!(
            md(vec![
                text("a", true, false, false),
                text("b", true, true, false),
                text("c", true, false, false)
            ]),
            "**a*b*c**"
        );
        assert_eq!(
            md(vec![
                text("bold ", true, false, false),
                text("plain", false, false, false)
            ]),
            "**bold** plain"
        );
        assert_eq!(md(vec![text("x`y", false, false, true)]), "``x`y``");
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(
            md(vec![text("2*3 [a] <b> _c_ $5", false, false, false)]),
            "2\\*3 \\[a\\] \\<b\\> \\_c\\_ \\$5"
        );
    }

    #[test]
    fn links_mentions_and_equations() {
        let mut links = Links::default();
        let users = [("u1".to_string(), "Ada".to_string())].into();
        let p1 = "0a1b2c3d-0000-4000-8000-000000000001";
        let mut titles = crate::flatten::markdown::Titles::new(10);
        assert!(titles.insert(&p1.replace('-', ""), "Handbook"));
        let ctx = Context {
            users: &users,
            titles: &titles,
            ..Context::default()
        };
        let items = json!([
            {"type": "text", "plain_text": "site", "href": "https://x.test/a b",
             "annotations": {}},
            {"type": "mention", "plain_text": "@someone",
             "mention": {"type": "user", "user": {"id": "u1"}}},
            {"type": "mention", "plain_text": "Untitled",
             "mention": {"type": "page", "page": {"id": p1}}},
            {"type": "equation", "plain_text": "e=mc^2", "equation": {"expression": "e=mc^2"}}
        ]);
        let (md, plain) = render(&items, &ctx, &mut links);
        assert_eq!(
            md,
            "[site](<https://x.test/a b>)@Ada[Handbook](https://www.notion.so/0a1b2c3d000040008000000000000001)$e=mc^2$"
        );
        assert_eq!(plain, "site@AdaHandbooke=mc^2");
        assert_eq!(links.0.len(), 2);
    }

    #[test]
    fn titles_stop_at_their_bound_and_take_any_id_spelling() {
        let mut titles = crate::flatten::markdown::Titles::new(1);
        let a = "0a1b2c3d-0000-4000-8000-000000000001";
        let b = "0a1b2c3d-0000-4000-8000-000000000002";
        assert!(titles.insert(a, "A"));
        assert!(!titles.insert(b, "B"), "past the bound");
        assert!(
            titles.insert(&a.replace('-', ""), "A2"),
            "a known id is updated"
        );
        assert_eq!(titles.get(a), Some("A2"));
        assert_eq!(titles.get(b), None);
        assert!(!titles.insert("not-a-uuid", "x"));
    }
}
