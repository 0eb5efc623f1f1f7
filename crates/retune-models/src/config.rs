//! Typed `config.json` for BERT-family encoders, with Hugging Face's defaults.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

fn d_vocab() -> usize {
    30522
}
fn d_hidden() -> usize {
    768
}
fn d_layers() -> usize {
    12
}
fn d_heads() -> usize {
    12
}
fn d_inter() -> usize {
    3072
}
fn d_act() -> String {
    "gelu".into()
}
fn d_drop() -> f64 {
    0.1
}
fn d_maxpos() -> usize {
    512
}
fn d_types() -> usize {
    2
}
fn d_init() -> f64 {
    0.02
}
fn d_eps() -> f64 {
    1e-12
}
fn d_pos_type() -> String {
    "absolute".into()
}

/// `BertConfig` as `transformers` reads it; every default is Hugging Face's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size. Default 30522.
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Hidden size. Default 768.
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    /// Transformer layers. Default 12.
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads. Default 12.
    #[serde(default = "d_heads")]
    pub num_attention_heads: usize,
    /// Feed-forward size. Default 3072.
    #[serde(default = "d_inter")]
    pub intermediate_size: usize,
    /// Activation: `gelu` (erf), `gelu_new` / `gelu_pytorch_tanh` (tanh), `relu`. Default `gelu`.
    #[serde(default = "d_act")]
    pub hidden_act: String,
    /// Dropout on hidden states. Default 0.1.
    #[serde(default = "d_drop")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities. Default 0.1.
    #[serde(default = "d_drop")]
    pub attention_probs_dropout_prob: f64,
    /// Maximum positions. Default 512.
    #[serde(default = "d_maxpos")]
    pub max_position_embeddings: usize,
    /// Token types. Default 2.
    #[serde(default = "d_types")]
    pub type_vocab_size: usize,
    /// Std of the normal initializer. Default 0.02.
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    /// LayerNorm epsilon. Default 1e-12.
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id. Default 0.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Only `absolute` is supported. Default `absolute`.
    #[serde(default = "d_pos_type")]
    pub position_embedding_type: String,
    /// Dropout before the classifier; `None` uses `hidden_dropout_prob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    /// `single_label_classification`, `multi_label_classification` or `regression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// Label names by id (as strings of integers, as in `config.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Label ids by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, i64>>,
    /// Explicit label count (when `id2label` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
    /// Architectures named by the checkpoint (e.g. `BertForSequenceClassification`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// `bert` for BERT-family checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// Every other field, kept so a saved config round-trips.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl BertConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let cfg: BertConfig = read_json_file(path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks the fields the model code relies on.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |m: String| {
            Err(ModelError::Config {
                path: path.into(),
                message: m,
            })
        };
        check_model_type(path, self.model_type.as_deref(), "bert")?;
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "field 'hidden_size' ({}) must be a multiple of 'num_attention_heads' ({})",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "field 'position_embedding_type': '{}' is not supported (only 'absolute')",
                self.position_embedding_type
            ));
        }
        if !matches!(
            self.hidden_act.as_str(),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
        ) {
            return bad(format!(
                "field 'hidden_act': '{}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)",
                self.hidden_act
            ));
        }
        if let Some(p) = &self.problem_type {
            if !matches!(
                p.as_str(),
                "single_label_classification" | "multi_label_classification" | "regression"
            ) {
                return bad(format!("field 'problem_type': unknown value '{p}'"));
            }
        }
        Ok(())
    }

    /// Number of labels: from `id2label`, else `num_labels`, else 2 (Hugging Face's default).
    pub fn label_count(&self) -> usize {
        self.id2label
            .as_ref()
            .map(|m| m.len())
            .filter(|&n| n > 0)
            .or(self.num_labels)
            .unwrap_or(2)
    }

    /// Label names in id order (`LABEL_i` where the config names none).
    pub fn labels(&self) -> Vec<String> {
        (0..self.label_count())
            .map(|i| {
                self.id2label
                    .as_ref()
                    .and_then(|m| m.get(&i.to_string()).cloned())
                    .unwrap_or_else(|| format!("LABEL_{i}"))
            })
            .collect()
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// Parses a config, naming the field at fault in errors (`field 'hidden_size': invalid type ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let message = if field.is_empty() || field == "." {
            e.inner().to_string()
        } else {
            format!("field '{field}': {}", e.inner())
        };
        ModelError::Config {
            path: path.into(),
            message,
        }
    })
}

/// Reads a JSON config file, naming the file and the field at fault in errors.
pub fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    parse_json(&text, path)
}

/// Fails with [`ModelError::Architecture`] when `config.json` names another `model_type`.
pub fn check_model_type(path: &Path, found: Option<&str>, expected: &str) -> Result<()> {
    match found {
        Some(t) if t != expected => Err(ModelError::Architecture {
            path: path.into(),
            found: format!("model_type {t}"),
            supported: expected.into(),
        }),
        _ => Ok(()),
    }
}
