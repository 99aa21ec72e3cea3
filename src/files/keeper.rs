//! A run's downloads. The run offers the references it reads, group by group; a file the lake
//! does not hold yet is downloaded at once, in the background, at most
//! [`super::download::DEFAULT_SLOTS`] at a time and apart from the API's rate limit. Before
//! each commit the run settles: every download ends; a URL that expired is fetched again from
//! Notion (one request for the page, block, database or comment that holds it) and the file
//! downloaded from the fresh URL; and every reference becomes a `files` row.
//!
//! References an earlier run deferred (the byte budget) or failed to download are retried by
//! the next run's last settle, unless that run read their group again anyway.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::download::{Budget, Downloader, Fetched};
use super::known::KnownFiles;
use super::options::FilesOptions;
use super::refs::{self, FileRef, Origin};
use super::table::{Content, FileRecord, FileStatus, Scope};
use crate::notion::NotionClient;
use crate::sink::{Lake, SinkError};

/// What keeping files did in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilesReport {
    /// References recorded.
    pub references: usize,
    /// Files downloaded.
    pub downloaded: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Downloads whose bytes the lake already held (the same content under another key).
    pub duplicates: usize,
    /// References to files an earlier download stored (no download).
    pub reused: usize,
    /// URLs that expired before their download, and were fetched again.
    pub expired: usize,
    /// API requests spent on fresh URLs (expired ones, and retries of earlier runs' files).
    pub refresh_requests: usize,
    /// References whose file the host no longer has.
    pub missing: usize,
    /// References to files over `--max-file-mb`.
    pub too_large: usize,
    /// References left for the next run: the byte budget was spent.
    pub deferred: usize,
    /// References whose download failed (the next run tries again).
    pub failed: usize,
}

/// How one download ended, kept per Notion key for the run.
#[derive(Debug, Clone)]
enum Outcome {
    Stored(Content),
    Expired,
    Ended(FileStatus, String),
}

/// What a settle hands the run: the `files` rows, and the groups they replace.
#[derive(Debug, Default)]
pub struct Settled {
    /// `files` rows.
    pub rows: Vec<Value>,
    /// Groups read whole (each holds exactly its rows of `rows`, none if it has none).
    pub groups: BTreeSet<String>,
}

/// A run's downloads (see the module documentation).
pub struct Keeper {
    lake: Lake,
    client: NotionClient,
    downloader: Downloader,
    budget: Arc<Budget>,
    known: KnownFiles,
    tasks: JoinSet<(String, Result<Fetched, SinkError>)>,
    outcomes: HashMap<String, Outcome>,
    started: HashSet<String>,
    pending: Vec<FileRef>,
    groups: BTreeSet<String>,
    /// Groups read by the run so far (an earlier run's retries skip them).
    read: HashSet<String>,
    report: FilesReport,
}

impl Keeper {
    /// A keeper for a run writing to `lake`, knowing what the lake holds.
    pub fn new(
        lake: Lake,
        client: NotionClient,
        options: &FilesOptions,
        known: KnownFiles,
    ) -> Result<Keeper, reqwest::Error> {
        Ok(Keeper {
            lake,
            client,
            downloader: Downloader::new(options.slots, options.max_file_bytes)?,
            budget: Arc::new(Budget::new(options.budget_bytes)),
            known,
            tasks: JoinSet::new(),
            outcomes: HashMap::new(),
            started: HashSet::new(),
            pending: Vec::new(),
            groups: BTreeSet::new(),
            read: HashSet::new(),
            report: FilesReport::default(),
        })
    }

    /// What the run's keeping did so far.
    pub fn report(&self) -> &FilesReport {
        &self.report
    }

    /// Offers the references the run found in one `scope` of page (or database) `parent_id`:
    /// the group holds exactly these after the commit. New files start downloading.
    pub fn offer(&mut self, scope: Scope, parent_id: &str, found: Vec<FileRef>) {
        let group = scope.group(parent_id);
        self.read.insert(group.clone());
        self.groups.insert(group);
        for file in found {
            self.start(&file);
            self.pending.push(file);
        }
    }

    /// Notes that page `id` is gone: every group of it is emptied.
    pub fn forget_page(&mut self, id: &str) {
        for scope in Scope::ALL {
            let group = scope.group(id);
            self.read.insert(group.clone());
            self.groups.insert(group);
        }
    }

    fn start(&mut self, file: &FileRef) {
        if self.known.content(&file.key).is_some()
            || self.outcomes.contains_key(&file.key)
            || !self.started.insert(file.key.clone())
        {
            return;
        }
        self.spawn(file.key.clone(), file.url.clone());
    }

