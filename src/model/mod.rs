//! The internal model of the Notion objects the extractor reads, one shape for every
//! Notion-Version (2022-06-28, 2025-09-03, 2026-03-11): parents, trash flags, databases vs data sources,
//! block type names. Payloads stay `serde_json::Value` so that nothing unknown is lost; these
//! helpers only read what differs between versions. [`dependencies`] reads from the schemas
//! which computed values (rollups, formulas) depend on which relations.

pub mod dependencies;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an object lives, whatever the version spelled it as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Parent {
    /// Top level of the workspace.
    Workspace,
    /// A page (or a page's content).
    Page {
        /// The page id.
        id: String,
    },
    /// A block (nested content, inline databases).
    Block {
        /// The block id.
        id: String,
    },
    /// A database: rows under 2022-06-28, data sources and wiki nesting in 2025+.
    Database {
        /// The database id.
        id: String,
    },
    /// A data source (rows under 2025-09-03+), with its database.
    DataSource {
        /// The data source id.
        id: String,
        /// The containing database id, when given.
        database_id: Option<String>,
    },
    /// A parent type this tool does not know (kept raw).
    Other {
        /// The raw parent object.
        raw: Value,
    },
}

impl Parent {
    /// Reads a `parent` object.
    pub fn from_json(v: &Value) -> Parent {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(normalize_id);
        match v.get("type").and_then(Value::as_str) {
            Some("workspace") => Parent::Workspace,
            Some("page_id") => s("page_id").map_or_else(|| other(v), |id| Parent::Page { id }),
            Some("block_id") => s("block_id").map_or_else(|| other(v), |id| Parent::Block { id }),
            Some("database_id") => {
                s("database_id").map_or_else(|| other(v), |id| Parent::Database { id })
            }
            Some("data_source_id") => match s("data_source_id") {
                Some(id) => Parent::DataSource {
                    id,
                    database_id: s("database_id"),
                },
                None => other(v),
            },
            _ => other(v),
        }
    }

    /// The parent's kind as a short string (`workspace`, `page`, `block`, `database`, `data_source`).
    pub fn kind(&self) -> &'static str {
        match self {
            Parent::Workspace => "workspace",
            Parent::Page { .. } => "page",
            Parent::Block { .. } => "block",
            Parent::Database { .. } => "database",
            Parent::DataSource { .. } => "data_source",
            Parent::Other { .. } => "other",
        }
    }

    /// The parent's id, if it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Parent::Page { id }
            | Parent::Block { id }
            | Parent::Database { id }
            | Parent::DataSource { id, .. } => Some(id),
            _ => None,
        }
    }
}

fn other(v: &Value) -> Parent {
    Parent::Other { raw: v.clone() }
}

/// Positions of the dashes in a canonical UUID.
const UUID_DASHES: [bool; 36] = {
    let mut m = [false; 36];
    m[8] = true;
    m[13] = true;
    m[18] = true;
    m[23] = true;
    m
};

/// Whether an id is in canonical form (dashed lowercase UUID): what [`uuid_bits`] accepts, checked
/// without computing the bits, every byte tested without a branch so that the loop vectorises
/// (this runs for several ids of every row).
pub(crate) fn is_canonical_uuid(id: &str) -> bool {
    let Ok(b) = <&[u8; 36]>::try_from(id.as_bytes()) else {
        return false;
    };
    b.iter().zip(UUID_DASHES).fold(true, |ok, (&c, dash)| {
        let hex = (c.wrapping_sub(b'0') < 10) | (c.wrapping_sub(b'a') < 6);
        ok & ((dash & (c == b'-')) | (!dash & hex))
    })
}

/// The 128 bits of an id in canonical form (dashed lowercase UUID), `None` for any other form.
pub(crate) fn uuid_bits(id: &str) -> Option<u128> {
    if !is_canonical_uuid(id) {
        return None;
    }
    uuid::Uuid::try_parse(id).ok().map(|u| u.as_u128())
}

