//! The one model interface: a `model_type`-tagged config ([`ModelConfig`]) and the
//! [`Architecture`] trait that answers everything the rest of retune needs to know about a
//! family — its Hugging Face class per head, checkpoint prefix, which layer a parameter belongs
//! to, LoRA targets, head parameters, special tokens — and builds the model for a head.
//!
//! Adding a family = one file (its config, model, heads and `impl Architecture`) + one arm in
//! [`ArchConfig`] and in [`ModelConfig::arch`] / [`ModelConfig::from_file`]. Nothing outside this
//! crate names parameters or classes.

use candle_core::{Device, Result as CResult, Tensor};
use std::path::{Path, PathBuf};

use crate::bert::BertConfig;
use crate::config::{parse_json, LabelConfig};
use crate::distilbert::DistilBertConfig;
use crate::error::{ModelError, Result};
use crate::llama::LlamaConfig;
use crate::nn::{Mode, Params};
pub use crate::ops::OutputRows;
use crate::roberta::RobertaConfig;
use crate::text_tokenizer::EncodedBatch;
use crate::weights::Checkpoint;

/// The `model_type`s retune implements.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["bert", "distilbert", "roberta", "xlm-roberta", "llama"];

/// What sits on top of the encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// No head: the last hidden states (feature extraction, probes).
    Base,
    /// One label (or value) per text: `*ForSequenceClassification`.
    SequenceClassification,
    /// One label per token: `*ForTokenClassification`.
    TokenClassification,
    /// Next-token logits over the vocabulary: `*ForCausalLM`.
    CausalLm,
}

impl Head {
    /// PEFT's `task_type` for adapters of this head.
    pub fn peft_task_type(self) -> &'static str {
        match self {
            Head::Base => "FEATURE_EXTRACTION",
            Head::SequenceClassification => "SEQ_CLS",
            Head::TokenClassification => "TOKEN_CLS",
            Head::CausalLm => "CAUSAL_LM",
        }
    }
}

/// A batch of tokenized inputs: ids, token types and attention mask, each (batch, length) u32.
/// Families without token types (DistilBERT) ignore `token_type_ids`.
#[derive(Clone, Debug)]
pub struct EncoderInput {
    /// Token ids.
    pub input_ids: Tensor,
    /// Segment ids (0 for the first text, 1 for the pair).
    pub token_type_ids: Tensor,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
}

impl EncoderInput {
    /// The tensors of a padded batch on `device`.
    pub fn from_batch(batch: &EncodedBatch, device: &Device) -> CResult<EncoderInput> {
        Ok(EncoderInput {
            input_ids: batch_tensor(&batch.input_ids, device)?,
            token_type_ids: batch_tensor(&batch.token_type_ids, device)?,
            attention_mask: batch_tensor(&batch.attention_mask, device)?,
        })
    }
}

/// A batch tensor (batch, length) of u32 from rows of ids.
pub fn batch_tensor(rows: &[Vec<u32>], device: &Device) -> CResult<Tensor> {
    let len = rows.first().map(|r| r.len()).unwrap_or(0);
    let flat: Vec<u32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), len), device)
}

