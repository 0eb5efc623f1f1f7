//! Negative log-likelihood of documents under a causal LM, each document scored on its own.
//!
//! A document of `n` tokens longer than `max_length` is either truncated to its first
//! `max_length` tokens (no stride: stated in [`DocumentNll::truncated`]) or scored in sliding
//! windows as the Hugging Face perplexity guide does: windows start every `stride` tokens, each
//! `max_length` long, and a window predicts only the tokens after the previous window's end, so
//! every token is predicted once with up to `max_length - stride` tokens of context. Unlike the
//! guide's shortcut (a window's mean loss times its label count minus one) the sums here are
//! exact: the first token of a document, which nothing predicts, is never counted.

use candle_core::Tensor;

use super::CausalLm;
use crate::error::{ModelError, Result};
use crate::nn::Mode;

/// How documents are cut and batched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerplexityOptions {
    /// Longest window in tokens (at most the model's context).
    pub max_length: usize,
    /// Sliding-window step; None truncates documents to `max_length`.
    pub stride: Option<usize>,
    /// Most tokens (rows × padded length) in one forward pass.
    pub batch_tokens: usize,
}

/// One document's score.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentNll {
    /// Summed negative log-likelihood of the predicted tokens, in nats.
    pub nll: f64,
    /// Tokens predicted.
    pub predicted: usize,
    /// Tokens in the document.
    pub tokens: usize,
    /// Whether tokens past `max_length` were left out (no stride).
    pub truncated: bool,
}

/// A window of a document: its ids and the first window position whose token is a target.
struct Window {
    doc: usize,
    ids: Vec<u32>,
    first_target: usize,
}

/// The windows of one document of `n` tokens (HF guide's loop).
fn windows(doc: usize, ids: &[u32], opts: &PerplexityOptions) -> Vec<Window> {
    let n = ids.len();
    let max = opts.max_length.max(1);
    match opts.stride {
        None => vec![Window {
            doc,
            ids: ids[..n.min(max)].to_vec(),
            first_target: 1,
        }],
        Some(stride) => {
            let mut out = Vec::new();
            let mut prev_end = 0;
            let mut begin = 0;
            while begin < n {
                let end = (begin + max).min(n);
                let trg = end - prev_end;
                let len = end - begin;
                out.push(Window {
                    doc,
                    ids: ids[begin..end].to_vec(),
                    first_target: (len - trg).max(1),
                });
                prev_end = end;
                if end == n {
                    break;
                }
                begin += stride.max(1);
            }
            out
        }
    }
}

/// Scores every document (token ids, as [`CausalLm::encode`] gives them); `progress` is called
/// with the number of windows done.
pub fn document_nll(
    lm: &CausalLm,
    docs: &[Vec<u32>],
    opts: &PerplexityOptions,
    mut progress: impl FnMut(usize),
) -> Result<Vec<DocumentNll>> {
    if opts.max_length > lm.context() {
        return Err(ModelError::Config {
            path: lm.source.clone(),
            message: format!(
                "--max-length {} exceeds the model's context of {} tokens",
                opts.max_length,
                lm.context()
            ),
        });
    }
    if let Some(s) = opts.stride {
        if s == 0 || s > opts.max_length {
            return Err(ModelError::Config {
                path: lm.source.clone(),
                message: format!("--stride {s} must be between 1 and --max-length ({})", opts.max_length),
            });
        }
    }
    let mut out: Vec<DocumentNll> = docs
        .iter()
        .map(|d| DocumentNll {
            nll: 0.0,
            predicted: 0,
            tokens: d.len(),
            truncated: opts.stride.is_none() && d.len() > opts.max_length,
        })
        .collect();
    let wins: Vec<Window> = docs
        .iter()
        .enumerate()
        .flat_map(|(i, d)| windows(i, d, opts))
        .filter(|w| w.ids.len() >= 2)
        .collect();
    let seqs: Vec<(&[u32], usize)> = wins.iter().map(|w| (w.ids.as_slice(), w.first_target)).collect();
    let scored = targets_nll(lm, &seqs, opts.batch_tokens, &mut progress)?;
    for (w, (nll, n)) in wins.iter().zip(scored) {
        out[w.doc].nll += nll;
        out[w.doc].predicted += n;
    }
    Ok(out)
}

/// The summed negative log-likelihood and the count of the tokens at positions
/// `first_target.max(1)..` of each sequence given the tokens before it (inference mode), in
/// length-sorted right-padded batches of at most `batch_tokens` tokens whose rows are within 10%
/// of each other's length; `progress` gets the number of sequences done.
pub fn targets_nll(
    lm: &CausalLm,
    seqs: &[(&[u32], usize)],
    batch_tokens: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<(f64, usize)>> {
    let mut out = vec![(0.0, 0usize); seqs.len()];
    let mut order: Vec<usize> = (0..seqs.len()).filter(|&i| seqs[i].0.len() >= 2).collect();
    // Longest first, so each batch pads little.
    order.sort_by(|&a, &b| seqs[b].0.len().cmp(&seqs[a].0.len()).then(a.cmp(&b)));
    let mut i = 0;
    while i < order.len() {
        let len = seqs[order[i]].0.len();
        // Rows join the batch while the budget allows and padding stays under 10%: on a CPU a
        // long row alone keeps the matrix units busy, and padded positions are wasted work.
        let mut rows = 1;
        while i + rows < order.len()
            && (rows + 1) * len <= batch_tokens.max(len)
            && seqs[order[i + rows]].0.len() * 10 >= len * 9
        {
            rows += 1;
        }
        let batch = &order[i..i + rows];
        let mut flat = Vec::with_capacity(rows * len);
        for &k in batch {
            let ids = seqs[k].0;
            flat.extend_from_slice(ids);
            flat.extend(std::iter::repeat_n(0u32, len - ids.len()));
        }
        let ids = Tensor::from_vec(flat, (rows, len), &lm.device)?;
        let hidden = lm.model.forward_hidden(&ids, None, Mode::Eval)?;
        // Position j predicts token j + 1; only positions from the batch's first target on need
        // the output projection (a sliding window's context positions do not).
        let lo = batch.iter().map(|&k| seqs[k].1.max(1)).min().unwrap_or(1) - 1;
        let span = len - 1 - lo;
        let h = hidden.narrow(1, lo, span)?.contiguous()?;
        let (_, _, width) = h.dims3()?;
        let logits = lm.model.lm_logits(&h.reshape((rows * span, width))?)?;
        let mut targets = Vec::with_capacity(rows * span);
        for &k in batch {
            let ids = seqs[k].0;
            targets.extend((lo + 1..len).map(|j| ids.get(j).copied().unwrap_or(0)));
        }
        let nll = crate::ops::picked_nll(&logits, &targets)?;
        for (r, &k) in batch.iter().enumerate() {
            let (ids, first) = seqs[k];
            for target in first.max(1)..ids.len() {
                out[k].0 += nll[r * span + (target - 1 - lo)] as f64;
                out[k].1 += 1;
            }
        }
        i += rows;
        progress(rows);
    }
    Ok(out)
}

/// The number of windows [`document_nll`] runs (for a progress bar).
pub fn window_count(docs: &[Vec<u32>], opts: &PerplexityOptions) -> usize {
    docs.iter()
        .enumerate()
        .map(|(i, d)| windows(i, d, opts).iter().filter(|w| w.ids.len() >= 2).count())
        .sum()
}
