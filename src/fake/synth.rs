//! Generator of large synthetic workspaces for benchmarks and load tests: `data_sources` ×
//! `rows` with a 25-property schema covering the common property types (each table's rows
//! related to the table before it, the first table's to its own earlier rows, with a rollup
//! over the relation), plus pages with block trees `block_depth` deep (in sections of
//! [`PAGES_PER_SECTION`] under the root, as a real workspace nests them) and comments spread
//! over those pages.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::workspace::{FParent, PropDef, Workspace, bold, link, mention_user, rt, rt_array};

/// Standalone pages per section page: no page has more children than this.
pub const PAGES_PER_SECTION: usize = 500;

/// The size of a synthetic workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSpec {
    /// Number of data sources (one database each).
    pub data_sources: usize,
    /// Rows per data source.
    pub rows: usize,
    /// Standalone pages with block trees.
    pub pages: usize,
    /// Depth of each page's block tree.
    pub block_depth: usize,
    /// Children per block at each level.
    pub fanout: usize,
    /// Comments, spread over the standalone pages (one discussion each).
    pub comments: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Notion-hosted files (names as the fake's file host reads them: `scan-150MiB.bin`), each
    /// the cover of one row, in row order across the data sources.
    pub hosted_files: Vec<String>,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            data_sources: 2,
            rows: 1000,
            pages: 5,
            block_depth: 3,
            fanout: 3,
            comments: 0,
            seed: 1,
            hosted_files: Vec::new(),
        }
    }
}

/// The 25-property schema of every synthetic data source.
pub fn synth_schema() -> Vec<PropDef> {
    let p = |id: &str, name: &str, kind: &str, config: Value| PropDef {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        config,
    };
    let opts = json!({"options": [
        {"id": "o1", "name": "alpha", "color": "blue", "description": null},
        {"id": "o2", "name": "beta", "color": "red", "description": null},
        {"id": "o3", "name": "gamma", "color": "green", "description": null}]});
    vec![
        p("title", "Name", "title", json!({})),
        p("s01", "Notes", "rich_text", json!({})),
        p("s02", "Amount", "number", json!({"format": "number"})),
        p("s03", "Score", "number", json!({"format": "percent"})),
        p("s04", "Category", "select", opts.clone()),
        p("s05", "Labels", "multi_select", opts.clone()),
        p("s06", "State", "status", opts),
        p("s07", "Due", "date", json!({})),
        p("s08", "Window", "date", json!({})),
        p("s09", "Owner", "people", json!({})),
        p("s10", "Attachments", "files", json!({})),
        p("s11", "Done", "checkbox", json!({})),
        p("s12", "Link", "url", json!({})),
        p("s13", "Email", "email", json!({})),
        p("s14", "Phone", "phone_number", json!({})),
        p("s15", "Calc", "formula", json!({"expression": "1"})),
        p(
            "s16",
            "Label text",
            "formula",
            json!({"expression": "\"x\""}),
        ),
        p(
            "s17",
            "Related",
            "relation",
            json!({"database_id": "", "data_source_id": "", "type": "single_property", "single_property": {}}),
        ),
        p(
            "s18",
            "Total",
            "rollup",
            json!({"relation_property_name": "Related", "relation_property_id": "s17", "rollup_property_name": "Amount", "rollup_property_id": "s02", "function": "sum"}),
        ),
        p("s19", "Created", "created_time", json!({})),
        p("s20", "Created by", "created_by", json!({})),
        p("s21", "Edited", "last_edited_time", json!({})),
        p("s22", "Edited by", "last_edited_by", json!({})),
        p("s23", "Key", "unique_id", json!({"prefix": "SYN"})),
        p("s24", "Verified", "verification", json!({})),
    ]
}

