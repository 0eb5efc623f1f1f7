//! The metric table of a generation task: every corpus score `retune eval` gives for hypotheses
//! against one reference each, chosen for the target language, each with its bootstrap interval
//! and signature — what `retune assess` reports for translation and summarization, computed by
//! the same code as `retune eval bleu|chrf|ter|meteor|rouge` (so equal to sacrebleu, nltk and
//! rouge-score on the same outputs).
//!
//! - BLEU with sacrebleu's `zh` tokenizer for Chinese targets and `13a` otherwise;
//! - chrF (chrF2, sacrebleu's defaults) — the headline: paired tests run on its statistics;
//! - TER, for Chinese targets with tercom normalization and Asian support (CJK characters are
//!   words, else a whole sentence is one word);
//! - for English targets, METEOR (nltk, when WordNet is installed) and ROUGE-1/2/L F-measure
//!   (rouge-score's defaults: its tokenizer, no stemming); for Chinese targets ROUGE-1/2/L by
//!   character (`tok:zh` in the signature: rouge-score's tokenizer would give 0).
//!
//! Scores are in percent, as sacrebleu prints them; intervals are sacrebleu's bootstrap
//! (`bootstrap` resamples, numpy's generator with `seed`).

use serde::Serialize;
use std::sync::Arc;

use crate::bleu::{Bleu, BleuConfig};
use crate::chrf::{Chrf, ChrfConfig};
use crate::corpus::{corpus_stats, Resampling, SegmentMetric, SegmentStats};
use crate::mean::{MeanColumn, MeteorMetric, RougeMetric};
use crate::meteor::Meteor;
use crate::rouge::{RougeTokenizer, RougeType};
use crate::significance::{bootstrap_ci, BootstrapCi, DEFAULT_BOOTSTRAP, DEFAULT_SEED};
use crate::ter::{Ter, TerOptions};
use crate::tokenizers::Tokenizer;
use crate::wordnet::WordNet;

/// What to compute.
#[derive(Clone)]
pub struct GenerationMetricsConfig {
    /// The target language's code (`zh`, `en`, `de`, ...). Default `en`.
    pub target_lang: String,
    /// Bootstrap resamples of each interval. Default 1000 (sacrebleu's).
    pub bootstrap: usize,
    /// Seed of the resampling. Default 12345 (sacrebleu's).
    pub seed: u64,
    /// WordNet for METEOR on English targets (None: METEOR is left out and the table says
    /// why). Default None.
    pub wordnet: Option<Arc<WordNet>>,
}

impl Default for GenerationMetricsConfig {
    fn default() -> Self {
        GenerationMetricsConfig {
            target_lang: "en".into(),
            bootstrap: DEFAULT_BOOTSTRAP,
            seed: DEFAULT_SEED,
            wordnet: None,
        }
    }
}

/// Whether `lang` (a code such as `zh`, `zh-Hans`, `cmn`) is Chinese.
pub fn is_chinese(lang: &str) -> bool {
    let l = lang.to_ascii_lowercase();
    let base = l.split(['-', '_']).next().unwrap_or("");
    matches!(base, "zh" | "cmn" | "yue" | "wuu")
}

/// Whether `lang` is English.
pub fn is_english(lang: &str) -> bool {
    let l = lang.to_ascii_lowercase();
    l.split(['-', '_']).next() == Some("en")
}

/// One score of the table.
#[derive(Clone, Debug, Serialize)]
pub struct MetricScore {
    /// `BLEU`, `chrF2`, `TER`, `METEOR`, `rouge1`, `rouge2`, `rougeL`.
    pub name: String,
    /// The corpus score in percent (TER: edits per reference word, in percent).
    pub score: f64,
    /// Whether a higher score is better (false for TER).
    pub higher_is_better: bool,
    /// 95% bootstrap interval, in percent.
    pub ci: BootstrapCi,
    /// The signature (sacrebleu's for BLEU, chrF and TER).
    pub signature: String,
}

/// The table and the statistics the paired tests need.
#[derive(Clone, Debug, Serialize)]
pub struct GenerationScores {
    /// Every score, BLEU first.
    pub scores: Vec<MetricScore>,
    /// Metrics left out, with why (`METEOR: WordNet not found at /usr/share/wordnet`).
    pub left_out: Vec<String>,
    /// Per-segment chrF statistics (for paired bootstrap tests).
    #[serde(skip)]
    pub chrf_stats: SegmentStats,
}

impl GenerationScores {
    /// The score named `name`.
    pub fn get(&self, name: &str) -> Option<&MetricScore> {
        self.scores.iter().find(|s| s.name == name)
    }
    /// The chrF score (percent).
    pub fn chrf(&self) -> f64 {
        self.get(CHRF).map_or(0.0, |s| s.score)
    }
    /// The BLEU score (percent).
    pub fn bleu(&self) -> f64 {
        self.get("BLEU").map_or(0.0, |s| s.score)
    }
}

