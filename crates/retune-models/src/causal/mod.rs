//! Causal language models behind one interface: [`CausalLm`] loads a Hugging Face folder or a
//! GGUF file (the same parameters either way, see [`crate::gguf`]), tokenizes exactly as the
//! model's `tokenizer.json` does, and builds the family's decoder through
//! [`ModelConfig::build_causal`]. On it: per-document negative log-likelihood for perplexity
//! ([`perplexity`]), generation with a KV cache ([`sample`]), chat templates ([`chat`]).

pub mod chat;
pub mod perplexity;
pub mod sample;

use candle_core::{Device, Result as CResult, Tensor};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

use crate::arch::{Head, ModelConfig};
use crate::error::{ModelError, Result};
pub use crate::llama::KvCache;
use crate::nn::{Mode, Params};

/// A decoder-only model: logits for tokens placed after what its cache holds.
pub trait CausalModel: Send + Sync {
    /// Final hidden states (batch, length, hidden) of `ids` (batch, length) following the
    /// cached positions; the cache, when given, is extended with them.
    fn forward_hidden(&self, ids: &Tensor, cache: Option<&mut KvCache>, mode: Mode) -> CResult<Tensor>;
    /// Next-token logits (..., vocab) of hidden states (..., hidden).
    fn lm_logits(&self, hidden: &Tensor) -> CResult<Tensor>;
    /// Logits (batch, length, vocab) of `ids`: [`CausalModel::forward_hidden`], then the output
    /// projection on every position.
    fn forward_logits(&self, ids: &Tensor, cache: Option<&mut KvCache>, mode: Mode) -> CResult<Tensor> {
        self.lm_logits(&self.forward_hidden(ids, cache, mode)?)
    }
    /// Sum of the next-token negative log-likelihoods of `hidden` (rows, hidden) against
    /// `targets` (one per row; negative: no target) and the number of targets: the output
    /// projection's logits, log-softmax and pick, composed. Families whose output projection is
    /// a plain matrix use [`crate::ops::linear_cross_entropy_sum`] instead.
    fn lm_loss_sum(&self, hidden: &Tensor, targets: &[i64]) -> CResult<(Tensor, usize)> {
        composed_lm_loss_sum(|h| self.lm_logits(h), hidden, targets)
    }
}

/// [`CausalModel::lm_loss_sum`] from the composed operations: `logits` of the rows with a
/// target, log-softmax, pick.
pub fn composed_lm_loss_sum(
    logits: impl Fn(&Tensor) -> CResult<Tensor>,
    hidden: &Tensor,
    targets: &[i64],
) -> CResult<(Tensor, usize)> {
    let kept: Vec<u32> = (0..targets.len() as u32)
        .filter(|&i| targets[i as usize] >= 0)
        .collect();
    let picked: Vec<u32> = kept.iter().map(|&i| targets[i as usize] as u32).collect();
    let n = kept.len();
    if n == 0 {
        return Ok(((hidden.sum_all()? * 0.0)?, 0));
    }
    let idx = Tensor::from_vec(kept, n, hidden.device())?;
    let logits = logits(&hidden.index_select(&idx, 0)?)?.to_dtype(candle_core::DType::F32)?;
    let logp = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)?;
    let t = Tensor::from_vec(picked, (n, 1), hidden.device())?;
    Ok((logp.gather(&t, 1)?.neg()?.sum_all()?, n))
}

impl CausalModel for crate::llama::LlamaModel {
    fn forward_hidden(&self, ids: &Tensor, cache: Option<&mut KvCache>, mode: Mode) -> CResult<Tensor> {
        self.decode(ids, None, cache, mode, None)
    }
    fn lm_logits(&self, hidden: &Tensor) -> CResult<Tensor> {
        crate::llama::LlamaModel::lm_logits(self, hidden)
    }
    fn lm_loss_sum(&self, hidden: &Tensor, targets: &[i64]) -> CResult<(Tensor, usize)> {
        match self.plain_lm_head() {
            Some(w) => crate::ops::linear_cross_entropy_sum(hidden, w, targets),
            None => composed_lm_loss_sum(|h| self.lm_logits(h), hidden, targets),
        }
    }
}

