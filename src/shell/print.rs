//! Printing query results as they stream: batches are written as they arrive (CSV, JSON,
//! NDJSON), or, for the aligned table, up to a row limit with the rest only counted, so that a
//! large result never sits whole in memory; then a footer with the row count and the time.

use std::io::Write;
use std::time::Duration;

use arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::error::ShellError;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Rows the aligned table shows by default (the rest are counted); `0` shows all.
pub const DEFAULT_MAX_ROWS: usize = 40;

/// How many rows of a result the aligned table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxRows {
    /// Every row.
    All,
    /// At most this many.
    Limit(usize),
}

impl MaxRows {
    /// `0` means every row, as `--maxrows 0`.
    pub fn from_flag(n: usize) -> MaxRows {
        if n == 0 {
            MaxRows::All
        } else {
            MaxRows::Limit(n)
        }
    }
}

impl Default for MaxRows {
    fn default() -> Self {
        MaxRows::Limit(DEFAULT_MAX_ROWS)
    }
}

/// What one printed result held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printed {
    /// Rows in the result.
    pub rows: usize,
    /// Rows printed (fewer than `rows` only for the aligned table past its limit).
    pub shown: usize,
}

impl Printed {
    /// The footer datafusion-cli style: `N rows in S s`, saying when only some were shown.
    pub fn footer(&self, elapsed: Duration) -> String {
        let rows = if self.rows == 1 { "row" } else { "rows" };
        let shown = if self.shown < self.rows {
            format!(" ({} shown; --maxrows 0 shows all)", self.shown)
        } else {
            String::new()
        };
        format!(
            "{} {rows} in {:.3} s{shown}",
            self.rows,
            elapsed.as_secs_f64()
        )
    }
}

/// Writes the batches of `stream` to `out` in `format` as they arrive. The aligned table keeps
/// at most `max_rows` rows and counts the others.
pub async fn print_stream(
    mut stream: SendableRecordBatchStream,
    format: OutputFormat,
    max_rows: MaxRows,
    out: &mut dyn Write,
) -> Result<Printed, ShellError> {
    let mut rows = 0;
    match format {
        OutputFormat::Table => {
            let mut kept: Vec<RecordBatch> = Vec::new();
            let mut shown = 0;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                let room = match max_rows {
                    MaxRows::All => batch.num_rows(),
                    MaxRows::Limit(n) => n.saturating_sub(shown).min(batch.num_rows()),
                };
                if room > 0 {
                    kept.push(batch.slice(0, room));
                    shown += room;
                }
            }
            if kept.is_empty() {
                kept.push(RecordBatch::new_empty(stream.schema()));
            }
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(&kept)?
            )
            .map_err(io)?;
            return Ok(Printed { rows, shown });
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::Writer::new(&mut *out);
            rows = for_each_batch(&mut stream, |b| w.write(&nested_as_text(b)?)).await?;
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            rows = for_each_batch(&mut stream, |b| w.write(b)).await?;
            w.finish()?;
            writeln!(out).map_err(io)?;
        }
        OutputFormat::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            rows = for_each_batch(&mut stream, |b| w.write(b)).await?;
            w.finish()?;
        }
    }
    Ok(Printed { rows, shown: rows })
}

/// `batch` with its nested columns (lists, structs, maps), which CSV cannot hold, as text in
/// the table format's notation (`[a, b]`, `{start: …}`).
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{Array, ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    if !batch.columns().iter().any(|c| c.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !column.data_type().is_nested() {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
        let text: StringArray = (0..column.len())
            .map(|i| (!column.is_null(i)).then(|| formatter.value(i).to_string()))
            .collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(std::sync::Arc::new(text));
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}

/// Hands every batch of `stream` to `write` as it arrives; returns the rows seen.
async fn for_each_batch(
    stream: &mut SendableRecordBatchStream,
    mut write: impl FnMut(&RecordBatch) -> Result<(), arrow::error::ArrowError>,
) -> Result<usize, ShellError> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        write(&batch)?;
    }
    Ok(rows)
}

fn io(e: std::io::Error) -> ShellError {
    ShellError::Arrow(arrow::error::ArrowError::IoError(e.to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footers_say_how_many_rows_and_how_many_shown() {
        let t = Duration::from_millis(1500);
        assert_eq!(Printed { rows: 1, shown: 1 }.footer(t), "1 row in 1.500 s");
        let cut = Printed {
            rows: 100,
            shown: 40,
        }
        .footer(t);
        assert!(cut.starts_with("100 rows in 1.500 s (40 shown;"), "{cut}");
        assert_eq!(MaxRows::from_flag(0), MaxRows::All);
        assert_eq!(MaxRows::from_flag(5), MaxRows::Limit(5));
    }

    #[test]
    fn csv_holds_nested_columns_as_text() {
        use arrow::array::{ArrayRef, Int32Array, ListBuilder, StringBuilder};
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value("a");
        list.values().append_value("b");
        list.append(true);
        list.append(false);
        let ids: ArrayRef = std::sync::Arc::new(Int32Array::from(vec![1, 2]));
        let items: ArrayRef = std::sync::Arc::new(list.finish());
        let batch = RecordBatch::try_from_iter([("id", ids), ("items", items)]).unwrap();
        let text = nested_as_text(&batch).unwrap();
        let mut out = Vec::new();
        arrow::csv::Writer::new(&mut out).write(&text).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,items\n1,\"[a, b]\"\n2,\n"
        );
    }
}
