//! Notion-hosted files as Notion hands them out: every read gets a freshly signed URL, valid
//! for an hour (`X-Amz-Date`, `X-Amz-Signature`, and `expiry_time` an hour after the read), so
//! two reads of one file never give the same URL; the object's key (the URL before `?`) stays.
//! Applied to every answer, wherever a file object sits (files properties, file blocks,
//! covers, icons, comment attachments). The lifetime is the fake's `file_lifetime`; with
//! `host_files` the URLs point at the fake's own file host instead of Notion's bucket.

use std::time::Duration;

use serde_json::{Value, json};

tokio::task_local! {
    /// How the answer being built signs files (set by the gate for each request).
    pub(super) static SIGNING: Signing;
}

/// How files are signed.
#[derive(Debug, Clone)]
pub(super) struct Signing {
    /// Where files are served (`http://host:port/__files`); `None`: the URL's own origin.
    pub origin: Option<String>,
    /// How long a signature holds.
    pub lifetime: Duration,
}

impl Default for Signing {
    fn default() -> Self {
        Signing {
            origin: None,
            lifetime: Duration::from_secs(3600),
        }
    }
}

/// Re-signs every Notion-hosted file object in `body` as read at `now`.
pub(super) fn sign_hosted_files(
    body: &mut Value,
    now: chrono::DateTime<chrono::Utc>,
    signing: &Signing,
) {
    match body {
        Value::Object(o) => {
            // A file object (`{"url", "expiry_time"}`) is signed; any other `file` value (a
            // file block's payload) is searched like the rest.
            for (k, v) in o.iter_mut() {
                if k == "file" && v.get("expiry_time").is_some() {
                    sign(v, now, signing);
                } else {
                    sign_hosted_files(v, now, signing);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                sign_hosted_files(v, now, signing);
            }
        }
        _ => {}
    }
}

fn sign(file: &mut Value, now: chrono::DateTime<chrono::Utc>, signing: &Signing) {
    let Some(url) = file.get("url").and_then(Value::as_str) else {
        return;
    };
    let key = url.split('?').next().unwrap_or(url);
    let key = match &signing.origin {
        // The object's path in the bucket, on the fake's file host.
        Some(origin) => {
            let path = key.split_once("://").map_or(key, |(_, rest)| rest);
            let path = path.split_once('/').map_or("", |(_, p)| p);
            let path = path.strip_prefix("__files/").unwrap_or(path);
            format!("{origin}/{path}")
        }
        None => key.to_string(),
    };
    let secs = signing.lifetime.as_secs().max(1);
    let signed = format!(
        "{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Date={}&X-Amz-Expires={secs}&X-Amz-Signature={:032x}{:032x}&X-Amz-SignedHeaders=host&x-id=GetObject",
        now.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u128>(),
        rand::random::<u128>(),
    );
    let expiry = (now + chrono::Duration::seconds(secs as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    file["url"] = json!(signed);
    file["expiry_time"] = json!(expiry);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_signs_anew_and_keeps_the_key() {
        let stored = json!({"results": [{"properties": {"Contract": {"files": [
            {"name": "c.pdf", "type": "file", "file": {"url": "https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/c.pdf?X-Amz-Expires=3600", "expiry_time": "2026-09-30T09:00:00.000Z"}},
            {"name": "x", "type": "external", "external": {"url": "https://x.test/a?b=c"}}
        ]}}}]});
        let now = chrono::Utc::now();
        let (mut a, mut b) = (stored.clone(), stored.clone());
        sign_hosted_files(&mut a, now, &Signing::default());
        sign_hosted_files(&mut b, now, &Signing::default());
        let file = |v: &Value| {
            v.pointer("/results/0/properties/Contract/files/0/file")
                .unwrap()
                .clone()
        };
        let (fa, fb) = (file(&a), file(&b));
        assert_ne!(fa["url"], fb["url"], "a new signature each read");
        assert!(fa["url"].as_str().unwrap().starts_with(
            "https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/c.pdf?X-Amz-Algorithm"
        ));
        assert_ne!(fa["expiry_time"], "2026-09-30T09:00:00.000Z");
        assert_eq!(
            a.pointer("/results/0/properties/Contract/files/1"),
            stored.pointer("/results/0/properties/Contract/files/1"),
            "external files are left alone"
        );
    }
}
