//! Incremental-sync state kept in the lake: the previous run's start (the cursor), the last seen
//! `last_edited_time` of every page, what is known of each data source, and when the last full
//! refresh ran. Stored as `_notionlake/state.json`, written (in pieces, never whole in memory)
//! after the data it describes is durable; the page marks themselves live in [`PageMarks`].

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use super::marks::{Observed, PageMark, PageMarks};

/// Where the state lives in the lake.
pub const STATE_PATH: &str = "_notionlake/state.json";

/// How far this machine's clock may run ahead of Notion's: a read counts as made in a later
/// minute than an edit only when it began at least this much into that later minute.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::seconds(10);

/// Whether a page whose `last_edited_time` is `edited` is settled once read at `read_at`: its
/// edit minute is strictly before the minute of the read (less [`CLOCK_SKEW_ALLOWANCE`]).
pub fn settled_when_read(edited: &str, read_at: DateTime<Utc>) -> bool {
    let Ok(edited) = DateTime::parse_from_rfc3339(edited) else {
        return false;
    };
    let minute = |t: i64| t.div_euclid(60);
    minute(edited.timestamp()) < minute((read_at - CLOCK_SKEW_ALLOWANCE).timestamp())
}

/// What the lake remembers of one data source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMark {
    /// The data source's `last_edited_time` (schema changes move it).
    pub last_edited_time: Option<String>,
    /// Its database.
    pub database_id: Option<String>,
}

/// The previous run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMark {
    /// Run id.
    pub run_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Whether it was a full refresh.
    pub full: bool,
}

/// The whole incremental state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// Format version.
    pub format: u32,
    /// The last committed run.
    pub last_run: Option<RunMark>,
    /// Incremental runs since the last full refresh.
    pub runs_since_full: u32,
    /// Pages by id.
    pub pages: PageMarks,
    /// Data sources by id.
    pub data_sources: BTreeMap<String, SourceMark>,
    /// The webhook event batches this run consumed (names under `_notionlake/events/`): the
    /// data they caused is committed with this state, so the next run removes them unread.
    #[serde(default)]
    pub consumed_events: Vec<String>,
    /// When the comments of each recently edited page were last read (by a crawl or by the
    /// comments refresh), for spreading the refresh over runs; pages edited before the refresh's
    /// window are dropped.
    #[serde(default)]
    pub comments_read: BTreeMap<String, DateTime<Utc>>,
    /// Where an unfinished run stands: set by its checkpoints, cleared by its last commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<super::resume::ResumePoint>,
}

impl SyncState {
    /// The incremental cursor: the previous run's start, rounded down to the minute (Notion's
    /// timestamps are), minus `margin` for clock skew and index lag. `None` before any run.
    pub fn cursor(&self, margin: Duration) -> Option<DateTime<Utc>> {
        let start = self.last_run.as_ref()?.started_at;
        let secs = start.timestamp();
        let floored = DateTime::from_timestamp(secs - secs.rem_euclid(60), 0)?;
        Some(floored - margin)
    }

    /// The state's JSON (the same text as `serde_json::to_vec`) in pieces of about
    /// `piece_bytes`, so that a workspace of millions of pages is written without ever holding
    /// its whole `state.json` in memory.
    pub fn json_pieces(
        &self,
        piece_bytes: usize,
    ) -> impl Iterator<Item = Result<Vec<u8>, serde_json::Error>> + '_ {
        let head = (|| {
            let mut b = Vec::with_capacity(piece_bytes + 256);
            b.extend_from_slice(b"{\"format\":");
            serde_json::to_writer(&mut b, &self.format)?;
            b.extend_from_slice(b",\"last_run\":");
            serde_json::to_writer(&mut b, &self.last_run)?;
            b.extend_from_slice(b",\"runs_since_full\":");
            serde_json::to_writer(&mut b, &self.runs_since_full)?;
            b.extend_from_slice(b",\"pages\":{");
            Ok(b)
        })();
        let mut buf = Some(head);
        // A checkpoint's state says which pages its unfinished run saw.
        let mut entries: Box<dyn Iterator<Item = std::io::Result<(String, PageMark)>> + Send> =
            if self.resume.is_some() {
                Box::new(self.pages.iter_seen())
            } else {
                Box::new(self.pages.iter())
            };
        let mut first = true;
        std::iter::from_fn(move || {
            let mut b = match buf.take()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            for entry in entries.by_ref() {
                let (id, mark) = match entry {
                    Ok(e) => e,
                    Err(e) => return Some(Err(serde_json::Error::io(e))),
                };
                if !std::mem::take(&mut first) {
                    b.push(b',');
                }
                if let Err(e) = serde_json::to_writer(&mut b, &id).and_then(|()| {
                    b.push(b':');
                    serde_json::to_writer(&mut b, &mark)
                }) {
                    return Some(Err(e));
                }
                if b.len() >= piece_bytes {
                    buf = Some(Ok(Vec::with_capacity(piece_bytes + 256)));
                    return Some(Ok(b));
                }
            }
            b.extend_from_slice(b"},\"data_sources\":");
            if let Err(e) = serde_json::to_writer(&mut b, &self.data_sources) {
                return Some(Err(e));
            }
            b.extend_from_slice(b",\"consumed_events\":");
            if let Err(e) = serde_json::to_writer(&mut b, &self.consumed_events) {
                return Some(Err(e));
            }
            b.extend_from_slice(b",\"comments_read\":");
            if let Err(e) = serde_json::to_writer(&mut b, &self.comments_read) {
                return Some(Err(e));
            }
            if let Some(resume) = &self.resume {
                b.extend_from_slice(b",\"resume\":");
                if let Err(e) = serde_json::to_writer(&mut b, resume) {
                    return Some(Err(e));
                }
            }
            b.push(b'}');
            Some(Ok(b))
        })
    }
}

