//! The fake's file host, standing in for the S3 bucket behind Notion-hosted files: `GET
//! /__files/<key>?X-Amz-Date=…&X-Amz-Expires=…` answers as S3 answers a presigned URL:
//! - past `X-Amz-Date + X-Amz-Expires` (or without them): 403 with S3's XML error
//!   (`AccessDenied`, "Request has expired");
//! - a key with `missing` in its name: 404 with S3's XML error (`NoSuchKey`);
//! - a key with `slow` in its name: its bytes at 1 MiB/s (a slow link, for tests that stop a
//!   sync mid-download);
//! - otherwise the file's bytes, streamed in 64 KiB chunks (never held whole, whatever the
//!   size), with its `Content-Length` and a content type from its extension.
//!
//! A file's bytes are a function of its key: a size written in its name (`scan-150MiB.bin`,
//! `note-12KiB.txt`, `x-900B.png`), else 1 to 5 KiB; content from a generator seeded by the
//! name (the key's last segment: a file uploaded twice is two keys with the same bytes).
//! File downloads do not go through the API's gate (no token, no rate limit, not in the API
//! request counts).

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Bytes per streamed chunk.
const CHUNK: usize = 64 << 10;

/// The pause before each chunk of a `slow` file: 16 chunks a second, 1 MiB/s.
const SLOW_CHUNK_PAUSE: std::time::Duration = std::time::Duration::from_micros(62_500);

/// `GET /__files/{*key}`.
pub(super) async fn serve_file(Path(key): Path<String>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    if !signed_and_fresh(&query, chrono::Utc::now()) {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired",
            &key,
        );
    }
    if key.contains("missing") {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
            &key,
        );
    }
    let size = size_of(&key);
    let mut state = seed(name_of(&key));
    let pause = if key.contains("slow") {
        SLOW_CHUNK_PAUSE
    } else {
        std::time::Duration::ZERO
    };
    let chunks = futures::stream::unfold(0u64, move |sent| {
        let left = size - sent;
        let n = (left as usize).min(CHUNK);
        let chunk = (n > 0).then(|| {
            let bytes: Vec<u8> = (0..n).map(|_| next_byte(&mut state)).collect();
            Ok::<_, std::io::Error>(Bytes::from(bytes))
        });
        async move {
            if !pause.is_zero() && chunk.is_some() {
                tokio::time::sleep(pause).await;
            }
            chunk.map(|c| (c, sent + n as u64))
        }
    });
    let mut resp = Body::from_stream(chunks).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&key)),
    );
    resp
}

/// Whether `query` carries a signature whose date plus lifetime is still ahead of `now`.
fn signed_and_fresh(query: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let date = param("X-Amz-Date").and_then(|d| {
        chrono::NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ")
            .ok()
            .map(|t| t.and_utc())
    });
    let expires = param("X-Amz-Expires").and_then(|e| e.parse::<i64>().ok());
    match (date, expires, param("X-Amz-Signature")) {
        (Some(date), Some(expires), Some(_)) => now < date + chrono::Duration::seconds(expires),
        _ => false,
    }
}

/// The size a key names (`-150MiB.`, `-12KiB.`, `-900B.`), else 1 to 5 KiB by the key.
fn size_of(key: &str) -> u64 {
    let stem = name_of(key);
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
    let named = stem.rsplit_once('-').and_then(|(_, size)| {
        let (digits, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit())?);
        let n: u64 = digits.parse().ok()?;
        match unit {
            "B" => Some(n),
            "KiB" => Some(n << 10),
            "MiB" => Some(n << 20),
            _ => None,
        }
    });
    named.unwrap_or_else(|| 1024 + seed(name_of(key)) % 4096)
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) if e == "png" => "image/png",
        Some(e) if e == "jpg" || e == "jpeg" => "image/jpeg",
        Some(e) if e == "gif" => "image/gif",
        Some(e) if e == "pdf" => "application/pdf",
        Some(e) if e == "csv" => "text/csv",
        Some(e) if e == "txt" => "text/plain",
        Some(e) if e == "mp4" => "video/mp4",
        Some(e) if e == "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

/// The file name in a key: its last segment.
fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// A generator state seeded by `key` (FNV-1a), never zero.
fn seed(key: &str) -> u64 {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h.max(1)
}

/// The next byte of an xorshift64 generator.
fn next_byte(state: &mut u64) -> u8 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 32) as u8
}

/// S3's XML error body.
fn s3_error(status: StatusCode, code: &str, message: &str, key: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><Key>{}</Key><RequestId>FAKE{:016X}</RequestId></Error>",
        key.replace('&', "&amp;").replace('<', "&lt;"),
        rand::random::<u64>()
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_names_or_the_key() {
        assert_eq!(size_of("acme/scan-150MiB.bin"), 150 << 20);
        assert_eq!(size_of("acme/note-12KiB.txt"), 12 << 10);
        assert_eq!(size_of("x-900B.png"), 900);
        let s = size_of("acme/arm.png");
        assert!((1024..1024 + 4096).contains(&s) && s == size_of("acme/arm.png"));
    }

    #[test]
    fn a_signature_holds_for_its_lifetime_only() {
        let now = chrono::Utc::now();
        let q = |at: chrono::DateTime<chrono::Utc>, secs: i64| {
            format!(
                "X-Amz-Date={}&X-Amz-Expires={secs}&X-Amz-Signature=ab",
                at.format("%Y%m%dT%H%M%SZ")
            )
        };
        assert!(signed_and_fresh(&q(now, 3600), now));
        assert!(!signed_and_fresh(
            &q(now - chrono::Duration::seconds(5), 2),
            now
        ));
        assert!(!signed_and_fresh("X-Amz-Expires=3600", now));
    }
}
