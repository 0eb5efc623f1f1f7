//! Encoder-decoder families behind one interface, for training, evaluation and generation: a
//! `model_type`-tagged config ([`Seq2SeqConfig`]), the network ([`Seq2SeqNet`], which
//! implements [`Decoder`] and [`Seq2Seq`] for the shared search), the pair tokenizer
//! ([`Seq2SeqTokenizer`]) and the family facts training needs (buffers, parameters never
//! trained, decoder layers, LoRA targets, saving). Every family dispatch is one `match` here
//! (text-embeddings-inference's pattern): Marian is the family today; another (BART, T5) adds a
//! variant here and nothing in `retune-train`'s translate task.

use candle_core::{Device, Result as CResult, Tensor};
use std::collections::HashMap;
use std::path::Path;

use crate::error::{ModelError, Result};
use crate::generate::{Decoder, GenerationConfig, Seq2Seq};
use crate::marian::{MarianConfig, MarianMTModel, MarianState};
use crate::nn::{Mode, Params};
use crate::spm::MarianTokenizer;

/// An encoder-decoder's config, tagged by `model_type`.
#[derive(Clone, Debug)]
pub enum Seq2SeqConfig {
    /// `marian` (`MarianMTModel`).
    Marian(MarianConfig),
}

impl Seq2SeqConfig {
    /// Reads `dir/config.json`; its `model_type` picks the family (an error names the file and
    /// the supported families).
    pub fn from_dir(dir: &Path) -> Result<Seq2SeqConfig> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let v: serde_json::Value = crate::config::parse_json(&text, &path)?;
        match v["model_type"].as_str() {
            Some("marian") | None => Ok(Seq2SeqConfig::Marian(MarianConfig::from_file(&path)?)),
            Some(other) => Err(ModelError::Architecture {
                path,
                found: format!("model_type {other}"),
                supported: "marian (encoder-decoder)".into(),
            }),
        }
    }

    /// The `model_type`.
    pub fn model_type(&self) -> &'static str {
        match self {
            Seq2SeqConfig::Marian(_) => "marian",
        }
    }

    /// Decoder layers.
    pub fn decoder_layers(&self) -> usize {
        match self {
            Seq2SeqConfig::Marian(c) => c.decoder_layers,
        }
    }

    /// The position table's length.
    pub fn max_positions(&self) -> usize {
        match self {
            Seq2SeqConfig::Marian(c) => c.max_position_embeddings,
        }
    }

    /// Std of the normal initializer (`scratch`).
    pub fn init_std(&self) -> f64 {
        match self {
            Seq2SeqConfig::Marian(c) => c.init_std,
        }
    }

    /// The padding id.
    pub fn pad_token_id(&self) -> u32 {
        match self {
            Seq2SeqConfig::Marian(c) => c.pad_token_id,
        }
    }

    /// The first decoder token.
    pub fn decoder_start_token_id(&self) -> u32 {
        match self {
            Seq2SeqConfig::Marian(c) => c.decoder_start_token_id,
        }
    }

    /// Generation defaults from `config.json` (before `generation_config.json`).
    pub fn generation_config(&self) -> GenerationConfig {
        match self {
            Seq2SeqConfig::Marian(c) => c.generation_config(),
        }
    }

    /// Parameters that are buffers, never trained (Marian's `final_logits_bias`).
    pub fn buffers(&self) -> &'static [&'static str] {
        match self {
            Seq2SeqConfig::Marian(_) => crate::marian::BUFFERS,
        }
    }

    /// Parameters saved but unused (Marian's `model.shared.weight` when untied).
    pub fn unused_params(&self) -> &'static [&'static str] {
        match self {
            Seq2SeqConfig::Marian(c) => crate::marian::unused_params(c),
        }
    }

    /// Whether `name` is a word-embedding table (its padding row is zeroed at initialization,
    /// as transformers does).
    pub fn is_word_embedding(&self, name: &str) -> bool {
        match self {
            Seq2SeqConfig::Marian(_) => name.ends_with("shared.weight") || name.contains("embed_tokens"),
        }
    }

    /// The decoder layer a parameter belongs to.
    pub fn decoder_layer_of(&self, name: &str) -> Option<usize> {
        match self {
            Seq2SeqConfig::Marian(_) => name
                .strip_prefix("model.decoder.layers.")
                .and_then(|r| r.split('.').next())
                .and_then(|i| i.parse().ok()),
        }
    }

    /// The modules LoRA adapts among `names` (PEFT's defaults: Marian's `q_proj` and `v_proj`
    /// of every attention), as module paths without `.weight`.
    pub fn lora_modules(&self, names: &[String]) -> Vec<String> {
        match self {
            Seq2SeqConfig::Marian(_) => names
                .iter()
                .filter(|n| n.ends_with(".q_proj.weight") || n.ends_with(".v_proj.weight"))
                .map(|n| n.trim_end_matches(".weight").to_string())
                .collect(),
        }
    }

    /// Builds the network from `params` (settling tied names and creating missing tensors).
    pub fn build(&self, params: &Params) -> Result<Seq2SeqNet> {
        match self {
            Seq2SeqConfig::Marian(c) => Ok(Seq2SeqNet::Marian(MarianMTModel::load(params, c)?)),
        }
    }

    /// The family's tokenizer from the model folder.
    pub fn tokenizer(&self, dir: &Path) -> Result<Seq2SeqTokenizer> {
        match self {
            Seq2SeqConfig::Marian(_) => Ok(Seq2SeqTokenizer::Marian(MarianTokenizer::from_dir(dir).map_err(
                |e| ModelError::Tokenizer {
                    path: dir.into(),
                    message: e.to_string(),
                },
            )?)),
        }
    }

    /// Saves `tensors` as a Hugging Face checkpoint of the family (atomically), the tokenizer
    /// files copied from `tokenizer_dir`.
    pub fn save(&self, dest: &Path, tensors: &HashMap<String, Tensor>, tokenizer_dir: Option<&Path>) -> Result<()> {
        match self {
            Seq2SeqConfig::Marian(c) => crate::save::save_marian_tensors(dest, tensors, c, tokenizer_dir),
        }
    }
}

