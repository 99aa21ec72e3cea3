//! Which values of a data source are computed from the rows of another: from the schemas alone,
//! every relation that a rollup, or a formula naming the relation, reads through. When a row of
//! the related data source changes (appears, moves to the trash, comes back), the rows on the
//! other side of that relation can show new values without being edited, and must be read
//! again. A dual relation can be followed from the changed row itself (its synced property lists
//! the dependent rows); a one-way relation only by querying the dependent data source.

use super::{DataSourceSchema, PropertySchema};

/// One relation through which a data source's computed values depend on another's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The data source whose rows, when they change, change computed values elsewhere.
    pub related: String,
    /// The data source holding the computed values (and the relation).
    pub dependent: String,
    /// The relation property of `dependent` that points at `related`.
    pub relation_id: String,
    /// For a dual relation, its synced property on `related`: the changed row's own value of
    /// it lists the dependent rows.
    pub synced_property_id: Option<String>,
    /// Properties of `related` the rollups read (empty when only formulas depend, which may
    /// read anything through the relation).
    pub reads: Vec<String>,
    /// Properties of `dependent` whose values depend: rollups over the relation and formulas
    /// naming it.
    pub computed: Vec<String>,
}

fn text<'a>(p: &'a PropertySchema, key: &str) -> Option<&'a str> {
    p.config.get(key).and_then(serde_json::Value::as_str)
}

/// Whether formula `f` names relation `rel` (by `prop("Name")`, or by id in the expression
/// tokens Notion sends from 2025-09-03 on: `{{notion:block_property:<id>:…}}`).
fn formula_reads(f: &PropertySchema, rel: &PropertySchema) -> bool {
    let Some(expr) = text(f, "expression") else {
        return false;
    };
    expr.contains(&format!("prop(\"{}\")", rel.name))
        || expr.contains(&format!("block_property:{}:", rel.id))
}

/// Every dependency among `schemas`: one per relation that a rollup or formula reads through.
pub fn dependencies(schemas: &[DataSourceSchema]) -> Vec<Dependency> {
    let mut out = Vec::new();
    for schema in schemas {
        for rel in schema.properties.iter().filter(|p| p.kind == "relation") {
            // A relation whose target is not given (empty ids) leads nowhere.
            let Some(related) = text(rel, "data_source_id")
                .filter(|s| !s.is_empty())
                .or_else(|| text(rel, "database_id").filter(|s| !s.is_empty()))
            else {
                continue;
            };
            let rollups: Vec<&PropertySchema> = schema
                .properties
                .iter()
                .filter(|p| {
                    p.kind == "rollup" && text(p, "relation_property_id") == Some(rel.id.as_str())
                })
                .collect();
            let formulas = schema
                .properties
                .iter()
                .filter(|p| p.kind == "formula" && formula_reads(p, rel));
            let computed: Vec<String> = rollups
                .iter()
                .copied()
                .chain(formulas)
                .map(|p| p.id.clone())
                .collect();
            if computed.is_empty() {
                continue;
            }
            let synced = rel
                .config
                .pointer("/dual_property/synced_property_id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string);
            let mut reads: Vec<String> = rollups
                .iter()
                .filter_map(|p| text(p, "rollup_property_id").map(str::to_string))
                .collect();
            reads.sort();
            reads.dedup();
            out.push(Dependency {
                related: related.to_string(),
                dependent: schema.source.id.clone(),
                relation_id: rel.id.clone(),
                synced_property_id: synced,
                reads,
                computed,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::DataSourceRef;

    fn prop(id: &str, name: &str, kind: &str, config: Value) -> PropertySchema {
        PropertySchema {
            id: id.into(),
            name: name.into(),
            kind: kind.into(),
            config,
        }
    }

    fn schema(id: &str, properties: Vec<PropertySchema>) -> DataSourceSchema {
        DataSourceSchema {
            source: DataSourceRef {
                id: id.into(),
                database_id: None,
            },
            title: id.into(),
            properties,
        }
    }

    #[test]
    fn rollups_and_formulas_depend_on_the_relation_they_read_through() {
        let companies = schema(
            "companies",
            vec![
                prop("cEmp", "Employees", "number", json!({})),
                prop(
                    "cDeals",
                    "Deals",
                    "relation",
                    json!({"data_source_id": "deals", "type": "dual_property", "dual_property": {"synced_property_id": "dCo"}}),
                ),
                prop(
                    "cPipe",
                    "Pipeline",
                    "rollup",
                    json!({"relation_property_id": "cDeals", "rollup_property_id": "dAmt", "function": "sum"}),
                ),
            ],
        );
        let deals = schema(
            "deals",
            vec![
                prop("dAmt", "Amount", "number", json!({})),
                prop(
                    "dCo",
                    "Company",
                    "relation",
                    json!({"data_source_id": "companies", "type": "dual_property", "dual_property": {"synced_property_id": "cDeals"}}),
                ),
                prop(
                    "dSize",
                    "Company size",
                    "rollup",
                    json!({"relation_property_id": "dCo", "rollup_property_id": "cEmp", "function": "sum"}),
                ),
                prop(
                    "dPer",
                    "Per head",
                    "formula",
                    json!({"expression": "prop(\"Amount\") / prop(\"Company\").first().prop(\"Employees\")"}),
                ),
                prop(
                    "dRef",
                    "Referrer",
                    "relation",
                    json!({"data_source_id": "contacts", "type": "single_property", "single_property": {}}),
                ),
                prop(
                    "dRefName",
                    "Referrer name",
                    "formula",
                    json!({"expression": "{{notion:block_property:dRef:00000000-0000-0000-0000-000000000000:0}}.first().name()"}),
                ),
                prop(
                    "dPlain",
                    "Plain",
                    "formula",
                    json!({"expression": "prop(\"Amount\") * 2"}),
                ),
                // A relation with no target given leads nowhere, whatever reads through it.
                prop(
                    "dNone",
                    "Nowhere",
                    "relation",
                    json!({"database_id": "", "data_source_id": "", "type": "single_property"}),
                ),
                prop(
                    "dNoneSum",
                    "Nowhere sum",
                    "rollup",
                    json!({"relation_property_id": "dNone", "rollup_property_id": "dAmt", "function": "sum"}),
                ),
            ],
        );
        let contacts = schema("contacts", vec![prop("kName", "Name", "title", json!({}))]);
        let deps = dependencies(&[companies, deals, contacts]);
        assert_eq!(
            deps,
            vec![
                Dependency {
                    related: "deals".into(),
                    dependent: "companies".into(),
                    relation_id: "cDeals".into(),
                    synced_property_id: Some("dCo".into()),
                    reads: vec!["dAmt".into()],
                    computed: vec!["cPipe".into()],
                },
                Dependency {
                    related: "companies".into(),
                    dependent: "deals".into(),
                    relation_id: "dCo".into(),
                    synced_property_id: Some("cDeals".into()),
                    reads: vec!["cEmp".into()],
                    computed: vec!["dSize".into(), "dPer".into()],
                },
                Dependency {
                    related: "contacts".into(),
                    dependent: "deals".into(),
                    relation_id: "dRef".into(),
                    synced_property_id: None,
                    reads: vec![],
                    computed: vec!["dRefName".into()],
                },
            ]
        );
    }
}
