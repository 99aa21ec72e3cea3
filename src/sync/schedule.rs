//! The page-content crawl's scheduler. Pages whose content waits to be read sit in a
//! [`CrawlQueue`]; [`Run::crawl_queued`] keeps up to `concurrency` jobs in flight — page crawls
//! and retrievals of child pages that search missed — each in a task of its own, so requests
//! progress while the run records what came back and the shared rate limiter alone paces them.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::context::Run;
use super::crawl::{Crawler, PageContent};
use super::error::SyncError;
use crate::flatten::fixed::FixedTable;
use crate::notion::NotionError;

/// A job of the crawl and what it gave.
enum Done {
    /// A page's content was read.
    Crawled(Result<PageContent, NotionError>),
    /// A child page was retrieved.
    Retrieved(String, Result<Value, NotionError>),
}

impl Run<'_> {
    /// Crawls every queued page and every page found on the way (child pages search missed
    /// are retrieved, and crawled when they changed), until none is left. Returns the
    /// databases found through `child_database` blocks.
    pub(super) async fn crawl_queued(
        &mut self,
        crawler: &Arc<Crawler>,
    ) -> Result<Vec<String>, SyncError> {
        let limit = self.options.concurrency.max(1);
        let mut jobs: JoinSet<Done> = JoinSet::new();
        let mut to_retrieve: Vec<String> = Vec::new();
        let mut retrieving: HashSet<String> = HashSet::new();
        let mut child_databases = Vec::new();
        loop {
            while jobs.len() < limit {
                if let Some(id) = to_retrieve.pop() {
                    let client = crawler.client.clone();
                    jobs.spawn(async move {
                        let page = client.retrieve_page(&id).await;
                        Done::Retrieved(id, page)
                    });
                } else if let Some(id) = self.crawl_queue.pop() {
                    let c = Arc::clone(crawler);
                    jobs.spawn(async move { Done::Crawled(c.crawl_page(&id).await) });
                } else {
                    break;
                }
            }
            let Some(done) = jobs.join_next().await else {
                return Ok(child_databases);
            };
            match done.map_err(|e| SyncError::Internal(format!("a crawl task failed: {e}")))? {
                Done::Crawled(content) => {
                    let (pages, databases) = self.absorb(content?).await?;
                    child_databases.extend(databases);
                    for id in pages {
                        if !self.state.pages.seen(&id).map_err(SyncError::spill)?
                            && retrieving.insert(id.clone())
                        {
                            to_retrieve.push(id);
                        }
                    }
                }
                Done::Retrieved(_, Ok(page)) => {
                    self.add_page(&page, None, 0).await?;
                }
                Done::Retrieved(id, Err(e)) if e.is_not_found() => self.warnings.push(format!(
                    "child page {id} vanished or is not shared; skipped"
                )),
                Done::Retrieved(_, Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Records what a crawled page held; returns the boundaries it found.
    async fn absorb(
        &mut self,
        content: PageContent,
    ) -> Result<(Vec<String>, Vec<String>), SyncError> {
        self.progress.blocks += content.blocks.len();
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
        Ok((content.child_pages, content.child_databases))
    }
}
