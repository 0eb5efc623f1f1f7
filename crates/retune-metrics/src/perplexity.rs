//! Perplexity as a corpus score over documents: a document's statistics are its summed negative
//! log-likelihood (nats) and the number of tokens predicted, and the corpus perplexity is
//! `exp(Σ NLL / Σ tokens)` — token-weighted, so long documents count by their length, as the
//! Hugging Face perplexity guide computes it. Bootstrap intervals and paired tests resample
//! documents through [`crate::significance`].
//!
//! ```
//! use retune_metrics::perplexity::{Perplexity, PerplexityStats};
//! use retune_metrics::corpus::SummedScore;
//! let docs = PerplexityStats::from_documents(&[(2.0, 2), (4.0, 2)]);
//! // exp(6 / 4)
//! assert!((Perplexity.score_of_sums(&docs.sum()) - 1.5f64.exp()).abs() < 1e-12);
//! ```

use crate::corpus::{SegmentStats, SummedScore};

/// Perplexity from `[nll, tokens]` sums.
#[derive(Clone, Copy, Debug, Default)]
pub struct Perplexity;

impl SummedScore for Perplexity {
    fn score_name(&self) -> String {
        "perplexity".into()
    }
    fn width(&self) -> usize {
        2
    }
    /// `exp(nll / tokens)`; NaN when no token was predicted.
    fn score_of_sums(&self, stats: &[f64]) -> f64 {
        if stats[1] > 0.0 {
            (stats[0] / stats[1]).exp()
        } else {
            f64::NAN
        }
    }
}

/// Builders of the per-document table.
pub struct PerplexityStats;

impl PerplexityStats {
    /// One row `[nll, tokens]` per document.
    pub fn from_documents(docs: &[(f64, usize)]) -> SegmentStats {
        let mut t = SegmentStats::new(2);
        for &(nll, n) in docs {
            t.push(&[nll, n as f64]);
        }
        t
    }
}
