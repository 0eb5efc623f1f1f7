//! `LlamaConfig` as `transformers` reads it (every default is Hugging Face's), with the rotary
//! settings typed: `rope_theta` (transformers 4) or `rope_parameters` (transformers 5), and only
//! the unscaled (`default`) rotary embedding accepted — a scaled one is refused by name, not
//! silently computed another way.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::config::invalid;
use crate::error::Result;
use crate::generate::TokenIds;

fn d_vocab() -> usize {
    32000
}
fn d_hidden() -> usize {
    4096
}
fn d_inter() -> usize {
    11008
}
fn d_layers() -> usize {
    32
}
fn d_heads() -> usize {
    32
}
fn d_act() -> String {
    "silu".into()
}
fn d_maxpos() -> usize {
    2048
}
fn d_init() -> f64 {
    0.02
}
fn d_eps() -> f64 {
    1e-6
}
fn d_bos() -> Option<u32> {
    Some(1)
}
fn d_eos() -> Option<TokenIds> {
    Some(TokenIds::One(2))
}

/// transformers 5's `rope_parameters` (`{"rope_type": "default", "rope_theta": 10000.0}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RopeParameters {
    /// `default` is the only kind implemented. Default `default`.
    #[serde(default)]
    pub rope_type: Option<String>,
    /// Base of the rotary frequencies.
    #[serde(default)]
    pub rope_theta: Option<f64>,
}

/// `LlamaConfig`; the fields retune reads, each with transformers' default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size. Default 32000.
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Hidden size. Default 4096.
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    /// SwiGLU inner size. Default 11008.
    #[serde(default = "d_inter")]
    pub intermediate_size: usize,
    /// Decoder layers. Default 32.
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// Query heads. Default 32.
    #[serde(default = "d_heads")]
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention). Default: `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Size of one head. Default: `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// The MLP's gate activation. Default `silu`.
    #[serde(default = "d_act")]
    pub hidden_act: String,
    /// Context window in tokens. Default 2048.
    #[serde(default = "d_maxpos")]
    pub max_position_embeddings: usize,
    /// Std of the normal initializer. Default 0.02.
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    /// RMSNorm epsilon. Default 1e-6.
    #[serde(default = "d_eps")]
    pub rms_norm_eps: f64,
    /// The output projection is the token embedding. Default false.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Rotary base (transformers 4). Default 10000 when `rope_parameters` names none.
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Rotary settings (transformers 5).
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    /// Rotary scaling (transformers 4); only null or `default` is implemented.
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    /// Biases on q/k/v/o. Default false.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections. Default false.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Dropout on attention probabilities. Default 0.
    #[serde(default)]
    pub attention_dropout: f64,
    /// Beginning-of-sequence token. Default 1.
    #[serde(default = "d_bos")]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token(s). Default 2.
    #[serde(default = "d_eos")]
    pub eos_token_id: Option<TokenIds>,
    /// Padding token. Default none.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

impl LlamaConfig {
    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Size of one attention head.
    pub fn head_size(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// The rotary base: `rope_parameters.rope_theta`, else `rope_theta`, else 10000.
    pub fn rope_base(&self) -> f64 {
        self.rope_parameters
            .as_ref()
            .and_then(|r| r.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(10000.0)
    }

    /// End-of-sequence ids (empty when the config names none).
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id.as_ref().map(TokenIds::to_vec).unwrap_or_default()
    }

    /// Checks the fields the model code relies on, naming the field at fault.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let (h, kv) = (self.num_attention_heads, self.kv_heads());
        if h == 0 || kv == 0 || h % kv != 0 {
            return Err(invalid(
                path,
                format!(
                    "field 'num_attention_heads' ({h}) must be a positive multiple of 'num_key_value_heads' ({kv})"
                ),
            ));
        }
        if self.head_dim.is_none() && self.hidden_size % h != 0 {
            return Err(invalid(
                path,
                format!(
                    "field 'hidden_size' ({}) must be a multiple of 'num_attention_heads' ({h}) when 'head_dim' is not given",
                    self.hidden_size
                ),
            ));
        }
        if self.head_size() % 2 != 0 {
            return Err(invalid(
                path,
                format!(
                    "field 'head_dim' ({}) must be even for rotary embeddings",
                    self.head_size()
                ),
            ));
        }
        if !matches!(self.hidden_act.as_str(), "silu" | "swish") {
            return Err(invalid(
                path,
                format!("field 'hidden_act': '{}' is not supported (silu)", self.hidden_act),
            ));
        }
        let kind = self
            .rope_parameters
            .as_ref()
            .and_then(|r| r.rope_type.clone())
            .or_else(|| match &self.rope_scaling {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(
                    v.get("rope_type")
                        .or_else(|| v.get("type"))
                        .and_then(|t| t.as_str())
                        .unwrap_or("unknown")
                        .to_string(),
                ),
            });
        if let Some(kind) = kind.filter(|k| k != "default") {
            return Err(invalid(
                path,
                format!(
                    "rotary scaling '{kind}' is not supported (only unscaled rotary embeddings: rope_type 'default')"
                ),
            ));
        }
        Ok(())
    }
}
