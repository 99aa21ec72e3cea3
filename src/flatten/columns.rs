//! Column builders: one per property column, appending a page's property value (the payload
//! under the type key) and finishing into the Arrow array that [`super::mapping::arrow_type`]
//! names. Structs and lists are assembled from concrete child builders, without downcasts per
//! value.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListArray, ListBuilder, StringBuilder,
    StructArray, TimestampMicrosecondBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Fields};
use serde_json::Value;

use super::mapping::{arrow_type, date_fields};
use super::reuse::FinishReserving;
use super::values::{date_parts, pick, typed_value_is_empty, typed_value_text};

fn ts_builder() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn struct_fields(t: &DataType) -> Fields {
    match t {
        DataType::Struct(f) => f.clone(),
        DataType::List(item) => match item.data_type() {
            DataType::Struct(f) => f.clone(),
            _ => Fields::empty(),
        },
        _ => Fields::empty(),
    }
}

fn struct_array(t: &DataType, children: Vec<ArrayRef>, nulls: Option<NullBuffer>) -> ArrayRef {
    Arc::new(StructArray::new(struct_fields(t), children, nulls))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    super::values::field(v, key).and_then(Value::as_str)
}

/// A formula or rollup result: `x` when the result type `t` is `k` and `x` is not null.
fn result_of<'a>(t: Option<&str>, k: &str, x: Option<&'a Value>) -> Option<&'a Value> {
    x.filter(|x| t == Some(k) && !x.is_null())
}

/// Appends the concatenated `plain_text` of a rich-text array as one value, written straight
/// into the builder's buffer (no intermediate string).
fn append_plain_text(b: &mut StringBuilder, rich_text: &Value) {
    if let Some(items) = rich_text.as_array() {
        for item in items {
            if let Some(t) = str_of(item, "plain_text") {
                let _ = b.write_str(t);
            }
        }
    }
    b.append_value("");
}

/// A date struct's children. Null dates are counted, not appended: most date structs of a row
/// are null (the date of a formula or rollup of another result type, an empty date property),
/// and one `append_nulls` per run of them costs less than seven appends per row.
#[derive(Debug)]
pub(crate) struct DateCols {
    start: TimestampMicrosecondBuilder,
    end: TimestampMicrosecondBuilder,
    has_time: BooleanBuilder,
    time_zone: StringBuilder,
    start_text: StringBuilder,
    end_text: StringBuilder,
    nulls: NullBufferBuilder,
    /// Null dates appended since the children were last written to.
    pending_nulls: usize,
}

impl DateCols {
    fn new() -> Self {
        DateCols {
            start: ts_builder(),
            end: ts_builder(),
            has_time: BooleanBuilder::new(),
            time_zone: StringBuilder::new(),
            start_text: StringBuilder::new(),
            end_text: StringBuilder::new(),
            nulls: NullBufferBuilder::new(0),
            pending_nulls: 0,
        }
    }

    /// Writes the counted null dates into every child.
    fn flush_nulls(&mut self) {
        let n = std::mem::take(&mut self.pending_nulls);
        if n > 0 {
            self.start.append_nulls(n);
            self.end.append_nulls(n);
            self.has_time.append_nulls(n);
            self.time_zone.append_nulls(n);
            self.start_text.append_nulls(n);
            self.end_text.append_nulls(n);
            self.nulls.append_n_nulls(n);
        }
    }

    fn append(&mut self, v: Option<&Value>) {
        match v.and_then(date_parts) {
            Some(d) => {
                self.flush_nulls();
                self.start.append_option(d.start);
                self.end.append_option(d.end);
                self.has_time.append_value(d.has_time);
                self.time_zone.append_option(d.time_zone);
                self.start_text.append_option(d.start_text);
                self.end_text.append_option(d.end_text);
                self.nulls.append_non_null();
            }
            None => self.pending_nulls += 1,
        }
    }

    fn finish(&mut self) -> ArrayRef {
        self.flush_nulls();
        let children: Vec<ArrayRef> = vec![
            self.start.finish_reserving(),
            self.end.finish_reserving(),
            self.has_time.finish_reserving(),
            self.time_zone.finish_reserving(),
            self.start_text.finish_reserving(),
            self.end_text.finish_reserving(),
        ];
        Arc::new(StructArray::new(
            date_fields(),
            children,
            self.nulls.finish(),
        ))
    }
}

