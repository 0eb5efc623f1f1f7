//! Next-token cross-entropy straight from the final hidden states and the output projection:
//! `Σ_rows logsumexp(x Wᵀ) − (x Wᵀ)[target]` as one operation on CPU f32, with its backward.
//!
//! A causal LM's vocabulary is wide (SmolLM2: 49,152), so the logits of a batch of 8 × 256
//! tokens take 400 MB; the composed loss (projection, log-softmax as max / subtract / exp / sum
//! / log / subtract, gather, negate, mask, sum) writes and reads a tensor of that size about a
//! dozen times forward and backward. Here the projection runs only on the rows that have a
//! target, each row's log-sum-exp is one pass (summed in f64), and the backward turns the kept
//! logits into `softmax − one-hot` in place before the two matrix products (the input's gradient,
//! and the weight's straight into the optimizer's buffer when [`super::backward_into`] gave one).
//!
//! `tests/fused_ops.rs` checks the value and both gradients against the composed operations.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::layer::{cols, rows, weight_grad, with_slices, SavedSlot};
use super::{fusable, log_sum_exp, matmul, scaled_exp, slice, unfused};

/// Sum over the rows of `hidden` (rows, in) that have a target of the negative log-likelihood
/// of the target under `softmax(hidden Wᵀ)` for the output projection `weight` (vocab, in), and
/// the number of such rows. `targets` has one entry per row; a negative entry (transformers'
/// `-100`) marks a row without a target. Fused on CPU f32 (unless `RETUNE_UNFUSED` names
/// `lm_loss`), the composed candle operations elsewhere; gradients reach `hidden` and `weight`
/// when they track them.
pub fn linear_cross_entropy_sum(hidden: &Tensor, weight: &Tensor, targets: &[i64]) -> Result<(Tensor, usize)> {
    let (n, k) = hidden.dims2()?;
    let (vocab, k2) = weight.dims2()?;
    if k != k2 {
        candle_core::bail!("linear_cross_entropy_sum: hidden size {k}, weight (vocab, {k2})");
    }
    if targets.len() != n {
        candle_core::bail!("linear_cross_entropy_sum: {} targets for {n} rows", targets.len());
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= vocab as i64) {
        candle_core::bail!("linear_cross_entropy_sum: target {t} outside a vocabulary of {vocab}");
    }
    let kept: Vec<u32> = (0..n as u32).filter(|&i| targets[i as usize] >= 0).collect();
    let picked: Vec<u32> = kept.iter().map(|&i| targets[i as usize] as u32).collect();
    let count = kept.len();
    if count > 0 && !unfused("lm_loss") && fusable(hidden) && fusable(weight) {
        let op = LmLossOp {
            kept,
            targets: picked,
            save: hidden.track_op() || weight.track_op(),
            saved: SavedSlot::new(),
        };
        let loss = hidden.apply_op2(weight, op)?;
        return Ok((loss, count));
    }
    crate::causal::composed_lm_loss_sum(|x| x.matmul(&weight.t()?), hidden, targets)
}

struct Saved {
    /// The kept rows of the input, (kept, in).
    x: Vec<f32>,
    /// Their logits, (kept, vocab), and each row's log-sum-exp.
    logits: Vec<f32>,
    lse: Vec<f32>,
}

struct LmLossOp {
    /// Rows with a target, and their targets.
    kept: Vec<u32>,
    targets: Vec<u32>,
    save: bool,
    saved: SavedSlot<Saved>,
}

impl CustomOp2 for LmLossOp {
    fn name(&self) -> &'static str {
        "retune-lm-loss"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (hidden, w) = (slice(s1, l1)?, slice(s2, l2)?);
        let (_, k) = l1.shape().dims2()?;
        let (vocab, _) = l2.shape().dims2()?;
        let nk = self.kept.len();
        let mut x = Vec::with_capacity(nk * k);
        for &i in &self.kept {
            x.extend_from_slice(&hidden[i as usize * k..(i as usize + 1) * k]);
        }
        let mut logits = vec![0f32; nk * vocab];
        // SAFETY: logits is nk×vocab, x is nk×k, W is vocab×k read as Wᵀ.
        unsafe {
            matmul(
                nk,
                vocab,
                k,
                logits.as_mut_ptr(),
                vocab,
                rows(&x, k),
                cols(w, k),
                false,
                1.0,
                true,
            )
        };
        let (lse, nll): (Vec<f32>, Vec<f64>) = logits
            .par_chunks(vocab)
            .zip(self.targets.par_iter())
            .map(|(row, &t)| {
                let lse = log_sum_exp(row);
                (lse as f32, lse - row[t as usize] as f64)
            })
            .unzip();
        let total: f64 = nll.iter().sum();
        if self.save {
            self.saved.put("lm loss", Saved { x, logits, lse })?;
        }
        Ok((CpuStorage::F32(vec![total as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let Saved { x, mut logits, lse } = self.saved.take("lm loss")?;
        let g = grad.flatten_all()?.to_vec1::<f32>()?[0];
        let (n, k) = hidden.dims2()?;
        let (vocab, _) = weight.dims2()?;
        let nk = self.kept.len();
        // Rows of g · (softmax − one-hot), in place.
        logits
            .par_chunks_mut(vocab)
            .zip(lse.par_iter().zip(self.targets.par_iter()))
            .for_each(|(row, (&lse, &t))| {
                scaled_exp(row, lse, g);
                row[t as usize] -= g;
            });
        if weight.track_op() {
            // SAFETY: dW (vocab×k) = Gᵀ (vocab×nk) · x (nk×k), into a buffer of W's size.
            weight_grad(weight, |dw, acc| unsafe {
                matmul(vocab, k, nk, dw, k, cols(&logits, vocab), rows(&x, k), acc, 1.0, true)
            })?;
        }
        if !hidden.track_op() {
            return Ok((None, None));
        }
        let mut dxk = vec![0f32; nk * k];
        with_slices(&[weight], |w| {
            // SAFETY: dxk (nk×k) = G (nk×vocab) · W (vocab×k).
            unsafe {
                matmul(
                    nk,
                    k,
                    vocab,
                    dxk.as_mut_ptr(),
                    k,
                    rows(&logits, vocab),
                    rows(w[0], k),
                    false,
                    1.0,
                    true,
                )
            }
        })?;
        let mut dx = vec![0f32; n * k];
        for (r, &i) in self.kept.iter().enumerate() {
            dx[i as usize * k..(i as usize + 1) * k].copy_from_slice(&dxk[r * k..(r + 1) * k]);
        }
        Ok((Some(Tensor::from_vec(dx, (n, k), hidden.device())?), None))
    }
}
