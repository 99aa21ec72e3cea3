//! Rows → Arrow: a [`TableBuilder`] takes page objects of one data source (as Notion sends them)
//! and produces a `RecordBatch` with the metadata columns and one column per active property of
//! the registry entry, plus the `rich_text_items` side table (one row per rich-text item of every
//! title and rich_text value: formatting, links and mentions, queryable). Pure: no I/O.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use serde_json::Value;

use super::columns::ColumnBuilder;
use super::mapping::{arrow_type, is_known, ts_type};
use super::values::parse_ts_micros;
use crate::model::{Parent, normalize_id};
use crate::state::TableEntry;

/// The run a row was extracted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// Run id.
    pub run_id: String,
    /// Sync instant, µs since the epoch (UTC).
    pub synced_at: i64,
}

struct PlannedColumn {
    property_id: String,
    column: String,
    notion_type: String,
    data_type: DataType,
}

/// Builds batches of one data-source table.
pub struct TableBuilder {
    table: String,
    data_source_id: String,
    columns: Vec<PlannedColumn>,
    index: HashMap<String, usize>,
    builders: Vec<ColumnBuilder>,
    meta: MetaBuilders,
    rich: RichTextBuilder,
    schema: SchemaRef,
    rows: usize,
    run: RunInfo,
    warnings: BTreeSet<String>,
}

impl std::fmt::Debug for TableBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableBuilder")
            .field("table", &self.table)
            .field("rows", &self.rows)
            .finish()
    }
}

struct MetaBuilders {
    id: StringBuilder,
    url: StringBuilder,
    created_time: TimestampMicrosecondBuilder,
    last_edited_time: TimestampMicrosecondBuilder,
    created_by: StringBuilder,
    last_edited_by: StringBuilder,
    in_trash: BooleanBuilder,
    data_source_id: StringBuilder,
    database_id: StringBuilder,
    synced_at: TimestampMicrosecondBuilder,
    run_id: StringBuilder,
}

fn ts() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

impl MetaBuilders {
    fn new() -> Self {
        MetaBuilders {
            id: StringBuilder::new(),
            url: StringBuilder::new(),
            created_time: ts(),
            last_edited_time: ts(),
            created_by: StringBuilder::new(),
            last_edited_by: StringBuilder::new(),
            in_trash: BooleanBuilder::new(),
            data_source_id: StringBuilder::new(),
            database_id: StringBuilder::new(),
            synced_at: ts(),
            run_id: StringBuilder::new(),
        }
    }

    fn fields() -> Vec<Field> {
        let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
        vec![
            s("_id", false),
            s("_url", true),
            Field::new("_created_time", ts_type(), true),
            Field::new("_last_edited_time", ts_type(), true),
            s("_created_by", true),
            s("_last_edited_by", true),
            Field::new("_in_trash", DataType::Boolean, false),
            s("_data_source_id", true),
            s("_database_id", true),
            Field::new("_synced_at", ts_type(), false),
            s("_run_id", false),
        ]
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.id.finish()),
            Arc::new(self.url.finish()),
            Arc::new(self.created_time.finish()),
            Arc::new(self.last_edited_time.finish()),
            Arc::new(self.created_by.finish()),
            Arc::new(self.last_edited_by.finish()),
            Arc::new(self.in_trash.finish()),
            Arc::new(self.data_source_id.finish()),
            Arc::new(self.database_id.finish()),
            Arc::new(self.synced_at.finish()),
            Arc::new(self.run_id.finish()),
        ]
    }
}

/// The metadata columns every data-source table starts with.
pub fn meta_fields() -> Vec<Field> {
    MetaBuilders::fields()
}

/// The schema of a table for a registry entry: metadata columns, then active property columns
/// carrying their Notion identity in field metadata (`notion.property_id`, `notion.name`,
/// `notion.type`).
pub fn table_schema(entry: &TableEntry) -> SchemaRef {
    let mut fields = MetaBuilders::fields();
    for c in entry.active_columns() {
        if let Some(t) = arrow_type(&c.notion_type) {
            let meta = HashMap::from([
                ("notion.property_id".to_string(), c.property_id.clone()),
                ("notion.name".to_string(), c.name.clone()),
                ("notion.type".to_string(), c.notion_type.clone()),
            ]);
            fields.push(Field::new(&c.column, t, true).with_metadata(meta));
        }
    }
    Arc::new(Schema::new(fields))
}

