//! Incremental-sync state kept in the lake: the previous run's start (the cursor), the last seen
//! `last_edited_time` of every page, what is known of each data source, and when the last full
//! refresh ran. Stored as `_notionlake/state.json`, written in one put after the data it
//! describes is durable (a conditional put where the store supports it).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{uuid_bits, uuid_text};

/// Where the state lives in the lake.
pub const STATE_PATH: &str = "_notionlake/state.json";

/// What the lake remembers of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMark {
    /// `last_edited_time` as Notion sent it.
    pub last_edited_time: String,
    /// The page's data source (rows) — for tombstones in its table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// In the trash when last seen.
    #[serde(default)]
    pub trashed: bool,
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

    /// True when a page's content should be read again: new, edited since it was last read, or
    /// edited at or after the cursor (a second edit in the same minute keeps the same timestamp).
    pub fn page_changed(
        &self,
        id: &str,
        last_edited_time: &str,
        cursor: Option<DateTime<Utc>>,
    ) -> bool {
        mark_changed(self.pages.get(id).as_ref(), last_edited_time, cursor)
    }
}

impl SyncState {
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
        let mut entries = self.pages.iter();
        let mut first = true;
        std::iter::from_fn(move || {
            let mut b = match buf.take()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            for (id, mark) in entries.by_ref() {
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
            b.push(b'}');
            Some(Ok(b))
        })
    }
}

/// [`SyncState::page_changed`] given the page's previous mark.
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
    match (cursor, DateTime::parse_from_rfc3339(last_edited_time)) {
        (Some(c), Ok(t)) => t.with_timezone(&Utc) >= c,
        _ => true,
    }
}

/// The marks of every page the lake knows, kept compact: one entry per page for the whole run
/// (and in `state.json`), so this is the one part of a sync's memory that grows with the
/// workspace. A canonical page id is kept as its 128 bits, a `last_edited_time` in Notion's
/// form (`2026-11-24T10:15:00.000Z`) as milliseconds and the table as an index into the few
/// table names: 32 bytes a mark plus the hash table's slack, against ~250 for a
/// `BTreeMap<String, PageMark>`. Marks in any other form are kept as they are. Serialised as
/// the same JSON object as before (ids in sorted order).
#[derive(Debug, Clone, Default)]
pub struct PageMarks {
    compact: HashMap<u128, Compact>,
    other: BTreeMap<String, PageMark>,
    tables: Vec<String>,
    table_index: HashMap<String, u32>,
}

/// A mark that fits in 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Compact {
    edited_ms: i64,
    /// 0: no table; otherwise an index into `tables`, plus one.
    table: u32,
    trashed: bool,
}

/// Milliseconds of a timestamp written exactly as Notion writes them, `None` for any other
/// form (which is then kept verbatim, so nothing is lost or reformatted).
fn compact_time(s: &str) -> Option<i64> {
    let ms = DateTime::parse_from_rfc3339(s).ok()?.timestamp_millis();
    (notion_time(ms)? == s).then_some(ms)
}

