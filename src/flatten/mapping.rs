//! The per-property-type column mapping: which Arrow type each Notion property type becomes.
//! [`PropertyType`] is the single source of truth; `schemas/property-types.md` documents it and a test
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

/// A Notion property type: the one place that says how each type is stored — its Arrow
/// type ([`PropertyType::arrow_type`]), its column builder
/// ([`PropertyType::builder`]) and its row in `schemas/property-types.md`
/// ([`PropertyType::note`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// `title`.
    Title,
    /// `rich_text`.
    RichText,
    /// `number`.
    Number,
    /// `select`.
    Select,
    /// `multi_select`.
    MultiSelect,
    /// `status`.
    Status,
    /// `date`.
    Date,
    /// `people`.
    People,
    /// `files`.
    Files,
    /// `checkbox`.
    Checkbox,
    /// `url`.
    Url,
    /// `email`.
    Email,
    /// `phone_number`.
    PhoneNumber,
    /// `formula`.
    Formula,
    /// `relation`.
    Relation,
    /// `rollup`.
    Rollup,
    /// `created_time`.
    CreatedTime,
    /// `created_by`.
    CreatedBy,
    /// `last_edited_time`.
    LastEditedTime,
    /// `last_edited_by`.
    LastEditedBy,
    /// `unique_id`.
    UniqueId,
    /// `verification`.
    Verification,
    /// `button`.
    Button,
    /// `place`.
    Place,
    /// A type this mapping does not know (Notion added it later): stored as its raw JSON text.
    Other(String),
}

impl PropertyType {
    /// Every property type Notion documents, in the order of Notion's reference.
    pub const ALL: [PropertyType; 24] = [
        PropertyType::Title,
        PropertyType::RichText,
        PropertyType::Number,
        PropertyType::Select,
        PropertyType::MultiSelect,
        PropertyType::Status,
        PropertyType::Date,
        PropertyType::People,
        PropertyType::Files,
        PropertyType::Checkbox,
        PropertyType::Url,
        PropertyType::Email,
        PropertyType::PhoneNumber,
        PropertyType::Formula,
        PropertyType::Relation,
        PropertyType::Rollup,
        PropertyType::CreatedTime,
        PropertyType::CreatedBy,
        PropertyType::LastEditedTime,
        PropertyType::LastEditedBy,
        PropertyType::UniqueId,
        PropertyType::Verification,
        PropertyType::Button,
        PropertyType::Place,
    ];

    /// The type of a property's `type` field.
    pub fn parse(notion_type: &str) -> PropertyType {
        match notion_type {
            "title" => PropertyType::Title,
            "rich_text" => PropertyType::RichText,
            "number" => PropertyType::Number,
            "select" => PropertyType::Select,
            "multi_select" => PropertyType::MultiSelect,
            "status" => PropertyType::Status,
            "date" => PropertyType::Date,
            "people" => PropertyType::People,
            "files" => PropertyType::Files,
            "checkbox" => PropertyType::Checkbox,
            "url" => PropertyType::Url,
            "email" => PropertyType::Email,
            "phone_number" => PropertyType::PhoneNumber,
            "formula" => PropertyType::Formula,
            "relation" => PropertyType::Relation,
            "rollup" => PropertyType::Rollup,
            "created_time" => PropertyType::CreatedTime,
            "created_by" => PropertyType::CreatedBy,
            "last_edited_time" => PropertyType::LastEditedTime,
            "last_edited_by" => PropertyType::LastEditedBy,
            "unique_id" => PropertyType::UniqueId,
            "verification" => PropertyType::Verification,
            "button" => PropertyType::Button,
            "place" => PropertyType::Place,
            other => PropertyType::Other(other.to_string()),
        }
    }