impl TableBuilder {
    /// A builder for the active columns of `entry`.
    pub fn new(entry: &TableEntry, run: &RunInfo) -> TableBuilder {
        let mut columns = Vec::new();
        let mut builders = Vec::new();
        let mut warnings = BTreeSet::new();
        for c in entry.active_columns() {
            let (Some(data_type), Some(builder)) = (
                arrow_type(&c.notion_type),
                ColumnBuilder::for_type(&c.notion_type),
            ) else {
                continue;
            };
            if !is_known(&c.notion_type) {
                warnings.insert(format!(
                    "table {}: property {:?} has type {:?}, unknown to this version of notionlake; its values are kept as raw JSON text in column {}",
                    entry.table, c.name, c.notion_type, c.column
                ));
            }
            columns.push(PlannedColumn {
                property_id: c.property_id.clone(),
                column: c.column.clone(),
                notion_type: c.notion_type.clone(),
                data_type,
            });
            builders.push(builder);
        }
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.property_id.clone(), i))
            .collect();
        TableBuilder {
            table: entry.table.clone(),
            data_source_id: entry.data_source_id.clone(),
            schema: table_schema(entry),
            columns,
            index,
            builders,
            meta: MetaBuilders::new(),
            rich: RichTextBuilder::new(),
            rows: 0,
            run: run.clone(),
            warnings,
        }
    }

    /// The Arrow schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows appended since the last [`TableBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one page object (a row of this data source).
    pub fn append_page(&mut self, page: &Value) {
        let id = page
            .get("id")
            .and_then(Value::as_str)
            .map(normalize_id)
            .unwrap_or_default();
        let m = &mut self.meta;
        m.id.append_value(&id);
        m.url.append_option(page.get("url").and_then(Value::as_str));
        m.created_time.append_option(
            page.get("created_time")
                .and_then(Value::as_str)
                .and_then(parse_ts_micros),
        );
        m.last_edited_time.append_option(
            page.get("last_edited_time")
                .and_then(Value::as_str)
                .and_then(parse_ts_micros),
        );
        m.created_by
            .append_option(page.pointer("/created_by/id").and_then(Value::as_str));
        m.last_edited_by
            .append_option(page.pointer("/last_edited_by/id").and_then(Value::as_str));
        m.in_trash.append_value(crate::model::is_trashed(page));
        let parent = page.get("parent").map(Parent::from_json);
        let (ds, db) = match &parent {
            Some(Parent::DataSource { id, database_id }) => {
                (Some(id.as_str()), database_id.as_deref())
            }
            Some(Parent::Database { id }) => {
                (Some(self.data_source_id.as_str()), Some(id.as_str()))
            }
            _ => (Some(self.data_source_id.as_str()), None),
        };
        m.data_source_id.append_option(ds);
        m.database_id.append_option(db);
        m.synced_at.append_value(self.run.synced_at);
        m.run_id.append_value(&self.run.run_id);

        let mut slots: Vec<Option<&Value>> = vec![None; self.columns.len()];
        if let Some(props) = page.get("properties").and_then(Value::as_object) {
            for prop in props.values() {
                let Some(pid) = prop.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let Some(&i) = self.index.get(pid) else {
                    continue;
                };
                let kind = prop.get("type").and_then(Value::as_str).unwrap_or("");
                let col = &self.columns[i];
                if kind != col.notion_type {
                    self.warnings.insert(format!(
                        "table {}: column {} expects {:?} values but a row sent {:?}; stored as null (the schema changed during the sync; the next sync picks up the new type)",
                        self.table, col.column, col.notion_type, kind
                    ));
                    continue;
                }
                let value = prop.get(kind);
                if (kind == "title" || kind == "rich_text")
                    && let Some(items) = value.and_then(Value::as_array)
                {
                    self.rich.append_items(
                        &self.data_source_id,
                        &self.table,
                        &id,
                        pid,
                        &col.column,
                        items,
                        &self.run,
                    );
                }
                slots[i] = value;
            }
        }
        for (b, v) in self.builders.iter_mut().zip(slots) {
            b.append(v);
        }
        self.rows += 1;
    }

    /// Finishes the buffered rows: the table batch and the rich-text items batch.
    pub fn finish(&mut self) -> Result<(RecordBatch, RecordBatch), ArrowError> {
        let mut arrays = self.meta.finish();
        for (b, c) in self.builders.iter_mut().zip(&self.columns) {
            arrays.push(b.finish(&c.data_type));
        }
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        Ok((batch, self.rich.finish()?))
    }

    /// Warnings gathered so far (unknown types, rows that disagree with the schema), once each.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings).into_iter().collect()
    }
}

