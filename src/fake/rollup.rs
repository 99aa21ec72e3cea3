//! Rollups computed as Notion computes them: from the rollup's relation on the row, over the
//! related pages' values of the rolled-up property, with the rollup's function. A page object
//! computes them over the first 25 related pages only (the truncation of its relation); the
//! property-item endpoint over all of them, page by page, with partial values on every page but
//! the last. A value of a related row changing changes the rollup without touching the row.

use serde_json::{Value, json};

use super::render::Renderer;
use super::workspace::{FParent, Page, PropDef, decoded_property_id as decoded};

/// Rollups of rollups are followed this deep (Notion allows a few levels).
const MAX_DEPTH: u8 = 4;

/// What a rollup rolls up, from its schema configuration.
struct RollupSpec<'c> {
    relation_id: &'c str,
    property_id: &'c str,
    function: &'c str,
}

impl<'c> RollupSpec<'c> {
    fn of(prop: &'c PropDef) -> Option<RollupSpec<'c>> {
        let text = |k: &str| prop.config.get(k).and_then(Value::as_str);
        Some(RollupSpec {
            relation_id: text("relation_property_id")?,
            property_id: text("rollup_property_id")?,
            function: text("function").unwrap_or("show_original"),
        })
    }
}

impl Renderer<'_> {
    /// The ids of the pages `page`'s relation `relation_id` points at, in order.
    fn related(&self, page: &Page, relation_id: &str) -> Vec<String> {
        page.properties
            .iter()
            .find(|(k, _)| decoded(k) == decoded(relation_id))
            .and_then(|(_, v)| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str))
                    .filter(|id| self.workspace().is_visible(id))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The typed values (`{"type": t, t: value}`) of the rolled-up property of each related
    /// page, over at most `limit` of them.
    fn rolled_values(&self, page: &Page, spec: &RollupSpec, limit: usize, depth: u8) -> Vec<Value> {
        let ws = self.workspace();
        self.related(page, spec.relation_id)
            .iter()
            .take(limit)
            .filter_map(|id| ws.page(id))
            .filter_map(|target| {
                let FParent::DataSource(ds) = &target.parent else {
                    return None;
                };
                let prop = ws
                    .data_sources
                    .get(ds)?
                    .properties
                    .iter()
                    .find(|p| decoded(&p.id) == decoded(spec.property_id))?;
                let value = if prop.kind == "rollup" {
                    self.rollup_value(target, prop, None, depth + 1)
                } else {
                    self.property_value(target, prop)
                };
                Some(json!({"type": prop.kind, prop.kind.as_str(): value}))
            })
            .collect()
    }

    /// The rollup `prop` of `page` over its first `limit` related pages (all with `None`), or
    /// `None` when the rollup's relation is not part of the row's data source (the stored
    /// value, if any, stands then).
    pub fn rollup_value(
        &self,
        page: &Page,
        prop: &PropDef,
        limit: Option<usize>,
        depth: u8,
    ) -> Value {
        let Some(spec) = RollupSpec::of(prop) else {
            return json!({"type": "unsupported", "unsupported": {}, "function": null});
        };
        if depth > MAX_DEPTH {
            return json!({"type": "unsupported", "unsupported": {}, "function": spec.function});
        }
        let values = self.rolled_values(page, &spec, limit.unwrap_or(usize::MAX), depth);
        aggregate(spec.function, &values)
    }

    /// The rollup over all related pages as the property-item endpoint pages it: for each page
    /// of `size` related pages, that page's typed values and the rollup over every page so far.
    pub fn rollup_pages(
        &self,
        page: &Page,
        prop: &PropDef,
        size: usize,
    ) -> Vec<(Vec<Value>, Value)> {
        let Some(spec) = RollupSpec::of(prop) else {
            return vec![(Vec::new(), self.rollup_value(page, prop, None, 0))];
        };
        let values = self.rolled_values(page, &spec, usize::MAX, 0);
        if values.is_empty() {
            return vec![(Vec::new(), aggregate(spec.function, &values))];
        }
        values
            .chunks(size.max(1))
            .enumerate()
            .map(|(i, chunk)| {
                let seen = &values[..(i * size.max(1) + chunk.len())];
                (chunk.to_vec(), aggregate(spec.function, seen))
            })
            .collect()
    }

    /// Whether a row's rollup has a relation in its data source to be computed from.
    pub fn computes_rollup(&self, page: &Page, prop: &PropDef) -> bool {
        let (FParent::DataSource(ds), Some(spec)) = (&page.parent, RollupSpec::of(prop)) else {
            return false;
        };
        self.workspace().data_sources.get(ds).is_some_and(|d| {
            d.properties
                .iter()
                .any(|p| p.kind == "relation" && decoded(&p.id) == decoded(spec.relation_id))
        })
    }
}

/// The number a typed value carries (numbers, and formulas or rollups with a number result).
fn number_of(v: &Value) -> Option<f64> {
    let t = v.get("type")?.as_str()?;
    let inner = v.get(t)?;
    match t {
        "number" => inner.as_f64(),
        "formula" | "rollup" => inner.get("number")?.as_f64(),
        _ => None,
    }
}

/// The date start a typed value carries, as text that sorts in time order (UTC).
fn date_of(v: &Value) -> Option<(chrono::DateTime<chrono::Utc>, Value)> {
    let t = v.get("type")?.as_str()?;
    let inner = v.get(t)?;
    let date = match t {
        "date" => inner,
        "formula" | "rollup" => inner.get("date")?,
        "created_time" | "last_edited_time" => {
            let s = inner.as_str()?;
            let at = chrono::DateTime::parse_from_rfc3339(s).ok()?.to_utc();
            return Some((at, json!({"start": s, "end": null, "time_zone": null})));
        }
        _ => return None,
    };
    let start = date.get("start")?.as_str()?;
    let at = chrono::DateTime::parse_from_rfc3339(start)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .ok()?;
    Some((at, date.clone()))
}

