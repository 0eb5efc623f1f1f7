//! Greedy and beam-search generation for any [`Seq2Seq`] model (Marian: `marian.rs`), batched, with the decoder's
//! key/value cache (cross-attention keys and values computed once per input), giving the same
//! tokens and `sequences_scores` as transformers' `generate()` (5.x beam search).
//!
//! What is copied from transformers: decoding starts from `decoder_start_token_id` and the
//! returned sequences include it; finished rows are right-padded with `pad_token_id`. Logits
//! processors see raw logits in greedy search and log-softmax scores in beam search
//! (`renormalize_logits` adds a log-softmax after them): `bad_words_ids` sets banned tokens to
//! -inf, `forced_eos_token_id` leaves only `</s>` (score 0) when the current length (start token
//! included) is `max_length - 1`. Beam search keeps the top `2k` of `running + logprob` over
//! `k × V` per input; `</s>` candidates ranked in the first `k` become finished hypotheses scored
//! `sum_logprobs / gen_len^length_penalty` (`gen_len` counts generated tokens, `</s>` included);
//! the best `k` others continue; `early_stopping` decides when an input is done.

use candle_core::{DType, Device, Result as CResult, Tensor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;

use crate::config::parse_json;
use crate::error::{ModelError, Result};

/// What search needs from an encoder-decoder: encode the source once, then score one next token
/// at a time with a key/value cache. Implemented by each sequence-to-sequence family
/// (`marian.rs`); this module imports none of them.
pub trait Seq2Seq {
    /// The encoded source as the decoder reads it (cross-attention keys and values).
    type Encoded;
    /// The decoder's key/value cache.
    type Cache;
    /// Where the model runs.
    fn device(&self) -> &Device;
    /// Encodes `input_ids` u32 (batch, len) with `attention_mask` (batch, len), inference mode.
    fn encode_source(&self, input_ids: &Tensor, attention_mask: &Tensor) -> CResult<Self::Encoded>;
    /// Rows of an encoded batch.
    fn rows(encoded: &Self::Encoded) -> CResult<usize>;
    /// The encoded rows at `rows` (u32 indices), in that order (beams copy their input's row).
    fn select_rows(encoded: &Self::Encoded, rows: &Tensor) -> CResult<Self::Encoded>;
    /// An empty cache.
    fn new_cache(&self) -> Self::Cache;
    /// Re-orders the cache's rows (beams follow their parents).
    fn reorder_cache(cache: &mut Self::Cache, rows: &Tensor) -> CResult<()>;
    /// Logits (rows, 1, vocab) of the token after `last` (rows, 1), given everything cached.
    fn next_logits(&self, last: &Tensor, encoded: &Self::Encoded, cache: &mut Self::Cache) -> CResult<Tensor>;
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

/// Generation settings (the subset of transformers' `GenerationConfig` that Marian uses).
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationConfig {
    /// Longest output, start token included. Default 20.
    pub max_length: usize,
    /// Beams; 1 = greedy. Default 1.
    pub num_beams: usize,
    /// Exponent of the length normalization of finished beams. Default 1.0.
    pub length_penalty: f64,
    /// When beam search stops. Default [`EarlyStopping::Heuristic`] (`false`).
    pub early_stopping: EarlyStopping,
    /// Banned token sequences (Marian: `[[pad]]`). Default none.
    pub bad_words_ids: Vec<Vec<u32>>,
    /// Tokens forced at `max_length - 1` (Marian: `</s>`). Default none.
    pub forced_eos_token_id: Vec<u32>,
    /// End-of-sequence ids.
    pub eos_token_ids: Vec<u32>,
    /// Padding id (fills finished rows).
    pub pad_token_id: u32,
    /// First decoder token.
    pub decoder_start_token_id: u32,
    /// Sequences returned per input (at most `num_beams`), best first. Default 1.
    pub num_return_sequences: usize,
    /// Log-softmax again after the logits processors. Default false.
    pub renormalize_logits: bool,
}

/// The fields of `generation_config.json` this crate reads.
#[derive(Debug, Default, Deserialize)]
struct GenerationConfigFile {
    max_length: Option<usize>,
    num_beams: Option<usize>,
    length_penalty: Option<f64>,
    early_stopping: Option<EarlyStopping>,
    bad_words_ids: Option<Vec<Vec<u32>>>,
    #[serde(default, deserialize_with = "some_or_null")]
    forced_eos_token_id: Option<Option<TokenIds>>,
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
        Ok(())
    }

    /// Applies the logits processors to one row's `scores` (raw logits in greedy search,
    /// log-probabilities in beam search). `seq` is the row so far, start token included.
    fn process(&self, seq: &[u32], scores: &mut [f32]) {
        for w in &self.bad_words_ids {
            let (last, prefix) = w.split_last().expect("validated: no empty bad word");
            if seq.ends_with(prefix) {
                if let Some(s) = scores.get_mut(*last as usize) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
        if !self.forced_eos_token_id.is_empty() && seq.len() + 1 == self.max_length {
            scores.iter_mut().for_each(|s| *s = f32::NEG_INFINITY);
            for &e in &self.forced_eos_token_id {
                if let Some(s) = scores.get_mut(e as usize) {
                    *s = 0.0;
                }
            }
        }
        if self.renormalize_logits {
            log_softmax_in_place(scores);
        }
    }
}

/// `x - max - ln Σ exp(x - max)`, the sum accumulated in f64.
fn log_softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return;
    }
    let sum: f64 = x.iter().map(|&v| ((v - max) as f64).exp()).sum();
    let lse = sum.ln() as f32;
    x.iter_mut().for_each(|v| *v = (*v - max) - lse);
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

/// Generates from a batch: `input_ids` u32 (batch, len), `attention_mask` (batch, len).
/// Greedy when `num_beams` is 1, beam search otherwise.
pub fn generate<M: Seq2Seq>(
    model: &M,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    cfg: &GenerationConfig,
) -> Result<Generated> {
    cfg.validate()?;
    let cross = model.encode_source(input_ids, attention_mask)?;
    if cfg.num_beams == 1 {
        greedy(model, &cross, cfg)
    } else {
        beam_search(model, &cross, cfg)
    }
}

/// One decoding step: logits of the next token for each row, (rows, vocab) on the CPU.
fn step<M: Seq2Seq>(model: &M, last: &[u32], cross: &M::Encoded, cache: &mut M::Cache) -> Result<Vec<Vec<f32>>> {
    let ids = Tensor::from_vec(last.to_vec(), (last.len(), 1), model.device())?;
    let logits = model.next_logits(&ids, cross, cache)?;
    Ok(logits
        .squeeze(1)?
        .to_dtype(DType::F32)?
        .to_device(&crate::device::host())?
        .to_vec2::<f32>()?)
}

fn greedy<M: Seq2Seq>(model: &M, cross: &M::Encoded, cfg: &GenerationConfig) -> Result<Generated> {
    let n = M::rows(cross)?;
    let mut seqs = vec![vec![cfg.decoder_start_token_id]; n];
    let mut unfinished = vec![true; n];
    let mut cache = model.new_cache();
    let mut cur_len = 1;
    while cur_len < cfg.max_length && unfinished.iter().any(|&u| u) {
        let last: Vec<u32> = seqs.iter().map(|s| *s.last().expect("start token")).collect();
        let rows = step(model, &last, cross, &mut cache)?;
        for (i, mut row) in rows.into_iter().enumerate() {
            let tok = if unfinished[i] {
                cfg.process(&seqs[i], &mut row);
                argmax(&row)
            } else {
                cfg.pad_token_id
            };
            seqs[i].push(tok);
            if cfg.eos_token_ids.contains(&tok) {
                unfinished[i] = false;
            }
        }
        cur_len += 1;
    }
    Ok(Generated {
        sequences: seqs,
        scores: None,
    })
}

/// Index of the first maximum (torch's argmax).
fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// Indices of the `k` largest `scores`, best first; ties keep the lower index first.
fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let cmp = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

#[derive(Clone)]
struct Hypothesis {
    score: f32,
    seq: Vec<u32>,
    finished: bool,
}

fn beam_search<M: Seq2Seq>(model: &M, cross: &M::Encoded, cfg: &GenerationConfig) -> Result<Generated> {
    let batch = M::rows(cross)?;
    let k = cfg.num_beams;
    let keep = 2usize.max(1 + cfg.eos_token_ids.len()) * k;
    let lp = cfg.length_penalty;
    let start = cfg.decoder_start_token_id;
    let rows: Vec<u32> = (0..batch as u32).flat_map(|b| std::iter::repeat_n(b, k)).collect();
    let cross = M::select_rows(cross, &Tensor::from_vec(rows, batch * k, model.device())?)?;

    let mut running: Vec<Vec<u32>> = vec![vec![start]; batch * k];
    let mut running_scores: Vec<f32> = (0..batch * k).map(|i| if i % k == 0 { 0.0 } else { -1e9 }).collect();
    let mut finished: Vec<Vec<Hypothesis>> = vec![
        vec![
            Hypothesis {
                score: -1e9,
                seq: vec![start],
                finished: false
            };
            k
        ];
        batch
    ];
    let mut improvable = vec![true; batch];
    let mut cache = model.new_cache();
    let mut cur_len = 1usize;

    while cur_len < cfg.max_length {
        let last: Vec<u32> = running.iter().map(|s| *s.last().expect("start token")).collect();
        let mut logprobs = step(model, &last, &cross, &mut cache)?;
        for (row, seq) in logprobs.iter_mut().zip(&running) {
            log_softmax_in_place(row);
            cfg.process(seq, row);
        }
        let vocab = logprobs[0].len();
        let gen_len_penalty = (cur_len as f64).powf(lp) as f32;
        let mut next_running = Vec::with_capacity(batch * k);
        let mut next_scores = Vec::with_capacity(batch * k);
        let mut parents = Vec::with_capacity(batch * k);
        let mut all_hit = true;
        for b in 0..batch {
            // Every continuation of this input's beams: running score + log-probability.
            let mut acc = Vec::with_capacity(k * vocab);
            for j in 0..k {
                let base = running_scores[b * k + j];
                acc.extend(logprobs[b * k + j].iter().map(|&l| base + l));
            }
            let top = top_k(&acc, keep);
            let cands: Vec<(f32, usize, u32, bool)> = top
                .iter()
                .map(|&i| {
                    let (beam, tok) = (i / vocab, (i % vocab) as u32);
                    let hits = cfg.eos_token_ids.contains(&tok) || cur_len + 1 >= cfg.max_length;
                    (acc[i], b * k + beam, tok, hits)
                })
                .collect();
            all_hit &= cands.iter().all(|c| c.3);
            // The best `k` continuations that did not stop keep running.
            let run: Vec<f32> = cands.iter().map(|c| if c.3 { c.0 + -1e9 } else { c.0 }).collect();
            for i in top_k(&run, k) {
                let (_, parent, tok, _) = cands[i];
                let mut s = running[parent].clone();
                s.push(tok);
                next_running.push(s);
                next_scores.push(run[i]);
                parents.push(parent as u32);
            }
            // Stopped candidates among the first `k` become finished hypotheses.
            let full = cfg.early_stopping == EarlyStopping::Stop && finished[b].iter().all(|h| h.finished);
            let mut merged = finished[b].clone();
            for (rank, &(score, parent, tok, hits)) in cands.iter().enumerate() {
                let mut s = score / gen_len_penalty;
                if full {
                    s += -1e9;
                }
                if !improvable[b] {
                    s += -1e9;
                }
                let done = hits && rank < k;
                if !done {
                    s += -1e9;
                }
                let mut seq = running[parent].clone();
                seq.push(tok);
                merged.push(Hypothesis {
                    score: s,
                    seq,
                    finished: done,
                });
            }
            let scores: Vec<f32> = merged.iter().map(|h| h.score).collect();
            finished[b] = top_k(&scores, k).into_iter().map(|i| merged[i].clone()).collect();
        }
        M::reorder_cache(&mut cache, &Tensor::from_vec(parents, batch * k, model.device())?)?;
        running = next_running;
        running_scores = next_scores;
        cur_len += 1;

        // Can a running beam still beat the finished ones?
        let best_len = if cfg.early_stopping == EarlyStopping::Never && lp > 0.0 {
            cfg.max_length - 1
        } else {
            cur_len - 1
        };
        let denom = (best_len as f64).powf(lp) as f32;
        for b in 0..batch {
            let best_possible = running_scores[b * k] / denom;
            let worst = finished[b].iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
            let any = finished[b]
                .iter()
                .any(|h| best_possible > if h.finished { worst } else { -1e9 });
            improvable[b] &= any;
        }
        let all_full =
            cfg.early_stopping == EarlyStopping::Stop && finished.iter().all(|f| f.iter().all(|h| h.finished));
        if !improvable.iter().any(|&i| i) || all_full || all_hit {
            break;
        }
    }

    let mut sequences = Vec::with_capacity(batch * cfg.num_return_sequences);
    let mut scores = Vec::with_capacity(batch * cfg.num_return_sequences);
    for hyps in &finished {
        for h in hyps.iter().take(cfg.num_return_sequences) {
            sequences.push(h.seq.clone());
            scores.push(h.score);
        }
    }
    let width = sequences.iter().map(Vec::len).max().unwrap_or(1);
    for s in &mut sequences {
        s.resize(width, cfg.pad_token_id);
    }
    Ok(Generated {
        sequences,
        scores: Some(scores),
    })
}
