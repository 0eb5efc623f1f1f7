//! chrF and chrF++ (Popović 2015, 2017), exactly as sacrebleu 2.6.0 computes them.

use crate::char_ngrams::CharMatcher;
use crate::corpus::{signature, Resampling, SegmentMetric};
use crate::ngrams::{clipped_matches_by_order, hash_bytes, MatchScratch, NgramTable};
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
        ChrfConfig {
            char_order: 6,
            word_order: 0,
            beta: 2,
            lowercase: false,
            whitespace: false,
            eps_smoothing: false,
        }
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
    chars: Vec<char>,
    words: Vec<u64>,
    hyp_chars: Vec<char>,
    hyp_words: Vec<u64>,
    char_pair: CharMatcher,
    pair: MatchScratch,
    table: NgramTable,
    stats: Vec<f64>,
    matches: Vec<u32>,
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
            score += if denom > 0.0 {
                (1.0 + factor) * prec * rec / denom
            } else {
                eps
            };
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
    pub fn corpus_score<S: AsRef<str> + Sync, R: AsRef<str> + Sync>(
        &self,
        hypotheses: &[S],
        references: &[Vec<R>],
    ) -> f64 {
        crate::corpus::corpus_score(self, hypotheses, references)
    }

    /// Characters (`chars`) and word hashes (`words`, chrF++ only) of one segment.
    fn units(&self, s: &str, chars: &mut Vec<char>, words: &mut Vec<u64>, lower: &mut String) {
        let s: &str = if self.config.lowercase {
            *lower = py_lower(s);
            lower.as_str()
        } else {
            s
        };
        chars.clear();
        if self.config.whitespace {
            chars.extend(s.chars());
        } else if s.is_ascii() {
            chars.extend(
                s.bytes()
                    .filter(|b| !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' '))
                    .map(char::from),
            );
        } else {
            for_each_py_token(s, |t| chars.extend(t.chars()));
        }
        words.clear();
        if self.config.word_order > 0 {
            for_each_py_token(s, |w| {
                let b = w.as_bytes();
                if w.chars().count() == 1 {
                    words.push(hash_bytes(b));
                } else if PUNCTS.contains(&b[b.len() - 1]) {
                    words.push(hash_bytes(&b[..b.len() - 1]));
                    words.push(hash_bytes(&b[b.len() - 1..]));
                } else if PUNCTS.contains(&b[0]) {
                    words.push(hash_bytes(&b[..1]));
                    words.push(hash_bytes(&b[1..]));
                } else {
                    words.push(hash_bytes(b));
                }
            });
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
        let (nc, nw) = (self.config.char_order, self.config.word_order);
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let Scratch {
                lower,
                chars,
                words,
                hyp_chars,
                hyp_words,
                char_pair,
                pair,
                table,
                stats,
                matches,
            } = &mut *guard;
            self.units(hypothesis, hyp_chars, hyp_words, lower);
            let mut best_f = -1.0;
            out.iter_mut().for_each(|x| *x = 0.0);
            for r in references {
                self.units(r, chars, words, lower);
                stats.clear();
                stats.resize(3 * order, 0.0);
                matches.resize(order, 0);
                char_pair.clipped_matches(chars, hyp_chars, nc, &mut matches[..nc]);
                clipped_matches_by_order(table, words, hyp_words, nw, pair, &mut matches[nc..]);
                for o in 0..order {
                    let (h, r) = if o < nc {
                        (hyp_chars.len(), chars.len())
                    } else {
                        (hyp_words.len(), words.len())
                    };
                    let k = if o < nc { o } else { o - nc };
                    stats[3 * o] = h.saturating_sub(k) as f64;
                    stats[3 * o + 1] = r.saturating_sub(k) as f64;
                    stats[3 * o + 2] = matches[o] as f64;
                }
                // sacrebleu counts no hypothesis n-grams of an order the reference lacks.
                for o in 0..order {
                    if stats[3 * o + 1] == 0.0 {
                        stats[3 * o] = 0.0;
                    }
                }
                let f = self.f_score(stats);
                if f > best_f {
                    best_f = f;
                    out.copy_from_slice(stats);
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
        let c = Chrf::new(ChrfConfig {
            char_order: 1,
            beta: 1,
            ..Default::default()
        });
        let mut out = vec![0.0; 3];
        c.segment_stats("a b", &["a c"], &mut out);
        assert_eq!(out, [2.0, 2.0, 1.0]);
        assert!((c.f_score(&out) - 50.0).abs() < 1e-12);
    }

    #[test]
    fn chrf_plus_plus_splits_edge_punctuation() {
        let c = Chrf::new(ChrfConfig {
            char_order: 1,
            word_order: 1,
            ..Default::default()
        });
        let mut out = vec![0.0; 6];
        c.segment_stats("hello, world", &["hello world"], &mut out);
        // words: [hello , world] vs [hello world]
        assert_eq!(&out[3..], &[3.0, 2.0, 2.0]);
    }
}
