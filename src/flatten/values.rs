//! Parsing of the value parts that several property types share: timestamps (fast path for
//! Notion's fixed format), date objects (date-only vs datetime, offsets, IANA time zones), and
//! the text rendering of typed values (rollup array items).

use chrono::{DateTime, NaiveDateTime, TimeZone};
use serde_json::Value;

use crate::model::plain_text;

/// Microseconds since the epoch of an RFC 3339 timestamp. Fast path for
/// `YYYY-MM-DDTHH:MM:SS(.fff)Z`, the form Notion sends for timestamps.
pub fn parse_ts_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && *b.last()? == b'Z'
    {
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let mut n = 0i64;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + i64::from(c - b'0');
            }
            Some(n)
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut micros = 0i64;
        if b[19] == b'.' {
            let frac = &b[20..b.len() - 1];
            let mut scale = 100_000i64;
            for &c in frac.iter().take(6) {
                if !c.is_ascii_digit() {
                    return None;
                }
                micros += i64::from(c - b'0') * scale;
                scale /= 10;
            }
        } else if b.len() != 20 {
            return fallback(s);
        }
        let days = days_from_civil(y, mo, d)?;
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        return Some(((days * 86_400 + h * 3_600 + mi * 60 + sec) * 1_000_000) + micros);
    }
    fallback(s)
}

fn fallback(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// The values of `keys` in the object `v`, found in one pass over its entries (`None` for a
/// missing key or a non-object). The hot paths read several keys of the same object; one pass
/// is several times cheaper than one map lookup per key.
#[inline]
pub fn pick<'a, const N: usize>(v: &'a Value, keys: [&str; N]) -> [Option<&'a Value>; N] {
    let mut out = [None; N];
    if let Value::Object(m) = v {
        for (k, x) in m {
            if let Some(i) = keys.iter().position(|c| key_eq(c, k)) {
                out[i] = Some(x);
            }
        }
    }
    out
}

/// The value under `key` of a JSON object, found by a scan of its keys with [`key_eq`]: Notion
/// objects have a handful of keys, and a scan with inlined comparisons beats the map's ordered
/// search, whose every step calls `memcmp`.
#[inline]
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.iter().find(|(k, _)| key_eq(k, key)).map(|(_, x)| x),
        _ => None,
    }
}

/// String equality for short object keys, inlined: a length check, then the bytes as at most
/// two overlapping words (a call to `memcmp` per comparison costs more than the comparison
/// itself for keys this short, and so does a loop over the bytes). Keys longer than 16 bytes go
/// to `memcmp`.
#[inline(always)]
pub fn key_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // Each read is in bounds: `n` is the length of both slices and at least the word size.
    let w8 = |s: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_ne_bytes(w)
    };
    let w4 = |s: &[u8], i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&s[i..i + 4]);
        u32::from_ne_bytes(w)
    };
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        _ => a == b,
    }
}

/// The parts of a Notion date object (`{start, end, time_zone}`), borrowing its text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DateParts<'a> {
    /// Start instant (µs, UTC); dates are midnight UTC.
    pub start: Option<i64>,
    /// End instant.
    pub end: Option<i64>,
    /// Whether start carries a time of day.
    pub has_time: bool,
    /// The IANA zone, when Notion sent one.
    pub time_zone: Option<&'a str>,
    /// The original start text.
    pub start_text: Option<&'a str>,
    /// The original end text.
    pub end_text: Option<&'a str>,
}

