//! The SQL of the generated models, per adapter: how a name is quoted, a struct's field read,
//! a list of structs mapped to one field, a list exploded into rows; and the typed scalar
//! columns of a staging model, one rule per Notion property type.

use crate::flatten::mapping::PropertyType;

/// The dbt adapter the package is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Adapter {
    /// dbt-duckdb, reading the Delta tables through its `delta` plugin.
    Duckdb,
    /// dbt-spark and dbt-databricks, reading ``delta.`<path>` ``.
    Spark,
}

impl Adapter {
    /// A quoted identifier.
    pub fn quote(self, name: &str) -> String {
        match self {
            Adapter::Duckdb => format!("\"{}\"", name.replace('"', "\"\"")),
            Adapter::Spark => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// Field `field` of the struct `expr`.
    pub fn field(self, expr: &str, field: &str) -> String {
        match self {
            Adapter::Duckdb => format!("struct_extract({expr}, '{field}')"),
            Adapter::Spark => format!("{expr}.{}", self.quote(field)),
        }
    }

    /// Field `field` of each struct of the list `expr`.
    pub fn list_field(self, expr: &str, field: &str) -> String {
        match self {
            Adapter::Duckdb => {
                format!("list_transform({expr}, lambda x: struct_extract(x, '{field}'))")
            }
            Adapter::Spark => format!("transform({expr}, x -> x.{})", self.quote(field)),
        }
    }

    /// One row per item of the list `expr`.
    pub fn explode(self, expr: &str) -> String {
        match self {
            Adapter::Duckdb => format!("unnest({expr})"),
            Adapter::Spark => format!("explode({expr})"),
        }
    }
}

/// One column of a staging model: its SQL, its name, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedColumn {
    /// The expression over the source's columns.
    pub expr: String,
    /// The column's name.
    pub name: String,
    /// What it is, for its description.
    pub note: String,
}

/// The typed scalar columns of lake column `column` of Notion type `kind` (see
/// `schemas/property-types.md` for the lake's types): a date's start and end, a formula's
/// value by its result type, a rollup's number, date or items, people's ids (names in a
/// second list), a unique ID's text; any other column as it is.
pub fn staged_columns(adapter: Adapter, column: &str, kind: &PropertyType) -> Vec<StagedColumn> {
    let c = adapter.quote(column);
    let col = |expr: String, suffix: &str, note: &str| StagedColumn {
        expr,
        name: format!("{column}{suffix}"),
        note: note.to_string(),
    };
    let date_start = |expr: &str| adapter.field(expr, "start");
    match kind {
        PropertyType::Date => vec![
            col(
                date_start(&c),
                "_start",
                "start (UTC; 00:00 for a date without time)",
            ),
            col(adapter.field(&c, "end"), "_end", "end, for a range"),
        ],
        PropertyType::People => vec![
            col(adapter.list_field(&c, "id"), "", "user and group ids"),
            col(adapter.list_field(&c, "name"), "_names", "their names"),
        ],
        PropertyType::Files => vec![
            col(adapter.list_field(&c, "name"), "_names", "file names"),
            col(
                adapter.list_field(&c, "url"),
                "_urls",
                "URLs (Notion-hosted ones are signed for an hour: the files table keeps the files)",
            ),
        ],
        PropertyType::Formula => vec![
            col(
                adapter.field(&c, "string"),
                "_string",
                "the value, when the formula gives text",
            ),
            col(
                adapter.field(&c, "number"),
                "_number",
                "the value, when it gives a number",
            ),
            col(
                adapter.field(&c, "boolean"),
                "_boolean",
                "the value, when it gives a checkbox",
            ),
            col(
                date_start(&adapter.field(&c, "date")),
                "_date",
                "the value's start, when it gives a date",
            ),
        ],
        PropertyType::Rollup => vec![
            col(
                adapter.field(&c, "number"),
                "_number",
                "the value, when the rollup gives a number",
            ),
            col(
                date_start(&adapter.field(&c, "date")),
                "_date",
                "the value's start, when it gives a date",
            ),
            col(
                adapter.field(&c, "array"),
                "_items",
                "the items as text, when it shows the related values",
            ),
        ],
        PropertyType::UniqueId => vec![
            col(
                adapter.field(&c, "text"),
                "",
                "the ID as shown, e.g. DEAL-12",
            ),
            col(adapter.field(&c, "number"), "_number", "its number"),
        ],
        PropertyType::Verification => vec![
            col(
                adapter.field(&c, "state"),
                "_state",
                "verified, expired or unverified",
            ),
            col(
                adapter.field(&c, "verified_by"),
                "_verified_by",
                "the verifier's user id",
            ),
        ],
        PropertyType::Place => vec![
            col(adapter.field(&c, "name"), "_name", "the place's name"),
            col(adapter.field(&c, "lat"), "_lat", "latitude"),
            col(adapter.field(&c, "lon"), "_lon", "longitude"),
        ],
        _ => vec![col(c, "", "as in the lake")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_adapter_reads_structs_and_lists_its_own_way() {
        let d = staged_columns(Adapter::Duckdb, "close", &PropertyType::Date);
        assert_eq!(d[0].expr, "struct_extract(\"close\", 'start')");
        assert_eq!(d[0].name, "close_start");
        let s = staged_columns(Adapter::Spark, "owner", &PropertyType::People);
        assert_eq!(s[0].expr, "transform(`owner`, x -> x.`id`)");
        assert_eq!(s[1].name, "owner_names");
        let f = staged_columns(Adapter::Duckdb, "a\"b", &PropertyType::Formula);
        assert_eq!(
            f[3].expr,
            "struct_extract(struct_extract(\"a\"\"b\", 'date'), 'start')"
        );
        let plain = staged_columns(Adapter::Spark, "stage", &PropertyType::Status);
        assert_eq!((plain[0].expr.as_str(), plain.len()), ("`stage`", 1));
    }
}
