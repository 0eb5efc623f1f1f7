//! Losses built from operations that have a backward pass, returning the *sum* over examples
//! (or tokens) together with the count, so that gradient accumulation can normalise by the real
//! number of examples or non-padding tokens across micro-batches.

use candle_core::{DType, Result as CResult, Tensor, D};

/// The label id that marks a position to ignore (padding), as in PyTorch.
pub const IGNORE_INDEX: i64 = -100;

/// Cross-entropy with label smoothing `eps` (PyTorch's `label_smoothing`): logits (n, classes),
/// targets (n) i64 with [`IGNORE_INDEX`] for ignored rows. Returns (sum of per-row losses,
/// number of rows counted). `sum / count` equals `F.cross_entropy(..., reduction="mean")`.
pub fn cross_entropy_sum(logits: &Tensor, targets: &[i64], eps: f64) -> CResult<(Tensor, usize)> {
    let (n, k) = logits.dims2()?;
    if targets.len() != n {
        candle_core::bail!("{} targets for {n} rows", targets.len());
    }
    let keep: Vec<f32> = targets
        .iter()
        .map(|&t| if t == IGNORE_INDEX { 0.0 } else { 1.0 })
        .collect();
    let count = keep.iter().filter(|&&w| w > 0.0).count();
    let idx: Vec<u32> = targets
        .iter()
        .map(|&t| if t == IGNORE_INDEX { 0 } else { t as u32 })
        .collect();
    if let Some(&bad) = targets
        .iter()
        .find(|&&t| t != IGNORE_INDEX && (t < 0 || t as usize >= k))
    {
        candle_core::bail!("target {bad} outside 0..{k}");
    }
    let dev = logits.device();
    let logp = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
    let idx = Tensor::from_vec(idx, (n, 1), dev)?;
    let nll = logp.gather(&idx, 1)?.squeeze(1)?.neg()?;
    let per_row = if eps > 0.0 {
        let smooth = logp.mean(D::Minus1)?.neg()?;
        ((nll * (1.0 - eps))? + (smooth * eps)?)?
    } else {
        nll
    };
    let keep = Tensor::from_vec(keep, n, dev)?;
    Ok(((per_row * keep)?.sum_all()?, count))
}

/// Binary cross-entropy with logits summed over rows and labels (multi-label heads); the count
/// is the number of rows (transformers averages over rows × labels: divide by `labels` more to
/// match its `mean`).
pub fn bce_with_logits_sum(logits: &Tensor, targets: &Tensor) -> CResult<(Tensor, usize)> {
    let n = logits.dim(0)?;
    // max(x,0) - x*y + log(1 + exp(-|x|))
    let x = logits;
    let loss = ((x.relu()? - (x * targets)?)? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok((loss.sum_all()?, n))
}
