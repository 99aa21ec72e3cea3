//! Splitting a query that returns more rows than Notion's per-query cap when `created_time`
//! windows cannot: a bulk import gives thousands of rows one minute-rounded `created_time`. The
//! rows of such a minute are divided with filters on the data source's own properties, chosen
//! from its schema, until every part is under the cap:
//! - an ordered property (`unique_id`, `number`, `date`) is read in ascending order, each query
//!   starting after the last value read; the rows that share the last value form a part of
//!   their own, split further by the next property;
//! - a `select` or `status` property gives one part per option plus one for no option;
//! - a `checkbox` gives two parts.
//!
//! The parts of each split together hold every row of what they split. Titles are not used:
//! `starts_with` parts cannot be shown to cover every row.

use serde_json::{Value, json};

use crate::model::PropertySchema;

/// The kinds of ordered property a query can be read through in ascending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordered {
    /// A `unique_id` (never empty; compared by its number).
    UniqueId,
    /// A `number`.
    Number,
    /// A `date` (compared by its start).
    Date,
}

/// A way to divide the rows of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Splitter {
    /// Ascending reads of an ordered property.
    Ordered {
        /// Property id.
        id: String,
        /// Its kind.
        kind: Ordered,
    },
    /// One part per option of a `select` or `status`, and one for no option.
    Options {
        /// Property id.
        id: String,
        /// `select` or `status`.
        kind: &'static str,
        /// Option names.
        names: Vec<String>,
    },
    /// `true` and `false`.
    Checkbox {
        /// Property id.
        id: String,
    },
}

/// The splitters a data source offers, best first: ordered properties (unique ids first),
/// then options, then checkboxes.
pub fn splitters(schema: &[PropertySchema]) -> Vec<Splitter> {
    let mut out = Vec::new();
    for (kind, ordered) in [
        ("unique_id", Ordered::UniqueId),
        ("number", Ordered::Number),
        ("date", Ordered::Date),
    ] {
        out.extend(
            schema
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| Splitter::Ordered {
                    id: p.id.clone(),
                    kind: ordered,
                }),
        );
    }
    for kind in ["select", "status"] {
        out.extend(schema.iter().filter(|p| p.kind == kind).map(|p| {
            let names = p
                .config
                .get("options")
                .and_then(Value::as_array)
                .map(|o| {
                    o.iter()
                        .filter_map(|x| x.get("name").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Splitter::Options {
                id: p.id.clone(),
                kind,
                names,
            }
        }));
    }
    out.extend(
        schema
            .iter()
            .filter(|p| p.kind == "checkbox")
            .map(|p| Splitter::Checkbox { id: p.id.clone() }),
    );
    out
}

/// One part of a split.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// The rows that match these filters.
    Filtered(Vec<Value>),
    /// The rows that match these filters, read in ascending order of the ordered property.
    Ascending(Vec<Value>),
}

fn prop_filter(id: &str, kind: &str, condition: Value) -> Value {
    json!({"property": id, kind: condition})
}

impl Ordered {
    fn filter_kind(self) -> &'static str {
        match self {
            Ordered::UniqueId => "unique_id",
            Ordered::Number => "number",
            Ordered::Date => "date",
        }
    }
}

