//! The files an exported page uses, copied into the export: every Notion-hosted file the lake
//! keeps (the `files` table's `stored` rows) that a document links (by its `notion_key`, as
//! `documents.markdown` writes it) or whose URL a page's cover, icon or `files` property holds
//! is copied once per content to `assets/<sha256>.<ext>`, and the link becomes a relative path
//! to it. A hosted file the lake does not keep keeps its link.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use datafusion::prelude::SessionContext;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde_json::Value;
use sha2::Digest;

use super::write::io;
use super::{ExportError, json_rows, lake_error, text};
use crate::files::refs::notion_key;
use crate::sink::Lake;

/// The export's folder of files.
pub const ASSETS_DIR: &str = "assets";

/// A file the lake keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Asset {
    /// SHA-256 of its bytes.
    pub(crate) sha256: String,
    /// Where the lake keeps them.
    pub(crate) lake_path: String,
    /// Its file name extension (from its name or its content type), with the dot, or empty.
    pub(crate) extension: String,
}

impl Asset {
    /// Its path in the export, as path segments.
    pub(crate) fn path(&self) -> Vec<String> {
        vec![
            ASSETS_DIR.to_string(),
            format!("{}{}", self.sha256, self.extension),
        ]
    }
}

/// The stored files of the lake, by Notion key.
#[derive(Debug, Default)]
pub(crate) struct Assets {
    by_key: HashMap<String, Asset>,
}

impl Assets {
    /// Reads the `files` table's stored files (none without the table).
    pub(crate) async fn read(ctx: &SessionContext, has_files: bool) -> Result<Assets, ExportError> {
        let mut by_key = HashMap::new();
        if !has_files {
            return Ok(Assets { by_key });
        }
        let sql = "SELECT DISTINCT notion_key, sha256, lake_path, name, content_type FROM files \
                   WHERE status = 'stored' AND sha256 IS NOT NULL";
        for r in json_rows(ctx, sql).await? {
            let (Some(key), Some(sha256), Some(lake_path)) = (
                text(&r, "notion_key"),
                text(&r, "sha256"),
                text(&r, "lake_path"),
            ) else {
                continue;
            };
            if !sha256.chars().all(|c| c.is_ascii_hexdigit()) || sha256.len() != 64 {
                continue;
            }
            let extension = extension(
                text(&r, "name").as_deref().unwrap_or(&key),
                text(&r, "content_type").as_deref(),
            );
            let asset = Asset {
                sha256,
                lake_path,
                extension,
            };
            by_key.insert(key, asset);
        }
        Ok(Assets { by_key })
    }

    /// The stored file a link or URL names, if the lake keeps it.
    pub(crate) fn of(&self, url: &str) -> Option<&Asset> {
        let key = notion_key(url);
        self.by_key
            .get(key)
            .or_else(|| self.by_key.get(&key.replace("%20", " ")))
    }

