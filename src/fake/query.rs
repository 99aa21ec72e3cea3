//! Query semantics of the fake: filters (timestamp filters, common property filters, and/or
//! compounds at most two levels deep), sorts, and cursor pagination with the per-query result cap.
//! Filters compare against the values as served (timestamps rounded down to the minute).

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

/// Why a request body was rejected (served as 400 `validation_error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

/// Parses an ISO date (midnight UTC) or an RFC 3339 datetime.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A relative date value of newer API versions (`today`, `one_week_ago`, …).
fn relative_instant(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = now.date_naive().and_hms_opt(0, 0, 0)?.and_utc();
    Some(match s {
        "today" => today,
        "tomorrow" => today + Duration::days(1),
        "yesterday" => today - Duration::days(1),
        "one_week_ago" => today - Duration::days(7),
        "one_week_from_now" => today + Duration::days(7),
        "one_month_ago" => today - Duration::days(30),
        "one_month_from_now" => today + Duration::days(30),
        _ => return None,
    })
}

fn date_condition(
    actual: Option<DateTime<Utc>>,
    cond: &Value,
    path: &str,
) -> Result<bool, Invalid> {
    let Some(obj) = cond.as_object().filter(|o| o.len() == 1) else {
        return invalid(format!(
            "body.filter.{path} should be an object with exactly one condition"
        ));
    };
    let (op, arg) = obj.iter().next().expect("one entry");
    let now = Utc::now();
    // Range conditions take an empty object and are relative to now.
    let range = match op.as_str() {
        "past_week" => Some((now - Duration::days(7), now)),
        "past_month" => Some((now - Duration::days(30), now)),
        "past_year" => Some((now - Duration::days(365), now)),
        "next_week" => Some((now, now + Duration::days(7))),
        "next_month" => Some((now, now + Duration::days(30))),
        "next_year" => Some((now, now + Duration::days(365))),
        "this_week" => {
            let start = now - Duration::days(i64::from(now.weekday().num_days_from_monday()));
            Some((start, start + Duration::days(7)))
        }
        _ => None,
    };
    if let Some((from, to)) = range {
        return Ok(actual.is_some_and(|t| t >= from && t <= to));
    }
    if op == "is_empty" {
        return Ok(actual.is_none());
    }
    if op == "is_not_empty" {
        return Ok(actual.is_some());
    }
    let Some(want) = arg
        .as_str()
        .and_then(|s| parse_instant(s).or_else(|| relative_instant(s, now)))
    else {
        return invalid(format!(
            "body.filter.{path}.{op} should be an ISO 8601 date or datetime, instead was `{arg}`."
        ));
    };
    let Some(t) = actual else { return Ok(false) };
    Ok(match op.as_str() {
        "equals" => t == want,
        "before" => t < want,
        "after" => t > want,
        "on_or_before" => t <= want,
        "on_or_after" => t >= want,
        _ => {
            return invalid(format!(
                "body.filter.{path}.{op} is not a supported date condition"
            ));
        }
    })
}

/// The values a filter or sort reads from one row, as served.
pub trait Row {
    /// `created_time` or `last_edited_time`, as served (minute-rounded).
    fn timestamp(&self, which: &str) -> Option<DateTime<Utc>>;
    /// The served property entry (`{id, type, <type>: value}`) by name or id.
    fn property(&self, name_or_id: &str) -> Option<Value>;
    /// Every id a relation property lists, past the 25 a served entry shows (filters match
    /// the whole relation); `None` reads the served entry.
    fn relation(&self, _name_or_id: &str) -> Option<Vec<String>> {
        None
    }
}

use crate::notion::MAX_FILTER_ITEMS as MAX_COMPOUND_ITEMS;

