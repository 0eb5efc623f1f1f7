//! # retune-metrics
//!
//! Evaluation metrics for text generation and classification that give the same numbers as
//! the Python references — sacrebleu 2.6.0 (BLEU, chrF, chrF++, TER, bootstrap intervals and
//! paired tests), rouge-score 0.1.2 (ROUGE-N, ROUGE-L, ROUGE-Lsum) and nltk 3.10.4 (METEOR) —
//! and classification metrics as scikit-learn computes them. No ML dependency: usable on its
//! own, like sacrebleu.
//!
//! Every metric maps a segment to summable sufficient statistics ([`corpus::SegmentMetric`]),
//! so corpora are scored in parallel, streamed one segment at a time during training
//! ([`corpus::StatsAccumulator`]), and resampled without re-tokenizing ([`significance`]).
//!
//! ```
//! use retune_metrics::bleu::{Bleu, BleuConfig};
//! use retune_metrics::chrf::{Chrf, ChrfConfig};
//! let hyps = ["The cat is on the mat."];
//! let refs = vec![vec!["The cat sat on the mat."]];
//! let bleu = Bleu::new(BleuConfig::default()).corpus_score(&hyps, &refs);
//! assert_eq!(format!("{:.2}", bleu.score), "48.89");
//! let chrf = Chrf::new(ChrfConfig::default()).corpus_score(&hyps, &refs);
//! assert!(chrf > 50.0 && chrf < 100.0);
//! ```

pub mod bleu;
pub mod char_ngrams;
pub mod chrf;
pub mod classify;
pub mod corpus;
pub mod error;
pub mod generation;
mod hashing;
pub mod io;
pub mod mean;
pub mod meteor;
pub mod ngrams;
pub mod numpy_rng;
pub mod numpy_sum;
pub mod perplexity;
pub mod porter;
pub mod rouge;
pub mod seqeval;
pub mod significance;
pub mod ter;
pub mod text;
pub mod tokenizers;
pub mod wordnet;

/// A xorshift64 stream for the randomized unit tests (the same lines every run).
#[cfg(test)]
pub(crate) fn test_stream(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

pub use corpus::{corpus_stats, SegmentMetric, SegmentStats, StatsAccumulator, SummedScore};
pub use error::MetricsError;
