//! transformers' logits processors and sampling warpers, one row at a time, in transformers'
//! order (`GenerationMixin._get_logits_processor`): repetition penalty, no repeated n-gram, bad
//! words, minimum length, minimum new tokens, forced EOS, then (sampling) temperature, top-k,
//! top-p. `seq` is always the whole row so far, prefix (start token or prompt) included, as
//! transformers' `input_ids`.

use super::GenerationConfig;

/// Applies the processors to one row's `scores` (raw logits in greedy search and sampling,
/// log-probabilities in beam search). `prefix_len` is the length of the row's prefix,
/// `max_length` the row's longest output (prefix included).
pub fn process(cfg: &GenerationConfig, seq: &[u32], prefix_len: usize, max_length: usize, scores: &mut [f32]) {
    if cfg.repetition_penalty != 1.0 {
        apply_repetition_penalty(scores, seq, cfg.repetition_penalty);
    }
    if cfg.no_repeat_ngram_size > 0 {
        for t in banned_ngram_tokens(seq, cfg.no_repeat_ngram_size) {
            if let Some(s) = scores.get_mut(t as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
    for w in &cfg.bad_words_ids {
        let (last, prefix) = w.split_last().expect("validated: no empty bad word");
        // transformers drops bad words that are exactly an end-of-sequence token.
        if prefix.is_empty() && cfg.eos_token_ids.contains(last) {
            continue;
        }
        if seq.ends_with(prefix) {
            if let Some(s) = scores.get_mut(*last as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
    let too_short = seq.len() < cfg.min_length || seq.len().saturating_sub(prefix_len) < cfg.min_new_tokens;
    if too_short {
        for &e in &cfg.eos_token_ids {
            if let Some(s) = scores.get_mut(e as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
    if !cfg.forced_eos_token_id.is_empty() && seq.len() + 1 == max_length {
        scores.iter_mut().for_each(|s| *s = f32::NEG_INFINITY);
        for &e in &cfg.forced_eos_token_id {
            if let Some(s) = scores.get_mut(e as usize) {
                *s = 0.0;
            }
        }
    }
    if cfg.renormalize_logits {
        log_softmax_in_place(scores);
    }
}

/// transformers' `RepetitionPenaltyLogitsProcessor`: every token id in `seen` has its logit
/// divided by `penalty` when positive, multiplied when negative (once per distinct id).
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

/// transformers' `NoRepeatNGramLogitsProcessor`: the tokens that would complete an n-gram of
/// size `n` already present in `seq` (the last `n - 1` tokens followed by it).
pub fn banned_ngram_tokens(seq: &[u32], n: usize) -> Vec<u32> {
    if n == 0 || seq.len() + 1 < n {
        return Vec::new();
    }
    let tail = &seq[seq.len() + 1 - n..];
    seq.windows(n)
        .filter(|w| &w[..n - 1] == tail)
        .map(|w| w[n - 1])
        .collect()
}

/// `x - max - ln Σ exp(x - max)`, the sum accumulated in f64.
pub fn log_softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return;
    }
    let sum: f64 = x.iter().map(|&v| ((v - max) as f64).exp()).sum();
    let lse = sum.ln() as f32;
    x.iter_mut().for_each(|v| *v = (*v - max) - lse);
}

/// The index of the first largest value (torch's `argmax`).
pub fn argmax_first(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The probabilities after temperature, top-k and top-p (others zero), as transformers'
/// warpers leave them before `softmax` and `multinomial`.
pub fn sampling_distribution(logits: &[f32], temperature: f64, top_k: Option<usize>, top_p: f64) -> Vec<f64> {
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
    if top_p < 1.0 {
        // transformers: sort ascending, remove tokens whose cumulative probability ≤ 1 - p,
        // always keeping the most likely one.
        let probs = softmax(&s);
        let mut order: Vec<usize> = (0..s.len()).collect();
        order.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
        let mut cum = 0.0;
        let last = order.len() - 1;
        for (rank, &i) in order.iter().enumerate() {
            cum += probs[i];
            if cum <= 1.0 - top_p && rank < last {
                s[i] = f64::NEG_INFINITY;
            }
        }
    }
    softmax(&s)
}

/// The sampler: splitmix64 draws, inverse-CDF picks.
pub struct Sampler(u64);

impl Sampler {
    /// A sampler seeded with `seed`.
    pub fn new(seed: u64) -> Sampler {
        Sampler(seed)
    }

    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A token drawn from `probs`.
    pub fn pick(&mut self, probs: &[f64]) -> usize {
        let u = self.next_f64();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_bans_follow_transformers_docstring() {
        // transformers' example: [40, 2883, 2712, 4346] with n = 2 bans nothing new unless the
        // last token occurred before followed by something.
        assert_eq!(banned_ngram_tokens(&[40, 2883, 2712, 4346], 2), Vec::<u32>::new());
        assert_eq!(banned_ngram_tokens(&[1, 2, 3, 1], 2), vec![2]);
        assert_eq!(banned_ngram_tokens(&[1, 2, 3, 1, 2], 3), vec![3]);
        assert_eq!(banned_ngram_tokens(&[5, 5], 2), vec![5]);
        assert_eq!(banned_ngram_tokens(&[7], 3), Vec::<u32>::new());
    }

    #[test]
    fn min_length_and_forced_eos() {
        let cfg = GenerationConfig {
            eos_token_ids: vec![0],
            forced_eos_token_id: vec![0],
            min_length: 3,
            ..GenerationConfig::default()
        };
        let mut s = vec![1.0f32, 2.0, 3.0];
        process(&cfg, &[9, 9], 1, 10, &mut s);
        assert_eq!(s[0], f32::NEG_INFINITY);
        let mut s = vec![1.0f32, 2.0, 3.0];
        process(&cfg, &[9, 9, 9], 1, 4, &mut s);
        assert_eq!(s, vec![0.0, f32::NEG_INFINITY, f32::NEG_INFINITY]);
    }
}
