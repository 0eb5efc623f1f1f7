//! Errors of the models crate: every variant names the file or field at fault.

use std::path::PathBuf;

/// What can go wrong loading, running or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON or a field has the wrong type.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A weights file is truncated, corrupt or of an unsupported format.
    #[error("{path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A parameter the architecture needs is absent from the checkpoint.
    #[error("{path}: missing tensor '{name}'")]
    MissingTensor {
        /// The checkpoint.
        path: PathBuf,
        /// The Hugging Face parameter name.
        name: String,
    },
    /// A tensor's shape differs from what the config implies.
    #[error("{path}: tensor '{name}' has shape {found:?}, expected {expected:?} (from config.json)")]
    Shape {
        /// The checkpoint.
        path: PathBuf,
        /// The parameter name.
        name: String,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape the config implies.
        expected: Vec<usize>,
    },
    /// The checkpoint's architecture is not one this crate implements.
    #[error("{path}: unsupported architecture '{found}' (supported: {supported})")]
    Architecture {
        /// The config file.
        path: PathBuf,
        /// What the config says.
        found: String,
        /// What is supported.
        supported: String,
    },
    /// The model could not be found locally, in the hub cache, or on the hub.
    #[error("model '{id}' not found: {message}")]
    NotFound {
        /// The model id or path given.
        id: String,
        /// Where it was looked for.
        message: String,
    },
    /// A tokenizer file is missing or invalid.
    #[error("{path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The requested compute device cannot be used.
    #[error("--device {spec}: {message}")]
    Device {
        /// What was asked for.
        spec: String,
        /// Why it cannot be used.
        message: String,
    },
    /// An error inside candle while computing.
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;
