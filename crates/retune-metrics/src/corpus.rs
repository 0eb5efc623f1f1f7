//! Corpus scoring through sufficient statistics, as sacrebleu does it.
//!
//! Every metric turns one segment (a hypothesis and its references) into a fixed-length vector of
//! statistics; the corpus score is a function of the element-wise sum. Bootstrap resampling and
//! paired tests only re-sum those vectors, so they never re-tokenize. Metrics that are a plain mean
//! of segment scores (ROUGE, METEOR) fit the same shape with the statistics `[score, 1]`.

use rayon::prelude::*;

/// A corpus score that is a function of per-segment statistics summed over segments: what
/// bootstrap intervals and paired tests need. Every [`SegmentMetric`] is one; scores whose
/// statistics come from elsewhere than text pairs (a language model's negative log-likelihood
/// and token count per document: `crate::perplexity`) implement it directly.
pub trait SummedScore: Sync {
    /// The score's name as printed.
    fn score_name(&self) -> String;
    /// How many statistics one segment produces.
    fn width(&self) -> usize;
    /// The corpus score from statistics summed over segments.
    fn score_of_sums(&self, stats: &[f64]) -> f64;
}

impl<M: SegmentMetric + ?Sized> SummedScore for M {
    fn score_name(&self) -> String {
        self.name()
    }
    fn width(&self) -> usize {
        self.num_stats()
    }
    fn score_of_sums(&self, stats: &[f64]) -> f64 {
        self.score_from_stats(stats)
    }
}

/// A metric computed from summable per-segment statistics.
pub trait SegmentMetric: Sync {
    /// The score's name as printed (`BLEU`, `chrF2`, `TER`, ...).
    fn name(&self) -> String;
    /// How many statistics one segment produces.
    fn num_stats(&self) -> usize;
    /// Writes the statistics of one segment into `out` (`out.len() == num_stats()`).
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]);
    /// The corpus score from statistics summed over segments.
    fn score_from_stats(&self, stats: &[f64]) -> f64;
}

/// The statistics of every segment of a corpus, one row per segment.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentStats {
    /// Statistics per segment.
    pub width: usize,
    /// Row-major `len() x width` values.
    pub data: Vec<f64>,
}

impl SegmentStats {
    /// An empty table of rows of `width` statistics.
    pub fn new(width: usize) -> Self {
        SegmentStats {
            width,
            data: Vec::new(),
        }
    }
    /// Number of segments.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.width).unwrap_or(0)
    }
    /// Whether there is no segment.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The statistics of segment `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.width..(i + 1) * self.width]
    }
    /// Appends one segment's statistics.
    pub fn push(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.width);
        self.data.extend_from_slice(row);
    }
    /// Element-wise sum over all segments.
    pub fn sum(&self) -> Vec<f64> {
        let mut s = vec![0.0; self.width];
        for r in self.data.chunks_exact(self.width.max(1)) {
            for (a, b) in s.iter_mut().zip(r) {
                *a += b;
            }
        }
        s
    }
}

/// Computes the statistics of every segment, in parallel over all cores.
///
/// `references` holds reference *streams*, as sacrebleu takes them: `references[k][i]` is the
/// `k`-th reference of segment `i`. Every stream must have `hypotheses.len()` lines.
pub fn corpus_stats<M: SegmentMetric + ?Sized, S: AsRef<str> + Sync, R: AsRef<str> + Sync>(
    metric: &M,
    hypotheses: &[S],
    references: &[Vec<R>],
) -> SegmentStats {
    let width = metric.num_stats();
    let n = hypotheses.len();
    let mut data = vec![0.0; n * width];
    if width == 0 {
        return SegmentStats { width, data };
    }
    const CHUNK: usize = 256;
    data.par_chunks_mut(width * CHUNK).enumerate().for_each(|(c, block)| {
        let mut refs: Vec<&str> = Vec::with_capacity(references.len());
        for (j, out) in block.chunks_exact_mut(width).enumerate() {
            let i = c * CHUNK + j;
            refs.clear();
            refs.extend(references.iter().map(|s| s[i].as_ref()));
            metric.segment_stats(hypotheses[i].as_ref(), &refs, out);
        }
    });
    SegmentStats { width, data }
}

