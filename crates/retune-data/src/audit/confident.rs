//! Confident learning (Northcutt, Jiang, Chuang, JAIR 2021): which given labels are probably wrong,
//! computed from out-of-fold predicted probabilities.
//!
//! This reproduces cleanlab 2.9 (`cleanlab.count.get_confident_thresholds`,
//! `compute_confident_joint`, `calibrate_confident_joint`, `estimate_joint`, `num_label_issues`;
//! `cleanlab.filter.find_label_issues` with its default `filter_by="prune_by_noise_rate"`,
//! `frac_noise=1`, `min_examples_per_class=1`; `cleanlab.rank` `self_confidence` and
//! `normalized_margin` scores), including cleanlab's constants (`1e-6` fuzz, threshold floor
//! `2e-6`, threshold `2` for classes that no row is labelled with) and numpy's pairwise summation,
//! so that results match bit for bit on the golden cases. Where numpy's sort order of *tied* values
//! is not specified (its SIMD `argsort`), this code breaks ties by row order (a stable sort); ties
//! need exactly equal probabilities, margins or rounding residues.
//!
//! Probabilities are a flat row-major matrix (`probs[row * k + class]`) of any float type that
//! converts to `f64` losslessly (`f32` model outputs or `f64`). All arithmetic is in `f64`.

use super::AuditError;
use retune_metrics::numpy_sum::pairwise_sum;
use serde::Serialize;

/// cleanlab's `FLOATING_POINT_COMPARISON`.
const FUZZ: f64 = 1e-6;
/// cleanlab's `CONFIDENT_THRESHOLDS_LOWER_BOUND`.
const THRESHOLD_FLOOR: f64 = 2.0 * FUZZ;
/// cleanlab's `TINY_VALUE`.
const TINY: f64 = 1e-100;
/// The threshold of a class that no row is labelled with (cleanlab's `BIG_VALUE`).
const ABSENT_CLASS_THRESHOLD: f64 = 2.0;

/// How label issues are ordered (cleanlab's `return_indices_ranked_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum RankBy {
    /// The predicted probability of the given label (cleanlab's default, `"self_confidence"`).
    #[default]
    SelfConfidence,
    /// `(p(given) − max p(other) + 1) / 2` (`"normalized_margin"`).
    NormalizedMargin,
}

/// How `num_label_issues` counts (cleanlab's `estimation_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum CountMethod {
    /// Off-diagonal rows of the uncalibrated confident joint, minus rows whose prediction is the
    /// given label (cleanlab's default `"off_diagonal"`).
    #[default]
    OffDiagonal,
    /// `round(n × (1 − trace(estimated joint)))` (`"off_diagonal_calibrated"`).
    OffDiagonalCalibrated,
}

/// Options of [`find_label_issues`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LabelIssueOptions {
    /// Score used to rank the issues (default: self-confidence).
    pub rank_by: RankBy,
    /// A class keeps at least this many rows (cleanlab's `min_examples_per_class`, default 1).
    pub min_examples_per_class: usize,
}

impl Default for LabelIssueOptions {
    fn default() -> Self {
        Self {
            rank_by: RankBy::SelfConfidence,
            min_examples_per_class: 1,
        }
    }
}

/// The confident joint: `counts[given][true]` rows confidently counted as having `true` label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfidentJoint {
    /// `K × K` counts, indexed `[given label][estimated true label]`.
    pub counts: Vec<Vec<i64>>,
    /// Whether `counts` was calibrated (rows sum to the label counts, total to the row count).
    pub calibrated: bool,
    /// The per-class thresholds used.
    pub thresholds: Vec<f64>,
    /// Rows (ascending) confidently counted off the diagonal (estimated true label ≠ given label).
    pub off_diagonal_rows: Vec<usize>,
}

/// The result of [`find_label_issues`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelIssues {
    /// Number of rows.
    pub num_rows: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Rows flagged as label issues, ascending (cleanlab's boolean mask as indices).
    pub issue_rows: Vec<usize>,
    /// The same rows ordered from most to least likely mislabelled (lowest score first).
    pub ranked_rows: Vec<usize>,
    /// The ranking score of each row of `ranked_rows`.
    pub ranked_scores: Vec<f64>,
    /// The score used for ranking.
    pub rank_by: RankBy,
    /// Estimated fraction of rows whose given label is wrong: `1 − trace(estimated joint)`.
    pub noise_rate_estimate: f64,
    /// Per given class: estimated fraction of its rows whose true label is another class.
    pub per_class_noise_rate: Vec<f64>,
    /// Per-class confidence thresholds (mean predicted probability of the class among its rows).
    pub per_class_thresholds: Vec<f64>,
    /// The calibrated confident joint, `[given][true]`.
    pub confident_joint: Vec<Vec<i64>>,
}

