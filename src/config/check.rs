//! Where in the config file a problem is: the line of a key (also inside a `[[connection]]`
//! entry), and the key a misspelt one was meant to be. Every error `config check` prints, and
//! every unknown key any command meets, names the file, the key and its line.

use std::path::Path;

use toml::de::{DeTable, DeValue};

/// One problem of the config file, placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The key, dotted (`rps`, `connection.acme.token_env`).
    pub key: String,
    /// Its 1-based line, when found.
    pub line: Option<usize>,
    /// What is wrong, and what to do.
    pub message: String,
}

impl Problem {
    /// The problem as one line: `file, line N: key `k`: message`.
    pub fn render(&self, path: &Path) -> String {
        match self.line {
            Some(line) => format!(
                "{}, line {line}: key `{}`: {}",
                path.display(),
                self.key,
                self.message
            ),
            None => format!("{}: key `{}`: {}", path.display(), self.key, self.message),
        }
    }
}

/// Where a key sits: a top-level key, or a field of the connection named so.
#[derive(Debug, Clone, Copy)]
pub enum KeyPath<'a> {
    /// A top-level key.
    Top(&'a str),
    /// A field of a `[[connection]]` entry (by its name, or `#n` for the n-th), possibly dotted
    /// into its `sync` table (`sync.comments`).
    Connection(&'a str, &'a str),
}

/// The 1-based line of the byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |t| t.matches('\n').count() + 1)
}

/// A key of a table: where it starts, and its value.
fn find<'i>(table: &DeTable<'i>, key: &str) -> Option<(usize, DeValue<'i>)> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(k, v)| (k.span().start, v.get_ref().clone()))
}

/// The line of a key in the file's text, if the text parses and the key is there.
pub fn key_line(text: &str, path: KeyPath<'_>) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let root = root.get_ref();
    match path {
        KeyPath::Top(key) => find(root, key).map(|(at, _)| line_of(text, at)),
        KeyPath::Connection(name, field) => {
            let (_, list) = find(root, "connection")?;
            let DeValue::Array(entries) = list else {
                return None;
            };
            let position = name
                .strip_prefix('#')
                .and_then(|n| n.parse::<usize>().ok())
                .map(|n| n.saturating_sub(1));
            let entry = entries.iter().enumerate().find_map(|(i, e)| match e.get_ref() {
                DeValue::Table(t) => {
                    let named = matches!(find(t, "name"), Some((_, DeValue::String(n))) if n.as_ref() == name);
                    (named || position == Some(i)).then(|| (t.clone(), e.span().start))
                }
                _ => None,
            })?;
            let (mut table, mut at) = entry;
            let mut parts = field.split('.').peekable();
            while let Some(part) = parts.next() {
                let (key_at, value) = find(&table, part)?;
                at = key_at;
                match (parts.peek(), value) {
                    (Some(_), DeValue::Table(inner)) => table = inner,
                    (Some(_), _) => return None,
                    (None, _) => {}
                }
            }
            Some(line_of(text, at))
        }
    }
}

/// The known key closest to `key`, if one is close enough to be what was meant: at most a
/// quarter of its letters (at least 2) added, removed, changed or swapped.
pub fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let allowed = (key.chars().count() / 4).max(2);
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .filter(|(d, _)| *d <= allowed && *d < key.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A TOML error about an unknown key (`unknown field `x`, expected one of `a`, `b``), placed at
/// its line, with a suggestion; `None` for another error.
pub fn unknown_key(text: &str, error: &toml::de::Error) -> Option<Problem> {
    let message = error.message();
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let known: Vec<&str> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| !k.is_empty())
        .collect();
    let hint = match suggest(key, &known) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("the keys here are {}", known.join(", ")),
    };
    Some(Problem {
        key: key.to_string(),
        line: error.span().map(|s| line_of(text, s.start)),
        message: format!("unknown key; {hint}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "rps = 3\nlake = \"./l\"\n\n[[connection]]\nname = \"acme\"\ntoken_env = \"A\"\n[connection.sync]\ncomments = \"all\"\n\n[[connection]]\nname = \"beta\"\nlake = \"./b\"\n";

    #[test]
    fn keys_are_found_on_their_lines() {
        assert_eq!(key_line(TEXT, KeyPath::Top("lake")), Some(2));
        assert_eq!(
            key_line(TEXT, KeyPath::Connection("acme", "token_env")),
            Some(6)
        );
        assert_eq!(
            key_line(TEXT, KeyPath::Connection("acme", "sync.comments")),
            Some(8)
        );
        assert_eq!(
            key_line(TEXT, KeyPath::Connection("beta", "lake")),
            Some(12)
        );
        assert_eq!(key_line(TEXT, KeyPath::Connection("#2", "name")), Some(11));
        assert_eq!(key_line(TEXT, KeyPath::Connection("beta", "rps")), None);
    }

    #[test]
    fn suggestions_are_close_keys_only() {
        let known = ["api_base", "notion_version", "rps", "burst", "lake"];
        assert_eq!(suggest("rsp", &known), Some("rps"));
        assert_eq!(suggest("notion_verison", &known), Some("notion_version"));
        assert_eq!(suggest("bursts", &known), Some("burst"));
        assert_eq!(suggest("timeout", &known), None);
        assert_eq!(suggest("x", &known), None);
    }

    #[test]
    fn an_unknown_key_is_placed_and_the_right_one_suggested() {
        let text = "lake = \"./l\"\nrsp = 3\n";
        let e = toml::from_str::<super::super::FileConfig>(text).unwrap_err();
        let p = unknown_key(text, &e).unwrap();
        assert_eq!(p.key, "rsp");
        assert_eq!(p.line, Some(2));
        assert!(p.message.contains("did you mean `rps`?"), "{}", p.message);
    }
}
