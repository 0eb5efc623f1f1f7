//! `retune assess`: does this pretrained model need fine-tuning or retraining for my task and
//! data? For each task the four angles (performance as-is, task complexity, data quantity, data
//! quality) and pilot fine-tunes scored on the same eval rows (`classify`, `ner`); one verdict
//! for every task (`verdict`), drawn from paired bootstrap tests between the pilots.

mod candidates;
mod classify;
mod generation;
mod lm;
mod ner;
mod subject;
mod verdict;

pub use candidates::{assess_candidates, assess_ner_candidates, Assessed, CandidatesAssessment};
pub use classify::{assess_classification, AsIs, Assessment, Complexity, Quantity, Scored};
pub use generation::{
    assess_generation, assess_summarization, assess_translation, AlignmentCheck, Example, GenAssessment, GenComplexity,
    GenPilot, GenQuality, GenQuantity, GenScored, GenTask, TargetCheck, LOW_LENGTH_CORRELATION, MIN_CHRF_GAIN,
    MIN_LENGTH_SPREAD,
};
pub use lm::{
    assess_lm, reference_texts, LmAsIs, LmAssessment, LmComplexity, LmPilot, LmQuality, LmQuantity, PplScore,
};
pub use ner::{assess_ner, NerAsIs, NerAssessment, NerComplexity, NerQuantity, NerScored};
pub use subject::{GenSubject, MarianSubject, PilotRun, PromptedLm, TokenFigures, SUMMARIZE_INSTRUCTION};
pub use verdict::{Evidence, Recommendation, Verdict};

use candle_core::Device;
use retune_metrics::significance::{BootstrapCi, PairedResult};
use retune_train::strategy::Strategy;
use serde::Serialize;

/// Settings of an assessment.
#[derive(Clone, Debug, Serialize)]
pub struct AssessConfig {
    /// Pilot strategies, cheapest first. Default probe, head, lora:8, full.
    pub strategies: Vec<Strategy>,
    /// Training rows (sentences for NER) each pilot fine-tune sees (a sample). Default 4000.
    pub pilot_rows: usize,
    /// Epochs of each pilot fine-tune. Default 1 (NER pilots take [`NER_PILOT_EPOCHS`] at least).
    pub pilot_epochs: usize,
    /// Rows of the training split used for features, the learning curve and label noise.
    /// Default 4000.
    pub feature_rows: usize,
    /// Bootstrap resamples for intervals and paired tests. Default 1000.
    pub bootstrap: usize,
    /// Significance level of the paired tests. Default 0.05.
    pub alpha: f64,
    /// `--task lm`: the smallest relative drop in perplexity that counts as an improvement — a
    /// pilot must be significantly better than the model as it is *and* at least this much
    /// lower (a consistent 1% after a few steps is no reason to train). Default 0.05.
    pub min_gain: f64,
    /// The goal, e.g. (`accuracy`, 0.85) or (`f1`, 0.5), as a fraction. Default none.
    pub target: Option<(String, f64)>,
    /// Seed. Default 42.
    pub seed: u64,
    /// Longest input in tokens. Default 128.
    pub max_length: usize,
    /// Rows per training batch of the pilots. Default 32.
    pub batch_size: usize,
    /// Peak learning rate of every pilot (`--task translate`); None: each strategy's default.
    /// Default None.
    pub lr: Option<f64>,
    /// The time budget in seconds the assessment was sized for (`--budget`): optional steps
    /// that would end past it are left out and the report says so. Default None (no limit).
    pub budget_seconds: Option<f64>,
    /// Where models run. Default the CPU.
    #[serde(skip)]
    pub device: Device,
}

/// Epochs a NER pilot takes at least: one epoch at a fine-tune's usual learning rate leaves a
/// token classifier predicting `O` everywhere (MiniLM on WNUT 2017: entity F1 0 after one
/// epoch at 5e-5), which would judge the strategy by an unfinished run.
pub const NER_PILOT_EPOCHS: usize = 3;

