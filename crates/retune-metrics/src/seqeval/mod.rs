//! Entity-level precision, recall and F1 for sequence labelling (NER), exactly as seqeval 1.2.2
//! computes them, in its default (conlleval-compatible, [`chunks`]) and strict ([`scheme`])
//! modes, with token accuracy.
//!
//! Per entity type the statistics are summable counts (true positives, predicted, gold), so the
//! corpus report, streaming during training and bootstrap resampling over sentences all work
//! from [`SeqevalMetric`]'s per-sentence rows, as the other metrics do ([`crate::corpus`]).
//!
//! ```
//! use retune_metrics::seqeval::{SeqevalConfig, SeqevalReport};
//! let gold = vec![vec!["B-PER", "I-PER", "O", "B-LOC"]];
//! let pred = vec![vec!["B-PER", "I-PER", "O", "B-ORG"]];
//! let r = SeqevalReport::compute(&pred, &gold, &SeqevalConfig::default())?;
//! assert_eq!(r.types, ["LOC", "ORG", "PER"]);
//! assert_eq!(r.micro.f1, 0.5);
//! assert_eq!(SeqevalConfig::default().signature(), "mode:default|suffix:no|zero_division:0|version:seqeval-1.2.2");
//! # Ok::<(), retune_metrics::seqeval::SeqevalError>(())
//! ```

pub mod chunks;
pub mod scheme;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::classify::Prf;
use crate::corpus::SegmentMetric;
use crate::numpy_sum::pairwise_sum;
pub use scheme::Scheme;

/// How entities are read from tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// conlleval-compatible chunking (`mode=None`, seqeval's default): any `I-` after `O`
    /// starts an entity, a type change ends one.
    #[default]
    Default,
    /// `mode='strict'` with a scheme: an entity counts only if it starts and ends as the
    /// scheme says; a label with a prefix the scheme does not allow is an error.
    Strict(Scheme),
}

/// What precision, recall and F1 are when their denominator is zero (seqeval's
/// `zero_division`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ZeroDivision {
    /// 0 (seqeval's default `"warn"`, and `0`).
    #[default]
    Zero,
    /// 1.
    One,
}

/// The settings of a seqeval computation. `Default` is seqeval's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeqevalConfig {
    /// Chunking mode (default: [`Mode::Default`]).
    pub mode: Mode,
    /// Tags written as `PER-B` instead of `B-PER` (default: false).
    pub suffix: bool,
    /// F-beta's beta (default: 1).
    pub beta: f64,
    /// Value of an undefined precision or recall (default: 0).
    pub zero_division: ZeroDivision,
}

impl Default for SeqevalConfig {
    fn default() -> Self {
        SeqevalConfig {
            mode: Mode::Default,
            suffix: false,
            beta: 1.0,
            zero_division: ZeroDivision::Zero,
        }
    }
}

impl SeqevalConfig {
    /// A signature naming every setting, as sacrebleu's metric signatures do.
    pub fn signature(&self) -> String {
        let mode = match self.mode {
            Mode::Default => "default".to_string(),
            Mode::Strict(s) => format!("strict-{}", s.name()),
        };
        let mut sig = format!(
            "mode:{mode}|suffix:{}|zero_division:{}",
            if self.suffix { "yes" } else { "no" },
            match self.zero_division {
                ZeroDivision::Zero => 0,
                ZeroDivision::One => 1,
            }
        );
        if self.beta != 1.0 {
            sig.push_str(&format!("|beta:{}", self.beta));
        }
        sig.push_str("|version:seqeval-1.2.2");
        sig
    }
}

