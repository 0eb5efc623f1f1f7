//! Generation for every model that decodes one token at a time: encoder-decoders (Marian,
//! `marian.rs`) and decoder-only models (Llama, `causal/`) implement [`Decoder`] (feed tokens,
//! get the next token's logits, keep chosen rows of the state); greedy search, sampling and beam
//! search ([`search`]) and transformers' logits processors ([`processors`]) live once, here, and
//! import no model.
//!
//! What is copied from transformers (5.x): every row starts from a prefix (an encoder-decoder's
//! `decoder_start_token_id`, a decoder-only model's prompt) and the returned sequences include
//! it; finished rows are right-padded with `pad_token_id`; `max_length` counts the prefix
//! (`max_new_tokens`, when set, replaces it by prefix + new). Processors, in transformers'
//! order — repetition penalty, `no_repeat_ngram_size`, bad words, `min_length`,
//! `min_new_tokens`, forced EOS, then for sampling temperature, top-k, top-p — see raw logits in
//! greedy search and sampling and log-softmax scores in beam search (`renormalize_logits` adds a
//! log-softmax after them). Beam search keeps the top `2k` of `running + logprob` over `k × V`
//! per input; EOS candidates ranked in the first `k` become finished hypotheses scored
//! `sum_logprobs / gen_len^length_penalty` (`gen_len` counts generated tokens, EOS included);
//! the best `k` others continue; `early_stopping` decides when an input is done.

pub mod processors;
pub mod search;

use candle_core::{Device, Result as CResult, Tensor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;

use crate::config::parse_json;
use crate::error::{ModelError, Result};

/// What search needs from a model: feed tokens, read the next token's logits, keep rows.
/// Implemented by each family (`marian.rs`, `causal/`); this module imports none of them.
pub trait Decoder {
    /// Everything the model keeps between steps (key/value caches; an encoder-decoder's encoded
    /// source), one row per sequence being generated.
    type State;
    /// Where the model runs.
    fn device(&self) -> &Device;
    /// Appends `tokens` u32 (rows, n) to every row of `state` and returns the logits
    /// (rows, vocab) of the token after them; inference mode.
    fn feed(&self, tokens: &Tensor, state: &mut Self::State) -> CResult<Tensor>;
    /// Keeps the state's rows `rows` (u32 indices), in that order: beams copy their input's row
    /// and follow their parents.
    fn select_rows(&self, state: &mut Self::State, rows: &Tensor) -> CResult<()>;
}

/// An encoder-decoder: the source is encoded once into a fresh [`Decoder::State`].
pub trait Seq2Seq: Decoder {
    /// Encodes `input_ids` u32 (batch, len) with `attention_mask` (batch, len): a state with one
    /// row per input and nothing decoded yet.
    fn start(&self, input_ids: &Tensor, attention_mask: &Tensor) -> CResult<Self::State>;
}

/// One token id or several (transformers accepts both for `eos_token_id` and
/// `forced_eos_token_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(i) => vec![*i],
            TokenIds::Many(v) => v.clone(),
        }
    }
}

/// When beam search stops for an input (transformers' `early_stopping`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// `false`: stop once no running beam can beat the worst finished one, estimated at the
    /// current length (transformers' default).
    #[default]
    Heuristic,
    /// `true`: stop as soon as `num_beams` hypotheses are finished.
    Stop,
    /// `"never"`: stop only when no running beam can improve, estimated at `max_length` for a
    /// positive length penalty (canonical beam search).
    Never,
}

impl Serialize for EarlyStopping {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            EarlyStopping::Heuristic => s.serialize_bool(false),
            EarlyStopping::Stop => s.serialize_bool(true),
            EarlyStopping::Never => s.serialize_str("never"),
        }
    }
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            B(bool),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::B(true) => Ok(EarlyStopping::Stop),
            Raw::B(false) => Ok(EarlyStopping::Heuristic),
            Raw::S(s) if s == "never" => Ok(EarlyStopping::Never),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "expected true, false or \"never\", found \"{s}\""
            ))),
        }
    }
}

