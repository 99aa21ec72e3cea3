//! A paragraph read back by a CommonMark + GFM reader (pulldown-cmark) gives the same text with
//! the same emphasis as the rich text it was rendered from: for random rich text (whitespace,
//! punctuation and line breaks at item edges, every annotation, links), and for the fixtures of
//! real rich text in `tests/golden/markdown/rich-text.json`, whose renderings are golden too.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::reader::{Marks, read};
use super::{BlockNode, Context, render};

const KEYS: [&str; 5] = ["bold", "italic", "strikethrough", "underline", "code"];

/// The characters of `rich_text` with the marks their annotations give.
fn expected(rich_text: &Value) -> Vec<(char, Marks)> {
    let mut out = Vec::new();
    for item in rich_text.as_array().into_iter().flatten() {
        let marks = KEYS.map(|k| {
            item.pointer(&format!("/annotations/{k}"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        });
        let text = item["plain_text"].as_str().unwrap_or_default();
        out.extend(text.chars().map(|c| (c, marks)));
    }
    out
}

/// What pulldown-cmark reads from `md`; a soft break or stray HTML fails the test.
fn read_back(md: &str) -> Vec<(char, Marks)> {
    let read = read(md);
    assert_eq!(read.soft_breaks, 0, "a line break was lost in {md:?}");
    assert!(
        read.other_html.is_empty(),
        "stray HTML {:?} in {md:?}",
        read.other_html
    );
    read.chars
}

/// Compares text exactly (whitespace at the paragraph's two ends aside: no reader keeps it)
/// and the marks of every character that is not whitespace.
fn same(want: &[(char, Marks)], got: &[(char, Marks)]) -> Result<(), String> {
    let trim = |v: &[(char, Marks)]| -> Vec<(char, Marks)> {
        let start = v
            .iter()
            .position(|(c, _)| !c.is_whitespace())
            .unwrap_or(v.len());
        let end = v
            .iter()
            .rposition(|(c, _)| !c.is_whitespace())
            .map_or(start, |e| e + 1);
        v[start..end].to_vec()
    };
    let (want, got) = (trim(want), trim(got));
    let text = |v: &[(char, Marks)]| v.iter().map(|(c, _)| *c).collect::<String>();
    if text(&want) != text(&got) {
        return Err(format!(
            "text {:?} read back as {:?}",
            text(&want),
            text(&got)
        ));
    }
    for ((c, w), (_, g)) in want.iter().zip(&got) {
        if !c.is_whitespace() && w != g {
            return Err(format!("{c:?}: marks {w:?} read back as {g:?}"));
        }
    }
    Ok(())
}

/// The paragraph's Markdown.
fn paragraph(rich_text: &Value) -> String {
    let block = BlockNode {
        id: "p".into(),
        kind: "paragraph".into(),
        payload: json!({"rich_text": rich_text}),
        children: Vec::new(),
    };
    render(&[block], &Context::default()).markdown
}

fn reads_back(rich_text: &Value) -> Result<String, String> {
    let md = paragraph(rich_text);
    same(&expected(rich_text), &read_back(&md)).map_err(|e| format!("{e}\nmarkdown: {md:?}"))?;
    Ok(md)
}

fn item(text: &str, marks: Marks, href: Option<&str>) -> Value {
    let mut annotations = serde_json::Map::new();
    for (k, on) in KEYS.iter().zip(marks) {
        annotations.insert((*k).to_string(), json!(on));
    }
    annotations.insert("color".into(), json!("default"));
    json!({"type": "text", "text": {"content": text, "link": href.map(|u| json!({"url": u}))},
           "annotations": annotations, "plain_text": text, "href": href})
}

/// Text made of the pieces real rich text has at its edges and inside.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Zé会0-9]{1,6}",
        2 => Just(" ".to_string()),
        1 => Just("  ".to_string()),
        1 => Just("\n".to_string()),
        1 => Just("\u{a0}".to_string()),
        2 => prop::sample::select(vec![
            ".", ",", ":", "!", "?", "(", ")", "\"", "'", "-", "_", "*", "`", "[", "]", "<",
            ">", "&", "#", "~", "|", "$", "\\", "/", "🚀", "1.", "&amp;", "- ", "# ",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 1..6).prop_map(|p| p.concat())
}

fn rich_text() -> impl Strategy<Value = Value> {
    let one = (
        text(),
        any::<[bool; 5]>(),
        prop::option::weighted(0.1, Just("https://x.test/a")),
    );
    prop::collection::vec(one, 1..7).prop_map(|items| {
        Value::Array(
            items
                .iter()
                .map(|(t, m, href)| item(t, *m, *href))
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_paragraph_reads_back_with_its_text_and_emphasis(rt in rich_text()) {
        if let Err(e) = reads_back(&rt) {
            prop_assert!(false, "{}\nrich text: {}", e, rt);
        }
    }
}

fn fixtures_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/markdown/rich-text.json")
}

/// Real rich text of the kinds that broke readers, each with its golden rendering
/// (`NOTIONLAKE_BLESS=1` rewrites the renderings after a deliberate change).
#[test]
fn real_rich_text_renders_as_its_golden_markdown_and_reads_back() {
    let path = fixtures_path();
    let mut cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let bless = std::env::var_os("NOTIONLAKE_BLESS").is_some();
    for case in &mut cases {
        let name = case["name"].as_str().unwrap_or_default().to_string();
        let md = reads_back(&case["rich_text"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        if bless {
            case["markdown"] = json!(md);
        } else {
            assert_eq!(
                case["markdown"],
                json!(md),
                "{name} (NOTIONLAKE_BLESS=1 rewrites it)"
            );
        }
    }
    if bless {
        let text = serde_json::to_string_pretty(&cases).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
}
