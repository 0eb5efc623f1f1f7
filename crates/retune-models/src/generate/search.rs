//! Greedy search, sampling and beam search on any [`Decoder`], as transformers 5 runs them
//! (see the module doc of [`super`]).

use candle_core::{DType, Tensor};

use super::processors::{argmax_first, log_softmax_in_place, process, sampling_distribution, Sampler};
use super::{Decoder, EarlyStopping, Generated, GenerationConfig};
use crate::error::{ModelError, Result};

/// Generates from `state` (one row per entry of `prefixes`, nothing fed yet): every row starts
/// from its prefix (all of one length). Greedy search or sampling when `num_beams` is 1, beam
/// search otherwise.
pub fn run<M: Decoder>(
    model: &M,
    state: M::State,
    prefixes: Vec<Vec<u32>>,
    cfg: &GenerationConfig,
) -> Result<Generated> {
    cfg.validate()?;
    let prefix_len = prefixes.first().map_or(0, Vec::len);
    if prefix_len == 0 || prefixes.iter().any(|p| p.len() != prefix_len) {
        return Err(ModelError::Config {
            path: "generation".into(),
            message: "every row needs a non-empty prefix, all of one length".into(),
        });
    }
    if cfg.num_beams == 1 {
        greedy_or_sample(model, state, prefixes, cfg)
    } else {
        beam_search(model, state, prefixes, cfg)
    }
}

/// Feeds `tokens` (rows × n) and returns the next-token logits per row, on the CPU.
fn feed<M: Decoder>(model: &M, tokens: &[Vec<u32>], state: &mut M::State) -> Result<Vec<Vec<f32>>> {
    let n = tokens[0].len();
    let flat: Vec<u32> = tokens.iter().flatten().copied().collect();
    let ids = Tensor::from_vec(flat, (tokens.len(), n), model.device())?;
    let logits = model.feed(&ids, state)?;
    Ok(logits
        .to_dtype(DType::F32)?
        .to_device(&crate::device::host())?
        .to_vec2::<f32>()?)
}

fn greedy_or_sample<M: Decoder>(
    model: &M,
    mut state: M::State,
    prefixes: Vec<Vec<u32>>,
    cfg: &GenerationConfig,
) -> Result<Generated> {
    let prefix_len = prefixes[0].len();
    let max_len = cfg.max_length_for(prefix_len);
    let n = prefixes.len();
    let mut pending = prefixes.clone();
    let mut seqs = prefixes;
    let mut unfinished = vec![true; n];
    let mut sampler = Sampler::new(cfg.seed);
    while seqs[0].len() < max_len && unfinished.iter().any(|&u| u) {
        let rows = feed(model, &pending, &mut state)?;
        for (i, mut row) in rows.into_iter().enumerate() {
            let tok = if unfinished[i] {
                process(cfg, &seqs[i], prefix_len, max_len, &mut row);
                if cfg.do_sample {
                    sampler.pick(&sampling_distribution(&row, cfg.temperature, cfg.top_k, cfg.top_p)) as u32
                } else {
                    argmax_first(&row) as u32
                }
            } else {
                cfg.pad_token_id
            };
            seqs[i].push(tok);
            if cfg.eos_token_ids.contains(&tok) {
                unfinished[i] = false;
            }
        }
        pending = seqs.iter().map(|s| vec![*s.last().expect("prefix")]).collect();
    }
    Ok(Generated {
        sequences: seqs,
        scores: None,
    })
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

fn beam_search<M: Decoder>(
    model: &M,
    mut state: M::State,
    prefixes: Vec<Vec<u32>>,
    cfg: &GenerationConfig,
) -> Result<Generated> {
    let batch = prefixes.len();
    let prefix_len = prefixes[0].len();
    let max_len = cfg.max_length_for(prefix_len);
    let k = cfg.num_beams;
    let keep = 2usize.max(1 + cfg.eos_token_ids.len()) * k;
    let lp = cfg.length_penalty;
    let rows: Vec<u32> = (0..batch as u32).flat_map(|b| std::iter::repeat_n(b, k)).collect();
    model.select_rows(&mut state, &Tensor::from_vec(rows, batch * k, model.device())?)?;

    let mut running: Vec<Vec<u32>> = prefixes
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.clone(), k))
        .collect();
    let mut pending = running.clone();
    let mut running_scores: Vec<f32> = (0..batch * k).map(|i| if i % k == 0 { 0.0 } else { -1e9 }).collect();
    let mut finished: Vec<Vec<Hypothesis>> = prefixes
        .iter()
        .map(|p| {
            vec![
                Hypothesis {
                    score: -1e9,
                    seq: p.clone(),
                    finished: false
                };
                k
            ]
        })
        .collect();
    let mut improvable = vec![true; batch];
    let mut cur_len = prefix_len;

    while cur_len < max_len {
        let mut logprobs = feed(model, &pending, &mut state)?;
        for (row, seq) in logprobs.iter_mut().zip(&running) {
            log_softmax_in_place(row);
            process(cfg, seq, prefix_len, max_len, row);
        }
        let vocab = logprobs[0].len();
        let gen_len_penalty = ((cur_len + 1 - prefix_len) as f64).powf(lp) as f32;
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
                    let hits = cfg.eos_token_ids.contains(&tok) || cur_len + 1 >= max_len;
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
        model.select_rows(&mut state, &Tensor::from_vec(parents, batch * k, model.device())?)?;
        running = next_running;
        running_scores = next_scores;
        pending = running.iter().map(|s| vec![*s.last().expect("prefix")]).collect();
        cur_len += 1;

        // Can a running beam still beat the finished ones?
        let best_len = if cfg.early_stopping == EarlyStopping::Never && lp > 0.0 {
            max_len - prefix_len
        } else {
            cur_len - prefix_len
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
