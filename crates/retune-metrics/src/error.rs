//! Errors of the metrics crate.

use std::path::PathBuf;

/// What can go wrong while reading inputs for a metric.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not valid UTF-8.
    #[error("{path}:{line}: invalid UTF-8 (byte {byte} of the line)")]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based byte offset inside the line where decoding failed.
        byte: usize,
    },
    /// Two inputs that must be line-aligned have different lengths.
    #[error("{path} has {found} lines but {expected_from} has {expected}")]
    LineCount {
        /// The file with the differing count.
        path: PathBuf,
        /// Its line count.
        found: usize,
        /// The file it is compared against.
        expected_from: PathBuf,
        /// That file's line count.
        expected: usize,
    },
    /// An invalid option value.
    #[error("{0}")]
    Invalid(String),
}
