//! Rich text → inline Markdown: annotations (bold, italic, strikethrough, code, underline as
//! `<u>`), links, inline equations as `$…$`, mentions, and escaping of Markdown's special
//! characters in text. Colours are dropped. A CommonMark + GFM reader gets back the same text
//! with the same emphasis, whatever the items' edges (see [`render`]). A line break inside a
//! value stays a `\n`; the block renderer turns it into a hard break at the block's
//! indentation.

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

/// Escapes the characters that would start Markdown syntax inside text (`&` only where it
/// would start an entity such as `&copy;`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let entity = c == '&' && starts_entity(&text[i + 1..]);
        if entity
            || matches!(
                c,
                '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '~' | '|' | '$'
            )
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether text after a `&` would make it an entity reference (`name;`, `#123;`, `#x1F;`).
fn starts_entity(after: &str) -> bool {
    let body: String = after
        .chars()
        .take(33)
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
        .collect();
    !body.is_empty() && after[body.len()..].starts_with(';')
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

/// A piece of an item's output: Markdown that takes the item's emphasis, or whitespace that
/// stays outside emphasis where a run of it starts or ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Md(String),
    /// Text of a code span (spelled once adjacent spans are joined).
    Code(String),
    Space(String),
}

/// `text` as (leading whitespace, the rest up to, trailing whitespace).
fn edges(text: &str) -> (&str, &str, &str) {
    let rest = text.trim_start();
    let core = rest.trim_end();
    (&text[..text.len() - rest.len()], core, &rest[core.len()..])
}

/// Code spans of `text`, one per line (a code span cannot hold a line break), each line's
/// edge whitespace outside its span.
fn code_pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push(Piece::Space("\n".into()));
        }
        let (lead, core, trail) = edges(line);
        out.push(Piece::Space(lead.into()));
        if !core.is_empty() {
            out.push(Piece::Code(core.into()));
        }
        out.push(Piece::Space(trail.into()));
    }
    out
}

