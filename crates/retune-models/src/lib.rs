//! # retune-models
//!
//! BERT-family encoders on candle (Marian tokenization from SentencePiece files in [`spm`]), owned by the project and built for training as much as for
//! inference: real dropout in training mode, attention masks in every attention, operations
//! with backward passes, and Hugging Face parameter names so checkpoints go both ways.

pub mod bert;
pub mod classifier;
pub mod config;
pub mod error;
pub mod generate;
pub mod hub;
pub mod marian;
pub mod nn;
pub mod save;
pub mod spm;
pub mod text_tokenizer;
pub mod weights;

pub use candle_core::Device;
pub use error::{ModelError, Result};
