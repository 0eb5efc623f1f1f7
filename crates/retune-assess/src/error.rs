//! Errors of the assessment crate.

/// What can go wrong while auditing or assessing.
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    /// Reading or checking data.
    #[error(transparent)]
    Data(#[from] retune_data::DataError),
    /// The audit's own checks.
    #[error(transparent)]
    Audit(#[from] retune_data::audit::AuditError),
    /// Loading or running a model.
    #[error(transparent)]
    Model(#[from] retune_models::ModelError),
    /// Training.
    #[error(transparent)]
    Train(#[from] retune_train::TrainError),
    /// A tensor operation.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// Invalid input or option.
    #[error("{0}")]
    Invalid(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, AssessError>;
