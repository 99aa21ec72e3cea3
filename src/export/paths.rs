//! Where each exported page goes: slugged names (siblings that would share one get their id's
//! first 8 hex digits appended), a folder per page holding its children, a folder per data
//! source holding its rows, and links between exported pages rewritten to relative paths.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Doc, LakeView, front};

/// Longest slug, in characters.
const SLUG_MAX: usize = 80;
/// Longest slug, in bytes: with a clash's `-<8 hex>` and `.md`, a file or folder name stays
/// within the 255 bytes file systems allow, in any script (a letter takes up to 4 bytes).
const SLUG_MAX_BYTES: usize = 200;

/// Names Windows reserves for devices, with or without an extension (`con.md` too).
fn reserved_on_windows(name: &str) -> bool {
    const DEVICES: [&str; 4] = ["con", "prn", "aux", "nul"];
    if DEVICES.contains(&name) {
        return true;
    }
    let (Some(stem), Some(digit)) = (name.get(..3), name.get(3..)) else {
        return false;
    };
    matches!(stem, "com" | "lpt")
        && matches!(
            digit,
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
        )
}
/// Deepest folder nesting followed; deeper (or cyclic) parents put a page at the top.
const MAX_DEPTH: usize = 64;

/// A file name stem for `title`: lowercase letters and digits of any script, other characters
/// as single `-`, at most 80 characters and 200 bytes; `untitled` when nothing is left; a name
/// Windows reserves (`con`, `nul`, `com1`…) gets `-page` appended.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(SLUG_MAX).collect();
    while out.len() > SLUG_MAX_BYTES {
        out.pop();
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "untitled".to_string()
    } else if reserved_on_windows(&out) {
        format!("{out}-page")
    } else {
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Node {
    Root,
    Page(String),
    Source(String),
}

struct Tree<'a> {
    view: &'a LakeView,
    names: HashMap<Node, String>,
}

impl<'a> Tree<'a> {
    fn parent(&self, node: &Node) -> Node {
        match node {
            Node::Root => Node::Root,
            Node::Page(id) => {
                let Some(p) = self.view.pages.get(id) else {
                    return Node::Root;
                };
                let parent = p.parent_id.clone().unwrap_or_default();
                match p.parent_type.as_deref() {
                    Some("page" | "page_id") if self.view.pages.contains_key(&parent) => {
                        Node::Page(parent)
                    }
                    Some("data_source" | "data_source_id" | "database" | "database_id") => {
                        let source = p.data_source_id.clone().unwrap_or(parent);
                        if self.view.sources.contains_key(&source) {
                            Node::Source(source)
                        } else {
                            Node::Root
                        }
                    }
                    _ => Node::Root,
                }
            }
            Node::Source(id) => match self.view.sources.get(id).and_then(|s| s.1.clone()) {
                Some(home) if self.view.pages.contains_key(&home) => Node::Page(home),
                _ => Node::Root,
            },
        }
    }