    fn spawn(&mut self, key: String, url: String) {
        let (lake, downloader, budget) = (
            self.lake.clone(),
            self.downloader.clone(),
            Arc::clone(&self.budget),
        );
        let download = async move {
            let fetched = downloader.fetch_within(&lake, &url, &budget).await;
            (key, fetched)
        };
        self.tasks
            .spawn(tracing::Instrument::in_current_span(download));
    }

    /// Waits for every download started, and records how each ended.
    async fn join(&mut self) -> Result<(), SinkError> {
        while let Some(joined) = self.tasks.join_next().await {
            // A download task that panicked leaves its references without an outcome: they
            // are recorded as failed, and the next run tries again.
            let (key, fetched) = match joined {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!("a file download stopped: {e}");
                    continue;
                }
            };
            let outcome = match fetched? {
                Fetched::Stored {
                    stored,
                    content_type,
                } => {
                    self.report.downloaded += 1;
                    self.report.bytes += stored.bytes;
                    self.report.duplicates += usize::from(!stored.new);
                    let content = Content {
                        sha256: stored.sha256,
                        bytes: stored.bytes,
                        content_type,
                    };
                    self.known.remember(&key, &content);
                    Outcome::Stored(content)
                }
                Fetched::Expired => Outcome::Expired,
                Fetched::Missing => {
                    Outcome::Ended(FileStatus::Missing, "the file host answered 404".into())
                }
                Fetched::TooLarge { bytes } => Outcome::Ended(
                    FileStatus::TooLarge,
                    match bytes {
                        Some(b) => format!("{b} bytes, over --max-file-mb"),
                        None => "over --max-file-mb".into(),
                    },
                ),
                Fetched::Deferred => Outcome::Ended(
                    FileStatus::Deferred,
                    "the run's download budget (--files-budget-mb) was spent".into(),
                ),
                Fetched::Failed(reason) => Outcome::Ended(FileStatus::Failed, reason),
            };
            self.outcomes.insert(key, outcome);
        }
        Ok(())
    }

    /// Ends every download, fetches expired URLs again, and turns every reference offered
    /// since the last settle into a row stamped `now` (microseconds). With `last`, the
    /// references earlier runs left to retry are retried first.
    pub async fn settle(&mut self, now: i64, last: bool) -> Result<Settled, SinkError> {
        if last {
            self.retry_earlier().await;
        }
        self.join().await?;
        self.refresh_expired().await;
        self.join().await?;
        let pending = std::mem::take(&mut self.pending);
        let mut rows = Vec::with_capacity(pending.len());
        for file in pending {
            let record = self.record(file, now);
            rows.push(record.row());
        }
        self.report.references += rows.len();
        Ok(Settled {
            rows,
            groups: std::mem::take(&mut self.groups),
        })
    }

    /// The record of a reference, from how its download ended (or what the lake held).
    fn record(&mut self, file: FileRef, now: i64) -> FileRecord {
        let first_seen = self.known.first_seen(&file).unwrap_or(now);
        let (status, reason, content) = match self.outcomes.get(&file.key) {
            Some(Outcome::Stored(c)) => (FileStatus::Stored, None, Some(c.clone())),
            Some(Outcome::Ended(status, reason)) => (*status, Some(reason.clone()), None),
            Some(Outcome::Expired) => (
                FileStatus::Failed,
                Some("the URL expired and no fresh one could be had".into()),
                None,
            ),
            None => match self.known.content(&file.key) {
                Some(c) => {
                    self.report.reused += 1;
                    (FileStatus::Stored, None, Some(c.clone()))
                }
                None => (
                    FileStatus::Failed,
                    Some("the download did not finish".into()),
                    None,
                ),
            },
        };
        match status {
            FileStatus::Missing => self.report.missing += 1,
            FileStatus::TooLarge => self.report.too_large += 1,
            FileStatus::Deferred => self.report.deferred += 1,
            FileStatus::Failed => self.report.failed += 1,
            FileStatus::Stored => {}
        }
        FileRecord {
            file,
            status,
            reason,
            content,
            first_seen,
            last_seen: now,
        }
    }

    /// Fetches fresh URLs for the expired downloads (one request per object holding them) and
    /// downloads again.
    async fn refresh_expired(&mut self) {
        let expired: Vec<FileRef> = {
            let mut seen = HashSet::new();
            self.pending
                .iter()
                .filter(|f| matches!(self.outcomes.get(&f.key), Some(Outcome::Expired)))
                .filter(|f| seen.insert(f.key.clone()))
                .cloned()
                .collect()
        };
        let mut fresh: HashMap<Holder, Vec<FileRef>> = HashMap::new();
        for file in expired {
            self.report.expired += 1;
            let url = self.fresh_url(&file, &mut fresh).await;
            match url {
                Some(url) => self.spawn(file.key.clone(), url),
                None => {
                    let reason = "the URL expired, and Notion gave no fresh one for it".into();
                    self.outcomes
                        .insert(file.key, Outcome::Ended(FileStatus::Failed, reason));
                }
            }
        }
    }

    /// A fresh URL for `file`: the object holding it read again (once per settle).
    async fn fresh_url(
        &mut self,
        file: &FileRef,
        fresh: &mut HashMap<Holder, Vec<FileRef>>,
    ) -> Option<String> {
        let holder = Holder::of(file);
        if !fresh.contains_key(&holder) {
            self.report.refresh_requests += 1;
            let found = match holder.read(&self.client).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(
                        "could not read {} again for a fresh file URL: {e}",
                        holder.describe()
                    );
                    Vec::new()
                }
            };
            fresh.insert(holder.clone(), found);
        }
        fresh[&holder]
            .iter()
            .find(|f| f.origin == file.origin)
            .map(|f| f.url.clone())
    }

    /// Retries what earlier runs deferred or failed to download, in groups this run did not
    /// read again: a fresh URL per reference to retry, then the group's rows written again.
    async fn retry_earlier(&mut self) {
        let groups = self.known.take_retries();
        let mut fresh: HashMap<Holder, Vec<FileRef>> = HashMap::new();
        for (group, records) in groups {
            if self.read.contains(&group) || self.budget.left() == 0 {
                continue;
            }
            let mut files = Vec::with_capacity(records.len());
            for record in records {
                let mut file = record.file;
                if record.status.retried() {
                    match self.fresh_url(&file, &mut fresh).await {
                        Some(url) => {
                            file.url = url;
                            self.outcomes.remove(&file.key);
                            self.started.remove(&file.key);
                        }
                        // Gone from the object: the reference is gone.
                        None => continue,
                    }
                }
                files.push(file);
            }
            self.groups.insert(group);
            for file in files {
                self.start(&file);
                self.pending.push(file);
            }
        }
    }
}

