//! Errors of the training engine.

use std::path::PathBuf;

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A model, tokenizer or checkpoint problem.
    #[error(transparent)]
    Model(#[from] retune_models::ModelError),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The loss or the gradient norm became NaN or infinite.
    #[error("non-finite {what} ({value}) at step {step}: lower the learning rate or check the data")]
    NonFinite {
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The value.
        value: f64,
        /// The optimizer step.
        step: usize,
    },
    /// A checkpoint to resume from is missing a piece or does not match the run.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An invalid option or input.
    #[error("{0}")]
    Invalid(String),
}

/// Results of the training engine.
pub type Result<T> = std::result::Result<T, TrainError>;

/// Wraps an I/O error with its path.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.into(),
        source,
    }
}
