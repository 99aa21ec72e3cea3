//! Splitting SQL text into statements with the SQL tokenizer DataFusion parses with: a `;`
//! ends a statement only where the tokenizer sees one, never inside a string, a quoted
//! identifier, a `--` comment or a `/* */` comment. Text after the last complete statement is
//! returned as the rest (a statement still being typed).

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// Splits `script` into complete statements (trimmed, comments kept, empty ones dropped) and the
/// rest after the last `;`. An unfinished string or comment ends the split: what follows the
/// last `;` before it is the rest.
pub fn split_statements(script: &str) -> (Vec<String>, String) {
    let mut tokens: Vec<TokenWithSpan> = Vec::new();
    // On an error (an unterminated string or comment) the tokens before it are kept.
    let _ = Tokenizer::new(&GenericDialect {}, script).tokenize_with_location_into_buf(&mut tokens);
    let offsets = Offsets::new(script);
    let mut out = Vec::new();
    let (mut start, mut has_sql) = (0, false);
    for t in &tokens {
        match &t.token {
            Token::SemiColon => {
                let end = offsets.byte(t.span.start);
                if has_sql {
                    out.push(script[start..end].trim().to_string());
                }
                (start, has_sql) = (end + 1, false);
            }
            Token::Whitespace(_) => {}
            _ => has_sql = true,
        }
    }
    (out, script[start..].to_string())
}

/// Whether `text` holds anything but white space and comments.
pub fn has_sql(text: &str) -> bool {
    let mut tokens: Vec<TokenWithSpan> = Vec::new();
    let complete =
        Tokenizer::new(&GenericDialect {}, text).tokenize_with_location_into_buf(&mut tokens);
    complete.is_err()
        || tokens
            .iter()
            .any(|t| !matches!(t.token, Token::Whitespace(_)))
}

/// Byte offsets of the tokenizer's line and column positions (1-based, columns in characters).
struct Offsets<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Offsets<'a> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Offsets { text, line_starts }
    }

    fn byte(&self, at: Location) -> usize {
        let line = (at.line.max(1) - 1) as usize;
        let start = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..]
            .char_indices()
            .nth((at.column.max(1) - 1) as usize)
            .map_or(self.text.len(), |(i, _)| start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let (s, rest) =
            split_statements("SELECT 'a;b'; -- note; here\nSELECT \"x;\" FROM t;\nSELECT 3");
        assert_eq!(
            s,
            vec![
                "SELECT 'a;b'".to_string(),
                "-- note; here\nSELECT \"x;\" FROM t".to_string()
            ]
        );
        assert_eq!(rest.trim(), "SELECT 3");
        let (s, _) = split_statements("-- only a comment;\n;");
        assert!(s.is_empty(), "{s:?}");
    }

    /// Regression: `;` inside `/* */` comments and doubled quotes split statements.
    #[test]
    fn block_comments_doubled_quotes_and_unicode_do_not_split() {
        let (s, rest) = split_statements(
            "SELECT 1 /* a; b */ AS x; SELECT 'it''s; fine', 名前 FROM タスク;\nSELECT 'open;",
        );
        assert_eq!(
            s,
            vec![
                "SELECT 1 /* a; b */ AS x".to_string(),
                "SELECT 'it''s; fine', 名前 FROM タスク".to_string()
            ]
        );
        assert_eq!(rest, "\nSELECT 'open;", "an unterminated string waits");
        let (s, rest) = split_statements("SELECT 1; /* still open; ");
        assert_eq!(s, vec!["SELECT 1".to_string()]);
        assert_eq!(rest, " /* still open; ");
        assert!(has_sql(&rest), "an open comment is unfinished input");
        assert!(!has_sql("  -- just a note\n /* and this */ "));
    }
}
