//! The linear probe: frozen encoder features (mean-pooled last hidden states, as
//! sentence-transformers pools) and a multinomial logistic regression on them. Also out-of-fold
//! probabilities (k-fold) for label-noise estimation, and a k-nearest-neighbour baseline.

use candle_core::Device;
use rayon::prelude::*;
use retune_models::arch::{EncoderInput, EncoderModel};
use retune_models::layers::mean_pool;
use retune_models::nn::Mode;
use retune_models::ops::{axpy, dot};
use retune_models::text_tokenizer::{EncodedRow, TextTokenizer};

use crate::batching::{eval_batches, SplitMix};
use crate::error::Result;
use retune_models::batches::map_batches;

/// Row-major features: `n` rows of `d` values.
#[derive(Clone, Debug, Default)]
pub struct Features {
    /// The values, `n * d`.
    pub x: Vec<f32>,
    /// Rows.
    pub n: usize,
    /// Dimensions.
    pub d: usize,
}

impl Features {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Features {
        let mut x = Vec::with_capacity(idx.len() * self.d);
        for &i in idx {
            x.extend_from_slice(self.row(i));
        }
        Features {
            x,
            n: idx.len(),
            d: self.d,
        }
    }
}

/// Mean-pooled last hidden states of every row, computed in length-sorted batches in inference
/// mode. `progress` gets the rows done.
pub fn extract_features(
    encoder: &dyn EncoderModel,
    d: usize,
    tokenizer: &TextTokenizer,
    rows: &[EncodedRow],
    batch_size: usize,
    device: &Device,
    progress: impl FnMut(usize),
) -> Result<Features> {
    let mut f = pooled_states(1, d, tokenizer, rows, batch_size, device, progress, |input| {
        Ok(vec![encoder.hidden(input, Mode::Eval)?])
    })?;
    Ok(f.remove(0))
}

/// Mean-pooled features of every layer's output ([`EncoderModel::layer_states`]), first layer
/// first: one [`Features`] per layer, rows in `rows`' order.
#[allow(clippy::too_many_arguments)]
pub fn extract_layer_features(
    encoder: &dyn EncoderModel,
    layers: usize,
    d: usize,
    tokenizer: &TextTokenizer,
    rows: &[EncodedRow],
    batch_size: usize,
    device: &Device,
    progress: impl FnMut(usize),
) -> Result<Vec<Features>> {
    pooled_states(layers, d, tokenizer, rows, batch_size, device, progress, |input| {
        Ok(encoder.layer_states(input, Mode::Eval)?)
    })
}

/// Mean-pools, batch by batch (several at a time, [`map_batches`]), the `count` hidden-state
/// tensors `states` gives for a batch.
#[allow(clippy::too_many_arguments)]
fn pooled_states(
    count: usize,
    d: usize,
    tokenizer: &TextTokenizer,
    rows: &[EncodedRow],
    batch_size: usize,
    device: &Device,
    progress: impl FnMut(usize),
    states: impl Fn(&EncoderInput) -> Result<Vec<candle_core::Tensor>> + Sync,
) -> Result<Vec<Features>> {
    let lengths: Vec<usize> = rows.iter().map(|r| r.ids.len()).collect();
    let batches = eval_batches(&lengths, batch_size);
    let pooled = map_batches(&batches, progress, |batch| -> Result<Vec<Vec<Vec<f32>>>> {
        let refs: Vec<&EncodedRow> = batch.iter().map(|&i| &rows[i]).collect();
        let input = EncoderInput::from_batch(&tokenizer.pad(&refs), device)?;
        states(&input)?
            .iter()
            .take(count)
            .map(|hidden| Ok(mean_pool(hidden, &input.attention_mask)?.to_vec2::<f32>()?))
            .collect()
    })?;
    let mut x = vec![vec![0f32; rows.len() * d]; count];
    for (batch, layers) in batches.iter().zip(pooled) {
        for (l, pooled) in layers.iter().enumerate() {
            for (j, &i) in batch.iter().enumerate() {
                x[l][i * d..(i + 1) * d].copy_from_slice(&pooled[j]);
            }
        }
    }
    Ok(x.into_iter().map(|x| Features { x, n: rows.len(), d }).collect())
}