/// An encoder with its head, whatever the family (shared across threads: batches run side by
/// side, [`crate::batches::map_batches`]).
pub trait EncoderModel: Send + Sync {
    /// The last hidden states of the positions `rows` names, shape (batch, positions, hidden);
    /// the layers below the last compute every position.
    fn hidden_rows(&self, input: &EncoderInput, mode: Mode, rows: OutputRows) -> CResult<Tensor>;
    /// The last hidden states, shape (batch, length, hidden).
    fn hidden(&self, input: &EncoderInput, mode: Mode) -> CResult<Tensor> {
        self.hidden_rows(input, mode, OutputRows::All)
    }
    /// The hidden states after every layer, first layer first, each (batch, length, hidden)
    /// (transformers' `hidden_states[1:]`).
    fn layer_states(&self, input: &EncoderInput, mode: Mode) -> CResult<Vec<Tensor>>;
    /// The positions the head reads: the first for sequence heads, every one otherwise.
    fn head_rows(&self) -> OutputRows;
    /// What the head reads from the hidden states: the first token's state (batch, hidden) for
    /// sequence heads, every state for token heads. A frozen encoder's head inputs can be computed
    /// once per text and fed to [`EncoderModel::head_on`] (the `head` strategy).
    fn head_input(&self, hidden: &Tensor) -> CResult<Tensor>;
    /// The head's input computed from `input`, the last layer limited to [`EncoderModel::head_rows`]
    /// (for a sequence head the same values as `head_input(hidden(..))` at a sixth of that
    /// layer's cost).
    fn head_input_of(&self, input: &EncoderInput, mode: Mode) -> CResult<Tensor> {
        self.head_input(&self.hidden_rows(input, mode, self.head_rows())?)
    }
    /// The head applied to its input: (batch, labels) for sequence classification,
    /// (batch, length, labels) for token classification, the input itself for [`Head::Base`].
    fn head_on(&self, input: &Tensor, mode: Mode) -> CResult<Tensor>;
    /// The head applied to hidden states.
    fn head(&self, hidden: &Tensor, mode: Mode) -> CResult<Tensor> {
        self.head_on(&self.head_input(hidden)?, mode)
    }
    /// The pooler's output (BERT's `tanh(W h_[CLS] + b)`), when the model has a pooler.
    fn pooler_output(&self, _hidden: &Tensor) -> CResult<Option<Tensor>> {
        Ok(None)
    }
    /// Hidden states (of the positions the head reads), then the head.
    fn logits(&self, input: &EncoderInput, mode: Mode) -> CResult<Tensor> {
        self.head_on(&self.head_input_of(input, mode)?, mode)
    }
}

/// What a family answers. Implemented by each family's config type.
pub trait Architecture {
    /// `model_type` written to `config.json`.
    fn model_type(&self) -> &'static str;
    /// The `transformers` class for a head (`BertForSequenceClassification`, ...).
    fn hf_class(&self, head: Head) -> &'static str;
    /// The prefix of encoder parameters in a checkpoint with a head (`bert.`, `distilbert.`, ...).
    fn prefix(&self) -> &'static str;
    /// Top-level modules outside the encoder (`classifier`, `pre_classifier`, `cls`, `lm_head`):
    /// their parameters carry no prefix.
    fn outside_encoder(&self) -> &'static [&'static str];
    /// Path of the layer list inside the encoder (`encoder.layer`, `transformer.layer`).
    fn layers_path(&self) -> &'static str;
    /// Number of encoder layers.
    fn num_layers(&self) -> usize;
    /// Hidden size.
    fn hidden_size(&self) -> usize;
    /// Vocabulary size.
    fn vocab_size(&self) -> usize;
    /// Longest input in tokens, special tokens included.
    fn max_positions(&self) -> usize;
    /// Std of the normal initializer of new parameters.
    fn initializer_range(&self) -> f64;
    /// The padding token's id (when the tokenizer files name none).
    fn pad_token_id(&self) -> u32;
    /// The padding and unknown tokens' text (when the tokenizer files name none).
    fn special_tokens(&self) -> SpecialTokens;
    /// The attention projections LoRA adapts, as paths inside a layer (PEFT's defaults:
    /// `attention.self.query` / `value` for BERT, `attention.q_lin` / `v_lin` for DistilBERT).
    fn lora_targets(&self) -> &'static [&'static str];
    /// Modules of `head` (paths without the encoder prefix) that a `head` strategy trains.
    fn head_modules(&self, head: Head) -> &'static [&'static str];
    /// The head's output projection, whose rows are the labels (`classifier`,
    /// `classifier.out_proj`).
    fn output_projection(&self, head: Head) -> Option<&'static str>;
    /// Parameters the family never trains (DistilBERT's sinusoidal position table).
    fn fixed_params(&self) -> Vec<String> {
        Vec::new()
    }
    /// Builds the model for `head` from `params` (canonical names, see [`canonical_names`]).
    fn build(&self, params: &Params, head: Head, labels: &LabelConfig) -> Result<Box<dyn EncoderModel>>;
    /// Checks the fields the model code relies on.
    fn validate(&self, path: &Path) -> Result<()>;

    /// The word-embedding table (`{prefix}embeddings.word_embeddings.weight` in every family here).
    fn word_embeddings(&self) -> String {
        format!("{}embeddings.word_embeddings.weight", self.prefix())
    }
    /// The encoder layer a parameter belongs to (None for embeddings, pooler and heads).
    fn layer_of(&self, name: &str) -> Option<usize> {
        let rest = name.strip_prefix(self.prefix()).unwrap_or(name);
        let rest = rest.strip_prefix(self.layers_path())?.strip_prefix('.')?;
        rest.split('.').next()?.parse().ok()
    }
    /// Whether `name` (a weight or bias) belongs to the trainable head of `head`.
    fn is_head_param(&self, name: &str, head: Head) -> bool {
        let rest = name.strip_prefix(self.prefix()).unwrap_or(name);
        self.head_modules(head)
            .iter()
            .any(|m| rest.strip_prefix(m).is_some_and(|r| r.starts_with('.')))
    }
    /// The LoRA-adapted modules among `names` (full module paths, without `.weight`).
    fn lora_modules(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter_map(|n| n.strip_suffix(".weight"))
            .filter(|n| self.layer_of(n).is_some())
            .filter(|n| self.lora_targets().iter().any(|t| n.ends_with(&format!(".{t}"))))
            .map(str::to_string)
            .collect()
    }
    /// PEFT's `target_modules`: the last component of each LoRA target.
    fn peft_target_modules(&self) -> Vec<&'static str> {
        self.lora_targets()
            .iter()
            .map(|t| t.rsplit('.').next().unwrap_or(t))
            .collect()
    }
}