/// Why tags cannot be scored; `sentence` and `token` are 0-based.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeqevalError {
    /// Prediction and gold have different numbers of sentences.
    #[error("{pred} predicted sentences but {gold} gold sentences")]
    SentenceCount {
        /// Predicted sentences.
        pred: usize,
        /// Gold sentences.
        gold: usize,
    },
    /// A sentence has different lengths in prediction and gold.
    #[error("sentence {}: {pred} predicted tags but {gold} gold tags", sentence + 1)]
    Length {
        /// The sentence.
        sentence: usize,
        /// Its predicted tags.
        pred: usize,
        /// Its gold tags.
        gold: usize,
    },
    /// A label strict mode (or any mode, when empty) cannot read.
    #[error("{side} sentence {}, token {}: tag {tag:?} {why}", sentence + 1, token + 1)]
    Label {
        /// `predicted` or `gold`.
        side: &'static str,
        /// The sentence.
        sentence: usize,
        /// The token.
        token: usize,
        /// The label.
        tag: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Entities of every sentence as `(sentence, type, start, end)` keys comparable between
/// prediction and gold.
type Keyed = BTreeMap<String, BTreeSet<(usize, usize, usize)>>;

fn entities<S: AsRef<str>>(
    sentences: &[Vec<S>],
    cfg: &SeqevalConfig,
    side: &'static str,
) -> Result<Keyed, SeqevalError> {
    let mut out: Keyed = BTreeMap::new();
    match cfg.mode {
        Mode::Default => {
            let found = chunks::get_entities(sentences, cfg.suffix).map_err(|e| SeqevalError::Label {
                side,
                sentence: e.sentence,
                token: e.token,
                tag: String::new(),
                why: "is empty".into(),
            })?;
            for c in found {
                out.entry(c.kind).or_default().insert((0, c.start, c.end));
            }
        }
        Mode::Strict(scheme) => {
            for (s, sentence) in sentences.iter().enumerate() {
                let found = scheme::sentence_entities(sentence, scheme, cfg.suffix).map_err(|(t, e)| {
                    let tag = sentence.get(t).map(|l| l.as_ref().to_string()).unwrap_or_default();
                    let why = match e {
                        scheme::StrictLabelError::Empty => "is empty".to_string(),
                        scheme::StrictLabelError::UnknownPrefix => {
                            "does not start with a prefix letter (B, I, O, E, S, U, L)".to_string()
                        }
                        scheme::StrictLabelError::NotAllowed => {
                            format!("has a prefix {} does not allow", scheme.name())
                        }
                    };
                    SeqevalError::Label {
                        side,
                        sentence: s,
                        token: t,
                        tag,
                        why,
                    }
                })?;
                for e in found {
                    out.entry(e.kind).or_default().insert((s, e.start, e.end));
                }
            }
        }
    }
    Ok(out)
}

fn check_shapes<S: AsRef<str>, G: AsRef<str>>(pred: &[Vec<S>], gold: &[Vec<G>]) -> Result<(), SeqevalError> {
    if pred.len() != gold.len() {
        return Err(SeqevalError::SentenceCount {
            pred: pred.len(),
            gold: gold.len(),
        });
    }
    for (i, (p, g)) in pred.iter().zip(gold).enumerate() {
        if p.len() != g.len() {
            return Err(SeqevalError::Length {
                sentence: i,
                pred: p.len(),
                gold: g.len(),
            });
        }
    }
    Ok(())
}

/// Per-type counts: the sorted types and, for each, true positives, predicted and gold
/// entities; plus correct and total tokens.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Counts {
    /// Entity types, sorted (code-point order, as Python sorts strings).
    pub types: Vec<String>,
    /// Exactly matched entities per type.
    pub tp: Vec<u64>,
    /// Predicted entities per type.
    pub pred: Vec<u64>,
    /// Gold entities per type.
    pub gold: Vec<u64>,
    /// Tokens whose predicted tag equals the gold tag.
    pub correct_tokens: u64,
    /// Tokens.
    pub tokens: u64,
}

impl Counts {
    /// Counts over a corpus (sentences flattened as seqeval flattens them in default mode).
    pub fn compute<S: AsRef<str>, G: AsRef<str>>(
        pred: &[Vec<S>],
        gold: &[Vec<G>],
        cfg: &SeqevalConfig,
    ) -> Result<Counts, SeqevalError> {
        check_shapes(pred, gold)?;
        let g = entities(gold, cfg, "gold")?;
        let p = entities(pred, cfg, "predicted")?;
        let types: Vec<String> = g
            .keys()
            .chain(p.keys())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let empty = BTreeSet::new();
        let mut c = Counts {
            types: types.clone(),
            ..Default::default()
        };
        for t in &types {
            let (gt, pt) = (g.get(t).unwrap_or(&empty), p.get(t).unwrap_or(&empty));
            c.tp.push(gt.intersection(pt).count() as u64);
            c.pred.push(pt.len() as u64);
            c.gold.push(gt.len() as u64);
        }
        for (ps, gs) in pred.iter().zip(gold) {
            for (a, b) in ps.iter().zip(gs) {
                c.correct_tokens += (a.as_ref() == b.as_ref()) as u64;
                c.tokens += 1;
            }
        }
        Ok(c)
    }
}

