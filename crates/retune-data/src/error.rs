//! Errors of the data crate.

use std::path::PathBuf;

/// What can go wrong while reading or checking a dataset.
///
/// Every variant displays as one line. Errors about one row name the file and the 1-based line
/// (for Parquet: the 1-based row number), as in `data/train.tsv:17: expected 2 fields, found 3`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An invalid option value.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A problem with a whole file (unknown format, corrupt Parquet, a column that does not exist).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, one line.
        message: String,
    },
    /// A problem with one row: malformed, a missing or mistyped value, an unknown label.
    #[error("{}:{line}: {message}", path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line of the row's start (for Parquet: 1-based row number).
        line: usize,
        /// What is wrong, one line.
        message: String,
    },
}
