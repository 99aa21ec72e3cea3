//! `export-md`: the lake's documents as Markdown files for publishing. One `.md` file per page
//! in a folder tree that follows the page hierarchy (a page's children in a folder named like
//! it, a data source's rows in a folder named after it), with YAML front matter (title, id,
//! url, last edit, and a database row's properties), stable slugged names, and links between
//! exported pages rewritten to relative paths; the Notion-hosted files pages use (images,
//! attachments, covers, icons, `files` properties) that the lake keeps are copied once each into
//! `assets/` and linked relatively ([`assets`]). A later export writes only the files whose
//! content changed and removes the files of pages that left the lake; a file it did not
//! write, or one changed since it wrote it, is never overwritten nor removed (it is reported),
//! and nothing is written through a symlink.

mod assets;
mod front;
pub(crate) mod paths;
pub(crate) mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use crate::sink::Lake;

pub use assets::ASSETS_DIR;
pub use paths::slug;
pub use write::{Kept, MANIFEST};

pub(crate) use front::quoted;

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Pages exported (Markdown files the export holds now).
    pub pages: usize,
    /// Files the pages use, copied under `assets/` (one per content).
    pub assets: usize,
    /// Files written because they were new or their content changed.
    pub written: usize,
    /// Files left as they were (same content).
    pub unchanged: usize,
    /// Files removed because their page left the lake or moved.
    pub removed: usize,
    /// The files written (relative paths).
    pub written_paths: Vec<PathBuf>,
    /// The files removed (relative paths).
    pub removed_paths: Vec<PathBuf>,
    /// Files in the way that the export left alone (relative paths), and why: it never
    /// overwrites nor removes a file it does not own.
    pub kept: Vec<(PathBuf, Kept)>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The lake could not be read.
    #[error("reading the lake: {0}")]
    Lake(String),
    /// The lake has no `documents` table yet.
    #[error(
        "the lake has no documents table: run `notionlake sync` with page content (blocks) selected first"
    )]
    NoDocuments,
    /// A file of the export could not be read or written.
    #[error(
        "{action} {path}: {source} (check that the output directory is writable and has space)"
    )]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The previous export's manifest is unreadable.
    #[error("{path}: {message}; delete it to export everything again")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

fn lake_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Lake(e.to_string())
}

/// Rows of `sql` as JSON objects.
async fn json_rows(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<Map<String, Value>>, ExportError> {
    crate::shell::json_rows(ctx, sql).await.map_err(lake_error)
}

fn text(row: &Map<String, Value>, key: &str) -> Option<String> {
    row.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A page as the export sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageInfo {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) parent_type: Option<String>,
    pub(crate) parent_id: Option<String>,
    pub(crate) data_source_id: Option<String>,
}

/// A page with a document.
#[derive(Debug, Clone, Default)]
pub(crate) struct Doc {
    pub(crate) page: PageInfo,
    pub(crate) url: Option<String>,
    pub(crate) last_edited_time: Option<String>,
    /// The page's cover and icon (a URL, an emoji), as the `pages` table holds them.
    pub(crate) cover: Option<String>,
    pub(crate) icon: Option<String>,
    pub(crate) markdown: String,
    /// A database row's properties, by Notion property name.
    pub(crate) properties: Vec<(String, PropValue)>,
}

/// A property value of an exported row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PropValue {
    /// A readable value (a formula's result, a date's text, people's names…).
    Value(Value),
    /// Related pages, by id: written as their titles, with relative links to those the export
    /// holds, once its paths are planned.
    Pages(Vec<String>),
}

/// What the lake holds for an export.
pub(crate) struct LakeView {
    pub(crate) docs: Vec<Doc>,
    /// Every live page, by id (parents of documents may have none).
    pub(crate) pages: HashMap<String, PageInfo>,
    /// Data sources: id → (title, the page holding its database).
    pub(crate) sources: HashMap<String, (String, Option<String>)>,
    /// The Notion-hosted files the lake keeps.
    pub(crate) assets: assets::Assets,
}

async fn read_lake(lake: &Lake) -> Result<LakeView, ExportError> {
    let ctx = SessionContext::new();
    let tables = crate::shell::register_lake(&ctx, lake)
        .await
        .map_err(lake_error)?;
    let has = |name: &str| tables.iter().any(|t| t.name == name);
    if !has("documents") || !has("pages") {
        return Err(ExportError::NoDocuments);
    }
    let mut pages = HashMap::new();
    for r in json_rows(
        &ctx,
        "SELECT id, title, parent_type, parent_id, data_source_id FROM pages WHERE NOT coalesce(in_trash, false)",
    )
    .await?
    {
        let page = PageInfo {
            id: text(&r, "id").unwrap_or_default(),
            title: text(&r, "title").unwrap_or_default(),
            parent_type: text(&r, "parent_type"),
            parent_id: text(&r, "parent_id"),
            data_source_id: text(&r, "data_source_id"),
        };
        pages.insert(page.id.clone(), page);
    }
    let sources = if has("data_sources") {
        read_sources(&ctx, has("blocks")).await?
    } else {
        HashMap::new()
    };
    let mut docs = Vec::new();
    for r in json_rows(
        &ctx,
        "SELECT d.page_id, d.url, CAST(d.last_edited_time AS VARCHAR) AS last_edited_time, d.markdown, p.cover, p.icon FROM documents d LEFT JOIN pages p ON d.page_id = p.id ORDER BY d.page_id",
    )
    .await?
    {
        let id = text(&r, "page_id").unwrap_or_default();
        // A document whose page is trashed or deleted is not exported.
        let Some(page) = pages.get(&id) else {
            continue;
        };
        docs.push(Doc {
            page: page.clone(),
            url: text(&r, "url"),
            last_edited_time: text(&r, "last_edited_time"),
            cover: text(&r, "cover"),
            icon: text(&r, "icon"),
            markdown: text(&r, "markdown").unwrap_or_default(),
            properties: Vec::new(),
        });
    }
    if has("properties") {
        front::attach_properties(&ctx, &tables, &mut docs).await?;
    }
    let assets = assets::Assets::read(&ctx, has("files")).await?;
    Ok(LakeView {
        docs,
        pages,
        sources,
        assets,
    })
}

/// Data sources with their title and the page their database sits on (from the
/// `child_database` block that holds it, when the lake has blocks).
async fn read_sources(
    ctx: &SessionContext,
    blocks: bool,
) -> Result<HashMap<String, (String, Option<String>)>, ExportError> {
    let mut homes: HashMap<String, String> = HashMap::new();
    if blocks {
        for r in json_rows(
            ctx,
            "SELECT id, page_id FROM blocks WHERE type = 'child_database'",
        )
        .await?
        {
            if let (Some(id), Some(page)) = (text(&r, "id"), text(&r, "page_id")) {
                homes.insert(id, page);
            }
        }
    }
    let mut out = HashMap::new();
    for r in json_rows(ctx, "SELECT id, database_id, title FROM data_sources").await? {
        let id = text(&r, "id").unwrap_or_default();
        let home = text(&r, "database_id").and_then(|d| homes.get(&d).cloned());
        out.insert(id, (text(&r, "title").unwrap_or_default(), home));
    }
    Ok(out)
}

/// Exports the lake's documents to the folder `out` (created when missing).
pub async fn export_markdown(lake: &Lake, out: &Path) -> Result<ExportReport, ExportError> {
    let view = read_lake(lake).await?;
    let files = paths::plan(&view);
    write::apply(lake, out, &files).await
}