/// Offsets and validity of a list column whose items are assembled by child builders.
#[derive(Debug)]
pub(crate) struct ListParts {
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl ListParts {
    fn new() -> Self {
        ListParts {
            offsets: vec![0],
            nulls: NullBufferBuilder::new(0),
        }
    }

    fn close(&mut self, items: usize, valid: bool) {
        let last = *self.offsets.last().unwrap_or(&0);
        self.offsets.push(last + items as i32);
        self.nulls.append(valid);
    }

    fn finish(&mut self, t: &DataType, values: ArrayRef) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let field = match t {
            DataType::List(f) => f.clone(),
            _ => unreachable!("list parts of a non-list type"),
        };
        Arc::new(ListArray::new(
            field,
            OffsetBuffer::new(offsets.into()),
            values,
            self.nulls.finish(),
        ))
    }
}

/// The builder of one property column.
#[derive(Debug)]
pub(crate) enum ColumnBuilder {
    /// Strings: title and rich_text (plain text), select/status (name), url, email, phone,
    /// created_by/last_edited_by (user id), and unknown types (raw JSON).
    Text(StringBuilder, TextKind),
    /// number.
    Number(Float64Builder),
    /// checkbox.
    Bool(BooleanBuilder),
    /// created_time, last_edited_time.
    Timestamp(TimestampMicrosecondBuilder),
    /// multi_select (names), relation (ids).
    ListText(ListBuilder<StringBuilder>, ListKind),
    /// date.
    Date(Box<DateCols>),
    /// people.
    People {
        /// List offsets and validity.
        parts: ListParts,
        /// Item fields.
        id: StringBuilder,
        /// Item fields.
        name: StringBuilder,
        /// Item fields.
        kind: StringBuilder,
    },
    /// files.
    Files {
        /// List offsets and validity.
        parts: ListParts,
        /// Item fields.
        name: StringBuilder,
        /// Item fields.
        kind: StringBuilder,
        /// Item fields.
        url: StringBuilder,
        /// Item fields.
        expiry: TimestampMicrosecondBuilder,
    },
    /// formula.
    Formula {
        /// Result type.
        kind: StringBuilder,
        /// string result.
        string: StringBuilder,
        /// number result.
        number: Float64Builder,
        /// boolean result.
        boolean: BooleanBuilder,
        /// date result.
        date: Box<DateCols>,
        /// Validity.
        nulls: NullBufferBuilder,
    },
    /// rollup.
    Rollup {
        /// Result type.
        kind: StringBuilder,
        /// Function.
        function: StringBuilder,
        /// number result.
        number: Float64Builder,
        /// date result.
        date: Box<DateCols>,
        /// array result, as text.
        array: ListBuilder<StringBuilder>,
        /// array result, as JSON.
        array_json: StringBuilder,
        /// Validity.
        nulls: NullBufferBuilder,
    },
    /// unique_id.
    UniqueId {
        /// Prefix.
        prefix: StringBuilder,
        /// Number.
        number: Int64Builder,
        /// Display text.
        text: StringBuilder,
        /// Validity.
        nulls: NullBufferBuilder,
    },
    /// verification.
    Verification {
        /// State.
        state: StringBuilder,
        /// Verifier.
        verified_by: StringBuilder,
        /// Validity window.
        date: Box<DateCols>,
        /// Validity.
        nulls: NullBufferBuilder,
    },
    /// place.
    Place {
        /// Latitude.
        lat: Float64Builder,
        /// Longitude.
        lon: Float64Builder,
        /// Texts: name, address, aws_place_id, google_place_id.
        texts: [StringBuilder; 4],
        /// Validity.
        nulls: NullBufferBuilder,
    },
}

/// What a text column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// Concatenated `plain_text` of a rich-text array.
    RichText,
    /// The `name` of an option.
    OptionName,
    /// A string value.
    Plain,
    /// The `id` of a user object.
    UserId,
    /// The raw JSON of a value of an unknown type.
    RawJson,
}

/// What a text list column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Option names.
    OptionNames,
    /// Related page ids.
    Ids,
}

