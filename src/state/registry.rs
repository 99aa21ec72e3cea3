//! The schema registry: for every data source, its table name and the mapping from Notion
//! property id to column. Column identity is the property id; the name is derived once and kept
//! (a renamed property keeps its column); added properties get new columns; a property whose type
//! changes gets a new column `<column>__<type>` and the old one is retired. Stored in the lake as
//! `_notionlake/registry.json`.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::flatten::fixed::own_tables;
use crate::flatten::mapping::PropertyType;
use crate::flatten::names::{
    NameStyle, allocate, allocate_numbered, first_free, numbered, snake_case, suffixed,
};
use crate::flatten::{ColumnLayout, TableLayout};
use crate::model::{DataSourceSchema, PropertySchema};
use crate::sink::PARTITION_COLUMN;

/// Where the registry lives in the lake; its presence is what makes a location a lake.
pub const REGISTRY_PATH: &str = "_notionlake/registry.json";

/// The suffix of the history table each table is registered under besides its latest view.
pub const HISTORY_SUFFIX: &str = "_history";

/// The prefix of a table whose title keeps no character (`untitled_1`).
const UNTITLED_TABLE: &str = "untitled";

/// Every name a new data-source table must avoid: the lake's own tables, the tables already
/// registered, and the `_history` names of both.
fn taken_table_names<'a>(tables: impl Iterator<Item = &'a str>) -> HashSet<String> {
    own_tables()
        .map(str::to_string)
        .chain(tables.map(str::to_string))
        .flat_map(|t| [format!("{t}{HISTORY_SUFFIX}"), t])
        .collect()
}

/// Every column name a property column must avoid: the metadata columns and the partition
/// column, in every table format.
pub fn reserved_columns() -> impl Iterator<Item = String> {
    crate::flatten::batch::meta_fields()
        .into_iter()
        .map(|f| f.name().clone())
        .chain([PARTITION_COLUMN.to_string()])
}

/// The naming style of a registry written before styles were recorded: ASCII, the only one then.
fn legacy_style() -> NameStyle {
    NameStyle::Ascii
}

/// One property column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnEntry {
    /// Notion property id (the column's identity).
    pub property_id: String,
    /// Column name in the lake.
    pub column: String,
    /// Notion property type when the column was created.
    pub notion_type: String,
    /// The property's current (or last seen) name.
    pub name: String,
    /// False once the property was removed or changed type.
    pub active: bool,
    /// Run that created the column.
    pub first_run: String,
    /// Last run that saw the property with this type.
    pub last_run: String,
}

/// One data source's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    /// Data source id (the database id under 2022-06-28).
    pub data_source_id: String,
    /// Containing database.
    pub database_id: Option<String>,
    /// Table name in the lake.
    pub table: String,
    /// Current title of the data source.
    pub title: String,
    /// Columns in creation order (retired ones included).
    pub columns: Vec<ColumnEntry>,
    /// The latest schema as Notion sent it (types and configuration, buttons included).
    pub properties: Vec<PropertySchema>,
}

impl TableEntry {
    /// Columns written by the current run.
    pub fn active_columns(&self) -> impl Iterator<Item = &ColumnEntry> {
        self.columns.iter().filter(|c| c.active)
    }

    /// The layout the current run writes the table with: its active columns.
    pub fn layout(&self) -> TableLayout {
        TableLayout {
            table: self.table.clone(),
            data_source_id: self.data_source_id.clone(),
            columns: self
                .active_columns()
                .map(|c| ColumnLayout {
                    column: c.column.clone(),
                    property_id: c.property_id.clone(),
                    name: c.name.clone(),
                    notion_type: PropertyType::parse(&c.notion_type),
                })
                .collect(),
        }
    }
}

/// A change between the stored schema and the one Notion sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum SchemaChange {
    /// A new table.
    NewTable {
        /// Table name.
        table: String,
    },
    /// A new property: a new column.
    Added {
        /// Column.
        column: String,
    },
    /// A property renamed in Notion; the column keeps its name.
    Renamed {
        /// Column.
        column: String,
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// A property gone from the schema; its column is retired (old files keep it).
    Removed {
        /// Column.
        column: String,
    },
    /// A property whose type changed: the old column is retired and a new one created.
    TypeChanged {
        /// Retired column.
        old_column: String,
        /// New column.
        new_column: String,
        /// Old type.
        from: String,
        /// New type.
        to: String,
    },
}

/// Every table of the lake.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Format version of this file.
    pub format: u32,
    /// How names were made in this lake; kept for the lake's whole life.
    #[serde(default = "legacy_style")]
    pub naming: NameStyle,
    /// Tables by data source id.
    pub tables: BTreeMap<String, TableEntry>,
}

