//! The copy of one table file in which a few rows are updated and none removed, written column
//! chunk by column chunk: a column in which no updated row changes value is copied as encoded
//! (its pages, statistics and page index move over byte for byte), and only the columns that
//! change are decoded, patched at the updated rows, and encoded again. Rows keep their order
//! and row groups their bounds, so the copy holds exactly the rows of the file with the
//! updated ones replaced.
//!
//! An edit that changes one property of 100 rows spread over a 100,000-row file re-encodes
//! that property and the row's edit time and run columns, instead of all of its columns.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::{concat, interleave};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use bytes::Bytes;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::arrow_writer::{ArrowWriter, compute_leaves};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::properties::WriterProperties;

/// A table file read whole, with its metadata and page index.
pub(super) struct FileCopy {
    bytes: Bytes,
    meta: ArrowReaderMetadata,
    /// For each top-level column of the table, the range of its Parquet leaves.
    leaves: Vec<Range<usize>>,
}

impl FileCopy {
    /// The file in `bytes`, when its columns are the columns of `schema` (names, and types up
    /// to the names of nested fields: Delta calls a list's items `element`, Arrow `item`);
    /// `None` when they differ (an older file of an evolved table), so the caller copies it
    /// row by row. The copy is written with the file's own schema.
    pub fn open(bytes: Bytes, schema: &SchemaRef) -> Result<Option<FileCopy>> {
        let meta = ArrowReaderMetadata::load(
            &bytes,
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional),
        )?;
        let file = meta.schema();
        let same_fields =
            file.fields().len() == schema.fields().len()
                && file.fields().iter().zip(schema.fields()).all(|(a, b)| {
                    a.name() == b.name() && a.data_type().equals_datatype(b.data_type())
                });
        if !same_fields {
            return Ok(None);
        }
        let descr = meta.metadata().file_metadata().schema_descr_ptr();
        let table = ArrowSchemaConverter::new().convert(file)?;
        let same_leaves = descr.num_columns() == table.num_columns()
            && (0..descr.num_columns()).all(|i| {
                let (a, b) = (descr.column(i), table.column(i));
                a.path() == b.path() && a.physical_type() == b.physical_type()
            });
        if !same_leaves {
            return Ok(None);
        }
        let mut leaves = vec![0..0; schema.fields().len()];
        for i in 0..descr.num_columns() {
            let root = descr.get_column_root_idx(i);
            let range = leaves
                .get_mut(root)
                .ok_or_else(|| ParquetError::General(format!("leaf {i} has no column")))?;
            *range = if range.start == range.end {
                i..i + 1
            } else {
                range.start..i + 1
            };
        }
        Ok(Some(FileCopy {
            bytes,
            meta,
            leaves,
        }))
    }

    /// The file's own Arrow schema (what its copy is written with).
    pub fn schema(&self) -> SchemaRef {
        self.meta.schema().clone()
    }

    /// Rows in the file.
    pub fn num_rows(&self) -> usize {
        let rows = self.meta.metadata().file_metadata().num_rows();
        usize::try_from(rows).unwrap_or(0)
    }

    /// The top-level columns `columns` (by index) of every row.
    pub fn read_columns(&self, columns: &[usize]) -> Result<Vec<RecordBatch>> {
        let descr = self.meta.metadata().file_metadata().schema_descr_ptr();
        ParquetRecordBatchReaderBuilder::new_with_metadata(self.bytes.clone(), self.meta.clone())
            .with_projection(ProjectionMask::roots(&descr, columns.iter().copied()))
            .build()?
            .map(|b| b.map_err(ParquetError::from))
            .collect()
    }

    /// Every column of the rows at `positions` (ascending), in that order.
    pub fn read_rows(&self, positions: &[usize]) -> Result<Vec<RecordBatch>> {
        let ranges = positions.iter().map(|p| *p..*p + 1);
        let selection = RowSelection::from_consecutive_ranges(ranges, self.num_rows());
        ParquetRecordBatchReaderBuilder::new_with_metadata(self.bytes.clone(), self.meta.clone())
            .with_row_selection(selection)
            .build()?
            .map(|b| b.map_err(ParquetError::from))
            .collect()
    }

    /// The file with the rows at `positions` (ascending) replaced by the rows of `new_rows`
    /// (the file's schema, same order), as Parquet bytes written with `props`. Columns not in
    /// `changed` are copied as encoded.
    pub fn splice(
        &self,
        props: WriterProperties,
        positions: &[usize],
        new_rows: &RecordBatch,
        changed: &[bool],
    ) -> Result<Vec<u8>> {
        let metadata = self.meta.metadata();
        let schema = self.schema();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?;
        let (mut file, factory) = writer.into_serialized_writer()?;
        let mut next = 0;
        let mut first_row = 0;
        for (rg, group) in metadata.row_groups().iter().enumerate() {
            let rows = usize::try_from(group.num_rows()).unwrap_or(0);
            // (row in the group, row of `new_rows`) of the updated rows in this group.
            let mut here = Vec::new();
            while next < positions.len() && positions[next] < first_row + rows {
                here.push((positions[next] - first_row, next));
                next += 1;
            }
            let mut writers = factory.create_column_writers(rg)?.into_iter();
            let mut out = file.next_row_group()?;
            for (column, field) in schema.fields().iter().enumerate() {
                let leaves = self.leaves[column].clone();
                if !changed[column] || here.is_empty() {
                    for leaf in leaves {
                        let _ = writers.next();
                        out.append_column(&self.bytes, self.encoded(rg, leaf))?;
                    }
                    continue;
                }
                let old = self.group_column(rg, column)?;
                let mut take: Vec<(usize, usize)> = (0..rows).map(|row| (0, row)).collect();
                for (row, new) in &here {
                    take[*row] = (1, *new);
                }
                let patched = interleave(&[old.as_ref(), new_rows.column(column).as_ref()], &take)?;
                for leaf in compute_leaves(field, &patched)? {
                    let mut writer = writers
                        .next()
                        .ok_or_else(|| ParquetError::General("a leaf has no writer".into()))?;
                    writer.write(&leaf)?;
                    writer.close()?.append_to_row_group(&mut out)?;
                }
            }
            out.close()?;
            first_row += rows;
        }
        file.into_inner()
    }

    /// The encoded chunk of `leaf` in row group `rg`, as the writer appends it.
    fn encoded(&self, rg: usize, leaf: usize) -> ColumnCloseResult {
        let metadata = self.meta.metadata();
        let chunk = metadata.row_group(rg).column(leaf);
        ColumnCloseResult {
            bytes_written: u64::try_from(chunk.compressed_size()).unwrap_or(0),
            rows_written: u64::try_from(metadata.row_group(rg).num_rows()).unwrap_or(0),
            metadata: chunk.clone(),
            bloom_filter: None,
            column_index: metadata
                .column_index()
                .and_then(|c| c.get(rg)?.get(leaf).cloned()),
            offset_index: metadata
                .offset_index()
                .and_then(|o| o.get(rg)?.get(leaf).cloned()),
        }
    }

    /// Column `column` of row group `rg`, decoded.
    fn group_column(&self, rg: usize, column: usize) -> Result<ArrayRef> {
        let descr = self.meta.metadata().file_metadata().schema_descr_ptr();
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.bytes.clone(),
            self.meta.clone(),
        )
        .with_projection(ProjectionMask::roots(&descr, [column]))
        .with_row_groups(vec![rg])
        .build()?
        .collect::<std::result::Result<_, _>>()?;
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
        Ok(concat(&arrays)?)
    }
}

/// For each column, whether any row of `after` differs from the same row of `before` (both
/// with the same schema and rows).
pub(super) fn changed_columns(before: &RecordBatch, after: &RecordBatch) -> Result<Vec<bool>> {
    (0..before.num_columns())
        .map(|c| {
            let (a, b) = (before.column(c), after.column(c));
            let converter = RowConverter::new(vec![SortField::new(a.data_type().clone())])?;
            let a = converter.convert_columns(&[Arc::clone(a)])?;
            let b = converter.convert_columns(&[Arc::clone(b)])?;
            Ok((0..a.num_rows()).any(|i| a.row(i) != b.row(i)))
        })
        .collect()
}
