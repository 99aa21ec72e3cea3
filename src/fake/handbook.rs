//! The demo's team handbook: a knowledge-base page as teams write them in Notion, with a table
//! of contents, nested lists, a checklist, a table, toggles, code, a link to another page, and
//! one paragraph for each kind of rich text (overlapping emphasis, colours, links, equations,
//! characters Markdown treats as markup, line breaks and every mention type).

use serde_json::{Value, json};

use super::workspace::{FParent, Workspace, link, mention_user, rt, rt_array};

/// A text item with the named annotations set (`bold`, `italic`, `strikethrough`, `underline`,
/// `code`) and an optional colour.
fn styled(text: &str, marks: &[&str], color: &str) -> Value {
    let flag = |k: &str| marks.contains(&k);
    json!({"type": "text", "text": {"content": text, "link": null},
           "annotations": {"bold": flag("bold"), "italic": flag("italic"),
                           "strikethrough": flag("strikethrough"), "underline": flag("underline"),
                           "code": flag("code"), "color": color},
           "plain_text": text, "href": null})
}

/// A mention item of `kind` with its payload, as Notion sends it.
fn mention(kind: &str, payload: Value, plain: &str, href: Option<&str>) -> Value {
    json!({"type": "mention", "mention": {"type": kind, kind: payload},
           "annotations": styled("", &[], "default")["annotations"].clone(),
           "plain_text": plain, "href": href})
}

fn para(items: Vec<Value>) -> Value {
    json!({"rich_text": items, "color": "default"})
}

fn heading(text: &str, toggleable: bool) -> Value {
    json!({"rich_text": rt_array(text), "color": "default", "is_toggleable": toggleable})
}

/// Ids the handbook links to.
pub struct HandbookLinks<'a> {
    /// The CRM page (mentioned and linked to).
    pub crm_page: &'a str,
    /// The Deals database (mentioned).
    pub deals_database: &'a str,
    /// The handbook's author.
    pub author: &'a str,
    /// A colleague to mention.
    pub colleague: &'a str,
}

/// Adds the handbook under `parent` and returns its id.
/// One paragraph per kind of rich text.
fn rich_text_cases(to: &HandbookLinks<'_>, colleague_name: &str) -> Vec<Vec<Value>> {
    vec![
        vec![
            styled("Ship ", &["bold"], "default"),
            styled("small", &["bold", "italic"], "default"),
            styled(" changes", &["italic"], "default"),
            rt(" often."),
        ],
        vec![
            styled("Friday deploys", &["strikethrough"], "default"),
            rt(" are "),
            styled("not", &["underline"], "red"),
            rt(" allowed; run "),
            styled("make release", &["code"], "default"),
            rt(" on Thursday instead."),
        ],
        vec![
            rt("Read "),
            link("the style guide", "https://acme.example/style (2026)"),
            rt(" and keep the error budget under "),
            json!({"type": "equation", "equation": {"expression": "0.1\\%"},
                   "annotations": styled("", &[], "default")["annotations"].clone(),
                   "plain_text": "0.1\\%", "href": null}),
            rt("."),
        ],
        vec![rt(
            "Write *stars*, _underscores_, [brackets], <tags> and back\\slashes as they are.",
        )],
        vec![rt("Office hours:\nMonday to Thursday 9–17\nFriday 9–13")],
        vec![
            rt("Ask "),
            mention_user(to.colleague, colleague_name),
            rt(" about "),
            mention(
                "page",
                json!({"id": to.crm_page}),
                "CRM",
                Some(&format!(
                    "https://www.notion.so/{}",
                    to.crm_page.replace('-', "")
                )),
            ),
            rt(" and the "),
            mention(
                "database",
                json!({"id": to.deals_database}),
                "Deals",
                Some(&format!(
                    "https://www.notion.so/{}",
                    to.deals_database.replace('-', "")
                )),
            ),
            rt(" pipeline before "),
            mention(
                "date",
                json!({"start": "2026-10-01", "end": null, "time_zone": null}),
                "2026-10-01",
                None,
            ),
            rt("; the roadmap is "),
            mention(
                "link_preview",
                json!({"url": "https://github.com/acme/arm/issues/7"}),
                "https://github.com/acme/arm/issues/7",
                Some("https://github.com/acme/arm/issues/7"),
            ),
            rt(" "),
            mention(
                "custom_emoji",
                json!({"id": "emoji-acme", "name": "acme", "url": "https://acme.example/emoji/acme.png"}),
                ":acme:",
                None,
            ),
        ],
    ]
}