/// Evaluates a filter; `depth` counts enclosing compounds.
pub fn matches(filter: &Value, row: &dyn Row, depth: usize) -> Result<bool, Invalid> {
    for key in ["and", "or"] {
        if let Some(list) = filter.get(key) {
            if depth >= 2 {
                return invalid("body.filter can nest compound filters at most two levels deep");
            }
            let Some(items) = list.as_array() else {
                return invalid(format!("body.filter.{key} should be an array"));
            };
            if items.len() > MAX_COMPOUND_ITEMS {
                return invalid(format!(
                    "body.filter.{key}.length should be ≤ `{MAX_COMPOUND_ITEMS}`, instead was `{}`.",
                    items.len()
                ));
            }
            let mut results = Vec::with_capacity(items.len());
            for f in items {
                results.push(matches(f, row, depth + 1)?);
            }
            return Ok(if key == "and" {
                results.iter().all(|r| *r)
            } else {
                results.iter().any(|r| *r)
            });
        }
    }
    if let Some(which) = filter.get("timestamp").and_then(Value::as_str) {
        if which != "created_time" && which != "last_edited_time" {
            return invalid(format!(
                "body.filter.timestamp should be `created_time` or `last_edited_time`, instead was `{which}`."
            ));
        }
        let cond = filter.get(which).unwrap_or(&Value::Null);
        return date_condition(row.timestamp(which), cond, which);
    }
    if let Some(prop) = filter.get("property").and_then(Value::as_str) {
        let Some(entry) = row.property(prop) else {
            return invalid(format!("Could not find property with name or id: {prop}"));
        };
        if entry.get("type").and_then(Value::as_str) == Some("relation") {
            let ids = row.relation(prop).unwrap_or_else(|| {
                entry
                    .get("relation")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.get("id").and_then(Value::as_str))
                    .map(crate::model::normalize_id)
                    .collect()
            });
            return relation_condition(&ids, filter, prop);
        }
        return property_condition(&entry, filter, prop);
    }
    invalid(
        "body.filter should be a property filter, a timestamp filter, or an `and`/`or` compound",
    )
}

/// A relation condition (`contains`, `does_not_contain`, `is_empty`, `is_not_empty`) on the
/// ids the relation lists.
fn relation_condition(ids: &[String], filter: &Value, prop: &str) -> Result<bool, Invalid> {
    let Some((op, arg)) = filter
        .get("relation")
        .and_then(Value::as_object)
        .and_then(|c| c.iter().next())
    else {
        return invalid(format!(
            "body.filter should have a `relation` condition for property `{prop}`"
        ));
    };
    let has = |a: &Value| {
        a.as_str()
            .map(crate::model::normalize_id)
            .is_some_and(|a| ids.contains(&a))
    };
    Ok(match op.as_str() {
        "contains" => has(arg),
        "does_not_contain" => !has(arg),
        "is_empty" => ids.is_empty(),
        "is_not_empty" => !ids.is_empty(),
        _ => return invalid(format!("unsupported relation condition `{op}`")),
    })
}

/// A number (or unique ID) condition `op` with argument `a` on the value `n`.
fn number_condition(n: Option<f64>, a: Option<f64>, op: &str, kind: &str) -> Result<bool, Invalid> {
    Ok(match op {
        "equals" => n.is_some() && n == a,
        "does_not_equal" => n != a,
        "greater_than" => matches!((n, a), (Some(n), Some(a)) if n > a),
        "less_than" => matches!((n, a), (Some(n), Some(a)) if n < a),
        "greater_than_or_equal_to" => matches!((n, a), (Some(n), Some(a)) if n >= a),
        "less_than_or_equal_to" => matches!((n, a), (Some(n), Some(a)) if n <= a),
        "is_empty" => n.is_none(),
        "is_not_empty" => n.is_some(),
        _ => return invalid(format!("unsupported {kind} condition `{op}`")),
    })
}

