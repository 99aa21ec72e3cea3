//! A run's Notion-hosted files: the references of every page, database, page content and
//! comment list the run reads are offered to the run's [`Keeper`] (which downloads the new
//! files in the background), and settled into `files` rows before each commit.

use serde_json::Value;

use super::context::Run;
use super::error::SyncError;
use crate::files::keeper::Keeper;
use crate::files::known::KnownFiles;
use crate::files::refs;
use crate::files::table::Scope;
use crate::flatten::fixed::FixedTable;
use crate::notion::NotionClient;
use crate::sink::Lake;

/// The keeper of a run that writes the `files` table: what the lake holds read first, and
/// what interrupted runs left half-stored removed (the run holds the lake lock).
pub(super) async fn keeper_for_run(
    client: &NotionClient,
    lake: &Lake,
    options: &super::SyncOptions,
) -> Result<Option<Keeper>, SyncError> {
    if !super::context::selected(options, FixedTable::Files) {
        return Ok(None);
    }
    let partials = crate::files::store::remove_partials(lake).await?;
    if partials > 0 {
        tracing::warn!(
            objects = partials,
            "removed files an interrupted download left half-stored; this run downloads them again"
        );
    }
    let known = KnownFiles::read(lake).await.unwrap_or_else(|e| {
        tracing::warn!(
            "could not read the lake's files table ({e}); files it lists are downloaded again"
        );
        KnownFiles::default()
    });
    let keeper = Keeper::new(lake.clone(), client.clone(), &options.files, known)
        .map_err(|e| SyncError::Internal(format!("the file downloader could not start: {e}")))?;
    Ok(Some(keeper))
}

impl Run<'_> {
    /// Offers the files page object `page` references (its properties, cover and icon).
    pub(super) fn keep_page_files(&mut self, page: &Value) {
        if let (Some(keeper), Some(id)) = (self.files.as_mut(), page.get("id")) {
            let id = crate::model::normalize_id(id.as_str().unwrap_or_default());
            keeper.offer(Scope::Page, &id, refs::refs_of_page(page));
        }
    }

    /// Offers the files database object `db` references (its cover and icon).
    pub(super) fn keep_database_files(&mut self, db: &Value) {
        if let (Some(keeper), Some(id)) = (self.files.as_mut(), db.get("id")) {
            let id = crate::model::normalize_id(id.as_str().unwrap_or_default());
            keeper.offer(Scope::Database, &id, refs::refs_of_database(db));
        }
    }

    /// Offers the files of page `page_id`'s blocks, as `blocks` rows (all of the page's).
    pub(super) fn keep_content_files(&mut self, page_id: &str, blocks: &[Value]) {
        if let Some(keeper) = self.files.as_mut() {
            let found = blocks.iter().flat_map(refs::refs_of_block_row).collect();
            keeper.offer(Scope::Content, page_id, found);
        }
    }

    /// Offers the files of page `page_id`'s comments, as `comments` rows (all of the page's).
    pub(super) fn keep_comment_files(&mut self, page_id: &str, comments: &[Value]) {
        if !self.wants(FixedTable::Comments) {
            return;
        }
        if let Some(keeper) = self.files.as_mut() {
            let found = comments
                .iter()
                .flat_map(refs::refs_of_comment_row)
                .collect();
            keeper.offer(Scope::Comments, page_id, found);
        }
    }

    /// Notes that page `id` is gone: its references leave the `files` table.
    pub(super) fn forget_page_files(&mut self, id: &str) {
        if let Some(keeper) = self.files.as_mut() {
            keeper.forget_page(id);
        }
    }

    /// Ends the segment's downloads and writes its `files` rows (see
    /// [`Keeper::settle`]); `last` for the run's last commit.
    pub(super) async fn settle_files(&mut self, last: bool) -> Result<(), SyncError> {
        let Some(keeper) = self.files.as_mut() else {
            return Ok(());
        };
        let settled = keeper.settle(self.segment.synced_at, last).await?;
        self.changes.file_groups.extend(settled.groups);
        self.output
            .fixed_rows(FixedTable::Files, settled.rows)
            .await
    }
}
