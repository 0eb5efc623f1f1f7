//! BLEU, exactly as sacrebleu 2.6.0 computes it (corpus and sentence level).

use crate::corpus::{signature, Resampling, SegmentMetric};
use crate::ngrams::{
    add_ngrams, clipped_matches_by_order, hash_bytes, ngram_count, take_ngrams, MatchScratch, NgramTable,
};
use crate::text::{py_lower, py_rstrip};
use crate::tokenizers::Tokenizer;
use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

/// BLEU smoothing (Chen & Cherry 2014), as sacrebleu names them.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Smooth {
    /// No smoothing.
    None,
    /// Method 1: a zero precision becomes `value / total` (default value 0.1).
    Floor(f64),
    /// Method 2: add `value` to matches and totals of orders above 1 (default 1).
    AddK(f64),
    /// Method 3, NIST/mteval's exponential smoothing; sacrebleu's default.
    #[default]
    Exp,
}

impl Smooth {
    /// The signature field (`exp`, `floor[0.10]`, `add-k[1.00]`, `none`).
    pub fn signature(&self) -> String {
        match self {
            Smooth::None => "none".into(),
            Smooth::Exp => "exp".into(),
            Smooth::Floor(v) => format!("floor[{v:.2}]"),
            Smooth::AddK(v) => format!("add-k[{v:.2}]"),
        }
    }
    /// Builds a method from its name and an optional value (sacrebleu's defaults otherwise).
    pub fn from_name(name: &str, value: Option<f64>) -> Result<Smooth, String> {
        Ok(match name {
            "none" => Smooth::None,
            "exp" => Smooth::Exp,
            "floor" => Smooth::Floor(value.unwrap_or(0.1)),
            "add-k" => Smooth::AddK(value.unwrap_or(1.0)),
            other => {
                return Err(format!(
                    "unknown smoothing method '{other}' (expected one of: exp, floor, add-k, none)"
                ))
            }
        })
    }
}

impl FromStr for Smooth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Smooth::from_name(s, None)
    }
}

/// BLEU options; `Default` gives sacrebleu's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct BleuConfig {
    /// Lower-case hypothesis and references first. Default `false`.
    pub lowercase: bool,
    /// Tokenizer. Default `13a`.
    pub tokenize: Tokenizer,
    /// Smoothing. Default `exp`.
    pub smooth: Smooth,
    /// Highest n-gram order. Default 4.
    pub max_ngram_order: usize,
    /// Average only over orders with matches (sentence BLEU). Default `false`.
    pub effective_order: bool,
}

impl Default for BleuConfig {
    fn default() -> Self {
        BleuConfig {
            lowercase: false,
            tokenize: Tokenizer::Thirteen,
            smooth: Smooth::Exp,
            max_ngram_order: 4,
            effective_order: false,
        }
    }
}

/// A BLEU score with its details, as sacrebleu's `BLEUScore`.
#[derive(Clone, Debug, PartialEq)]
pub struct BleuScore {
    /// The score, 0..100.
    pub score: f64,
    /// Clipped n-gram matches per order (after add-k smoothing, as sacrebleu reports them).
    pub counts: Vec<f64>,
    /// Hypothesis n-grams per order.
    pub totals: Vec<f64>,
    /// Precisions per order, in percent.
    pub precisions: Vec<f64>,
    /// Brevity penalty.
    pub bp: f64,
    /// Hypothesis length in tokens.
    pub sys_len: u64,
    /// Effective reference length in tokens.
    pub ref_len: u64,
}

impl BleuScore {
    /// `sys_len / ref_len` (0 when the reference is empty).
    pub fn ratio(&self) -> f64 {
        if self.ref_len > 0 {
            self.sys_len as f64 / self.ref_len as f64
        } else {
            0.0
        }
    }
    /// The details sacrebleu prints after the score:
    /// `65.3/40.1/26.2/17.4 (BP = 1.000 ratio = 1.000 hyp_len = 10 ref_len = 10)`.
    pub fn verbose(&self) -> String {
        let prec: Vec<String> = self.precisions.iter().map(|p| format!("{p:.1}")).collect();
        format!(
            "{} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            prec.join("/"),
            self.bp,
            self.ratio(),
            self.sys_len,
            self.ref_len
        )
    }
}

impl fmt::Display for BleuScore {
    /// sacrebleu's `str(score)`: `BLEU = 34.12 65.3/40.1/26.2/17.4 (BP = ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BLEU = {:.2} {}", self.score, self.verbose())
    }
}