/// One rich-text item's output, before emphasis: its pieces and its plain text.
fn item_pieces(item: &Value, ctx: &Context<'_>, links: &mut Links) -> (Vec<Piece>, String) {
    let plain = item
        .get("plain_text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let code = item
        .pointer("/annotations/code")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let href = item.get("href").and_then(Value::as_str);
    match item.get("type").and_then(Value::as_str).unwrap_or("text") {
        "equation" => {
            let expr = item
                .pointer("/equation/expression")
                .and_then(Value::as_str)
                .unwrap_or(&plain);
            (vec![Piece::Md(format!("${expr}$"))], expr.to_string())
        }
        "mention" => {
            let (md, text) = mention(item, &plain, ctx, links);
            (vec![Piece::Md(md)], text)
        }
        _ => {
            let (lead, core, trail) = edges(&plain);
            let mut pieces = vec![Piece::Space(lead.into())];
            let body = if code {
                code_pieces(core)
            } else if core.is_empty() {
                Vec::new()
            } else {
                vec![Piece::Md(escape(core))]
            };
            match href {
                Some(url) if !core.is_empty() => {
                    links.push(LinkKind::Url, url);
                    let inner: String = body
                        .iter()
                        .map(|p| match p {
                            Piece::Md(t) | Piece::Space(t) => t.clone(),
                            Piece::Code(t) => code_span(t),
                        })
                        .collect();
                    pieces.push(Piece::Md(format!("[{inner}]({})", link_target(url))));
                }
                _ => pieces.extend(body),
            }
            pieces.push(Piece::Space(trail.into()));
            (pieces, plain)
        }
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

/// The output of a rich-text array before the emphasis delimiters are spelled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open(Mark),
    Close(Mark),
    Md(String),
    Code(String),
    Space(String),
}

/// A rich-text array as inline Markdown and as plain text, so that a CommonMark + GFM reader
/// gets back the same text with the same emphasis:
/// - emphasis spans items: markers open where an annotation starts and close where it ends
///   (closing and reopening inner ones to keep them nested);
/// - whitespace where an emphasised run starts or ends stays outside its markers (`**very**
///   simple`, not `**very **simple`, which is no emphasis), and so does whitespace at a code
///   span's edges;
/// - a line break inside code closes the span and opens another on the next line;
/// - a delimiter a reader would not take as one (`**Note:**text`: a closer after punctuation
///   before a letter) is spelled as HTML (`<strong>`) for that run;
/// - each line's start is made plain text (leading spaces as `&#32;`, list and heading markers
///   escaped), and whitespace at the very start or end is dropped (no reader keeps it).
pub fn render(rich_text: &Value, ctx: &Context<'_>, links: &mut Links) -> (String, String) {
    let Some(items) = rich_text.as_array() else {
        return (String::new(), String::new());
    };
    let mut plain = String::new();
    let mut toks: Vec<Tok> = Vec::new();
    let mut open: Vec<Mark> = Vec::new();
    let mut pending = String::new();
    for item in items {
        let (pieces, text) = item_pieces(item, ctx, links);
        plain.push_str(&text);
        let want = marks_of(item);
        for piece in pieces {
            let tok = match piece {
                Piece::Space(s) => {
                    pending.push_str(&s);
                    continue;
                }
                Piece::Md(md) => Tok::Md(md),
                Piece::Code(code) => Tok::Code(code),
            };
            // Close from the top of the stack down to the first mark no longer wanted, then the
            // whitespace before this piece, then the marks it opens.
            if let Some(first_gone) = open.iter().position(|m| !want.contains(m)) {
                toks.extend(open.drain(first_gone..).rev().map(Tok::Close));
            }
            if !pending.is_empty() {
                toks.push(Tok::Space(std::mem::take(&mut pending)));
            }
            for m in want
                .iter()
                .filter(|m| !open.contains(m))
                .copied()
                .collect::<Vec<_>>()
            {
                toks.push(Tok::Open(m));
                open.push(m);
            }
            // Code spans side by side are one span (two would merge their backtick fences). A
            // `!` right before a link would make it an image: it is escaped.
            match (toks.last_mut(), tok) {
                (Some(Tok::Code(before)), Tok::Code(code)) => before.push_str(&code),
                (Some(Tok::Md(before)), Tok::Md(md))
                    if before.ends_with('!') && md.starts_with('[') =>
                {
                    before.insert(before.len() - 1, '\\');
                    toks.push(Tok::Md(md));
                }
                (_, tok) => toks.push(tok),
            }
        }
    }
    toks.extend(open.drain(..).rev().map(Tok::Close));
    toks.push(Tok::Space(pending));
    (spell(&toks), plain)
}

/// Whether `c` is whitespace as CommonMark's flanking rules see it (`None`: a line's edge).
fn blank(c: Option<char>) -> bool {
    c.is_none_or(char::is_whitespace)
}

/// Whether `c` is punctuation as CommonMark's flanking rules see it (ASCII punctuation, and
/// any other character that is neither a letter, a digit nor whitespace: symbols, emoji).
fn punct(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_alphanumeric() && !c.is_whitespace())
}

/// Markdown spelling of each delimiter: `true` where it is spelled as HTML.
fn delimiter(mark: Mark, open: bool, html: bool) -> &'static str {
    match (mark, open, html) {
        (Mark::Underline, true, _) => "<u>",
        (Mark::Underline, false, _) => "</u>",
        (m, true, false) => m.open(),
        (m, false, false) => m.close(),
        (Mark::Bold, true, true) => "<strong>",
        (Mark::Bold, false, true) => "</strong>",
        (Mark::Italic, true, true) => "<em>",
        (Mark::Italic, false, true) => "</em>",
        (Mark::Strike, true, true) => "<del>",
        (Mark::Strike, false, true) => "</del>",
    }
}

