//! The comments refresh (`sync --comments-refresh none|recent:<duration>|all`): Notion does not
//! move a page's `last_edited_time` when someone comments on it, so an incremental run also
//! reads the discussions of unedited pages, after the changed pages are crawled:
//! - `recent:<duration>` (the default, `recent:7d`): pages edited within the duration, spread
//!   over runs and bounded by a per-run budget of requests ([`super::refresh_plan`]);
//! - `all`: every page, every run.
//!
//! A refreshed page costs one request for its page-level discussions, and with
//! `--comments all` one more for each block the lake knows to hold comments; its comments then
//! replace its earlier ones. A first discussion on a block that had none is found only by a
//! webhook event, the page's next edit, or a full refresh. Full refreshes read every page's
//! comments anyway; runs restricted to roots or databases do not refresh (their marks cover
//! more than they read).

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, AsArray};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::context::Run;
use super::crawl::CommentsMode;
use super::error::SyncError;
use super::options::CommentsRefresh;
use super::refresh_plan::{due_since, within_budget};
use super::report::RefreshReport;
use crate::flatten::fixed::{FixedTable, comment_row};
use crate::model::uuid_bits;
use crate::sink::Lake;

/// A page the refresh reads: its id and the blocks known to hold comments.
type Target = (String, Vec<String>);