fn property_condition(entry: &Value, filter: &Value, prop: &str) -> Result<bool, Invalid> {
    let kind = entry
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = entry.get(kind).cloned().unwrap_or(Value::Null);
    let Some(cond) = filter.get(kind).and_then(Value::as_object) else {
        return invalid(format!(
            "body.filter should have a `{kind}` condition for property `{prop}`"
        ));
    };
    let Some((op, arg)) = cond.iter().next() else {
        return invalid(format!("body.filter.{kind} should have a condition"));
    };
    let text = match kind {
        "title" | "rich_text" => Some(crate::model::plain_text(&value)),
        "select" | "status" => value
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string),
        "url" | "email" | "phone_number" => value.as_str().map(str::to_string),
        _ => None,
    };
    Ok(match (kind, op.as_str()) {
        ("checkbox", "equals") => value.as_bool() == arg.as_bool(),
        ("checkbox", "does_not_equal") => value.as_bool() != arg.as_bool(),
        ("number", op) => number_condition(value.as_f64(), arg.as_f64(), op, kind)?,
        // A unique ID never is empty; it compares by its number.
        ("unique_id", op) if !op.ends_with("empty") => number_condition(
            value.get("number").and_then(Value::as_f64),
            arg.as_f64(),
            op,
            kind,
        )?,
        ("date" | "created_time" | "last_edited_time", _) => {
            let actual = match kind {
                "date" => value
                    .get("start")
                    .and_then(Value::as_str)
                    .and_then(parse_instant),
                _ => value.as_str().and_then(parse_instant),
            };
            date_condition(actual, &Value::Object(cond.clone()), kind)?
        }
        (_, "is_empty") if text.is_some() || value.is_null() => {
            text.as_deref().unwrap_or("").is_empty()
        }
        (_, "is_not_empty") if text.is_some() || value.is_null() => {
            !text.as_deref().unwrap_or("").is_empty()
        }
        (_, op) if text.is_some() || value.is_null() => {
            let t = text.unwrap_or_default();
            let a = arg.as_str().unwrap_or_default();
            match op {
                "equals" => t == a,
                "does_not_equal" => t != a,
                "contains" => t.contains(a),
                "does_not_contain" => !t.contains(a),
                "starts_with" => t.starts_with(a),
                "ends_with" => t.ends_with(a),
                _ => return invalid(format!("unsupported {kind} condition `{op}`")),
            }
        }
        _ => {
            return invalid(format!(
                "the fake Notion does not filter `{kind}` properties"
            ));
        }
    })
}