/// The seqeval report: per-type and averaged precision / recall / F-beta, token accuracy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeqevalReport {
    /// Entity types, sorted.
    pub types: Vec<String>,
    /// Scores per type, in `types` order (support: gold entities).
    pub per_type: Vec<Prf>,
    /// Micro average (global counts).
    pub micro: Prf,
    /// Unweighted mean over types (NaN without any type, as numpy's mean of nothing).
    #[serde(rename = "macro")]
    pub macro_avg: Prf,
    /// Mean weighted by gold entities.
    pub weighted: Prf,
    /// Token accuracy (seqeval's `accuracy_score`).
    pub accuracy: f64,
    /// Tokens scored.
    pub tokens: u64,
    /// Predicted entities, all types.
    pub predicted_entities: u64,
    /// The settings.
    pub signature: String,
}

impl SeqevalReport {
    /// Scores predicted against gold tag sequences (one `Vec` per sentence).
    pub fn compute<S: AsRef<str>, G: AsRef<str>>(
        pred: &[Vec<S>],
        gold: &[Vec<G>],
        cfg: &SeqevalConfig,
    ) -> Result<SeqevalReport, SeqevalError> {
        Ok(Self::from_counts(&Counts::compute(pred, gold, cfg)?, cfg))
    }

    /// The report of summed counts.
    pub fn from_counts(c: &Counts, cfg: &SeqevalConfig) -> SeqevalReport {
        let zd = match cfg.zero_division {
            ZeroDivision::Zero => 0.0,
            ZeroDivision::One => 1.0,
        };
        let beta2 = cfg.beta * cfg.beta;
        let score = |tp: u64, pred: u64, gold: u64| -> (f64, f64, f64) {
            let p = if pred != 0 { tp as f64 / pred as f64 } else { zd };
            let r = if gold != 0 { tp as f64 / gold as f64 } else { zd };
            let f = if cfg.beta.is_infinite() {
                r
            } else {
                let mut denom = beta2 * p + r;
                if denom == 0.0 {
                    denom = 1.0;
                }
                (1.0 + beta2) * p * r / denom
            };
            (p, r, f)
        };
        let k = c.types.len();
        let mut per_type = Vec::with_capacity(k);
        let (mut ps, mut rs, mut fs) = (Vec::with_capacity(k), Vec::with_capacity(k), Vec::with_capacity(k));
        for i in 0..k {
            let (p, r, f) = score(c.tp[i], c.pred[i], c.gold[i]);
            ps.push(p);
            rs.push(r);
            fs.push(f);
            per_type.push(Prf {
                precision: p,
                recall: r,
                f1: f,
                support: c.gold[i],
            });
        }
        let (tp, pred, gold): (u64, u64, u64) = (c.tp.iter().sum(), c.pred.iter().sum(), c.gold.iter().sum());
        let (mp, mr, mf) = score(tp, pred, gold);
        let micro = Prf {
            precision: mp,
            recall: mr,
            f1: mf,
            support: gold,
        };
        let mean = |x: &[f64]| pairwise_sum(x) / k as f64;
        let macro_avg = Prf {
            precision: mean(&ps),
            recall: mean(&rs),
            f1: mean(&fs),
            support: gold,
        };
        let weighted = if gold == 0 {
            let v = if pred == 0 { zd } else { 0.0 };
            Prf {
                precision: v,
                recall: zd,
                f1: v,
                support: 0,
            }
        } else {
            let w: Vec<f64> = c.gold.iter().map(|&g| g as f64).collect();
            let wsum = pairwise_sum(&w);
            let avg = |x: &[f64]| {
                let xw: Vec<f64> = x.iter().zip(&w).map(|(a, b)| a * b).collect();
                pairwise_sum(&xw) / wsum
            };
            Prf {
                precision: avg(&ps),
                recall: avg(&rs),
                f1: avg(&fs),
                support: gold,
            }
        };
        SeqevalReport {
            types: c.types.clone(),
            per_type,
            micro,
            macro_avg,
            weighted,
            accuracy: if c.tokens == 0 {
                f64::NAN
            } else {
                c.correct_tokens as f64 / c.tokens as f64
            },
            tokens: c.tokens,
            predicted_entities: pred,
            signature: cfg.signature(),
        }
    }
}