fn is_empty(v: &Value) -> bool {
    let Some(t) = v.get("type").and_then(Value::as_str) else {
        return true;
    };
    match v.get(t) {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Object(o)) if t == "formula" || t == "rollup" => {
            let rt = o.get("type").and_then(Value::as_str).unwrap_or("");
            o.get(rt).is_none_or(Value::is_null)
        }
        Some(_) => false,
    }
}

fn checked(v: &Value) -> Option<bool> {
    let t = v.get("type")?.as_str()?;
    match t {
        "checkbox" => v.get(t)?.as_bool(),
        "formula" => v.get(t)?.get("boolean")?.as_bool(),
        _ => None,
    }
}

/// Applies a rollup function to the typed values of the related pages.
pub fn aggregate(function: &str, values: &[Value]) -> Value {
    let number = |n: Option<f64>| json!({"type": "number", "number": n, "function": function});
    let share = |k: usize| {
        if values.is_empty() {
            0.0
        } else {
            k as f64 / values.len() as f64
        }
    };
    let nums: Vec<f64> = values.iter().filter_map(number_of).collect();
    let empties = values.iter().filter(|v| is_empty(v)).count();
    let checks = values.iter().filter(|v| checked(v) == Some(true)).count();
    let mut dates: Vec<(chrono::DateTime<chrono::Utc>, Value)> =
        values.iter().filter_map(date_of).collect();
    dates.sort_by_key(|(at, _)| *at);
    let date = |d: Option<Value>| json!({"type": "date", "date": d, "function": function});
    match function {
        "show_original" | "show_unique" => {
            let mut items: Vec<Value> = Vec::new();
            for v in values {
                if function == "show_unique" && items.contains(v) {
                    continue;
                }
                items.push(v.clone());
            }
            json!({"type": "array", "array": items, "function": function})
        }
        "count" => number(Some(values.len() as f64)),
        "count_values" => number(Some((values.len() - empties) as f64)),
        "empty" => number(Some(empties as f64)),
        "not_empty" => number(Some((values.len() - empties) as f64)),
        "unique" => {
            let mut seen: Vec<&Value> = Vec::new();
            for v in values.iter().filter(|v| !is_empty(v)) {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            number(Some(seen.len() as f64))
        }
        "percent_empty" => number(Some(share(empties))),
        "percent_not_empty" => number(Some(share(values.len() - empties))),
        "sum" => number(Some(nums.iter().sum())),
        "average" => number((!nums.is_empty()).then(|| nums.iter().sum::<f64>() / nums.len() as f64)),
        "median" => {
            let mut sorted = nums.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            number((n > 0).then(|| {
                if n % 2 == 1 {
                    sorted[n / 2]
                } else {
                    (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
                }
            }))
        }
        "min" => number(nums.iter().copied().reduce(f64::min)),
        "max" => number(nums.iter().copied().reduce(f64::max)),
        "range" => number(
            nums.iter()
                .copied()
                .reduce(f64::max)
                .zip(nums.iter().copied().reduce(f64::min))
                .map(|(hi, lo)| hi - lo),
        ),
        "checked" => number(Some(checks as f64)),
        "unchecked" => number(Some((values.len() - checks) as f64)),
        "percent_checked" => number(Some(share(checks))),
        "percent_unchecked" => number(Some(share(values.len() - checks))),
        "earliest_date" => date(dates.first().map(|(_, d)| d.clone())),
        "latest_date" => date(dates.last().map(|(_, d)| d.clone())),
        "date_range" => date(dates.first().zip(dates.last()).map(|((_, a), (_, b))| {
            json!({"start": a.get("start"), "end": b.get("end").filter(|e| !e.is_null()).or(b.get("start")), "time_zone": null})
        })),
        _ => json!({"type": "unsupported", "unsupported": {}, "function": function}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(x: Option<f64>) -> Value {
        json!({"type": "number", "number": x})
    }

    #[test]
    fn functions_follow_notion() {
        let vals = [n(Some(3.0)), n(None), n(Some(1.0)), n(Some(2.0))];
        let num = |f: &str| aggregate(f, &vals)["number"].clone();
        assert_eq!(num("sum"), json!(6.0));
        assert_eq!(num("count"), json!(4.0));
        assert_eq!(num("count_values"), json!(3.0));
        assert_eq!(num("empty"), json!(1.0));
        assert_eq!(num("average"), json!(2.0));
        assert_eq!(num("median"), json!(2.0));
        assert_eq!(num("range"), json!(2.0));
        assert_eq!(num("percent_empty"), json!(0.25));
        let d =
            |s: &str| json!({"type": "date", "date": {"start": s, "end": null, "time_zone": null}});
        let dates = [
            d("2026-03-01"),
            d("2025-12-31T10:00:00.000Z"),
            d("2026-01-15"),
        ];
        assert_eq!(
            aggregate("earliest_date", &dates)["date"]["start"],
            "2025-12-31T10:00:00.000Z"
        );
        assert_eq!(
            aggregate("latest_date", &dates)["date"]["start"],
            "2026-03-01"
        );
        let shown = aggregate("show_original", &dates);
        assert_eq!(shown["type"], "array");
        assert_eq!(shown["array"].as_array().unwrap().len(), 3);
        assert_eq!(aggregate("count_per_group", &dates)["type"], "unsupported");
    }
}
