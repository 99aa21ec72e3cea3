//! Column and table names: Notion names sanitised to snake_case in one of two [`NameStyle`]s,
//! with deterministic collision handling (`due_date`, `due_date_2`, …) and readable fallbacks
//! for names that keep no letter at all (`select_1`, `untitled_1`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// How Notion names become identifiers. A lake records its style in the schema registry and
/// keeps it, so one lake never mixes the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NameStyle {
    /// Letters and digits of every script kept, lowercased (`名前`, `статус`, `café`).
    #[default]
    Unicode,
    /// ASCII only: accented Latin letters folded, every other character a separator. For
    /// engines that accept nothing else; names in other scripts fall back to type-derived ones.
    Ascii,
}

/// Sanitises a Notion name to snake_case in `style`: letters and digits kept (lowercased),
/// everything else a separator, a word break before an upper-case letter that follows a
/// lower-case one; never starting with a digit or an underscore (leading underscores are
/// reserved for metadata columns). Empty when the name keeps nothing (emoji or punctuation
/// only): the caller then derives a name from what the thing is ([`allocate_numbered`]).
pub fn snake_case(name: &str, style: NameStyle) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_lower_or_digit = false;
    let mut pending_sep = false;
    for c in name.chars() {
        let kept = match style {
            NameStyle::Ascii => fold(c).filter(char::is_ascii_alphanumeric),
            NameStyle::Unicode => Some(c).filter(|c| is_word_char(*c)),
        };
        let Some(ch) = kept else {
            pending_sep = true;
            prev_lower_or_digit = false;
            continue;
        };
        // A word break before a capital that has a lower-case form (`dealValue`); a letter that
        // stays as it is when lowercased (𝕊) breaks nothing, so sanitising is idempotent.
        if ch.is_uppercase() && prev_lower_or_digit && !ch.to_lowercase().eq([ch]) {
            pending_sep = true;
        }
        if pending_sep && !out.is_empty() {
            out.push('_');
        }
        pending_sep = false;
        out.extend(ch.to_lowercase());
        prev_lower_or_digit = ch.is_lowercase() || ch.is_numeric();
    }
    if out.starts_with(|c: char| !c.is_alphabetic()) {
        out.insert_str(0, "p_");
    }
    out
}

/// A character kept in a Unicode-style name: letters and digits of any script, and the marks
/// that belong inside words (the virama and vowel signs of Indic scripts, Hebrew and Arabic
/// points), so that no word is cut in pieces.
fn is_word_char(c: char) -> bool {
    c != '_' && (c.is_alphanumeric() || unicode_ident::is_xid_continue(c))
}

fn fold(c: char) -> Option<char> {
    if c.is_ascii() {
        return Some(c);
    }
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'ç' => 'c',
        'Ç' => 'C',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'Ö' | 'Ø' => 'O',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'Ü' => 'U',
        'ß' => 's',
        _ => return None,
    })
}

/// The candidates for a name whose base is `base`: `base`, `base_2`, `base_3`, …
pub fn suffixed(base: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(base.to_string()).chain((2..).map(move |n| format!("{base}_{n}")))
}

/// The candidates for a name that only says what a thing is: `prefix_1`, `prefix_2`, …
pub fn numbered(prefix: &str) -> impl Iterator<Item = String> + '_ {
    (1..).map(move |n| format!("{prefix}_{n}"))
}

/// The first of `candidates` (an endless sequence) that `free` accepts.
pub fn first_free(
    mut candidates: impl Iterator<Item = String>,
    free: impl Fn(&str) -> bool,
) -> String {
    candidates
        .find(|c| free(c))
        .expect("the candidate sequences are endless")
}

/// Returns `base`, or `base_2`, `base_3`… — the first not in `taken` — and records it.
pub fn allocate(base: &str, taken: &mut HashSet<String>) -> String {
    let name = first_free(suffixed(base), |c| !taken.contains(c));
    taken.insert(name.clone());
    name
}