impl Default for AssessConfig {
    fn default() -> Self {
        AssessConfig {
            strategies: vec![
                Strategy::Probe,
                Strategy::Head,
                Strategy::Lora { r: 8, alpha: 16.0 },
                Strategy::Full,
            ],
            pilot_rows: 4000,
            pilot_epochs: 1,
            feature_rows: 4000,
            bootstrap: 1000,
            alpha: 0.05,
            min_gain: 0.05,
            target: None,
            seed: 42,
            max_length: 128,
            batch_size: 32,
            lr: None,
            budget_seconds: None,
            device: retune_models::device::host(),
        }
    }
}

/// The task an assessment is sized for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetTask {
    /// Text classification: pilots of one epoch.
    Classify,
    /// NER: pilots of [`NER_PILOT_EPOCHS`] epochs over sentences.
    Ner,
    /// Causal language modelling: pilots of one epoch over blocks of 256 tokens.
    Lm,
    /// Translation: pilots of one epoch over pairs, eval rows translated by beam search.
    Translate,
    /// Summarization: pilots of one epoch over document → summary pairs (a causal LM is slow:
    /// every eval document is a prompt of up to 256 tokens and a generated summary).
    Summarize,
}

impl AssessConfig {
    /// Sizes the pilots for a time budget in seconds on a 2-core CPU: for classification
    /// under 7 minutes 1,500 pilot rows and 2,000 feature rows, under 30 minutes 4,000 and
    /// 4,000, more 8,000, every row and a `scratch` pilot. NER pilots train three epochs, so
    /// they get fewer sentences: 500 / 1,500 / 4,000 pilot sentences, 1,000 / 2,000 / every
    /// sentence for features (MiniLM on WNUT 2017 with every sentence took 25 minutes).
    /// Language models: 16 / 64 / 256 pilot blocks of 256 tokens and 20 / 50 / 200 eval
    /// documents (SmolLM2-135M scores about 250 tokens/s on 2 cores). Translation: 2,000 /
    /// 8,000 / 20,000 pilot pairs and 200 / 500 / 1,000 eval rows, pilots `lora:8`, `top:2`,
    /// `full` (the 6.8M-parameter Tatoeba Marian trains about 130 pairs/s on 2 cores).
    pub fn for_budget(seconds: f64, task: BudgetTask) -> AssessConfig {
        let mut cfg = AssessConfig::default();
        let (pilot, feature) = match (task, seconds) {
            (BudgetTask::Classify, s) if s < 420.0 => (1500, 2000),
            (BudgetTask::Classify, s) if s < 1800.0 => (4000, 4000),
            (BudgetTask::Classify, _) => (8000, usize::MAX),
            (BudgetTask::Ner, s) if s < 420.0 => (500, 1000),
            (BudgetTask::Ner, s) if s < 1800.0 => (1500, 2000),
            (BudgetTask::Ner, _) => (4000, usize::MAX),
            // Blocks per pilot, eval documents (a 135M model trains ~250 tokens/s on 2 cores).
            (BudgetTask::Lm, s) if s < 420.0 => (16, 20),
            (BudgetTask::Lm, s) if s < 1800.0 => (64, 50),
            (BudgetTask::Lm, _) => (256, 200),
            (BudgetTask::Translate, s) if s < 420.0 => (2000, 200),
            (BudgetTask::Translate, s) if s < 1800.0 => (8000, 500),
            (BudgetTask::Translate, _) => (20000, 1000),
            (BudgetTask::Summarize, s) if s < 420.0 => (32, 16),
            (BudgetTask::Summarize, s) if s < 1800.0 => (128, 50),
            (BudgetTask::Summarize, _) => (512, 200),
        };
        cfg.pilot_rows = pilot;
        cfg.feature_rows = feature;
        cfg.budget_seconds = Some(seconds);
        if task == BudgetTask::Summarize {
            cfg.strategies = vec![Strategy::Lora { r: 8, alpha: 16.0 }, Strategy::Full];
            cfg.max_length = 256;
            cfg.batch_size = 8;
        } else if task == BudgetTask::Translate {
            cfg.strategies = vec![
                Strategy::Lora { r: 8, alpha: 16.0 },
                Strategy::Top { layers: 2 },
                Strategy::Full,
            ];
        } else if task == BudgetTask::Lm {
            cfg.strategies = vec![Strategy::Lora { r: 8, alpha: 16.0 }, Strategy::Full];
            cfg.max_length = 256;
            cfg.batch_size = 8;
        } else if seconds >= 1800.0 {
            cfg.strategies.push(Strategy::Scratch);
        }
        cfg
    }