/// Settings of the logistic regression. Defaults as scikit-learn's `LogisticRegression`
/// (L2 penalty, C = 1) on standardized features.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct ProbeConfig {
    /// Inverse regularization strength. Default 1.0.
    pub c: f64,
    /// Full-batch iterations. Default 300.
    pub iterations: usize,
    /// Step size of the (Adam) solver. Default 0.05.
    pub lr: f64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            c: 1.0,
            iterations: 300,
            lr: 0.05,
        }
    }
}

/// A multinomial logistic regression on standardized features.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LogisticRegression {
    /// Weights, `k * d` (class-major).
    pub w: Vec<f32>,
    /// Biases, `k`.
    pub b: Vec<f32>,
    /// Feature means.
    pub mean: Vec<f32>,
    /// Feature standard deviations.
    pub std: Vec<f32>,
    /// Classes.
    pub k: usize,
}

fn softmax_rows(z: &mut [f32], k: usize) {
    for row in z.chunks_mut(k) {
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0.0;
        for v in row.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        for v in row.iter_mut() {
            *v /= s;
        }
    }
}

impl LogisticRegression {
    /// Fits the model by minimizing the mean cross-entropy plus `||w||² / (2 C n)` (scikit-learn's
    /// objective divided by n) with full-batch Adam.
    pub fn fit(x: &Features, y: &[u32], k: usize, cfg: ProbeConfig) -> LogisticRegression {
        let (n, d) = (x.n, x.d);
        let mut mean = vec![0f32; d];
        let mut std = vec![0f32; d];
        for i in 0..n {
            for (j, v) in x.row(i).iter().enumerate() {
                mean[j] += v / n as f32;
            }
        }
        for i in 0..n {
            for (j, v) in x.row(i).iter().enumerate() {
                std[j] += (v - mean[j]).powi(2) / n as f32;
            }
        }
        std.iter_mut().for_each(|s| *s = s.sqrt().max(1e-6));
        let xs: Vec<f32> = (0..n * d).map(|t| (x.x[t] - mean[t % d]) / std[t % d]).collect();
        let mut w = vec![0f32; k * d];
        let mut b = vec![0f32; k];
        let (mut mw, mut vw) = (vec![0f32; k * d], vec![0f32; k * d]);
        let (mut mb, mut vb) = (vec![0f32; k], vec![0f32; k]);
        let lambda = 1.0 / (cfg.c * n.max(1) as f64);
        // Small problems run on one thread: a rayon split per iteration costs more than the work.
        let parallel = n * d * k >= 1 << 21;
        for t in 1..=cfg.iterations {
            // Probabilities, then the gradient (P - Y)^T X / n.
            let zero = || (vec![0f32; k * d], vec![0f32; k], vec![0f32; k]);
            let step = |(mut gw, mut gb, mut z): (Vec<f32>, Vec<f32>, Vec<f32>), (row, &yi): (&[f32], &u32)| {
                for ((zc, bc), wc) in z.iter_mut().zip(&b).zip(w.chunks(d)) {
                    *zc = bc + dot(row, wc);
                }
                softmax_rows(&mut z, k);
                for c in 0..k {
                    let g = z[c] - if c as u32 == yi { 1.0 } else { 0.0 };
                    gb[c] += g;
                    axpy(g, row, &mut gw[c * d..(c + 1) * d]);
                }
                (gw, gb, z)
            };
            let (gw, gb) = if parallel {
                xs.par_chunks(d)
                    .zip(y.par_iter())
                    .fold(zero, step)
                    .map(|(gw, gb, _)| (gw, gb))
                    .reduce(
                        || (vec![0f32; k * d], vec![0f32; k]),
                        |(mut a, mut ab), (b2, bb)| {
                            a.iter_mut().zip(&b2).for_each(|(x, y)| *x += y);
                            ab.iter_mut().zip(&bb).for_each(|(x, y)| *x += y);
                            (a, ab)
                        },
                    )
            } else {
                let (gw, gb, _) = xs.chunks(d).zip(y.iter()).fold(zero(), step);
                (gw, gb)
            };
            let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
            let bc1 = 1.0 - b1.powi(t as i32);
            let bc2 = 1.0 - b2.powi(t as i32);
            let lr = cfg.lr as f32;
            for i in 0..k * d {
                let g = gw[i] / n as f32 + lambda as f32 * w[i];
                mw[i] = b1 * mw[i] + (1.0 - b1) * g;
                vw[i] = b2 * vw[i] + (1.0 - b2) * g * g;
                w[i] -= lr * (mw[i] / bc1) / ((vw[i] / bc2).sqrt() + eps);
            }
            for c in 0..k {
                let g = gb[c] / n as f32;
                mb[c] = b1 * mb[c] + (1.0 - b1) * g;
                vb[c] = b2 * vb[c] + (1.0 - b2) * g * g;
                b[c] -= lr * (mb[c] / bc1) / ((vb[c] / bc2).sqrt() + eps);
            }
        }
        LogisticRegression { w, b, mean, std, k }
    }