/// True when a page should be read again, given its previous mark (`None`: a new page): new,
/// edited since it was last read, or last read in the minute of its edit (a second edit in the
/// same minute keeps the same timestamp). For a mark from before reads were recorded as
/// settled: edited at or after the cursor.
pub fn mark_changed(
    previous: Option<&PageMark>,
    last_edited_time: &str,
    cursor: Option<DateTime<Utc>>,
) -> bool {
    let Some(mark) = previous else {
        return true;
    };
    if mark.last_edited_time != last_edited_time {
        return true;
    }
    if let Some(settled) = mark.settled {
        return !settled;
    }
    match (cursor, DateTime::parse_from_rfc3339(last_edited_time)) {
        (Some(c), Ok(t)) => t.with_timezone(&Utc) >= c,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cursor_is_the_previous_start_floored_minus_the_margin() {
        let mut s = SyncState::default();
        assert_eq!(s.cursor(Duration::minutes(2)), None);
        s.last_run = Some(RunMark {
            run_id: "r".into(),
            started_at: at("2026-11-24T10:15:42.5Z"),
            full: true,
        });
        assert_eq!(
            s.cursor(Duration::minutes(2)),
            Some(at("2026-11-24T10:13:00Z"))
        );
    }

    #[test]
    fn a_same_minute_edit_at_the_cursor_is_read_again() {
        let mut s = SyncState::default();
        s.pages
            .insert("p", mark("2026-11-24T10:15:00.000Z", None, false))
            .unwrap();
        let cursor = Some(at("2026-11-24T10:13:00Z"));
        let changed = |id: &str, t: &str, c| mark_changed(s.pages.get(id).unwrap().as_ref(), t, c);
        assert!(
            changed("p", "2026-11-24T10:15:00.000Z", cursor),
            "same timestamp, but within the cursor window"
        );
        assert!(!changed(
            "p",
            "2026-11-24T10:15:00.000Z",
            Some(at("2026-11-24T10:20:00Z"))
        ));
        assert!(changed(
            "p",
            "2026-11-24T10:16:00.000Z",
            Some(at("2026-11-24T10:20:00Z"))
        ));
        assert!(changed("new", "2026-01-01T00:00:00.000Z", cursor));
    }

    /// Regression: a page edited in the minute of a read was read again on every run for
    /// minutes (until the cursor passed it); now only until one read lands in a later minute.
    #[test]
    fn a_page_is_read_again_only_until_a_read_in_a_later_minute() {
        let edited = "2026-11-24T10:15:00.000Z";
        assert!(!settled_when_read(edited, at("2026-11-24T10:15:40Z")));
        assert!(
            !settled_when_read(edited, at("2026-11-24T10:16:05Z")),
            "within the clock-skew allowance of the edit's minute"
        );
        assert!(settled_when_read(edited, at("2026-11-24T10:16:30Z")));
        let cursor = Some(at("2026-11-24T10:14:00Z"));
        let read = |settled| PageMark {
            settled: Some(settled),
            ..mark(edited, None, false)
        };
        assert!(mark_changed(Some(&read(false)), edited, cursor));
        assert!(
            !mark_changed(Some(&read(true)), edited, cursor),
            "settled: not read again though within the cursor window"
        );
        assert!(mark_changed(
            Some(&read(true)),
            "2026-11-24T10:17:00.000Z",
            cursor
        ));
    }

    fn mark(t: &str, table: Option<&str>, trashed: bool) -> PageMark {
        PageMark {
            settled: None,
            last_edited_time: t.into(),
            table: table.map(str::to_string),
            trashed,
            seen: false,
            changed: false,
        }
    }

    #[test]
    fn state_json_in_pieces_is_the_whole_json() {
        let mut s = SyncState {
            format: 2,
            runs_since_full: 3,
            ..SyncState::default()
        };
        s.last_run = Some(RunMark {
            run_id: "r1".into(),
            started_at: at("2026-11-24T10:15:42.5Z"),
            full: false,
        });
        s.data_sources.insert(
            "ds".into(),
            SourceMark {
                last_edited_time: Some("2026-11-24T10:15:00.000Z".into()),
                database_id: None,
            },
        );
        for pieces_wanted in [false, true] {
            let whole = serde_json::to_vec(&s).unwrap();
            let pieces: Vec<Vec<u8>> = s.json_pieces(64).map(Result::unwrap).collect();
            assert_eq!(pieces.concat(), whole);
            assert_eq!(pieces.len() > 1, pieces_wanted, "{} pieces", pieces.len());
            assert!(pieces.iter().all(|p| p.len() < 64 + 200));
            for i in 0..20 {
                s.pages
                    .insert(
                        &format!("00000000-0000-4000-8000-{i:012}"),
                        mark("2026-11-24T10:15:00.000Z", Some("deals"), i % 2 == 0),
                    )
                    .unwrap();
            }
            s.pages
                .insert("legacy \"quoted\" id", mark("yesterday", None, false))
                .unwrap();
        }
    }
}