/// The number a [`SeqevalMetric`] reports (and resamples).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SeqevalScore {
    /// Micro-averaged F-beta (the number NER papers report).
    #[default]
    MicroF1,
    /// Macro-averaged F-beta.
    MacroF1,
    /// Support-weighted F-beta.
    WeightedF1,
    /// Token accuracy.
    Accuracy,
}

/// seqeval as a [`SegmentMetric`] over sentences: a segment is the sentence's predicted tags
/// (whitespace-separated) against its gold tags; its statistics are, per entity type of the
/// fixed `types` list, (true positives, predicted, gold), then (correct tokens, tokens). Each
/// sentence is chunked on its own — the same entities as the corpus-wide flattening for any
/// tags a scheme defines (only odd labels, e.g. lowercase `o`, can carry a chunk across
/// seqeval's sentence separator).
#[derive(Clone, Debug)]
pub struct SeqevalMetric {
    /// Entity types (statistics of other types are dropped).
    pub types: Vec<String>,
    /// Settings.
    pub config: SeqevalConfig,
    /// The reported number.
    pub score: SeqevalScore,
}

impl SeqevalMetric {
    /// Counts from summed statistics.
    pub fn counts(&self, stats: &[f64]) -> Counts {
        let k = self.types.len();
        Counts {
            types: self.types.clone(),
            tp: (0..k).map(|i| stats[3 * i] as u64).collect(),
            pred: (0..k).map(|i| stats[3 * i + 1] as u64).collect(),
            gold: (0..k).map(|i| stats[3 * i + 2] as u64).collect(),
            correct_tokens: stats[3 * k] as u64,
            tokens: stats[3 * k + 1] as u64,
        }
    }

    /// The statistics of one sentence (tags as slices); a sentence seqeval would reject counts
    /// nothing.
    pub fn sentence_stats<S: AsRef<str>, G: AsRef<str>>(&self, pred: &[S], gold: &[G], out: &mut [f64]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let (p, g) = (
            vec![pred.iter().map(|s| s.as_ref()).collect::<Vec<_>>()],
            vec![gold.iter().map(|s| s.as_ref()).collect::<Vec<_>>()],
        );
        let Ok(c) = Counts::compute(&p, &g, &self.config) else {
            return;
        };
        let k = self.types.len();
        for (t, name) in c.types.iter().enumerate() {
            if let Ok(i) = self.types.binary_search(name) {
                out[3 * i] = c.tp[t] as f64;
                out[3 * i + 1] = c.pred[t] as f64;
                out[3 * i + 2] = c.gold[t] as f64;
            }
        }
        out[3 * k] = c.correct_tokens as f64;
        out[3 * k + 1] = c.tokens as f64;
    }
}

