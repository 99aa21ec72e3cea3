//! The per-property-type column mapping: which Arrow type each Notion property type becomes.
//! This table is the single source of truth; `schemas/property-types.md` documents it and a test
//! checks that the two agree.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

/// A UTC timestamp with microsecond precision.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn list_of(field: Field) -> DataType {
    DataType::List(Arc::new(field))
}

/// Fields of a date value (also used inside formulas, rollups and verification).
pub fn date_fields() -> Fields {
    Fields::from(vec![
        Field::new("start", ts_type(), true),
        Field::new("end", ts_type(), true),
        Field::new("has_time", DataType::Boolean, true),
        utf8("time_zone"),
        utf8("start_text"),
        utf8("end_text"),
    ])
}

/// How one Notion property type is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// The Notion property type.
    pub notion_type: &'static str,
    /// One line on what the column holds.
    pub note: &'static str,
}

/// Every property type Notion documents, in the order of Notion's reference.
pub const MAPPINGS: &[Mapping] = &[
    Mapping {
        notion_type: "title",
        note: "plain text of all items; formatting, links and mentions in `rich_text_items`",
    },
    Mapping {
        notion_type: "rich_text",
        note: "plain text of all items; formatting, links and mentions in `rich_text_items`",
    },
    Mapping {
        notion_type: "number",
        note: "every number as float64",
    },
    Mapping {
        notion_type: "select",
        note: "option name; option ids and colours are in the schema registry",
    },
    Mapping {
        notion_type: "multi_select",
        note: "option names, in order",
    },
    Mapping {
        notion_type: "status",
        note: "option name",
    },
    Mapping {
        notion_type: "date",
        note: "start/end as UTC instants (dates at 00:00 UTC), has_time false for date-only values, time_zone, and the original text",
    },
    Mapping {
        notion_type: "people",
        note: "users and groups: id, name (when shared), kind (person, bot, group)",
    },
    Mapping {
        notion_type: "files",
        note: "name, kind (file, external), url, expiry_time of Notion-hosted files",
    },
    Mapping {
        notion_type: "checkbox",
        note: "never null",
    },
    Mapping {
        notion_type: "url",
        note: "",
    },
    Mapping {
        notion_type: "email",
        note: "",
    },
    Mapping {
        notion_type: "phone_number",
        note: "",
    },
    Mapping {
        notion_type: "formula",
        note: "result type and one field per result type; the others are null",
    },
    Mapping {
        notion_type: "relation",
        note: "related page ids, complete (values truncated at 25 are completed)",
    },
    Mapping {
        notion_type: "rollup",
        note: "result type and function; number, date, or array (items as text, NULL for an empty item; as JSON with each item's type); over all related pages, also past 25",
    },
    Mapping {
        notion_type: "created_time",
        note: "",
    },
    Mapping {
        notion_type: "created_by",
        note: "user id",
    },
    Mapping {
        notion_type: "last_edited_time",
        note: "",
    },
    Mapping {
        notion_type: "last_edited_by",
        note: "user id",
    },
    Mapping {
        notion_type: "unique_id",
        note: "prefix, number, and the display text `PREFIX-123`",
    },
    Mapping {
        notion_type: "verification",
        note: "state, verifier's user id, validity window",
    },
    Mapping {
        notion_type: "button",
        note: "no value: no column (the property is listed in the schema registry)",
    },
    Mapping {
        notion_type: "place",
        note: "coordinates, name, address and place ids",
    },
];

