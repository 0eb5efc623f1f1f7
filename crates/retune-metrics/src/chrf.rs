//! chrF and chrF++ (Popović 2015, 2017), exactly as sacrebleu 2.6.0 computes them.

use crate::corpus::{signature, Resampling, SegmentMetric};
use crate::ngrams::{count_ngrams, hash_bytes, match_counts, Counts};
use crate::text::{for_each_py_token, py_lower};
use std::cell::RefCell;

/// chrF options; `Default` gives sacrebleu's chrF2 (`--word-order 2` makes chrF++).
#[derive(Clone, Debug, PartialEq)]
pub struct ChrfConfig {
    /// Character n-gram order. Default 6.
    pub char_order: usize,
    /// Word n-gram order (0 = chrF, 2 = chrF++). Default 0.
    pub word_order: usize,
    /// Recall weight beta. Default 2.
    pub beta: u32,
    /// Lower-case first. Default `false`.
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams. Default `false`.
    pub whitespace: bool,
    /// chrF++.py-style epsilon smoothing instead of effective order. Default `false`.
    pub eps_smoothing: bool,
}

impl Default for ChrfConfig {
    fn default() -> Self {
        ChrfConfig { char_order: 6, word_order: 0, beta: 2, lowercase: false, whitespace: false, eps_smoothing: false }
    }
}

/// The chrF metric.
///
/// ```
/// use retune_metrics::chrf::{Chrf, ChrfConfig};
/// let chrf = Chrf::new(ChrfConfig::default());
/// let s = chrf.corpus_score(&["the cat sat"], &[vec!["the cat sat"]]);
/// assert!((s - 100.0).abs() < 1e-9);
/// assert_eq!(chrf.name(), "chrF2");
/// ```
#[derive(Clone, Debug)]
pub struct Chrf {
    /// The options.
    pub config: ChrfConfig,
}

#[derive(Default)]
struct Scratch {
    lower: String,
    chars: Vec<u64>,
    words: Vec<u64>,
    tmp: Vec<u64>,
    hyp: Vec<Counts>,
    refc: Vec<Counts>,
    stats: Vec<f64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

const PUNCTS: &[u8] = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

impl Chrf {
    /// A chrF metric with these options.
    pub fn new(config: ChrfConfig) -> Self {
        Chrf { config }
    }

    /// `chrF2`, `chrF2++` (beta and one `+` per word order).
    pub fn name(&self) -> String {
        format!("chrF{}{}", self.config.beta, "+".repeat(self.config.word_order))
    }

    /// sacrebleu's signature for this configuration.
    pub fn signature(&self, nrefs: Option<usize>, resampling: Resampling) -> String {
        let c = &self.config;
        signature(
            nrefs,
            resampling,
            &[
                ("case", if c.lowercase { "lc" } else { "mixed" }.into()),
                ("eff", if c.eps_smoothing { "no" } else { "yes" }.into()),
                ("nc", c.char_order.to_string()),
                ("nw", c.word_order.to_string()),
                ("space", if c.whitespace { "yes" } else { "no" }.into()),
            ],
        )
    }

    fn order(&self) -> usize {
        self.config.char_order + self.config.word_order
    }

    /// The chrF score from `[hyp, ref, match]` triples per order (sacrebleu's `_compute_f_score`).
    pub fn f_score(&self, stats: &[f64]) -> f64 {
        let eps = 1e-16;
        let factor = (self.config.beta as f64).powi(2);
        let mut score = 0.0;
        let mut effective_order = 0usize;
        let (mut avg_prec, mut avg_rec) = (0.0, 0.0);
        for i in 0..self.order() {
            let (n_hyp, n_ref, n_match) = (stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]);
            let prec = if n_hyp > 0.0 { n_match / n_hyp } else { eps };
            let rec = if n_ref > 0.0 { n_match / n_ref } else { eps };
            let denom = factor * prec + rec;
            score += if denom > 0.0 { (1.0 + factor) * prec * rec / denom } else { eps };
            if n_hyp > 0.0 && n_ref > 0.0 {
                avg_prec += prec;
                avg_rec += rec;
                effective_order += 1;
            }
        }
        if self.config.eps_smoothing {
            return 100.0 * score / self.order() as f64;
        }
        if effective_order == 0 {
            avg_prec = 0.0;
            avg_rec = 0.0;
        } else {
            avg_prec /= effective_order as f64;
            avg_rec /= effective_order as f64;
        }
        if avg_prec + avg_rec != 0.0 {
            let mut s = (1.0 + factor) * avg_prec * avg_rec;
            s /= (factor * avg_prec) + avg_rec;
            100.0 * s
        } else {
            0.0
        }
    }

