//! `export-md`: the demo's documents as a folder of Markdown files with front matter and
//! relative links, and later exports that rewrite only the page that changed and remove the
//! file of a trashed page, in both table formats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use notionlake::export::{ExportReport, Kept, MANIFEST, export_markdown};
use notionlake::fake::FakeConfig;
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::SyncOptions;

use crate::demo_fake;
use crate::lake::sync_with;

/// Every file under `dir` (relative path → bytes), the manifest aside.
pub(crate) fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.file_name().unwrap() != MANIFEST {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A relative path with its `..` steps taken.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The front matter of an exported file, parsed as YAML.
fn front_matter(bytes: &[u8]) -> serde_yaml::Value {
    let text = std::str::from_utf8(bytes).unwrap();
    let body = text
        .strip_prefix("---\n")
        .expect("front matter opens the file");
    let end = body.find("\n---\n").expect("front matter closes");
    serde_yaml::from_str(&body[..end]).expect("front matter is YAML")
}

async fn export_formats(format: TableFormat) {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let out = dir.path().join("docs");
    let options = SyncOptions {
        format: Some(format),
        ..SyncOptions::default()
    };
    sync_with(&fake, &lake, &options).await;
    let first = export_markdown(&lake, &out).await.unwrap();
    let before = files(&out);
    // Every page, and the demo's 11 kept files (contracts, media, a cover, an icon) its pages use.
    assert_eq!(first.assets, 11, "{format:?}");
    assert_eq!(
        first.written,
        first.pages + first.assets,
        "{format:?}: a first export writes every page and every file they use"
    );
    assert_eq!(
        before.len(),
        first.pages + first.assets,
        "{format:?}: one file per page, one per kept file"
    );
    assert!(first.pages > 100, "{format:?}: the demo's pages and rows");

    // The tree follows the hierarchy; names are slugs; links between pages are relative.
    let handbook = PathBuf::from("acme-hq/team-handbook.md");
    let text = String::from_utf8(before[&handbook].clone()).unwrap();
    assert!(text.contains("[CRM](crm.md)"), "{format:?}: relative link");
    let fm = front_matter(&before[&handbook]);
    assert_eq!(fm["title"], "Team handbook");
    assert_eq!(fm["id"], ids.handbook.as_str());
    assert!(
        fm["url"]
            .as_str()
            .unwrap()
            .starts_with("https://www.notion.so/")
    );
    assert!(fm["last_edited_time"].as_str().is_some());
    let gallery = PathBuf::from("acme-hq/meeting-notes/block-gallery.md");
    let gallery_text = String::from_utf8(before[&gallery].clone()).unwrap();
    assert!(
        gallery_text.contains("](../../acme-hq.md)"),
        "{format:?}: link up two folders"
    );
    assert!(gallery_text.contains("](block-gallery/gallery-sub-page.md)"));
    // A database row carries its properties by Notion name.
    let deal = before
        .iter()
        .find(|(p, _)| p.starts_with("acme-hq/crm/deals"))
        .expect("a deal's file");
    let props = &front_matter(deal.1)["properties"];
    assert!(props["Stage"].as_str().is_some(), "{format:?}: {props:?}");
    assert!(props["Amount"].as_f64().is_some(), "{format:?}: {props:?}");
    // Its company shows by title, linked relatively to the company's exported page; people
    // and the created-by user by name, not by id.
    let deal_dir = deal.0.parent().unwrap();
    let company = &props["Company"][0];
    let title = company["title"]
        .as_str()
        .unwrap_or_else(|| panic!("{props:?}"));
    let link = company["link"]
        .as_str()
        .unwrap_or_else(|| panic!("{props:?}"));
    let target = before
        .iter()
        .find(|(p, _)| normalize(&deal_dir.join(link)) == **p)
        .unwrap_or_else(|| panic!("{format:?}: {link} from {deal_dir:?} is no exported file"));
    assert!(target.0.starts_with("acme-hq/crm/companies"), "{target:?}");
    assert_eq!(front_matter(target.1)["title"].as_str(), Some(title));
    let shown = std::str::from_utf8(deal.1).unwrap();
    assert!(
        !shown.contains(&front_matter(target.1)["id"].as_str().unwrap().to_string()),
        "no raw page id of the company: {shown}"
    );
    let named = |v: &serde_yaml::Value| {
        v.as_str()
            .is_some_and(|n| !n.is_empty() && uuid::Uuid::parse_str(n).is_err())
    };
    assert!(named(&props["Owner"][0]), "{props:?}");
    assert!(named(&props["Created by"]), "{props:?}");

    // Nothing changed: nothing is written.
    let again = export_markdown(&lake, &out).await.unwrap();
    assert_eq!(
        again,
        ExportReport {
            pages: first.pages,
            assets: first.assets,
            written: 0,
            unchanged: first.pages + first.assets,
            removed: 0,
            written_paths: Vec::new(),
            removed_paths: Vec::new(),
            kept: Vec::new(),
        }
    );

    // One block of one page edited: only that page's file is rewritten.
    crate::edit_handbook_quote(&fake, &ids, "Write it down, then ship it.");
    sync_with(&fake, &lake, &options).await;
    let edited = export_markdown(&lake, &out).await.unwrap();
    let after = files(&out);
    let changed: Vec<&PathBuf> = before
        .keys()
        .filter(|p| after.get(*p) != before.get(*p))
        .collect();
    assert_eq!(
        changed,
        vec![&handbook],
        "{format:?}: only the edited page's file"
    );
    assert_eq!((edited.written, edited.removed), (1, 0), "{format:?}");
    assert!(
        String::from_utf8(after[&handbook].clone())
            .unwrap()
            .contains("> Write it down, then ship it.")
    );

    // A trashed page: its file goes, and so does the folder it leaves empty.
    let sub = {
        let ws = fake.workspace();
        ws.pages
            .iter()
            .find(|p| p.title[0]["plain_text"] == "Gallery sub-page")
            .unwrap()
            .id
            .clone()
    };
    fake.workspace_mut()
        .edit_page_now(&sub, &ids.people["ada"], |p| p.in_trash = true);
    sync_with(&fake, &lake, &options).await;
    let trashed = export_markdown(&lake, &out).await.unwrap();
    assert_eq!(trashed.removed, 1, "{format:?}");
    assert_eq!(trashed.pages, first.pages - 1);
    assert!(
        !out.join("acme-hq/meeting-notes/block-gallery/gallery-sub-page.md")
            .exists()
    );
    assert!(!out.join("acme-hq/meeting-notes/block-gallery").exists());
    assert_eq!(files(&out).len(), first.pages - 1 + first.assets);
}

#[tokio::test]
async fn export_md_writes_a_tree_and_then_only_what_changed_delta() {
    export_formats(TableFormat::Delta).await;
}

#[tokio::test]
async fn export_md_writes_a_tree_and_then_only_what_changed_parquet() {
    export_formats(TableFormat::Parquet).await;
}

#[tokio::test]
async fn export_md_refuses_a_lake_without_documents_and_keeps_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let err = export_markdown(&lake, &dir.path().join("docs"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("run `notionlake sync`"), "{err}");

    // A file the export did not write survives an export into the same folder.
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let out = dir.path().join("docs");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("README.md"), "mine").unwrap();
    export_markdown(&lake, &out).await.unwrap();
    export_markdown(&lake, &out).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("README.md")).unwrap(),
        "mine"
    );
    // A broken manifest is reported, not overwritten blindly.
    std::fs::write(out.join(MANIFEST), "{not json").unwrap();
    let err = export_markdown(&lake, &out).await.unwrap_err();
    assert!(err.to_string().contains("delete it"), "{err}");
}