/// Midnight UTC of a `YYYY-MM-DD` date, in µs since the epoch.
fn parse_day_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let days = days_from_civil(num(0..4)?.into(), num(5..7)?.into(), num(8..10)?.into())?;
    Some(days * 86_400_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date, `None` when the date does not exist
/// (H. Hinnant's `days_from_civil`: integer arithmetic, no calendar lookups).
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > month_days {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Parses one date/datetime string: RFC 3339 with offset, `YYYY-MM-DD`, or a naive datetime
/// interpreted in `tz` (UTC when absent or unknown). Returns (µs, has_time).
pub fn parse_date_text(s: &str, tz: Option<&str>) -> Option<(i64, bool)> {
    if s.len() == 10 {
        return Some((parse_day_micros(s)?, false));
    }
    if let Some(t) = parse_ts_micros(s) {
        return Some((t, true));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()?;
    let zone = tz.and_then(|z| z.parse::<chrono_tz::Tz>().ok());
    let micros = match zone {
        Some(z) => z.from_local_datetime(&naive).earliest()?.timestamp_micros(),
        None => naive.and_utc().timestamp_micros(),
    };
    Some((micros, true))
}

/// Reads a date object; `None` for null or a non-object.
pub fn date_parts(v: &Value) -> Option<DateParts<'_>> {
    if !v.is_object() {
        return None;
    }
    let [tz, start_text, end_text] = pick(v, ["time_zone", "start", "end"]);
    let tz = tz.and_then(Value::as_str);
    let start_text = start_text.and_then(Value::as_str);
    let end_text = end_text.and_then(Value::as_str);
    let start = start_text.and_then(|s| parse_date_text(s, tz));
    let end = end_text.and_then(|s| parse_date_text(s, tz));
    Some(DateParts {
        start: start.map(|s| s.0),
        end: end.map(|e| e.0),
        has_time: start.is_some_and(|s| s.1),
        time_zone: tz,
        start_text,
        end_text,
    })
}

/// Whether a typed value `{"type": t, t: payload}` holds nothing: a null payload (a related
/// page with no select option, no number, no date), an empty list or an empty string. Such an
/// item is NULL in a rollup's `array`, not `''`.
pub fn typed_value_is_empty(item: &Value) -> bool {
    let Some(t) = item.get("type").and_then(Value::as_str) else {
        return false;
    };
    match item.get(t) {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// The text of a typed value `{"type": t, t: payload}` (rollup array items, property items).
pub fn typed_value_text(item: &Value) -> String {
    let Some(t) = item.get("type").and_then(Value::as_str) else {
        return item.to_string();
    };
    let payload = item.get(t).unwrap_or(&Value::Null);
    match t {
        "title" | "rich_text" => plain_text(payload),
        "number" => payload.as_f64().map(|n| n.to_string()).unwrap_or_default(),
        "checkbox" => payload.as_bool().map(|b| b.to_string()).unwrap_or_default(),
        "select" | "status" => payload
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        "multi_select" => join(payload, |x| {
            x.get("name").and_then(Value::as_str).map(str::to_string)
        }),
        "date" => match (
            payload.get("start").and_then(Value::as_str),
            payload.get("end").and_then(Value::as_str),
        ) {
            (Some(s), Some(e)) => format!("{s}/{e}"),
            (Some(s), None) => s.to_string(),
            _ => String::new(),
        },
        "people" => join(payload, |x| {
            x.get("name")
                .or_else(|| x.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        "relation" => join(payload, |x| {
            x.get("id").and_then(Value::as_str).map(str::to_string)
        }),
        "url" | "email" | "phone_number" | "created_time" | "last_edited_time" => {
            payload.as_str().unwrap_or("").to_string()
        }
        "formula" => payload
            .get("type")
            .and_then(Value::as_str)
            .and_then(|ft| payload.get(ft))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default(),
        _ => payload
            .as_str()
            .map_or_else(|| payload.to_string(), str::to_string),
    }
}

fn join(v: &Value, f: impl Fn(&Value) -> Option<String>) -> String {
    v.as_array()
        .map(|a| a.iter().filter_map(&f).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// The word-wise comparison agrees with `==` at every length, including keys that
        /// differ in one byte only (first, middle, last) and multi-byte characters.
        #[test]
        fn key_eq_agrees_with_string_equality(
            a in prop_oneof!["[a-z_%0-9]{0,24}", "\\PC{0,12}"],
            flip in 0usize..32,
            c in prop_oneof![proptest::char::range('0', 'z'), any::<char>()],
        ) {
            prop_assert!(key_eq(&a, &a.clone()));
            let chars: Vec<char> = a.chars().collect();
            let mut b = chars.clone();
            if !b.is_empty() {
                let i = flip % b.len();
                b[i] = c;
            }
            let b: String = b.into_iter().collect();
            prop_assert_eq!(key_eq(&a, &b), a == b);
            prop_assert_eq!(key_eq(&b, &a), a == b);
        }
    }

    #[test]
    fn fast_path_agrees_with_chrono() {
        for s in [
            "2026-09-01T08:00:00.000Z",
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456Z",
            "2026-07-04T09:09:45.607+00:00",
            "2024-06-27T17:57:00.000+01:00",
        ] {
            assert_eq!(parse_ts_micros(s), fallback(s), "{s}");
        }
        assert_eq!(parse_ts_micros("2026-13-01T00:00:00.000Z"), None);
        assert_eq!(parse_ts_micros("garbage"), None);
    }

    #[test]
    fn civil_days_agree_with_chrono() {
        use chrono::NaiveDate;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for y in [
            1600, 1899, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 2400, 9999,
        ] {
            for m in 1..=13u32 {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    let expected = NaiveDate::from_ymd_opt(y, m, d)
                        .map(|x| x.signed_duration_since(epoch).num_days());
                    assert_eq!(
                        days_from_civil(y.into(), m.into(), d.into()),
                        expected,
                        "{y}-{m}-{d}"
                    );
                }
            }
        }
    }

    #[test]
    fn date_objects_of_every_shape() {
        let day = json!({"start": "2026-09-05", "end": null, "time_zone": null});
        let d = date_parts(&day).unwrap();
        assert!(!d.has_time);
        assert_eq!(d.start, Some(1_788_566_400_000_000));
        let offset = json!({"start": "2026-09-05T14:30:00.000+02:00", "end": "2026-09-06", "time_zone": null});
        let d = date_parts(&offset).unwrap();
        assert!(d.has_time);
        assert_eq!(
            d.start,
            Some(1_788_566_400_000_000 + (12 * 3600 + 1800) * 1_000_000)
        );
        assert_eq!(d.end, Some(1_788_652_800_000_000));
        // A naive time with an IANA zone: 09:00 in Zurich (CET, UTC+1 in November) is 08:00 UTC.
        let zoned =
            json!({"start": "2026-11-02T09:00:00.000", "end": null, "time_zone": "Europe/Zurich"});
        let d = date_parts(&zoned).unwrap();
        assert_eq!(d.start, parse_ts_micros("2026-11-02T08:00:00.000Z"));
        assert_eq!(d.time_zone, Some("Europe/Zurich"));
        assert!(date_parts(&Value::Null).is_none());
        for bad in ["2026-02-30", "2026-1x-01", "20260-1-01"] {
            assert_eq!(parse_date_text(bad, None), None, "{bad}");
        }
        assert_eq!(
            parse_date_text("2024-02-29", None),
            Some((parse_ts_micros("2024-02-29T00:00:00Z").unwrap(), false))
        );
    }

    #[test]
    fn typed_values_render_as_text() {
        assert_eq!(
            typed_value_text(&json!({"type": "title", "title": [{"plain_text": "Contact 01"}]})),
            "Contact 01"
        );
        assert_eq!(
            typed_value_text(&json!({"type": "number", "number": 42.5})),
            "42.5"
        );
        assert_eq!(
            typed_value_text(
                &json!({"type": "date", "date": {"start": "2026-01-01", "end": null}})
            ),
            "2026-01-01"
        );
    }

    /// Regression: an empty item of a show-original rollup landed as `''`.
    #[test]
    fn empty_typed_values_are_told_apart_from_empty_text() {
        assert!(typed_value_is_empty(
            &json!({"type": "select", "select": null})
        ));
        assert!(typed_value_is_empty(&json!({"type": "title", "title": []})));
        assert!(typed_value_is_empty(
            &json!({"type": "number", "number": null})
        ));
        assert!(!typed_value_is_empty(
            &json!({"type": "number", "number": 0})
        ));
        assert!(!typed_value_is_empty(
            &json!({"type": "checkbox", "checkbox": false})
        ));
        assert!(!typed_value_is_empty(
            &json!({"type": "select", "select": {"name": "A"}})
        ));
    }
}
