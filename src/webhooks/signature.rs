//! `X-Notion-Signature`: `sha256=` and the hex HMAC-SHA256 of the raw request body, keyed by
//! the subscription's verification token. Checked in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header Notion signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-notion-signature";

fn mac(token: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    mac
}

/// The signature header value of `body` under `token`.
pub fn sign(token: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(token, body).finalize().into_bytes())
    )
}

/// Whether `header` is the signature of `body` under `token`.
pub fn verify(token: &str, body: &[u8], header: &str) -> bool {
    let Some(code) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(code) = hex::decode(code) else {
        return false;
    };
    mac(token, body).verify_slice(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_body_and_token() {
        let body = br#"{"id":"e1"}"#;
        let s = sign("secret_abc", body);
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64, "{s}");
        assert!(verify("secret_abc", body, &s));
        assert!(!verify("secret_abd", body, &s), "another token");
        assert!(!verify("secret_abc", br#"{"id":"e2"}"#, &s), "another body");
        assert!(!verify("secret_abc", body, "sha256=zz"), "not hex");
        assert!(!verify("secret_abc", body, &s[7..]), "no scheme");
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