fn page_titled(fake: &notionlake::fake::FakeNotion, title: &str) -> String {
    let ws = fake.workspace();
    ws.pages
        .iter()
        .find(|p| p.title[0]["plain_text"] == title)
        .unwrap()
        .id
        .clone()
}

/// Regression: an export overwrote a file it did not write, and removed files changed since
/// it wrote them. Now such files are left alone and reported (the command exits non-zero),
/// and nothing is written through a symlink.
#[tokio::test]
async fn export_md_never_clobbers_a_file_it_does_not_own() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let out = dir.path().join("docs");
    let handbook = PathBuf::from("acme-hq/team-handbook.md");
    std::fs::create_dir_all(out.join("acme-hq")).unwrap();
    std::fs::write(out.join(&handbook), "mine").unwrap();
    let first = export_markdown(&lake, &out).await.unwrap();
    assert_eq!(first.kept, vec![(handbook.clone(), Kept::NotWritten)]);
    assert_eq!(first.written, first.pages - 1 + first.assets);
    assert_eq!(
        std::fs::read_to_string(out.join(&handbook)).unwrap(),
        "mine"
    );
    std::fs::remove_file(out.join(&handbook)).unwrap();
    assert!(export_markdown(&lake, &out).await.unwrap().kept.is_empty());

    // Changed by hand since the export wrote them: neither rewritten nor removed.
    let gallery = PathBuf::from("acme-hq/meeting-notes/block-gallery.md");
    let sub = PathBuf::from("acme-hq/meeting-notes/block-gallery/gallery-sub-page.md");
    for f in [&gallery, &sub] {
        let mut text = std::fs::read_to_string(out.join(f)).unwrap();
        text.push_str("\nMy own notes.\n");
        std::fs::write(out.join(f), text).unwrap();
    }
    crate::edit_handbook_quote(&fake, &ids, "Edited after the export.");
    let sub_page = page_titled(&fake, "Gallery sub-page");
    fake.workspace_mut()
        .edit_page_now(&sub_page, &ids.people["ada"], |p| p.in_trash = true);
    // A folder of the export replaced by a symlink to somewhere else.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::remove_dir_all(out.join("acme-hq/crm")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&elsewhere, out.join("acme-hq/crm")).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let later = export_markdown(&lake, &out).await.unwrap();
    assert!(
        later.kept.contains(&(gallery.clone(), Kept::Changed)),
        "{:?}",
        later.kept
    );
    assert!(
        later.kept.contains(&(sub.clone(), Kept::Changed)),
        "{:?}",
        later.kept
    );
    for f in [&gallery, &sub] {
        assert!(
            std::fs::read_to_string(out.join(f))
                .unwrap()
                .ends_with("My own notes.\n")
        );
    }
    assert!(
        std::fs::read_to_string(out.join(&handbook))
            .unwrap()
            .contains("Edited after the export."),
        "a file the export owns is rewritten"
    );
    #[cfg(unix)]
    {
        assert!(
            later
                .kept
                .iter()
                .any(|(p, why)| *why == Kept::Symlink && p.starts_with("acme-hq/crm")),
            "{:?}",
            later.kept
        );
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing written through the symlink"
        );
    }
    // The command says so and fails.
    let bin = env!("CARGO_BIN_EXE_notionlake");
    let cli = std::process::Command::new(bin)
        .args(["export-md", "--lake"])
        .arg(dir.path().join("lake"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!cli.status.success());
    let err = String::from_utf8_lossy(&cli.stderr);
    assert!(
        err.contains(
            "left alone: acme-hq/meeting-notes/block-gallery.md (changed since the export wrote it)"
        ),
        "{err}"
    );
}