    /// The name Notion gives the type.
    pub fn name(&self) -> &str {
        match self {
            PropertyType::Title => "title",
            PropertyType::RichText => "rich_text",
            PropertyType::Number => "number",
            PropertyType::Select => "select",
            PropertyType::MultiSelect => "multi_select",
            PropertyType::Status => "status",
            PropertyType::Date => "date",
            PropertyType::People => "people",
            PropertyType::Files => "files",
            PropertyType::Checkbox => "checkbox",
            PropertyType::Url => "url",
            PropertyType::Email => "email",
            PropertyType::PhoneNumber => "phone_number",
            PropertyType::Formula => "formula",
            PropertyType::Relation => "relation",
            PropertyType::Rollup => "rollup",
            PropertyType::CreatedTime => "created_time",
            PropertyType::CreatedBy => "created_by",
            PropertyType::LastEditedTime => "last_edited_time",
            PropertyType::LastEditedBy => "last_edited_by",
            PropertyType::UniqueId => "unique_id",
            PropertyType::Verification => "verification",
            PropertyType::Button => "button",
            PropertyType::Place => "place",
            PropertyType::Other(name) => name,
        }
    }

    /// One line on what the column holds (the documentation's row).
    pub fn note(&self) -> &'static str {
        match self {
            PropertyType::Title => {
                "plain text of all items; formatting, links and mentions in `rich_text_items`"
            }
            PropertyType::RichText => {
                "plain text of all items; formatting, links and mentions in `rich_text_items`"
            }
            PropertyType::Number => "every number as float64",
            PropertyType::Select => {
                "option name; option ids and colours are in the schema registry"
            }
            PropertyType::MultiSelect => "option names, in order",
            PropertyType::Status => "option name",
            PropertyType::Date => {
                "start/end as UTC instants (dates at 00:00 UTC), has_time false for date-only values, time_zone, and the original text"
            }
            PropertyType::People => {
                "users and groups: id, name (when shared), kind (person, bot, group)"
            }
            PropertyType::Files => {
                "name, kind (file, external), url, expiry_time of Notion-hosted files (Notion signs such a URL anew on every read, valid an hour: a new signature or expiry of the same file is not a change, and a row read again with only that difference is not rewritten)"
            }
            PropertyType::Checkbox => "never null",
            PropertyType::Url => "",
            PropertyType::Email => "",
            PropertyType::PhoneNumber => "",
            PropertyType::Formula => {
                "result type and one field per result type; the others are null"
            }
            PropertyType::Relation => {
                "related page ids, complete (values truncated at 25 are completed)"
            }
            PropertyType::Rollup => {
                "result type and function; number, date, or array (items as text, NULL for an empty item; as JSON with each item's type); over all related pages, also past 25"
            }
            PropertyType::CreatedTime => "",
            PropertyType::CreatedBy => "user id",
            PropertyType::LastEditedTime => "",
            PropertyType::LastEditedBy => "user id",
            PropertyType::UniqueId => "prefix, number, and the display text `PREFIX-123`",
            PropertyType::Verification => "state, verifier's user id, validity window",
            PropertyType::Button => {
                "no value: no column (the property is listed in the schema registry)"
            }
            PropertyType::Place => "coordinates, name, address and place ids",
            PropertyType::Other(_) => "the value's raw JSON text",
        }
    }

    /// True for the types Notion documents.
    pub fn is_known(&self) -> bool {
        !matches!(self, PropertyType::Other(_))
    }

    /// The Arrow type of the type's column; `None` for types without a value (button).
    pub fn arrow_type(&self) -> Option<DataType> {
        Some(match self {
            PropertyType::Title
            | PropertyType::RichText
            | PropertyType::Select
            | PropertyType::Status
            | PropertyType::Url
            | PropertyType::Email
            | PropertyType::PhoneNumber
            | PropertyType::CreatedBy
            | PropertyType::LastEditedBy
            | PropertyType::Other(_) => DataType::Utf8,
            PropertyType::Number => DataType::Float64,
            PropertyType::Checkbox => DataType::Boolean,
            PropertyType::CreatedTime | PropertyType::LastEditedTime => ts_type(),
            PropertyType::MultiSelect | PropertyType::Relation => list_of(utf8("item")),
            PropertyType::Date => DataType::Struct(date_fields()),
            PropertyType::People => list_of(Field::new(
                "item",
                DataType::Struct(Fields::from(vec![utf8("id"), utf8("name"), utf8("kind")])),
                true,
            )),
            PropertyType::Files => list_of(Field::new(
                "item",
                DataType::Struct(Fields::from(vec![
                    utf8("name"),
                    utf8("kind"),
                    utf8("url"),
                    Field::new("expiry_time", ts_type(), true),
                ])),
                true,
            )),
            PropertyType::Formula => DataType::Struct(Fields::from(vec![
                utf8("type"),
                utf8("string"),
                Field::new("number", DataType::Float64, true),
                Field::new("boolean", DataType::Boolean, true),
                Field::new("date", DataType::Struct(date_fields()), true),
            ])),
            PropertyType::Rollup => DataType::Struct(Fields::from(vec![
                utf8("type"),
                utf8("function"),
                Field::new("number", DataType::Float64, true),
                Field::new("date", DataType::Struct(date_fields()), true),
                Field::new("array", list_of(utf8("item")), true),
                utf8("array_json"),
            ])),
            PropertyType::UniqueId => DataType::Struct(Fields::from(vec![
                utf8("prefix"),
                Field::new("number", DataType::Int64, true),
                utf8("text"),
            ])),
            PropertyType::Verification => DataType::Struct(Fields::from(vec![
                utf8("state"),
                utf8("verified_by"),
                Field::new("date", DataType::Struct(date_fields()), true),
            ])),
            PropertyType::Place => DataType::Struct(Fields::from(vec![
                Field::new("lat", DataType::Float64, true),
                Field::new("lon", DataType::Float64, true),
                utf8("name"),
                utf8("address"),
                utf8("aws_place_id"),
                utf8("google_place_id"),
            ])),
            PropertyType::Button => return None,
        })
    }

    /// Whether the type has a column (every type but button).
    pub fn has_column(&self) -> bool {
        !matches!(self, PropertyType::Button)
    }
}

