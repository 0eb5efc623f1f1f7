//! Does this pretrained model need fine-tuning or retraining for my task and data? The data
//! audit with a model's tokenizer and features, and the assessment built on it.

pub mod assess;
pub mod audit;
pub mod curve;
pub mod error;
pub mod rank;
pub mod report;

pub use error::{AssessError, Result};