impl Registry {
    /// Every table's latest schema, as the model describes a data source.
    pub fn schemas(&self) -> Vec<crate::model::DataSourceSchema> {
        self.tables
            .values()
            .map(|t| crate::model::DataSourceSchema {
                source: crate::model::DataSourceRef {
                    id: t.data_source_id.clone(),
                    database_id: t.database_id.clone(),
                },
                title: t.title.clone(),
                properties: t.properties.clone(),
            })
            .collect()
    }

    /// The name of a new table titled `title`: neither it nor its history name is one in use
    /// ("Deals History" next to "Deals", "Tombstones", "Pages").
    fn new_table_name(&self, title: &str) -> String {
        let taken = taken_table_names(self.tables.values().map(|t| t.table.as_str()));
        let free = |c: &str| !taken.contains(c) && !taken.contains(&format!("{c}{HISTORY_SUFFIX}"));
        let base = snake_case(title, self.naming);
        if base.is_empty() {
            first_free(numbered(UNTITLED_TABLE), free)
        } else {
            first_free(suffixed(&base), free)
        }
    }

    /// Brings a table's entry up to date with `schema` and returns it with the changes.
    pub fn plan(
        &mut self,
        schema: &DataSourceSchema,
        run_id: &str,
    ) -> (&TableEntry, Vec<SchemaChange>) {
        let mut changes = Vec::new();
        let id = schema.source.id.clone();
        if !self.tables.contains_key(&id) {
            let table = self.new_table_name(&schema.title);
            changes.push(SchemaChange::NewTable {
                table: table.clone(),
            });
            self.tables.insert(
                id.clone(),
                TableEntry {
                    data_source_id: id.clone(),
                    database_id: schema.source.database_id.clone(),
                    table,
                    title: schema.title.clone(),
                    columns: Vec::new(),
                    properties: Vec::new(),
                },
            );
        }
        let entry = self.tables.get_mut(&id).expect("inserted above");
        entry.title = schema.title.clone();
        entry.properties = schema.properties.clone();
        let mut taken: HashSet<String> = entry.columns.iter().map(|c| c.column.clone()).collect();
        taken.extend(reserved_columns());
        // Existing properties: rename, keep, or retire on a type change.
        let mut new_props: Vec<&PropertySchema> = Vec::new();
        for prop in schema
            .properties
            .iter()
            .filter(|p| PropertyType::parse(&p.kind).has_column())
        {
            match entry
                .columns
                .iter_mut()
                .find(|c| c.active && c.property_id == prop.id)
            {
                Some(col) if col.notion_type == prop.kind => {
                    if col.name != prop.name {
                        changes.push(SchemaChange::Renamed {
                            column: col.column.clone(),
                            from: col.name.clone(),
                            to: prop.name.clone(),
                        });
                        col.name = prop.name.clone();
                    }
                    col.last_run = run_id.to_string();
                }
                Some(col) => {
                    col.active = false;
                    let base = format!("{}__{}", col.column, snake_case(&prop.kind, self.naming));
                    let new_column = allocate(&base, &mut taken);
                    changes.push(SchemaChange::TypeChanged {
                        old_column: col.column.clone(),
                        new_column: new_column.clone(),
                        from: col.notion_type.clone(),
                        to: prop.kind.clone(),
                    });
                    entry.columns.push(ColumnEntry {
                        property_id: prop.id.clone(),
                        column: new_column,
                        notion_type: prop.kind.clone(),
                        name: prop.name.clone(),
                        active: true,
                        first_run: run_id.into(),
                        last_run: run_id.into(),
                    });
                }
                None => new_props.push(prop),
            }
        }
        // New properties, in property-id order so that colliding names resolve the same way
        // whatever order Notion lists them in.
        new_props.sort_by(|a, b| a.id.cmp(&b.id));
        for prop in new_props {
            let base = snake_case(&prop.name, self.naming);
            let column = if base.is_empty() {
                allocate_numbered(&snake_case(&prop.kind, NameStyle::Ascii), &mut taken)
            } else {
                allocate(&base, &mut taken)
            };
            changes.push(SchemaChange::Added {
                column: column.clone(),
            });
            entry.columns.push(ColumnEntry {
                property_id: prop.id.clone(),
                column,
                notion_type: prop.kind.clone(),
                name: prop.name.clone(),
                active: true,
                first_run: run_id.into(),
                last_run: run_id.into(),
            });
        }
        // Removed properties.
        let present: HashSet<&str> = schema.properties.iter().map(|p| p.id.as_str()).collect();
        for col in entry
            .columns
            .iter_mut()
            .filter(|c| c.active && !present.contains(c.property_id.as_str()))
        {
            col.active = false;
            changes.push(SchemaChange::Removed {
                column: col.column.clone(),
            });
        }
        (entry, changes)
    }