/// The canonical form (dashed lowercase UUID) of 128 bits: the inverse of [`uuid_bits`].
pub(crate) fn uuid_text(bits: u128) -> String {
    uuid::Uuid::from_u128(bits).hyphenated().to_string()
}

/// The URL of a Notion-hosted file without its query string (its signature): Notion signs the
/// same object anew on every read, and this part stays.
pub fn notion_key(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// [`normalize_id`] without an allocation when the id is already in canonical form (the dashed
/// lowercase form Notion answers with, so the common case on hot paths).
pub fn normalize_id_cow(id: &str) -> std::borrow::Cow<'_, str> {
    if is_canonical_uuid(id) {
        std::borrow::Cow::Borrowed(id)
    } else {
        std::borrow::Cow::Owned(normalize_id(id))
    }
}

/// Normalises an id to the dashed lowercase UUID form Notion answers with; anything that is not
/// a 32-hex-digit id is returned trimmed and lowercased.
pub fn normalize_id(id: &str) -> String {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    // 32 hex digits, whatever the dashes: the simple form uuid parses.
    match uuid::Uuid::try_parse(&hex) {
        Ok(u) if hex.len() == 32 => u.hyphenated().to_string(),
        _ => id.trim().to_ascii_lowercase(),
    }
}

/// Whether an object is in the trash (`in_trash`, or the deprecated `archived` alias).
pub fn is_trashed(obj: &Value) -> bool {
    trash_flags(obj.get("in_trash"), obj.get("archived"))
}

/// [`is_trashed`] from an object's `in_trash` and `archived` values, already looked up.
pub fn trash_flags(in_trash: Option<&Value>, archived: Option<&Value>) -> bool {
    let flag = |v: Option<&Value>| v.and_then(Value::as_bool).unwrap_or(false);
    flag(in_trash) || flag(archived)
}

/// The canonical block type: `transcription` (≤ 2025-09-03) is called `meeting_notes`.
pub fn canonical_block_type(t: &str) -> &str {
    if t == "transcription" {
        "meeting_notes"
    } else {
        t
    }
}

/// A table of rows: a data source (2025+), or a database treated as its own single data source
/// (2022-06-28).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSourceRef {
    /// The id to query rows with (a data source id, or the database id under 2022-06-28).
    pub id: String,
    /// The containing database id.
    pub database_id: Option<String>,
}

impl DataSourceRef {
    /// Reads a search result or a retrieve answer: a `data_source` object (2025+) or a `database`
    /// object (2022-06-28). Returns `None` for other objects.
    pub fn from_object(obj: &Value) -> Option<DataSourceRef> {
        let id = obj.get("id").and_then(Value::as_str).map(normalize_id)?;
        match obj.get("object").and_then(Value::as_str)? {
            "data_source" => Some(DataSourceRef {
                id,
                database_id: obj
                    .get("parent")
                    .map(Parent::from_json)
                    .and_then(|p| match p {
                        Parent::Database { id } => Some(id),
                        _ => None,
                    }),
            }),
            "database" => Some(DataSourceRef {
                database_id: Some(id.clone()),
                id,
            }),
            _ => None,
        }
    }
}

/// One property of a data source's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertySchema {
    /// The stable property id (URL-encoded as Notion returns it).
    pub id: String,
    /// The current, user-editable name.
    pub name: String,
    /// The property type (`title`, `number`, …; unknown types kept as sent).
    pub kind: String,
    /// The type's configuration payload.
    pub config: Value,
}