/// Orders rows by `sorts` (timestamp sorts and number/text property sorts); earlier entries win.
pub fn compare(sorts: &[Value], a: &dyn Row, b: &dyn Row) -> Result<Ordering, Invalid> {
    for s in sorts {
        let desc = match s.get("direction").and_then(Value::as_str) {
            Some("ascending") | None => false,
            Some("descending") => true,
            Some(other) => {
                return invalid(format!(
                    "body.sorts[].direction should be `ascending` or `descending`, instead was `{other}`."
                ));
            }
        };
        let ord = if let Some(which) = s.get("timestamp").and_then(Value::as_str) {
            if which != "created_time" && which != "last_edited_time" {
                return invalid(format!(
                    "body.sorts[].timestamp should be `created_time` or `last_edited_time`, instead was `{which}`."
                ));
            }
            a.timestamp(which).cmp(&b.timestamp(which))
        } else if let Some(p) = s.get("property").and_then(Value::as_str) {
            let key = |r: &dyn Row| -> Result<SortKey, Invalid> {
                let e = r.property(p).ok_or_else(|| {
                    Invalid(format!("Could not find sort property with name or id: {p}"))
                })?;
                Ok(SortKey::of(&e))
            };
            key(a)?.cmp(&key(b)?)
        } else {
            return invalid("body.sorts[] should have `property` or `timestamp`");
        };
        let ord = if desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(Ordering::Equal)
}

#[derive(Debug, PartialEq, PartialOrd)]
enum SortKey {
    Num(f64),
    Text(String),
    Empty,
}

impl SortKey {
    fn of(entry: &Value) -> SortKey {
        let kind = entry
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let v = entry.get(kind).unwrap_or(&Value::Null);
        match kind {
            "number" => v.as_f64().map_or(SortKey::Empty, SortKey::Num),
            "unique_id" => v
                .get("number")
                .and_then(Value::as_f64)
                .map_or(SortKey::Empty, SortKey::Num),
            "title" | "rich_text" => SortKey::Text(crate::model::plain_text(v)),
            "date" => v
                .get("start")
                .and_then(Value::as_str)
                .map_or(SortKey::Empty, |s| SortKey::Text(s.into())),
            "select" | "status" => v
                .get("name")
                .and_then(Value::as_str)
                .map_or(SortKey::Empty, |s| SortKey::Text(s.into())),
            _ => v
                .as_str()
                .map_or(SortKey::Empty, |s| SortKey::Text(s.into())),
        }
    }

    fn cmp(&self, other: &SortKey) -> Ordering {
        self.partial_cmp(other).unwrap_or(Ordering::Equal)
    }
}

/// One page of results and the envelope fields that go with it.
#[derive(Debug)]
pub struct Window {
    /// Index of the first item.
    pub start: usize,
    /// One past the last item.
    pub end: usize,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
    /// Whether the cap truncated the results.
    pub capped: bool,
}

/// Reads `page_size` (1–100, default 100).
pub fn page_size(v: Option<&Value>) -> Result<usize, Invalid> {
    match v {
        None | Some(Value::Null) => Ok(100),
        Some(x) => match x
            .as_u64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        {
            Some(n) if (1..=100).contains(&n) => Ok(n as usize),
            _ => invalid(format!(
                "page_size should be a number between 1 and 100, instead was `{x}`."
            )),
        },
    }
}

/// Cuts a page out of `ids`: the cursor is the id of the first item of the page (prefixed with
/// `prefix`); an unknown cursor is rejected as real Notion rejects a stale one. `cap` is the
/// per-query result limit (`None` for endpoints without one).
pub fn window(
    ids: &[&str],
    cursor: Option<&str>,
    size: usize,
    prefix: &str,
    cap: Option<usize>,
) -> Result<Window, Invalid> {
    let start = match cursor {
        None => 0,
        Some(c) => {
            let id = c.strip_prefix(prefix).unwrap_or("\u{0}");
            match ids.iter().position(|x| *x == id) {
                Some(i) => i,
                None => return invalid(format!("The start_cursor provided is invalid: {c}")),
            }
        }
    };
    let limit = cap.map_or(ids.len(), |c| c.min(ids.len()));
    let end = (start + size).min(limit);
    let capped = end == limit && limit < ids.len();
    let next_cursor = (end < limit).then(|| format!("{prefix}{}", ids[end]));
    Ok(Window {
        start,
        end,
        next_cursor,
        capped,
    })
}

/// The `request_status` of a capped query.
pub fn incomplete_status() -> Value {
    json!({"type": "incomplete", "incomplete_reason": "query_result_limit_reached"})
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(&'static str, &'static str);
    impl Row for R {
        fn timestamp(&self, which: &str) -> Option<DateTime<Utc>> {
            parse_instant(if which == "created_time" {
                self.0
            } else {
                self.1
            })
        }
        fn property(&self, _: &str) -> Option<Value> {
            Some(json!({"id":"x","type":"checkbox","checkbox": true}))
        }
    }

    #[test]
    fn timestamp_filters_and_compounds() {
        let r = R("2026-01-01T10:00:00.000Z", "2026-01-02T10:05:00.000Z");
        let f = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert!(matches(&f(r#"{"timestamp":"last_edited_time","last_edited_time":{"on_or_after":"2026-01-02T10:05:00Z"}}"#), &r, 0).unwrap());
        assert!(!matches(&f(r#"{"timestamp":"last_edited_time","last_edited_time":{"after":"2026-01-02T10:05:00Z"}}"#), &r, 0).unwrap());
        assert!(matches(&f(r#"{"or":[{"timestamp":"created_time","created_time":{"before":"2025-01-01"}},{"property":"Done","checkbox":{"equals":true}}]}"#), &r, 0).unwrap());
        assert!(matches(&f(r#"{"and":[{"and":[{"and":[]}]}]}"#), &r, 0).is_err());
        assert!(
            matches(
                &f(r#"{"timestamp":"created_time","created_time":{"after":"yesterday-ish"}}"#),
                &r,
                0
            )
            .is_err()
        );
    }

    #[test]
    fn windows_cap_and_cursors() {
        let ids = ["a", "b", "c", "d", "e"];
        let w = window(&ids, None, 2, "", Some(3)).unwrap();
        assert_eq!(
            (w.start, w.end, w.next_cursor.as_deref(), w.capped),
            (0, 2, Some("c"), false)
        );
        let w = window(&ids, Some("c"), 2, "", Some(3)).unwrap();
        assert_eq!(
            (w.start, w.end, w.next_cursor, w.capped),
            (2, 3, None, true)
        );
        assert!(window(&ids, Some("zz"), 2, "", None).is_err());
    }
}
