//! Rows → Arrow: a [`TableBuilder`] takes page objects of one data source (as Notion sends them)
//! and produces a `RecordBatch` with the metadata columns and one column per active property of
//! the registry entry, plus the `rich_text_items` side table (one row per rich-text item of every
//! title and rich_text value: formatting, links and mentions, queryable). Pure: no I/O.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use serde_json::Value;

use super::columns::ColumnBuilder;
use super::mapping::{PropertyType, ts_type};
use super::reuse::FinishReserving;
use super::values::{field, key_eq, parse_ts_micros, pick};
use crate::model::normalize_id_cow;

/// The run a row was extracted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// Run id.
    pub run_id: String,
    /// Sync instant, µs since the epoch (UTC).
    pub synced_at: i64,
}

impl RunInfo {
    /// The `_synced_at` column of a batch of `rows` rows.
    pub(crate) fn synced_at_column(&self, rows: usize) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_value(self.synced_at, rows).with_timezone("UTC"))
    }
}

struct PlannedColumn {
    property_id: String,
    column: String,
    /// The Notion type's name, compared with each value's `type` key.
    notion_type: String,
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
    /// Per column, the stamp of the last row that set it (the rest get a null).
    filled: Vec<u64>,
    /// Row counter the `filled` stamps compare against.
    stamp: u64,
    /// Per property position in a row, the column it mapped to last time.
    hints: Vec<Option<usize>>,
    /// The last canonical parent data source and database ids: rows of a table share them, so
    /// an equal id skips the canonical-form check.
    parent_ids: [String; 2],
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

    /// The columns of the batch's `rows` rows; `_synced_at` and `_run_id`, constant within a
    /// run, are written here rather than row by row.
    fn finish(&mut self, rows: usize, run: &RunInfo) -> Vec<ArrayRef> {
        vec![
            self.id.finish_reserving(),
            self.url.finish_reserving(),
            self.created_time.finish_reserving(),
            self.last_edited_time.finish_reserving(),
            self.created_by.finish_reserving(),
            self.last_edited_by.finish_reserving(),
            self.in_trash.finish_reserving(),
            self.data_source_id.finish_reserving(),
            self.database_id.finish_reserving(),
            run.synced_at_column(rows),
            repeated(&run.run_id, rows),
        ]
    }
}

/// The metadata columns every data-source table starts with.
pub fn meta_fields() -> Vec<Field> {
    MetaBuilders::fields()
}

/// What flattening needs to know of a data-source table: its name, its data source and its
/// property columns (the schema registry decides them).
#[derive(Debug, Clone, PartialEq)]
pub struct TableLayout {
    /// Table name in the lake.
    pub table: String,
    /// The data source whose rows it holds.
    pub data_source_id: String,
    /// The property columns written, in order.
    pub columns: Vec<ColumnLayout>,
}

/// One property column of a [`TableLayout`].
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnLayout {
    /// Column name.
    pub column: String,
    /// Notion property id (the column's identity).
    pub property_id: String,
    /// The property's name.
    pub name: String,
    /// The property's Notion type.
    pub notion_type: PropertyType,
}

/// The schema of a table: metadata columns, then its property columns carrying their Notion
/// identity in field metadata (`notion.property_id`, `notion.name`, `notion.type`).
pub fn table_schema(layout: &TableLayout) -> SchemaRef {
    let mut fields = MetaBuilders::fields();
    for c in &layout.columns {
        if let Some(t) = c.notion_type.arrow_type() {
            let meta = HashMap::from([
                ("notion.property_id".to_string(), c.property_id.clone()),
                ("notion.name".to_string(), c.name.clone()),
                ("notion.type".to_string(), c.notion_type.name().to_string()),
            ]);
            fields.push(Field::new(&c.column, t, true).with_metadata(meta));
        }
    }
    Arc::new(Schema::new(fields))
}