impl PropertySchema {
    /// Whether this is a formula whose expression reads the clock (`now()`, `today()`): its
    /// value changes with time while the row stays unedited, so no extractor keeps it fresh.
    /// Notion sends expressions from 2025-09-03 on; without one nothing can be told.
    pub fn reads_clock(&self) -> bool {
        if self.kind != "formula" {
            return false;
        }
        let Some(expr) = self.config.get("expression").and_then(Value::as_str) else {
            return false;
        };
        let squeezed: String = expr
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        ["now()", "today()"].iter().any(|call| {
            squeezed.match_indices(call).any(|(at, _)| {
                // A whole function name, not the end of another (`snow()`).
                !squeezed[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
    }
}

/// A data source's schema, read from a 2025+ data source or a 2022-06-28 database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSourceSchema {
    /// Where the rows are queried.
    pub source: DataSourceRef,
    /// Title as plain text.
    pub title: String,
    /// Properties in the order Notion sent them.
    pub properties: Vec<PropertySchema>,
}

impl DataSourceSchema {
    /// A schema made from row pages' properties (each `{id, type, <type>: value}`), for a
    /// database whose schema cannot be read: every property any row carries, in the order
    /// first seen, with no configuration.
    pub fn from_rows(database_id: &str, title: &str, rows: &[Value]) -> DataSourceSchema {
        let mut properties: Vec<PropertySchema> = Vec::new();
        for props in rows
            .iter()
            .filter_map(|r| r.get("properties").and_then(Value::as_object))
        {
            for (name, p) in props {
                let Some(id) = p.get("id").and_then(Value::as_str) else {
                    continue;
                };
                if properties.iter().any(|q| q.id == id) {
                    continue;
                }
                properties.push(PropertySchema {
                    id: id.to_string(),
                    name: name.clone(),
                    kind: p
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string(),
                    config: Value::Null,
                });
            }
        }
        DataSourceSchema {
            source: DataSourceRef {
                id: database_id.to_string(),
                database_id: Some(database_id.to_string()),
            },
            title: title.to_string(),
            properties,
        }
    }

    /// Reads a schema from a data source object (2025+) or a database object (2022-06-28).
    pub fn from_object(obj: &Value) -> Option<DataSourceSchema> {
        let source = DataSourceRef::from_object(obj)?;
        let props = obj.get("properties")?.as_object()?;
        let properties = props
            .iter()
            .map(|(name, p)| {
                let kind = p
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string();
                PropertySchema {
                    id: p
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or(name)
                        .to_string(),
                    name: p
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or(name)
                        .to_string(),
                    config: p.get(&kind).cloned().unwrap_or(Value::Null),
                    kind,
                }
            })
            .collect();
        Some(DataSourceSchema {
            source,
            title: plain_text(obj.get("title").unwrap_or(&Value::Null)),
            properties,
        })
    }
}

/// Concatenates the `plain_text` of a rich-text array (every item carries one).
pub fn plain_text(rich_text: &Value) -> String {
    rich_text
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("plain_text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formulas_that_read_the_clock_are_told_apart() {
        let formula = |expr: &str| PropertySchema {
            id: "f".into(),
            name: "F".into(),
            kind: "formula".into(),
            config: serde_json::json!({ "expression": expr }),
        };
        for expr in [
            "dateBetween(now(), prop(\"Created\"), \"days\")",
            "if(prop(\"Due\") < Today( ), \"late\", \"\")",
            "formatDate(now (),\"YYYY\")",
        ] {
            assert!(formula(expr).reads_clock(), "{expr}");
        }
        for expr in [
            "prop(\"Amount\") * 0.4",
            "snow() + 1",
            "\"now()\".length()".replace("now()", "know()").as_str(),
        ] {
            assert!(!formula(expr).reads_clock(), "{expr}");
        }
        let mut not_formula = formula("now()");
        not_formula.kind = "rollup".into();
        assert!(!not_formula.reads_clock());
        assert!(
            !PropertySchema {
                config: serde_json::json!({}),
                ..formula("")
            }
            .reads_clock()
        );
    }

    #[test]
    fn uuid_bits_read_only_the_canonical_form() {
        let b = "846dab72-0000-0000-0000-000000000010";
        assert_eq!(uuid_bits(b), Some(0x846dab72_0000_0000_0000_000000000010));
        assert_eq!(uuid_text(0x846dab72_0000_0000_0000_000000000010), b);
        assert_eq!(uuid_bits("846dab72x0000-0000-0000-000000000010"), None);
        assert_eq!(uuid_bits("846DAB72-0000-0000-0000-000000000010"), None);
        assert_eq!(uuid_bits("846dab72-0000-0000-0000-00000000000g"), None);
    }

    proptest::proptest! {
        /// The branch-free check accepts exactly what `uuid_bits` reads, and exactly the strings
        /// the uuid crate writes back unchanged in hyphenated form, for canonical ids with any
        /// one byte replaced and for arbitrary 36-character strings.
        #[test]
        fn canonical_check_agrees_with_uuid_bits(
            bits in proptest::prelude::any::<u128>(),
            at in 0usize..36,
            c in proptest::prelude::any::<u8>(),
            other in "[0-9a-fA-F-]{36}",
        ) {
            let id = uuid_text(bits);
            proptest::prop_assert!(is_canonical_uuid(&id));
            let mut b = id.into_bytes();
            b[at] = c;
            let hyphenated = |s: &str| {
                uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
            };
            if let Ok(s) = String::from_utf8(b) {
                proptest::prop_assert_eq!(is_canonical_uuid(&s), uuid_bits(&s).is_some(), "{}", s);
                proptest::prop_assert_eq!(is_canonical_uuid(&s), hyphenated(&s), "{}", s);
            }
            proptest::prop_assert_eq!(is_canonical_uuid(&other), uuid_bits(&other).is_some());
            proptest::prop_assert_eq!(is_canonical_uuid(&other), hyphenated(&other));
        }
    }

    #[test]
    fn borrowed_ids_agree_with_owned() {
        for id in [
            "846dab72-0000-0000-0000-000000000001",
            "846DAB72-0000-0000-0000-000000000001",
            "846dab7200000000000000000000000a",
            " abc ",
            "846dab72-0000-0000-0000-00000000000g",
        ] {
            assert_eq!(normalize_id_cow(id), normalize_id(id), "{id:?}");
        }
        assert!(matches!(
            normalize_id_cow("846dab72-0000-0000-0000-000000000001"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn parents_of_every_version() {
        let p = Parent::from_json(
            &json!({"type":"data_source_id","data_source_id":"846DAB72-0000-0000-0000-000000000001","database_id":"c3d1dacf000000000000000000000002"}),
        );
        assert_eq!(
            p,
            Parent::DataSource {
                id: "846dab72-0000-0000-0000-000000000001".into(),
                database_id: Some("c3d1dacf-0000-0000-0000-000000000002".into())
            }
        );
        assert_eq!(
            Parent::from_json(&json!({"type":"workspace","workspace":true})),
            Parent::Workspace
        );
        assert_eq!(
            Parent::from_json(&json!({"type":"agent_id"})).kind(),
            "other"
        );
    }

    #[test]
    fn trash_flags_and_block_names() {
        assert!(is_trashed(&json!({"archived": true})));
        assert!(is_trashed(&json!({"in_trash": true})));
        assert!(!is_trashed(&json!({})));
        assert_eq!(canonical_block_type("transcription"), "meeting_notes");
    }

    #[test]
    fn schema_from_both_versions() {
        let db22 = json!({"object":"database","id":"3e6318325efa470281718b8a0e6651ba","title":[{"plain_text":"Tasks"}],
            "properties":{"Name":{"id":"title","name":"Name","type":"title","title":{}}}});
        let s = DataSourceSchema::from_object(&db22).unwrap();
        assert_eq!(s.source.id, "3e631832-5efa-4702-8171-8b8a0e6651ba");
        assert_eq!(s.title, "Tasks");
        assert_eq!(s.properties[0].kind, "title");
        let ds = json!({"object":"data_source","id":"521ced70-4d4b-4236-b7c8-4b4eeec81b24","parent":{"type":"database_id","database_id":"3e631832-5efa-4702-8171-8b8a0e6651ba"},
            "title":[],"properties":{"Price":{"id":"VZa%3E","name":"Price","type":"number","number":{"format":"dollar"}}}});
        let s = DataSourceSchema::from_object(&ds).unwrap();
        assert_eq!(
            s.source.database_id.as_deref(),
            Some("3e631832-5efa-4702-8171-8b8a0e6651ba")
        );
        assert_eq!(s.properties[0].config, json!({"format":"dollar"}));
    }
}
