//! A page's blocks → one Markdown document (CommonMark plus GitHub tables and task lists),
//! pure and synchronous: [`render`] walks the block tree by the rules of [`rules`] and gathers
//! what the `documents` table records besides the Markdown: plain text, word and block counts,
//! the heading outline, links out, and the blocks rendered only as placeholders.

pub mod enhanced;
pub mod inline;
pub mod rules;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use inline::notion_url;
use rules::BlockRule;

/// One block and its children, as the blocks table holds them.
#[derive(Debug, Clone, Default)]
pub struct BlockNode {
    /// Block id.
    pub id: String,
    /// Block type (`paragraph`, `heading_1`…).
    pub kind: String,
    /// The type's payload (the object under the type's key).
    pub payload: Value,
    /// Children, in order.
    pub children: Vec<BlockNode>,
}

/// What the renderer may look up: titles of pages and databases, user names, and the children
/// of synced-block originals (a copy renders its original).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Page and database titles by id.
    pub titles: &'a Titles,
    /// User names by id.
    pub users: &'a HashMap<String, String>,
    /// Synced-block originals by id.
    pub synced: Option<&'a HashMap<String, BlockNode>>,
}

static NO_NAMES: std::sync::LazyLock<HashMap<String, String>> =
    std::sync::LazyLock::new(HashMap::new);
static NO_TITLES: std::sync::LazyLock<Titles> = std::sync::LazyLock::new(|| Titles::new(0));

/// Page and database titles by id for the links a document makes, held compactly (an id as its
/// 16 bytes) and up to a bound, so that a sync's memory does not grow with the workspace past it.
#[derive(Debug, Clone, Default)]
pub struct Titles {
    map: HashMap<u128, Box<str>>,
    limit: usize,
}

impl Titles {
    /// An empty set holding at most `limit` titles.
    pub fn new(limit: usize) -> Titles {
        Titles {
            map: HashMap::new(),
            limit,
        }
    }

    /// Records the title of `id` (a UUID in any of Notion's spellings). Returns false when it
    /// could not be kept: the bound is reached (a known id is still updated) or the id is not
    /// a UUID.
    pub fn insert(&mut self, id: &str, title: &str) -> bool {
        let Some(key) = key_of(id) else {
            return false;
        };
        if self.map.len() >= self.limit && !self.map.contains_key(&key) {
            return false;
        }
        self.map.insert(key, title.into());
        true
    }

    /// The title of `id`, when known.
    pub fn get(&self, id: &str) -> Option<&str> {
        self.map.get(&key_of(id)?).map(AsRef::as_ref)
    }

    /// Titles held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn key_of(id: &str) -> Option<u128> {
    crate::model::uuid_bits(&crate::model::normalize_id_cow(id))
}

impl Default for Context<'static> {
    /// Nothing known: mentions keep Notion's own text.
    fn default() -> Self {
        Context {
            titles: &NO_TITLES,
            users: &NO_NAMES,
            synced: None,
        }
    }
}

/// What a link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkKind {
    /// A Notion page (by id).
    Page,
    /// A Notion database (by id).
    Database,
    /// A web address.
    Url,
}

/// Links out of a document, in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(pub Vec<(LinkKind, String)>);

impl Links {
    fn push(&mut self, kind: LinkKind, target: &str) {
        self.0.push((kind, target.to_string()));
    }
}

/// A heading of the outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// 1 to 4.
    pub level: u8,
    /// Its plain text.
    pub text: String,
    /// Its anchor as GitHub derives it (lowercase, punctuation dropped, spaces as `-`,
    /// repeated anchors numbered).
    pub anchor: String,
}

/// A rendered page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// The Markdown.
    pub markdown: String,
    /// Plain text, one block per line, without markup.
    pub text: String,
    /// Words of the plain text.
    pub words: usize,
    /// Blocks rendered (every block of the tree).
    pub blocks: usize,
    /// The heading outline.
    pub headings: Vec<Heading>,
    /// Links out.
    pub links: Links,
    /// Blocks rendered only as placeholders, by type.
    pub placeholders: BTreeMap<String, usize>,
}

/// The marker the table of contents is rendered at, replaced once the headings are known.
const TOC_MARK: &str = "\u{0}toc\u{0}";

/// Renders a page's top-level blocks.
pub fn render(blocks: &[BlockNode], ctx: &Context<'_>) -> Document {
    let mut r = Renderer {
        ctx,
        doc: Document::default(),
        anchors: HashMap::new(),
    };
    let body = r.blocks(blocks, 0);
    let toc: String = r
        .doc
        .headings
        .iter()
        .map(|h| {
            let indent = "  ".repeat(usize::from(h.level.saturating_sub(1)));
            format!("{indent}- [{}](#{})\n", inline::escape(&h.text), h.anchor)
        })
        .collect();
    r.doc.markdown = body.replace(TOC_MARK, toc.trim_end());
    r.doc.markdown = r.doc.markdown.trim_end().to_string() + "\n";
    r.doc.words = r.doc.text.split_whitespace().count();
    r.doc
}