/// One synthetic row's values for `i`, referring to `users` and `related` row ids.
pub fn synth_values(i: usize, users: &[String], related: &[String]) -> Vec<(&'static str, Value)> {
    let opt = |k: usize| {
        let names = ["alpha", "beta", "gamma"];
        json!({"id": format!("o{}", k % 3 + 1), "name": names[k % 3], "color": "blue"})
    };
    let day = DateTime::<Utc>::from_timestamp(1_767_225_600 + (i as i64 % 365) * 86_400, 0)
        .unwrap_or_default();
    let user = &users[i % users.len()];
    vec![
        // Every tenth title mentions a user and every fourth note is formatted (bold, a link):
        // those values also land in `rich_text_items`; plain ones only in their column.
        (
            "title",
            if i.is_multiple_of(10) {
                json!([rt(&format!("Row {i} for ")), mention_user(user, "Ada")])
            } else {
                rt_array(&format!("Row {i}"))
            },
        ),
        (
            "s01",
            if i.is_multiple_of(4) {
                json!([
                    rt(&format!("Notes about row {i}: ")),
                    bold("follow up"),
                    rt(" as the "),
                    link("brief", "https://docs.example.com/brief"),
                    rt(" says."),
                ])
            } else {
                rt_array(&format!(
                    "Some notes about row {i}, long enough to look like real text."
                ))
            },
        ),
        ("s02", json!((i % 1000) as f64 * 1.25)),
        (
            "s03",
            if i.is_multiple_of(10) {
                Value::Null
            } else {
                json!((i % 100) as f64 / 100.0)
            },
        ),
        ("s04", opt(i)),
        ("s05", json!([opt(i), opt(i + 1)])),
        ("s06", opt(i + 2)),
        (
            "s07",
            json!({"start": day.format("%Y-%m-%d").to_string(), "end": null, "time_zone": null}),
        ),
        (
            "s08",
            json!({"start": day.format("%Y-%m-%dT%H:%M:00.000Z").to_string(), "end": (day + Duration::days(3)).format("%Y-%m-%dT%H:%M:00.000Z").to_string(), "time_zone": null}),
        ),
        ("s09", json!([{"object": "user", "id": user}])),
        (
            "s10",
            if i.is_multiple_of(3) {
                json!([{"name": "doc.pdf", "type": "external", "external": {"url": "https://files.example.com/doc.pdf"}}])
            } else {
                json!([])
            },
        ),
        ("s11", json!(i.is_multiple_of(2))),
        ("s12", json!(format!("https://example.com/{i}"))),
        ("s13", json!(format!("row{i}@example.com"))),
        ("s14", json!("+1 555 0100")),
        ("s15", json!({"type": "number", "number": i as f64})),
        (
            "s16",
            json!({"type": "string", "string": format!("label-{}", i % 7)}),
        ),
        (
            "s17",
            json!(
                related
                    .iter()
                    .skip(i % related.len().max(1))
                    .take(2)
                    .map(|id| json!({"id": id}))
                    .collect::<Vec<_>>()
            ),
        ),
        (
            "s18",
            json!({"type": "number", "number": (i % 50) as f64, "function": "sum"}),
        ),
        ("s23", json!({"prefix": "SYN", "number": i + 1})),
        ("s24", Value::Null),
    ]
}

