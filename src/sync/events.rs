//! Webhook events turned into work, first thing in a run of the whole workspace. The receiver
//! stored them in the lake (`crate::webhooks::log`); a run reads every batch not consumed yet,
//! deduplicates the events by id, and per page:
//! - `page.content_updated` with updated blocks: the page is retrieved, and when it changed,
//!   only the updated blocks and their subtrees are read again, in place (`in_place`);
//! - other page events (created, properties updated, moved, deleted, undeleted): polling
//!   reads most such pages anyway (their edit time moved), so they wait until polling is done;
//!   a page polling did not see (a trashed page, one search has not indexed yet) is retrieved
//!   then, and handled as any page the run finds (its row, content, tombstone, dependents);
//! - comment events: the page's discussion is read again after the crawl (with
//!   `--comments all`, the page is crawled, block comments included);
//! - data source and database events ask nothing more: every run reads each data source's
//!   schema and its changed rows.
//!
//! Events are signals: polling still runs, and finds what an event missed. An event about
//! something the token cannot read is logged and skipped. The batches consumed are recorded in
//! the state the run commits (with the data they caused) and removed after the commit.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::TryStreamExt;
use serde_json::Value;

use super::context::Run;
use super::crawl::{CommentsMode, ContentMode};
use super::error::SyncError;
use super::output::TableClose;
use crate::flatten::documents::DocumentHead;
use crate::flatten::fixed::{FixedTable, page_row};
use crate::model::{normalize_id, uuid_bits};
use crate::webhooks::event::{EventKind, WebhookEvent};
use crate::webhooks::log;

/// What the webhook events of a run were and cost.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct EventsReport {
    /// Batches consumed.
    pub batches: usize,
    /// Distinct events read.
    pub events: usize,
    /// Events delivered more than once (the same id in several batches).
    pub duplicates: usize,
    /// Pages read because of events.
    pub pages: usize,
    /// Blocks read again in place (content events), subtrees included.
    pub blocks: usize,
    /// Events about what the token cannot read, or that no read follows from.
    pub skipped: usize,
    /// Requests the events' work took (the in-place reads and retrievals; comment reads are
    /// counted when done, after the crawl).
    pub requests: usize,
    /// From each event's change in Notion to the run's commit.
    pub latency: Option<super::latency::EventLatency>,
    /// When each distinct event's change happened (its `timestamp`).
    #[serde(skip)]
    pub(super) happened: Vec<chrono::DateTime<chrono::Utc>>,
}

/// What the events ask of one page.
#[derive(Debug, Default)]
struct PageWork {
    /// Blocks updated (content events); `None` when an event asks for the whole page.
    blocks: Option<BTreeSet<String>>,
    /// The page itself changed (created, properties, moved, trashed, restored).
    changed: bool,
    /// A discussion of the page changed.
    comments: bool,
}

/// A page waiting for its in-place read: the blocks to read again, and (once the run decided
/// the page changed) its document head.
#[derive(Debug, Default)]
pub(super) struct InPlace {
    /// Updated blocks.
    pub blocks: Vec<String>,
    /// Set by `add_page` when the page changed.
    pub head: Option<DocumentHead>,
}

/// The work the pending events ask, by page, and what they were.
#[derive(Default)]
struct Plan {
    /// Batches read (their names).
    batches: Vec<String>,
    pages: BTreeMap<String, PageWork>,
    /// Event ids read, for deduplication (16 bytes each).
    ids: HashSet<u128>,
    events: usize,
    /// When each distinct event's change happened.
    happened: Vec<chrono::DateTime<chrono::Utc>>,
    duplicates: usize,
    /// Events that ask no work, and events that name no UUID (stored by a receiver that did not
    /// check): never turned into a request.
    skipped: usize,
}

impl Plan {
    /// Adds one event's work (the order of events changes nothing of the work).
    fn add(&mut self, e: &WebhookEvent) {
        let (Some(id), Some(page)) = (uuid_id(&e.id), uuid_id(&e.entity.id)) else {
            self.skipped += 1;
            return;
        };
        if !self.ids.insert(uuid_bits(&id).unwrap_or_default()) {
            self.duplicates += 1;
            return;
        }
        self.events += 1;
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&e.timestamp) {
            self.happened.push(t.to_utc());
        }
        match e.kind() {
            EventKind::PageContent => {
                let work = self.pages.entry(page).or_default();
                let updated: Vec<String> = e
                    .updated_blocks()
                    .into_iter()
                    .filter(|b| uuid_bits(b).is_some())
                    .collect();
                match (&mut work.blocks, updated.is_empty()) {
                    (Some(blocks), false) => blocks.extend(updated),
                    (None, false) if !work.changed => {
                        work.blocks = Some(updated.into_iter().collect())
                    }
                    _ => {
                        work.changed = true;
                        work.blocks = None;
                    }
                }
            }
            EventKind::PageChanged | EventKind::PageDeleted => {
                self.pages.entry(page).or_default().changed = true;
            }
            EventKind::Comment => match e.comment_page().filter(|p| uuid_bits(p).is_some()) {
                Some(p) => self.pages.entry(p).or_default().comments = true,
                None => self.skipped += 1,
            },
            EventKind::DataSource | EventKind::Ignored => self.skipped += 1,
        }
    }
}

