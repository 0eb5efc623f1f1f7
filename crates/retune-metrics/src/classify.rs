//! Classification metrics: accuracy, per-class and macro / micro / weighted precision, recall
//! and F1, Matthews correlation, confusion matrix — the numbers scikit-learn gives.
//!
//! Everything is a function of the confusion matrix, so a segment's statistics are one cell of
//! it and bootstrap resampling works as for the corpus metrics.

use crate::corpus::SegmentMetric;
use serde::Serialize;
use std::collections::HashMap;

/// Precision, recall, F1 and support of one class or one average.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prf {
    /// Precision (0 when nothing was predicted, as scikit-learn's `zero_division=0`).
    pub precision: f64,
    /// Recall (0 when the class has no gold example).
    pub recall: f64,
    /// F1 (0 when precision and recall are both 0).
    pub f1: f64,
    /// Gold examples.
    pub support: u64,
}

/// The full classification report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// Labels, sorted, as rows and columns of the confusion matrix.
    pub labels: Vec<String>,
    /// `confusion[gold][pred]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Accuracy in 0..1.
    pub accuracy: f64,
    /// Per-label scores, in `labels` order.
    pub per_class: Vec<Prf>,
    /// Unweighted mean over labels.
    pub macro_avg: Prf,
    /// Mean weighted by support.
    pub weighted_avg: Prf,
    /// Micro average (global counts).
    pub micro_avg: Prf,
    /// Matthews correlation coefficient (multi-class, Gorodkin's R_K as scikit-learn).
    pub mcc: f64,
    /// Number of examples.
    pub n: u64,
}

fn prf(tp: f64, pred: f64, gold: f64, support: u64) -> Prf {
    let precision = if pred > 0.0 { tp / pred } else { 0.0 };
    let recall = if gold > 0.0 { tp / gold } else { 0.0 };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Prf {
        precision,
        recall,
        f1,
        support,
    }
}

impl ClassificationReport {
    /// Builds the report from a confusion matrix `confusion[gold][pred]`.
    pub fn from_confusion(labels: Vec<String>, confusion: Vec<Vec<u64>>) -> Self {
        let k = labels.len();
        let n: u64 = confusion.iter().flatten().sum();
        let gold: Vec<u64> = confusion.iter().map(|r| r.iter().sum()).collect();
        let pred: Vec<u64> = (0..k).map(|j| confusion.iter().map(|r| r[j]).sum()).collect();
        let tp: Vec<u64> = (0..k).map(|i| confusion[i][i]).collect();
        let per_class: Vec<Prf> = (0..k)
            .map(|i| prf(tp[i] as f64, pred[i] as f64, gold[i] as f64, gold[i]))
            .collect();
        let mean = |f: &dyn Fn(&Prf) -> f64| {
            if k > 0 {
                per_class.iter().map(f).sum::<f64>() / k as f64
            } else {
                0.0
            }
        };
        let macro_avg = Prf {
            precision: mean(&|p| p.precision),
            recall: mean(&|p| p.recall),
            f1: mean(&|p| p.f1),
            support: n,
        };
        let wmean = |f: &dyn Fn(&Prf) -> f64| {
            if n > 0 {
                per_class.iter().map(|p| f(p) * p.support as f64).sum::<f64>() / n as f64
            } else {
                0.0
            }
        };
        let weighted_avg = Prf {
            precision: wmean(&|p| p.precision),
            recall: wmean(&|p| p.recall),
            f1: wmean(&|p| p.f1),
            support: n,
        };
        let tps: u64 = tp.iter().sum();
        let micro_avg = prf(tps as f64, n as f64, n as f64, n);
        let accuracy = if n > 0 { tps as f64 / n as f64 } else { 0.0 };
        // MCC = (c*s - sum p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2))
        let (c, s) = (tps as f64, n as f64);
        let pt: f64 = (0..k).map(|i| pred[i] as f64 * gold[i] as f64).sum();
        let pp: f64 = pred.iter().map(|&p| (p as f64).powi(2)).sum();
        let tt: f64 = gold.iter().map(|&t| (t as f64).powi(2)).sum();
        let cov_ytyp = c * s - pt;
        let cov_ypyp = s * s - pp;
        let cov_ytyt = s * s - tt;
        let mcc = if cov_ypyp * cov_ytyt == 0.0 {
            0.0
        } else {
            cov_ytyp / (cov_ytyt * cov_ypyp).sqrt()
        };
        ClassificationReport {
            labels,
            confusion,
            accuracy,
            per_class,
            macro_avg,
            weighted_avg,
            micro_avg,
            mcc,
            n,
        }
    }

