//! Writing an export incrementally, without ever clobbering a file the export does not own:
//! - the manifest of the previous export names each file it wrote with the SHA-256 of what it
//!   wrote; a file is the export's to rewrite or remove only when it is named there and still
//!   has that content (a manifest from before hashes were recorded vouches for its files);
//! - any other file in the way (one the export never wrote, or one changed since) is left
//!   alone and reported, and the export says so (the command exits non-zero);
//! - nothing is written, read or removed through a symlink inside the export folder;
//! - a file is written (to a temporary file, then renamed) only when its content changes, and
//!   files of pages that left (and assets no page uses any more) are removed with the folders
//!   they leave empty; files are compared by SHA-256, read in chunks (an asset may be large).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

use super::assets::copy_from_lake;
use super::paths::{Planned, PlannedFile};
use super::{ExportError, ExportReport};
use crate::sink::Lake;

/// The manifest's file name, in the export's root folder.
pub const MANIFEST: &str = ".notionlake-export.json";

/// The manifest's format: 2 records each file's content hash.
const MANIFEST_VERSION: u32 = 2;

/// Why the export left a file alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kept {
    /// The export did not write it (a file of yours, or of an export whose manifest is gone).
    NotWritten,
    /// The export wrote it, and it was changed since.
    Changed,
    /// The path goes through a symlink.
    Symlink,
}

impl Kept {
    /// What it means, for the summary.
    pub fn describe(self) -> &'static str {
        match self {
            Kept::NotWritten => "not written by the export",
            Kept::Changed => "changed since the export wrote it",
            Kept::Symlink => "a symlink is in the way",
        }
    }
}

/// A file the export wrote, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Written {
    /// Its page.
    page: String,
    /// The hex SHA-256 of the content written; `None` for a file a format-1 manifest named
    /// (before hashes were recorded), which vouches for any content.
    sha256: Option<String>,
}

impl Written {
    /// Whether content of SHA-256 `sha256` is what the export wrote.
    fn wrote(&self, sha256: &str) -> bool {
        self.sha256.as_ref().is_none_or(|h| h == sha256)
    }
}

/// The manifest: every file the export wrote, by path (relative, `/`-separated).
#[derive(Debug, Default, Serialize)]
struct Manifest {
    /// Format version.
    version: u32,
    files: BTreeMap<String, Written>,
}

/// A manifest as stored, in either format (1: `files` maps a page id to its path).
#[derive(Deserialize)]
struct Stored {
    version: u32,
    files: BTreeMap<String, Value>,
}

impl TryFrom<Stored> for Manifest {
    type Error = String;

    fn try_from(stored: Stored) -> Result<Manifest, String> {
        let mut files = BTreeMap::new();
        for (key, value) in stored.files {
            let (path, written) = if stored.version <= 1 {
                let path = value.as_str().ok_or("a file is not a path")?.to_string();
                let written = Written {
                    page: key,
                    sha256: None,
                };
                (path, written)
            } else {
                let written = serde_json::from_value(value).map_err(|e| e.to_string())?;
                (key, written)
            };
            files.insert(path, written);
        }
        Ok(Manifest {
            version: stored.version,
            files,
        })
    }
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

pub(super) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.to_path_buf();
    move |source| ExportError::Io {
        action,
        path,
        source,
    }
}

fn read_manifest(out: &Path, name: &str) -> Result<Manifest, ExportError> {
    let path = out.join(name);
    if is_symlink(&path) {
        return Err(ExportError::Manifest {
            path,
            message: "is a symlink; the export never reads or writes through one".into(),
        });
    }
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Stored>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(Manifest::try_from)
            .map_err(|message| ExportError::Manifest { path, message }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(io("reading", &path)(e)),
    }
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Whether a folder or the file of `rel` under `out` is a symlink (`out` itself may be one:
/// the user chose it).
fn through_symlink(out: &Path, rel: &Path) -> bool {
    let mut at = out.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The SHA-256 of the file at `path` (read in chunks, whatever its size), `None` when there
/// is no file.
fn hash_existing(path: &Path) -> Result<Option<String>, ExportError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", path)(e)),
    };
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(Some(hex::encode(hash.finalize())))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so that a reader
/// (or a crash) never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("creating a file in", dir))?;
    tmp.write_all(bytes).map_err(io("writing", path))?;
    tmp.persist(path)
        .map_err(|e| io("replacing", path)(e.error))?;
    Ok(())
}

/// A manifest path as a path under `out`, when it stays inside it.
fn inside(out: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| out.join(rel))
}

fn to_slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Removes `path` and then each parent folder it leaves empty, up to `out`.
fn remove_file_and_empty_dirs(out: &Path, path: &Path) -> Result<bool, ExportError> {
    let removed = match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io("removing", path)(e)),
    };
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == out || !d.starts_with(out) {
            break;
        }
        // Fails (and stops) when the folder still holds something.
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(removed)
}