/// An encoder-decoder network.
pub enum Seq2SeqNet {
    /// Marian.
    Marian(MarianMTModel),
}

impl Seq2SeqNet {
    /// Teacher-forced logits (batch, target len, vocab) of `decoder_input_ids` (the labels
    /// shifted right, [`shift_tokens_right`]) given the source.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        decoder_input_ids: &Tensor,
        mode: Mode,
    ) -> CResult<Tensor> {
        match self {
            Seq2SeqNet::Marian(m) => m.forward(input_ids, attention_mask, decoder_input_ids, mode),
        }
    }
}

/// What generation keeps between steps, per family.
pub enum Seq2SeqState {
    /// Marian's encoded source and cache.
    Marian(MarianState),
}

impl Decoder for Seq2SeqNet {
    type State = Seq2SeqState;
    fn device(&self) -> &Device {
        match self {
            Seq2SeqNet::Marian(m) => m.device(),
        }
    }
    fn feed(&self, tokens: &Tensor, state: &mut Seq2SeqState) -> CResult<Tensor> {
        match (self, state) {
            (Seq2SeqNet::Marian(m), Seq2SeqState::Marian(s)) => m.feed(tokens, s),
        }
    }
    fn select_rows(&self, state: &mut Seq2SeqState, rows: &Tensor) -> CResult<()> {
        match (self, state) {
            (Seq2SeqNet::Marian(m), Seq2SeqState::Marian(s)) => m.select_rows(s, rows),
        }
    }
}

impl Seq2Seq for Seq2SeqNet {
    fn start(&self, input_ids: &Tensor, attention_mask: &Tensor) -> CResult<Seq2SeqState> {
        match self {
            Seq2SeqNet::Marian(m) => Ok(Seq2SeqState::Marian(m.start(input_ids, attention_mask)?)),
        }
    }
}

/// A family's tokenizer of source and target text.
pub enum Seq2SeqTokenizer {
    /// Marian's two SentencePiece models and vocabulary.
    Marian(MarianTokenizer),
}

impl Seq2SeqTokenizer {
    /// Source ids, `</s>` included.
    pub fn encode_source(&self, text: &str) -> Vec<u32> {
        match self {
            Seq2SeqTokenizer::Marian(t) => t.encode_source(text),
        }
    }
    /// Target (label) ids, `</s>` included.
    pub fn encode_target(&self, text: &str) -> Vec<u32> {
        match self {
            Seq2SeqTokenizer::Marian(t) => t.encode_target(text),
        }
    }
    /// Text of target ids.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        match self {
            Seq2SeqTokenizer::Marian(t) => t.decode(ids, skip_special_tokens),
        }
    }
    /// The padding id.
    pub fn pad_id(&self) -> u32 {
        match self {
            Seq2SeqTokenizer::Marian(t) => t.pad_id(),
        }
    }
    /// The unknown-token id.
    pub fn unk_id(&self) -> u32 {
        match self {
            Seq2SeqTokenizer::Marian(t) => t.unk_id(),
        }
    }
}

/// transformers' `shift_tokens_right`: `start` first, then the labels without their last
/// column, with -100 (ignored label) replaced by `pad`.
pub fn shift_tokens_right(labels: &[Vec<i64>], pad: u32, start: u32) -> Vec<Vec<u32>> {
    labels
        .iter()
        .map(|row| {
            let mut out = Vec::with_capacity(row.len());
            if !row.is_empty() {
                out.push(start);
                out.extend(
                    row[..row.len() - 1]
                        .iter()
                        .map(|&t| if t == -100 { pad } else { t as u32 }),
                );
            }
            out
        })
        .collect()
}

/// Translates (or summarizes) `texts`: tokenizes with `encode`, pads with `pad` to the longest,
/// generates with `cfg`, decodes each first sequence with `decode`.
pub fn translate_with<M: Seq2Seq>(
    model: &M,
    encode: impl Fn(&str) -> Vec<u32>,
    decode: impl Fn(&[u32]) -> String,
    pad: u32,
    texts: &[&str],
    cfg: &GenerationConfig,
) -> Result<Vec<String>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Vec<u32>> = texts.iter().map(|t| encode(t)).collect();
    let width = ids.iter().map(Vec::len).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(ids.len() * width);
    let mut mask = Vec::with_capacity(ids.len() * width);
    for row in &ids {
        flat.extend(row.iter().copied().chain(std::iter::repeat_n(pad, width - row.len())));
        mask.extend((0..width).map(|i| u32::from(i < row.len())));
    }
    let dev = model.device();
    let input_ids = Tensor::from_vec(flat, (ids.len(), width), dev)?;
    let attention_mask = Tensor::from_vec(mask, (ids.len(), width), dev)?;
    let out = crate::generate::generate(model, &input_ids, &attention_mask, cfg)?;
    let per = cfg.num_return_sequences.max(1);
    Ok(out.sequences.iter().step_by(per).map(|s| decode(s)).collect())
}

/// [`translate_with`] for any family.
pub fn translate(
    net: &Seq2SeqNet,
    tokenizer: &Seq2SeqTokenizer,
    texts: &[&str],
    cfg: &GenerationConfig,
) -> Result<Vec<String>> {
    translate_with(
        net,
        |t| tokenizer.encode_source(t),
        |ids| tokenizer.decode(ids, true),
        tokenizer.pad_id(),
        texts,
        cfg,
    )
}
