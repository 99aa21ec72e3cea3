//! Reading Notion's enhanced markdown (from `GET /v1/pages/{id}/markdown`) for the columns a
//! document records besides its Markdown: plain text, words, the heading outline, links out
//! (`<page>`, `<database>` and `<mention-*>` tags, media `src`, Markdown link destinations) and
//! the `<unknown>` tags by their `alt` type. Splicing a fetched subtree in place of its
//! `<unknown>` tag is here too.

use std::collections::HashMap;

use super::{Document, Heading, LinkKind, anchor};

/// The page or block id a Notion URL points at: the last 32 hex digits before any `#` or `?`
/// (hyphenated); for `…#<block>` the block after the `#`.
pub fn notion_id(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let hex: String = path.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = hex.get(hex.len().checked_sub(32)?..)?;
    (path.contains("notion.so") || path.contains("notion.com"))
        .then(|| crate::model::normalize_id(tail))
}

/// The id in a `<unknown url="…#<block>">` tag's fragment.
fn fragment_id(url: &str) -> Option<String> {
    let frag = url.split('#').nth(1)?;
    let hex: String = frag.chars().filter(char::is_ascii_hexdigit).collect();
    (hex.len() == 32).then(|| crate::model::normalize_id(&hex))
}

/// Text escaped as the format escapes it outside code (`\ * ~ ` $ [ ] < > { } | ^`), line
/// breaks as `<br>`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '~' | '`' | '$' | '[' | ']' | '<' | '>' | '{' | '}' | '|' | '^'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out.replace('\n', "<br>")
}

/// The `alt` (block type) of the `<unknown>` tag of block `id`.
pub fn unknown_alt(markdown: &str, id: &str) -> Option<String> {
    markdown.lines().find_map(|line| {
        let bare = line.trim_start_matches('\t');
        (bare.starts_with("<unknown")
            && attribute(bare, "url").and_then(fragment_id).as_deref() == Some(id))
        .then(|| attribute(bare, "alt").unwrap_or_default().to_string())
    })
}

/// The value of attribute `name` in `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let at = tag.find(&key)? + key.len();
    let end = tag[at..].find('"')?;
    Some(&tag[at..at + end])
}

/// A line's text without markup: escapes resolved, tags dropped (a date mention keeps its
/// date), link destinations dropped, emphasis and code markers dropped.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '<' => {
                let end = line[i..].find('>').map_or(line.len(), |e| i + e);
                let tag = &line[i..=end.min(line.len() - 1)];
                if tag.starts_with("<br") {
                    out.push(' ');
                } else if let Some(d) =
                    attribute(tag, "start").filter(|_| tag.starts_with("<mention-date"))
                {
                    out.push_str(d);
                }
                while chars.peek().is_some_and(|(j, _)| *j <= end) {
                    chars.next();
                }
            }
            ']' if line[i + 1..].starts_with('(') => {
                let end = line[i..].find(')').map_or(line.len(), |e| i + e);
                while chars.peek().is_some_and(|(j, _)| *j <= end) {
                    chars.next();
                }
            }
            '*' | '~' | '`' | '$' | '[' => {}
            '!' if line[i + 1..].starts_with('[') => {}
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

/// Strips a block line's marker (`#`, list, to-do, quote) and trailing `{…}` attributes.
fn content(line: &str) -> (Option<u8>, &str) {
    let mut rest = line.trim_start_matches('\t');
    let hashes = rest.chars().take_while(|c| *c == '#').count();
    let level = (hashes > 0 && rest[hashes..].starts_with(' ')).then(|| {
        rest = &rest[hashes + 1..];
        u8::try_from(hashes.min(4)).unwrap_or(4)
    });
    for marker in ["- [ ] ", "- [x] ", "- ", "> "] {
        if let Some(r) = rest.strip_prefix(marker) {
            rest = r;
            break;
        }
    }
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && rest[digits..].starts_with(". ") {
        rest = &rest[digits + 2..];
    }
    if rest.ends_with('}')
        && let Some(open) = rest.rfind(" {")
    {
        rest = &rest[..open];
    }
    (level, rest)
}

/// Links of one line, in order.
fn links(line: &str, doc: &mut Document) {
    let mut found: Vec<(usize, LinkKind, String)> = Vec::new();
    for (tag, kind) in [
        ("<page ", LinkKind::Page),
        ("<mention-page ", LinkKind::Page),
        ("<database ", LinkKind::Database),
        ("<mention-database ", LinkKind::Database),
    ] {
        for (at, _) in line.match_indices(tag) {
            let end = line[at..].find('>').map_or(line.len(), |e| at + e);
            if let Some(id) = attribute(&line[at..end], "url").and_then(notion_id) {
                found.push((at, kind, id));
            }
        }
    }
    for tag in ["<file ", "<video ", "<audio ", "<pdf "] {
        for (at, _) in line.match_indices(tag) {
            let end = line[at..].find('>').map_or(line.len(), |e| at + e);
            if let Some(src) = attribute(&line[at..end], "src") {
                found.push((at, LinkKind::Url, src.to_string()));
            }
        }
    }
    for (at, _) in line.match_indices("](") {
        if line[..at].ends_with('\\') {
            continue;
        }
        let dest = &line[at + 2..];
        let dest = &dest[..dest.find(')').unwrap_or(dest.len())];
        match notion_id(dest) {
            Some(id) => found.push((at, LinkKind::Page, id)),
            None => found.push((at, LinkKind::Url, dest.to_string())),
        }
    }
    found.sort_by_key(|(at, _, _)| *at);
    for (_, kind, target) in found {
        doc.links.push(kind, &target);
    }
}

