//! Writing an export incrementally: a file is written (to a temporary file, then renamed) only
//! when its content differs from what is on disk; the manifest of the previous export names
//! the files it wrote, and those no longer planned are removed (with the folders they leave
//! empty). Files the export never wrote are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::paths::PlannedFile;
use super::{ExportError, ExportReport};

/// The manifest's file name, in the export's root folder.
pub const MANIFEST: &str = ".notionlake-export.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// Format version.
    version: u32,
    /// Exported file (relative, `/`-separated) by page id.
    files: BTreeMap<String, String>,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.to_path_buf();
    move |source| ExportError::Io {
        action,
        path,
        source,
    }
}

fn read_manifest(out: &Path) -> Result<Manifest, ExportError> {
    let path = out.join(MANIFEST);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ExportError::Manifest {
            path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(io("reading", &path)(e)),
    }
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

/// Brings the folder `out` to `files`.
pub(super) fn apply(out: &Path, files: &[PlannedFile]) -> Result<ExportReport, ExportError> {
    std::fs::create_dir_all(out).map_err(io("creating", out))?;
    let old = read_manifest(out)?;
    let mut report = ExportReport {
        pages: files.len(),
        ..ExportReport::default()
    };
    let mut manifest = Manifest {
        version: 1,
        files: BTreeMap::new(),
    };
    for f in files {
        let path = out.join(&f.path);
        let same = match std::fs::read(&path) {
            Ok(bytes) => bytes == f.content.as_bytes(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io("reading", &path)(e)),
        };
        if same {
            report.unchanged += 1;
        } else {
            write_atomic(&path, f.content.as_bytes())?;
            report.written += 1;
        }
        manifest.files.insert(f.page_id.clone(), to_slash(&f.path));
    }
    let now: BTreeSet<&String> = manifest.files.values().collect();
    for rel in old.files.values().filter(|p| !now.contains(p)) {
        if let Some(path) = inside(out, rel)
            && remove_file_and_empty_dirs(out, &path)?
        {
            report.removed += 1;
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Manifest {
        path: out.join(MANIFEST),
        message: e.to_string(),
    })?;
    write_atomic(&out.join(MANIFEST), &json)?;
    Ok(report)
}
