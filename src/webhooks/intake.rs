//! What the receiver checks of a body before it stores anything, all of it pure and bounded:
//! - a signed delivery (its signature already checked over the raw bytes) must be shallow JSON
//!   ([`MAX_DEPTH`], counted before parsing, so a stored batch always reads back) whose `id`,
//!   `entity.id` and every page or block id it names are UUIDs: a sync turns those ids into
//!   request paths, and `../users` must never become one;
//! - an unsigned body is read only as a verification request, and only when it is small and
//!   shallow ([`MAX_VERIFICATION_BYTES`]).

use serde_json::Value;

use crate::model::{normalize_id, uuid_bits};

/// Largest delivery accepted: Notion's events carry ids, not content, and are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 << 10;

/// Largest unsigned body read (as a verification request).
pub const MAX_VERIFICATION_BYTES: usize = 1 << 10;

/// Deepest nesting of arrays and objects accepted. Notion's events nest about 4 levels; the
/// lake's batch adds 2, and every reader of a batch (serde_json stops at 128) reads it back.
pub const MAX_DEPTH: usize = 32;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not JSON.
    #[error("not JSON ({0})")]
    NotJson(String),
    /// JSON, but no event: a field is missing or of the wrong type.
    #[error("not an event: {0}")]
    NotAnEvent(&'static str),
    /// An id that is not a UUID.
    #[error("{field} is not a UUID")]
    NotAnId {
        /// Where it was.
        field: &'static str,
    },
}

/// Whether the JSON text `body` nests arrays and objects deeper than `limit`, counted over
/// the bytes (strings skipped, escapes included) without parsing.
pub fn too_deep(body: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn parse(body: &[u8]) -> Result<Value, Refusal> {
    if too_deep(body, MAX_DEPTH) {
        return Err(Refusal::TooDeep);
    }
    serde_json::from_slice(body).map_err(|e| Refusal::NotJson(e.to_string()))
}

/// The 128 bits of a UUID id (dashed or not).
fn id_bits(text: &str) -> Option<u128> {
    uuid_bits(&normalize_id(text))
}

fn check_id(value: Option<&Value>, field: &'static str) -> Result<(), Refusal> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if id_bits(s).is_some() => Ok(()),
        Some(_) => Err(Refusal::NotAnId { field }),
    }
}

/// A signed body checked as an event: its id's bits and the event.
pub fn event(body: &[u8]) -> Result<(u128, Value), Refusal> {
    let event = parse(body)?;
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .ok_or(Refusal::NotAnEvent("no id"))?;
    let bits = id_bits(id).ok_or(Refusal::NotAnId { field: "id" })?;
    if !event.get("type").is_some_and(Value::is_string) {
        return Err(Refusal::NotAnEvent("no type"));
    }
    let entity = event
        .get("entity")
        .and_then(|e| e.get("id"))
        .ok_or(Refusal::NotAnEvent("no entity"))?;
    check_id(Some(entity), "entity.id")?;
    let data = event.get("data");
    check_id(data.and_then(|d| d.get("page_id")), "data.page_id")?;
    check_id(data.and_then(|d| d.pointer("/parent/id")), "data.parent.id")?;
    if let Some(blocks) = data.and_then(|d| d.get("updated_blocks")) {
        let blocks = blocks
            .as_array()
            .ok_or(Refusal::NotAnEvent("updated_blocks is not a list"))?;
        for b in blocks {
            check_id(b.get("id"), "data.updated_blocks[].id")?;
        }
    }
    Ok((bits, event))
}

/// The token of an unsigned verification request (`{"verification_token": "…"}`), when the
/// body is one and small enough to read.
pub fn verification_token(body: &[u8]) -> Option<String> {
    if body.len() > MAX_VERIFICATION_BYTES {
        return None;
    }
    let value = parse(body).ok()?;
    let token = value.get("verification_token")?.as_str()?;
    (!token.is_empty()).then(|| token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "e0f2c7a4-0000-4000-8000-000000000001";

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn depth_is_counted_over_the_bytes_strings_aside() {
        assert!(!too_deep(br#"{"a":[{"b":"[[[[[[["}]}"#, 3));
        assert!(too_deep(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!too_deep(br#"{"a":"\"[[[[\\"}"#, 1));
        let deep = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert!(too_deep(deep.as_bytes(), MAX_DEPTH));
        assert_eq!(event(deep.as_bytes()), Err(Refusal::TooDeep));
    }

    #[test]
    fn events_name_only_uuids() {
        let ok = json!({"id": ID, "type": "page.content_updated", "entity": {"id": "0f0e0d0c0b0a09080706050403020100", "type": "page"}, "data": {"parent": {"id": ID, "type": "space"}, "updated_blocks": [{"id": ID, "type": "block"}]}});
        assert_eq!(event(&body(ok.clone())).unwrap().1, ok);
        let path =
            json!({"id": ID, "type": "page.created", "entity": {"id": "../users", "type": "page"}});
        assert_eq!(
            event(&body(path)),
            Err(Refusal::NotAnId { field: "entity.id" })
        );
        let block = json!({"id": ID, "type": "page.content_updated", "entity": {"id": ID, "type": "page"}, "data": {"updated_blocks": [{"id": "x/../../v1/users"}]}});
        assert!(matches!(event(&body(block)), Err(Refusal::NotAnId { .. })));
        let page = json!({"id": ID, "type": "comment.created", "entity": {"id": ID, "type": "comment"}, "data": {"page_id": "?a=b"}});
        assert!(matches!(event(&body(page)), Err(Refusal::NotAnId { .. })));
        let not_uuid_id = json!({"id": "evt-1", "type": "x", "entity": {"id": ID}});
        assert_eq!(
            event(&body(not_uuid_id)),
            Err(Refusal::NotAnId { field: "id" })
        );
        assert!(matches!(event(b"{nope"), Err(Refusal::NotJson(_))));
        assert!(matches!(
            event(&body(json!({"id": ID, "entity": {"id": ID}}))),
            Err(Refusal::NotAnEvent(_))
        ));
    }

    #[test]
    fn only_small_shallow_bodies_are_verification_requests() {
        assert_eq!(
            verification_token(br#"{"verification_token":"secret_x"}"#).as_deref(),
            Some("secret_x")
        );
        assert_eq!(verification_token(br#"{"verification_token":""}"#), None);
        assert_eq!(verification_token(br#"{"id":"x"}"#), None);
        let big = format!(r#"{{"verification_token":"{}"}}"#, "a".repeat(2000));
        assert_eq!(verification_token(big.as_bytes()), None);
    }
}