/// Builds a synthetic workspace.
pub fn synthetic_workspace(spec: SynthSpec) -> Workspace {
    let mut ws = Workspace::new(
        "Synthetic",
        spec.seed,
        DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
    );
    let users: Vec<String> = (0..10)
        .map(|k| ws.add_person(&format!("User {k}"), &format!("user{k}@example.com")))
        .collect();
    let root = ws.add_page(FParent::Workspace, "Synthetic root", &users[0]);
    if let Some(p) = ws.page_mut(&root) {
        p.shared = true;
    }
    // Table 0's rows relate to rows before them in the same table; each later table's rows to
    // the table before it (a one-way relation with a rollup over it).
    let mut previous_table: Option<(String, String, Vec<String>)> = None;
    for d in 0..spec.data_sources {
        let (db, ds) = ws.add_database(
            &root,
            &format!("Table {d}"),
            &users[0],
            vec![(format!("Table {d}"), synth_schema())],
        );
        let ds_id = ds[0].clone();
        let (target_db, target_ds) = previous_table
            .as_ref()
            .map_or((db.clone(), ds_id.clone()), |(db, ds, _)| {
                (db.clone(), ds.clone())
            });
        if let Some(related) = ws
            .data_sources
            .get_mut(&ds_id)
            .and_then(|t| t.properties.iter_mut().find(|p| p.id == "s17"))
        {
            related.config = json!({"database_id": target_db, "data_source_id": target_ds, "type": "single_property", "single_property": {}});
        }
        let mut rows: Vec<String> = Vec::new();
        for i in 0..spec.rows {
            let related = match &previous_table {
                Some((_, _, earlier)) => &earlier[..],
                None => &rows[rows.len().saturating_sub(5)..],
            };
            let values = synth_values(i, &users, related);
            let id = ws.add_row(&ds_id, &users[i % users.len()], values);
            rows.push(id);
        }
        previous_table = Some((db, ds_id, rows));
    }
    let rows: Vec<String> = ws
        .pages
        .iter()
        .filter(|p| matches!(p.parent, FParent::DataSource(_)))
        .map(|p| p.id.clone())
        .collect();
    for (file, row) in spec.hosted_files.iter().zip(rows) {
        if let Some(p) = ws.page_mut(&row) {
            p.cover = json!({"type": "file", "file": {"url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com/synthetic/{file}?X-Amz-Expires=3600"), "expiry_time": "2026-01-01T01:00:00.000Z"}});
        }
    }
    let mut section = root.clone();
    for p in 0..spec.pages {
        if p % PAGES_PER_SECTION == 0 && spec.pages > PAGES_PER_SECTION {
            section = ws.add_page(
                FParent::Page(root.clone()),
                &format!("Section {}", p / PAGES_PER_SECTION),
                &users[0],
            );
        }
        let page = ws.add_page(
            FParent::Page(section.clone()),
            &format!("Page {p}"),
            &users[p % users.len()],
        );
        // Comments go to the first pages, as evenly as whole numbers allow.
        let per_page = spec.comments / spec.pages.max(1);
        let extra = usize::from(p < spec.comments % spec.pages.max(1));
        for c in 0..per_page + extra {
            ws.add_comment(
                &page,
                &users[c % users.len()],
                &format!("Comment {c} on page {p}"),
                None,
            );
        }
        let mut frontier = vec![page];
        for depth in 0..spec.block_depth {
            let mut next = Vec::new();
            for parent in &frontier {
                for k in 0..spec.fanout {
                    let kind = if depth + 1 < spec.block_depth {
                        "toggle"
                    } else {
                        "paragraph"
                    };
                    next.push(ws.add_block(parent, kind, json!({"rich_text": rt_array(&format!("Block {depth}.{k}")), "color": "default"}), &users[k % users.len()]));
                }
            }
            frontier = next;
        }
    }
    ws
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_spec() {
        let ws = synthetic_workspace(SynthSpec {
            data_sources: 2,
            rows: 30,
            pages: 2,
            block_depth: 2,
            fanout: 3,
            comments: 5,
            seed: 9,
            hosted_files: vec!["a.png".into(), "b-2KiB.bin".into()],
        });
        assert_eq!(ws.data_sources.len(), 2);
        let covers: Vec<&str> = ws
            .pages
            .iter()
            .filter_map(|p| p.cover.pointer("/file/url")?.as_str())
            .collect();
        assert_eq!(covers.len(), 2, "one row's cover per file");
        assert!(covers[1].contains("/synthetic/b-2KiB.bin?"));
        assert!(ws.data_sources.values().all(|d| d.rows.len() == 30));
        assert_eq!(synth_schema().len(), 25);
        // 2 pages × (3 + 9) blocks, plus child_page and child_database blocks under the root.
        let content = ws
            .blocks
            .values()
            .filter(|b| b.kind == "toggle" || b.kind == "paragraph")
            .count();
        assert_eq!(content, 2 * (3 + 9));
        assert_eq!(ws.comments.len(), 5);
    }
}
