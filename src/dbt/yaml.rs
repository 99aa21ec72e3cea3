//! YAML for the generated dbt files, written from JSON values in block style, as people write
//! dbt's files: `name` first, then `description`, then the other keys; identifiers plain; every
//! other string a double-quoted scalar with every control character escaped (the same writer
//! as export-md's front matter, which PyYAML reads back exactly), so no Notion name can break
//! a file.

use serde_json::Value;

use crate::export::quoted;

/// `value` as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    block(value, 0, &mut out);
    out
}

/// Words YAML 1.1 readers (PyYAML, dbt's) take for something other than a string.
const SPECIAL: [&str; 12] = [
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "none", "~", "",
];

/// `s` plain when it is an identifier no reader takes for anything else, else quoted.
fn text(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '+')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str());
    if plain { s.to_string() } else { quoted(s) }
}

/// A map's keys in the order dbt's files use: `name`, `description`, then the rest.
fn ordered(o: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let rank = |k: &str| match k {
        "name" => 0,
        "description" => 1,
        _ => 2,
    };
    let mut pairs: Vec<(&String, &Value)> = o.iter().collect();
    pairs.sort_by_key(|(k, _)| rank(k));
    pairs
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => text(s),
        Value::Null => "null".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(o) if !o.is_empty())
}

fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, v) in ordered(o) {
                if is_block(v) {
                    out.push_str(&format!("{pad}{}:\n", text(k)));
                    block(v, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", text(k), scalar(v)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_block(item) {
                    // The item's first line follows the dash; the rest align under it.
                    let mut inner = String::new();
                    block(item, indent + 2, &mut inner);
                    let inner = inner.trim_start_matches(' ');
                    out.push_str(&format!("{pad}- {inner}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_and_lists_read_back_the_same() {
        let v = json!({
            "version": 2,
            "sources": [{"name": "notion", "tables": [
                {"name": "取引", "description": "a \"quote\"\nand a line", "columns": [], "meta": {"n": 1.5}},
                {"name": "b", "tests": ["unique", {"relationships": {"to": "ref('x')", "field": "_id"}}]}
            ]}],
            "empty": {},
            "flag": true,
            "on": "yes",
            "+materialized": "view",
        });
        let text = to_yaml(&v);
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, v, "{text}");
        assert!(text.contains("  - name: notion\n"), "{text}");
        assert!(
            text.contains("\"on\": \"yes\""),
            "YAML 1.1 booleans stay strings: {text}"
        );
        assert!(text.contains("+materialized: view"));
    }
}