    /// The table entry of a data source.
    pub fn table(&self, data_source_id: &str) -> Option<&TableEntry> {
        self.tables.get(data_source_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DataSourceRef;
    use serde_json::json;

    fn schema(title: &str, props: &[(&str, &str, &str)]) -> DataSourceSchema {
        DataSourceSchema {
            source: DataSourceRef {
                id: "ds1".into(),
                database_id: Some("db1".into()),
            },
            title: title.into(),
            properties: props
                .iter()
                .map(|(id, name, kind)| PropertySchema {
                    id: id.to_string(),
                    name: name.to_string(),
                    kind: kind.to_string(),
                    config: json!({}),
                })
                .collect(),
        }
    }

    fn columns(e: &TableEntry) -> Vec<(String, String, bool)> {
        e.columns
            .iter()
            .map(|c| (c.property_id.clone(), c.column.clone(), c.active))
            .collect()
    }

    #[test]
    fn collisions_resolve_by_property_id_whatever_the_order() {
        let a = schema(
            "Tasks",
            &[
                ("title", "Name", "title"),
                ("b", "Due Date", "date"),
                ("a", "due_date", "date"),
                ("c", "Due-Date", "date"),
            ],
        );
        let b = schema(
            "Tasks",
            &[
                ("c", "Due-Date", "date"),
                ("title", "Name", "title"),
                ("a", "due_date", "date"),
                ("b", "Due Date", "date"),
            ],
        );
        let (mut r1, mut r2) = (Registry::default(), Registry::default());
        let c1 = columns(r1.plan(&a, "r1").0);
        let c2 = columns(r2.plan(&b, "r1").0);
        let sorted = |mut v: Vec<(String, String, bool)>| {
            v.sort();
            v
        };
        assert_eq!(sorted(c1.clone()), sorted(c2));
        assert!(c1.contains(&("a".into(), "due_date".into(), true)));
        assert!(c1.contains(&("b".into(), "due_date_2".into(), true)));
        assert!(c1.contains(&("c".into(), "due_date_3".into(), true)));
    }

    #[test]
    fn rename_add_remove_and_type_change() {
        let mut r = Registry::default();
        r.plan(
            &schema(
                "Deals",
                &[
                    ("title", "Name", "title"),
                    ("x", "Amount", "number"),
                    ("y", "Stage", "select"),
                    ("z", "Button", "button"),
                ],
            ),
            "r1",
        );
        let (entry, changes) = r.plan(
            &schema(
                "Deals renamed",
                &[
                    ("title", "Name", "title"),
                    ("x", "Deal value", "number"),
                    ("y", "Stage", "status"),
                    ("w", "Region", "select"),
                ],
            ),
            "r2",
        );
        assert_eq!(
            entry.table, "deals",
            "a renamed data source keeps its table"
        );
        assert_eq!(
            entry
                .columns
                .iter()
                .find(|c| c.property_id == "x")
                .unwrap()
                .column,
            "amount",
            "a renamed property keeps its column"
        );
        let stage: Vec<_> = entry
            .columns
            .iter()
            .filter(|c| c.property_id == "y")
            .map(|c| (c.column.as_str(), c.active))
            .collect();
        assert_eq!(stage, [("stage", false), ("stage__status", true)]);
        assert!(
            entry.columns.iter().all(|c| c.notion_type != "button"),
            "buttons have no column"
        );
        assert!(changes.contains(&SchemaChange::Added {
            column: "region".into()
        }));
        assert!(changes.contains(&SchemaChange::Renamed {
            column: "amount".into(),
            from: "Amount".into(),
            to: "Deal value".into()
        }));
        let (entry, changes) = r.plan(
            &schema(
                "Deals",
                &[("title", "Name", "title"), ("y", "Stage", "status")],
            ),
            "r3",
        );
        assert!(changes.contains(&SchemaChange::Removed {
            column: "amount".into()
        }));
        assert!(
            !entry
                .columns
                .iter()
                .find(|c| c.property_id == "x")
                .unwrap()
                .active
        );
        // A property that comes back gets a fresh column; the retired name is not reused.
        let (entry, _) = r.plan(
            &schema(
                "Deals",
                &[("title", "Name", "title"), ("q", "Amount", "number")],
            ),
            "r4",
        );
        assert_eq!(
            entry
                .columns
                .iter()
                .find(|c| c.property_id == "q")
                .unwrap()
                .column,
            "amount_2"
        );
    }

    #[test]
    fn table_names_avoid_fixed_tables_and_each_other() {
        let mut r = Registry::default();
        let mut s = schema("Pages", &[("title", "Name", "title")]);
        assert_eq!(r.plan(&s, "r").0.table, "pages_2");
        s.source.id = "ds2".into();
        s.title = "pages 2".into();
        assert_eq!(r.plan(&s, "r").0.table, "pages_2_2");
    }
}
