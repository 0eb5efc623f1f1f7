//! Bootstrap confidence intervals and paired significance tests, as sacrebleu 2.6.0 runs them:
//! the same resamples (numpy's `default_rng(seed)`, seed 12345 by default), the same interval
//! (the 2.5th and 97.5th percentile by sacrebleu's index rule) and the same p-values.

use crate::corpus::{SegmentStats, SummedScore};
use crate::numpy_rng::NumpyRng;
use rayon::prelude::*;
use serde::Serialize;

/// sacrebleu's default seed (`SACREBLEU_SEED`).
pub const DEFAULT_SEED: u64 = 12345;
/// sacrebleu's default number of bootstrap resamples.
pub const DEFAULT_BOOTSTRAP: usize = 1000;
/// sacrebleu's default number of approximate-randomization trials.
pub const DEFAULT_AR_TRIALS: usize = 10000;

/// A bootstrap estimate: mean of the resampled scores and the 95% interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BootstrapCi {
    /// Mean of the resampled scores (sacrebleu's `μ`).
    pub mean: f64,
    /// Half-width of the interval (sacrebleu's `±`).
    pub half_width: f64,
    /// Lower end: the resampled score at index `n / 40` after sorting.
    pub lower: f64,
    /// Upper end: the resampled score at index `n - n / 40 - 1`.
    pub upper: f64,
    /// Resamples drawn.
    pub n_samples: usize,
    /// Seed of the resampling.
    pub seed: u64,
}

/// The result of one system in a paired test against the baseline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedResult {
    /// The system's corpus score.
    pub score: f64,
    /// The baseline's corpus score.
    pub baseline: f64,
    /// p-value of the difference (two-sided, `(c + 1) / (n + 1)`).
    pub p_value: f64,
    /// Bootstrap interval of the system's score, when computed.
    pub ci: Option<BootstrapCi>,
}

/// Which paired test to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairedTest {
    /// Paired bootstrap resampling (Koehn 2004; sacrebleu `--paired-bs`).
    Bootstrap,
    /// Paired approximate randomization (Riezler & Maxwell 2005; sacrebleu `--paired-ar`).
    ApproximateRandomization,
}

