//! Builders of the property columns whose Arrow type is a struct or a list of structs: date,
//! people, files, formula, rollup, unique_id, verification and place. Each knows its Arrow type
//! from [`PropertyType::arrow_type`] and assembles the struct from concrete child builders, in
//! the order of that type's fields (a test over every property type checks that they agree).

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

use super::mapping::{PropertyType, date_fields};
use super::reuse::FinishReserving;
use super::values::{date_parts, parse_ts_micros, pick, typed_value_is_empty, typed_value_text};

/// A builder of UTC microsecond timestamps.
pub(super) fn ts_builder() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

/// The Arrow type of a compound property type.
fn type_of(t: PropertyType) -> DataType {
    t.arrow_type().unwrap_or(DataType::Null)
}

/// The fields of a struct type, or of the struct items of a list type.
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

/// The string under `key` of an object.
pub(super) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    super::values::field(v, key).and_then(Value::as_str)
}

/// A formula or rollup result: `x` when the result type `t` is `k` and `x` is not null.
fn result_of<'a>(t: Option<&str>, k: &str, x: Option<&'a Value>) -> Option<&'a Value> {
    x.filter(|x| t == Some(k) && !x.is_null())
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
    pub(super) fn new() -> Self {
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

    pub(super) fn append(&mut self, v: Option<&Value>) {
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

    pub(super) fn finish(&mut self) -> ArrayRef {
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

/// people: a list of (id, name, kind) items.
#[derive(Debug)]
pub(crate) struct PeopleCols {
    data_type: DataType,
    parts: ListParts,
    id: StringBuilder,
    name: StringBuilder,
    kind: StringBuilder,
}

impl PeopleCols {
    pub(super) fn new() -> Self {
        PeopleCols {
            data_type: type_of(PropertyType::People),
            parts: ListParts::new(),
            id: StringBuilder::new(),
            name: StringBuilder::new(),
            kind: StringBuilder::new(),
        }
    }

    pub(super) fn append(&mut self, v: Option<&Value>) {
        let Some(items) = v.and_then(Value::as_array) else {
            return self.parts.close(0, false);
        };
        for p in items {
            let [i, n, o, t] = pick(p, ["id", "name", "object", "type"]);
            self.id.append_option(i.and_then(Value::as_str));
            self.name.append_option(n.and_then(Value::as_str));
            let o = o.and_then(Value::as_str);
            // A group's kind is its object; a user's, its type (person or bot).
            let kind = if o == Some("group") {
                o
            } else {
                t.and_then(Value::as_str)
            };
            self.kind.append_option(kind);
        }
        self.parts.close(items.len(), true);
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let children = vec![
            self.id.finish_reserving(),
            self.name.finish_reserving(),
            self.kind.finish_reserving(),
        ];
        let items = struct_array(&self.data_type, children, None);
        self.parts.finish(&self.data_type, items)
    }
}

/// files: a list of (name, kind, url, expiry_time) items.
#[derive(Debug)]
pub(crate) struct FilesCols {
    data_type: DataType,
    parts: ListParts,
    name: StringBuilder,
    kind: StringBuilder,
    url: StringBuilder,
    expiry: TimestampMicrosecondBuilder,
}

impl FilesCols {
    pub(super) fn new() -> Self {
        FilesCols {
            data_type: type_of(PropertyType::Files),
            parts: ListParts::new(),
            name: StringBuilder::new(),
            kind: StringBuilder::new(),
            url: StringBuilder::new(),
            expiry: ts_builder(),
        }
    }

    pub(super) fn append(&mut self, v: Option<&Value>) {
        let Some(items) = v.and_then(Value::as_array) else {
            return self.parts.close(0, false);
        };
        for f in items {
            let [n, t] = pick(f, ["name", "type"]);
            let k = t.and_then(Value::as_str);
            let [u, e] = k
                .and_then(|k| super::values::field(f, k))
                .map_or([None, None], |i| pick(i, ["url", "expiry_time"]));
            self.name.append_option(n.and_then(Value::as_str));
            self.kind.append_option(k);
            self.url.append_option(u.and_then(Value::as_str));
            self.expiry
                .append_option(e.and_then(Value::as_str).and_then(parse_ts_micros));
        }
        self.parts.close(items.len(), true);
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let children = vec![
            self.name.finish_reserving(),
            self.kind.finish_reserving(),
            self.url.finish_reserving(),
            self.expiry.finish_reserving(),
        ];
        let items = struct_array(&self.data_type, children, None);
        self.parts.finish(&self.data_type, items)
    }
}

/// formula: the result type and one child per result type.
#[derive(Debug)]
pub(crate) struct FormulaCols {
    data_type: DataType,
    kind: StringBuilder,
    string: StringBuilder,
    number: Float64Builder,
    boolean: BooleanBuilder,
    date: DateCols,
    nulls: NullBufferBuilder,
}

impl FormulaCols {
    pub(super) fn new() -> Self {
        FormulaCols {
            data_type: type_of(PropertyType::Formula),
            kind: StringBuilder::new(),
            string: StringBuilder::new(),
            number: Float64Builder::new(),
            boolean: BooleanBuilder::new(),
            date: DateCols::new(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    pub(super) fn append(&mut self, v: Option<&Value>) {
        let [t, s, n, b, d] = v.map_or([None; 5], |x| {
            pick(x, ["type", "string", "number", "boolean", "date"])
        });
        let t = t.and_then(Value::as_str);
        self.kind.append_option(t);
        self.string
            .append_option(result_of(t, "string", s).and_then(Value::as_str));
        self.number
            .append_option(result_of(t, "number", n).and_then(Value::as_f64));
        self.boolean
            .append_option(result_of(t, "boolean", b).and_then(Value::as_bool));
        self.date.append(result_of(t, "date", d));
        self.nulls.append(v.is_some());
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let children = vec![
            self.kind.finish_reserving(),
            self.string.finish_reserving(),
            self.number.finish_reserving(),
            self.boolean.finish_reserving(),
            self.date.finish(),
        ];
        struct_array(&self.data_type, children, self.nulls.finish())
    }
}

/// rollup: result type, function, and the number, date or array result.
#[derive(Debug)]
pub(crate) struct RollupCols {
    data_type: DataType,
    kind: StringBuilder,
    function: StringBuilder,
    number: Float64Builder,
    date: DateCols,
    array: ListBuilder<StringBuilder>,
    array_json: StringBuilder,
    nulls: NullBufferBuilder,
}

impl RollupCols {
    pub(super) fn new() -> Self {
        RollupCols {
            data_type: type_of(PropertyType::Rollup),
            kind: StringBuilder::new(),
            function: StringBuilder::new(),
            number: Float64Builder::new(),
            date: DateCols::new(),
            array: ListBuilder::new(StringBuilder::new()),
            array_json: StringBuilder::new(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    pub(super) fn append(&mut self, v: Option<&Value>) {
        let [t, f, n, d, a] = v.map_or([None; 5], |x| {
            pick(x, ["type", "function", "number", "date", "array"])
        });
        let t = t.and_then(Value::as_str);
        self.kind.append_option(t);
        self.function.append_option(f.and_then(Value::as_str));
        self.number
            .append_option(result_of(t, "number", n).and_then(Value::as_f64));
        self.date.append(result_of(t, "date", d));
        match result_of(t, "array", a).and_then(Value::as_array) {
            Some(items) => {
                for item in items {
                    if typed_value_is_empty(item) {
                        self.array.values().append_null();
                    } else {
                        self.array.values().append_value(typed_value_text(item));
                    }
                }
                self.array.append(true);
                let json = serde_json::to_string(items).unwrap_or_default();
                self.array_json.append_value(json);
            }
            None => {
                self.array.append(false);
                self.array_json.append_null();
            }
        }
        self.nulls.append(v.is_some());
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let children = vec![
            self.kind.finish_reserving(),
            self.function.finish_reserving(),
            self.number.finish_reserving(),
            self.date.finish(),
            Arc::new(self.array.finish()) as ArrayRef,
            self.array_json.finish_reserving(),
        ];
        struct_array(&self.data_type, children, self.nulls.finish())
    }
}

/// unique_id: prefix, number and the display text `PREFIX-123`.
#[derive(Debug)]
pub(crate) struct UniqueIdCols {
    data_type: DataType,
    prefix: StringBuilder,
    number: Int64Builder,
    text: StringBuilder,
    nulls: NullBufferBuilder,
}

impl UniqueIdCols {
    pub(super) fn new() -> Self {
        UniqueIdCols {
            data_type: type_of(PropertyType::UniqueId),
            prefix: StringBuilder::new(),
            number: Int64Builder::new(),
            text: StringBuilder::new(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    pub(super) fn append(&mut self, v: Option<&Value>) {
        let [p, n] = v.map_or([None; 2], |x| pick(x, ["prefix", "number"]));
        let p = p.and_then(Value::as_str);
        let n = n.and_then(Value::as_i64);
        self.prefix.append_option(p);
        self.number.append_option(n);
        // Written into the builder's value buffer; append_value("") ends the value.
        match (p, n) {
            (_, None) => self.text.append_null(),
            (Some(p), Some(n)) => {
                let _ = write!(self.text, "{p}-{n}");
                self.text.append_value("");
            }
            (None, Some(n)) => {
                let _ = write!(self.text, "{n}");
                self.text.append_value("");
            }
        }
        self.nulls.append(v.is_some());
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let children = vec![
            self.prefix.finish_reserving(),
            self.number.finish_reserving(),
            self.text.finish_reserving(),
        ];
        struct_array(&self.data_type, children, self.nulls.finish())
    }
}

/// verification: state, verifier's user id and validity window.
#[derive(Debug)]
pub(crate) struct VerificationCols {
    data_type: DataType,
    state: StringBuilder,
    verified_by: StringBuilder,
    date: DateCols,
    nulls: NullBufferBuilder,
}

impl VerificationCols {
    pub(super) fn new() -> Self {
        VerificationCols {
            data_type: type_of(PropertyType::Verification),
            state: StringBuilder::new(),
            verified_by: StringBuilder::new(),
            date: DateCols::new(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    pub(super) fn append(&mut self, v: Option<&Value>) {
        let [s, by, d] = v.map_or([None; 3], |x| pick(x, ["state", "verified_by", "date"]));
        self.state.append_option(s.and_then(Value::as_str));
        self.verified_by
            .append_option(by.and_then(|u| str_of(u, "id")));
        self.date.append(d);
        self.nulls.append(v.is_some());
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let children = vec![
            self.state.finish_reserving(),
            self.verified_by.finish_reserving(),
            self.date.finish(),
        ];
        struct_array(&self.data_type, children, self.nulls.finish())
    }
}

/// The text fields of a place, in column order.
const PLACE_TEXTS: [&str; 4] = ["name", "address", "aws_place_id", "google_place_id"];

/// place: coordinates, name, address and place ids.
#[derive(Debug)]
pub(crate) struct PlaceCols {
    data_type: DataType,
    lat: Float64Builder,
    lon: Float64Builder,
    texts: [StringBuilder; 4],
    nulls: NullBufferBuilder,
}

impl PlaceCols {
    pub(super) fn new() -> Self {
        PlaceCols {
            data_type: type_of(PropertyType::Place),
            lat: Float64Builder::new(),
            lon: Float64Builder::new(),
            texts: std::array::from_fn(|_| StringBuilder::new()),
            nulls: NullBufferBuilder::new(0),
        }
    }

    pub(super) fn append(&mut self, v: Option<&Value>) {
        let [la, lo] = v.map_or([None; 2], |x| pick(x, ["lat", "lon"]));
        let texts = v.map_or([None; 4], |x| pick(x, PLACE_TEXTS));
        self.lat.append_option(la.and_then(Value::as_f64));
        self.lon.append_option(lo.and_then(Value::as_f64));
        for (b, x) in self.texts.iter_mut().zip(texts) {
            b.append_option(x.and_then(Value::as_str));
        }
        self.nulls.append(v.is_some());
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        let mut children: Vec<ArrayRef> =
            vec![self.lat.finish_reserving(), self.lon.finish_reserving()];
        children.extend(
            self.texts
                .iter_mut()
                .map(|b| b.finish_reserving() as ArrayRef),
        );
        struct_array(&self.data_type, children, self.nulls.finish())
    }
}