/// Notion's form of a timestamp.
fn notion_time(ms: i64) -> Option<String> {
    Some(DateTime::from_timestamp_millis(ms)?.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl PageMarks {
    /// Number of pages.
    pub fn len(&self) -> usize {
        self.compact.len() + self.other.len()
    }

    /// True when no page is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The mark of a page.
    pub fn get(&self, id: &str) -> Option<PageMark> {
        uuid_bits(id)
            .and_then(|bits| self.compact.get(&bits))
            .map(|c| self.expand(c))
            .or_else(|| self.other.get(id).cloned())
    }

    /// Sets the mark of a page.
    pub fn insert(&mut self, id: &str, mark: PageMark) {
        let bits = uuid_bits(id);
        let edited = compact_time(&mark.last_edited_time);
        if let (Some(bits), Some(edited_ms)) = (bits, edited) {
            let table = mark.table.as_deref().map_or(0, |t| self.intern(t));
            self.compact.insert(
                bits,
                Compact {
                    edited_ms,
                    table,
                    trashed: mark.trashed,
                },
            );
            self.other.remove(id);
        } else {
            if let Some(bits) = bits {
                self.compact.remove(&bits);
            }
            self.other.insert(id.to_string(), mark);
        }
    }

    /// Forgets a page.
    pub fn remove(&mut self, id: &str) -> Option<PageMark> {
        if let Some(c) = uuid_bits(id).and_then(|bits| self.compact.remove(&bits)) {
            return Some(self.expand(&c));
        }
        self.other.remove(id)
    }

    /// Records the table of a known page that has none yet.
    pub fn set_table_if_missing(&mut self, id: &str, table: &str) {
        if let Some(bits) = uuid_bits(id)
            && self.compact.get(&bits).is_some_and(|c| c.table == 0)
        {
            let t = self.intern(table);
            if let Some(c) = self.compact.get_mut(&bits) {
                c.table = t;
            }
        } else if let Some(m) = self.other.get_mut(id) {
            m.table.get_or_insert_with(|| table.to_string());
        }
    }

    /// Every mark, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (String, PageMark)> + '_ {
        let mut ids: Vec<u128> = self.compact.keys().copied().collect();
        ids.sort_unstable();
        let mut compact = ids.into_iter().map(|bits| {
            let c = &self.compact[&bits];
            (uuid_text(bits), self.expand(c))
        });
        let mut other = self.other.iter().map(|(k, m)| (k.clone(), m.clone()));
        let (mut a, mut b) = (compact.next(), other.next());
        std::iter::from_fn(move || {
            let take_a = match (&a, &b) {
                (Some(x), Some(y)) => x.0 <= y.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            if take_a {
                std::mem::replace(&mut a, compact.next())
            } else {
                std::mem::replace(&mut b, other.next())
            }
        })
    }

    fn intern(&mut self, table: &str) -> u32 {
        if let Some(&i) = self.table_index.get(table) {
            return i;
        }
        self.tables.push(table.to_string());
        let i = self.tables.len() as u32;
        self.table_index.insert(table.to_string(), i);
        i
    }

    fn expand(&self, c: &Compact) -> PageMark {
        PageMark {
            last_edited_time: notion_time(c.edited_ms).unwrap_or_default(),
            table: c
                .table
                .checked_sub(1)
                .and_then(|i| self.tables.get(i as usize))
                .cloned(),
            trashed: c.trashed,
        }
    }
}

impl PartialEq for PageMarks {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Serialize for PageMarks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (id, mark) in self.iter() {
            map.serialize_entry(&id, &mark)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PageMarks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Marks;
        impl<'de> Visitor<'de> for Marks {
            type Value = PageMarks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of page ids to page marks")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<PageMarks, A::Error> {
                let mut marks = PageMarks::default();
                while let Some((id, mark)) = m.next_entry::<String, PageMark>()? {
                    marks.insert(&id, mark);
                }
                Ok(marks)
            }
        }
        d.deserialize_map(Marks)
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
        s.pages.insert(
            "p",
            PageMark {
                last_edited_time: "2026-11-24T10:15:00.000Z".into(),
                table: None,
                trashed: false,
            },
        );
        let cursor = Some(at("2026-11-24T10:13:00Z"));
        assert!(
            s.page_changed("p", "2026-11-24T10:15:00.000Z", cursor),
            "same timestamp, but within the cursor window"
        );
        assert!(!s.page_changed(
            "p",
            "2026-11-24T10:15:00.000Z",
            Some(at("2026-11-24T10:20:00Z"))
        ));
        assert!(s.page_changed(
            "p",
            "2026-11-24T10:16:00.000Z",
            Some(at("2026-11-24T10:20:00Z"))
        ));
        assert!(s.page_changed("new", "2026-01-01T00:00:00.000Z", cursor));
    }

    fn mark(t: &str, table: Option<&str>, trashed: bool) -> PageMark {
        PageMark {
            last_edited_time: t.into(),
            table: table.map(str::to_string),
            trashed,
        }
    }

    #[test]
    fn page_marks_keep_every_mark_and_the_json_of_a_plain_map() {
        let a = "0a1b2c3d-0000-4000-8000-00000000000a";
        let b = "ffffffff-0000-4000-8000-00000000000b";
        let entries = [
            (a, mark("2026-11-24T10:15:00.000Z", Some("deals"), false)),
            // An id that is not a canonical UUID, and a timestamp not in Notion's form: kept
            // verbatim, in id order with the others.
            ("legacy-id", mark("2026-11-24T10:15:00Z", None, true)),
            (b, mark("2026-11-24T10:15:00+01:00", Some("tasks"), false)),
            (
                "0000",
                mark("2026-01-01T00:00:00.000Z", Some("deals"), true),
            ),
        ];
        let mut marks = PageMarks::default();
        let mut plain = BTreeMap::new();
        for (id, m) in &entries {
            marks.insert(id, m.clone());
            plain.insert(id.to_string(), m.clone());
        }
        assert_eq!(marks.len(), 4);
        assert_eq!(
            serde_json::to_string(&marks).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
        let back: PageMarks =
            serde_json::from_str(&serde_json::to_string(&plain).unwrap()).unwrap();
        assert_eq!(back, marks);
        for (id, m) in &entries {
            assert_eq!(back.get(id).as_ref(), Some(m), "{id}");
        }
        assert_eq!(marks.get("00000000-0000-4000-8000-000000000000"), None);

        // A table is filled in only where there was none.
        marks.set_table_if_missing(a, "other");
        marks.set_table_if_missing("legacy-id", "pages");
        assert_eq!(marks.get(a).unwrap().table.as_deref(), Some("deals"));
        assert_eq!(
            marks.get("legacy-id").unwrap().table.as_deref(),
            Some("pages")
        );
        // A page whose timestamp changes form moves between the two stores without duplicates.
        marks.insert(b, mark("2026-11-24T11:00:00.000Z", Some("tasks"), true));
        assert_eq!(marks.len(), 4);
        assert_eq!(
            marks.remove(b),
            Some(mark("2026-11-24T11:00:00.000Z", Some("tasks"), true))
        );
        assert_eq!(marks.remove(b), None);
        assert_eq!(marks.len(), 3);
        assert_eq!(std::mem::size_of::<(u128, Compact)>(), 32);
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
                s.pages.insert(
                    &format!("00000000-0000-4000-8000-{i:012}"),
                    mark("2026-11-24T10:15:00.000Z", Some("deals"), i % 2 == 0),
                );
            }
            s.pages
                .insert("legacy \"quoted\" id", mark("yesterday", None, false));
        }
    }
}
