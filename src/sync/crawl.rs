//! Crawling one page: its block tree (every level, every page of children, with a depth limit
//! and a cycle guard), the boundaries it contains (child pages and child databases, extracted
//! as pages and data sources of their own), and its comments. Synced-block copies are recorded
//! with their `synced_from` and not fetched again: the original's content is read where it lives.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use serde_json::Value;

use crate::flatten::fixed::{block_row, comment_row};
use crate::model::normalize_id;
use crate::notion::pagination::{Listed, MAX_RESTARTS, Restarting};
use crate::notion::{NotionClient, NotionError};

/// Which comments to extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
pub enum CommentsMode {
    /// None.
    None,
    /// Page-level discussions (one request per page).
    #[default]
    Pages,
    /// Page-level and block-level comments (one request per block as well).
    All,
}

/// How page content is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
pub enum ContentMode {
    /// Every block, level by level (`GET /v1/blocks/{id}/children`): the `blocks` table, and
    /// documents rendered from it.
    #[default]
    Blocks,
    /// One `GET /v1/pages/{id}/markdown` per page (plus one per truncated subtree): documents
    /// only, in Notion's enhanced markdown; no `blocks` table and only page-level comments.
    MarkdownApi,
}

/// Settings and shared state of a crawl.
#[derive(Debug)]
pub struct Crawler {
    /// The client.
    pub client: NotionClient,
    /// Deepest level of nesting followed (page children are depth 1).
    pub max_depth: usize,
    /// Which comments to read.
    pub comments: CommentsMode,
    /// How page content is read.
    pub content: ContentMode,
    comments_restricted: AtomicBool,
    /// Set once the run warned that markdown-api crawls read page-level comments only.
    pub(super) block_comments_warned: AtomicBool,
    warnings: Mutex<Vec<String>>,
}

/// What one page held.
#[derive(Debug, Default)]
pub struct PageContent {
    /// The page.
    pub page_id: String,
    /// `blocks` rows.
    pub blocks: Vec<Value>,
    /// `comments` rows.
    pub comments: Vec<Value>,
    /// Sub-pages found through `child_page` blocks.
    pub child_pages: Vec<String>,
    /// Databases found through `child_database` blocks.
    pub child_databases: Vec<String>,
    /// The page's enhanced markdown, when content is read through the markdown API.
    pub markdown: Option<String>,
}

impl Crawler {
    /// A crawler.
    pub fn new(
        client: NotionClient,
        max_depth: usize,
        comments: CommentsMode,
        content: ContentMode,
    ) -> Arc<Crawler> {
        Arc::new(Crawler {
            client,
            max_depth,
            comments,
            content,
            comments_restricted: AtomicBool::new(false),
            block_comments_warned: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn warn(&self, w: String) {
        tracing::warn!("{w}");
        if let Ok(mut ws) = self.warnings.lock() {
            ws.push(w);
        }
    }

    /// Warnings gathered so far.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// True once Notion answered 403 to a comments request.
    pub fn comments_restricted(&self) -> bool {
        self.comments_restricted.load(Ordering::Relaxed)
    }

    /// Every child of `container`; a listing whose cursor Notion rejects starts again.
    async fn list_children(&self, container: &str) -> Result<Vec<Value>, NotionError> {
        let client = &self.client;
        let mut listing = Restarting::new(|| client.block_children(container), MAX_RESTARTS);
        let mut children = Vec::new();
        while let Some(next) = listing.next().await? {
            match next {
                Listed::Item(block) => children.push(block),
                Listed::Restarted(_) => {
                    self.warn(format!("Notion rejected a pagination cursor while listing the children of {container}; the listing was restarted"));
                    children.clear();
                }
            }
        }
        Ok(children)
    }

    /// Crawls a page's content and comments. A page that vanished (404) yields nothing. The
    /// run hands each page over once; the cycle guard covers the blocks of one page, so the
    /// crawler keeps nothing that grows with the workspace.
    pub async fn crawl_page(&self, page_id: &str) -> Result<PageContent, NotionError> {
        if self.content == ContentMode::MarkdownApi {
            return self.crawl_markdown(page_id).await;
        }
        let page_id = normalize_id(page_id);
        let mut out = PageContent {
            page_id: page_id.clone(),
            ..PageContent::default()
        };
        let commentable = self.crawl_tree(&page_id, &page_id, 1, &mut out).await?;
        if self.comments != CommentsMode::None {
            let mut targets = vec![page_id.clone()];
            targets.extend(commentable);
            self.read_comments(&page_id, targets, &mut out).await?;
        }
        Ok(out)
    }

    /// Crawls the tree below `root` (the page itself, or a block of page `page_id` whose
    /// children are at `depth`) into `out`, depth-first in document order. Returns the blocks
    /// whose comments `--comments all` reads.
    pub(super) async fn crawl_tree(
        &self,
        page_id: &str,
        root: &str,
        depth: usize,
        out: &mut PageContent,
    ) -> Result<Vec<String>, NotionError> {
        let mut visited: HashSet<String> = HashSet::from([root.to_string()]);
        // (container id, depth of its children)
        let mut stack: Vec<(String, usize)> = vec![(root.to_string(), depth)];
        let mut commentable: Vec<String> = Vec::new();
        while let Some((container, depth)) = stack.pop() {
            let listing = self.list_children(&container).await;
            let children: Vec<Value> = match listing {
                Ok(c) => c,
                Err(e) if e.is_not_found() => {
                    self.warn(format!("block {container} of page {page_id} vanished or is not shared; its content is skipped"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut nested = Vec::new();
            for (position, block) in children.iter().enumerate() {
                let row = block_row(block, page_id, depth, position);
                let id = row["id"].as_str().unwrap_or_default().to_string();
                let kind = row["type"].as_str().unwrap_or_default();
                match kind {
                    "child_page" => out.child_pages.push(id.clone()),
                    "child_database" => out.child_databases.push(id.clone()),
                    _ => {}
                }
                let synced_copy = kind == "synced_block" && !row["synced_from"].is_null();
                let container_kind =
                    !matches!(kind, "child_page" | "child_database") && !synced_copy;
                if block
                    .get("has_children")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    && container_kind
                {
                    if depth >= self.max_depth {
                        self.warn(format!("block {id} in page {page_id} is nested deeper than {} levels; its children are skipped (raise --max-depth)", self.max_depth));
                    } else if visited.insert(id.clone()) {
                        nested.push((id.clone(), depth + 1));
                    } else {
                        self.warn(format!(
                            "block {id} was reached twice (a cycle); followed once"
                        ));
                    }
                }
                if self.comments == CommentsMode::All && kind != "child_page" {
                    commentable.push(id);
                }
                out.blocks.push(row);
            }
            // Depth-first, in document order.
            stack.extend(nested.into_iter().rev());
        }
        Ok(commentable)
    }

    /// Reads the comments of `targets` (the page and its blocks) into `out`.
    pub(super) async fn read_comments(
        &self,
        page_id: &str,
        targets: Vec<String>,
        out: &mut PageContent,
    ) -> Result<(), NotionError> {
        for target in targets {
            if self.comments_restricted() {
                break;
            }
            match self
                .client
                .list_comments(&target)
                .try_collect::<Vec<Value>>()
                .await
            {
                Ok(list) => out
                    .comments
                    .extend(list.iter().map(|c| comment_row(c, page_id))),
                Err(e) if e.is_restricted() => {
                    if !self.comments_restricted.swap(true, Ordering::Relaxed) {
                        self.warn("the integration cannot read comments (403 restricted_resource); the comments table is skipped — enable the \"Read comments\" capability to get it".into());
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