/// Neumaier-compensated mean (within an ulp of numpy's pairwise mean and Python's exact mean).
fn mean(xs: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for &x in xs {
        let t = s + x;
        if s.abs() >= x.abs() {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    (s + c) / xs.len() as f64
}

/// sacrebleu's `estimate_ci`: sort, take indices `n/40` and `n - n/40 - 1`.
pub fn estimate_ci(scores: &[f64], seed: u64) -> BootstrapCi {
    let mut s = scores.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let lo = n / 40;
    let hi = n - lo - 1;
    BootstrapCi {
        mean: mean(&s),
        half_width: 0.5 * (s[hi] - s[lo]),
        lower: s[lo],
        upper: s[hi],
        n_samples: n,
        seed,
    }
}

/// Scores of `n_samples` bootstrap resamples of each statistics table, all resampled with the
/// same indices drawn from `rng` (rows of `rng.choice(n, size=(n_samples, n))`).
fn resampled_scores<M: SummedScore + ?Sized>(
    metric: &M,
    tables: &[&SegmentStats],
    rng: &mut NumpyRng,
    n_samples: usize,
) -> Vec<Vec<f64>> {
    let n = tables[0].len();
    let mut out = vec![Vec::with_capacity(n_samples); tables.len()];
    const BATCH: usize = 16;
    let mut idx = vec![0u32; BATCH * n];
    let mut done = 0;
    while done < n_samples {
        let rows = BATCH.min(n_samples - done);
        rng.fill_choice(n, &mut idx[..rows * n]);
        for (t, table) in tables.iter().enumerate() {
            let scores: Vec<f64> = idx[..rows * n]
                .par_chunks(n)
                .map(|row| {
                    let mut sum = vec![0.0; table.width];
                    for &i in row {
                        for (a, b) in sum.iter_mut().zip(table.row(i as usize)) {
                            *a += b;
                        }
                    }
                    metric.score_of_sums(&sum)
                })
                .collect();
            out[t].extend(scores);
        }
        done += rows;
    }
    out
}

/// A bootstrap 95% confidence interval of a corpus score, as sacrebleu's `--confidence`.
pub fn bootstrap_ci<M: SummedScore + ?Sized>(
    metric: &M,
    stats: &SegmentStats,
    n_samples: usize,
    seed: u64,
) -> BootstrapCi {
    let mut rng = NumpyRng::new(seed);
    let scores = resampled_scores(metric, &[stats], &mut rng, n_samples);
    estimate_ci(&scores[0], seed)
}

fn p_value(count_greater: usize, n: usize) -> f64 {
    (count_greater + 1) as f64 / (n + 1) as f64
}

/// Paired bootstrap test of `system` against `baseline` (same segments, same references), as
/// sacrebleu's `_paired_bs_test`; the system's interval comes with it.
pub fn paired_bootstrap<M: SummedScore + ?Sized>(
    metric: &M,
    baseline: &SegmentStats,
    system: &SegmentStats,
    n_samples: usize,
    seed: u64,
) -> PairedResult {
    let bl_score = metric.score_of_sums(&baseline.sum());
    let sys_score = metric.score_of_sums(&system.sum());
    let mut rng = NumpyRng::new(seed);
    let scores = resampled_scores(metric, &[baseline, system], &mut rng, n_samples);
    let diffs: Vec<f64> = scores[1].iter().zip(&scores[0]).map(|(s, b)| (s - b).abs()).collect();
    let m = mean(&diffs);
    let real = (bl_score - sys_score).abs();
    let c = diffs.iter().filter(|&&d| d - m > real).count();
    PairedResult {
        score: sys_score,
        baseline: bl_score,
        p_value: p_value(c, n_samples),
        ci: Some(estimate_ci(&scores[1], seed)),
    }
}

/// Paired approximate randomization test, as sacrebleu's `_paired_ar_test`: each trial swaps
/// the two systems' statistics on a random half of the segments. With `n_confidence > 0` the
/// system's bootstrap interval is drawn from the same generator afterwards, as sacrebleu does.
pub fn paired_ar<M: SummedScore + ?Sized>(
    metric: &M,
    baseline: &SegmentStats,
    system: &SegmentStats,
    n_trials: usize,
    n_confidence: usize,
    seed: u64,
) -> PairedResult {
    let n = baseline.len();
    let bl_score = metric.score_of_sums(&baseline.sum());
    let sys_score = metric.score_of_sums(&system.sum());
    let real = (bl_score - sys_score).abs();
    let mut rng = NumpyRng::new(seed);
    let mut count = 0usize;
    {
        let mut stream = rng.bool_stream();
        const BATCH: usize = 64;
        let mut sel = vec![false; BATCH * n];
        let mut done = 0;
        while done < n_trials {
            let rows = BATCH.min(n_trials - done);
            stream.fill(&mut sel[..rows * n]);
            count += sel[..rows * n]
                .par_chunks(n)
                .map(|row| {
                    let w = baseline.width;
                    let mut a = vec![0.0; w];
                    let mut b = vec![0.0; w];
                    for (i, &pos) in row.iter().enumerate() {
                        let (x, y) = if pos {
                            (baseline.row(i), system.row(i))
                        } else {
                            (system.row(i), baseline.row(i))
                        };
                        for k in 0..w {
                            a[k] += x[k];
                            b[k] += y[k];
                        }
                    }
                    usize::from((metric.score_of_sums(&a) - metric.score_of_sums(&b)).abs() > real)
                })
                .sum::<usize>();
            done += rows;
        }
    }
    let ci = (n_confidence > 0).then(|| {
        let scores = resampled_scores(metric, &[system], &mut rng, n_confidence);
        estimate_ci(&scores[0], seed)
    });
    PairedResult {
        score: sys_score,
        baseline: bl_score,
        p_value: p_value(count, n_trials),
        ci,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_ci_uses_sacrebleus_indices() {
        let scores: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let ci = estimate_ci(&scores, 1);
        assert_eq!(ci.lower, 25.0); // 1000 // 40
        assert_eq!(ci.upper, 974.0); // 1000 - 25 - 1
        assert_eq!(ci.half_width, 474.5);
        assert_eq!(ci.mean, 499.5);
    }
}
