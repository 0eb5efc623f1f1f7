//! # retune-models
//!
//! Encoders behind one interface ([`arch`]: BERT, DistilBERT, RoBERTa/XLM-R) and Marian
//! encoder-decoders ([`marian`], [`generate`]) on
//! candle, owned by the project and built for training as much as for inference: real dropout
//! in training mode, attention masks in every attention, operations with backward passes, and
//! Hugging Face parameter names so checkpoints go both ways ([`weights`], [`save`]). Tokenizers:
//! `tokenizer.json` / `vocab.txt` ([`text_tokenizer`]) and Marian's SentencePiece files
//! ([`spm`], parsed without the SentencePiece library). Models resolve from folders or the hub
//! cache ([`hub`]).
//!
//! ```
//! use retune_models::classifier::SequenceClassifier;
//! use retune_models::Device;
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bert-tiny-a");
//! // A folder with config.json, model.safetensors (or pytorch_model.bin) and a tokenizer.
//! let clf = SequenceClassifier::load(&dir, &retune_models::device::select("cpu")?)?;
//! let preds = clf.predict(&["a gorgeous , witty film .", "dull ."], None, 32, |_| {})?;
//! assert_eq!(preds.len(), 2);
//! assert!((preds[0].probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! println!("{}", clf.labels[preds[0].label]);
//! # Ok::<(), retune_models::ModelError>(())
//! ```

pub mod alloc;
pub mod arch;
pub mod batches;
pub mod bert;
pub mod causal;
pub mod checkpoint_files;
pub mod classifier;
pub mod config;
pub mod device;
pub mod distilbert;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod hub;
pub mod layers;
pub mod llama;
pub mod marian;
pub mod nn;
pub mod ops;
pub mod roberta;
pub mod save;
pub mod seq2seq;
pub mod spm;
pub mod text_tokenizer;
pub mod weights;

pub use arch::{Architecture, EncoderInput, EncoderModel, Head, ModelConfig};
pub use candle_core::Device;
pub use error::{ModelError, Result};