struct Renderer<'a> {
    ctx: &'a Context<'a>,
    doc: Document,
    anchors: HashMap<String, usize>,
}

/// `text` with every line after the first indented by `indent`.
fn hang(text: &str, indent: &str) -> String {
    text.replace('\n', &format!("\n{indent}"))
}

/// Prefixes every line of `text` with `prefix` (blank lines get it trimmed).
fn prefix_lines(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                prefix.trim_end().to_string()
            } else {
                format!("{prefix}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Renderer<'_> {
    /// Renders siblings, separated by blank lines except between items of one list.
    fn blocks(&mut self, blocks: &[BlockNode], depth: usize) -> String {
        let mut out = String::new();
        let mut number = 0usize;
        let mut previous: Option<BlockRule> = None;
        for block in blocks {
            let rule = BlockRule::of(&block.kind);
            number = match rule {
                BlockRule::Numbered if previous == Some(BlockRule::Numbered) => number + 1,
                BlockRule::Numbered => block
                    .payload
                    .get("list_start_index")
                    .and_then(Value::as_u64)
                    .map_or(1, |n| usize::try_from(n).unwrap_or(1)),
                _ => 0,
            };
            let text = self.block(block, rule, number, depth);
            if text.is_empty() {
                continue;
            }
            let list = |r: Option<BlockRule>| {
                matches!(
                    r,
                    Some(BlockRule::Bullet | BlockRule::Numbered | BlockRule::ToDo)
                )
            };
            if !out.is_empty() {
                out.push_str(if list(previous) && previous == Some(rule) {
                    "\n"
                } else {
                    "\n\n"
                });
            }
            out.push_str(&text);
            previous = Some(rule);
        }
        out
    }

    /// The block's own rich text, rendered; its plain text joins the document's.
    fn rich(&mut self, value: Option<&Value>) -> String {
        let (md, plain) =
            inline::render(value.unwrap_or(&Value::Null), self.ctx, &mut self.doc.links);
        if !plain.is_empty() {
            self.doc.text.push_str(&plain);
            self.doc.text.push('\n');
        }
        md.replace('\n', "\\\n")
    }

    fn text_of(&mut self, block: &BlockNode) -> String {
        self.rich(block.payload.get("rich_text"))
    }

    /// Children under a list marker or paragraph, indented by `indent`.
    fn nested(&mut self, block: &BlockNode, indent: &str, depth: usize) -> String {
        if block.children.is_empty() {
            return String::new();
        }
        let inner = self.blocks(&block.children, depth + 1);
        format!("\n\n{}", prefix_lines(&inner, indent))
    }

    fn block(&mut self, block: &BlockNode, rule: BlockRule, number: usize, depth: usize) -> String {
        self.doc.blocks += 1;
        let p = &block.payload;
        match rule {
            BlockRule::Paragraph => {
                let text = self.text_of(block);
                text + &self.nested(block, "  ", depth)
            }
            BlockRule::Heading(level) => self.heading(block, level, depth),
            BlockRule::Bullet | BlockRule::ToDo | BlockRule::Numbered => {
                let marker = match rule {
                    BlockRule::Numbered => format!("{number}. "),
                    BlockRule::ToDo if p.get("checked").and_then(Value::as_bool) == Some(true) => {
                        "- [x] ".to_string()
                    }
                    BlockRule::ToDo => "- [ ] ".to_string(),
                    _ => "- ".to_string(),
                };
                let indent = " ".repeat(marker.len().min(4));
                let text = self.text_of(block);
                let children = self.nested(block, &indent, depth);
                format!("{marker}{}{children}", hang(&text, &indent))
            }
            BlockRule::Toggle => {
                let summary = self.rich(p.get("rich_text"));
                let inner = self.blocks(&block.children, depth + 1);
                format!("<details>\n<summary>{summary}</summary>\n\n{inner}\n\n</details>")
            }
            BlockRule::Quote | BlockRule::Callout => {
                let icon = match rule {
                    BlockRule::Callout => icon_text(p.get("icon")),
                    _ => String::new(),
                };
                let text = self.text_of(block);
                let inner = self.blocks(&block.children, depth + 1);
                let body = [format!("{icon}{text}"), inner]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n\n");
                prefix_lines(&body, "> ")
            }
            BlockRule::Code => {
                // Code keeps its characters as they are: its plain text, unescaped.
                let code = crate::model::plain_text(p.get("rich_text").unwrap_or(&Value::Null));
                self.doc.text.push_str(&code);
                self.doc.text.push('\n');
                let language = p
                    .get("language")
                    .and_then(Value::as_str)
                    .filter(|l| *l != "plain text")
                    .unwrap_or_default();
                let fence = "`".repeat(inline::longest_run(&code, '`').max(2) + 1);
                let caption = self.rich(p.get("caption"));
                let caption = if caption.is_empty() {
                    String::new()
                } else {
                    format!("\n\n*{caption}*")
                };
                format!("{fence}{language}\n{code}\n{fence}{caption}")
            }
            BlockRule::Divider => "---".to_string(),
            BlockRule::Equation => {
                let expr = p
                    .get("expression")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.doc.text.push_str(expr);
                self.doc.text.push('\n');
                format!("$$\n{expr}\n$$")
            }
            BlockRule::Table => self.table(block),
            BlockRule::TableRow => {
                let cells = p.get("cells").and_then(Value::as_array);
                let cells: Vec<String> = cells
                    .into_iter()
                    .flatten()
                    .map(|c| self.rich(Some(c)))
                    .collect();
                cells.join(" | ")
            }
            BlockRule::Container => self.blocks(&block.children, depth + 1),
            BlockRule::Synced => self.synced(block, depth),
            BlockRule::Image | BlockRule::Media | BlockRule::Bookmark => self.media(block, rule),
            BlockRule::ChildLink => self.child_link(block),
            BlockRule::TableOfContents => TOC_MARK.to_string(),
            BlockRule::Omitted => String::new(),
            BlockRule::MeetingNotes => self.meeting_notes(block, depth),
            BlockRule::Placeholder => self.placeholder(block),
        }
    }

    fn heading(&mut self, block: &BlockNode, level: u8, depth: usize) -> String {
        let (md, plain) = inline::render(
            block.payload.get("rich_text").unwrap_or(&Value::Null),
            self.ctx,
            &mut self.doc.links,
        );
        self.doc.text.push_str(&plain);
        self.doc.text.push('\n');
        let base = anchor(&plain);
        let seen = self.anchors.entry(base.clone()).or_insert(0);
        let anchor = if *seen == 0 {
            base
        } else {
            format!("{base}-{seen}")
        };
        *seen += 1;
        self.doc.headings.push(Heading {
            level,
            text: plain,
            anchor,
        });
        let line = format!(
            "{} {}",
            "#".repeat(usize::from(level)),
            md.replace('\n', " ")
        );
        if block.children.is_empty() {
            line
        } else {
            format!("{line}\n\n{}", self.blocks(&block.children, depth + 1))
        }
    }

    fn table(&mut self, block: &BlockNode) -> String {
        let p = &block.payload;
        let header_row = p.get("has_column_header").and_then(Value::as_bool) == Some(true);
        let header_col = p.get("has_row_header").and_then(Value::as_bool) == Some(true);
        let mut rows: Vec<Vec<String>> = Vec::new();
        for row in &block.children {
            self.doc.blocks += 1;
            let cells = row.payload.get("cells").and_then(Value::as_array);
            let mut out = Vec::new();
            for (i, cell) in cells.into_iter().flatten().enumerate() {
                let text = self.rich(Some(cell)).replace("\\\n", "<br>");
                let bold =
                    header_col && i == 0 && !text.is_empty() && !(header_row && rows.is_empty());
                out.push(if bold { format!("**{text}**") } else { text });
            }
            rows.push(out);
        }
        let width = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let line = |cells: &[String]| {
            let mut cells = cells.to_vec();
            cells.resize(width, String::new());
            format!("| {} |", cells.join(" | "))
        };
        let mut lines = Vec::new();
        let body = if header_row && !rows.is_empty() {
            lines.push(line(&rows[0]));
            &rows[1..]
        } else {
            lines.push(line(&[]));
            &rows[..]
        };
        lines.push(format!("|{}", " --- |".repeat(width)));
        lines.extend(body.iter().map(|r| line(r)));
        lines.join("\n")
    }

    fn synced(&mut self, block: &BlockNode, depth: usize) -> String {
        let original = block
            .payload
            .pointer("/synced_from/block_id")
            .and_then(Value::as_str);
        match original {
            None => self.blocks(&block.children, depth + 1),
            Some(id) => match self.ctx.synced.and_then(|s| s.get(id)) {
                Some(o) => self.blocks(&o.children, depth + 1),
                None if !block.children.is_empty() => self.blocks(&block.children, depth + 1),
                None => String::new(),
            },
        }
    }

    fn media(&mut self, block: &BlockNode, rule: BlockRule) -> String {
        let p = &block.payload;
        let hosted = p.get("type").and_then(Value::as_str) == Some("file");
        let url = p
            .get("url")
            .or_else(|| p.pointer("/file/url"))
            .or_else(|| p.pointer("/external/url"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // A Notion-hosted file's link is its URL without the signature: stable across reads,
        // and the `notion_key` of its row in the `files` table (which says where its bytes
        // are kept); the signed URL would be dead an hour after the sync.
        let url = if hosted {
            crate::model::notion_key(&url).to_string()
        } else {
            url
        };
        let caption = self.rich(p.get("caption"));
        let label = if !caption.is_empty() {
            caption
        } else if let Some(name) = p.get("name").and_then(Value::as_str) {
            inline::escape(name)
        } else if rule == BlockRule::Bookmark {
            inline::escape(&url)
        } else {
            block.kind.clone()
        };
        if !url.is_empty() {
            self.doc.links.push(LinkKind::Url, &url);
        }
        let bang = if rule == BlockRule::Image { "!" } else { "" };
        format!("{bang}[{label}]({})", url.replace(' ', "%20"))
    }

    fn child_link(&mut self, block: &BlockNode) -> String {
        let p = &block.payload;
        let (kind, id) = match block.kind.as_str() {
            "child_database" => (LinkKind::Database, block.id.clone()),
            "link_to_page" => match p.get("type").and_then(Value::as_str) {
                Some("database_id") => (
                    LinkKind::Database,
                    p.get("database_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
                _ => (
                    LinkKind::Page,
                    p.get("page_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
            },
            _ => (LinkKind::Page, block.id.clone()),
        };
        let title = p
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.ctx.titles.get(&id).map(str::to_string))
            .unwrap_or_else(|| "Untitled".to_string());
        self.doc.text.push_str(&title);
        self.doc.text.push('\n');
        self.doc.links.push(kind, &id);
        format!("[{}]({})", inline::escape(&title), notion_url(&id))
    }

    fn meeting_notes(&mut self, block: &BlockNode, depth: usize) -> String {
        let title = self.rich(block.payload.get("title"));
        let title = if title.is_empty() {
            "Meeting notes".to_string()
        } else {
            title
        };
        let mut parts = vec![format!("**{title}**")];
        let sections = [
            ("summary_block_id", "Summary"),
            ("notes_block_id", "Notes"),
            ("transcript_block_id", "Transcript"),
        ];
        let mut placed = Vec::new();
        for (key, name) in sections {
            let id = block
                .payload
                .pointer(&format!("/children/{key}"))
                .and_then(Value::as_str);
            let Some(section) = id.and_then(|id| block.children.iter().find(|c| c.id == id)) else {
                continue;
            };
            placed.push(section.id.as_str());
            self.doc.blocks += 1;
            // A section block's own text (when it has any) comes before its children.
            let text = self.text_of(section);
            let inner = self.blocks(&section.children, depth + 1);
            let body = [text, inner]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n\n");
            parts.push(format!("*{name}*\n\n{body}").trim_end().to_string());
        }
        // Children no section names are rendered after the sections, never dropped.
        let rest: Vec<BlockNode> = block
            .children
            .iter()
            .filter(|c| !placed.contains(&c.id.as_str()))
            .cloned()
            .collect();
        let rest = self.blocks(&rest, depth + 1);
        if !rest.is_empty() {
            parts.push(rest);
        }
        parts.join("\n\n")
    }

    fn placeholder(&mut self, block: &BlockNode) -> String {
        let kind = match block.kind.as_str() {
            "unsupported" => block
                .payload
                .get("block_type")
                .and_then(Value::as_str)
                .map_or("unsupported".to_string(), |t| format!("unsupported: {t}")),
            other => other.to_string(),
        };
        *self.doc.placeholders.entry(kind.clone()).or_insert(0) += 1;
        format!(
            "<!-- notion block not rendered: {} -->",
            kind.replace("--", "- -")
        )
    }
}

/// A callout's icon as text, followed by a space (an emoji, or a custom emoji's or icon's
/// name).
fn icon_text(icon: Option<&Value>) -> String {
    let Some(icon) = icon else {
        return String::new();
    };
    let text = match icon.get("type").and_then(Value::as_str) {
        Some("emoji") => icon
            .get("emoji")
            .and_then(Value::as_str)
            .map(str::to_string),
        Some("custom_emoji") => icon
            .pointer("/custom_emoji/name")
            .and_then(Value::as_str)
            .map(|n| format!(":{n}:")),
        Some("icon") => icon
            .pointer("/icon/name")
            .and_then(Value::as_str)
            .map(|n| format!(":{n}:")),
        _ => None,
    };
    text.map(|t| format!("{t} ")).unwrap_or_default()
}

/// A heading's anchor as GitHub derives it.
pub(super) fn anchor(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod readback;
mod reader;
#[cfg(test)]
mod tests;