    /// Rewrites the Markdown links (`](url)`) to kept files into relative paths from the
    /// folder `from_dir`; the files used go into `used`.
    pub(crate) fn rewrite_markdown(
        &self,
        markdown: &str,
        from_dir: &[String],
        used: &mut BTreeMap<String, Asset>,
    ) -> String {
        let mut out = String::with_capacity(markdown.len());
        let mut rest = markdown;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find([')', ' ', '\n']).unwrap_or(after.len());
            out.push_str(&rest[..at + 2]);
            let target = &after[..end];
            match self.of(target).filter(|_| target.contains("://")) {
                Some(asset) => {
                    out.push_str(&super::paths::relative(from_dir, &asset.path()));
                    used.insert(asset.sha256.clone(), asset.clone());
                }
                None => out.push_str(target),
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    }

    /// Rewrites every string of `value` that is a kept file's URL into a relative path.
    pub(crate) fn rewrite_value(
        &self,
        value: &mut Value,
        from_dir: &[String],
        used: &mut BTreeMap<String, Asset>,
    ) {
        match value {
            Value::String(s) if s.contains("://") => {
                if let Some(asset) = self.of(s) {
                    *s = super::paths::relative(from_dir, &asset.path());
                    used.insert(asset.sha256.clone(), asset.clone());
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.rewrite_value(v, from_dir, used);
                }
            }
            Value::Object(o) => {
                for v in o.values_mut() {
                    self.rewrite_value(v, from_dir, used);
                }
            }
            _ => {}
        }
    }
}

/// A file name extension from a name (or URL), else from a content type; only letters and
/// digits, at most 10 of them.
fn extension(name: &str, content_type: Option<&str>) -> String {
    let last = notion_key(name).rsplit('/').next().unwrap_or_default();
    let from_name = last
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 10 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    let from_type = || {
        let t = content_type?.split(';').next()?.trim();
        Some(
            match t {
                "image/png" => "png",
                "image/jpeg" => "jpg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                "image/svg+xml" => "svg",
                "application/pdf" => "pdf",
                "text/csv" => "csv",
                "text/plain" => "txt",
                "video/mp4" => "mp4",
                "audio/mpeg" => "mp3",
                _ => return None,
            }
            .to_string(),
        )
    };
    from_name
        .or_else(from_type)
        .map_or_else(String::new, |e| format!(".{e}"))
}

/// Copies the kept file `asset` from the lake to `path` (through a temporary file in its
/// folder, renamed when whole), streamed, checking its bytes against its SHA-256.
pub(super) async fn copy_from_lake(
    lake: &Lake,
    asset: &Asset,
    path: &Path,
) -> Result<(), ExportError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("creating a file in", dir))?;
    let got = lake
        .store()
        .get(&lake.path(&asset.lake_path))
        .await
        .map_err(|e| lake_error(format!("{}: {e}", asset.lake_path)))?;
    let mut stream = got.into_stream();
    let mut hash = sha2::Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| lake_error(format!("{}: {e}", asset.lake_path)))?;
        hash.update(&chunk);
        tmp.write_all(&chunk).map_err(io("writing", path))?;
    }
    let sha256 = hex::encode(hash.finalize());
    if sha256 != asset.sha256 {
        return Err(lake_error(format!(
            "{} does not hash to its SHA-256 ({}); run `notionlake sync` to download it again",
            asset.lake_path, asset.sha256
        )));
    }
    tmp.persist(path)
        .map_err(|e| io("replacing", path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets() -> Assets {
        let asset = Asset {
            sha256: "ab".repeat(32),
            lake_path: "files/_sha256/ab/x".into(),
            extension: ".png".into(),
        };
        Assets {
            by_key: HashMap::from([("https://host/ws/a b.png".to_string(), asset)]),
        }
    }

    #[test]
    fn links_and_values_to_kept_files_become_relative_paths() {
        let assets = assets();
        let mut used = BTreeMap::new();
        let dir = vec!["Projects".to_string()];
        let md = assets.rewrite_markdown(
            "![x](https://host/ws/a%20b.png) [y](https://other/z.png) [p](https://www.notion.so/abc)",
            &dir,
            &mut used,
        );
        let want = format!("![x](../assets/{}.png)", "ab".repeat(32));
        assert!(md.starts_with(&want), "{md}");
        assert!(md.ends_with("[y](https://other/z.png) [p](https://www.notion.so/abc)"));
        assert_eq!(used.len(), 1);
        let mut v =
            serde_json::json!({"cover": "https://host/ws/a b.png?X-Amz-Signature=1", "n": 3});
        assets.rewrite_value(&mut v, &[], &mut used);
        assert_eq!(v["cover"], format!("assets/{}.png", "ab".repeat(32)));
        assert_eq!(extension("https://h/x/Report.PDF?sig", None), ".pdf");
        assert_eq!(extension("noext", Some("image/jpeg; q=1")), ".jpg");
        assert_eq!(extension("../../etc", None), "");
    }
}