/// `text` as a dashed UUID, when it is one.
fn uuid_id(text: &str) -> Option<String> {
    let id = normalize_id(text);
    uuid_bits(&id).map(|_| id)
}

/// The pending events of the lake as work, read one batch at a time (never all of them at
/// once), deduplicated by event id.
async fn pending_events(run: &mut Run<'_>) -> Result<Plan, SyncError> {
    let lake = run.lake.clone();
    let previous = std::mem::take(&mut run.state.consumed_events);
    let names = log::batch_names(&lake).await?;
    let (done, pending): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| previous.contains(n));
    if let Err(e) = log::remove_batches(&lake, &done).await {
        tracing::warn!(
            "could not remove webhook event batches consumed by the last run ({e}); the next run tries again"
        );
        run.state.consumed_events = done;
    }
    let mut plan = Plan::default();
    for name in pending {
        let Some(batch) = log::read_batch(&lake, &name).await? else {
            continue;
        };
        if batch.unreadable > 0 {
            run.warnings.push(format!(
                "webhook event batch {name}: {} bodies are not events; skipped",
                batch.unreadable
            ));
        }
        for e in &batch.events {
            plan.add(e);
        }
        plan.batches.push(name);
    }
    Ok(plan)
}

impl Run<'_> {
    /// Reads the pending webhook events and does the page work they ask that must come
    /// before discovery (so that polling does not read those pages again whole).
    pub(super) async fn take_events(&mut self) -> Result<(), SyncError> {
        if self.mode.restricted {
            return Ok(());
        }
        let plan = pending_events(self).await?;
        if plan.batches.is_empty() {
            return Ok(());
        }
        let before = self.client.stats().total_requests;
        let mut report = EventsReport {
            batches: plan.batches.len(),
            events: plan.events,
            duplicates: plan.duplicates,
            skipped: plan.skipped,
            happened: plan.happened,
            ..EventsReport::default()
        };
        let pages = plan.pages;
        // Consumed with the run's last commit; a checkpoint leaves them pending (a resumed run
        // reads them again).
        self.events_in_use.extend(plan.batches);
        if self.mode.full {
            // A full refresh reads every page, its content and its comments anyway.
            self.events_report = Some(report);
            return Ok(());
        }
        let in_place = self.options.content == ContentMode::Blocks
            && (self.wants(FixedTable::Blocks) || self.wants(FixedTable::Documents));
        for (id, work) in pages {
            // Whoever sees the page first in this run (polling, a parent's crawl, the work
            // below) takes it as changed: a move may leave its edit time alone.
            if work.changed {
                self.forced_changes.insert(id.clone());
            }
            let block_comments = work.comments && self.options.comments == CommentsMode::All;
            if work.comments && !block_comments {
                self.event_comments.insert(id.clone());
            }
            let content = work.blocks.clone().filter(|_| in_place && !work.changed);
            if content.is_none() && !block_comments {
                if work.changed || work.blocks.is_some() {
                    self.event_pages.insert(id);
                }
                continue;
            }
            let page = match self.client.retrieve_page(&id).await {
                Ok(p) => p,
                Err(e) if e.is_not_found() || e.is_restricted() => {
                    tracing::info!(page = %id, "a webhook event names a page the integration cannot read; skipped");
                    report.skipped += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            report.pages += 1;
            match content {
                Some(blocks) => {
                    let blocks = blocks.into_iter().collect();
                    self.in_place
                        .insert(id.clone(), InPlace { blocks, head: None });
                    self.add_page(&page, None, 0).await?;
                    if let Some(InPlace {
                        blocks,
                        head: Some(head),
                    }) = self.in_place.remove(&id)
                    {
                        report.blocks += self.crawl_in_place(id, head, blocks).await?;
                    }
                }
                None => {
                    let queued = self.crawl.queued();
                    self.add_page(&page, None, 0).await?;
                    if block_comments && self.crawl.queued() == queued && self.crawls() {
                        let head = DocumentHead::of(&page_row(&page));
                        self.crawl.crawl(id, &head).map_err(SyncError::spill)?;
                    }
                }
            }
        }
        report.requests =
            usize::try_from(self.client.stats().total_requests - before).unwrap_or(usize::MAX);
        self.events_report = Some(report);
        Ok(())
    }

    /// Retrieves the pages events named that polling did not see, and handles each as a page
    /// the run found: its `pages` row and content, its tombstone, and for a row its typed row
    /// (and so its dependents).
    pub(super) async fn apply_page_events(&mut self) -> Result<(), SyncError> {
        let pages = std::mem::take(&mut self.event_pages);
        let before = self.client.stats().total_requests;
        let mut rows: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut read = 0;
        for id in pages {
            // A page the run saw took its event into account when it was seen (see
            // `take_events`).
            if self.state.pages.seen(&id).map_err(SyncError::spill)? {
                continue;
            }
            let page = match self.client.retrieve_page(&id).await {
                Ok(p) => p,
                Err(e) if e.is_not_found() || e.is_restricted() => {
                    tracing::info!(page = %id, "a webhook event names a page the integration cannot read; skipped");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            read += 1;
            self.add_page(&page, None, 0).await?;
            let source = self.row_table(&page).map(|t| t.data_source_id.clone());
            if let Some(source) = source.filter(|_| !crate::model::is_trashed(&page)) {
                rows.entry(source).or_default().push(page);
            }
        }
        if self.options.selection.tables {
            for (source, pages) in rows {
                self.write_event_rows(&source, pages).await?;
            }
        }
        // Their content, when they changed.
        self.crawl_queued().await?;
        let spent = self.client.stats().total_requests - before;
        if let Some(r) = self.events_report.as_mut() {
            r.pages += read;
            r.requests += usize::try_from(spent).unwrap_or(usize::MAX);
        }
        Ok(())
    }

    /// Writes rows of data source `source` that events named, in a table opened again.
    async fn write_event_rows(&mut self, source: &str, pages: Vec<Value>) -> Result<(), SyncError> {
        let Some(entry) = self.registry.table(source).cloned() else {
            return Ok(());
        };
        let slot = self.output.open(entry.clone()).await?;
        let mut completed = 0;
        for row in pages {
            completed += self.write_row(slot, &entry, row).await?;
        }
        self.output
            .close(slot, TableClose::again(&entry, completed))
            .await
    }

    /// Reads again the page-level discussions comment events named, of pages the run did not
    /// crawl (a crawl read them already).
    pub(super) async fn apply_comment_events(&mut self) -> Result<(), SyncError> {
        let pages = std::mem::take(&mut self.event_comments);
        if pages.is_empty() || !self.wants(FixedTable::Comments) {
            return Ok(());
        }
        let before = self.client.stats().total_requests;
        for id in pages {
            if crate::model::uuid_bits(&id).is_some_and(|k| self.crawled_ids.contains(&k)) {
                continue;
            }
            let list: Vec<Value> = match self.client.list_comments(&id).try_collect().await {
                Ok(list) => list,
                Err(e) if e.is_not_found() || e.is_restricted() => {
                    tracing::info!(page = %id, "a comment event names a page whose comments the integration cannot read; skipped");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(key) = crate::model::uuid_bits(&id) {
                self.crawled_ids.insert(key);
            }
            self.replace_page_comments(id, &list).await?;
        }
        let spent = self.client.stats().total_requests - before;
        if let Some(r) = self.events_report.as_mut() {
            r.requests += usize::try_from(spent).unwrap_or(usize::MAX);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, kind: &str, entity: &str, data: Value) -> WebhookEvent {
        serde_json::from_value(serde_json::json!({"id": id, "type": kind, "entity": {"id": entity, "type": "page"}, "data": data})).unwrap()
    }

    /// An event stored by a receiver that did not check its ids never becomes a request path.
    #[test]
    fn events_that_name_no_uuid_are_skipped_and_copies_counted() {
        let id = "e0f2c7a4-0000-4000-8000-000000000001";
        let page = "0f0e0d0c0b0a09080706050403020100";
        let mut plan = Plan::default();
        plan.add(&event(id, "page.created", page, Value::Null));
        plan.add(&event(id, "page.created", page, Value::Null));
        plan.add(&event(
            "e0f2c7a4-0000-4000-8000-000000000002",
            "page.created",
            "../users",
            Value::Null,
        ));
        plan.add(&event("x/../y", "page.created", page, Value::Null));
        plan.add(&event(
            "e0f2c7a4-0000-4000-8000-000000000003",
            "comment.created",
            page,
            serde_json::json!({"page_id": "../../v1/users"}),
        ));
        assert_eq!((plan.events, plan.duplicates, plan.skipped), (2, 1, 3));
        let pages: Vec<&String> = plan.pages.keys().collect();
        assert_eq!(pages, ["0f0e0d0c-0b0a-0908-0706-050403020100"]);
    }
}