/// The Arrow type of a property type's column; `None` for types without a value (button).
/// Unknown types are stored as their raw JSON text.
pub fn arrow_type(notion_type: &str) -> Option<DataType> {
    Some(match notion_type {
        "title" | "rich_text" | "select" | "status" | "url" | "email" | "phone_number"
        | "created_by" | "last_edited_by" => DataType::Utf8,
        "number" => DataType::Float64,
        "checkbox" => DataType::Boolean,
        "created_time" | "last_edited_time" => ts_type(),
        "multi_select" | "relation" => list_of(utf8("item")),
        "date" => DataType::Struct(date_fields()),
        "people" => list_of(Field::new(
            "item",
            DataType::Struct(Fields::from(vec![utf8("id"), utf8("name"), utf8("kind")])),
            true,
        )),
        "files" => list_of(Field::new(
            "item",
            DataType::Struct(Fields::from(vec![
                utf8("name"),
                utf8("kind"),
                utf8("url"),
                Field::new("expiry_time", ts_type(), true),
            ])),
            true,
        )),
        "formula" => DataType::Struct(Fields::from(vec![
            utf8("type"),
            utf8("string"),
            Field::new("number", DataType::Float64, true),
            Field::new("boolean", DataType::Boolean, true),
            Field::new("date", DataType::Struct(date_fields()), true),
        ])),
        "rollup" => DataType::Struct(Fields::from(vec![
            utf8("type"),
            utf8("function"),
            Field::new("number", DataType::Float64, true),
            Field::new("date", DataType::Struct(date_fields()), true),
            Field::new("array", list_of(utf8("item")), true),
            utf8("array_json"),
        ])),
        "unique_id" => DataType::Struct(Fields::from(vec![
            utf8("prefix"),
            Field::new("number", DataType::Int64, true),
            utf8("text"),
        ])),
        "verification" => DataType::Struct(Fields::from(vec![
            utf8("state"),
            utf8("verified_by"),
            Field::new("date", DataType::Struct(date_fields()), true),
        ])),
        "place" => DataType::Struct(Fields::from(vec![
            Field::new("lat", DataType::Float64, true),
            Field::new("lon", DataType::Float64, true),
            utf8("name"),
            utf8("address"),
            utf8("aws_place_id"),
            utf8("google_place_id"),
        ])),
        "button" => return None,
        _ => DataType::Utf8,
    })
}

/// True for the property types Notion documents (everything else is stored as raw JSON).
pub fn is_known(notion_type: &str) -> bool {
    MAPPINGS.iter().any(|m| m.notion_type == notion_type)
}

/// A compact, pyarrow-like rendering of an Arrow type, used in `schemas/` and `\d`.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::Float64 => "float64".into(),
        DataType::Int64 => "int64".into(),
        DataType::Int32 => "int32".into(),
        DataType::Boolean => "bool".into(),
        DataType::Date32 => "date32".into(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => format!("timestamp[us, {tz}]"),
        DataType::List(f) => format!("list<{}>", type_name(f.data_type())),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the tables of `schemas/property-types.md` (`| name | arrow type | … |`): the
    /// property-type table before the "Metadata columns" heading, the metadata table after it.
    fn documented(metadata: bool) -> Vec<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/property-types.md");
        let text = std::fs::read_to_string(path).expect("schemas/property-types.md exists");
        let split = text
            .find("## Metadata columns")
            .expect("a metadata section");
        let part = if metadata {
            &text[split..]
        } else {
            &text[..split]
        };
        part.lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_string(),
                    cells[2].trim_matches('`').to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn code_and_schemas_doc_agree() {
        let doc = documented(false);
        let code: Vec<(String, String)> = MAPPINGS
            .iter()
            .map(|m| {
                let t =
                    arrow_type(m.notion_type).map_or("(no column)".to_string(), |t| type_name(&t));
                (m.notion_type.to_string(), t)
            })
            .collect();
        assert_eq!(
            doc, code,
            "schemas/property-types.md and src/flatten/mapping.rs disagree"
        );
    }

    #[test]
    fn metadata_columns_match_the_doc() {
        let code: Vec<(String, String)> = crate::flatten::batch::meta_fields()
            .iter()
            .map(|f| (f.name().clone(), type_name(f.data_type())))
            .collect();
        assert_eq!(documented(true), code);
    }

    #[test]
    fn unknown_types_are_raw_json_text() {
        assert_eq!(arrow_type("location"), Some(DataType::Utf8));
        assert!(!is_known("location"));
        assert!(is_known("place"));
    }
}