    /// Builds the report from predicted and gold labels (same length).
    ///
    /// ```
    /// use retune_metrics::classify::ClassificationReport;
    /// let r = ClassificationReport::from_labels(&["a", "b", "b"], &["a", "b", "a"]);
    /// assert!((r.accuracy - 2.0 / 3.0).abs() < 1e-12);
    /// assert_eq!(r.confusion, vec![vec![1, 1], vec![0, 1]]);
    /// ```
    pub fn from_labels<S: AsRef<str>>(pred: &[S], gold: &[S]) -> Self {
        let mut labels: Vec<String> = pred.iter().chain(gold.iter()).map(|s| s.as_ref().to_string()).collect();
        labels.sort();
        labels.dedup();
        let index: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let k = labels.len();
        let mut confusion = vec![vec![0u64; k]; k];
        for (p, g) in pred.iter().zip(gold) {
            confusion[index[g.as_ref()]][index[p.as_ref()]] += 1;
        }
        ClassificationReport::from_confusion(labels, confusion)
    }
}

/// Which single number a [`ClassificationMetric`] reports (for confidence intervals and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClassScore {
    /// Accuracy, in percent.
    #[default]
    Accuracy,
    /// Macro-averaged F1, in percent.
    MacroF1,
    /// Weighted F1, in percent.
    WeightedF1,
    /// Matthews correlation, in percent (-100..100).
    Mcc,
}

impl std::str::FromStr for ClassScore {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "accuracy" | "acc" => ClassScore::Accuracy,
            "macro-f1" | "f1" => ClassScore::MacroF1,
            "weighted-f1" => ClassScore::WeightedF1,
            "mcc" => ClassScore::Mcc,
            o => {
                return Err(format!(
                    "unknown classification score '{o}' (expected accuracy, macro-f1, weighted-f1, mcc)"
                ))
            }
        })
    }
}

/// Classification as a [`SegmentMetric`]: a segment is `(predicted label, [gold label])`, its
/// statistics the one-hot confusion cell.
#[derive(Clone, Debug)]
pub struct ClassificationMetric {
    labels: Vec<String>,
    index: HashMap<String, usize>,
    /// The reported number.
    pub score: ClassScore,
}

impl ClassificationMetric {
    /// A metric over a fixed label set (a label outside it is counted in no cell).
    pub fn new(labels: Vec<String>, score: ClassScore) -> Self {
        let index = labels.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect();
        ClassificationMetric { labels, index, score }
    }
    /// The report from summed statistics.
    pub fn report(&self, stats: &[f64]) -> ClassificationReport {
        let k = self.labels.len();
        let confusion = (0..k)
            .map(|g| (0..k).map(|p| stats[g * k + p] as u64).collect())
            .collect();
        ClassificationReport::from_confusion(self.labels.clone(), confusion)
    }
}

impl SegmentMetric for ClassificationMetric {
    fn name(&self) -> String {
        match self.score {
            ClassScore::Accuracy => "Accuracy",
            ClassScore::MacroF1 => "Macro-F1",
            ClassScore::WeightedF1 => "Weighted-F1",
            ClassScore::Mcc => "MCC",
        }
        .into()
    }
    fn num_stats(&self) -> usize {
        self.labels.len() * self.labels.len()
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let k = self.labels.len();
        if let (Some(&p), Some(&g)) = (
            self.index.get(hypothesis),
            references.first().and_then(|g| self.index.get(*g)),
        ) {
            out[g * k + p] = 1.0;
        }
    }
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        let r = self.report(stats);
        100.0
            * match self.score {
                ClassScore::Accuracy => r.accuracy,
                ClassScore::MacroF1 => r.macro_avg.f1,
                ClassScore::WeightedF1 => r.weighted_avg.f1,
                ClassScore::Mcc => r.mcc,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_hand_computed() {
        // gold: 1 1 1 0 0, pred: 1 1 0 0 1 -> tp=2 fp=1 fn=1 tn=1
        let r = ClassificationReport::from_labels(&["1", "1", "0", "0", "1"], &["1", "1", "1", "0", "0"]);
        let p1 = &r.per_class[1];
        assert!((p1.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((p1.recall - 2.0 / 3.0).abs() < 1e-12);
        // MCC = (tp*tn - fp*fn)/sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = (2-1)/sqrt(3*3*2*2) = 1/6
        assert!((r.mcc - 1.0 / 6.0).abs() < 1e-12);
        assert!((r.accuracy - 0.6).abs() < 1e-12);
    }
}