impl Run<'_> {
    /// Whether this run refreshes comments.
    pub(super) fn refreshes_comments(&self) -> bool {
        !self.mode.full
            && !self.mode.restricted
            && self.options.comments_refresh != CommentsRefresh::None
            && self.wants(FixedTable::Comments)
    }

    /// Records when the comments of recently edited pages were read: now for every page this
    /// run crawled (the crawl read them), or every page for a full refresh; pages that left the
    /// refresh's window are forgotten.
    pub(super) fn note_comments_read(&mut self) -> Result<(), SyncError> {
        let CommentsRefresh::Recent(window) = self.options.comments_refresh else {
            self.state.comments_read.clear();
            return Ok(());
        };
        if self.mode.restricted || !self.wants(FixedTable::Comments) {
            return Ok(());
        }
        let now = self.mode.started_at;
        let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::TimeDelta::MAX);
        let mut kept = std::collections::BTreeMap::new();
        for entry in self.state.pages.iter() {
            let (id, mark) = entry.map_err(SyncError::spill)?;
            let edited = chrono::DateTime::parse_from_rfc3339(&mark.last_edited_time)
                .map(|t| t.with_timezone(&chrono::Utc));
            if mark.trashed || !edited.is_ok_and(|t| t >= since) {
                continue;
            }
            let crawled = uuid_bits(&id).is_some_and(|k| self.crawled_ids.contains(&k));
            if self.mode.full || crawled {
                kept.insert(id, now);
            } else if let Some(read) = self.state.comments_read.get(&id) {
                kept.insert(id, *read);
            }
        }
        self.state.comments_read = kept;
        Ok(())
    }

    /// The unedited pages due for a refresh (live, not crawled by this run), with the
    /// blocks known to hold comments, within the budget; and how many due pages wait.
    fn refresh_targets(
        &self,
        crawled: &HashSet<u128>,
        blocks: &mut HashMap<String, Vec<String>>,
    ) -> Result<(Vec<Target>, usize), SyncError> {
        let now = self.mode.started_at;
        let window = match self.options.comments_refresh {
            CommentsRefresh::Recent(d) => {
                Some(chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX))
            }
            _ => None,
        };
        let mut due = Vec::new();
        for entry in self.state.pages.iter() {
            let (id, mark) = entry.map_err(SyncError::spill)?;
            if mark.trashed || uuid_bits(&id).is_some_and(|k| crawled.contains(&k)) {
                continue;
            }
            let since = match window {
                None => Some(now),
                Some(window) => chrono::DateTime::parse_from_rfc3339(&mark.last_edited_time)
                    .ok()
                    .and_then(|edited| {
                        let read = self.state.comments_read.get(&id).copied();
                        due_since(edited.with_timezone(&chrono::Utc), read, now, window)
                    }),
            };
            if let Some(since) = since {
                let known = blocks.remove(&id).unwrap_or_default();
                let cost = 1 + known.len();
                due.push(((id, known), since, cost));
            }
        }
        if window.is_none() {
            return Ok((due.into_iter().map(|(t, _, _)| t).collect(), 0));
        }
        let (take, waiting) = within_budget(due, self.options.comments_refresh_budget);
        Ok((take.into_iter().map(|(t, _)| t).collect(), waiting))
    }

    /// Writes page `id`'s discussions as read now: they replace the page's earlier comments (a
    /// Delta commit removes them; Parquet views keep a page's newest read).
    pub(super) async fn replace_page_comments(
        &mut self,
        id: String,
        list: &[Value],
    ) -> Result<(), SyncError> {
        let rows: Vec<Value> = list.iter().map(|c| comment_row(c, &id)).collect();
        self.keep_comment_files(&id, &rows);
        if self.format == crate::sink::TableFormat::Delta {
            self.changes.comments_read.insert(id);
        }
        if !rows.is_empty() {
            self.output.fixed_rows(FixedTable::Comments, rows).await?;
        }
        Ok(())
    }

    /// Reads the discussions of the refresh's pages and writes them.
    pub(super) async fn refresh_comments(&mut self) -> Result<(), SyncError> {
        if !self.refreshes_comments() || self.crawl.crawler().comments_restricted() {
            return Ok(());
        }
        let crawled = std::mem::take(&mut self.crawled_ids);
        let mut blocks = match self.options.comments {
            CommentsMode::All => commented_blocks(&self.lake).await.unwrap_or_else(|e| {
                tracing::warn!("could not read the lake's comments ({e}); the refresh reads page-level discussions only");
                HashMap::new()
            }),
            _ => HashMap::new(),
        };
        let (targets, waiting) = self.refresh_targets(&crawled, &mut blocks)?;
        self.crawled_ids = crawled;
        let before = self.client.stats().total_requests;
        let client = self.client.clone();
        let mut results = futures::stream::iter(targets)
            .map(|(id, blocks)| {
                let client = client.clone();
                async move {
                    let listed = read_discussions(&client, &id, &blocks).await;
                    (id, blocks.len(), listed)
                }
            })
            .buffer_unordered(self.options.concurrency.max(1));
        let mut report = RefreshReport {
            scope: self.options.comments_refresh.to_string(),
            waiting,
            ..RefreshReport::default()
        };
        while let Some((id, known_blocks, listed)) = results.next().await {
            let list = match listed {
                Ok(list) => list,
                Err(e) if e.is_not_found() => continue,
                Err(e) if e.is_restricted() => {
                    self.warnings.push("the integration cannot read comments (403 restricted_resource); the comments refresh stopped".into());
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            report.pages += 1;
            report.blocks += known_blocks;
            report.comments += list.len();
            self.state
                .comments_read
                .insert(id.clone(), self.mode.started_at);
            self.replace_page_comments(id, &list).await?;
        }
        report.requests =
            usize::try_from(self.client.stats().total_requests - before).unwrap_or(usize::MAX);
        self.comments_refresh = Some(report);
        Ok(())
    }
}

/// A page's page-level discussions and those of `blocks` (one request each; a block deleted
/// since is skipped).
async fn read_discussions(
    client: &crate::notion::NotionClient,
    page: &str,
    blocks: &[String],
) -> Result<Vec<Value>, crate::notion::NotionError> {
    let mut all: Vec<Value> = client.list_comments(page).try_collect().await?;
    for block in blocks {
        match client
            .list_comments(block)
            .try_collect::<Vec<Value>>()
            .await
        {
            Ok(list) => all.extend(list),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

/// The blocks the lake's `comments` table holds discussions of, by page.
async fn commented_blocks(
    lake: &Lake,
) -> Result<HashMap<String, Vec<String>>, datafusion::error::DataFusionError> {
    let ctx = datafusion::prelude::SessionContext::new();
    let tables = crate::shell::register_tables(&ctx, lake, Some(&["comments"])).await?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if !tables.iter().any(|t| t.name == "comments") {
        return Ok(out);
    }
    let sql = "SELECT DISTINCT CAST(page_id AS VARCHAR) AS page, CAST(parent_id AS VARCHAR) AS block FROM comments WHERE parent_type = 'block' AND parent_id IS NOT NULL ORDER BY page, block";
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let text =
            |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
        let (pages, blocks) = (text(0)?, text(1)?);
        let (pages, blocks) = (pages.as_string::<i32>(), blocks.as_string::<i32>());
        for i in 0..batch.num_rows() {
            if pages.is_valid(i) && blocks.is_valid(i) {
                out.entry(pages.value(i).to_string())
                    .or_default()
                    .push(blocks.value(i).to_string());
            }
        }
    }
    Ok(out)
}