impl ModelConfig {
    /// Builds the family's causal LM from `params` (the one dispatch on the family).
    pub fn build_causal(&self, params: &Params) -> Result<Box<dyn CausalModel>> {
        match &self.arch {
            crate::arch::ArchConfig::Llama(c) => {
                Ok(Box::new(crate::llama::LlamaModel::load(c, params, Head::CausalLm)?))
            }
            _ => Err(ModelError::Architecture {
                path: self.path.clone(),
                found: format!("model_type {} (an encoder)", self.arch().model_type()),
                supported: "llama".into(),
            }),
        }
    }
}

/// A causal LM ready to score and generate text.
pub struct CausalLm {
    /// The config (from `config.json`, or made from a GGUF file's metadata).
    pub config: ModelConfig,
    /// The parameters (trainable, Hugging Face names).
    pub params: Params,
    /// The decoder with its output projection.
    pub model: Box<dyn CausalModel>,
    /// The model's tokenizer, neither truncating nor padding.
    pub tokenizer: Tokenizer,
    /// `tokenizer_config.json` (special tokens, chat template), Null when absent.
    pub tokenizer_config: serde_json::Value,
    /// Ids that end generation (`generation_config.json`'s, else the config's).
    pub eos_ids: Vec<u32>,
    /// `generation_config.json`, Null when absent.
    pub generation_config: serde_json::Value,
    /// The folder or GGUF file it came from.
    pub source: PathBuf,
    /// Where the parameters live.
    pub device: Device,
}

fn tok_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer {
        path: path.into(),
        message: e.to_string(),
    }
}

fn read_json_opt(path: &Path) -> Result<serde_json::Value> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| tok_err(path, e)),
        Err(_) => Ok(serde_json::Value::Null),
    }
}

