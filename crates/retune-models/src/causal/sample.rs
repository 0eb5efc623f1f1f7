//! Generation from a causal LM with a KV cache: the prompt is fed once, then one token per step.
//! Greedy by default (the first highest logit, as `argmax` picks it); with a temperature,
//! sampling after transformers' processors in transformers' order — repetition penalty, then
//! temperature, top-k (ties with the k-th kept), top-p (the smallest set whose probability
//! reaches p, at least one token) — from a seeded generator of retune's own.

use candle_core::{DType, Tensor};

use super::{CausalLm, KvCache};
use crate::error::{ModelError, Result};
use crate::nn::Mode;

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

/// splitmix64: the sampler's generator.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The index of the first largest value.
pub fn argmax_first(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// transformers' `RepetitionPenaltyLogitsProcessor`: every token id in `seen` has its logit
/// divided by `penalty` when positive, multiplied when negative.
pub fn apply_repetition_penalty(logits: &mut [f32], seen: &[u32], penalty: f64) {
    let mut done = std::collections::HashSet::new();
    for &t in seen {
        if !done.insert(t) {
            continue;
        }
        if let Some(x) = logits.get_mut(t as usize) {
            *x = if *x < 0.0 {
                (*x as f64 * penalty) as f32
            } else {
                (*x as f64 / penalty) as f32
            };
        }
    }
}

/// The probabilities after temperature, top-k and top-p (others zero).
pub fn sampling_distribution(logits: &[f32], temperature: f64, top_k: Option<usize>, top_p: Option<f64>) -> Vec<f64> {
    let mut s: Vec<f64> = logits.iter().map(|&x| x as f64 / temperature).collect();
    if let Some(k) = top_k.filter(|&k| k > 0 && k < s.len()) {
        let mut sorted = s.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let kth = sorted[k - 1];
        for x in s.iter_mut() {
            if *x < kth {
                *x = f64::NEG_INFINITY;
            }
        }
    }
    let softmax = |s: &[f64]| {
        let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|x| x / z).collect::<Vec<f64>>()
    };
    if let Some(p) = top_p.filter(|&p| p < 1.0) {
        // transformers: sort ascending, remove tokens whose cumulative probability ≤ 1 - p,
        // always keeping the most likely one.
        let probs = softmax(&s);
        let mut order: Vec<usize> = (0..s.len()).collect();
        order.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
        let mut cum = 0.0;
        let last = order.len() - 1;
        for (rank, &i) in order.iter().enumerate() {
            cum += probs[i];
            if cum <= 1.0 - p && rank < last {
                s[i] = f64::NEG_INFINITY;
            }
        }
    }
    softmax(&s)
}

fn sample_from(probs: &[f64], rng: &mut Rng) -> usize {
    let u = rng.next_f64();
    let mut cum = 0.0;
    let mut last = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            cum += p;
            last = i;
            if u < cum {
                return i;
            }
        }
    }
    last
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
    let mut cache = KvCache::new();
    let mut seen = prompt.to_vec();
    let mut out = Vec::new();
    let mut rng = Rng(opts.seed);
    let greedy = opts.temperature.is_none_or(|t| t <= 0.0);
    let mut input = Tensor::new(prompt, &lm.device)?.unsqueeze(0)?;
    let stop = loop {
        if out.len() >= opts.max_new_tokens {
            break StopReason::MaxNewTokens;
        }
        if seen.len() >= context {
            break StopReason::Context;
        }
        let logits = lm.model.forward_logits(&input, Some(&mut cache), Mode::Eval)?;
        let t = logits.dim(1)?;
        let mut last: Vec<f32> = logits
            .narrow(1, t - 1, 1)?
            .squeeze(0)?
            .squeeze(0)?
            .to_dtype(DType::F32)?
            .to_vec1()?;
        if let Some(p) = opts.repetition_penalty.filter(|&p| p != 1.0) {
            apply_repetition_penalty(&mut last, &seen, p);
        }
        let next = if greedy {
            argmax_first(&last)
        } else {
            let probs = sampling_distribution(&last, opts.temperature.unwrap_or(1.0), opts.top_k, opts.top_p);
            sample_from(&probs, &mut rng)
        } as u32;
        if lm.eos_ids.contains(&next) {
            break StopReason::Eos;
        }
        out.push(next);
        seen.push(next);
        input = Tensor::new(&[next], &lm.device)?.unsqueeze(0)?;
    };
    let text = lm.decode(&out)?;
    Ok(Continuation { ids: out, text, stop })
}
