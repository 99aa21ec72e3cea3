//! Column and table names: Notion names sanitised to snake_case, with deterministic collision
//! handling (`due_date`, `due_date_2`, …).

use std::collections::HashSet;

/// Sanitises a Notion name to snake_case ASCII: letters and digits kept (lowercased), accented
/// Latin letters folded, everything else a separator; never empty, never starting with a digit
/// or an underscore (leading underscores are reserved for metadata columns).
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_lower_or_digit = false;
    let mut pending_sep = false;
    for c in name.chars() {
        let folded = fold(c);
        match folded {
            Some(ch) if ch.is_ascii_alphanumeric() => {
                if ch.is_ascii_uppercase() && prev_lower_or_digit {
                    pending_sep = true;
                }
                if pending_sep && !out.is_empty() {
                    out.push('_');
                }
                pending_sep = false;
                out.push(ch.to_ascii_lowercase());
                prev_lower_or_digit = ch.is_ascii_lowercase() || ch.is_ascii_digit();
            }
            _ => {
                pending_sep = true;
                prev_lower_or_digit = false;
            }
        }
    }
    if out.is_empty() {
        out.push_str("property");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "p_");
    }
    out
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

/// Returns `base`, or `base_2`, `base_3`… — the first not in `taken` — and records it.
pub fn allocate(base: &str, taken: &mut HashSet<String>) -> String {
    let mut candidate = base.to_string();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{base}_{n}");
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(snake_case("Due Date"), "due_date");
        assert_eq!(snake_case("due_date"), "due_date");
        assert_eq!(snake_case("Due-Date"), "due_date");
        assert_eq!(snake_case("Estimate (h)"), "estimate_h");
        assert_eq!(snake_case("dealValue"), "deal_value");
        assert_eq!(snake_case("Café ☕"), "cafe");
        assert_eq!(snake_case("🚀"), "property");
        assert_eq!(snake_case("2024 target"), "p_2024_target");
        assert_eq!(snake_case("__private"), "private");
    }

    #[test]
    fn collisions_get_numbered_suffixes() {
        let mut taken = HashSet::new();
        let names: Vec<String> = ["Due Date", "due_date", "Due-Date"]
            .iter()
            .map(|n| allocate(&snake_case(n), &mut taken))
            .collect();
        assert_eq!(names, ["due_date", "due_date_2", "due_date_3"]);
    }

    proptest! {
        #[test]
        fn always_a_valid_identifier(name in ".{0,40}") {
            let s = snake_case(&name);
            prop_assert!(!s.is_empty());
            prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            prop_assert!(!s.starts_with('_') && !s.starts_with(|c: char| c.is_ascii_digit()));
            prop_assert!(!s.ends_with('_') && !s.contains("__"));
        }
    }
}