    fn new(view: &'a LakeView) -> Tree<'a> {
        let mut tree = Tree {
            view,
            names: HashMap::new(),
        };
        let nodes: Vec<(Node, String)> = view
            .pages
            .values()
            .map(|p| (Node::Page(p.id.clone()), p.title.clone()))
            .chain(
                view.sources
                    .iter()
                    .map(|(id, (title, _))| (Node::Source(id.clone()), title.clone())),
            )
            .collect();
        let mut siblings: HashMap<(Node, String), Vec<Node>> = HashMap::new();
        for (node, title) in nodes {
            let key = (tree.parent(&node), slug(&title));
            siblings.entry(key).or_default().push(node);
        }
        for ((_, name), group) in siblings {
            let clash = group.len() > 1;
            for node in group {
                let name = match (&node, clash) {
                    (Node::Page(id) | Node::Source(id), true) => {
                        let hex: String = id.chars().filter(|c| *c != '-').take(8).collect();
                        format!("{name}-{hex}")
                    }
                    _ => name.clone(),
                };
                tree.names.insert(node, name);
            }
        }
        tree
    }

    /// The folder of `node`'s children, as path components from the export's root.
    fn folder(&self, node: &Node) -> Vec<String> {
        let mut chain = Vec::new();
        let mut at = node.clone();
        while at != Node::Root && chain.len() < MAX_DEPTH {
            chain.push(self.names.get(&at).cloned().unwrap_or_default());
            at = self.parent(&at);
        }
        if at != Node::Root {
            // A cycle or absurd depth: the node's own folder at the top.
            chain.truncate(1);
        }
        chain.reverse();
        chain
    }

    /// The file of page `id`, as path components.
    fn file(&self, id: &str) -> Vec<String> {
        let node = Node::Page(id.to_string());
        let mut path = self.folder(&node);
        if let Some(last) = path.last_mut() {
            last.push_str(".md");
        }
        path
    }
}

/// `to` relative to the folder `from_dir`, with `/` separators.
pub(super) fn relative(from_dir: &[String], to: &[String]) -> String {
    let common = from_dir.iter().zip(to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = std::iter::repeat_n("..", from_dir.len() - common).collect();
    parts.extend(to[common..].iter().map(String::as_str));
    parts.join("/")
}

/// Rewrites links to exported pages (`(https://www.notion.so/<32 hex>)`) into relative paths.
fn rewrite_links(
    markdown: &str,
    from_dir: &[String],
    files: &HashMap<String, Vec<String>>,
) -> String {
    const PREFIX: &str = "](https://www.notion.so/";
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        let id: String = after.chars().take_while(char::is_ascii_hexdigit).collect();
        let closes = after[id.len()..].starts_with(')');
        out.push_str(&rest[..at]);
        match files.get(&id) {
            Some(path) if id.len() == 32 && closes => {
                out.push_str("](");
                out.push_str(&relative(from_dir, path));
                rest = &after[id.len()..];
            }
            _ => {
                out.push_str(PREFIX);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a file of the export holds.
#[derive(Debug, Clone)]
pub(crate) enum Planned {
    /// A page's Markdown.
    Text(String),
    /// A file the lake keeps, copied as it is.
    Asset(super::assets::Asset),
}

/// A file the export holds: its page (`assets` for a file pages use), its path under the
/// export's root, its content.
#[derive(Debug, Clone)]
pub(crate) struct PlannedFile {
    pub(crate) page_id: String,
    pub(crate) path: PathBuf,
    pub(crate) content: Planned,
}

/// Every document's file and content, then the files they use.
pub(crate) fn plan(view: &LakeView) -> Vec<PlannedFile> {
    let tree = Tree::new(view);
    let files: HashMap<String, Vec<String>> = view
        .docs
        .iter()
        .map(|d| (d.page.id.replace('-', ""), tree.file(&d.page.id)))
        .collect();
    let mut used = std::collections::BTreeMap::new();
    let mut planned: Vec<PlannedFile> = view
        .docs
        .iter()
        .map(|d: &Doc| {
            let path = files
                .get(&d.page.id.replace('-', ""))
                .cloned()
                .unwrap_or_default();
            let dir = &path[..path.len().saturating_sub(1)];
            let body = rewrite_links(&d.markdown, dir, &files);
            let body = view.assets.rewrite_markdown(&body, dir, &mut used);
            let mut d = d.clone();
            for field in [&mut d.cover, &mut d.icon].into_iter().flatten() {
                let mut v = serde_json::Value::String(std::mem::take(field));
                view.assets.rewrite_value(&mut v, dir, &mut used);
                *field = v.as_str().unwrap_or_default().to_string();
            }
            for (_, value) in &mut d.properties {
                match value {
                    super::PropValue::Value(v) => view.assets.rewrite_value(v, dir, &mut used),
                    super::PropValue::Pages(ids) => {
                        *value = super::PropValue::Value(front::related_pages(
                            ids,
                            |id| view.pages.get(id).map(|p| p.title.clone()),
                            |id| files.get(&id.replace('-', "")).map(|to| relative(dir, to)),
                        ))
                    }
                }
            }
            PlannedFile {
                page_id: d.page.id.clone(),
                path: path.iter().collect(),
                content: Planned::Text(format!("{}{body}", front::front_matter(&d))),
            }
        })
        .collect();
    planned.extend(used.into_values().map(|asset| PlannedFile {
        page_id: super::ASSETS_DIR.to_string(),
        path: asset.path().iter().collect(),
        content: Planned::Asset(asset),
    }));
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_any_script_and_drop_punctuation() {
        assert_eq!(slug("Team handbook"), "team-handbook");
        assert_eq!(slug("  Q3 — Plan: v2!  "), "q3-plan-v2");
        assert_eq!(slug("Événements à Zürich"), "événements-à-zürich");
        assert_eq!(slug("会議メモ"), "会議メモ");
        assert_eq!(slug("!!!"), "untitled");
        assert_eq!(slug(&"a".repeat(200)).chars().count(), SLUG_MAX);
    }

    /// Regression: 64 four-byte letters made a 256-byte name, and more than 255 with a
    /// clash's id; a page named "CON" could not be written on Windows.
    #[test]
    fn names_fit_255_bytes_in_any_script_and_avoid_windows_devices() {
        for title in [
            "𝔸".repeat(64),
            "𝔸".repeat(300),
            "é".repeat(300),
            "會".repeat(300),
        ] {
            let name = format!("{}-0123abcd.md", slug(&title));
            assert!(name.len() <= 255, "{} bytes", name.len());
        }
        assert_eq!(slug("CON"), "con-page");
        assert_eq!(slug("nul"), "nul-page");
        assert_eq!(slug("Com1"), "com1-page");
        assert_eq!(slug("LPT³"), "lpt³-page");
        assert_eq!(slug("Console"), "console");
        assert_eq!(slug("com10"), "com10");
    }

    #[test]
    fn links_become_relative_paths() {
        let files = HashMap::from([
            ("a".repeat(32), vec!["hq".to_string(), "crm.md".to_string()]),
            (
                "b".repeat(32),
                vec!["hq".into(), "notes".into(), "weekly.md".into()],
            ),
        ]);
        let md = format!(
            "[CRM](https://www.notion.so/{}) and [x](https://www.notion.so/{}) and [gone](https://www.notion.so/{})",
            "a".repeat(32),
            "b".repeat(32),
            "c".repeat(32)
        );
        let from = vec!["hq".to_string(), "notes".to_string()];
        assert_eq!(
            rewrite_links(&md, &from, &files),
            format!(
                "[CRM](../crm.md) and [x](weekly.md) and [gone](https://www.notion.so/{})",
                "c".repeat(32)
            )
        );
    }
}