/// The BLEU metric.
///
/// ```
/// use retune_metrics::bleu::{Bleu, BleuConfig};
/// let bleu = Bleu::new(BleuConfig::default());
/// let s = bleu.corpus_score(&["the cat sat on the mat"], &[vec!["the cat sat on the mat"]]);
/// assert!((s.score - 100.0).abs() < 1e-9);
/// assert_eq!(bleu.signature(Some(1), Default::default()),
///            "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
/// ```
#[derive(Clone, Debug)]
pub struct Bleu {
    /// The options.
    pub config: BleuConfig,
}

#[derive(Default)]
struct Scratch {
    tok: crate::tokenizers::TokScratch,
    lower: String,
    tokens: Vec<u64>,
    /// The one reference's tokens while the hypothesis is tokenized.
    ref_tokens: Vec<u64>,
    tmp: Vec<u64>,
    pair: MatchScratch,
    refs: NgramTable,
    one_ref: NgramTable,
    matches: Vec<u32>,
    ref_lens: Vec<u64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Bleu {
    /// A BLEU metric with these options.
    pub fn new(config: BleuConfig) -> Self {
        Bleu { config }
    }

    /// sacrebleu's signature for this configuration.
    pub fn signature(&self, nrefs: Option<usize>, resampling: Resampling) -> String {
        let c = &self.config;
        signature(
            nrefs,
            resampling,
            &[
                ("case", if c.lowercase { "lc" } else { "mixed" }.into()),
                ("eff", if c.effective_order { "yes" } else { "no" }.into()),
                ("tok", c.tokenize.signature().into()),
                ("smooth", c.smooth.signature()),
            ],
        )
    }

    /// Tokens (as hashes) of one preprocessed segment; returns the token count.
    fn tokens(&self, s: &str, sc: &mut Scratch) {
        let Scratch { tok, lower, tokens, .. } = sc;
        let src: &str = if self.config.lowercase {
            *lower = py_lower(s);
            lower.as_str()
        } else {
            s
        };
        tokens.clear();
        self.config
            .tokenize
            .for_each_token(py_rstrip(src), tok, |t| tokens.push(hash_bytes(t)));
    }

    /// A segment's statistics `[hyp_len, ref_len, correct.., total..]` from its hypothesis length,
    /// its references' lengths and its clipped matches per order.
    fn fill_stats(&self, hyp_len: usize, ref_lens: &[u64], matches: &[u32], out: &mut [f64]) {
        let n = self.config.max_ngram_order;
        out[0] = hyp_len as f64;
        out[1] = closest_ref_len(hyp_len as u64, ref_lens) as f64;
        for o in 0..n {
            out[2 + o] = matches[o] as f64;
            out[2 + n + o] = hyp_len.saturating_sub(o) as f64;
        }
    }

    /// The score from summed statistics `[hyp_len, ref_len, correct.., total..]`.
    pub fn compute(&self, stats: &[f64]) -> BleuScore {
        let n = self.config.max_ngram_order;
        let mut correct = stats[2..2 + n].to_vec();
        let mut total = stats[2 + n..2 + 2 * n].to_vec();
        let (sys_len, ref_len) = (stats[0], stats[1]);
        let mut bp = 1.0;
        if sys_len < ref_len {
            bp = if sys_len > 0.0 {
                (1.0 - ref_len / sys_len).exp()
            } else {
                0.0
            };
        }
        let mut precisions = vec![0.0; n];
        let done = |score, correct, total, precisions| BleuScore {
            score,
            counts: correct,
            totals: total,
            precisions,
            bp,
            sys_len: sys_len as u64,
            ref_len: ref_len as u64,
        };
        if correct.iter().all(|&c| c == 0.0) {
            return done(0.0, correct, total, precisions);
        }
        let mut smooth_mteval = 1.0;
        let mut eff_order = n;
        for k in 0..n {
            if let Smooth::AddK(v) = self.config.smooth {
                if k > 0 {
                    correct[k] += v;
                    total[k] += v;
                }
            }
            if total[k] == 0.0 {
                break;
            }
            if self.config.effective_order {
                eff_order = k + 1;
            }
            if correct[k] == 0.0 {
                match self.config.smooth {
                    Smooth::Exp => {
                        smooth_mteval *= 2.0;
                        precisions[k] = 100.0 / (smooth_mteval * total[k]);
                    }
                    Smooth::Floor(v) => precisions[k] = 100.0 * v / total[k],
                    _ => {}
                }
            } else {
                precisions[k] = 100.0 * correct[k] / total[k];
            }
        }
        let mut log_sum = 0.0;
        for &p in &precisions[..eff_order] {
            log_sum += if p == 0.0 { -9_999_999_999.0 } else { f64::ln(p) };
        }
        let score = bp * (log_sum / eff_order as f64).exp();
        done(score, correct, total, precisions)
    }

    /// Corpus BLEU of `hypotheses` against reference streams (`references[k][i]`).
    pub fn corpus_score<S: AsRef<str> + Sync, R: AsRef<str> + Sync>(
        &self,
        hypotheses: &[S],
        references: &[Vec<R>],
    ) -> BleuScore {
        let stats = crate::corpus::corpus_stats(self, hypotheses, references);
        self.compute(&stats.sum())
    }

    /// BLEU of one sentence against its references (sacrebleu's `sentence_score`; set
    /// `effective_order` as `sentence_bleu` does).
    pub fn sentence_score(&self, hypothesis: &str, references: &[&str]) -> BleuScore {
        let mut row = vec![0.0; self.num_stats()];
        self.segment_stats(hypothesis, references, &mut row);
        self.compute(&row)
    }
}

/// sacrebleu's closest reference length: the smallest difference, the shorter one on ties.
fn closest_ref_len(hyp_len: u64, ref_lens: &[u64]) -> u64 {
    let mut best: Option<(u64, u64)> = None;
    for &r in ref_lens {
        let d = hyp_len.abs_diff(r);
        best = match best {
            None => Some((d, r)),
            Some((bd, br)) if d < bd || (d == bd && r < br) => Some((d, r)),
            b => b,
        };
    }
    best.map(|b| b.1).unwrap_or(0)
}

impl SegmentMetric for Bleu {
    fn name(&self) -> String {
        "BLEU".into()
    }
    fn num_stats(&self) -> usize {
        2 + 2 * self.config.max_ngram_order
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        let n = self.config.max_ngram_order;
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            sc.ref_lens.clear();
            sc.matches.resize(n, 0);
            if let [reference] = references {
                // One reference (the usual case): the matches one order at a time.
                self.tokens(reference, sc);
                std::mem::swap(&mut sc.tokens, &mut sc.ref_tokens);
                sc.ref_lens.push(sc.ref_tokens.len() as u64);
                self.tokens(hypothesis, sc);
                let Scratch {
                    tokens,
                    ref_tokens,
                    pair,
                    refs,
                    matches,
                    ..
                } = sc;
                clipped_matches_by_order(refs, ref_tokens, tokens, n, pair, matches);
                self.fill_stats(sc.tokens.len(), &sc.ref_lens, &sc.matches, out);
                return;
            }
            for (k, r) in references.iter().enumerate() {
                self.tokens(r, sc);
                sc.ref_lens.push(sc.tokens.len() as u64);
                let count = ngram_count(sc.tokens.len(), n);
                let table = if k == 0 { &mut sc.refs } else { &mut sc.one_ref };
                table.reset(count);
                add_ngrams(table, &sc.tokens, n, &mut sc.tmp);
                if k > 0 {
                    sc.refs.max_with(&sc.one_ref);
                }
            }
            if references.is_empty() {
                sc.refs.reset(0);
            }
            self.tokens(hypothesis, sc);
            take_ngrams(&mut sc.refs, &sc.tokens, n, &mut sc.tmp, &mut sc.matches);
            self.fill_stats(sc.tokens.len(), &sc.ref_lens, &sc.matches, out);
        });
    }
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        self.compute(stats).score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_ref_len_prefers_shorter_on_ties() {
        assert_eq!(closest_ref_len(5, &[7, 3]), 3);
        assert_eq!(closest_ref_len(5, &[3, 7]), 3);
        assert_eq!(closest_ref_len(5, &[6, 3]), 6);
        assert_eq!(closest_ref_len(0, &[]), 0);
    }

    #[test]
    fn hand_computed_bleu() {
        // hyp: "the the the the" ref: "the cat" -> 1-gram clipped 1/4, no 2-grams match.
        let b = Bleu::new(BleuConfig::default());
        let s = b.sentence_score("the the the the", &["the cat"]);
        assert_eq!(s.counts, [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(s.totals, [4.0, 3.0, 2.0, 1.0]);
        // exp smoothing: p2 = 100/(2*3), p3 = 100/(4*2), p4 = 100/(8*1); bp = 1 (4 > 2)
        let expect = ((25f64.ln() + (100.0f64 / 6.0).ln() + 12.5f64.ln() + 12.5f64.ln()) / 4.0).exp();
        assert!((s.score - expect).abs() < 1e-12);
        assert_eq!(
            s.verbose(),
            "25.0/16.7/12.5/12.5 (BP = 1.000 ratio = 2.000 hyp_len = 4 ref_len = 2)"
        );
    }
}
