//! The run's side of the page-content crawl: what each finished job gives is recorded — a
//! page's blocks and comments go to the write side, the child pages it holds are retrieved (and
//! crawled when they changed), the child databases it holds are handed back. Jobs run while
//! data sources are extracted (the run takes what finished between two query pages), and
//! [`Run::crawl_queued`] waits for the rest.

use super::checkpoint::or_stop;
use super::context::Run;
use super::crawl::PageContent;
use super::error::SyncError;
use super::jobs::{Done, HeadAt};
use crate::flatten::documents::{document_row, markdown_api_row};
use crate::flatten::fixed::FixedTable;

impl Run<'_> {
    /// Records the jobs that finished, without waiting for others.
    pub(super) async fn take_finished_crawls(&mut self) -> Result<(), SyncError> {
        while let Some(done) = self.crawl.try_next() {
            self.record_job(done).await?;
        }
        Ok(())
    }

    /// Crawls every queued page and every page found on the way (child pages search missed
    /// are retrieved, and crawled when they changed), until none is left. Returns the
    /// databases found through `child_database` blocks.
    /// Between two pages the run checkpoints when one is due; asked to stop, it stops the
    /// jobs in flight (their pages stay to do), checkpoints, and ends.
    pub(super) async fn crawl_queued(&mut self) -> Result<Vec<String>, SyncError> {
        loop {
            let stop = self.options.stop.clone();
            let next = or_stop(stop.as_ref(), self.crawl.next()).await;
            match next {
                None => {
                    self.crawl.stop();
                    self.checkpoint().await?;
                    self.stop_if_asked()?;
                }
                Some(None) => break,
                Some(Some(done)) => {
                    self.record_job(done).await?;
                    self.at_safe_point().await?;
                }
            }
        }
        Ok(std::mem::take(&mut self.crawl.child_databases))
    }

    async fn record_job(
        &mut self,
        done: Result<Done, tokio::task::JoinError>,
    ) -> Result<(), SyncError> {
        match done.map_err(|e| SyncError::Internal(format!("a crawl task failed: {e}")))? {
            Done::Crawled(_, head, content) => self.absorb(head, content?).await?,
            Done::Retrieved(_, Ok(page)) => {
                self.add_page(&page, None, 0).await?;
            }
            Done::Retrieved(id, Err(e)) if e.is_not_found() => self.warnings.push(format!(
                "child page {id} vanished or is not shared; skipped"
            )),
            Done::Retrieved(_, Err(e)) => return Err(e.into()),
        }
        Ok(())
    }

    /// Records what a crawled page held and queues the child pages not seen yet.
    async fn absorb(&mut self, head: HeadAt, content: PageContent) -> Result<(), SyncError> {
        self.progress.blocks += content.blocks.len();
        if self.format == crate::sink::TableFormat::Delta {
            self.changes.crawled.insert(content.page_id.clone());
        }
        if !self.mode.full
            && let Some(key) = crate::model::uuid_bits(&content.page_id)
        {
            self.crawled_ids.insert(key);
        }
        if self.wants(FixedTable::Documents) {
            let head = self.crawl.head(head).map_err(SyncError::spill)?;
            let row = match &content.markdown {
                Some(md) => markdown_api_row(&content.page_id, &head, md),
                None => document_row(&content.page_id, &head, &content.blocks, &self.titles),
            };
            self.output
                .fixed_rows(FixedTable::Documents, vec![row])
                .await?;
        }
        if content.markdown.is_none() {
            self.keep_content_files(&content.page_id, &content.blocks);
        }
        self.keep_comment_files(&content.page_id, &content.comments);
        if self.wants(FixedTable::Blocks) {
            self.output
                .fixed_rows(FixedTable::Blocks, content.blocks)
                .await?;
        }
        if self.wants(FixedTable::Comments) {
            self.output
                .fixed_rows(FixedTable::Comments, content.comments)
                .await?;
        }
        self.tick();
        for id in content.child_pages {
            if !self.state.pages.seen(&id).map_err(SyncError::spill)? {
                self.crawl.retrieve(id);
            }
        }
        self.crawl.child_databases.extend(content.child_databases);
        Ok(())
    }
}