/// Returns `prefix_1`, `prefix_2`… — the first not in `taken` — and records it: the name of
/// something whose own name kept no character (an emoji-only property gets `select_1`).
pub fn allocate_numbered(prefix: &str, taken: &mut HashSet<String>) -> String {
    let name = first_free(numbered(prefix), |c| !taken.contains(c));
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ascii(name: &str) -> String {
        snake_case(name, NameStyle::Ascii)
    }

    fn unicode(name: &str) -> String {
        snake_case(name, NameStyle::Unicode)
    }

    #[test]
    fn ascii_examples() {
        assert_eq!(ascii("Due Date"), "due_date");
        assert_eq!(ascii("due_date"), "due_date");
        assert_eq!(ascii("Due-Date"), "due_date");
        assert_eq!(ascii("Estimate (h)"), "estimate_h");
        assert_eq!(ascii("dealValue"), "deal_value");
        assert_eq!(ascii("Café ☕"), "cafe");
        assert_eq!(ascii("🚀"), "");
        assert_eq!(ascii("名前"), "");
        assert_eq!(ascii("2024 target"), "p_2024_target");
        assert_eq!(ascii("__private"), "private");
    }

    /// Regression: every non-Latin name used to become `property`, `property_2`, …
    #[test]
    fn unicode_names_keep_every_script() {
        let cases = [
            ("タスク", "タスク"),
            ("名前", "名前"),
            ("프로젝트 상태", "프로젝트_상태"),
            ("Статус Сделки", "статус_сделки"),
            ("Ημερομηνία λήξης", "ημερομηνία_λήξης"),
            ("تاريخ الاستحقاق", "تاريخ_الاستحقاق"),
            ("שם הלקוח", "שם_הלקוח"),
            ("स्थिति", "स्थिति"),
            ("Café ☕", "café"),
            ("🚀 Launch date", "launch_date"),
            ("Due Date", "due_date"),
            ("dealValue", "deal_value"),
            ("сделкаСумма", "сделка_сумма"),
            ("2024 target", "p_2024_target"),
            ("__private", "private"),
            ("🚀✨", ""),
        ];
        for (name, want) in cases {
            assert_eq!(unicode(name), want, "{name}");
        }
    }

    #[test]
    fn collisions_get_numbered_suffixes() {
        let mut taken = HashSet::new();
        let names: Vec<String> = ["Due Date", "due_date", "Due-Date"]
            .iter()
            .map(|n| allocate(&ascii(n), &mut taken))
            .collect();
        assert_eq!(names, ["due_date", "due_date_2", "due_date_3"]);
        assert_eq!(allocate_numbered("select", &mut taken), "select_1");
        assert_eq!(allocate_numbered("select", &mut taken), "select_2");
        let odd = first_free(suffixed("deals"), |c| !c.ends_with('s'));
        assert_eq!(odd, "deals_2");
    }

    proptest! {
        #[test]
        fn ascii_is_a_valid_identifier(name in ".{0,40}") {
            let s = ascii(&name);
            prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            prop_assert!(!s.starts_with('_') && !s.starts_with(|c: char| c.is_ascii_digit()));
            prop_assert!(!s.ends_with('_') && !s.contains("__"));
        }

        #[test]
        fn unicode_is_a_valid_identifier(name in "\\PC{0,40}") {
            let s = unicode(&name);
            prop_assert!(s.chars().all(|c| c == '_' || is_word_char(c)), "{s}");
            prop_assert_eq!(s.to_lowercase(), s.clone(), "lower case");
            prop_assert!(s.is_empty() || s.starts_with(char::is_alphabetic), "{s}");
            prop_assert!(!s.ends_with('_') && !s.contains("__"), "{s}");
            prop_assert_eq!(unicode(&s), s.clone(), "sanitising is idempotent");
        }
    }
}