/// Whether `path` names a GGUF file (by its extension or its magic bytes).
pub fn is_gguf(path: &Path) -> bool {
    if path.is_dir() {
        return false;
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

impl CausalLm {
    /// Loads a model folder (`config.json`, weights, `tokenizer.json`) or a GGUF file.
    pub fn load(path: &Path, device: &Device) -> Result<CausalLm> {
        crate::alloc::tune_allocator();
        if is_gguf(path) {
            let g = crate::gguf::GgufModel::read(path, device)?;
            let text = serde_json::to_string(&g.config_json).map_err(|e| tok_err(path, e))?;
            let config = ModelConfig::from_text(&text, path)?;
            let bytes = serde_json::to_vec(&g.tokenizer_json).map_err(|e| tok_err(path, e))?;
            let tokenizer = Tokenizer::from_bytes(bytes).map_err(|e| tok_err(path, e))?;
            let tokenizer_config = g.tokenizer_config.clone();
            let gen = g.generation_config.clone();
            let params = Params::from_checkpoint(g.into_checkpoint(), device)?;
            return Self::assemble(config, params, tokenizer, tokenizer_config, &gen, path, device);
        }
        let config = ModelConfig::from_dir(path)?;
        let params = config.load_params(path, device)?;
        let json = path.join("tokenizer.json");
        if !json.exists() {
            return Err(tok_err(
                path,
                "no tokenizer.json (causal LMs need the fast tokenizer file)",
            ));
        }
        let tokenizer = retune_data::guard::catch_quietly(|| Tokenizer::from_file(&json))
            .map_err(|why| tok_err(&json, format!("malformed tokenizer.json ({why})")))?
            .map_err(|e| tok_err(&json, e))?;
        let mut tokenizer_config = read_json_opt(&path.join("tokenizer_config.json"))?;
        let jinja = path.join("chat_template.jinja");
        if jinja.exists() {
            let t = std::fs::read_to_string(&jinja).map_err(|source| ModelError::Io {
                path: jinja.clone(),
                source,
            })?;
            if tokenizer_config.is_null() {
                tokenizer_config = serde_json::json!({});
            }
            tokenizer_config["chat_template"] = serde_json::Value::String(t);
        }
        let gen = read_json_opt(&path.join("generation_config.json"))?;
        Self::assemble(config, params, tokenizer, tokenizer_config, &gen, path, device)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        config: ModelConfig,
        params: Params,
        mut tokenizer: Tokenizer,
        tokenizer_config: serde_json::Value,
        gen: &serde_json::Value,
        source: &Path,
        device: &Device,
    ) -> Result<CausalLm> {
        tokenizer.with_truncation(None).map_err(|e| tok_err(source, e))?;
        tokenizer.with_padding(None);
        params.track_use();
        let model = config.build_causal(&params)?;
        params.retain_used();
        let ids = |v: &serde_json::Value| -> Vec<u32> {
            match v {
                serde_json::Value::Number(n) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_u64()).map(|x| x as u32).collect(),
                _ => Vec::new(),
            }
        };
        let mut eos_ids = ids(&gen["eos_token_id"]);
        if eos_ids.is_empty() {
            if let crate::arch::ArchConfig::Llama(c) = &config.arch {
                eos_ids = c.eos_ids();
            }
        }
        Ok(CausalLm {
            config,
            params,
            model,
            tokenizer,
            tokenizer_config,
            eos_ids,
            generation_config: gen.clone(),
            source: source.into(),
            device: device.clone(),
        })
    }

    /// The context window in tokens.
    pub fn context(&self) -> usize {
        self.config.arch().max_positions()
    }

    /// Token ids of `text` as the tokenizer gives them (its post-processor's special tokens
    /// included, nothing else added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| tok_err(&self.source, e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| tok_err(&self.source, e))
    }

    /// Logits (1, length, vocab) of one sequence, no cache.
    pub fn logits(&self, ids: &[u32]) -> Result<Tensor> {
        let t = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        Ok(self.model.forward_logits(&t, None, Mode::Eval)?)
    }

    /// The tokenizer files to save beside the weights: `tokenizer.json`, and
    /// `tokenizer_config.json` / `generation_config.json` when the model has them.
    pub fn tokenizer_files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let json = self.tokenizer.to_string(true).map_err(|e| tok_err(&self.source, e))?;
        let mut files = vec![("tokenizer.json", json.into_bytes())];
        for (name, v) in [
            ("tokenizer_config.json", &self.tokenizer_config),
            ("generation_config.json", &self.generation_config),
        ] {
            if !v.is_null() {
                files.push((
                    name,
                    serde_json::to_vec_pretty(v).map_err(|e| tok_err(&self.source, e))?,
                ));
            }
        }
        Ok(files)
    }

    /// Rebuilds the decoder from the parameters (after a strategy added adapters).
    pub fn rebuild(&mut self) -> Result<()> {
        self.model = self.config.build_causal(&self.params)?;
        Ok(())
    }

    /// A special token's text from `tokenizer_config.json` (`bos_token`, `eos_token`), which
    /// may be a string or `{"content": ...}`.
    pub fn special_token(&self, key: &str) -> Option<String> {
        match &self.tokenizer_config[key] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o.get("content").and_then(|c| c.as_str()).map(str::to_string),
            _ => None,
        }
    }
}

impl crate::generate::Decoder for CausalLm {
    type State = KvCache;
    fn device(&self) -> &Device {
        &self.device
    }
    /// The output projection runs on the last position only (a long prompt costs no
    /// prompt × vocabulary logits).
    fn feed(&self, tokens: &Tensor, cache: &mut KvCache) -> CResult<Tensor> {
        let hidden = self.model.forward_hidden(tokens, Some(cache), Mode::Eval)?;
        let n = hidden.dim(1)?;
        self.model.lm_logits(&hidden.narrow(1, n - 1, 1)?)?.squeeze(1)
    }
    fn select_rows(&self, cache: &mut KvCache, rows: &Tensor) -> CResult<()> {
        cache.select_rows(rows)
    }
}