/// Scores a corpus: the metric of the summed statistics.
pub fn corpus_score<M: SegmentMetric + ?Sized, S: AsRef<str> + Sync, R: AsRef<str> + Sync>(
    metric: &M,
    hypotheses: &[S],
    references: &[Vec<R>],
) -> f64 {
    let stats = corpus_stats(metric, hypotheses, references);
    metric.score_from_stats(&stats.sum())
}

/// A streaming accumulator: add segments one at a time (as a trainer's evaluation loop produces
/// them) and read the corpus score at any point. Holds only the running sum, plus the
/// per-segment rows when `keep_rows` is set (needed for confidence intervals).
pub struct StatsAccumulator<'m, M: SegmentMetric + ?Sized> {
    metric: &'m M,
    sum: Vec<f64>,
    row: Vec<f64>,
    rows: Option<SegmentStats>,
    count: usize,
}

impl<'m, M: SegmentMetric + ?Sized> StatsAccumulator<'m, M> {
    /// A new accumulator for `metric`.
    pub fn new(metric: &'m M, keep_rows: bool) -> Self {
        let w = metric.num_stats();
        StatsAccumulator {
            metric,
            sum: vec![0.0; w],
            row: vec![0.0; w],
            rows: keep_rows.then(|| SegmentStats::new(w)),
            count: 0,
        }
    }
    /// Adds one segment.
    pub fn add(&mut self, hypothesis: &str, references: &[&str]) {
        self.row.iter_mut().for_each(|x| *x = 0.0);
        self.metric.segment_stats(hypothesis, references, &mut self.row);
        for (a, b) in self.sum.iter_mut().zip(&self.row) {
            *a += b;
        }
        if let Some(r) = &mut self.rows {
            r.push(&self.row);
        }
        self.count += 1;
    }
    /// Number of segments added.
    pub fn count(&self) -> usize {
        self.count
    }
    /// The summed statistics.
    pub fn sum(&self) -> &[f64] {
        &self.sum
    }
    /// The corpus score so far.
    pub fn score(&self) -> f64 {
        self.metric.score_from_stats(&self.sum)
    }
    /// The per-segment rows, when kept.
    pub fn rows(&self) -> Option<&SegmentStats> {
        self.rows.as_ref()
    }
}

/// Number of references, as a signature prints it (`nrefs:2`, or `var` when it varies).
pub fn nrefs_field(nrefs: Option<usize>) -> String {
    match nrefs {
        Some(n) => n.to_string(),
        None => "var".to_string(),
    }
}

/// Resampling settings that appear in a sacrebleu signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resampling {
    /// Bootstrap resamples (`bs:1000`).
    pub bootstrap: Option<usize>,
    /// Approximate-randomization trials (`ar:10000`).
    pub ar: Option<usize>,
    /// The seed (`seed:12345`).
    pub seed: Option<u64>,
}

/// Builds a sacrebleu signature: `nrefs`, the resampling fields, the metric's own fields, then
/// `version:2.6.0` (the sacrebleu version whose numbers this crate reproduces).
pub fn signature(nrefs: Option<usize>, resampling: Resampling, fields: &[(&str, String)]) -> String {
    let mut parts = vec![format!("nrefs:{}", nrefs_field(nrefs))];
    if let Some(b) = resampling.bootstrap {
        parts.push(format!("bs:{b}"));
    }
    if let Some(a) = resampling.ar {
        parts.push(format!("ar:{a}"));
    }
    if let Some(s) = resampling.seed {
        parts.push(format!("seed:{s}"));
    }
    for (k, v) in fields {
        parts.push(format!("{k}:{v}"));
    }
    parts.push(format!("version:{SACREBLEU_VERSION}"));
    parts.join("|")
}

/// The sacrebleu version whose behaviour and signatures are reproduced.
pub const SACREBLEU_VERSION: &str = "2.6.0";