    /// Corpus chrF of `hypotheses` against reference streams.
    pub fn corpus_score<S: AsRef<str> + Sync, R: AsRef<str> + Sync>(&self, hypotheses: &[S], references: &[Vec<R>]) -> f64 {
        crate::corpus::corpus_score(self, hypotheses, references)
    }

    /// Character and word n-gram counts of one segment into `out` (one `Counts` per order).
    fn extract(&self, s: &str, sc_chars: &mut Vec<u64>, sc_words: &mut Vec<u64>, tmp: &mut Vec<u64>, lower: &mut String, out: &mut [Counts]) {
        let s: &str = if self.config.lowercase {
            *lower = py_lower(s);
            lower.as_str()
        } else {
            s
        };
        sc_chars.clear();
        if self.config.whitespace {
            sc_chars.extend(s.chars().map(|c| c as u64 + 1));
        } else {
            for_each_py_token(s, |t| sc_chars.extend(t.chars().map(|c| c as u64 + 1)));
        }
        let nc = self.config.char_order;
        count_ngrams(sc_chars, nc, &mut out[..nc], tmp);
        let nw = self.config.word_order;
        if nw > 0 {
            sc_words.clear();
            for_each_py_token(s, |w| {
                let b = w.as_bytes();
                let nchars = w.chars().count();
                if nchars == 1 {
                    sc_words.push(hash_bytes(b));
                } else {
                    let last = b[b.len() - 1];
                    let first = b[0];
                    if PUNCTS.contains(&last) {
                        sc_words.push(hash_bytes(&b[..b.len() - 1]));
                        sc_words.push(hash_bytes(&b[b.len() - 1..]));
                    } else if PUNCTS.contains(&first) {
                        sc_words.push(hash_bytes(&b[..1]));
                        sc_words.push(hash_bytes(&b[1..]));
                    } else {
                        sc_words.push(hash_bytes(b));
                    }
                }
            });
            count_ngrams(sc_words, nw, &mut out[nc..nc + nw], tmp);
        }
    }
}

impl SegmentMetric for Chrf {
    fn name(&self) -> String {
        Chrf::name(self)
    }
    fn num_stats(&self) -> usize {
        3 * self.order()
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        let order = self.order();
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            sc.hyp.resize_with(order, Counts::new);
            sc.refc.resize_with(order, Counts::new);
            self.extract(hypothesis, &mut sc.chars, &mut sc.words, &mut sc.tmp, &mut sc.lower, &mut sc.hyp);
            let mut best_f = -1.0;
            out.iter_mut().for_each(|x| *x = 0.0);
            for r in references {
                self.extract(r, &mut sc.chars, &mut sc.words, &mut sc.tmp, &mut sc.lower, &mut sc.refc);
                sc.stats.clear();
                for o in 0..order {
                    let (h, rr, m) = match_counts(&sc.hyp[o], &sc.refc[o]);
                    let h = if sc.refc[o].is_empty() { 0 } else { h };
                    sc.stats.extend_from_slice(&[h as f64, rr as f64, m as f64]);
                }
                let f = self.f_score(&sc.stats);
                if f > best_f {
                    best_f = f;
                    out.copy_from_slice(&sc.stats);
                }
            }
        });
    }
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        self.f_score(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_unigram_chrf() {
        // char_order 1, beta 1: hyp "ab" vs ref "ac": P = R = 1/2 -> F = 50.
        let c = Chrf::new(ChrfConfig { char_order: 1, beta: 1, ..Default::default() });
        let mut out = vec![0.0; 3];
        c.segment_stats("a b", &["a c"], &mut out);
        assert_eq!(out, [2.0, 2.0, 1.0]);
        assert!((c.f_score(&out) - 50.0).abs() < 1e-12);
    }

    #[test]
    fn chrf_plus_plus_splits_edge_punctuation() {
        let c = Chrf::new(ChrfConfig { char_order: 1, word_order: 1, ..Default::default() });
        let mut out = vec![0.0; 6];
        c.segment_stats("hello, world", &["hello world"], &mut out);
        // words: [hello , world] vs [hello world]
        assert_eq!(&out[3..], &[3.0, 2.0, 2.0]);
    }
}
