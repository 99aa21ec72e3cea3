//! How each Notion block type renders to Markdown: [`BlockRule`] is the single source of truth;
//! `schemas/markdown-rendering.md` documents it and a test checks that they agree.

/// The rendering of one block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRule {
    /// Its rich text as a paragraph; children indented below.
    Paragraph,
    /// `#`…`####` and its text; a toggleable heading renders its children after it.
    Heading(u8),
    /// `- ` and its text; children nested.
    Bullet,
    /// `N. ` and its text, numbered from 1 (or `list_start_index`) and restarting after any
    /// other block, as Notion does; children nested.
    Numbered,
    /// `- [ ] ` or `- [x] ` and its text; children nested.
    ToDo,
    /// `<details><summary>text</summary>` around its children.
    Toggle,
    /// A block quote of its text and children.
    Quote,
    /// A block quote starting with its icon (emoji, or the icon's name).
    Callout,
    /// A fenced code block with its language, its caption as an italic line after it.
    Code,
    /// `---`.
    Divider,
    /// `$$` display math.
    Equation,
    /// A GitHub table: the first row is the header when the table has a column header (else an
    /// empty header row); a header column is bold.
    Table,
    /// A row of its table, rendered by the table (alone, its cells joined by ` | `).
    TableRow,
    /// Its children in reading order (column lists, columns, tabs, templates).
    Container,
    /// The original's children (a copy renders the original it points at, when known).
    Synced,
    /// `![caption](url)`; a Notion-hosted file's link is marked as expiring.
    Image,
    /// `[caption or name](url)`; a Notion-hosted file's link is marked as expiring.
    Media,
    /// `[caption or url](url)`.
    Bookmark,
    /// A link to the page or database, with its title.
    ChildLink,
    /// A list of links to the document's headings.
    TableOfContents,
    /// Nothing (breadcrumbs describe the page's place, not its content).
    Omitted,
    /// The meeting's title in bold, then its summary, notes and transcript sections under italic
    /// labels, then any other child.
    MeetingNotes,
    /// An HTML comment naming the block's type; counted as a placeholder.
    Placeholder,
}

/// Every block type the renderer knows, with its rule. Any other type is a placeholder.
pub const BLOCK_RULES: &[(&str, BlockRule)] = &[
    ("paragraph", BlockRule::Paragraph),
    ("heading_1", BlockRule::Heading(1)),
    ("heading_2", BlockRule::Heading(2)),
    ("heading_3", BlockRule::Heading(3)),
    ("heading_4", BlockRule::Heading(4)),
    ("bulleted_list_item", BlockRule::Bullet),
    ("numbered_list_item", BlockRule::Numbered),
    ("to_do", BlockRule::ToDo),
    ("toggle", BlockRule::Toggle),
    ("quote", BlockRule::Quote),
    ("callout", BlockRule::Callout),
    ("code", BlockRule::Code),
    ("divider", BlockRule::Divider),
    ("equation", BlockRule::Equation),
    ("table", BlockRule::Table),
    ("table_row", BlockRule::TableRow),
    ("column_list", BlockRule::Container),
    ("column", BlockRule::Container),
    ("tab", BlockRule::Container),
    ("template", BlockRule::Container),
    ("synced_block", BlockRule::Synced),
    ("image", BlockRule::Image),
    ("video", BlockRule::Media),
    ("audio", BlockRule::Media),
    ("pdf", BlockRule::Media),
    ("file", BlockRule::Media),
    ("bookmark", BlockRule::Bookmark),
    ("embed", BlockRule::Bookmark),
    ("link_preview", BlockRule::Bookmark),
    ("child_page", BlockRule::ChildLink),
    ("child_database", BlockRule::ChildLink),
    ("link_to_page", BlockRule::ChildLink),
    ("table_of_contents", BlockRule::TableOfContents),
    ("breadcrumb", BlockRule::Omitted),
    ("meeting_notes", BlockRule::MeetingNotes),
    ("transcription", BlockRule::MeetingNotes),
    ("unsupported", BlockRule::Placeholder),
];

impl BlockRule {
    /// The rule of block type `kind`.
    pub fn of(kind: &str) -> BlockRule {
        BLOCK_RULES
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(BlockRule::Placeholder, |(_, r)| *r)
    }

    /// The rule's one-line description, as `schemas/markdown-rendering.md` gives it.
    pub fn note(self) -> &'static str {
        match self {
            BlockRule::Paragraph => "text as a paragraph; children indented below",
            BlockRule::Heading(_) => {
                "`#` repeated by level, then the text; a toggleable heading's children follow it"
            }
            BlockRule::Bullet => "`- ` and the text; children nested",
            BlockRule::Numbered => {
                "`N. ` numbered from 1 (or `list_start_index`), restarting after any other block; children nested"
            }
            BlockRule::ToDo => "`- [ ] ` or `- [x] ` and the text; children nested",
            BlockRule::Toggle => "`<details><summary>` text `</summary>` around the children",
            BlockRule::Quote => "block quote of the text and children",
            BlockRule::Callout => "block quote starting with the icon",
            BlockRule::Code => "fenced code block with its language; caption as an italic line",
            BlockRule::Divider => "`---`",
            BlockRule::Equation => "`$$` display math",
            BlockRule::Table => {
                "GitHub table; header row when the table has one (else empty), header column bold"
            }
            BlockRule::TableRow => "a row of its table, rendered by the table",
            BlockRule::Container => "children in reading order",
            BlockRule::Synced => "the original's children",
            BlockRule::Image => {
                "`![caption](url)`; a Notion-hosted file linked by its URL without the signature (the `files` table's `notion_key`)"
            }
            BlockRule::Media => {
                "`[caption or name](url)`; a Notion-hosted file linked by its URL without the signature (the `files` table's `notion_key`)"
            }
            BlockRule::Bookmark => "`[caption or url](url)`",
            BlockRule::ChildLink => "link to the page or database with its title",
            BlockRule::TableOfContents => "list of links to the document's headings",
            BlockRule::Omitted => "nothing",
            BlockRule::MeetingNotes => {
                "title in bold, then the summary, notes and transcript sections, then other children"
            }
            BlockRule::Placeholder => "HTML comment naming the type; counted as a placeholder",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the rendering table in `schemas/markdown-rendering.md` is a block type of
    /// [`BLOCK_RULES`] with its rule's note, in the same order.
    #[test]
    fn code_and_schemas_doc_agree() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/markdown-rendering.md");
        let text = std::fs::read_to_string(path).expect("schemas/markdown-rendering.md exists");
        let doc: Vec<(String, String)> = text
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").map(str::trim).collect();
                (
                    cells[0]
                        .trim_start_matches('|')
                        .trim()
                        .trim_matches('`')
                        .to_string(),
                    cells[1].trim_end_matches('|').trim().to_string(),
                )
            })
            .collect();
        let code: Vec<(String, String)> = BLOCK_RULES
            .iter()
            .map(|(k, r)| (k.to_string(), r.note().to_string()))
            .collect();
        assert_eq!(
            doc, code,
            "schemas/markdown-rendering.md and src/flatten/markdown/rules.rs disagree"
        );
    }
}
