//! The page-content crawl's jobs: pages waiting for a crawl (a [`CrawlQueue`]), child pages
//! waiting to be retrieved, and up to a limit of jobs in flight, each a task of its own so that
//! its requests progress whatever the run is doing meanwhile. What a job gives is handled by the
//! run (`schedule`); this module only starts jobs and hands back what they gave.

use std::collections::HashSet;
use std::sync::Arc;
use tracing::Instrument;

use serde_json::Value;
use tokio::task::{JoinError, JoinSet};

use super::crawl::{Crawler, PageContent};
use crate::flatten::documents::DocumentHead;
use crate::model::{uuid_bits, uuid_text};
use crate::notion::NotionError;
use crate::state::marks::runs::read_exact_at;

/// Pages still to crawl, each with its document head.
pub type PagesLeft = Vec<(String, DocumentHead)>;

/// Where a queued page's document head is in the [`HeadSpool`]: (offset, length).
pub(super) type HeadAt = (u64, u32);

/// Pages whose content waits to be read. A full sync queues every page of the workspace before
/// the crawl starts, so canonical ids are kept as their 128 bits (16 bytes each, not a heap
/// string of 36); others, which real Notion does not send, as they are. Each entry also says
/// where its page's document head waits in the spool.
#[derive(Debug, Default)]
pub(super) struct CrawlQueue {
    compact: Vec<(u128, HeadAt)>,
    other: Vec<(String, HeadAt)>,
}

impl CrawlQueue {
    /// Queues a page.
    pub fn push(&mut self, id: String, head: HeadAt) {
        match uuid_bits(&id) {
            Some(bits) => self.compact.push((bits, head)),
            None => self.other.push((id, head)),
        }
    }

    /// Pages waiting.
    pub fn len(&self) -> usize {
        self.compact.len() + self.other.len()
    }

    /// The pages waiting, with where their heads are.
    pub fn iter(&self) -> impl Iterator<Item = (String, HeadAt)> + '_ {
        self.compact
            .iter()
            .map(|(bits, at)| (uuid_text(*bits), *at))
            .chain(self.other.iter().cloned())
    }

    /// The next page to crawl, if any.
    pub(super) fn pop(&mut self) -> Option<(String, HeadAt)> {
        self.compact
            .pop()
            .map(|(bits, head)| (uuid_text(bits), head))
            .or_else(|| self.other.pop())
    }
}

/// The document heads (title, url, parent, edit time) of queued pages, appended to an anonymous
/// temporary file (deleted when dropped): a full sync queues every page before most are
/// crawled, and heads of a few hundred bytes each would make the run's memory grow with the
/// workspace. The queue keeps only where each head is (an entry grows from 16 to 32 bytes,
/// the id's alignment padding the place).
#[derive(Debug, Default)]
struct HeadSpool {
    file: Option<std::fs::File>,
    len: u64,
}

impl HeadSpool {
    fn put(&mut self, head: &DocumentHead) -> std::io::Result<HeadAt> {
        use std::io::Write;
        let bytes = serde_json::to_vec(head)?;
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all(&bytes)?;
        let at = (self.len, u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.len += bytes.len() as u64;
        Ok(at)
    }

    fn get(&self, (offset, len): HeadAt) -> std::io::Result<DocumentHead> {
        let Some(file) = &self.file else {
            return Ok(DocumentHead::default());
        };
        let mut buf = vec![0; len as usize];
        read_exact_at(file, &mut buf, offset)?;
        Ok(serde_json::from_slice(&buf)?)
    }
}

/// What a job gave.
pub(super) enum Done {
    /// A page's content was read (the page, where its document head is, and the content).
    Crawled(String, HeadAt, Result<PageContent, NotionError>),
    /// A child page was retrieved.
    Retrieved(String, Result<Value, NotionError>),
}

/// The crawl's jobs in flight and the work waiting for them.
pub(super) struct CrawlJobs {
    crawler: Arc<Crawler>,
    limit: usize,
    queue: CrawlQueue,
    to_retrieve: Vec<String>,
    /// Child pages retrieved or waiting to be (each once).
    retrieving: HashSet<String>,
    jobs: JoinSet<Done>,
    /// Databases found through `child_database` blocks, not handled yet.
    pub child_databases: Vec<String>,
    /// The document heads of queued pages.
    heads: HeadSpool,
    /// Pages queued so far.
    queued: usize,
    /// Pages being crawled now, with their heads, and child pages being retrieved now: what a
    /// checkpoint counts as still to do.
    crawling: std::collections::HashMap<String, HeadAt>,
    retrieving_now: HashSet<String>,
}

impl CrawlJobs {
    /// Jobs of `crawler`, at most `limit` in flight.
    pub fn new(crawler: Arc<Crawler>, limit: usize) -> CrawlJobs {
        CrawlJobs {
            crawler,
            limit: limit.max(1),
            queue: CrawlQueue::default(),
            to_retrieve: Vec::new(),
            retrieving: HashSet::new(),
            jobs: JoinSet::new(),
            child_databases: Vec::new(),
            heads: HeadSpool::default(),
            queued: 0,
            crawling: std::collections::HashMap::new(),
            retrieving_now: HashSet::new(),
        }
    }