/// The onboarding steps, the checklist, the tools table and the setup code.
fn first_week_and_tools(ws: &mut Workspace, page: &str, a: &str) {
    ws.add_block(page, "heading_2", heading("Your first week", false), a);
    for (k, step) in [
        "Get your laptop from IT",
        "Read the CRM guide",
        "Pair with your buddy",
    ]
    .iter()
    .enumerate()
    {
        let item = ws.add_block(page, "numbered_list_item", para(vec![rt(step)]), a);
        if k == 1 {
            for sub in ["Companies and contacts", "Deals and stages"] {
                ws.add_block(&item, "bulleted_list_item", para(vec![rt(sub)]), a);
            }
        }
    }
    for (text, done) in [("Sign the handbook", true), ("Set up 2FA", false)] {
        ws.add_block(
            page,
            "to_do",
            json!({"rich_text": rt_array(text), "checked": done, "color": "default"}),
            a,
        );
    }

    ws.add_block(page, "heading_2", heading("Tools", false), a);
    let table = ws.add_block(
        page,
        "table",
        json!({"table_width": 3, "has_column_header": true, "has_row_header": true}),
        a,
    );
    for row in [
        ["Tool", "Use", "Owner"],
        ["Notion", "Docs | wiki", "Grace"],
        ["GitHub", "Code\nreviews", "Alan"],
    ] {
        let cells: Vec<Value> = row.iter().map(|c| rt_array(c)).collect();
        ws.add_block(&table, "table_row", json!({ "cells": cells }), a);
    }
    ws.add_block(page, "code", json!({"rich_text": rt_array("git clone git@github.com:acme/arm.git\nmake setup"), "caption": rt_array("Clone and set up"), "language": "shell"}), a);
}

/// The FAQ toggle, a toggleable heading, a quote, a link to another page and the changelog.
fn faq_and_changelog(ws: &mut Workspace, page: &str, to: &HandbookLinks<'_>) {
    let a = to.author;
    ws.add_block(page, "heading_2", heading("FAQ", false), a);
    let toggle = ws.add_block(page, "toggle", para(vec![rt("How do I request leave?")]), a);
    ws.add_block(
        &toggle,
        "paragraph",
        para(vec![rt(
            "Ask your manager, then add it to the team calendar.",
        )]),
        a,
    );
    let expenses = ws.add_block(page, "heading_3", heading("Expenses", true), a);
    ws.add_block(
        &expenses,
        "bulleted_list_item",
        para(vec![rt("Receipts within 30 days")]),
        a,
    );
    ws.add_block(
        page,
        "quote",
        para(vec![rt("When in doubt, write it down.")]),
        a,
    );
    ws.add_block(
        page,
        "link_to_page",
        json!({"type": "page_id", "page_id": to.crm_page}),
        a,
    );
    ws.add_block(page, "heading_4", heading("Changelog", false), a);
    ws.add_block(
        page,
        "bulleted_list_item",
        para(vec![rt("2026-09: first version")]),
        a,
    );
}

pub fn build_handbook(ws: &mut Workspace, parent: &str, to: &HandbookLinks<'_>) -> String {
    let a = to.author;
    let colleague_name = ws
        .user(to.colleague)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let page = ws.add_page(FParent::Page(parent.into()), "Team handbook", a);
    ws.add_block(&page, "callout", json!({"rich_text": rt_array("Welcome to Acme. This handbook is the source of truth: edit it in Notion, never in the export."), "icon": {"type": "emoji", "emoji": "👋"}, "color": "blue_background"}), a);
    ws.add_block(&page, "table_of_contents", json!({"color": "default"}), a);
    ws.add_block(&page, "heading_1", heading("How we work", false), a);
    for items in rich_text_cases(to, &colleague_name) {
        ws.add_block(&page, "paragraph", para(items), a);
    }

    first_week_and_tools(ws, &page, a);
    faq_and_changelog(ws, &page, to);
    page
}
