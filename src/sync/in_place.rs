//! A page's content read again in place: a `page.content_updated` event lists the blocks that
//! changed, so instead of the whole tree the run reads those blocks (one request each) and
//! their subtrees, and takes every other block of the page from the lake. The page's blocks
//! are then written whole, as a crawl writes them (a table keeps one set of blocks per page),
//! and its document is rendered from them. When the lake does not hold the page's blocks, or
//! an updated block is not among them (a new block: its place is unknown), the page is
//! crawled whole instead.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::context::Run;
use super::crawl::PageContent;
use super::error::SyncError;
use crate::flatten::documents::{DocumentHead, document_row};
use crate::flatten::fixed::{FixedTable, block_row};
use crate::sink::Lake;

/// The blocks of `page` the lake holds, as `blocks` rows (without the run's columns).
async fn lake_blocks(
    lake: &Lake,
    page: &str,
) -> Result<Vec<Value>, datafusion::error::DataFusionError> {
    let ctx = datafusion::prelude::SessionContext::new();
    let tables = crate::shell::register_tables(&ctx, lake, Some(&["blocks"])).await?;
    if !tables.iter().any(|t| t.name == "blocks") {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT * FROM blocks WHERE page_id = {}",
        crate::shell::literal(page)
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b)?;
    }
    writer.finish()?;
    let rows: Vec<Value> = serde_json::from_slice(&writer.into_inner())
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                o.retain(|k, _| !k.starts_with('_'));
            }
            r
        })
        .collect())
}

fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn number(row: &Value, key: &str) -> usize {
    row.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_default()
}

/// Rows in document order: depth-first from the page, siblings by position. Rows no path
/// from the page reaches keep their place at the end.
fn document_order(page: &str, rows: Vec<Value>) -> Vec<Value> {
    let mut children: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        children
            .entry(text(r, "parent_id").to_string())
            .or_default()
            .push(i);
    }
    for list in children.values_mut() {
        list.sort_by_key(|&i| number(&rows[i], "position"));
    }
    let mut order = Vec::with_capacity(rows.len());
    let mut placed = vec![false; rows.len()];
    let mut stack: Vec<usize> = children
        .get(page)
        .into_iter()
        .flatten()
        .rev()
        .copied()
        .collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut placed[i], true) {
            continue;
        }
        order.push(i);
        if let Some(kids) = children.get(text(&rows[i], "id")) {
            stack.extend(kids.iter().rev());
        }
    }
    order.extend((0..rows.len()).filter(|&i| !placed[i]));
    let mut slots: Vec<Option<Value>> = rows.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The ids of the blocks below `roots` among `rows`.
fn descendants(rows: &[Value], roots: &HashSet<String>) -> HashSet<String> {
    let mut found: HashSet<String> = HashSet::new();
    let mut frontier: Vec<String> = roots.iter().cloned().collect();
    while let Some(parent) = frontier.pop() {
        for r in rows.iter().filter(|r| text(r, "parent_id") == parent) {
            let id = text(r, "id").to_string();
            if found.insert(id.clone()) {
                frontier.push(id);
            }
        }
    }
    found
}

impl Run<'_> {
    /// Reads page `page`'s updated `blocks` (and their subtrees) again and writes the page's
    /// blocks and document; returns the blocks read. Falls back to a whole crawl when the
    /// lake's blocks cannot place them.
    pub(super) async fn crawl_in_place(
        &mut self,
        page: String,
        head: DocumentHead,
        blocks: Vec<String>,
    ) -> Result<usize, SyncError> {
        let old = match lake_blocks(&self.lake, &page).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(page = %page, "could not read the page's blocks from the lake ({e}); crawling it whole");
                Vec::new()
            }
        };
        let at: HashMap<String, usize> = old
            .iter()
            .enumerate()
            .map(|(i, r)| (text(r, "id").to_string(), i))
            .collect();
        if old.is_empty() || blocks.iter().any(|b| !at.contains_key(b)) {
            self.crawl.crawl(page, &head).map_err(SyncError::spill)?;
            return Ok(0);
        }
        // An updated block inside another's subtree is read with it.
        let updated: HashSet<String> = blocks.into_iter().collect();
        let below = descendants(&old, &updated);
        let roots: Vec<&String> = updated.iter().filter(|b| !below.contains(*b)).collect();
        let crawler = std::sync::Arc::clone(self.crawl.crawler_arc());
        let mut fresh = PageContent {
            page_id: page.clone(),
            ..PageContent::default()
        };
        for id in &roots {
            let was = &old[at[id.as_str()]];
            let (depth, position) = (number(was, "depth"), number(was, "position"));
            let block = match self.client.retrieve_block(id).await {
                // Deleted since (gone, or in the trash): it and its subtree go.
                Ok(b) if crate::model::is_trashed(&b) => continue,
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let row = block_row(&block, &page, depth, position);
            let kind = text(&row, "type");
            let copy = kind == "synced_block" && !row["synced_from"].is_null();
            let container = !matches!(kind, "child_page" | "child_database") && !copy;
            let nested = block.get("has_children").and_then(Value::as_bool) == Some(true);
            fresh.blocks.push(row);
            if nested && container {
                crawler.crawl_tree(&page, id, depth + 1, &mut fresh).await?;
            }
        }
        for w in crawler.take_warnings() {
            self.warnings.push(w);
        }
        let read = fresh.blocks.len();
        let kept = old.into_iter().filter(|r| {
            let id = text(r, "id");
            !updated.contains(id) && !below.contains(id)
        });
        let rows = document_order(&page, kept.chain(fresh.blocks).collect());
        self.progress.blocks += read;
        if self.format == crate::sink::TableFormat::Delta {
            self.changes.crawled.insert(page.clone());
        }
        if self.wants(FixedTable::Documents) {
            let doc = document_row(&page, &head, &rows, &self.titles);
            self.output
                .fixed_rows(FixedTable::Documents, vec![doc])
                .await?;
        }
        self.keep_content_files(&page, &rows);
        if self.wants(FixedTable::Blocks) {
            self.output.fixed_rows(FixedTable::Blocks, rows).await?;
        }
        Ok(read)
    }
}