impl std::fmt::Display for PropertyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A compact, pyarrow-like rendering of an Arrow type, used in `schemas/` and `\d`.
pub fn type_name(t: &DataType) -> String {
    match t {
        // Readers may hold strings as views (DataFusion's Delta provider does): the same type.
        DataType::Utf8 | DataType::Utf8View => "string".into(),
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
        let code: Vec<(String, String)> = PropertyType::ALL
            .iter()
            .map(|m| {
                let t = m
                    .arrow_type()
                    .map_or("(no column)".to_string(), |t| type_name(&t));
                (m.name().to_string(), t)
            })
            .collect();
        assert_eq!(
            doc, code,
            "schemas/property-types.md and src/flatten/mapping.rs disagree"
        );
    }

    /// The third cell of each property-type row is the type's note.
    #[test]
    fn notes_and_schemas_doc_agree() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/property-types.md");
        let text = std::fs::read_to_string(path).expect("schemas/property-types.md exists");
        let doc: Vec<(String, String)> = text
            .lines()
            .take_while(|l| !l.starts_with("## Metadata columns"))
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_string(), cells[3].to_string())
            })
            .collect();
        let code: Vec<(String, String)> = PropertyType::ALL
            .iter()
            .map(|t| (t.name().to_string(), t.note().to_string()))
            .collect();
        assert_eq!(doc, code);
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
        let location = PropertyType::parse("location");
        assert_eq!(location.arrow_type(), Some(DataType::Utf8));
        assert!(!location.is_known());
        assert_eq!(location.name(), "location");
        assert!(PropertyType::parse("place").is_known());
    }

    #[test]
    fn every_type_parses_back_from_its_name() {
        for t in PropertyType::ALL {
            assert_eq!(PropertyType::parse(t.name()), t);
            assert_eq!(t.has_column(), t.arrow_type().is_some());
        }
    }
}
