//! Llama-family causal language models (`model_type` `llama`: Llama 2, SmolLM/SmolLM2, TinyLlama
//! and the other checkpoints `LlamaForCausalLM` loads): the config ([`config`]), the decoder with
//! its KV cache ([`model`]), and the family's answers to [`Architecture`]. Checkpoints come from a
//! Hugging Face folder or from a GGUF file ([`crate::gguf`]), which is dequantised to the same
//! parameters.

pub mod config;
pub mod model;

use std::path::Path;

pub use config::LlamaConfig;
pub use model::{KvCache, LlamaModel};

use crate::arch::{Architecture, EncoderModel, Head, SpecialTokens};
use crate::config::LabelConfig;
use crate::error::{ModelError, Result};
use crate::nn::Params;

impl Architecture for LlamaConfig {
    fn model_type(&self) -> &'static str {
        "llama"
    }
    fn hf_class(&self, head: Head) -> &'static str {
        match head {
            Head::Base => "LlamaModel",
            Head::SequenceClassification => "LlamaForSequenceClassification",
            Head::TokenClassification => "LlamaForTokenClassification",
            Head::CausalLm => "LlamaForCausalLM",
        }
    }
    fn prefix(&self) -> &'static str {
        "model."
    }
    fn outside_encoder(&self) -> &'static [&'static str] {
        &["lm_head", "score"]
    }
    fn layers_path(&self) -> &'static str {
        "layers"
    }
    fn num_layers(&self) -> usize {
        self.num_hidden_layers
    }
    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    fn max_positions(&self) -> usize {
        self.max_position_embeddings
    }
    fn initializer_range(&self) -> f64 {
        self.initializer_range
    }
    fn pad_token_id(&self) -> u32 {
        self.pad_token_id
            .or_else(|| self.eos_ids().first().copied())
            .unwrap_or(0)
    }
    fn special_tokens(&self) -> SpecialTokens {
        SpecialTokens {
            pad: "<pad>",
            unk: "<unk>",
        }
    }
    /// PEFT's targets for causal LMs in retune: every attention and MLP projection.
    fn lora_targets(&self) -> &'static [&'static str] {
        &[
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        ]
    }
    /// None: the output projection is pretrained, not a new head (PEFT's causal-LM adapters save
    /// no module; `top:K` trains the last K decoder layers only).
    fn head_modules(&self, _head: Head) -> &'static [&'static str] {
        &[]
    }
    fn output_projection(&self, _head: Head) -> Option<&'static str> {
        None
    }
    fn word_embeddings(&self) -> String {
        "model.embed_tokens.weight".into()
    }
    fn build(&self, params: &Params, head: Head, _labels: &LabelConfig) -> Result<Box<dyn EncoderModel>> {
        if matches!(head, Head::SequenceClassification | Head::TokenClassification) {
            return Err(ModelError::Config {
                path: params.source.clone(),
                message: format!(
                    "llama: the {head:?} head is not implemented (causal language modelling and features only)"
                ),
            });
        }
        Ok(Box::new(LlamaModel::load(self, params, head)?))
    }
    fn validate(&self, path: &Path) -> Result<()> {
        LlamaConfig::validate(self, path)
    }
}