/// The tokens as Markdown: each emphasis pair spelled with Markdown delimiters where a reader
/// takes them as such (the run before opens, the one after closes, by CommonMark's flanking
/// rules), as HTML tags otherwise.
fn spell(toks: &[Tok]) -> String {
    // The pairs: each Open with its Close (the tokens nest).
    let mut pairs = Vec::new();
    let mut stack = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open(_) => stack.push(i),
            Tok::Close(_) => {
                if let Some(o) = stack.pop() {
                    pairs.push((o, i));
                }
            }
            _ => {}
        }
    }
    let mut html = vec![false; toks.len()];
    let text = |html: &[bool], i: usize| -> String {
        match &toks[i] {
            Tok::Open(m) => delimiter(*m, true, html[i]).to_string(),
            Tok::Close(m) => delimiter(*m, false, html[i]).to_string(),
            Tok::Md(s) | Tok::Space(s) => s.clone(),
            Tok::Code(s) => code_span(s),
        }
    };
    // A delimiter's run: the adjacent delimiters spelled with the same character.
    let run_char = |html: &[bool], i: usize| -> Option<char> {
        match &toks[i] {
            Tok::Open(m) | Tok::Close(m) if !html[i] && *m != Mark::Underline => {
                m.open().chars().next()
            }
            _ => None,
        }
    };
    let flanking = |html: &mut [bool]| {
        for _ in 0..=pairs.len() {
            let mut changed = false;
            for &(o, c) in &pairs {
                if html[o] {
                    continue;
                }
                let around = |html: &[bool], i: usize| -> (Option<char>, Option<char>) {
                    let ch = run_char(html, i);
                    let (mut a, mut b) = (i, i);
                    while a > 0 && ch.is_some() && run_char(html, a - 1) == ch {
                        a -= 1;
                    }
                    while b + 1 < toks.len() && ch.is_some() && run_char(html, b + 1) == ch {
                        b += 1;
                    }
                    let before = (0..a).rev().find_map(|j| text(html, j).chars().last());
                    let after = (b + 1..toks.len()).find_map(|j| text(html, j).chars().next());
                    (before, after)
                };
                let (ob, oa) = around(&*html, o);
                let (cb, ca) = around(&*html, c);
                let opens = !blank(oa) && (!punct(oa) || blank(ob) || punct(ob));
                let closes = !blank(cb) && (!punct(cb) || blank(ca) || punct(ca));
                if run_char(html, o).is_some() && !(opens && closes) {
                    html[o] = true;
                    html[c] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    };
    flanking(&mut html);
    let spelled = |html: &[bool]| {
        let raw: String = (0..toks.len()).map(|i| text(html, i)).collect();
        plain_lines(raw.trim())
    };
    // As the block renderer writes it: each line break a hard break.
    let read = |md: &str| super::reader::emphasis(&md.replace('\n', "\\\n"));
    // Flanking alone does not settle how a reader pairs runs of different lengths (the "rule
    // of 3"): the spelling is read back and compared with the all-HTML one, which no reader
    // mistakes; pair by pair, Markdown gives way to HTML until the two read alike.
    if pairs.is_empty() {
        return spelled(&html);
    }
    let all_html = spelled(&vec![true; toks.len()]);
    let truth = read(&all_html);
    for &(o, c) in &pairs {
        let md = spelled(&html);
        if read(&md) == truth {
            return md;
        }
        if !html[o] {
            html[o] = true;
            html[c] = true;
        }
    }
    spelled(&html)
}

/// `md` with each line's start made plain text: leading spaces and tabs as character
/// references (a reader drops them otherwise), then list, heading and rule markers escaped.
fn plain_lines(md: &str) -> String {
    md.split('\n')
        .map(|line| {
            let text = line.trim_start_matches([' ', '\t']);
            let lead: String = line[..line.len() - text.len()]
                .chars()
                .map(|c| if c == '\t' { "&#9;" } else { "&#32;" })
                .collect();
            format!("{lead}{}", escape_line_start(text))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Escapes what would make a line start a block (a list item, a heading, a rule, a setext
/// underline) rather than text.
pub(super) fn escape_line_start(text: &str) -> String {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let rest = &text[digits..];
    if digits > 0
        && (rest.starts_with(". ") || rest.starts_with(") ") || rest == "." || rest == ")")
    {
        return format!("{}\\{}", &text[..digits], rest);
    }
    match text.chars().next() {
        Some('#' | '-' | '+' | '=') => format!("\\{text}"),
        _ => text.to_string(),
    }
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

    /// Regression (found by the readback proptest): text ending in `!` before a link made
    /// the link an image.
    #[test]
    fn a_bang_before_a_link_stays_text() {
        let mut link = text("go", false, false, false);
        link["href"] = json!("https://x.test/a");
        link["text"]["link"] = json!({"url": "https://x.test/a"});
        assert_eq!(
            md(vec![text("Look!", false, false, false), link]),
            "Look\\![go](https://x.test/a)"
        );
        assert_eq!(md(vec![text("Look!", false, false, false)]), "Look!");
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