impl ColumnBuilder {
    /// The builder for a Notion property type (`None` for types without a value).
    pub fn for_type(notion_type: &str) -> Option<ColumnBuilder> {
        arrow_type(notion_type)?;
        let text = |k| ColumnBuilder::Text(StringBuilder::new(), k);
        Some(match notion_type {
            "title" | "rich_text" => text(TextKind::RichText),
            "select" | "status" => text(TextKind::OptionName),
            "url" | "email" | "phone_number" => text(TextKind::Plain),
            "created_by" | "last_edited_by" => text(TextKind::UserId),
            "number" => ColumnBuilder::Number(Float64Builder::new()),
            "checkbox" => ColumnBuilder::Bool(BooleanBuilder::new()),
            "created_time" | "last_edited_time" => ColumnBuilder::Timestamp(ts_builder()),
            "multi_select" => ColumnBuilder::ListText(
                ListBuilder::new(StringBuilder::new()),
                ListKind::OptionNames,
            ),
            "relation" => {
                ColumnBuilder::ListText(ListBuilder::new(StringBuilder::new()), ListKind::Ids)
            }
            "date" => ColumnBuilder::Date(Box::new(DateCols::new())),
            "people" => ColumnBuilder::People {
                parts: ListParts::new(),
                id: StringBuilder::new(),
                name: StringBuilder::new(),
                kind: StringBuilder::new(),
            },
            "files" => ColumnBuilder::Files {
                parts: ListParts::new(),
                name: StringBuilder::new(),
                kind: StringBuilder::new(),
                url: StringBuilder::new(),
                expiry: ts_builder(),
            },
            "formula" => ColumnBuilder::Formula {
                kind: StringBuilder::new(),
                string: StringBuilder::new(),
                number: Float64Builder::new(),
                boolean: BooleanBuilder::new(),
                date: Box::new(DateCols::new()),
                nulls: NullBufferBuilder::new(0),
            },
            "rollup" => ColumnBuilder::Rollup {
                kind: StringBuilder::new(),
                function: StringBuilder::new(),
                number: Float64Builder::new(),
                date: Box::new(DateCols::new()),
                array: ListBuilder::new(StringBuilder::new()),
                array_json: StringBuilder::new(),
                nulls: NullBufferBuilder::new(0),
            },
            "unique_id" => ColumnBuilder::UniqueId {
                prefix: StringBuilder::new(),
                number: Int64Builder::new(),
                text: StringBuilder::new(),
                nulls: NullBufferBuilder::new(0),
            },
            "verification" => ColumnBuilder::Verification {
                state: StringBuilder::new(),
                verified_by: StringBuilder::new(),
                date: Box::new(DateCols::new()),
                nulls: NullBufferBuilder::new(0),
            },
            "place" => ColumnBuilder::Place {
                lat: Float64Builder::new(),
                lon: Float64Builder::new(),
                texts: std::array::from_fn(|_| StringBuilder::new()),
                nulls: NullBufferBuilder::new(0),
            },
            _ => text(TextKind::RawJson),
        })
    }

