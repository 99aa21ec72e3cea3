//! Reading a page's content through `GET /v1/pages/{id}/markdown` (`sync --content
//! markdown-api`): one request per page, plus one per subtree Notion left out of a truncated
//! answer (its `unknown_block_ids`, asked for again with the same endpoint and spliced in
//! place of their `<unknown>` tags, level after level). A subtree Notion refuses (404: not
//! shared) keeps its tag and counts as a placeholder. Child pages and child databases are
//! found through the `<page>` and `<database>` tags, as the block crawl finds them through
//! `child_page` and `child_database` blocks. Comments are page-level only: the markdown names
//! no block a comment could hang on.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::crawl::{CommentsMode, Crawler, PageContent};
use crate::flatten::markdown::enhanced::{escape, notion_id, splice, unknown_alt};
use crate::model::normalize_id;
use crate::notion::NotionError;

/// Subtrees fetched for one page at most (each is one request); past it the rest stay
/// `<unknown>` tags, with a warning.
pub const MAX_SUBTREES_PER_PAGE: usize = 1_000;

/// The ids of `<page url>` and `<database url>` tags (child pages and child databases).
fn children_of(markdown: &str) -> (Vec<String>, Vec<String>) {
    let (mut pages, mut databases) = (Vec::new(), Vec::new());
    for line in markdown.lines() {
        let bare = line.trim_start_matches('\t');
        for (prefix, out) in [
            ("<page url=\"", &mut pages),
            ("<database url=\"", &mut databases),
        ] {
            if let Some(rest) = bare.strip_prefix(prefix)
                && let Some(id) = rest.split('"').next().and_then(notion_id)
            {
                out.push(id);
            }
        }
    }
    (pages, databases)
}

fn ids_of(answer: &Value) -> Vec<String> {
    answer
        .get("unknown_block_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(normalize_id)
        .collect()
}

fn markdown_of(answer: &Value) -> String {
    answer
        .get("markdown")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Crawler {
    /// The `<page>` or `<database>` tag of child `id` (`alt` says which), with its title;
    /// `None` when the integration cannot see it (its `<unknown>` tag stays).
    async fn reference(&self, id: &str, alt: &str) -> Result<Option<String>, NotionError> {
        let url = format!("https://www.notion.so/{}", id.replace('-', ""));
        let (tag, title) = if alt.contains("database") {
            let title = match self.client.retrieve_database(id).await {
                Ok(db) => crate::model::plain_text(db.get("title").unwrap_or(&Value::Null)),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            ("database", title)
        } else {
            let title = match self.client.retrieve_page(id).await {
                Ok(page) => crate::flatten::fixed::page_title(&page),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            ("page", title)
        };
        Ok(Some(format!(
            "<{tag} url=\"{url}\">{}</{tag}>",
            escape(&title)
        )))
    }

    /// Reads page `page_id` as enhanced markdown, completing truncated subtrees.
    pub(super) async fn crawl_markdown(&self, page_id: &str) -> Result<PageContent, NotionError> {
        let page_id = normalize_id(page_id);
        let mut out = PageContent {
            page_id: page_id.clone(),
            ..PageContent::default()
        };
        let answer = match self.client.page_markdown(&page_id, true).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => {
                self.warn(format!(
                    "page {page_id} vanished or is not shared; its content is skipped"
                ));
                return Ok(out);
            }
            Err(e) => return Err(e),
        };
        let mut markdown = markdown_of(&answer);
        let mut pending: VecDeque<String> = ids_of(&answer).into();
        let mut fetched = 0usize;
        while let Some(id) = pending.pop_front() {
            if fetched == MAX_SUBTREES_PER_PAGE {
                self.warn(format!("page {page_id} has more than {MAX_SUBTREES_PER_PAGE} truncated subtrees; the rest stay <unknown> tags (use --content blocks for it)"));
                break;
            }
            fetched += 1;
            // A child page or database left out is a page or database of its own: asking the
            // markdown endpoint for its id would answer its content, not its link. Its tag
            // becomes the link, titled from one retrieval.
            let alt = unknown_alt(&markdown, &id).unwrap_or_default();
            if matches!(
                alt.as_str(),
                "child_page" | "page" | "child_database" | "database"
            ) {
                if let Some(link) = self.reference(&id, &alt).await?
                    && let Some(m) = splice(&markdown, &id, &link)
                {
                    markdown = m;
                }
                continue;
            }
            match self.client.page_markdown(&id, true).await {
                Ok(sub) => {
                    match splice(&markdown, &id, &markdown_of(&sub)) {
                        Some(m) => markdown = m,
                        None => self.warn(format!("Notion listed block {id} of page {page_id} as unknown but its markdown has no tag for it; its subtree is skipped")),
                    }
                    pending.extend(ids_of(&sub));
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let (pages, databases) = children_of(&markdown);
        out.child_pages = pages;
        out.child_databases = databases;
        out.markdown = Some(markdown);
        if self.comments != CommentsMode::None {
            if self.comments == CommentsMode::All
                && !self.block_comments_warned.swap(true, Ordering::Relaxed)
            {
                self.warn("--comments all reads block comments through block ids, which --content markdown-api does not have; page-level comments only".into());
            }
            self.read_comments(&page_id, vec![page_id.clone()], &mut out)
                .await?;
        }
        Ok(out)
    }
}