/// Regression: DEL, C1 controls and U+2028/2029 in a title or a property reached the front
/// matter raw; PyYAML refused those files. Every exported file now reads with PyYAML.
#[tokio::test]
async fn every_exported_front_matter_reads_with_pyyaml() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let nasty: String = [
        "Weird", "\u{7f}", "\u{85}", "\u{9b}", "\u{2028}", "\u{2029}", "\u{1}", "\"end\"",
    ]
    .concat();
    {
        let mut ws = fake.workspace_mut();
        let page = ws.page_mut(&ids.handbook).unwrap();
        page.title = notionlake::fake::workspace::rt_array(&nasty);
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let out = dir.path().join("docs");
    export_markdown(&lake, &out).await.unwrap();
    let script = r#"
import sys, os, json, yaml
titles, n = [], 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith(".md"):
            continue
        text = open(os.path.join(root, f), encoding="utf-8").read()
        head = text[4:text.index("\n---\n", 4)]
        titles.append(yaml.safe_load(head)["title"])
        n += 1
print(json.dumps({"files": n, "titles": titles}))
"#;
    let got: serde_json::Value =
        serde_json::from_str(&crate::lake::run_python(script, &[out.as_path()])).unwrap();
    assert!(got["files"].as_u64().unwrap() > 100);
    assert!(
        got["titles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == nasty.as_str()),
        "the title reads back exactly"
    );
}