/// The chrF metric the table and the paired tests use (sacrebleu's defaults).
pub fn chrf_metric() -> Chrf {
    Chrf::new(ChrfConfig::default())
}

/// The name of the headline score.
pub const CHRF: &str = "chrF2";

/// The BLEU of the table for `target_lang` (`zh` tokenizer for Chinese, `13a` otherwise).
pub fn bleu_for(target_lang: &str) -> Bleu {
    Bleu::new(BleuConfig {
        tokenize: if is_chinese(target_lang) {
            Tokenizer::Zh
        } else {
            Tokenizer::Thirteen
        },
        ..Default::default()
    })
}

/// The TER of the table for `target_lang`.
pub fn ter_for(target_lang: &str) -> Ter {
    let cjk = is_chinese(target_lang);
    Ter::new(TerOptions {
        normalized: cjk,
        asian_support: cjk,
        ..Default::default()
    })
}

/// Scores `hypotheses` against `references` (one each, same order).
pub fn score_generation<S: AsRef<str> + Sync, R: AsRef<str> + Sync>(
    hypotheses: &[S],
    references: &[R],
    cfg: &GenerationMetricsConfig,
) -> GenerationScores {
    let refs: Vec<Vec<&str>> = vec![references.iter().map(|r| r.as_ref()).collect()];
    let resampling = Resampling {
        bootstrap: Some(cfg.bootstrap),
        ar: None,
        seed: Some(cfg.seed),
    };
    let ci = |m: &dyn SegmentMetric, st: &SegmentStats| bootstrap_ci(m, st, cfg.bootstrap.max(2), cfg.seed);
    let mut scores = Vec::new();
    let mut left_out = Vec::new();

    let bleu = bleu_for(&cfg.target_lang);
    let st = corpus_stats(&bleu, hypotheses, &refs);
    scores.push(MetricScore {
        name: "BLEU".into(),
        score: bleu.compute(&st.sum()).score,
        higher_is_better: true,
        ci: ci(&bleu, &st),
        signature: bleu.signature(Some(1), resampling),
    });
    let chrf = chrf_metric();
    let chrf_stats = corpus_stats(&chrf, hypotheses, &refs);
    scores.push(MetricScore {
        name: CHRF.into(),
        score: chrf.score_from_stats(&chrf_stats.sum()),
        higher_is_better: true,
        ci: ci(&chrf, &chrf_stats),
        signature: chrf.signature(Some(1), resampling),
    });
    let ter = ter_for(&cfg.target_lang);
    let st = corpus_stats(&ter, hypotheses, &refs);
    scores.push(MetricScore {
        name: "TER".into(),
        score: ter.score_from_stats(&st.sum()),
        higher_is_better: false,
        ci: ci(&ter, &st),
        signature: ter.signature(Some(1), resampling),
    });
    if is_english(&cfg.target_lang) {
        match &cfg.wordnet {
            Some(wn) => {
                let metric = MeteorMetric {
                    meteor: Meteor::new(wn.clone()),
                };
                let st = corpus_stats(&metric, hypotheses, &refs);
                scores.push(MetricScore {
                    name: "METEOR".into(),
                    score: metric.score_from_stats(&st.sum()),
                    higher_is_better: true,
                    ci: ci(&metric, &st),
                    signature: "nrefs:1|alpha:0.9|beta:3|gamma:0.5|tok:whitespace|nltk:3.10.4".into(),
                });
            }
            None => left_out.push("METEOR: no WordNet database given".into()),
        }
    }
    // ROUGE: rouge-score's own tokenizer for English, by character for Chinese (rouge-score
    // would score 0 there); other languages have no ROUGE here.
    let rouge_tok = if is_english(&cfg.target_lang) {
        Some(RougeTokenizer::Default)
    } else if is_chinese(&cfg.target_lang) {
        Some(RougeTokenizer::Zh)
    } else {
        None
    };
    if let Some(tok) = rouge_tok {
        let mut rouge = RougeMetric::new(vec![RougeType::N(1), RougeType::N(2), RougeType::L], false);
        rouge.scorer = rouge.scorer.with_tokenizer(tok);
        let st = corpus_stats(&rouge, hypotheses, &refs);
        let means = rouge.means(&st.sum());
        for (t, (ty, m)) in rouge.scorer.types().iter().zip(&means).enumerate() {
            let col = MeanColumn {
                base: &rouge,
                column: 3 * t + 2,
                scale: 100.0,
                label: ty.to_string(),
            };
            scores.push(MetricScore {
                name: ty.to_string(),
                score: 100.0 * m.fmeasure,
                higher_is_better: true,
                ci: ci(&col, &st),
                signature: rouge.signature(1),
            });
        }
    }
    GenerationScores {
        scores,
        left_out,
        chrf_stats,
    }
}
