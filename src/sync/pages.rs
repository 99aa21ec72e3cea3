//! What a run does with each page object it sees, whoever found it (a data-source query,
//! search, a selected root, a child page block): the page mark that decides whether it changed
//! since the last run, its `pages` row, the crawl of its content, and tombstones for pages moved
//! to the trash or, on a full refresh, no longer found.

use serde_json::{Value, json};

use super::context::Run;
use super::error::SyncError;
use crate::flatten::documents::DocumentHead;
use crate::flatten::fixed::{FixedTable, page_row};
use crate::model::{Parent, is_trashed, normalize_id};
use crate::state::sync_state::{PageMark, mark_changed, settled_when_read};

/// Why a tombstone was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deletion {
    /// The page is in Notion's trash.
    Trashed,
    /// A full refresh no longer found it.
    Vanished,
}

impl Deletion {
    fn reason(self) -> &'static str {
        match self {
            Deletion::Trashed => "trashed",
            Deletion::Vanished => "vanished",
        }
    }
}

/// What the run makes of a page it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PageSeen {
    /// Already returned by this listing (or, outside a listing, already seen by the run).
    Skip,
    /// Unchanged since the last run read it (settled, same edit time): nothing of it needs
    /// reading again. A page seen earlier in the run is as its first sight decided.
    Unchanged,
    /// Changed since the last run read it, or new.
    Changed,
}

impl Run<'_> {
    /// The table of a page that is a row of a data source the registry knows.
    pub(super) fn row_table(&self, page: &Value) -> Option<&crate::state::TableEntry> {
        match page.get("parent").map(Parent::from_json) {
            Some(Parent::DataSource { id, .. } | Parent::Database { id }) => {
                self.registry.table(&id)
            }
            _ => None,
        }
    }

    /// Records a page object (a row of `table`, or a standalone page): writes its `pages` row
    /// and queues its content for the crawl when it changed since the last run, records a
    /// tombstone when it was moved to the trash. `listing` is the current data-source listing
    /// when a query returned the page (0 otherwise).
    pub(super) async fn add_page(
        &mut self,
        page: &Value,
        table: Option<&str>,
        listing: u16,
    ) -> Result<PageSeen, SyncError> {
        let Some(id) = page.get("id").and_then(Value::as_str).map(normalize_id) else {
            return Ok(PageSeen::Skip);
        };
        // A row's table: given by the caller, or found from its data source in the registry.
        let parent_entry = self.row_table(page);
        let source = parent_entry.map(|t| t.data_source_id.clone());
        let from_parent = parent_entry.map(|t| t.table.clone());
        let table = table.map(str::to_string).or(from_parent);
        let seen = self
            .state
            .pages
            .observe(&id, table.as_deref(), listing)
            .map_err(SyncError::spill)?;
        if !seen.first_in_run {
            return Ok(
                match (listing != 0 && seen.first_in_listing, seen.changed_in_run) {
                    (false, _) => PageSeen::Skip,
                    (true, true) => PageSeen::Changed,
                    (true, false) => PageSeen::Unchanged,
                },
            );
        }
        if self.wants(FixedTable::Documents) {
            let title = crate::flatten::fixed::page_title(page);
            if !title.is_empty() && !self.titles.insert(&id, &title) && !self.titles_full {
                self.titles_full = true;
                self.warnings.push(format!("more than {} page titles: links to further pages that a document names without a title (link_to_page blocks) show as Untitled", super::TITLES_IN_MEMORY));
            }
        }
        let edited = page
            .get("last_edited_time")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let trashed = is_trashed(page);
        let previous = seen.previous;
        let was_trashed = previous.as_ref().map(|m| m.trashed);
        let forced = self.forced_changes.remove(&id);
        let changed = self.mode.full
            || forced
            || mark_changed(previous.as_ref(), &edited, self.mode.cursor)
            || was_trashed.is_some_and(|t| t != trashed);
        // Read now (or already settled, and so not read again).
        let settled = if changed {
            settled_when_read(&edited, self.mode.started_at)
        } else {
            // Unchanged under the cursor rule of marks from before `settled`: edited before the
            // cursor, so read in a later minute.
            previous.as_ref().is_some_and(|m| m.settled.unwrap_or(true))
        };
        let table = table.or_else(|| previous.and_then(|m| m.table));
        if trashed
            && was_trashed == Some(false)
            && let Some(t) = &table
        {
            self.tombstone(t, &id, Deletion::Trashed).await?;
        }
        let mark = PageMark {
            last_edited_time: edited,
            table,
            trashed,
            settled: Some(settled),
            seen: false,
            changed: false,
        };
        let recorded = if changed {
            self.state.pages.record_changed(&id, mark, listing)
        } else {
            self.state.pages.record(&id, mark, listing)
        };
        recorded.map_err(SyncError::spill)?;
        if !changed {
            return Ok(PageSeen::Unchanged);
        }
        if let (Some(rows), Some(source)) = (self.dependents.as_mut(), source) {
            rows.changed(&source, &id);
        }
        self.progress.pages += 1;
        let row = page_row(page);
        if !trashed {
            self.keep_page_files(page);
        }
        let head = DocumentHead::of(&row);
        self.push(FixedTable::Pages, row).await?;
        if !trashed && self.crawls() {
            // A page a content event names is read in place, by the event's work.
            match self.in_place.get_mut(&id) {
                Some(p) => p.head = Some(head),
                None => self.crawl.crawl(id, &head).map_err(SyncError::spill)?,
            }
        }
        Ok(PageSeen::Changed)
    }

    /// Records the deletion of row or page `id` of `table`.
    pub(super) async fn tombstone(
        &mut self,
        table: &str,
        id: &str,
        why: Deletion,
    ) -> Result<(), SyncError> {
        self.tombstones += 1;
        self.forget_page_files(id);
        if self.format == crate::sink::TableFormat::Delta {
            self.changes
                .deleted
                .push((table.to_string(), id.to_string()));
        }
        let row = json!({"table": table, "id": id, "reason": why.reason()});
        self.push(FixedTable::Tombstones, row).await
    }

    /// Deletions a full refresh of the whole workspace can see: known pages it no longer found.
    /// Their marks are forgotten.
    pub(super) async fn record_vanished(&mut self) -> Result<(), SyncError> {
        if !self.mode.full || self.mode.restricted {
            return Ok(());
        }
        let mut state = std::mem::take(&mut self.state);
        for entry in state.pages.vanished() {
            let (id, table) = entry.map_err(SyncError::spill)?;
            let table = table.as_deref().unwrap_or(FixedTable::Pages.name());
            self.tombstone(table, &id, Deletion::Vanished).await?;
        }
        state.pages.forget_vanished();
        self.state = state;
        Ok(())
    }
}