/// Builder of the `rich_text_items` side table.
struct RichTextBuilder {
    data_source_id: StringBuilder,
    table: StringBuilder,
    page_id: StringBuilder,
    property_id: StringBuilder,
    column: StringBuilder,
    index: Int32Builder,
    kind: StringBuilder,
    plain_text: StringBuilder,
    href: StringBuilder,
    flags: [BooleanBuilder; 5],
    color: StringBuilder,
    mention_type: StringBuilder,
    mention_id: StringBuilder,
    equation: StringBuilder,
    synced_at: TimestampMicrosecondBuilder,
    run_id: StringBuilder,
}

/// The schema of the `rich_text_items` side table.
pub fn rich_text_schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let b = |n: &str| Field::new(n, DataType::Boolean, true);
    Arc::new(Schema::new(vec![
        s("data_source_id"),
        s("table"),
        s("page_id"),
        s("property_id"),
        s("column"),
        Field::new("item_index", DataType::Int32, false),
        s("type"),
        s("plain_text"),
        s("href"),
        b("bold"),
        b("italic"),
        b("strikethrough"),
        b("underline"),
        b("code"),
        s("color"),
        s("mention_type"),
        s("mention_id"),
        s("equation"),
        Field::new("_synced_at", ts_type(), false),
        s("_run_id"),
    ]))
}

impl RichTextBuilder {
    fn new() -> Self {
        RichTextBuilder {
            data_source_id: StringBuilder::new(),
            table: StringBuilder::new(),
            page_id: StringBuilder::new(),
            property_id: StringBuilder::new(),
            column: StringBuilder::new(),
            index: Int32Builder::new(),
            kind: StringBuilder::new(),
            plain_text: StringBuilder::new(),
            href: StringBuilder::new(),
            flags: std::array::from_fn(|_| BooleanBuilder::new()),
            color: StringBuilder::new(),
            mention_type: StringBuilder::new(),
            mention_id: StringBuilder::new(),
            equation: StringBuilder::new(),
            synced_at: ts(),
            run_id: StringBuilder::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn append_items(
        &mut self,
        ds: &str,
        table: &str,
        page_id: &str,
        property_id: &str,
        column: &str,
        items: &[Value],
        run: &RunInfo,
    ) {
        for (i, item) in items.iter().enumerate() {
            self.data_source_id.append_value(ds);
            self.table.append_value(table);
            self.page_id.append_value(page_id);
            self.property_id.append_value(property_id);
            self.column.append_value(column);
            self.index.append_value(i as i32);
            let kind = item.get("type").and_then(Value::as_str);
            self.kind.append_option(kind);
            self.plain_text
                .append_option(item.get("plain_text").and_then(Value::as_str));
            self.href
                .append_option(item.get("href").and_then(Value::as_str));
            let ann = item.get("annotations");
            for (b, key) in
                self.flags
                    .iter_mut()
                    .zip(["bold", "italic", "strikethrough", "underline", "code"])
            {
                b.append_option(ann.and_then(|a| a.get(key)).and_then(Value::as_bool));
            }
            self.color
                .append_option(ann.and_then(|a| a.get("color")).and_then(Value::as_str));
            let mention = item.get("mention").filter(|_| kind == Some("mention"));
            let mtype = mention.and_then(|m| m.get("type")).and_then(Value::as_str);
            self.mention_type.append_option(mtype);
            let target = mention
                .zip(mtype)
                .and_then(|(m, t)| m.get(t))
                .and_then(|p| {
                    p.get("id")
                        .or_else(|| p.get("start"))
                        .or_else(|| p.get("url"))
                        .or_else(|| p.get("href"))
                        .and_then(Value::as_str)
                });
            self.mention_id.append_option(target);
            self.equation
                .append_option(item.pointer("/equation/expression").and_then(Value::as_str));
            self.synced_at.append_value(run.synced_at);
            self.run_id.append_value(&run.run_id);
        }
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(self.data_source_id.finish()),
            Arc::new(self.table.finish()),
            Arc::new(self.page_id.finish()),
            Arc::new(self.property_id.finish()),
            Arc::new(self.column.finish()),
            Arc::new(self.index.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.plain_text.finish()),
            Arc::new(self.href.finish()),
        ];
        arrays.extend(
            self.flags
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        arrays.push(Arc::new(self.color.finish()));
        arrays.push(Arc::new(self.mention_type.finish()));
        arrays.push(Arc::new(self.mention_id.finish()));
        arrays.push(Arc::new(self.equation.finish()));
        arrays.push(Arc::new(self.synced_at.finish()));
        arrays.push(Arc::new(self.run_id.finish()));
        RecordBatch::try_new(rich_text_schema(), arrays)
    }
}
