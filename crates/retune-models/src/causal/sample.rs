//! Continuing a prompt with a causal LM: the options of `retune generate` turned into a
//! [`GenerationConfig`] and run by the shared search ([`crate::generate::search`]) on
//! [`CausalLm`]'s [`crate::generate::Decoder`] (the prompt fed once, then one token per step
//! with the KV cache). Greedy by default (the first highest logit); beam search with
//! `num_beams`; with a temperature, sampling after transformers' processors — repetition
//! penalty, temperature, top-k (ties with the k-th kept), top-p — from a seeded generator of
//! retune's own.

use super::CausalLm;
use crate::error::{ModelError, Result};
use crate::generate::{search, GenerationConfig};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingOptions {
    /// Most tokens to add. Default 64.
    pub max_new_tokens: usize,
    /// Sampling temperature; None (or 0) decodes greedily. Default None.
    pub temperature: Option<f64>,
    /// Keep the k most likely tokens when sampling. Default None.
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches p. Default None.
    pub top_p: Option<f64>,
    /// transformers' repetition penalty (> 1 discourages tokens already present). Default None.
    pub repetition_penalty: Option<f64>,
    /// Seed of the sampler. Default 0.
    pub seed: u64,
    /// Beams (1 = greedy or sampling). Default 1.
    pub num_beams: usize,
    /// No n-gram of this size twice (prompt included); 0 = off. Default 0.
    pub no_repeat_ngram_size: usize,
    /// No end of sequence before this many new tokens. Default 0.
    pub min_new_tokens: usize,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            max_new_tokens: 64,
            temperature: None,
            top_k: None,
            top_p: None,
            repetition_penalty: None,
            seed: 0,
            num_beams: 1,
            no_repeat_ngram_size: 0,
            min_new_tokens: 0,
        }
    }
}

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// An end-of-sequence token was produced (it is not part of the continuation).
    Eos,
    /// `max_new_tokens` were produced.
    MaxNewTokens,
    /// The context window is full.
    Context,
}

/// A continuation.
#[derive(Clone, Debug, PartialEq)]
pub struct Continuation {
    /// The new token ids (without the prompt, without the final EOS).
    pub ids: Vec<u32>,
    /// Their text, special tokens skipped.
    pub text: String,
    /// Why it stopped.
    pub stop: StopReason,
}

/// Continues `prompt` (token ids). A prompt longer than the context window is an error; a
/// continuation that reaches the window stops there ([`StopReason::Context`]).
pub fn generate(lm: &CausalLm, prompt: &[u32], opts: &SamplingOptions) -> Result<Continuation> {
    let context = lm.context();
    if prompt.is_empty() {
        return Err(ModelError::Config {
            path: lm.source.clone(),
            message: "the prompt is empty (no token to continue)".into(),
        });
    }
    if prompt.len() >= context {
        return Err(ModelError::Config {
            path: lm.source.clone(),
            message: format!(
                "the prompt has {} tokens; the model's context is {context}, leaving no room to generate",
                prompt.len()
            ),
        });
    }
    let do_sample = opts.temperature.is_some_and(|t| t > 0.0);
    let max_length = (prompt.len() + opts.max_new_tokens).min(context);
    let cfg = GenerationConfig {
        max_length,
        min_new_tokens: opts.min_new_tokens,
        num_beams: opts.num_beams.max(1),
        no_repeat_ngram_size: opts.no_repeat_ngram_size,
        repetition_penalty: opts.repetition_penalty.unwrap_or(1.0),
        do_sample,
        temperature: opts.temperature.unwrap_or(1.0),
        top_k: opts.top_k,
        top_p: opts.top_p.unwrap_or(1.0),
        seed: opts.seed,
        eos_token_ids: lm.eos_ids.clone(),
        pad_token_id: lm.eos_ids.first().copied().unwrap_or(0),
        ..GenerationConfig::default()
    };
    let out = search::run(lm, super::KvCache::new(), vec![prompt.to_vec()], &cfg)?;
    let mut ids = out
        .sequences
        .into_iter()
        .next()
        .unwrap_or_default()
        .split_off(prompt.len());
    let stop = match ids.iter().position(|t| lm.eos_ids.contains(t)) {
        Some(i) => {
            ids.truncate(i);
            StopReason::Eos
        }
        None if ids.len() < opts.max_new_tokens => StopReason::Context,
        None => StopReason::MaxNewTokens,
    };
    let text = lm.decode(&ids)?;
    Ok(Continuation { ids, text, stop })
}