    /// Appends one value: the payload under the property's type key, or `None` when the row does
    /// not carry the property (null). Each object is read in one pass over its entries.
    pub fn append(&mut self, v: Option<&Value>) {
        let v = v.filter(|x| !x.is_null());
        match self {
            ColumnBuilder::Text(b, kind) => match (v, *kind) {
                (None, _) => b.append_null(),
                (Some(x), TextKind::RichText) => {
                    append_plain_text(b, x);
                }
                (Some(x), TextKind::OptionName) => b.append_option(str_of(x, "name")),
                (Some(x), TextKind::Plain) => b.append_option(x.as_str()),
                (Some(x), TextKind::UserId) => b.append_option(str_of(x, "id")),
                (Some(x), TextKind::RawJson) => b.append_value(x.to_string()),
            },
            ColumnBuilder::Number(b) => b.append_option(v.and_then(Value::as_f64)),
            ColumnBuilder::Bool(b) => b.append_option(v.and_then(Value::as_bool)),
            ColumnBuilder::Timestamp(b) => b.append_option(
                v.and_then(Value::as_str)
                    .and_then(super::values::parse_ts_micros),
            ),
            ColumnBuilder::ListText(b, kind) => match v.and_then(Value::as_array) {
                None => b.append(false),
                Some(items) => {
                    let key = if *kind == ListKind::Ids { "id" } else { "name" };
                    for item in items {
                        b.values().append_option(str_of(item, key));
                    }
                    b.append(true);
                }
            },
            ColumnBuilder::Date(d) => d.append(v),
            ColumnBuilder::People {
                parts,
                id,
                name,
                kind,
            } => match v.and_then(Value::as_array) {
                None => parts.close(0, false),
                Some(items) => {
                    for p in items {
                        let [i, n, o, t] = pick(p, ["id", "name", "object", "type"]);
                        id.append_option(i.and_then(Value::as_str));
                        name.append_option(n.and_then(Value::as_str));
                        let o = o.and_then(Value::as_str);
                        kind.append_option(if o == Some("group") {
                            o
                        } else {
                            t.and_then(Value::as_str)
                        });
                    }
                    parts.close(items.len(), true);
                }
            },
            ColumnBuilder::Files {
                parts,
                name,
                kind,
                url,
                expiry,
            } => match v.and_then(Value::as_array) {
                None => parts.close(0, false),
                Some(items) => {
                    for f in items {
                        let [n, t] = pick(f, ["name", "type"]);
                        let k = t.and_then(Value::as_str);
                        let [u, e] = k
                            .and_then(|k| super::values::field(f, k))
                            .map_or([None, None], |i| pick(i, ["url", "expiry_time"]));
                        name.append_option(n.and_then(Value::as_str));
                        kind.append_option(k);
                        url.append_option(u.and_then(Value::as_str));
                        expiry.append_option(
                            e.and_then(Value::as_str)
                                .and_then(super::values::parse_ts_micros),
                        );
                    }
                    parts.close(items.len(), true);
                }
            },
            ColumnBuilder::Formula {
                kind,
                string,
                number,
                boolean,
                date,
                nulls,
            } => {
                let [t, s, n, b, d] = v.map_or([None; 5], |x| {
                    pick(x, ["type", "string", "number", "boolean", "date"])
                });
                let t = t.and_then(Value::as_str);
                kind.append_option(t);
                string.append_option(result_of(t, "string", s).and_then(Value::as_str));
                number.append_option(result_of(t, "number", n).and_then(Value::as_f64));
                boolean.append_option(result_of(t, "boolean", b).and_then(Value::as_bool));
                date.append(result_of(t, "date", d));
                nulls.append(v.is_some());
            }
            ColumnBuilder::Rollup {
                kind,
                function,
                number,
                date,
                array,
                array_json,
                nulls,
            } => {
                let [t, f, n, d, a] = v.map_or([None; 5], |x| {
                    pick(x, ["type", "function", "number", "date", "array"])
                });
                let t = t.and_then(Value::as_str);
                kind.append_option(t);
                function.append_option(f.and_then(Value::as_str));
                number.append_option(result_of(t, "number", n).and_then(Value::as_f64));
                date.append(result_of(t, "date", d));
                match result_of(t, "array", a).and_then(Value::as_array) {
                    Some(items) => {
                        for item in items {
                            if typed_value_is_empty(item) {
                                array.values().append_null();
                            } else {
                                array.values().append_value(typed_value_text(item));
                            }
                        }
                        array.append(true);
                        array_json.append_value(serde_json::to_string(items).unwrap_or_default());
                    }
                    None => {
                        array.append(false);
                        array_json.append_null();
                    }
                }
                nulls.append(v.is_some());
            }
            ColumnBuilder::UniqueId {
                prefix,
                number,
                text,
                nulls,
            } => {
                let [p, n] = v.map_or([None; 2], |x| pick(x, ["prefix", "number"]));
                let p = p.and_then(Value::as_str);
                let n = n.and_then(Value::as_i64);
                prefix.append_option(p);
                number.append_option(n);
                match (p, n) {
                    (_, None) => text.append_null(),
                    (Some(p), Some(n)) => {
                        // Writes into the builder's value buffer; append_value("") ends the value.
                        let _ = write!(text, "{p}-{n}");
                        text.append_value("");
                    }
                    (None, Some(n)) => {
                        let _ = write!(text, "{n}");
                        text.append_value("");
                    }
                }
                nulls.append(v.is_some());
            }
            ColumnBuilder::Verification {
                state,
                verified_by,
                date,
                nulls,
            } => {
                let [s, by, d] = v.map_or([None; 3], |x| pick(x, ["state", "verified_by", "date"]));
                state.append_option(s.and_then(Value::as_str));
                verified_by.append_option(by.and_then(|u| str_of(u, "id")));
                date.append(d);
                nulls.append(v.is_some());
            }
            ColumnBuilder::Place {
                lat,
                lon,
                texts,
                nulls,
            } => {
                let [la, lo, name, address, aws, google] = v.map_or([None; 6], |x| {
                    pick(
                        x,
                        [
                            "lat",
                            "lon",
                            "name",
                            "address",
                            "aws_place_id",
                            "google_place_id",
                        ],
                    )
                });
                lat.append_option(la.and_then(Value::as_f64));
                lon.append_option(lo.and_then(Value::as_f64));
                for (b, x) in texts.iter_mut().zip([name, address, aws, google]) {
                    b.append_option(x.and_then(Value::as_str));
                }
                nulls.append(v.is_some());
            }
        }
    }