impl TableBuilder {
    /// A builder for the columns of `entry`.
    pub fn new(entry: &TableLayout, run: &RunInfo) -> TableBuilder {
        let mut columns = Vec::new();
        let mut builders = Vec::new();
        let mut warnings = BTreeSet::new();
        for c in &entry.columns {
            let Some(builder) = c.notion_type.builder() else {
                continue;
            };
            if !c.notion_type.is_known() {
                warnings.insert(format!(
                    "table {}: property {:?} has type {:?}, unknown to this version of notionlake; its values are kept as raw JSON text in column {}",
                    entry.table, c.name, c.notion_type, c.column
                ));
            }
            columns.push(PlannedColumn {
                property_id: c.property_id.clone(),
                column: c.column.clone(),
                notion_type: c.notion_type.name().to_string(),
            });
            builders.push(builder);
        }
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.property_id.clone(), i))
            .collect();
        let n = columns.len();
        TableBuilder {
            table: entry.table.clone(),
            data_source_id: entry.data_source_id.clone(),
            schema: table_schema(entry),
            columns,
            index,
            builders,
            meta: MetaBuilders::new(),
            rich: RichTextBuilder::new(&entry.data_source_id, &entry.table, run),
            rows: 0,
            run: run.clone(),
            warnings,
            filled: vec![0; n],
            stamp: 0,
            hints: Vec::new(),
            parent_ids: [entry.data_source_id.clone(), entry.data_source_id.clone()],
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
    ///
    /// This is the hot path of a sync: every object is read in one pass over its entries, each
    /// value is appended straight into its column builder, and nothing is allocated per row when
    /// ids are canonical.
    pub fn append_page(&mut self, page: &Value) {
        let [
            id,
            url,
            created,
            edited,
            created_by,
            edited_by,
            parent,
            props,
            in_trash,
            archived,
        ] = pick(
            page,
            [
                "id",
                "url",
                "created_time",
                "last_edited_time",
                "created_by",
                "last_edited_by",
                "parent",
                "properties",
                "in_trash",
                "archived",
            ],
        );
        let id = id
            .and_then(Value::as_str)
            .map(normalize_id_cow)
            .unwrap_or_default();
        let m = &mut self.meta;
        m.id.append_value(&id);
        m.url.append_option(url.and_then(Value::as_str));
        m.created_time
            .append_option(created.and_then(Value::as_str).and_then(parse_ts_micros));
        m.last_edited_time
            .append_option(edited.and_then(Value::as_str).and_then(parse_ts_micros));
        m.created_by.append_option(user_id(created_by));
        m.last_edited_by.append_option(user_id(edited_by));
        m.in_trash
            .append_value(crate::model::trash_flags(in_trash, archived));
        // The row's data source and database, as `Parent::from_json` reads them, but borrowed:
        // this runs once per row, and `Parent` owns its ids.
        let [ptype, p_ds, p_db] = parent.map_or([None; 3], |p| {
            pick(p, ["type", "data_source_id", "database_id"])
        });
        let [last_ds, last_db] = &mut self.parent_ids;
        let (ds, db) = match ptype.and_then(Value::as_str) {
            Some("data_source_id") if p_ds.is_some_and(Value::is_string) => {
                (norm_known(p_ds, last_ds), norm_known(p_db, last_db))
            }
            Some("database_id") if p_db.is_some_and(Value::is_string) => (
                Some(Cow::Borrowed(self.data_source_id.as_str())),
                norm_known(p_db, last_db),
            ),
            _ => (Some(Cow::Borrowed(self.data_source_id.as_str())), None),
        };
        m.data_source_id.append_option(ds);
        m.database_id.append_option(db);

        self.stamp = self.stamp.wrapping_add(1);
        if let Some(Value::Object(props)) = props {
            for (ordinal, prop) in props.values().enumerate() {
                let Value::Object(fields) = prop else {
                    continue;
                };
                let (mut pid, mut kind, mut payload) = (None, None, None);
                for (k, v) in fields {
                    if key_eq(k, "id") {
                        pid = v.as_str();
                    } else if key_eq(k, "type") {
                        kind = v.as_str();
                    } else {
                        payload = Some((k.as_str(), v));
                    }
                }
                let Some(pid) = pid else {
                    continue;
                };
                let Some(i) = self.column_of(ordinal, pid) else {
                    continue;
                };
                if self.filled[i] == self.stamp {
                    continue;
                }
                let kind = kind.unwrap_or("");
                let col = &self.columns[i];
                if !key_eq(kind, &col.notion_type) {
                    self.warnings.insert(format!(
                        "table {}: column {} expects {:?} values but a row sent {:?}; stored as null (the schema changed during the sync; the next sync picks up the new type)",
                        self.table, col.column, col.notion_type, kind
                    ));
                    continue;
                }
                // The payload sits under the type key; objects with more keys are looked up.
                let value = match payload {
                    Some((k, v)) if key_eq(k, kind) && fields.len() <= 3 => Some(v),
                    _ => field(prop, kind),
                };
                if (kind == "title" || kind == "rich_text")
                    && let Some(items) = value.and_then(Value::as_array)
                {
                    self.rich.append_items(&id, pid, &col.column, items);
                }
                self.builders[i].append(value);
                self.filled[i] = self.stamp;
            }
        }
        for (b, filled) in self.builders.iter_mut().zip(&self.filled) {
            if *filled != self.stamp {
                b.append(None);
            }
        }
        self.rows += 1;
    }

    /// The column of the property `pid`, the `ordinal`-th of its row. Rows list their properties
    /// in the same order, so the column found at the same ordinal last time is tried first.
    fn column_of(&mut self, ordinal: usize, pid: &str) -> Option<usize> {
        if let Some(&Some(i)) = self.hints.get(ordinal)
            && key_eq(&self.columns[i].property_id, pid)
        {
            return Some(i);
        }
        let i = self.index.get(pid).copied();
        if ordinal >= self.hints.len() {
            self.hints.resize(ordinal + 1, None);
        }
        self.hints[ordinal] = i;
        i
    }

    /// Finishes the buffered rows: the table batch and the rich-text items batch.
    pub fn finish(&mut self) -> Result<(RecordBatch, RecordBatch), ArrowError> {
        let mut arrays = self.meta.finish(self.rows, &self.run);
        arrays.extend(self.builders.iter_mut().map(ColumnBuilder::finish));
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        Ok((batch, self.rich.finish()?))
    }

    /// Warnings gathered so far (unknown types, rows that disagree with the schema), once each.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings).into_iter().collect()
    }
}

