//! YAML for the generated dbt files, written from JSON values in block style: every string a
//! double-quoted scalar with every control character escaped (the same writer as export-md's
//! front matter, which PyYAML reads back exactly), so no Notion name can break a file.

use serde_json::Value;

use crate::export::quoted;

/// `value` as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    block(value, 0, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s),
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
            for (k, v) in o {
                if is_block(v) {
                    out.push_str(&format!("{pad}{}:\n", quoted(k)));
                    block(v, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", quoted(k), scalar(v)));
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
            "flag": true
        });
        let text = to_yaml(&v);
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, v, "{text}");
    }
}
