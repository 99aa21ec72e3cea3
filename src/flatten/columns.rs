//! Column builders: one per property column, appending a page's property value (the payload
//! under the type key) and finishing into the Arrow array that [`super::mapping::arrow_type`]
//! names. Structs and lists are assembled from concrete child builders, without downcasts per
//! value.

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
use super::values::{date_parts, typed_value_text};
use crate::model::plain_text;

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
    v.get(key).and_then(Value::as_str)
}

/// A date struct's children.
#[derive(Debug)]
pub(crate) struct DateCols {
    start: TimestampMicrosecondBuilder,
    end: TimestampMicrosecondBuilder,
    has_time: BooleanBuilder,
    time_zone: StringBuilder,
    start_text: StringBuilder,
    end_text: StringBuilder,
    nulls: NullBufferBuilder,
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
        }
    }

    fn append(&mut self, v: Option<&Value>) {
        match v.and_then(date_parts) {
            Some(d) => {
                self.start.append_option(d.start);
                self.end.append_option(d.end);
                self.has_time.append_value(d.has_time);
                self.time_zone.append_option(d.time_zone);
                self.start_text.append_option(d.start_text);
                self.end_text.append_option(d.end_text);
                self.nulls.append_non_null();
            }
            None => {
                self.start.append_null();
                self.end.append_null();
                self.has_time.append_null();
                self.time_zone.append_null();
                self.start_text.append_null();
                self.end_text.append_null();
                self.nulls.append_null();
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        let children: Vec<ArrayRef> = vec![
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.has_time.finish()),
            Arc::new(self.time_zone.finish()),
            Arc::new(self.start_text.finish()),
            Arc::new(self.end_text.finish()),
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
    /// not carry the property (null).
    pub fn append(&mut self, v: Option<&Value>) {
        let v = v.filter(|x| !x.is_null());
        match self {
            ColumnBuilder::Text(b, kind) => match (v, *kind) {
                (None, _) => b.append_null(),
                (Some(x), TextKind::RichText) => b.append_value(plain_text(x)),
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
                        id.append_option(str_of(p, "id"));
                        name.append_option(str_of(p, "name"));
                        let k = if str_of(p, "object") == Some("group") {
                            Some("group")
                        } else {
                            str_of(p, "type")
                        };
                        kind.append_option(k);
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
                        let k = str_of(f, "type");
                        let inner = k.and_then(|k| f.get(k));
                        name.append_option(str_of(f, "name"));
                        kind.append_option(k);
                        url.append_option(inner.and_then(|i| str_of(i, "url")));
                        expiry.append_option(
                            inner
                                .and_then(|i| str_of(i, "expiry_time"))
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
                let t = v.and_then(|x| str_of(x, "type"));
                let inner = |k: &str| {
                    v.filter(|_| t == Some(k))
                        .and_then(|x| x.get(k))
                        .filter(|x| !x.is_null())
                };
                kind.append_option(t);
                string.append_option(inner("string").and_then(Value::as_str));
                number.append_option(inner("number").and_then(Value::as_f64));
                boolean.append_option(inner("boolean").and_then(Value::as_bool));
                date.append(inner("date"));
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
                let t = v.and_then(|x| str_of(x, "type"));
                let inner = |k: &str| {
                    v.filter(|_| t == Some(k))
                        .and_then(|x| x.get(k))
                        .filter(|x| !x.is_null())
                };
                kind.append_option(t);
                function.append_option(v.and_then(|x| str_of(x, "function")));
                number.append_option(inner("number").and_then(Value::as_f64));
                date.append(inner("date"));
                match inner("array").and_then(Value::as_array) {
                    Some(items) => {
                        for item in items {
                            array.values().append_value(typed_value_text(item));
                        }
                        array.append(true);
                        array_json.append_value(Value::Array(items.clone()).to_string());
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
                let p = v.and_then(|x| str_of(x, "prefix"));
                let n = v.and_then(|x| x.get("number")).and_then(Value::as_i64);
                prefix.append_option(p);
                number.append_option(n);
                text.append_option(
                    n.map(|n| p.map_or_else(|| n.to_string(), |p| format!("{p}-{n}"))),
                );
                nulls.append(v.is_some());
            }
            ColumnBuilder::Verification {
                state,
                verified_by,
                date,
                nulls,
            } => {
                state.append_option(v.and_then(|x| str_of(x, "state")));
                verified_by.append_option(
                    v.and_then(|x| x.get("verified_by"))
                        .and_then(|u| str_of(u, "id")),
                );
                date.append(v.and_then(|x| x.get("date")));
                nulls.append(v.is_some());
            }
            ColumnBuilder::Place {
                lat,
                lon,
                texts,
                nulls,
            } => {
                lat.append_option(v.and_then(|x| x.get("lat")).and_then(Value::as_f64));
                lon.append_option(v.and_then(|x| x.get("lon")).and_then(Value::as_f64));
                for (b, key) in
                    texts
                        .iter_mut()
                        .zip(["name", "address", "aws_place_id", "google_place_id"])
                {
                    b.append_option(v.and_then(|x| str_of(x, key)));
                }
                nulls.append(v.is_some());
            }
        }
    }

    /// Finishes the column as an array of `data_type` (the mapping's type for the column).
    pub fn finish(&mut self, data_type: &DataType) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Number(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::ListText(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Date(d) => d.finish(),
            ColumnBuilder::People {
                parts,
                id,
                name,
                kind,
            } => {
                let t = data_type.clone();
                let items = struct_array(
                    &t,
                    vec![
                        Arc::new(id.finish()),
                        Arc::new(name.finish()),
                        Arc::new(kind.finish()),
                    ],
                    None,
                );
                parts.finish(&t, items)
            }
            ColumnBuilder::Files {
                parts,
                name,
                kind,
                url,
                expiry,
            } => {
                let t = data_type.clone();
                let items = struct_array(
                    &t,
                    vec![
                        Arc::new(name.finish()),
                        Arc::new(kind.finish()),
                        Arc::new(url.finish()),
                        Arc::new(expiry.finish()),
                    ],
                    None,
                );
                parts.finish(&t, items)
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
                    Arc::new(kind.finish()),
                    Arc::new(string.finish()),
                    Arc::new(number.finish()),
                    Arc::new(boolean.finish()),
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
                    Arc::new(kind.finish()),
                    Arc::new(function.finish()),
                    Arc::new(number.finish()),
                    date.finish(),
                    Arc::new(array.finish()),
                    Arc::new(array_json.finish()),
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
                    Arc::new(prefix.finish()),
                    Arc::new(number.finish()),
                    Arc::new(text.finish()),
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
                    Arc::new(state.finish()),
                    Arc::new(verified_by.finish()),
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
                    vec![Arc::new(lat.finish()), Arc::new(lon.finish())];
                children.extend(texts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
                struct_array(data_type, children, nulls.finish())
            }
        }
    }
}