    /// The crawler (its warnings, whether comments were refused).
    pub fn crawler(&self) -> &Crawler {
        &self.crawler
    }

    /// Queues a page's content; `head` (the page columns of its document) waits for it in
    /// the spool.
    pub fn crawl(&mut self, page_id: String, head: &DocumentHead) -> std::io::Result<()> {
        self.queued += 1;
        let at = self.heads.put(head)?;
        self.queue.push(page_id, at);
        Ok(())
    }

    /// Pages queued for a crawl so far in the run.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The crawler, shared (for reads outside a job).
    pub fn crawler_arc(&self) -> &Arc<Crawler> {
        &self.crawler
    }

    /// The document head of a crawled page.
    pub fn head(&self, at: HeadAt) -> std::io::Result<DocumentHead> {
        self.heads.get(at)
    }

    /// Queues the retrieval of a child page, unless it was queued before.
    pub fn retrieve(&mut self, page_id: String) {
        if self.retrieving.insert(page_id.clone()) {
            self.to_retrieve.push(page_id);
        }
    }

    /// Starts jobs up to the limit: retrievals first, then crawls.
    fn top_up(&mut self) {
        while self.jobs.len() < self.limit {
            if let Some(id) = self.to_retrieve.pop() {
                let client = self.crawler.client.clone();
                self.retrieving_now.insert(id.clone());
                // Spawned work stays in the run's span (a connection's name, with --all).
                self.jobs.spawn(
                    async move {
                        let page = client.retrieve_page(&id).await;
                        Done::Retrieved(id, page)
                    }
                    .in_current_span(),
                );
            } else if let Some((id, head)) = self.queue.pop() {
                let crawler = Arc::clone(&self.crawler);
                self.crawling.insert(id.clone(), head);
                self.jobs.spawn(
                    async move {
                        let content = crawler.crawl_page(&id).await;
                        Done::Crawled(id, head, content)
                    }
                    .in_current_span(),
                );
            } else {
                break;
            }
        }
    }

    /// Notes a job done: it is no longer in flight.
    fn landed(&mut self, done: Option<Result<Done, JoinError>>) -> Option<Result<Done, JoinError>> {
        match &done {
            Some(Ok(Done::Crawled(id, _, _))) => {
                self.crawling.remove(id);
            }
            Some(Ok(Done::Retrieved(id, _))) => {
                self.retrieving_now.remove(id);
            }
            _ => {}
        }
        done
    }

    /// A finished job, if one is, without waiting; starts waiting work.
    pub fn try_next(&mut self) -> Option<Result<Done, JoinError>> {
        self.top_up();
        let done = self.jobs.try_join_next();
        self.landed(done)
    }

    /// The next finished job, waiting for one; `None` once nothing is in flight or waiting.
    pub async fn next(&mut self) -> Option<Result<Done, JoinError>> {
        self.top_up();
        let done = self.jobs.join_next().await;
        self.landed(done)
    }

    /// Pages waiting or being crawled.
    pub fn pages_left(&self) -> usize {
        self.crawling.len() + self.queue.len()
    }

    /// Stops every job in flight (their pages stay in what [`CrawlJobs::left`] gives).
    pub fn stop(&mut self) {
        self.jobs.abort_all();
    }

    /// What is still to do: pages to crawl (in flight or waiting) with their document heads,
    /// and child pages to retrieve.
    pub fn left(&self) -> std::io::Result<(PagesLeft, Vec<String>)> {
        let mut pages = Vec::new();
        for (id, at) in self.crawling.iter() {
            pages.push((id.clone(), self.heads.get(*at)?));
        }
        for (id, at) in self.queue.iter() {
            pages.push((id, self.heads.get(at)?));
        }
        let mut retrieve: Vec<String> = self.retrieving_now.iter().cloned().collect();
        retrieve.extend(self.to_retrieve.iter().cloned());
        Ok((pages, retrieve))
    }
}
