//! Metrics that are a plain mean of segment scores (ROUGE as rouge-score reports it, METEOR),
//! in the [`SegmentMetric`] shape: a segment's statistics are its scores followed by a count of 1.

use crate::corpus::SegmentMetric;
use crate::rouge::{RougeScore, RougeScorer, RougeType};

/// ROUGE over a corpus: for each type, the mean precision, recall and F-measure over segments
/// (rouge-score's scores, averaged without bootstrap aggregation, so the result is
/// deterministic). With several references, each segment takes rouge-score's `score_multi`.
pub struct RougeMetric {
    /// The scorer.
    pub scorer: RougeScorer,
    /// Text that stands for a sentence break in line-based files (replaced by `\n` before
    /// scoring, for `rougeLsum`); `None` to leave text unchanged.
    pub newline_marker: Option<String>,
}

impl RougeMetric {
    /// ROUGE with the given types and stemming.
    pub fn new(types: Vec<RougeType>, use_stemmer: bool) -> Self {
        RougeMetric {
            scorer: RougeScorer::new(types, use_stemmer),
            newline_marker: None,
        }
    }
    /// The signature: `nrefs:N|tok:T|stem:yes|no|agg:mean|rouge-score:0.1.2`, `tok` naming
    /// the tokenization (`default` is rouge-score's; `zh` and `char` are retune's).
    pub fn signature(&self, nrefs: usize) -> String {
        format!(
            "nrefs:{nrefs}|tok:{}|stem:{}|agg:mean|rouge-score:0.1.2",
            self.scorer.tokenizer().name(),
            if self.scorer.use_stemmer() { "yes" } else { "no" }
        )
    }
    /// Mean precision, recall and F-measure per type, from summed statistics.
    pub fn means(&self, stats: &[f64]) -> Vec<RougeScore> {
        let n = stats[stats.len() - 1];
        let d = if n > 0.0 { n } else { 1.0 };
        (0..self.scorer.types().len())
            .map(|t| RougeScore {
                precision: stats[3 * t] / d,
                recall: stats[3 * t + 1] / d,
                fmeasure: stats[3 * t + 2] / d,
            })
            .collect()
    }
    fn prepare<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.newline_marker {
            Some(m) if !m.is_empty() && s.contains(m.as_str()) => s.replace(m.as_str(), "\n").into(),
            _ => s.into(),
        }
    }
}

impl SegmentMetric for RougeMetric {
    fn name(&self) -> String {
        self.scorer.types().first().map(|t| t.to_string()).unwrap_or_default()
    }
    fn num_stats(&self) -> usize {
        3 * self.scorer.types().len() + 1
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        let hyp = self.prepare(hypothesis);
        let refs: Vec<std::borrow::Cow<str>> = references.iter().map(|r| self.prepare(r)).collect();
        let refs: Vec<&str> = refs.iter().map(|r| r.as_ref()).collect();
        let scores = if refs.len() == 1 {
            self.scorer.score(refs[0], &hyp)
        } else {
            self.scorer.score_multi(&refs, &hyp)
        };
        for (t, s) in scores.iter().enumerate() {
            out[3 * t] = s.precision;
            out[3 * t + 1] = s.recall;
            out[3 * t + 2] = s.fmeasure;
        }
        let last = out.len() - 1;
        out[last] = 1.0;
    }
    /// Mean F-measure of the first type, in percent.
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        100.0 * self.means(stats).first().map(|s| s.fmeasure).unwrap_or(0.0)
    }
}

/// One column of another metric's statistics, averaged over segments and scaled: used to
/// bootstrap each number of a multi-number metric (say, rougeL's F-measure) separately.
pub struct MeanColumn<'a, M: SegmentMetric + ?Sized> {
    /// The metric whose statistics are resampled.
    pub base: &'a M,
    /// The column to average.
    pub column: usize,
    /// Multiplier (100 for percentages).
    pub scale: f64,
    /// The printed name.
    pub label: String,
}

impl<M: SegmentMetric + ?Sized> SegmentMetric for MeanColumn<'_, M> {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn num_stats(&self) -> usize {
        self.base.num_stats()
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        self.base.segment_stats(hypothesis, references, out)
    }
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        let n = stats[stats.len() - 1];
        if n > 0.0 {
            self.scale * stats[self.column] / n
        } else {
            0.0
        }
    }
}

/// METEOR over a corpus: the mean of nltk's segment scores (best over references), reported in
/// percent. Segment statistics are `[score, 1]`.
pub struct MeteorMetric {
    /// The scorer.
    pub meteor: crate::meteor::Meteor,
}

impl SegmentMetric for MeteorMetric {
    fn name(&self) -> String {
        "METEOR".into()
    }
    fn num_stats(&self) -> usize {
        2
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        out[0] = self.meteor.score(references, hypothesis);
        out[1] = 1.0;
    }
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        if stats[1] > 0.0 {
            100.0 * stats[0] / stats[1]
        } else {
            0.0
        }
    }
}