/// What [`Architecture::hf_class`] answers for a head the family does not have.
pub const NO_CLASS: &str = "-";

/// The error of building a family with a head it does not have.
pub fn no_head(params: &Params, family: &str, head: Head) -> ModelError {
    ModelError::Config {
        path: params.source.clone(),
        message: format!("{family} has no {head:?} head in retune"),
    }
}

/// The padding and unknown tokens of a family's tokenizers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Padding (`[PAD]`, `<pad>`).
    pub pad: &'static str,
    /// Unknown (`[UNK]`, `<unk>`).
    pub unk: &'static str,
}

/// The family-specific part of a config, tagged by `model_type`.
#[derive(Clone, Debug, PartialEq)]
pub enum ArchConfig {
    /// `bert`.
    Bert(BertConfig),
    /// `distilbert`.
    DistilBert(DistilBertConfig),
    /// `roberta` and `xlm-roberta`.
    Roberta(RobertaConfig),
    /// `llama`.
    Llama(LlamaConfig),
}

/// A model's `config.json`: the family's typed config, the label fields, and the whole JSON
/// object (so a saved config keeps every field it came with).
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The family and its fields.
    pub arch: ArchConfig,
    /// Labels and problem type.
    pub labels: LabelConfig,
    /// The file it was read from.
    pub path: PathBuf,
    raw: serde_json::Map<String, serde_json::Value>,
}

impl ModelConfig {
    /// Reads `dir/config.json`.
    pub fn from_dir(dir: &Path) -> Result<ModelConfig> {
        Self::from_file(&dir.join("config.json"))
    }

    /// Reads and validates a `config.json`; an unknown `model_type` names the file and the
    /// supported types. A config without `model_type` is recognised by its `architectures`.
    pub fn from_file(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_text(&text, path)
    }

