//! The shell's errors.

/// A shell error: SQL, or output.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// DataFusion rejected or failed the statement.
    #[error("{0}")]
    Sql(#[from] datafusion::error::DataFusionError),
    /// Printing failed.
    #[error("cannot print the result: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A backslash command was wrong.
    #[error("{0}")]
    Command(String),
    /// Nothing was ever synced at the location.
    #[error(
        "there is no lake at {location}: nothing has been synced there; run `notionlake sync --lake {location}` (or `notionlake demo --lake {location}`) first"
    )]
    NoLake {
        /// The location given.
        location: String,
    },
    /// Reading the lake failed.
    #[error(transparent)]
    Lake(#[from] crate::sink::SinkError),
}