/// Generation settings: the subset of transformers' `GenerationConfig` that retune's models
/// use. `Default` is transformers' defaults (with no special tokens: a model fills those in).
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationConfig {
    /// Longest output, prefix (start token or prompt) included. Default 20.
    pub max_length: usize,
    /// Most tokens to add after the prefix; when set it replaces `max_length` by prefix + this.
    /// Default None.
    pub max_new_tokens: Option<usize>,
    /// End-of-sequence tokens are banned while the output (prefix included) is shorter.
    /// Default 0.
    pub min_length: usize,
    /// End-of-sequence tokens are banned until this many tokens were added. Default 0.
    pub min_new_tokens: usize,
    /// Beams; 1 = greedy search or sampling. Default 1.
    pub num_beams: usize,
    /// Exponent of the length normalization of finished beams. Default 1.0.
    pub length_penalty: f64,
    /// When beam search stops. Default [`EarlyStopping::Heuristic`] (`false`).
    pub early_stopping: EarlyStopping,
    /// Banned token sequences (Marian: `[[pad]]`). Default none.
    pub bad_words_ids: Vec<Vec<u32>>,
    /// Tokens forced at `max_length - 1` (Marian: `</s>`). Default none.
    pub forced_eos_token_id: Vec<u32>,
    /// No n-gram of this size occurs twice in a row's sequence (prefix included); 0 = off.
    /// Default 0.
    pub no_repeat_ngram_size: usize,
    /// Logits of tokens already in the sequence (prefix included) are divided by it when
    /// positive, multiplied when negative; 1.0 = off. Default 1.0.
    pub repetition_penalty: f64,
    /// Sample the next token instead of taking the most likely one (not with beams).
    /// Default false.
    pub do_sample: bool,
    /// Sampling temperature. Default 1.0.
    pub temperature: f64,
    /// Sampling keeps the k most likely tokens (ties with the k-th kept); None or 0 = all.
    /// Default Some(50).
    pub top_k: Option<usize>,
    /// Sampling keeps the smallest set of tokens whose probability reaches p; 1.0 = all.
    /// Default 1.0.
    pub top_p: f64,
    /// Seed of retune's sampler (transformers draws from torch's generator: sampled tokens
    /// differ, distributions agree). Default 0.
    pub seed: u64,
    /// End-of-sequence ids. Default none (the model's).
    pub eos_token_ids: Vec<u32>,
    /// Padding id (fills finished rows). Default 0 (the model's).
    pub pad_token_id: u32,
    /// First decoder token of an encoder-decoder. Default 0 (the model's).
    pub decoder_start_token_id: u32,
    /// Sequences returned per input (at most `num_beams`), best first. Default 1.
    pub num_return_sequences: usize,
    /// Log-softmax again after the logits processors. Default false.
    pub renormalize_logits: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            max_length: 20,
            max_new_tokens: None,
            min_length: 0,
            min_new_tokens: 0,
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Heuristic,
            bad_words_ids: Vec::new(),
            forced_eos_token_id: Vec::new(),
            no_repeat_ngram_size: 0,
            repetition_penalty: 1.0,
            do_sample: false,
            temperature: 1.0,
            top_k: Some(50),
            top_p: 1.0,
            seed: 0,
            eos_token_ids: Vec::new(),
            pad_token_id: 0,
            decoder_start_token_id: 0,
            num_return_sequences: 1,
            renormalize_logits: false,
        }
    }
}

/// The fields of `generation_config.json` this crate reads.
#[derive(Debug, Default, Deserialize)]
struct GenerationConfigFile {
    max_length: Option<usize>,
    #[serde(default, deserialize_with = "some_or_null")]
    max_new_tokens: Option<Option<usize>>,
    min_length: Option<usize>,
    #[serde(default, deserialize_with = "some_or_null")]
    min_new_tokens: Option<Option<usize>>,
    num_beams: Option<usize>,
    length_penalty: Option<f64>,
    early_stopping: Option<EarlyStopping>,
    bad_words_ids: Option<Vec<Vec<u32>>>,
    #[serde(default, deserialize_with = "some_or_null")]
    forced_eos_token_id: Option<Option<TokenIds>>,
    no_repeat_ngram_size: Option<usize>,
    repetition_penalty: Option<f64>,
    do_sample: Option<bool>,
    temperature: Option<f64>,
    #[serde(default, deserialize_with = "some_or_null")]
    top_k: Option<Option<usize>>,
    top_p: Option<f64>,
    eos_token_id: Option<TokenIds>,
    pad_token_id: Option<u32>,
    decoder_start_token_id: Option<u32>,
    num_return_sequences: Option<usize>,
    renormalize_logits: Option<bool>,
}

/// Distinguishes an absent field (None) from an explicit null (Some(None)).
fn some_or_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?))
}