    /// Parses and validates the text of a `config.json`; `path` names it in errors (a GGUF
    /// file's path for the config made from its metadata).
    pub fn from_text(text: &str, path: &Path) -> Result<ModelConfig> {
        let raw: serde_json::Map<String, serde_json::Value> = parse_json(text, path)?;
        let unsupported = |found: String| ModelError::Architecture {
            path: path.into(),
            found,
            supported: SUPPORTED_MODEL_TYPES.join(", "),
        };
        let model_type = match raw.get("model_type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            Some(other) => return Err(unsupported(format!("model_type {other}"))),
            None => {
                let class = raw
                    .get("architectures")
                    .and_then(|a| a.get(0))
                    .and_then(|a| a.as_str())
                    .unwrap_or("");
                [
                    ("XLMRoberta", "xlm-roberta"),
                    ("Roberta", "roberta"),
                    ("DistilBert", "distilbert"),
                    ("Bert", "bert"),
                    ("Llama", "llama"),
                ]
                .iter()
                .find(|(p, _)| class.starts_with(p))
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| unsupported("no model_type (and no known architectures)".into()))?
            }
        };
        let arch = match model_type.as_str() {
            "bert" => ArchConfig::Bert(parse_json(text, path)?),
            "distilbert" => ArchConfig::DistilBert(parse_json(text, path)?),
            "roberta" | "xlm-roberta" => ArchConfig::Roberta(RobertaConfig::new(parse_json(text, path)?, &model_type)),
            "llama" => ArchConfig::Llama(parse_json(text, path)?),
            other => return Err(unsupported(format!("model_type {other}"))),
        };
        let labels: LabelConfig = parse_json(text, path)?;
        labels.validate(path)?;
        let cfg = ModelConfig {
            arch,
            labels,
            path: path.into(),
            raw,
        };
        cfg.arch().validate(path)?;
        Ok(cfg)
    }

    /// The family's answers.
    pub fn arch(&self) -> &dyn Architecture {
        match &self.arch {
            ArchConfig::Bert(c) => c,
            ArchConfig::DistilBert(c) => c,
            ArchConfig::Roberta(c) => c,
            ArchConfig::Llama(c) => c,
        }
    }

    /// Builds the model for `head` from `params`.
    pub fn build(&self, params: &Params, head: Head) -> Result<Box<dyn EncoderModel>> {
        self.arch().build(params, head, &self.labels)
    }

    /// Loads the checkpoint of `dir` with canonical parameter names ([`canonical_names`]).
    pub fn load_params(&self, dir: &Path, device: &Device) -> Result<Params> {
        // Every use of loaded weights (training, inference, features) allocates large
        // activation buffers per layer: keep them in the heap (crate::alloc).
        crate::alloc::tune_allocator();
        let mut ckpt = Checkpoint::load(dir, device)?;
        canonical_names(self.arch(), &mut ckpt.tensors);
        Params::from_checkpoint(ckpt, device)
    }

    /// Loads the parameters of `dir`, builds the model for `head` and drops the parameters the
    /// model does not use (a pooler under a token-classification head, an MLM head), as
    /// `from_pretrained` ignores them: they would never get a gradient and are not saved.
    pub fn load_model(&self, dir: &Path, head: Head, device: &Device) -> Result<(Params, Box<dyn EncoderModel>)> {
        let params = self.load_params(dir, device)?;
        params.track_use();
        let model = self.build(&params, head)?;
        params.retain_used();
        Ok((params, model))
    }

    /// `config.json` for a checkpoint saved with `head`: every field it was read with, the
    /// current labels, the family's `model_type` and the head's class in `architectures`.
    pub fn to_json(&self, head: Head) -> Result<Vec<u8>> {
        let mut raw = self.raw.clone();
        for k in ["id2label", "label2id", "num_labels", "problem_type"] {
            raw.remove(k);
        }
        let labels =
            serde_json::to_value(&self.labels).map_err(|e| crate::config::invalid(&self.path, e.to_string()))?;
        if let serde_json::Value::Object(m) = labels {
            raw.extend(m);
        }
        let arch = self.arch();
        raw.insert("model_type".into(), arch.model_type().into());
        raw.insert("architectures".into(), serde_json::json!([arch.hf_class(head)]));
        serde_json::to_vec_pretty(&raw).map_err(|e| crate::config::invalid(&self.path, e.to_string()))
    }

    /// The head the checkpoint was saved with, from the class in its `architectures`
    /// (None for a class of another task, e.g. `BertForMaskedLM`).
    pub fn checkpoint_head(&self) -> Option<Head> {
        let class = self.raw.get("architectures")?.get(0)?.as_str()?;
        [
            Head::SequenceClassification,
            Head::TokenClassification,
            Head::CausalLm,
            Head::Base,
        ]
        .into_iter()
        .find(|&h| self.arch().hf_class(h) == class)
    }

    /// Sets a field of the saved JSON (e.g. a size changed for a model built from scratch).
    pub fn set_raw(&mut self, key: &str, value: serde_json::Value) {
        self.raw.insert(key.into(), value);
    }
}

/// Renames the parameters of a bare encoder checkpoint (a `BertModel` saved without a head, as
/// sentence-transformers ships them) to the names under a head (`embeddings.…` →
/// `bert.embeddings.…`), so every checkpoint is seen, trained and saved with one naming.
pub fn canonical_names<T>(arch: &dyn Architecture, tensors: &mut std::collections::HashMap<String, T>) {
    let prefix = arch.prefix();
    if tensors.keys().any(|n| n.starts_with(prefix)) {
        return;
    }
    *tensors = std::mem::take(tensors)
        .into_iter()
        .map(|(name, t)| {
            let outside = arch
                .outside_encoder()
                .iter()
                .any(|m| name.strip_prefix(m).is_some_and(|r| r.starts_with('.')));
            if outside {
                (name, t)
            } else {
                (format!("{prefix}{name}"), t)
            }
        })
        .collect();
}
