//! What a sync is asked to do with Notion-hosted files: whether to keep them, and within which
//! limits.

/// Whether a sync keeps Notion-hosted files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FilesMode {
    /// Leave them: no `files` table, no download.
    None,
    /// Download each new file into the lake and record every reference in `files`.
    #[default]
    Download,
}

/// Files larger than this are recorded `too_large` rather than downloaded (`--max-file-mb`).
pub const DEFAULT_MAX_FILE_MB: u64 = 100;

/// Bytes one run downloads at most; files past it wait for the next run (`--files-budget-mb`).
pub const DEFAULT_BUDGET_MB: u64 = 2048;

/// How a sync keeps files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesOptions {
    /// Keep them or not.
    pub mode: FilesMode,
    /// The largest file downloaded, in bytes.
    pub max_file_bytes: u64,
    /// Bytes one run downloads at most.
    pub budget_bytes: u64,
    /// Downloads at once (their own, apart from the API's rate limit).
    pub slots: usize,
}

impl Default for FilesOptions {
    fn default() -> FilesOptions {
        FilesOptions {
            mode: FilesMode::default(),
            max_file_bytes: DEFAULT_MAX_FILE_MB << 20,
            budget_bytes: DEFAULT_BUDGET_MB << 20,
            slots: super::download::DEFAULT_SLOTS,
        }
    }
}