impl Splitter {
    /// How the splitter is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Splitter::Ordered { id, kind } => format!("{} property {id}", kind.filter_kind()),
            Splitter::Options { id, kind, .. } => format!("{kind} property {id}"),
            Splitter::Checkbox { id } => format!("checkbox property {id}"),
        }
    }

    /// The parts that together hold every row.
    pub fn parts(&self) -> Vec<Part> {
        match self {
            Splitter::Ordered {
                kind: Ordered::UniqueId,
                ..
            } => vec![Part::Ascending(Vec::new())],
            Splitter::Ordered { id, kind } => {
                let k = kind.filter_kind();
                vec![
                    Part::Filtered(vec![prop_filter(id, k, json!({"is_empty": true}))]),
                    Part::Ascending(vec![prop_filter(id, k, json!({"is_not_empty": true}))]),
                ]
            }
            Splitter::Options { id, kind, names } => names
                .iter()
                .map(|n| Part::Filtered(vec![prop_filter(id, kind, json!({"equals": n}))]))
                .chain([Part::Filtered(vec![prop_filter(
                    id,
                    kind,
                    json!({"is_empty": true}),
                )])])
                .collect(),
            Splitter::Checkbox { id } => [true, false]
                .into_iter()
                .map(|b| Part::Filtered(vec![prop_filter(id, "checkbox", json!({"equals": b}))]))
                .collect(),
        }
    }

    /// The sort of an ascending read.
    pub fn sort(&self) -> Option<Value> {
        match self {
            Splitter::Ordered { id, .. } => Some(json!({"property": id, "direction": "ascending"})),
            _ => None,
        }
    }

    /// An ordered property's value in a row (as its filters take it), if any.
    pub fn value_of(&self, row: &Value) -> Option<Value> {
        let Splitter::Ordered { id, kind } = self else {
            return None;
        };
        let prop = row
            .get("properties")?
            .as_object()?
            .values()
            .find(|p| p.get("id").and_then(Value::as_str) == Some(id))?;
        let v = match kind {
            Ordered::UniqueId => prop.pointer("/unique_id/number")?,
            Ordered::Number => prop.get("number")?,
            Ordered::Date => prop.pointer("/date/start")?,
        };
        (!v.is_null()).then(|| v.clone())
    }

    /// Filters of the rows after `value` in ascending order.
    pub fn after(&self, value: &Value) -> Vec<Value> {
        match self {
            Splitter::Ordered { id, kind } => {
                let op = if *kind == Ordered::Date {
                    "after"
                } else {
                    "greater_than"
                };
                vec![prop_filter(id, kind.filter_kind(), json!({op: value}))]
            }
            _ => Vec::new(),
        }
    }

    /// Filters of the rows whose ordered property is exactly `value`.
    pub fn equal(&self, value: &Value) -> Vec<Value> {
        match self {
            Splitter::Ordered { id, kind } => {
                vec![prop_filter(
                    id,
                    kind.filter_kind(),
                    json!({"equals": value}),
                )]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(id: &str, kind: &str, config: Value) -> PropertySchema {
        PropertySchema {
            id: id.into(),
            name: id.into(),
            kind: kind.into(),
            config,
        }
    }

    #[test]
    fn splitters_come_best_first_and_their_parts_cover_every_row() {
        let schema = [
            prop("done", "checkbox", json!({})),
            prop(
                "stage",
                "status",
                json!({"options": [{"name": "Open"}, {"name": "Won"}]}),
            ),
            prop("amt", "number", json!({})),
            prop("title", "title", json!({})),
            prop("key", "unique_id", json!({"prefix": "T"})),
        ];
        let s = splitters(&schema);
        let kinds: Vec<String> = s.iter().map(Splitter::describe).collect();
        assert_eq!(
            kinds,
            [
                "unique_id property key",
                "number property amt",
                "status property stage",
                "checkbox property done"
            ]
        );
        assert_eq!(
            s[0].parts(),
            [Part::Ascending(vec![])],
            "unique ids are never empty"
        );
        assert_eq!(s[1].parts().len(), 2, "empty, then ascending");
        let stage = s[2].parts();
        assert_eq!(stage.len(), 3, "one per option and one for none");
        assert_eq!(
            stage[2],
            Part::Filtered(vec![
                json!({"property": "stage", "status": {"is_empty": true}})
            ])
        );
        let row = json!({"properties": {"Key": {"id": "key", "type": "unique_id", "unique_id": {"prefix": "T", "number": 7}}}});
        assert_eq!(s[0].value_of(&row), Some(json!(7)));
        assert_eq!(
            s[0].after(&json!(7)),
            [json!({"property": "key", "unique_id": {"greater_than": 7}})]
        );
    }
}