    /// Class probabilities, `n * k`.
    pub fn predict_proba(&self, x: &Features) -> Vec<f32> {
        let (k, d) = (self.k, x.d);
        let mut out = vec![0f32; x.n * k];
        out.par_chunks_mut(k).enumerate().for_each(|(i, z)| {
            let row = x.row(i);
            let xs: Vec<f32> = row
                .iter()
                .enumerate()
                .map(|(j, v)| (v - self.mean[j]) / self.std[j])
                .collect();
            for ((zc, bc), wc) in z.iter_mut().zip(&self.b).zip(self.w.chunks(d)) {
                *zc = bc + dot(&xs, wc);
            }
            softmax_rows(z, k);
        });
        out
    }
}

/// Index of the largest value of each row of an `n * k` matrix.
pub fn argmax_rows(p: &[f32], k: usize) -> Vec<u32> {
    p.chunks(k)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
                )
                .0 as u32
        })
        .collect()
}

/// Stratified fold of each row (`0..folds`), deterministic for `seed`.
pub fn stratified_folds(y: &[u32], folds: usize, seed: u64) -> Vec<usize> {
    let k = y.iter().map(|&v| v as usize + 1).max().unwrap_or(0);
    let mut rng = SplitMix(seed);
    let mut fold = vec![0usize; y.len()];
    for c in 0..k {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] as usize == c).collect();
        rng.shuffle(&mut idx);
        for (j, &i) in idx.iter().enumerate() {
            fold[i] = j % folds.max(1);
        }
    }
    fold
}

/// A fold (`0..folds`) for each of `groups` groups (e.g. the sentences whose tokens are the
/// rows), shuffled deterministically for `seed`: all rows of a group land in one fold, so no
/// probe sees a sentence it predicts.
pub fn group_folds(groups: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix(seed);
    let mut idx: Vec<usize> = (0..groups).collect();
    rng.shuffle(&mut idx);
    let mut fold = vec![0usize; groups];
    for (j, &g) in idx.iter().enumerate() {
        fold[g] = j % folds.max(1);
    }
    fold
}

/// Out-of-fold predicted probabilities (`n * k`): each row is predicted by a probe trained on
/// the other folds (what confident learning needs).
pub fn out_of_fold_proba(x: &Features, y: &[u32], k: usize, folds: usize, seed: u64, cfg: ProbeConfig) -> Vec<f32> {
    out_of_fold_proba_in(x, y, k, &stratified_folds(y, folds, seed), folds, cfg)
}

/// [`out_of_fold_proba`] with the rows' folds given (`fold[i]` in `0..folds`).
pub fn out_of_fold_proba_in(
    x: &Features,
    y: &[u32],
    k: usize,
    fold: &[usize],
    folds: usize,
    cfg: ProbeConfig,
) -> Vec<f32> {
    let mut out = vec![0f32; x.n * k];
    for f in 0..folds {
        let train: Vec<usize> = (0..x.n).filter(|&i| fold[i] != f).collect();
        let test: Vec<usize> = (0..x.n).filter(|&i| fold[i] == f).collect();
        if test.is_empty() {
            continue;
        }
        let ty: Vec<u32> = train.iter().map(|&i| y[i]).collect();
        let model = LogisticRegression::fit(&x.select(&train), &ty, k, cfg);
        let p = model.predict_proba(&x.select(&test));
        for (j, &i) in test.iter().enumerate() {
            out[i * k..(i + 1) * k].copy_from_slice(&p[j * k..(j + 1) * k]);
        }
    }
    out
}

