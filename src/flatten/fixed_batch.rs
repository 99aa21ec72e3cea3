//! Record batches of the fixed workspace tables, built column by column with Arrow builders
//! from the flat rows that [`super::fixed`] makes: strings, 32- and 64-bit integers, booleans,
//! UTC timestamps (parsed once from Notion's text) and lists of strings, plus the run's
//! `_synced_at` and `_run_id`, which are written from the run's values, never from text.
//! A value of an unexpected JSON type is kept as its JSON text in a string column and is null
//! elsewhere: data from the network never fails a batch.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use serde_json::Value;

use super::batch::RunInfo;
use super::fixed::FixedTable;
use super::reuse::FinishReserving;
use super::values::parse_ts_micros;

/// The run columns every fixed table ends with.
const RUN_COLUMNS: usize = 2;

/// The builder of one column of a fixed table.
#[derive(Debug)]
enum FixedColumn {
    Text(StringBuilder),
    Int(Int32Builder),
    BigInt(Int64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    TextList(ListBuilder<StringBuilder>),
}

impl FixedColumn {
    fn for_type(t: &DataType) -> Option<FixedColumn> {
        Some(match t {
            DataType::Utf8 => FixedColumn::Text(StringBuilder::new()),
            DataType::Int32 => FixedColumn::Int(Int32Builder::new()),
            DataType::Int64 => FixedColumn::BigInt(Int64Builder::new()),
            DataType::Boolean => FixedColumn::Bool(BooleanBuilder::new()),
            DataType::Timestamp(_, _) => {
                FixedColumn::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            DataType::List(_) => FixedColumn::TextList(ListBuilder::new(StringBuilder::new())),
            _ => return None,
        })
    }

    fn append(&mut self, v: Option<&Value>) {
        let v = v.filter(|x| !x.is_null());
        match self {
            FixedColumn::Text(b) => match v {
                None => b.append_null(),
                Some(Value::String(s)) => b.append_value(s),
                Some(other) => b.append_value(other.to_string()),
            },
            FixedColumn::Int(b) => b.append_option(
                v.and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok()),
            ),
            FixedColumn::BigInt(b) => b.append_option(v.and_then(Value::as_i64)),
            FixedColumn::Bool(b) => b.append_option(v.and_then(Value::as_bool)),
            FixedColumn::Timestamp(b) => {
                b.append_option(v.and_then(Value::as_str).and_then(parse_ts_micros))
            }
            FixedColumn::TextList(b) => match v.and_then(Value::as_array) {
                None => b.append(false),
                Some(items) => {
                    for item in items {
                        match item {
                            Value::String(s) => b.values().append_value(s),
                            Value::Null => b.values().append_null(),
                            other => b.values().append_value(other.to_string()),
                        }
                    }
                    b.append(true);
                }
            },
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            FixedColumn::Text(b) => b.finish_reserving(),
            FixedColumn::Int(b) => b.finish_reserving(),
            FixedColumn::BigInt(b) => b.finish_reserving(),
            FixedColumn::Bool(b) => b.finish_reserving(),
            FixedColumn::Timestamp(b) => b.finish_reserving(),
            FixedColumn::TextList(b) => Arc::new(b.finish()),
        }
    }
}

/// Builds batches of one fixed table.
#[derive(Debug)]
pub struct FixedBatchBuilder {
    table: FixedTable,
    schema: SchemaRef,
    /// Column name and builder of each field but the run columns.
    columns: Vec<(String, FixedColumn)>,
    rows: usize,
    run: RunInfo,
}

impl FixedBatchBuilder {
    /// A builder of `table`'s batches for the run `run`.
    pub fn new(table: FixedTable, run: &RunInfo) -> FixedBatchBuilder {
        let schema = table.schema();
        let data_fields = schema.fields().len().saturating_sub(RUN_COLUMNS);
        let columns = schema.fields()[..data_fields]
            .iter()
            .filter_map(|f| Some((f.name().clone(), FixedColumn::for_type(f.data_type())?)))
            .collect();
        FixedBatchBuilder {
            table,
            schema,
            columns,
            rows: 0,
            run: run.clone(),
        }
    }

    /// Rows appended since the last batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row waits.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a flat row (an object whose keys are the table's column names).
    pub fn append(&mut self, row: &Value) {
        for (name, column) in &mut self.columns {
            column.append(row.get(name.as_str()));
        }
        self.rows += 1;
    }

    /// The rows appended since the last batch, as a batch; the builder starts afresh.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let mut arrays: Vec<ArrayRef> = self.columns.iter_mut().map(|(_, c)| c.finish()).collect();
        arrays.push(self.run.synced_at_column(rows));
        arrays.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(self.run.run_id.as_str(), rows),
        )));
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| {
            ArrowError::InvalidArgumentError(format!("table {}: {e}", self.table.name()))
        })
    }
}
