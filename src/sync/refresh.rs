//! The comments refresh (`sync --comments-refresh none|recent:<duration>|all`): Notion does not
//! move a page's `last_edited_time` when someone comments on it, so an incremental run also
//! reads the page-level comments of the unedited pages edited within the duration (or of every
//! page), one request each, after the changed pages are crawled. A refreshed page's comments
//! replace its earlier ones. Full refreshes read every page's comments anyway; runs restricted
//! to roots or databases do not refresh (their marks cover more than they read).

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::context::Run;
use super::crawl::CommentsMode;
use super::error::SyncError;
use super::options::CommentsRefresh;
use super::report::RefreshReport;
use crate::flatten::fixed::{FixedTable, comment_row};
use crate::model::uuid_bits;

impl Run<'_> {
    /// Whether this run refreshes comments.
    pub(super) fn refreshes_comments(&self) -> bool {
        !self.mode.full
            && !self.mode.restricted
            && self.options.comments_refresh != CommentsRefresh::None
            && self.wants(FixedTable::Comments)
    }

    /// The unedited pages whose comments the refresh reads: live, not crawled by this run,
    /// and edited within the refresh's duration (any time for `all`).
    fn refresh_targets(&self, crawled: &HashSet<u128>) -> Result<Vec<String>, SyncError> {
        let since = match self.options.comments_refresh {
            CommentsRefresh::Recent(d) => Some(
                self.mode.started_at
                    - chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX),
            ),
            _ => None,
        };
        let mut targets = Vec::new();
        for entry in self.state.pages.iter() {
            let (id, mark) = entry.map_err(SyncError::spill)?;
            if mark.trashed || uuid_bits(&id).is_some_and(|k| crawled.contains(&k)) {
                continue;
            }
            if let Some(since) = since {
                let edited = chrono::DateTime::parse_from_rfc3339(&mark.last_edited_time)
                    .map(|t| t.with_timezone(&chrono::Utc));
                if edited.is_ok_and(|t| t < since) {
                    continue;
                }
            }
            targets.push(id);
        }
        Ok(targets)
    }

    /// Writes page `id`'s page-level discussion as read now: it replaces the page's earlier
    /// comments (a Delta commit removes them; Parquet views keep a page's newest read).
    pub(super) async fn replace_page_comments(
        &mut self,
        id: String,
        list: &[Value],
    ) -> Result<(), SyncError> {
        let rows: Vec<Value> = list.iter().map(|c| comment_row(c, &id)).collect();
        if self.format == crate::sink::TableFormat::Delta {
            self.changes.comments_read.insert(id);
        }
        if !rows.is_empty() {
            self.output.fixed_rows(FixedTable::Comments, rows).await?;
        }
        Ok(())
    }

    /// Reads the comments of the refresh's pages and writes them.
    pub(super) async fn refresh_comments(&mut self) -> Result<(), SyncError> {
        if !self.refreshes_comments() || self.crawl.crawler().comments_restricted() {
            return Ok(());
        }
        if self.options.comments == CommentsMode::All {
            self.warnings.push("--comments-refresh reads page-level comments only; with --comments all the block comments of unedited pages are read at the page's next edit or full refresh, so the refresh is skipped (pass --comments-refresh none to silence this)".into());
            return Ok(());
        }
        let crawled = std::mem::take(&mut self.crawled_ids);
        let targets = self.refresh_targets(&crawled)?;
        let before = self.client.stats().total_requests;
        let client = self.client.clone();
        let mut results = futures::stream::iter(targets)
            .map(|id| {
                let client = client.clone();
                async move {
                    let listed = client.list_comments(&id).try_collect::<Vec<Value>>().await;
                    (id, listed)
                }
            })
            .buffer_unordered(self.options.concurrency.max(1));
        let mut report = RefreshReport {
            scope: self.options.comments_refresh.to_string(),
            ..RefreshReport::default()
        };
        while let Some((id, listed)) = results.next().await {
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
            report.comments += list.len();
            self.replace_page_comments(id, &list).await?;
        }
        report.requests =
            usize::try_from(self.client.stats().total_requests - before).unwrap_or(usize::MAX);
        self.comments_refresh = Some(report);
        Ok(())
    }
}