/// The Notion object a reference's fresh URL is read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Holder {
    Page(String),
    Database(String),
    Block(String, String),
    Comment(String, String),
}

impl Holder {
    fn of(file: &FileRef) -> Holder {
        let parent = file.parent_id.clone();
        match &file.origin {
            Origin::Property { .. } | Origin::PageCover | Origin::PageIcon => Holder::Page(parent),
            Origin::DatabaseCover | Origin::DatabaseIcon => Holder::Database(parent),
            Origin::Block { block_id } => Holder::Block(block_id.clone(), parent),
            Origin::Comment { comment_id, .. } => Holder::Comment(comment_id.clone(), parent),
        }
    }

    fn describe(&self) -> String {
        match self {
            Holder::Page(id) => format!("page {id}"),
            Holder::Database(id) => format!("database {id}"),
            Holder::Block(id, _) => format!("block {id}"),
            Holder::Comment(id, _) => format!("comment {id}"),
        }
    }

    /// One request: the object, and the references it holds now.
    async fn read(
        &self,
        client: &NotionClient,
    ) -> Result<Vec<FileRef>, crate::notion::NotionError> {
        Ok(match self {
            Holder::Page(id) => refs::refs_of_page(&client.retrieve_page(id).await?),
            Holder::Database(id) => refs::refs_of_database(&client.retrieve_database(id).await?),
            Holder::Block(id, page) => refs::refs_of_block(&client.retrieve_block(id).await?, page),
            Holder::Comment(id, page) => {
                refs::refs_of_comment(&client.retrieve_comment(id).await?, page)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_the_object_a_reference_lives_in() {
        let file = |origin| FileRef {
            parent_id: "p".into(),
            origin,
            name: None,
            url: "u".into(),
            expiry_time: None,
            key: "k".into(),
        };
        assert_eq!(
            Holder::of(&file(Origin::PageCover)),
            Holder::Page("p".into())
        );
        assert_eq!(
            Holder::of(&file(Origin::Block {
                block_id: "b".into()
            })),
            Holder::Block("b".into(), "p".into())
        );
        assert_eq!(
            Holder::of(&file(Origin::Comment {
                comment_id: "c".into(),
                index: 1
            })),
            Holder::Comment("c".into(), "p".into())
        );
    }
}