    /// Finishes the column as an array of `data_type` (the mapping's type for the column).
    pub fn finish(&mut self, data_type: &DataType) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b, _) => b.finish_reserving(),
            ColumnBuilder::Number(b) => b.finish_reserving(),
            ColumnBuilder::Bool(b) => b.finish_reserving(),
            ColumnBuilder::Timestamp(b) => b.finish_reserving(),
            ColumnBuilder::ListText(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Date(d) => d.finish(),
            ColumnBuilder::People {
                parts,
                id,
                name,
                kind,
            } => {
                let items = struct_array(
                    data_type,
                    vec![
                        id.finish_reserving(),
                        name.finish_reserving(),
                        kind.finish_reserving(),
                    ],
                    None,
                );
                parts.finish(data_type, items)
            }
            ColumnBuilder::Files {
                parts,
                name,
                kind,
                url,
                expiry,
            } => {
                let items = struct_array(
                    data_type,
                    vec![
                        name.finish_reserving(),
                        kind.finish_reserving(),
                        url.finish_reserving(),
                        expiry.finish_reserving(),
                    ],
                    None,
                );
                parts.finish(data_type, items)
            }
            ColumnBuilder::Formula {
                kind,
                string,
                number,
                boolean,
                date,
                nulls,
            } => struct_array(
                data_type,
                vec![
                    kind.finish_reserving(),
                    string.finish_reserving(),
                    number.finish_reserving(),
                    boolean.finish_reserving(),
                    date.finish(),
                ],
                nulls.finish(),
            ),
            ColumnBuilder::Rollup {
                kind,
                function,
                number,
                date,
                array,
                array_json,
                nulls,
            } => struct_array(
                data_type,
                vec![
                    kind.finish_reserving(),
                    function.finish_reserving(),
                    number.finish_reserving(),
                    date.finish(),
                    Arc::new(array.finish()),
                    array_json.finish_reserving(),
                ],
                nulls.finish(),
            ),
            ColumnBuilder::UniqueId {
                prefix,
                number,
                text,
                nulls,
            } => struct_array(
                data_type,
                vec![
                    prefix.finish_reserving(),
                    number.finish_reserving(),
                    text.finish_reserving(),
                ],
                nulls.finish(),
            ),
            ColumnBuilder::Verification {
                state,
                verified_by,
                date,
                nulls,
            } => struct_array(
                data_type,
                vec![
                    state.finish_reserving(),
                    verified_by.finish_reserving(),
                    date.finish(),
                ],
                nulls.finish(),
            ),
            ColumnBuilder::Place {
                lat,
                lon,
                texts,
                nulls,
            } => {
                let mut children: Vec<ArrayRef> =
                    vec![lat.finish_reserving(), lon.finish_reserving()];
                children.extend(texts.iter_mut().map(|b| b.finish_reserving() as ArrayRef));
                struct_array(data_type, children, nulls.finish())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use serde_json::json;

    /// Null dates are counted and written in runs: leading, inner and trailing runs, and a batch
    /// of nulls only, must land at the right rows, and each batch starts afresh.
    #[test]
    fn null_date_runs_keep_their_rows() {
        let dt = arrow_type("date").unwrap();
        let mut b = ColumnBuilder::for_type("date").unwrap();
        let d1 = json!({"start": "2026-01-02", "end": null, "time_zone": null});
        let d2 = json!({"start": "2026-03-04T05:06:00.000Z", "end": null, "time_zone": null});
        let rows = [None, None, Some(&d1), None, Some(&d2), None, None];
        for r in rows {
            b.append(r);
        }
        let a = b.finish(&dt);
        let s = a.as_struct();
        assert_eq!(s.len(), rows.len());
        let valid: Vec<bool> = (0..s.len()).map(|i| s.is_valid(i)).collect();
        assert_eq!(valid, rows.map(|r| r.is_some()));
        let start = s.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(start.len(), rows.len());
        assert_eq!(start.value(2), 1_767_312_000_000_000);
        assert_eq!(start.value(4), 1_772_600_760_000_000);
        assert!(start.is_null(0) && start.is_null(3) && start.is_null(6));
        for child in s.columns() {
            assert_eq!(child.len(), rows.len());
        }
        for _ in 0..3 {
            b.append(None);
        }
        let a = b.finish(&dt);
        assert_eq!((a.len(), a.null_count()), (3, 3));
        assert!(a.as_struct().columns().iter().all(|c| c.len() == 3));
    }
}