    /// Whether a step estimated to take `estimate` seconds, started `elapsed` seconds into the
    /// assessment, ends within the budget (always, without one).
    ///
    /// ```
    /// use retune_assess::assess::{AssessConfig, BudgetTask};
    /// let cfg = AssessConfig::for_budget(600.0, BudgetTask::Lm);
    /// assert!(cfg.fits_budget(400.0, 150.0));
    /// assert!(!cfg.fits_budget(500.0, 150.0));
    /// assert!(AssessConfig::default().fits_budget(1e9, 1e9));
    /// ```
    pub fn fits_budget(&self, elapsed: f64, estimate: f64) -> bool {
        self.budget_seconds.is_none_or(|b| elapsed + estimate <= b)
    }
}

/// A score on the eval rows, whatever the task's metric: what the verdict, the pilot table and
/// the strategy chart read.
pub trait Judged {
    /// The headline metric as a fraction (accuracy, entity micro-F1).
    fn value(&self) -> f64;
    /// Its 95% bootstrap interval (percent, as sacrebleu reports).
    fn ci(&self) -> &BootstrapCi;
    /// Macro-averaged F1 over classes or entity types (fraction).
    fn macro_f1(&self) -> f64;
}

/// One pilot fine-tune, scored by the task's `S`.
#[derive(Clone, Debug, Serialize)]
pub struct Pilot<S> {
    /// Strategy.
    pub strategy: String,
    /// Training rows (sentences for NER) seen.
    pub rows: usize,
    /// Epochs.
    pub epochs: usize,
    /// Eval scores.
    pub scored: S,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Training rows per second.
    pub rows_per_s: f64,
    /// Seconds one epoch over the whole training split would take at that speed.
    pub full_epoch_seconds: f64,
    /// Trainable values.
    pub trainable: usize,
    /// Peak resident memory of the process so far (MiB).
    pub peak_rss_mib: f64,
    /// Paired bootstrap against the best pilot (None for the best itself).
    pub vs_best: Option<PairedResult>,
}

/// A data finding weighed by its measured effect on the eval score.
#[derive(Clone, Debug, Serialize)]
pub struct Weighed {
    /// The audit's finding kind.
    pub kind: String,
    /// What was measured, in words.
    pub effect: String,
    /// The effect in points of the headline metric (a measured difference, or the share of
    /// rows or entities touched).
    pub points: f64,
    /// Whether it exceeds what the eval set resolves (the best pilot's CI half-width).
    pub material: bool,
}

impl Weighed {
    /// A finding of `kind` whose effect is `points` (F1 or accuracy points), `material` when
    /// above `resolve` (the best pilot's CI half-width).
    pub fn new(kind: &str, effect: String, points: f64, resolve: f64) -> Weighed {
        Weighed {
            kind: kind.into(),
            effect: format!("{effect}: {points:.2} points against the ±{resolve:.2} the eval set resolves"),
            points,
            material: points > resolve,
        }
    }
}

/// Index of the best pilot by the headline metric (None without pilots).
pub fn best_pilot<S: Judged>(pilots: &[Pilot<S>]) -> Option<usize> {
    pilots
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.scored.value().total_cmp(&b.1.scored.value()))
        .map(|(i, _)| i)
}

/// Entropy in bits of a distribution given by counts.
pub(crate) fn entropy_bits(counts: &[usize]) -> f64 {
    let n: usize = counts.iter().sum();
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// Every `k`-th row up to `n` rows (an even spread, deterministic).
pub(crate) fn spread<T: Clone>(rows: &[T], n: usize) -> Vec<T> {
    if n >= rows.len() {
        return rows.to_vec();
    }
    (0..n).map(|i| rows[i * rows.len() / n].clone()).collect()
}

/// Peak resident memory of this process in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Progress messages of an assessment.
pub type Progress<'a> = &'a mut dyn FnMut(&str);
