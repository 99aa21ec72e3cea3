//! Rendering of block trees, compared with the Markdown expected of them.

use serde_json::{Value, json};

use super::*;

fn rt(t: &str) -> Value {
    json!([{"type": "text", "plain_text": t, "href": null, "annotations": {}}])
}

fn block(kind: &str, payload: Value, children: Vec<BlockNode>) -> BlockNode {
    BlockNode {
        id: format!("id-{kind}"),
        kind: kind.to_string(),
        payload,
        children,
    }
}

fn text_block(kind: &str, t: &str) -> BlockNode {
    block(kind, json!({"rich_text": rt(t)}), Vec::new())
}

fn md(blocks: &[BlockNode]) -> Document {
    render(blocks, &Context::default())
}

#[test]
fn lists_nest_and_numbering_restarts() {
    let doc = md(&[
        block(
            "bulleted_list_item",
            json!({"rich_text": rt("a")}),
            vec![text_block("bulleted_list_item", "a1")],
        ),
        text_block("bulleted_list_item", "b"),
        text_block("numbered_list_item", "one"),
        text_block("numbered_list_item", "two"),
        text_block("paragraph", "break"),
        text_block("numbered_list_item", "again"),
        block(
            "to_do",
            json!({"rich_text": rt("done"), "checked": true}),
            vec![],
        ),
        block(
            "to_do",
            json!({"rich_text": rt("open"), "checked": false}),
            vec![],
        ),
    ]);
    assert_eq!(
        doc.markdown,
        "- a\n\n  - a1\n- b\n\n1. one\n2. two\n\nbreak\n\n1. again\n\n- [x] done\n- [ ] open\n"
    );
    assert_eq!(doc.blocks, 9);
}

#[test]
fn headings_toc_and_anchors() {
    let doc = md(&[
        block("table_of_contents", json!({}), vec![]),
        text_block("heading_1", "Intro & Goals"),
        text_block("heading_2", "Intro & Goals"),
        text_block("heading_4", "Deep"),
        block("breadcrumb", json!({}), vec![]),
    ]);
    assert_eq!(
        doc.markdown,
        "- [Intro & Goals](#intro--goals)\n  - [Intro & Goals](#intro--goals-1)\n      - [Deep](#deep)\n\n# Intro & Goals\n\n## Intro & Goals\n\n#### Deep\n"
    );
    let levels: Vec<u8> = doc.headings.iter().map(|h| h.level).collect();
    assert_eq!(levels, vec![1, 2, 4]);
}

#[test]
fn toggles_quotes_callouts_code_and_equations() {
    let doc = md(&[
        block(
            "toggle",
            json!({"rich_text": rt("More")}),
            vec![text_block("paragraph", "hidden")],
        ),
        block(
            "callout",
            json!({"rich_text": rt("Note"), "icon": {"type": "emoji", "emoji": "💡"}}),
            vec![text_block("paragraph", "inside")],
        ),
        block(
            "code",
            json!({"rich_text": rt("fn main() {}\n```"), "language": "rust", "caption": rt("Entry")}),
            vec![],
        ),
        block("equation", json!({"expression": "a^2"}), vec![]),
        block("divider", json!({}), vec![]),
    ]);
    assert_eq!(
        doc.markdown,
        "<details>\n<summary>More</summary>\n\nhidden\n\n</details>\n\n> 💡 Note\n>\n> inside\n\n````rust\nfn main() {}\n```\n````\n\n*Entry*\n\n$$\na^2\n$$\n\n---\n"
    );
}

#[test]
fn tables_with_header_row_and_column() {
    let row = |a: &str, b: &str| block("table_row", json!({"cells": [rt(a), rt(b)]}), vec![]);
    let doc = md(&[block(
        "table",
        json!({"table_width": 2, "has_column_header": true, "has_row_header": true}),
        vec![row("k", "v"), row("a", "1|2")],
    )]);
    assert_eq!(
        doc.markdown,
        "| k | v |\n| --- | --- |\n| **a** | 1\\|2 |\n"
    );
    assert_eq!(doc.blocks, 3);
}

#[test]
fn media_links_and_placeholders() {
    let doc = md(&[
        block(
            "image",
            json!({"type": "file", "file": {"url": "https://s3.test/x.png?X-Amz-Signature=ab&X-Amz-Expires=3600"}, "caption": rt("Chart")}),
            vec![],
        ),
        block(
            "bookmark",
            json!({"url": "https://x.test", "caption": []}),
            vec![],
        ),
        block("child_page", json!({"title": "Sub"}), vec![]),
        block("unsupported", json!({"block_type": "button"}), vec![]),
        block("brand_new_type", json!({}), vec![]),
    ]);
    assert_eq!(
        doc.markdown,
        "![Chart](https://s3.test/x.png)\n\n[https://x.test](https://x.test)\n\n[Sub](https://www.notion.so/idchild_page)\n\n<!-- notion block not rendered: unsupported: button -->\n\n<!-- notion block not rendered: brand_new_type -->\n"
    );
    assert_eq!(
        doc.placeholders,
        BTreeMap::from([
            ("brand_new_type".to_string(), 1),
            ("unsupported: button".to_string(), 1)
        ])
    );
    assert_eq!(
        doc.links.0,
        vec![
            (LinkKind::Url, "https://s3.test/x.png".to_string()),
            (LinkKind::Url, "https://x.test".to_string()),
            (LinkKind::Page, "id-child_page".to_string()),
        ]
    );
}

#[test]
fn meeting_notes_render_their_sections() {
    let section = |id: &str, t: &str| BlockNode {
        id: id.to_string(),
        kind: "paragraph".into(),
        payload: json!({"rich_text": []}),
        children: vec![text_block("to_do", t)],
    };
    let doc = md(&[block(
        "meeting_notes",
        json!({"title": rt("Weekly"), "children": {"summary_block_id": "s", "notes_block_id": "n"}}),
        vec![section("s", "ship it"), section("n", "call Ada")],
    )]);
    assert_eq!(
        doc.markdown,
        "**Weekly**\n\n*Summary*\n\n- [ ] ship it\n\n*Notes*\n\n- [ ] call Ada\n"
    );
}

#[test]
fn line_starts_that_look_like_markup_are_escaped_and_text_is_plain() {
    let doc = md(&[
        text_block("paragraph", "# not a heading"),
        text_block("paragraph", "1. not a list"),
        text_block("paragraph", "line\nbreak"),
    ]);
    assert_eq!(
        doc.markdown,
        "\\# not a heading\n\n1\\. not a list\n\nline\\\nbreak\n"
    );
    assert_eq!(doc.text, "# not a heading\n1. not a list\nline\nbreak\n");
    assert_eq!(doc.words, 10);
}
