//! Where Notion-hosted files are referenced: every `{"type": "file", "file": {"url",
//! "expiry_time"}}` object in a page (its `files` properties, cover and icon), a database
//! (cover, icon), a block (image, video, audio, pdf and file blocks; a callout's icon) or a
//! comment (attachments), and custom emoji icons (their images are files too, though Notion
//! serves them unsigned). External files (`type: "external"`) are the owner's URLs and are
//! left alone.
//!
//! A reference's [`FileRef::key`] is its URL without the query string: Notion signs the same
//! object anew on every read (a new signature and `expiry_time`), and the object's path stays.

use serde_json::Value;

/// Where a file is referenced from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Item `index` of a `files` property.
    Property {
        /// The property's id.
        property_id: String,
        /// The file's position in the property's list.
        index: usize,
    },
    /// A media block's file, or a callout's icon.
    Block {
        /// The block.
        block_id: String,
    },
    /// A page's cover.
    PageCover,
    /// A page's icon.
    PageIcon,
    /// A database's cover.
    DatabaseCover,
    /// A database's icon.
    DatabaseIcon,
    /// Attachment `index` of a comment.
    Comment {
        /// The comment.
        comment_id: String,
        /// The attachment's position.
        index: usize,
    },
}

impl Origin {
    /// The origin's kind, as the `files` table names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Property { .. } => "property",
            Origin::Block { .. } => "block",
            Origin::PageCover => "page_cover",
            Origin::PageIcon => "page_icon",
            Origin::DatabaseCover => "database_cover",
            Origin::DatabaseIcon => "database_icon",
            Origin::Comment { .. } => "comment",
        }
    }

    /// The origin a `files` row describes: its kind, ids and index.
    pub fn from_columns(
        kind: &str,
        property_id: Option<String>,
        block_id: Option<String>,
        comment_id: Option<String>,
        index: usize,
    ) -> Option<Origin> {
        Some(match kind {
            "property" => Origin::Property {
                property_id: property_id?,
                index,
            },
            "block" => Origin::Block {
                block_id: block_id?,
            },
            "page_cover" => Origin::PageCover,
            "page_icon" => Origin::PageIcon,
            "database_cover" => Origin::DatabaseCover,
            "database_icon" => Origin::DatabaseIcon,
            "comment" => Origin::Comment {
                comment_id: comment_id?,
                index,
            },
            _ => return None,
        })
    }
}

/// One reference to a Notion-hosted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The page (or database) the reference belongs to.
    pub parent_id: String,
    /// Where in it.
    pub origin: Origin,
    /// The file's name, where Notion gives one (files properties, file blocks).
    pub name: Option<String>,
    /// The signed URL, good until `expiry_time`.
    pub url: String,
    /// Its expiry, when signed.
    pub expiry_time: Option<String>,
    /// The URL without its signature: the same for every read of the same object.
    pub key: String,
}

pub use crate::model::notion_key;

/// A `{"type": "file", "file": {...}}` or custom emoji object as a reference.
fn hosted(parent_id: &str, origin: Origin, object: &Value, name: Option<&str>) -> Option<FileRef> {
    let payload = match object.get("type")?.as_str()? {
        "file" => object.get("file")?,
        "custom_emoji" => object.get("custom_emoji")?,
        _ => return None,
    };
    let url = payload.get("url")?.as_str()?.to_string();
    let name = name
        .or_else(|| object.get("name").and_then(Value::as_str))
        .or_else(|| payload.get("name").and_then(Value::as_str))
        .map(str::to_string);
    Some(FileRef {
        parent_id: parent_id.to_string(),
        origin,
        name,
        key: notion_key(&url).to_string(),
        expiry_time: payload
            .get("expiry_time")
            .and_then(Value::as_str)
            .map(str::to_string),
        url,
    })
}

fn id_of(object: &Value) -> Option<&str> {
    object.get("id")?.as_str()
}