fn check<P>(labels: &[u32], probs: &[P], k: usize) -> Result<(), AuditError> {
    if k == 0 {
        return Err(AuditError::Invalid("probabilities need at least one class".into()));
    }
    if probs.len() != labels.len() * k {
        return Err(AuditError::Invalid(format!(
            "{} labels need {} × {k} probabilities, got {}",
            labels.len(),
            labels.len(),
            probs.len()
        )));
    }
    if let Some((row, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= k) {
        return Err(AuditError::Invalid(format!(
            "row {row}: label {l} is not below the number of classes {k}"
        )));
    }
    Ok(())
}

#[inline]
fn p<P: Copy + Into<f64>>(probs: &[P], k: usize, row: usize, class: usize) -> f64 {
    probs[row * k + class].into()
}

/// Number of rows per given label.
fn label_counts(labels: &[u32], k: usize) -> Vec<i64> {
    let mut c = vec![0i64; k];
    for &l in labels {
        c[l as usize] += 1;
    }
    c
}

/// Per-class thresholds: the mean predicted probability of class `j` over the rows labelled `j`
/// (cleanlab `get_confident_thresholds`); 2 for a class without rows; at least `2e-6`.
pub fn confident_thresholds<P: Copy + Into<f64>>(
    labels: &[u32],
    probs: &[P],
    k: usize,
) -> Result<Vec<f64>, AuditError> {
    check(labels, probs, k)?;
    let mut per_class: Vec<Vec<f64>> = vec![Vec::new(); k];
    for (row, &l) in labels.iter().enumerate() {
        per_class[l as usize].push(p(probs, k, row, l as usize));
    }
    Ok(per_class
        .iter()
        .map(|v| {
            if v.is_empty() {
                ABSENT_CLASS_THRESHOLD
            } else {
                pairwise_sum(v) / v.len() as f64
            }
        })
        .map(|t| t.max(THRESHOLD_FLOOR))
        .collect())
}

/// The confident joint (cleanlab `compute_confident_joint`): a row counts as class `j` when
/// `p_j ≥ threshold_j − 1e-6`; with several such classes, as its arg-max class; with none, it is
/// not counted. Diagonal entries are raised to at least 1. With `calibrate`, the result is passed
/// through [`calibrate_confident_joint`].
pub fn compute_confident_joint<P: Copy + Into<f64>>(
    labels: &[u32],
    probs: &[P],
    k: usize,
    calibrate: bool,
) -> Result<ConfidentJoint, AuditError> {
    let thresholds = confident_thresholds(labels, probs, k)?;
    let cut: Vec<f64> = thresholds.iter().map(|t| t - FUZZ).collect();
    let mut counts = vec![vec![0i64; k]; k];
    let mut off_diagonal_rows = Vec::new();
    for (row, &l) in labels.iter().enumerate() {
        let mut n_conf = 0;
        let mut first_conf = 0;
        let mut argmax = 0;
        let mut best = f64::NEG_INFINITY;
        for (j, &c) in cut.iter().enumerate() {
            let x = p(probs, k, row, j);
            if x >= c {
                if n_conf == 0 {
                    first_conf = j;
                }
                n_conf += 1;
            }
            if x > best {
                best = x;
                argmax = j;
            }
        }
        if n_conf == 0 {
            continue;
        }
        let guess = if n_conf > 1 { argmax } else { first_conf };
        counts[l as usize][guess] += 1;
        if guess != l as usize {
            off_diagonal_rows.push(row);
        }
    }
    for (i, row) in counts.iter_mut().enumerate() {
        row[i] = row[i].max(1);
    }
    if calibrate {
        counts = calibrate_confident_joint(&counts, labels, k);
    }
    Ok(ConfidentJoint {
        counts,
        calibrated: calibrate,
        thresholds,
        off_diagonal_rows,
    })
}

/// Rounds each value (half to even), then moves values up or down by one, largest rounding
/// residues first, until the integers have the same (rounded) sum (cleanlab `round_preserving_sum`).
fn round_preserving_sum(floats: &[f64]) -> Vec<i64> {
    let mut ints: Vec<f64> = floats.iter().map(|x| x.round_ties_even()).collect();
    let orig_sum = pairwise_sum(floats).round_ties_even();
    let mut int_sum = pairwise_sum(&ints).round_ties_even();
    while (int_sum - orig_sum).abs() > FUZZ {
        let diff = (orig_sum - int_sum).round_ties_even();
        let increment = if diff < 0.0 { -1.0 } else { 1.0 };
        let changes = (diff.abs() as usize).min(floats.len());
        let mut order: Vec<usize> = (0..floats.len()).collect();
        order.sort_by(|&a, &b| (floats[a] - ints[a]).total_cmp(&(floats[b] - ints[b])));
        if increment > 0.0 {
            order.reverse();
        }
        for &i in order.iter().take(changes) {
            ints[i] += increment;
        }
        int_sum = pairwise_sum(&ints).round_ties_even();
    }
    ints.iter().map(|&x| x as i64).collect()
}

/// Calibrates a confident joint (cleanlab `calibrate_confident_joint`): each row is rescaled to
/// the number of rows with that given label, the whole matrix to the number of rows, and each row
/// is rounded to integers preserving its total.
pub fn calibrate_confident_joint(confident_joint: &[Vec<i64>], labels: &[u32], k: usize) -> Vec<Vec<i64>> {
    let counts = label_counts(labels, k);
    let scaled: Vec<Vec<f64>> = confident_joint
        .iter()
        .zip(&counts)
        .map(|(row, &c)| {
            let r: Vec<f64> = row.iter().map(|&x| x as f64).collect();
            let s = pairwise_sum(&r).max(TINY);
            r.iter().map(|&x| x / s * c as f64).collect()
        })
        .collect();
    let flat: Vec<f64> = scaled.iter().flatten().copied().collect();
    let total = pairwise_sum(&flat).max(TINY);
    let n = counts.iter().sum::<i64>() as f64;
    scaled
        .iter()
        .map(|row| round_preserving_sum(&row.iter().map(|&x| x / total * n).collect::<Vec<_>>()))
        .collect()
}

/// The estimated joint distribution `P(given, true)` (cleanlab `estimate_joint` with a given
/// confident joint): the joint is calibrated again (a no-op up to rounding for a calibrated one)
/// and divided by its total.
pub fn estimate_joint(confident_joint: &[Vec<i64>], labels: &[u32], k: usize) -> Vec<Vec<f64>> {
    let cal = calibrate_confident_joint(confident_joint, labels, k);
    let flat: Vec<f64> = cal.iter().flatten().map(|&x| x as f64).collect();
    let total = pairwise_sum(&flat).max(TINY);
    cal.iter()
        .map(|row| row.iter().map(|&x| x as f64 / total).collect())
        .collect()
}

/// `1 − trace(joint)`: the estimated fraction of mislabelled rows.
fn noise_rate(joint: &[Vec<f64>]) -> f64 {
    let diag: Vec<f64> = (0..joint.len()).map(|i| joint[i][i]).collect();
    1.0 - pairwise_sum(&diag)
}

/// Rows whose prediction (arg-max after adding `1e-6` to the given label) is the given label
/// (cleanlab `_reduce_issues`): these are never reported as issues.
fn predicted_is_given<P: Copy + Into<f64>>(probs: &[P], k: usize, row: usize, label: usize) -> bool {
    let mut best = f64::NEG_INFINITY;
    let mut arg = 0;
    for j in 0..k {
        let mut x = p(probs, k, row, j);
        if j == label {
            x += FUZZ;
        }
        if x > best {
            best = x;
            arg = j;
        }
    }
    arg == label
}

/// The number of label issues (cleanlab `count.num_label_issues`).
pub fn num_label_issues<P: Copy + Into<f64>>(
    labels: &[u32],
    probs: &[P],
    k: usize,
    method: CountMethod,
) -> Result<usize, AuditError> {
    match method {
        CountMethod::OffDiagonal => {
            let cj = compute_confident_joint(labels, probs, k, false)?;
            Ok(cj
                .off_diagonal_rows
                .iter()
                .filter(|&&r| !predicted_is_given(probs, k, r, labels[r] as usize))
                .count())
        }
        CountMethod::OffDiagonalCalibrated => {
            let cj = compute_confident_joint(labels, probs, k, true)?;
            let joint = estimate_joint(&cj.counts, labels, k);
            Ok((noise_rate(&joint) * labels.len() as f64).round_ties_even() as usize)
        }
    }
}

/// Label quality scores (cleanlab `rank.get_label_quality_scores`): lower means more likely
/// mislabelled.
pub fn label_quality_scores<P: Copy + Into<f64>>(
    labels: &[u32],
    probs: &[P],
    k: usize,
    rank_by: RankBy,
) -> Result<Vec<f64>, AuditError> {
    check(labels, probs, k)?;
    Ok(labels
        .iter()
        .enumerate()
        .map(|(row, &l)| {
            let own = p(probs, k, row, l as usize);
            match rank_by {
                RankBy::SelfConfidence => own,
                RankBy::NormalizedMargin => {
                    let other = (0..k)
                        .filter(|&j| j != l as usize)
                        .map(|j| p(probs, k, row, j))
                        .fold(f64::NEG_INFINITY, f64::max);
                    (own - other + 1.0) / 2.0
                }
            }
        })
        .collect())
}

/// The prune-count matrix (cleanlab `_keep_at_least_n_per_class` with `frac_noise = 1`), indexed
/// `[true][given]`: the transposed calibrated joint with every diagonal entry raised to at least
/// `n`, the increase taken evenly from the column's non-zero entries, then truncated to integers.
fn prune_counts(cj: &[Vec<i64>], n: usize) -> Vec<Vec<i64>> {
    let k = cj.len();
    let m: Vec<Vec<f64>> = (0..k).map(|i| (0..k).map(|j| cj[j][i] as f64).collect()).collect();
    let diag: Vec<f64> = (0..k).map(|i| m[i][i]).collect();
    let new_diag: Vec<f64> = diag.iter().map(|&d| d.max(n as f64)).collect();
    let mut out = vec![vec![0i64; k]; k];
    for j in 0..k {
        let nonzero = (0..k).filter(|&i| m[i][j] != 0.0).count() as f64;
        let per = (new_diag[j] - diag[j]) / (nonzero - 1.0).max(1.0);
        for i in 0..k {
            let v = if i == j { new_diag[j] } else { (m[i][j] - per).max(0.0) };
            out[i][j] = v as i64; // numpy astype(int): truncation
        }
    }
    out
}

/// Finds label issues as cleanlab's `filter.find_label_issues(labels, pred_probs,
/// filter_by="prune_by_noise_rate")` does, ranks them as `return_indices_ranked_by` does, and
/// estimates the noise rate.
///
/// For each given class `k` with more than `min_examples_per_class` rows and each other class `j`,
/// the `prune[j][k]` rows labelled `k` with the largest margin `p_j − p_k` are flagged; rows whose
/// prediction is the given label are then unflagged.
pub fn find_label_issues<P: Copy + Into<f64>>(
    labels: &[u32],
    probs: &[P],
    k: usize,
    opts: &LabelIssueOptions,
) -> Result<LabelIssues, AuditError> {
    let cj = compute_confident_joint(labels, probs, k, true)?;
    let prune = prune_counts(&cj.counts, opts.min_examples_per_class);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (row, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(row);
    }
    let mut is_issue = vec![false; labels.len()];
    for (kk, rows) in by_class.iter().enumerate() {
        if rows.len() <= opts.min_examples_per_class {
            continue;
        }
        for j in 0..k {
            let num = prune[j][kk];
            if j == kk || num <= 0 {
                continue;
            }
            let mut order: Vec<(f64, usize)> = rows
                .iter()
                .map(|&r| (-(p(probs, k, r, j) - p(probs, k, r, kk)), r))
                .collect();
            order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for &(_, r) in order.iter().take(num as usize) {
                is_issue[r] = true;
            }
        }
    }
    for (row, flag) in is_issue.iter_mut().enumerate() {
        if *flag && predicted_is_given(probs, k, row, labels[row] as usize) {
            *flag = false;
        }
    }
    let issue_rows: Vec<usize> = (0..labels.len()).filter(|&r| is_issue[r]).collect();
    let scores = label_quality_scores(labels, probs, k, opts.rank_by)?;
    let mut ranked: Vec<(f64, usize)> = issue_rows.iter().map(|&r| (scores[r], r)).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let joint = estimate_joint(&cj.counts, labels, k);
    let per_class_noise_rate = cj
        .counts
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let s: i64 = row.iter().sum();
            if s == 0 {
                0.0
            } else {
                1.0 - row[i] as f64 / s as f64
            }
        })
        .collect();
    Ok(LabelIssues {
        num_rows: labels.len(),
        num_classes: k,
        ranked_rows: ranked.iter().map(|x| x.1).collect(),
        ranked_scores: ranked.iter().map(|x| x.0).collect(),
        issue_rows,
        rank_by: opts.rank_by,
        noise_rate_estimate: noise_rate(&joint),
        per_class_noise_rate,
        per_class_thresholds: cj.thresholds,
        confident_joint: cj.counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_matches_plain_sum_closely() {
        let v: Vec<f64> = (0..1000).map(|i| (i as f64).sin()).collect();
        let plain: f64 = v.iter().sum();
        assert!((pairwise_sum(&v) - plain).abs() < 1e-12);
    }

    #[test]
    fn rounding_preserves_sum() {
        assert_eq!(round_preserving_sum(&[10.5, 20.5]).iter().sum::<i64>(), 31);
        // Expected values from cleanlab.internal.util.round_preserving_sum (ties included).
        assert_eq!(round_preserving_sum(&[0.4, 0.4, 0.2]), vec![0, 1, 0]);
        assert_eq!(round_preserving_sum(&[10.5, 20.5]), vec![10, 21]);
        assert_eq!(round_preserving_sum(&[0.5; 9]), vec![0, 0, 0, 0, 0, 1, 1, 1, 1]);
    }
}
