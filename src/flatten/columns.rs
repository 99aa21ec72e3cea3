//! Column builders: one per property column, appending a page's property value (the payload
//! under the type key) and finishing into the Arrow array that [`PropertyType::arrow_type`]
//! names. Scalar and list-of-text columns are built here; struct columns by their own builders
//! in `compound`, each assembled from concrete child builders without downcasts per value.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use serde_json::Value;

use super::compound::{
    DateCols, FilesCols, FormulaCols, PeopleCols, PlaceCols, RollupCols, UniqueIdCols,
    VerificationCols, str_of, ts_builder,
};
use super::mapping::PropertyType;
use super::reuse::FinishReserving;

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
    People(Box<PeopleCols>),
    /// files.
    Files(Box<FilesCols>),
    /// formula.
    Formula(Box<FormulaCols>),
    /// rollup.
    Rollup(Box<RollupCols>),
    /// unique_id.
    UniqueId(Box<UniqueIdCols>),
    /// verification.
    Verification(Box<VerificationCols>),
    /// place.
    Place(Box<PlaceCols>),
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

impl PropertyType {
    /// The builder of the type's column (`None` for types without a value).
    pub(crate) fn builder(&self) -> Option<ColumnBuilder> {
        let text = |k| ColumnBuilder::Text(StringBuilder::new(), k);
        let list = |k| ColumnBuilder::ListText(ListBuilder::new(StringBuilder::new()), k);
        Some(match self {
            PropertyType::Title | PropertyType::RichText => text(TextKind::RichText),
            PropertyType::Select | PropertyType::Status => text(TextKind::OptionName),
            PropertyType::Url | PropertyType::Email | PropertyType::PhoneNumber => {
                text(TextKind::Plain)
            }
            PropertyType::CreatedBy | PropertyType::LastEditedBy => text(TextKind::UserId),
            PropertyType::Other(_) => text(TextKind::RawJson),
            PropertyType::Number => ColumnBuilder::Number(Float64Builder::new()),
            PropertyType::Checkbox => ColumnBuilder::Bool(BooleanBuilder::new()),
            PropertyType::CreatedTime | PropertyType::LastEditedTime => {
                ColumnBuilder::Timestamp(ts_builder())
            }
            PropertyType::MultiSelect => list(ListKind::OptionNames),
            PropertyType::Relation => list(ListKind::Ids),
            PropertyType::Date => ColumnBuilder::Date(Box::new(DateCols::new())),
            PropertyType::People => ColumnBuilder::People(Box::new(PeopleCols::new())),
            PropertyType::Files => ColumnBuilder::Files(Box::new(FilesCols::new())),
            PropertyType::Formula => ColumnBuilder::Formula(Box::new(FormulaCols::new())),
            PropertyType::Rollup => ColumnBuilder::Rollup(Box::new(RollupCols::new())),
            PropertyType::UniqueId => ColumnBuilder::UniqueId(Box::new(UniqueIdCols::new())),
            PropertyType::Verification => {
                ColumnBuilder::Verification(Box::new(VerificationCols::new()))
            }
            PropertyType::Place => ColumnBuilder::Place(Box::new(PlaceCols::new())),
            PropertyType::Button => return None,
        })
    }
}

impl ColumnBuilder {
    /// Appends one value: the payload under the property's type key, or `None` when the row does
    /// not carry the property (null). Each object is read in one pass over its entries.
    pub fn append(&mut self, v: Option<&Value>) {
        let v = v.filter(|x| !x.is_null());
        match self {
            ColumnBuilder::Text(b, kind) => match (v, *kind) {
                (None, _) => b.append_null(),
                (Some(x), TextKind::RichText) => append_plain_text(b, x),
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
            ColumnBuilder::People(c) => c.append(v),
            ColumnBuilder::Files(c) => c.append(v),
            ColumnBuilder::Formula(c) => c.append(v),
            ColumnBuilder::Rollup(c) => c.append(v),
            ColumnBuilder::UniqueId(c) => c.append(v),
            ColumnBuilder::Verification(c) => c.append(v),
            ColumnBuilder::Place(c) => c.append(v),
        }
    }

    /// Finishes the column as an array of its property type's Arrow type.
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(b, _) => b.finish_reserving(),
            ColumnBuilder::Number(b) => b.finish_reserving(),
            ColumnBuilder::Bool(b) => b.finish_reserving(),
            ColumnBuilder::Timestamp(b) => b.finish_reserving(),
            ColumnBuilder::ListText(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Date(d) => d.finish(),
            ColumnBuilder::People(c) => c.finish(),
            ColumnBuilder::Files(c) => c.finish(),
            ColumnBuilder::Formula(c) => c.finish(),
            ColumnBuilder::Rollup(c) => c.finish(),
            ColumnBuilder::UniqueId(c) => c.finish(),
            ColumnBuilder::Verification(c) => c.finish(),
            ColumnBuilder::Place(c) => c.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use serde_json::json;

    /// Every property type's builder finishes into exactly the Arrow type the mapping gives it,
    /// for rows with and without a value.
    #[test]
    fn every_builder_gives_its_mapped_type() {
        let samples = [
            json!([{"plain_text": "a"}]),
            json!({"name": "x", "id": "1"}),
            json!([{"id": "u", "object": "user", "type": "person"}]),
            json!({"type": "number", "number": 1.0, "function": "sum"}),
            json!({"prefix": "T", "number": 3, "lat": 1.0, "state": "verified"}),
            json!("2026-01-02T00:00:00.000Z"),
            json!(true),
            json!(2.5),
        ];
        for t in PropertyType::ALL
            .into_iter()
            .chain([PropertyType::Other("location".into())])
        {
            let (Some(data_type), Some(mut b)) = (t.arrow_type(), t.builder()) else {
                assert!(
                    !t.has_column(),
                    "{t} has a type but no builder, or the reverse"
                );
                continue;
            };
            b.append(None);
            for s in &samples {
                b.append(Some(s));
            }
            let a = b.finish();
            assert_eq!(a.data_type(), &data_type, "{t}");
            assert_eq!(a.len(), samples.len() + 1, "{t}");
        }
    }

    /// Null dates are counted and written in runs: leading, inner and trailing runs, and a batch
    /// of nulls only, must land at the right rows, and each batch starts afresh.
    #[test]
    fn null_date_runs_keep_their_rows() {
        let mut b = PropertyType::Date.builder().unwrap();
        let d1 = json!({"start": "2026-01-02", "end": null, "time_zone": null});
        let d2 = json!({"start": "2026-03-04T05:06:00.000Z", "end": null, "time_zone": null});
        let rows = [None, None, Some(&d1), None, Some(&d2), None, None];
        for r in rows {
            b.append(r);
        }
        let a = b.finish();
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
        let a = b.finish();
        assert_eq!((a.len(), a.null_count()), (3, 3));
        assert!(a.as_struct().columns().iter().all(|c| c.len() == 3));
    }
}