/// The files a page references: its `files` properties, cover and icon.
pub fn refs_of_page(page: &Value) -> Vec<FileRef> {
    let Some(id) = id_of(page) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(props) = page.get("properties").and_then(Value::as_object) {
        for prop in props.values() {
            let (Some(property_id), Some(files)) = (
                prop.get("id").and_then(Value::as_str),
                prop.get("files").and_then(Value::as_array),
            ) else {
                continue;
            };
            for (index, file) in files.iter().enumerate() {
                let origin = Origin::Property {
                    property_id: property_id.to_string(),
                    index,
                };
                out.extend(hosted(id, origin, file, None));
            }
        }
    }
    out.extend(covers_and_icons(
        id,
        page,
        Origin::PageCover,
        Origin::PageIcon,
    ));
    out
}

/// The files a database references: its cover and icon.
pub fn refs_of_database(database: &Value) -> Vec<FileRef> {
    id_of(database).map_or_else(Vec::new, |id| {
        covers_and_icons(id, database, Origin::DatabaseCover, Origin::DatabaseIcon)
    })
}

fn covers_and_icons(id: &str, object: &Value, cover: Origin, icon: Origin) -> Vec<FileRef> {
    let mut out = Vec::new();
    if let Some(c) = object.get("cover") {
        out.extend(hosted(id, cover, c, None));
    }
    if let Some(i) = object.get("icon") {
        out.extend(hosted(id, icon, i, None));
    }
    out
}

/// The files a block of page `page_id` references: a media block's file, a block's icon.
pub fn refs_of_block(block: &Value, page_id: &str) -> Vec<FileRef> {
    let (Some(id), Some(kind)) = (id_of(block), block.get("type").and_then(Value::as_str)) else {
        return Vec::new();
    };
    let Some(payload) = block.get(kind) else {
        return Vec::new();
    };
    let origin = Origin::Block {
        block_id: id.to_string(),
    };
    let mut out = Vec::new();
    if matches!(kind, "image" | "video" | "audio" | "pdf" | "file") {
        out.extend(hosted(page_id, origin.clone(), payload, None));
    }
    if let Some(icon) = payload.get("icon") {
        out.extend(hosted(page_id, origin, icon, None));
    }
    out
}

/// The files a comment on page `page_id` carries: its attachments.
pub fn refs_of_comment(comment: &Value, page_id: &str) -> Vec<FileRef> {
    let Some(id) = id_of(comment) else {
        return Vec::new();
    };
    let attachments = comment.get("attachments").and_then(Value::as_array);
    attachments
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, a)| {
            let file = a.get("file")?;
            let origin = Origin::Comment {
                comment_id: id.to_string(),
                index,
            };
            let url = file.get("url")?.as_str()?.to_string();
            Some(FileRef {
                parent_id: page_id.to_string(),
                origin,
                name: None,
                key: notion_key(&url).to_string(),
                expiry_time: file
                    .get("expiry_time")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                url,
            })
        })
        .collect()
}

/// The files a `blocks` row references (its `raw` payload read again; only rows whose
/// payload names a hosted file are parsed).
pub fn refs_of_block_row(row: &Value) -> Vec<FileRef> {
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    let (Some(id), Some(page_id), Some(kind), Some(raw)) =
        (text("id"), text("page_id"), text("type"), text("raw"))
    else {
        return Vec::new();
    };
    if !raw.contains("\"file\"") && !raw.contains("\"custom_emoji\"") {
        return Vec::new();
    }
    let Ok(payload) = serde_json::from_str::<Value>(raw) else {
        return Vec::new();
    };
    let block = serde_json::json!({"id": id, "type": kind, kind: payload});
    refs_of_block(&block, page_id)
}

/// The files a `comments` row carries: its attachment URLs.
pub fn refs_of_comment_row(row: &Value) -> Vec<FileRef> {
    let text = |k: &str| row.get(k).and_then(Value::as_str);
    let (Some(id), Some(page_id)) = (text("id"), text("page_id")) else {
        return Vec::new();
    };
    let urls = row.get("attachment_urls").and_then(Value::as_array);
    urls.into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, url)| {
            let url = url.as_str()?.to_string();
            Some(FileRef {
                parent_id: page_id.to_string(),
                origin: Origin::Comment {
                    comment_id: id.to_string(),
                    index,
                },
                name: file_name(&url),
                key: notion_key(&url).to_string(),
                expiry_time: None,
                url,
            })
        })
        .collect()
}