impl SegmentMetric for SeqevalMetric {
    fn name(&self) -> String {
        match self.score {
            SeqevalScore::MicroF1 => "entity micro-F1",
            SeqevalScore::MacroF1 => "entity macro-F1",
            SeqevalScore::WeightedF1 => "entity weighted-F1",
            SeqevalScore::Accuracy => "token accuracy",
        }
        .into()
    }
    fn num_stats(&self) -> usize {
        3 * self.types.len() + 2
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        let pred: Vec<&str> = hypothesis.split_whitespace().collect();
        let gold: Vec<&str> = references
            .first()
            .map(|r| r.split_whitespace().collect())
            .unwrap_or_default();
        self.sentence_stats(&pred, &gold, out);
    }
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        let r = SeqevalReport::from_counts(&self.counts(stats), &self.config);
        100.0
            * match self.score {
                SeqevalScore::MicroF1 => r.micro.f1,
                SeqevalScore::MacroF1 => r.macro_avg.f1,
                SeqevalScore::WeightedF1 => r.weighted.f1,
                SeqevalScore::Accuracy => r.accuracy,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&[&'static str]]) -> Vec<Vec<&'static str>> {
        s.iter().map(|x| x.to_vec()).collect()
    }

    // Values verified with seqeval 1.2.2.
    #[test]
    fn arithmetic_matches_seqeval() {
        // micro p = r = 0.4 gives f = 0.4000000000000001 in seqeval's evaluation order.
        let gold = v(&[&["B-A", "O", "B-A", "O", "B-B", "O", "B-B", "O", "B-C"]]);
        let pred = v(&[&["B-A", "O", "B-C", "O", "B-B", "O", "B-A", "O", "B-B"]]);
        let r = SeqevalReport::compute(&pred, &gold, &SeqevalConfig::default()).unwrap();
        assert_eq!(r.micro.precision, 0.4);
        assert_eq!(r.micro.f1, 0.4000000000000001);
        // zero_division=1: a type without predictions gets precision 1.
        let cfg = SeqevalConfig {
            zero_division: ZeroDivision::One,
            ..Default::default()
        };
        let r = SeqevalReport::compute(&v(&[&["B-A", "O"]]), &v(&[&["O", "B-B"]]), &cfg).unwrap();
        assert_eq!(r.types, ["A", "B"]);
        assert_eq!((r.per_type[0].precision, r.per_type[0].recall), (0.0, 1.0));
        assert_eq!((r.per_type[1].precision, r.per_type[1].recall), (1.0, 0.0));
        assert_eq!(
            (r.macro_avg.precision, r.macro_avg.recall, r.macro_avg.f1),
            (0.5, 0.5, 0.0)
        );
        // No entity anywhere: macro NaN, micro and weighted 0 (seqeval's 'warn').
        let r = SeqevalReport::compute(&v(&[&["O"]]), &v(&[&["O"]]), &SeqevalConfig::default()).unwrap();
        assert!(r.macro_avg.f1.is_nan());
        assert_eq!(r.micro.f1, 0.0);
        assert_eq!(r.weighted.f1, 0.0);
        // beta = 0.5
        let cfg = SeqevalConfig {
            beta: 0.5,
            ..Default::default()
        };
        let r = SeqevalReport::compute(&v(&[&["B-A", "B-B", "O"]]), &v(&[&["B-A", "O", "B-A"]]), &cfg).unwrap();
        assert_eq!(r.per_type[0].f1, 0.8333333333333334);
        // Default mode against strict IOB2.
        let gold = v(&[&["B-A", "I-A"], &["I-A", "B-A"]]);
        let pred = v(&[&["I-A", "I-A"], &["B-A", "B-A"]]);
        let d = SeqevalReport::compute(&pred, &gold, &SeqevalConfig::default()).unwrap();
        let s = SeqevalReport::compute(
            &pred,
            &gold,
            &SeqevalConfig {
                mode: Mode::Strict(Scheme::Iob2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((d.per_type[0].f1, s.per_type[0].f1), (1.0, 0.5));
    }

    #[test]
    fn sentence_statistics_sum_to_the_corpus_counts() {
        let gold = v(&[&["B-A", "I-A", "O"], &["B-B", "O", "I-A"], &["O", "B-A", "B-B"]]);
        let pred = v(&[&["B-A", "I-A", "B-B"], &["B-B", "I-B", "I-A"], &["O", "O", "B-B"]]);
        let cfg = SeqevalConfig::default();
        let whole = Counts::compute(&pred, &gold, &cfg).unwrap();
        let m = SeqevalMetric {
            types: whole.types.clone(),
            config: cfg,
            score: SeqevalScore::MicroF1,
        };
        let mut sum = vec![0.0; m.num_stats()];
        let mut row = vec![0.0; m.num_stats()];
        for (p, g) in pred.iter().zip(&gold) {
            m.sentence_stats(p, g, &mut row);
            sum.iter_mut().zip(&row).for_each(|(a, b)| *a += b);
        }
        assert_eq!(m.counts(&sum), whole);
    }

    #[test]
    fn errors_name_the_sentence_and_token() {
        let e = SeqevalReport::compute(
            &v(&[&["O"], &["O", "O"]]),
            &v(&[&["O"], &["O"]]),
            &SeqevalConfig::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "sentence 2: 2 predicted tags but 1 gold tags");
        let strict = SeqevalConfig {
            mode: Mode::Strict(Scheme::Iob2),
            ..Default::default()
        };
        let e = SeqevalReport::compute(&v(&[&["B-A", "E-A"]]), &v(&[&["B-A", "I-A"]]), &strict).unwrap_err();
        assert_eq!(
            e.to_string(),
            "predicted sentence 1, token 2: tag \"E-A\" has a prefix IOB2 does not allow"
        );
    }
}