/// The document of a page read as enhanced markdown (`blocks` stays 0: no blocks were read).
pub fn summarize(markdown: &str) -> Document {
    let mut doc = Document {
        markdown: markdown.to_string(),
        ..Document::default()
    };
    let mut anchors: HashMap<String, usize> = HashMap::new();
    let mut in_code = false;
    for line in markdown.lines() {
        let bare = line.trim_start_matches('\t');
        if bare.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            doc.text.push_str(bare);
            doc.text.push('\n');
            continue;
        }
        if bare.starts_with("<unknown") {
            let alt = attribute(bare, "alt").unwrap_or("unknown").to_string();
            *doc.placeholders.entry(alt).or_insert(0) += 1;
            continue;
        }
        let (level, rest) = content(bare);
        links(rest, &mut doc);
        let text = plain(rest);
        if let Some(level) = level {
            let base = anchor(&text);
            let seen = anchors.entry(base.clone()).or_insert(0);
            let anchor = if *seen == 0 {
                base
            } else {
                format!("{base}-{seen}")
            };
            *seen += 1;
            doc.headings.push(Heading {
                level,
                text: text.clone(),
                anchor,
            });
        }
        if !text.is_empty() && text != "---" {
            doc.text.push_str(&text);
            doc.text.push('\n');
        }
    }
    doc.words = doc.text.split_whitespace().count();
    doc
}

/// `markdown` with the `<unknown>` tag of block `id` replaced by `subtree` (each of its lines
/// indented like the tag); `None` when no such tag is there.
pub fn splice(markdown: &str, id: &str, subtree: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut done = false;
    for line in markdown.split('\n') {
        let bare = line.trim_start_matches('\t');
        let is_tag = !done
            && bare.starts_with("<unknown")
            && attribute(bare, "url").and_then(fragment_id).as_deref() == Some(id);
        if is_tag {
            let pad = &line[..line.len() - bare.len()];
            for l in subtree.split('\n') {
                out.push(format!("{pad}{l}"));
            }
            done = true;
        } else {
            out.push(line.to_string());
        }
    }
    done.then(|| out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_links_text_and_placeholders() {
        let md = "# Plan {color=\"blue\"}\nSee <mention-page url=\"https://www.notion.so/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">CRM</mention-page> and [docs](https://x.test/a)\n<details>\n<summary>More</summary>\n\t## Inner \\*star\\*\n\t- [ ] call <mention-user url=\"user://u\">Ada</mention-user> by <mention-date start=\"2026-10-01\"/>\n</details>\n```sql\nSELECT 1 -- # not a heading\n```\n<page url=\"https://www.notion.so/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\">Sub</page>\n<unknown url=\"https://www.notion.so/p#cccccccccccccccccccccccccccccccc\" alt=\"bookmark\"/>";
        let doc = summarize(md);
        let outline: Vec<(u8, &str, &str)> = doc
            .headings
            .iter()
            .map(|h| (h.level, h.text.as_str(), h.anchor.as_str()))
            .collect();
        assert_eq!(
            outline,
            vec![(1, "Plan", "plan"), (2, "Inner *star*", "inner-star")]
        );
        assert_eq!(
            doc.links.0,
            vec![
                (
                    LinkKind::Page,
                    "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa".to_string()
                ),
                (LinkKind::Url, "https://x.test/a".to_string()),
                (
                    LinkKind::Page,
                    "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb".to_string()
                ),
            ]
        );
        assert!(doc.text.contains("See CRM and docs\n"), "{}", doc.text);
        assert!(
            doc.text.contains("call Ada by 2026-10-01\n"),
            "{}",
            doc.text
        );
        assert!(doc.text.contains("SELECT 1 -- # not a heading\n"));
        assert_eq!(doc.placeholders.get("bookmark"), Some(&1));
    }

    #[test]
    fn a_subtree_replaces_its_tag_at_its_indentation() {
        let md = "a\n\t<unknown url=\"https://www.notion.so/p#cccccccccccccccccccccccccccccccc\" alt=\"toggle\"/>\nb";
        let id = "cccccccc-cccc-cccc-cccc-cccccccccccc";
        assert_eq!(
            splice(md, id, "<details>\n<summary>x</summary>\n\ty\n</details>").as_deref(),
            Some("a\n\t<details>\n\t<summary>x</summary>\n\t\ty\n\t</details>\nb")
        );
        assert_eq!(
            splice(md, "dddddddd-dddd-dddd-dddd-dddddddddddd", "z"),
            None
        );
    }
}