/// The last segment of a URL's path, percent-decoded: the name Notion gave the upload.
pub fn file_name(url: &str) -> Option<String> {
    let path = notion_key(url).rsplit('/').next()?;
    let name = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .to_string();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S3: &str = "https://prod-files-secure.s3.us-west-2.amazonaws.com/ws";

    fn file(path: &str) -> Value {
        json!({"type": "file", "file": {"url": format!("{S3}/{path}?X-Amz-Signature=aa"), "expiry_time": "2026-12-07T12:00:00.000Z"}})
    }

    #[test]
    fn a_pages_files_properties_cover_and_icon() {
        let mut contract = file("c.pdf");
        contract["name"] = json!("contract.pdf");
        let page = json!({
            "object": "page", "id": "p1",
            "cover": file("cover.png"),
            "icon": {"type": "custom_emoji", "custom_emoji": {"id": "e1", "name": "rocket", "url": "https://s3-us-west-2.amazonaws.com/public.notion-static.com/e1.png"}},
            "properties": {
                "Contract": {"id": "a%3Ab", "type": "files", "files": [
                    {"name": "x", "type": "external", "external": {"url": "https://x.test/x.pdf"}},
                    contract,
                ]},
                "Name": {"id": "title", "type": "title", "title": []}
            }
        });
        let refs = refs_of_page(&page);
        let got: Vec<(&str, Option<&str>, &str)> = refs
            .iter()
            .map(|r| (r.origin.kind(), r.name.as_deref(), r.key.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("property", Some("contract.pdf"), &*format!("{S3}/c.pdf")),
                ("page_cover", None, &*format!("{S3}/cover.png")),
                (
                    "page_icon",
                    Some("rocket"),
                    "https://s3-us-west-2.amazonaws.com/public.notion-static.com/e1.png"
                ),
            ]
        );
        assert_eq!(
            refs[0].origin,
            Origin::Property {
                property_id: "a%3Ab".into(),
                index: 1
            },
            "the external file keeps its place"
        );
        assert_eq!(
            refs[0].expiry_time.as_deref(),
            Some("2026-12-07T12:00:00.000Z")
        );
    }

    #[test]
    fn media_blocks_icons_and_comment_attachments() {
        let mut image =
            json!({"object": "block", "id": "b1", "type": "image", "image": file("a.png")});
        image["image"]["caption"] = json!([]);
        let mut pdf = json!({"object": "block", "id": "b2", "type": "file", "file": file("s.pdf")});
        pdf["file"]["name"] = json!("spec.pdf");
        let external = json!({"object": "block", "id": "b3", "type": "video", "video": {"type": "external", "external": {"url": "https://youtu.be/x"}}});
        let callout = json!({"object": "block", "id": "b4", "type": "callout", "callout": {"rich_text": [], "icon": file("i.png")}});
        let keys: Vec<Vec<String>> = [image, pdf, external, callout]
            .iter()
            .map(|b| refs_of_block(b, "p1").into_iter().map(|r| r.key).collect())
            .collect();
        assert_eq!(
            keys,
            vec![
                vec![format!("{S3}/a.png")],
                vec![format!("{S3}/s.pdf")],
                vec![],
                vec![format!("{S3}/i.png")]
            ]
        );
        let pdf = json!({"object": "block", "id": "b2", "type": "file", "file": {"type": "file", "name": "spec.pdf", "file": {"url": format!("{S3}/s.pdf?sig"), "expiry_time": null}}});
        assert_eq!(
            refs_of_block(&pdf, "p1")[0].name.as_deref(),
            Some("spec.pdf")
        );
        let comment = json!({"object": "comment", "id": "c1", "attachments": [
            {"category": "image", "file": {"url": format!("{S3}/shot.png?X-Amz-Signature=bb"), "expiry_time": "2026-12-07T12:00:00.000Z"}}
        ]});
        let refs = refs_of_comment(&comment, "p1");
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (
                refs[0].origin.kind(),
                refs[0].key.as_str(),
                refs[0].parent_id.as_str()
            ),
            ("comment", &*format!("{S3}/shot.png"), "p1")
        );
        let db = json!({"object": "database", "id": "d1", "icon": {"type": "emoji", "emoji": "🚀"}, "cover": file("d.png")});
        assert_eq!(refs_of_database(&db)[0].origin, Origin::DatabaseCover);
        assert_eq!(refs_of_database(&db).len(), 1, "an emoji is no file");
    }
}