/// The `id` of a user object.
fn user_id(v: Option<&Value>) -> Option<&str> {
    v.and_then(|x| field(x, "id")).and_then(Value::as_str)
}

/// A text column of `n` rows holding `v` (values constant within a batch, written at finish).
fn repeated(v: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
}

/// A normalised id, as [`normalize_id_cow`] gives it; an id equal to `last`, the last canonical
/// id of its kind, is canonical without a check. A new canonical id becomes `last`.
fn norm_known<'a>(v: Option<&'a Value>, last: &mut String) -> Option<Cow<'a, str>> {
    let id = v.and_then(Value::as_str)?;
    if key_eq(id, last) {
        return Some(Cow::Borrowed(id));
    }
    let n = normalize_id_cow(id);
    if matches!(n, Cow::Borrowed(_)) {
        id.clone_into(last);
    }
    Some(n)
}

/// Builder of the `rich_text_items` side table.
struct RichTextBuilder {
    /// Constant per table: written once per batch at finish.
    data_source_id: String,
    table: String,
    run: RunInfo,
    schema: SchemaRef,
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

/// True when a rich-text value is a single unformatted text item (no link, default
/// annotations) whose text is its plain text: the value's column then says all of it, and the
/// value gets no `rich_text_items` rows. Any other key or value keeps the items.
fn is_plain_text(items: &[Value]) -> bool {
    let [Value::Object(item)] = items else {
        return false;
    };
    let (mut content, mut plain) = (None, None);
    for (k, v) in item {
        let ok = match k.as_str() {
            "type" => v.as_str() == Some("text"),
            "href" => v.is_null(),
            "plain_text" => {
                plain = v.as_str();
                plain.is_some()
            }
            "text" => v.as_object().is_some_and(|t| {
                t.iter().all(|(k, v)| match k.as_str() {
                    "content" => {
                        content = v.as_str();
                        content.is_some()
                    }
                    "link" => v.is_null(),
                    _ => false,
                })
            }),
            "annotations" => v.as_object().is_some_and(|a| {
                a.iter().all(|(k, v)| match k.as_str() {
                    "color" => v.as_str() == Some("default"),
                    _ => v.as_bool() == Some(false),
                })
            }),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    content.is_some() && content == plain
}

impl RichTextBuilder {
    fn new(data_source_id: &str, table: &str, run: &RunInfo) -> Self {
        RichTextBuilder {
            data_source_id: data_source_id.to_string(),
            table: table.to_string(),
            run: run.clone(),
            schema: rich_text_schema(),
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
        }
    }

    fn append_items(&mut self, page_id: &str, property_id: &str, column: &str, items: &[Value]) {
        if is_plain_text(items) {
            return;
        }
        for (i, item) in items.iter().enumerate() {
            self.page_id.append_value(page_id);
            self.property_id.append_value(property_id);
            self.column.append_value(column);
            self.index.append_value(i as i32);
            let [kind, plain, href, ann, mention, equation] = pick(
                item,
                [
                    "type",
                    "plain_text",
                    "href",
                    "annotations",
                    "mention",
                    "equation",
                ],
            );
            let kind = kind.and_then(Value::as_str);
            self.kind.append_option(kind);
            self.plain_text.append_option(plain.and_then(Value::as_str));
            self.href.append_option(href.and_then(Value::as_str));
            let [bold, italic, strike, underline, code, color] = ann.map_or([None; 6], |a| {
                pick(
                    a,
                    [
                        "bold",
                        "italic",
                        "strikethrough",
                        "underline",
                        "code",
                        "color",
                    ],
                )
            });
            for (b, flag) in self
                .flags
                .iter_mut()
                .zip([bold, italic, strike, underline, code])
            {
                b.append_option(flag.and_then(Value::as_bool));
            }
            self.color.append_option(color.and_then(Value::as_str));
            let mention = mention.filter(|_| kind == Some("mention"));
            let mtype = mention
                .and_then(|m| field(m, "type"))
                .and_then(Value::as_str);
            self.mention_type.append_option(mtype);
            let target = mention
                .zip(mtype)
                .and_then(|(m, t)| field(m, t))
                .and_then(|p| {
                    let [id, start, url, href] = pick(p, ["id", "start", "url", "href"]);
                    id.or(start).or(url).or(href).and_then(Value::as_str)
                });
            self.mention_id.append_option(target);
            self.equation.append_option(
                equation
                    .and_then(|e| field(e, "expression"))
                    .and_then(Value::as_str),
            );
        }
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let n = arrow::array::ArrayBuilder::len(&self.index);
        let mut arrays: Vec<ArrayRef> = vec![
            repeated(&self.data_source_id, n),
            repeated(&self.table, n),
            self.page_id.finish_reserving(),
            self.property_id.finish_reserving(),
            self.column.finish_reserving(),
            self.index.finish_reserving(),
            self.kind.finish_reserving(),
            self.plain_text.finish_reserving(),
            self.href.finish_reserving(),
        ];
        arrays.extend(
            self.flags
                .iter_mut()
                .map(|b| b.finish_reserving() as ArrayRef),
        );
        arrays.push(self.color.finish_reserving());
        arrays.push(self.mention_type.finish_reserving());
        arrays.push(self.mention_id.finish_reserving());
        arrays.push(self.equation.finish_reserving());
        arrays.push(self.run.synced_at_column(n));
        arrays.push(repeated(&self.run.run_id, n));
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The layout of a data source object: a column per property of a known type, named by
    /// its snake-cased name.
    fn entry_of(data_source: Value) -> TableLayout {
        let schema = crate::model::DataSourceSchema::from_object(&data_source).unwrap();
        TableLayout {
            table: "t".into(),
            data_source_id: schema.source.id.clone(),
            columns: schema
                .properties
                .iter()
                .filter(|p| PropertyType::parse(&p.kind).has_column())
                .map(|p| ColumnLayout {
                    column: crate::flatten::names::snake_case(
                        &p.name,
                        crate::flatten::names::NameStyle::Unicode,
                    ),
                    property_id: p.id.clone(),
                    name: p.name.clone(),
                    notion_type: PropertyType::parse(&p.kind),
                })
                .collect(),
        }
    }

    /// `_synced_at` and `_run_id` are written at finish: every row of every batch carries the
    /// run's values, and the other columns keep their rows.
    #[test]
    fn run_columns_are_constant_in_every_batch() {
        use arrow::array::{AsArray, TimestampMicrosecondArray};
        let entry = entry_of(json!({
            "object": "data_source", "id": "846dab72-0000-0000-0000-0000000000d5",
            "properties": {"Name": {"id": "title", "name": "Name", "type": "title", "title": {}}},
        }));
        let run = RunInfo {
            run_id: "run-7".into(),
            synced_at: 1_700_000_000_000_000,
        };
        let mut b = TableBuilder::new(&entry, &run);
        for batch_rows in [3usize, 1] {
            for i in 0..batch_rows {
                b.append_page(&json!({
                    "object": "page", "id": format!("846dab72-0000-0000-0000-00000000000{i}"),
                    "properties": {"Name": {"id": "title", "type": "title", "title": []}},
                }));
            }
            let (t, _) = b.finish().unwrap();
            assert_eq!(t.num_rows(), batch_rows);
            let run_ids = t.column_by_name("_run_id").unwrap().as_string::<i32>();
            assert!(run_ids.iter().all(|r| r == Some("run-7")));
            let synced = t.column_by_name("_synced_at").unwrap();
            let synced = synced
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            assert!(synced.iter().all(|s| s == Some(run.synced_at)));
            let ids = t.column_by_name("_id").unwrap().as_string::<i32>();
            assert_eq!(
                ids.value(batch_rows - 1),
                format!("846dab72-0000-0000-0000-00000000000{}", batch_rows - 1)
            );
        }
    }

    /// Parent ids are normalised whatever form each row sends, also after rows whose ids were
    /// canonical (the last canonical id skips the check, an equal-looking variant must not).
    #[test]
    fn parent_ids_are_normalised_row_by_row() {
        use arrow::array::AsArray;
        let ds_id = "846dab72-0000-0000-0000-0000000000d5";
        let entry = entry_of(json!({"object": "data_source", "id": ds_id, "properties": {}}));
        let run = RunInfo {
            run_id: "r1".into(),
            synced_at: 0,
        };
        let db = "846dab72-0000-0000-0000-0000000000db";
        let parents = [
            (ds_id.to_string(), db.to_string()),
            (ds_id.to_uppercase(), db.replace('-', "")),
            (ds_id.to_string(), db.to_string()),
            (ds_id.replace('-', ""), db.to_uppercase()),
        ];
        let mut b = TableBuilder::new(&entry, &run);
        for (i, (p_ds, p_db)) in parents.iter().enumerate() {
            b.append_page(&json!({
                "object": "page", "id": format!("846dab72-0000-0000-0000-00000000000{i}"),
                "parent": {"type": "data_source_id", "data_source_id": p_ds, "database_id": p_db},
                "properties": {},
            }));
        }
        let (t, _) = b.finish().unwrap();
        let col = |n: &str| t.column_by_name(n).unwrap().as_string::<i32>().clone();
        assert!(col("_data_source_id").iter().all(|x| x == Some(ds_id)));
        assert!(col("_database_id").iter().all(|x| x == Some(db)));
    }

    #[test]
    fn only_a_single_unformatted_text_item_is_plain() {
        use crate::fake::workspace::{bold, link, mention_user, rt};
        let plain = rt("Acme");
        assert!(is_plain_text(std::slice::from_ref(&plain)));
        assert!(!is_plain_text(&[]));
        assert!(
            !is_plain_text(&[rt("Ac"), rt("me")]),
            "item boundaries are kept"
        );
        assert!(!is_plain_text(&[bold("Acme")]));
        assert!(!is_plain_text(&[link("Acme", "https://acme.example")]));
        assert!(!is_plain_text(&[mention_user("u1", "Ada")]));
        let variants = [
            ("/annotations/color", json!("red")),
            ("/annotations/underline", json!(true)),
            ("/href", json!("https://acme.example")),
            ("/plain_text", json!("Acme!")),
            ("/text/link", json!({"url": "https://acme.example"})),
            ("/text/extra", json!(1)),
            ("/unknown", json!(null)),
            ("/type", json!("equation")),
        ];
        for (path, v) in variants {
            let mut item = plain.clone();
            let (parent, key) = path.rsplit_once('/').unwrap();
            item.pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .unwrap()
                .insert(key.to_string(), v);
            assert!(!is_plain_text(&[item]), "{path}");
        }
    }
}