impl GenerationConfig {
    /// The model folder's settings: `defaults` (from the model's `config.json`, e.g.
    /// [`crate::marian::MarianConfig::generation_config`]), overridden by every field
    /// `generation_config.json` sets (when the file exists).
    pub fn from_model_dir(dir: &Path, defaults: GenerationConfig) -> Result<GenerationConfig> {
        let mut g = defaults;
        let path = dir.join("generation_config.json");
        if !path.exists() {
            return Ok(g);
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let f: GenerationConfigFile = parse_json(&text, &path)?;
        if let Some(v) = f.max_length {
            g.max_length = v;
        }
        if let Some(v) = f.max_new_tokens {
            g.max_new_tokens = v;
        }
        if let Some(v) = f.min_length {
            g.min_length = v;
        }
        if let Some(v) = f.min_new_tokens {
            g.min_new_tokens = v.unwrap_or(0);
        }
        if let Some(v) = f.no_repeat_ngram_size {
            g.no_repeat_ngram_size = v;
        }
        if let Some(v) = f.repetition_penalty {
            g.repetition_penalty = v;
        }
        if let Some(v) = f.do_sample {
            g.do_sample = v;
        }
        if let Some(v) = f.temperature {
            g.temperature = v;
        }
        if let Some(v) = f.top_k {
            g.top_k = v;
        }
        if let Some(v) = f.top_p {
            g.top_p = v;
        }
        if let Some(v) = f.num_beams {
            g.num_beams = v;
        }
        if let Some(v) = f.length_penalty {
            g.length_penalty = v;
        }
        if let Some(v) = f.early_stopping {
            g.early_stopping = v;
        }
        if let Some(v) = f.bad_words_ids {
            g.bad_words_ids = v;
        }
        if let Some(v) = f.forced_eos_token_id {
            g.forced_eos_token_id = v.map(|t| t.to_vec()).unwrap_or_default();
        }
        if let Some(v) = f.eos_token_id {
            g.eos_token_ids = v.to_vec();
        }
        if let Some(v) = f.pad_token_id {
            g.pad_token_id = v;
        }
        if let Some(v) = f.decoder_start_token_id {
            g.decoder_start_token_id = v;
        }
        if let Some(v) = f.num_return_sequences {
            g.num_return_sequences = v;
        }
        if let Some(v) = f.renormalize_logits {
            g.renormalize_logits = v;
        }
        g.validate()?;
        Ok(g)
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| {
            Err(ModelError::Config {
                path: "generation config".into(),
                message: m,
            })
        };
        if self.num_beams == 0 {
            return bad("field 'num_beams' must be at least 1".into());
        }
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return bad(format!(
                "field 'num_return_sequences' ({}) must be between 1 and 'num_beams' ({})",
                self.num_return_sequences, self.num_beams
            ));
        }
        if self.max_length == 0 {
            return bad("field 'max_length' must be at least 1".into());
        }
        if self.bad_words_ids.iter().any(|w| w.is_empty()) {
            return bad("field 'bad_words_ids' contains an empty sequence".into());
        }
        if self.repetition_penalty.is_nan() || self.repetition_penalty <= 0.0 {
            return bad(format!(
                "field 'repetition_penalty' ({}) must be positive",
                self.repetition_penalty
            ));
        }
        if self.do_sample && (self.temperature.is_nan() || self.temperature <= 0.0) {
            return bad(format!(
                "field 'temperature' ({}) must be positive when sampling",
                self.temperature
            ));
        }
        if self.top_p.is_nan() || self.top_p <= 0.0 || self.top_p > 1.0 {
            return bad(format!("field 'top_p' ({}) must be in (0, 1]", self.top_p));
        }
        if self.do_sample && self.num_beams > 1 {
            return bad("beam sampling (do_sample with num_beams > 1) is not supported".into());
        }
        Ok(())
    }

    /// The longest output for a prefix of `prefix_len` tokens: `max_new_tokens` after the
    /// prefix when set, else `max_length`.
    pub fn max_length_for(&self, prefix_len: usize) -> usize {
        self.max_new_tokens.map_or(self.max_length, |n| prefix_len + n)
    }
}

/// Generated rows: `num_return_sequences` per input (grouped by input, best first), each
/// starting with the decoder start token, right-padded with pad to a common length.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// Token ids.
    pub sequences: Vec<Vec<u32>>,
    /// Beam scores (`sequences_scores`): length-penalized sums of log-probabilities; `None` for
    /// greedy search.
    pub scores: Option<Vec<f32>>,
}

/// Generates from a batch of sources: `input_ids` u32 (batch, len), `attention_mask` (batch,
/// len); every row starts from `decoder_start_token_id`. Greedy when `num_beams` is 1 (sampling
/// with `do_sample`), beam search otherwise.
pub fn generate<M: Seq2Seq>(
    model: &M,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    cfg: &GenerationConfig,
) -> Result<Generated> {
    cfg.validate()?;
    let state = model.start(input_ids, attention_mask)?;
    let rows = input_ids.dim(0)?;
    search::run(model, state, vec![vec![cfg.decoder_start_token_id]; rows], cfg)
}