/// k-nearest-neighbour predictions by cosine similarity (majority vote, ties to the nearest).
pub fn knn_predict(train: &Features, y: &[u32], test: &Features, neighbours: usize, classes: usize) -> Vec<u32> {
    knn_vote(train, y, test, neighbours, classes, false)
}

/// Leave-one-out [`knn_predict`] of the training rows themselves: each row's neighbours are the
/// other rows.
pub fn knn_predict_loo(train: &Features, y: &[u32], neighbours: usize, classes: usize) -> Vec<u32> {
    knn_vote(train, y, train, neighbours, classes, true)
}

fn knn_vote(
    train: &Features,
    y: &[u32],
    test: &Features,
    neighbours: usize,
    classes: usize,
    leave_out_self: bool,
) -> Vec<u32> {
    let norm = |f: &Features| -> Vec<f32> {
        let mut x = f.x.clone();
        x.par_chunks_mut(f.d).for_each(|r| {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            r.iter_mut().for_each(|v| *v /= n);
        });
        x
    };
    let (a, b) = (norm(train), norm(test));
    let d = train.d;
    (0..test.n)
        .into_par_iter()
        .map(|i| {
            let q = &b[i * d..(i + 1) * d];
            let mut sims: Vec<(f32, usize)> = (0..train.n)
                .filter(|&j| !(leave_out_self && j == i))
                .map(|j| (dot(&a[j * d..(j + 1) * d], q), j))
                .collect();
            if sims.is_empty() {
                return 0;
            }
            let kk = neighbours.min(sims.len()).max(1);
            sims.select_nth_unstable_by(kk - 1, |x, y| {
                y.0.partial_cmp(&x.0).unwrap_or(std::cmp::Ordering::Equal)
            });
            sims.truncate(kk);
            sims.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(std::cmp::Ordering::Equal));
            let mut votes = vec![0usize; classes];
            for &(_, j) in &sims {
                votes[y[j] as usize] += 1;
            }
            let best = *votes.iter().max().unwrap_or(&0);
            sims.iter()
                .map(|&(_, j)| y[j])
                .find(|&c| votes[c as usize] == best)
                .unwrap_or(0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_data_is_learned_and_folds_are_stratified() {
        // Two Gaussian-ish blobs made deterministic.
        let mut rng = SplitMix(1);
        let n = 400;
        let d = 5;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = (i % 2) as u32;
            for j in 0..d {
                let noise = (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
                x.push(noise + if j == 0 { c as f32 * 2.0 - 1.0 } else { 0.0 });
            }
            y.push(c);
        }
        let f = Features { x, n, d };
        let m = LogisticRegression::fit(&f, &y, 2, ProbeConfig::default());
        let acc = argmax_rows(&m.predict_proba(&f), 2)
            .iter()
            .zip(&y)
            .filter(|(a, b)| a == b)
            .count();
        assert_eq!(acc, n);
        let oof = out_of_fold_proba(&f, &y, 2, 5, 0, ProbeConfig::default());
        let acc = argmax_rows(&oof, 2).iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(acc >= n - 2);
        let folds = stratified_folds(&y, 5, 0);
        for fo in 0..5 {
            let pos = (0..n).filter(|&i| folds[i] == fo && y[i] == 1).count();
            assert_eq!(pos, 40);
        }
        let knn = knn_predict(&f, &y, &f, 5, 2);
        assert!(knn.iter().zip(&y).filter(|(a, b)| a == b).count() >= n - 5);
    }

    #[test]
    fn leave_one_out_knn_never_votes_for_the_row_itself() {
        // Two points per class, each next to the other class's pair: with itself left out, each
        // row's one nearest neighbour is its twin of the other class (hand-worked: all wrong);
        // with itself in, every row is its own nearest neighbour (all right).
        let x = vec![1.0, 0.0, 0.99, 0.1, 0.0, 1.0, 0.1, 0.99];
        let f = Features { x, n: 4, d: 2 };
        let y = vec![0, 1, 0, 1];
        assert_eq!(knn_predict(&f, &y, &f, 1, 2), vec![0, 1, 0, 1]);
        assert_eq!(knn_predict_loo(&f, &y, 1, 2), vec![1, 0, 1, 0]);
    }
}
