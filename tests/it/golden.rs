//! Golden Markdown: the demo's block gallery (one block of every type), team handbook (every
//! rich-text case) and weekly meeting notes, synced and rendered end to end, compared with the
//! files checked in under `tests/golden/markdown/` (`NOTIONLAKE_BLESS=1` rewrites them after a
//! deliberate change); and every demo document, parsed by a CommonMark parser, gives back the
//! outline and the links its `documents` row records.

use std::collections::BTreeSet;
use std::path::PathBuf;

use notionlake::fake::FakeConfig;
use notionlake::flatten::markdown::rules::BLOCK_RULES;
use notionlake::sink::Lake;
use notionlake::sync::SyncOptions;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::Value;

use crate::demo_fake;
use crate::lake::{rows, sync_with};

async fn query(lake: &Lake, sql: &str) -> Vec<Value> {
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, lake).await.unwrap();
    rows(&ctx, sql).await
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/markdown")
        .join(format!("{name}.md"))
}

/// Compares `got` with the golden file `name`, or rewrites it when `NOTIONLAKE_BLESS` is set.
fn check_golden(name: &str, got: &str) {
    let path = golden_path(name);
    if std::env::var_os("NOTIONLAKE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Written as compared: unsigned, with the fake's file host neutral.
        std::fs::write(&path, crate::lake::unsigned_text(got)).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with NOTIONLAKE_BLESS=1 to create it",
            path.display()
        )
    });
    // Notion signs a hosted file's URL anew on every read (so does the fake), and each fake
    // serves files at its own address.
    let (want, got) = (
        crate::lake::unsigned_text(&want),
        crate::lake::unsigned_text(got),
    );
    assert!(
        want == got,
        "{name}: the rendering differs from {} (NOTIONLAKE_BLESS=1 rewrites it after a deliberate change)\n--- want\n{want}\n--- got\n{got}",
        path.display()
    );
}

#[tokio::test]
async fn demo_pages_render_as_their_golden_files() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let mut pages = vec![
        ("block-gallery".to_string(), ids.block_gallery.clone()),
        ("team-handbook".to_string(), ids.handbook.clone()),
    ];
    for (k, id) in ids.meeting_pages.iter().enumerate() {
        pages.push((format!("weekly-sync-{}", k + 1), id.clone()));
    }
    for (name, id) in &pages {
        let doc = query(
            &lake,
            &format!("SELECT markdown FROM documents WHERE page_id = '{id}'"),
        )
        .await;
        assert_eq!(doc.len(), 1, "{name} has one document");
        check_golden(name, doc[0]["markdown"].as_str().unwrap());
    }

    // The golden pages hold a block of every type the renderer has a rule for (`transcription`
    // is stored under its canonical name `meeting_notes`), and an unknown type.
    let list = pages
        .iter()
        .map(|(_, id)| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let kinds: BTreeSet<String> = query(
        &lake,
        &format!("SELECT DISTINCT type FROM blocks WHERE page_id IN ({list})"),
    )
    .await
    .iter()
    .map(|r| r["type"].as_str().unwrap().to_string())
    .collect();
    let missing: Vec<&str> = BLOCK_RULES
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| *k != "transcription" && !kinds.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "block types with no golden rendering: {missing:?}"
    );

    // The handbook's golden file holds each rich-text case, rendered.
    let handbook = std::fs::read_to_string(golden_path("team-handbook")).unwrap();
    for (case, rendered) in [
        ("overlapping emphasis", "**Ship *small*** *changes*"),
        ("strikethrough", "~~Friday deploys~~"),
        ("underline, colour dropped", "<u>not</u>"),
        ("code", "`make release`"),
        ("link with spaces", "(<https://acme.example/style (2026)>)"),
        ("inline equation", "$0.1\\%$"),
        (
            "escaped markup",
            "\\*stars\\*, \\_underscores\\_, \\[brackets\\], \\<tags\\>",
        ),
        ("line break", "Office hours:\\\n"),
        ("user mention", "@Ada Lovelace"),
        ("page mention", "[CRM](https://www.notion.so/"),
        ("database mention", "[Deals](https://www.notion.so/"),
        ("date mention", "before 2026-10-01"),
        (
            "link preview",
            "[https://github.com/acme/arm/issues/7](https://github.com/acme/arm/issues/7)",
        ),
        ("custom emoji", ":acme:"),
        ("link to page, titled", "\n[CRM](https://www.notion.so/"),
    ] {
        assert!(
            handbook.contains(rendered),
            "{case}: `{rendered}` not in the handbook's golden file"
        );
    }
}

/// What a CommonMark parser finds in a document: its headings (level, text) and the
/// destinations of its links and images.
fn parse(markdown: &str) -> (Vec<(u8, String)>, Vec<String>) {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH;
    let (mut headings, mut links) = (Vec::new(), Vec::new());
    let mut heading: Option<(u8, String)> = None;
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some((level as u8, String::new()))
            }
            Event::End(TagEnd::Heading(_)) => headings.extend(heading.take()),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text)) = heading.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string());
            }
            _ => {}
        }
    }
    (headings, links)
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_demo_document_parses_into_the_outline_and_links_it_records() {
    let (fake, _ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let docs = query(
        &lake,
        "SELECT page_id, markdown, headings, links_pages, links_databases, links_urls FROM documents",
    )
    .await;
    assert!(docs.len() > 10, "the demo has documents");
    let (mut headings_seen, mut links_seen) = (0, 0);
    for d in &docs {
        let page = d["page_id"].as_str().unwrap();
        let (headings, links) = parse(d["markdown"].as_str().unwrap());
        let recorded: Vec<Value> = serde_json::from_str(d["headings"].as_str().unwrap()).unwrap();
        let outline: Vec<(u8, String)> = recorded
            .iter()
            .map(|h| {
                (
                    u8::try_from(h["level"].as_u64().unwrap()).unwrap(),
                    h["text"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(headings, outline, "{page}: the parsed outline");
        headings_seen += headings.len();
        let anchors: BTreeSet<String> = recorded
            .iter()
            .map(|h| h["anchor"].as_str().unwrap().to_string())
            .collect();
        let mut notion: BTreeSet<String> = BTreeSet::new();
        let mut urls: BTreeSet<String> = BTreeSet::new();
        for dest in links {
            links_seen += 1;
            if let Some(anchor) = dest.strip_prefix('#') {
                assert!(
                    anchors.contains(anchor),
                    "{page}: #{anchor} is a heading's anchor"
                );
            } else if let Some(id) = dest.strip_prefix("https://www.notion.so/") {
                notion.insert(id.to_string());
            } else {
                urls.insert(dest.replace("%20", " "));
            }
        }
        let recorded_notion: BTreeSet<String> = strings(&d["links_pages"])
            .into_iter()
            .chain(strings(&d["links_databases"]))
            .map(|id| id.replace('-', ""))
            .collect();
        assert_eq!(
            notion, recorded_notion,
            "{page}: links to Notion pages and databases"
        );
        assert_eq!(urls, strings(&d["links_urls"]), "{page}: links to the web");
    }
    assert!(headings_seen > 10 && links_seen > 10);
}