/// Brings the folder `out` to `files` (assets copied from `lake`), leaving alone (and
/// reporting) every file the export does not own.
pub(super) async fn apply(
    lake: &Lake,
    out: &Path,
    files: &[PlannedFile],
) -> Result<ExportReport, ExportError> {
    apply_with_manifest(lake, out, files, MANIFEST).await
}

/// [`apply`], with the manifest named `manifest` (another generator of files, such as the dbt
/// package, keeps its own).
pub(crate) async fn apply_with_manifest(
    lake: &Lake,
    out: &Path,
    files: &[PlannedFile],
    manifest_name: &str,
) -> Result<ExportReport, ExportError> {
    std::fs::create_dir_all(out).map_err(io("creating", out))?;
    let old = read_manifest(out, manifest_name)?;
    let assets = files
        .iter()
        .filter(|f| matches!(f.content, Planned::Asset(_)))
        .count();
    let mut report = ExportReport {
        pages: files.len() - assets,
        assets,
        ..ExportReport::default()
    };
    let mut manifest = Manifest {
        version: MANIFEST_VERSION,
        files: BTreeMap::new(),
    };
    for f in files {
        let rel = to_slash(&f.path);
        if through_symlink(out, &f.path) {
            report.kept.push((f.path.clone(), Kept::Symlink));
            continue;
        }
        let path = out.join(&f.path);
        let sha256 = match &f.content {
            Planned::Text(text) => digest(text.as_bytes()),
            Planned::Asset(asset) => asset.sha256.clone(),
        };
        let ours = old.files.get(&rel);
        match (hash_existing(&path)?, ours) {
            (Some(_), None) => {
                report.kept.push((f.path.clone(), Kept::NotWritten));
                continue;
            }
            (Some(have), Some(w)) if !w.wrote(&have) => {
                report.kept.push((f.path.clone(), Kept::Changed));
                // Still the export's record: later exports say the same of it.
                manifest.files.insert(rel, w.clone());
                continue;
            }
            (Some(have), _) if have == sha256 => report.unchanged += 1,
            _ => {
                match &f.content {
                    Planned::Text(text) => write_atomic(&path, text.as_bytes())?,
                    Planned::Asset(asset) => copy_from_lake(lake, asset, &path).await?,
                }
                report.written += 1;
                report.written_paths.push(f.path.clone());
            }
        }
        let written = Written {
            page: f.page_id.clone(),
            sha256: Some(sha256),
        };
        manifest.files.insert(rel, written);
    }
    for (rel, w) in &old.files {
        if manifest.files.contains_key(rel) {
            continue;
        }
        let Some(path) = inside(out, rel) else {
            continue;
        };
        let rel_path = PathBuf::from(rel);
        if through_symlink(out, &rel_path) {
            report.kept.push((rel_path, Kept::Symlink));
            continue;
        }
        match hash_existing(&path)? {
            None => {}
            Some(have) if w.wrote(&have) => {
                let removed = remove_file_and_empty_dirs(out, &path)?;
                report.removed += usize::from(removed);
                if removed {
                    report.removed_paths.push(rel_path);
                }
            }
            Some(_) => {
                report.kept.push((rel_path, Kept::Changed));
                manifest.files.insert(rel.clone(), w.clone());
            }
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Manifest {
        path: out.join(manifest_name),
        message: e.to_string(),
    })?;
    write_atomic(&out.join(manifest_name), &json)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(page: &str, path: &str, content: &str) -> PlannedFile {
        PlannedFile {
            page_id: page.into(),
            path: PathBuf::from(path),
            content: Planned::Text(content.into()),
        }
    }

    /// A format-1 manifest vouches for its files; a page that moved while its old file was
    /// changed by hand keeps both: the new file is the export's, the old one is left alone,
    /// export after export.
    #[tokio::test]
    async fn moved_pages_and_old_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let lake_dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(lake_dir.path().to_str().unwrap()).unwrap();
        std::fs::write(out.join("a.md"), "anything").unwrap();
        std::fs::write(out.join(MANIFEST), r#"{"version":1,"files":{"p1":"a.md"}}"#).unwrap();
        let r = apply(&lake, out, &[planned("p1", "b.md", "new")])
            .await
            .unwrap();
        assert_eq!((r.written, r.removed, r.kept.len()), (1, 1, 0));
        assert!(!out.join("a.md").exists());

        std::fs::write(out.join("b.md"), "new, edited by hand").unwrap();
        let r = apply(&lake, out, &[planned("p1", "c.md", "newer")])
            .await
            .unwrap();
        assert_eq!((r.written, r.removed), (1, 0));
        assert_eq!(r.kept, vec![(PathBuf::from("b.md"), Kept::Changed)]);
        for _ in 0..2 {
            let r = apply(&lake, out, &[planned("p1", "c.md", "newer")])
                .await
                .unwrap();
            assert_eq!((r.written, r.unchanged), (0, 1), "c.md stays the export's");
            assert_eq!(r.kept, vec![(PathBuf::from("b.md"), Kept::Changed)]);
        }
        assert_eq!(
            std::fs::read_to_string(out.join("b.md")).unwrap(),
            "new, edited by hand"
        );
    }
}
