//! `retune assess --task translate`: is this translation model good enough for my text, or do
//! I fine-tune or retrain it? The four angles for a sequence-to-sequence model, short pilots,
//! one verdict.
//!
//! 1. As-is: the model translates the eval sources with its own generation settings; BLEU
//!    (sacrebleu's `zh` tokenizer for Chinese targets, `13a` otherwise), chrF, TER, and for
//!    English targets METEOR and ROUGE-1/2/L, each with a bootstrap interval
//!    ([`retune_metrics::generation`], the code of `retune eval`); a `--target chrf>=45` is judged
//!    against chrF's interval.
//! 2. Complexity: source and target lengths in tokens against the model's maximum, the share of
//!    unknown tokens and the fertility (tokens per word, Han character counted as a word) on both
//!    sides, the script of the model's outputs against the target language's, and how often the
//!    model copies its input.
//! 3. Quantity: the pairs available and a learning curve — chrF of the `full` pilot (else the
//!    first) after the same number of steps on a quarter, a half and all of the pilot pairs.
//! 4. Quality: the translation-pair audit of the training pairs (untranslated copies, length-ratio
//!    outliers, wrong script, duplicates, the correlation of source and target lengths) and eval
//!    sources found in train, each weighed by what it changes: leakage by the best system's chrF
//!    with and without the leaked rows against its interval; misaligned pairs by whether the best
//!    system's outputs match their own references better than other rows' references (a paired
//!    test of chrF against the references rotated by one row) — a model that learned only the
//!    target language scores the same against both.
//!
//! Pilots: `lora:8` (adapters on every attention's `q_proj`/`v_proj`), `top:2` (the last two
//! decoder layers) and `full`, trained on the same pairs with the shared loop and scored on the
//! same eval rows; paired bootstrap tests on chrF against the model as it is and against the best.

use retune_data::audit::text::same_key;
use retune_data::audit::{audit_pairs, find_leakage, AuditConfig, Script, ScriptProfile};
use retune_metrics::corpus::{corpus_stats, SegmentStats, SummedScore};
use retune_metrics::generation::{chrf_metric, score_generation, GenerationMetricsConfig, GenerationScores, CHRF};
use retune_metrics::significance::{paired_bootstrap, PairedResult};
use retune_metrics::wordnet::WordNet;
use retune_train::strategy::Strategy;
use retune_train::translate::PairTexts;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::subject::{GenSubject, MarianSubject, PromptedLm, SUMMARIZE_INSTRUCTION};
use super::verdict::{strategy_rank, Recommendation, Verdict};
use super::{peak_rss_mib, spread, AssessConfig, Progress, Weighed};
use crate::error::{AssessError, Result};

/// The smallest chrF gain, in points, that counts as an improvement: a pilot must also be
/// significantly better than the model as it is. About one chrF point is where system-level
/// differences start to agree with human judgements (Kocmi et al., 2021, "To Ship or Not to
/// Ship"); a significant 0.3 points after a short pilot is no reason to train.
pub const MIN_CHRF_GAIN: f64 = 1.0;

/// Below this Pearson correlation of source and target log lengths the pairs may not belong
/// together (parallel text measures 0.7–0.9, shuffled pairs about 0) — when the sources' lengths
/// vary enough for a correlation to show: a standard deviation of their log lengths of at least
/// [`MIN_LENGTH_SPREAD`] (Tatoeba's sentences of 1–15 words have about 0.4; sentences of one
/// template all of three words have 0, and no correlation to measure).
pub const LOW_LENGTH_CORRELATION: f64 = 0.3;

/// See [`LOW_LENGTH_CORRELATION`].
pub const MIN_LENGTH_SPREAD: f64 = 0.2;

/// One system's translations of the eval sources, scored.
#[derive(Clone, Debug, Serialize)]
pub struct GenScored {
    /// The metric table.
    pub metrics: GenerationScores,
    /// chrF (percent), the headline.
    pub chrf: f64,
    /// The translations, in eval order.
    #[serde(skip)]
    pub hypotheses: Vec<String>,
}

impl GenScored {
    fn new(hypotheses: Vec<String>, references: &[String], mcfg: &GenerationMetricsConfig) -> GenScored {
        let metrics = score_generation(&hypotheses, references, mcfg);
        GenScored {
            chrf: metrics.chrf(),
            metrics,
            hypotheses,
        }
    }
    fn half_width(&self) -> f64 {
        self.metrics.get(CHRF).map_or(0.0, |m| m.ci.half_width)
    }
}

/// Angle 1 beside the as-is row of the pilots: the goal, judged against chrF's interval.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    /// The metric (`chrf`, `bleu`).
    pub metric: String,
    /// The threshold (percent).
    pub threshold: f64,
    /// `met` (the interval's lower bound reaches it), `missed` (its upper bound is below) or
    /// `undecided` (the interval straddles it).
    pub outcome: String,
}

/// Angle 2.
#[derive(Clone, Debug, Serialize)]
pub struct GenComplexity {
    /// Mean source length in tokens (with `</s>`).
    pub source_tokens_mean: f64,
    /// Mean target length in tokens (with `</s>`).
    pub target_tokens_mean: f64,
    /// Longest source and target in tokens.
    pub longest: (usize, usize),
    /// The longest input the assessment encodes (longer rows are truncated).
    pub max_length: usize,
    /// The model's position table.
    pub max_positions: usize,
    /// Pairs whose source or target exceeds `max_length`.
    pub rows_over_max: usize,
    /// Share of source tokens the vocabulary cannot spell (`<unk>`; bare bytes of a character
    /// for a byte-level vocabulary).
    pub source_unk_rate: f64,
    /// The same for targets.
    pub target_unk_rate: f64,
    /// Source tokens per length unit (a word; a Han, Kana or Thai character).
    pub source_fertility: f64,
    /// Target tokens per length unit.
    pub target_fertility: f64,
    /// The script the target language is written in (None for a code retune does not know).
    pub target_script: Option<String>,
    /// As-is outputs with letters whose dominant script is not the target's.
    pub outputs_wrong_script: usize,
    /// As-is outputs equal to their source (case and spacing aside).
    pub outputs_copied: usize,
    /// Eval rows translated.
    pub outputs: usize,
}

/// Angle 3.
#[derive(Clone, Debug, Serialize)]
pub struct GenQuantity {
    /// Training pairs.
    pub train_pairs: usize,
    /// Pairs each pilot trains on.
    pub pilot_pairs: usize,
    /// (pairs, chrF) of the curve's strategy after the same steps on growing shares.
    pub curve: Vec<(usize, f64)>,
    /// The curve's strategy.
    pub curve_strategy: String,
}

/// Does a system's output belong to its own source? chrF against the eval references against
/// chrF against the references rotated by one row, paired bootstrap over rows.
#[derive(Clone, Debug, Serialize)]
pub struct AlignmentCheck {
    /// The system (`as-is` or a pilot's strategy).
    pub system: String,
    /// chrF against the row's own reference.
    pub chrf_own: f64,
    /// chrF against the next row's reference.
    pub chrf_rotated: f64,
    /// Paired bootstrap: own against rotated.
    pub test: PairedResult,
}

/// Angle 4.
#[derive(Clone, Debug, Serialize)]
pub struct GenQuality {
    /// Training pairs whose target is the source (untranslated copies).
    pub copies: usize,
    /// Length-ratio outliers among the training pairs.
    pub ratio_outliers: usize,
    /// Training targets with letters but none of the target language's script.
    pub wrong_script: usize,
    /// Training pairs repeating an earlier pair.
    pub duplicate_pairs: usize,
    /// Pairs with a blank side.
    pub blank: usize,
    /// Pearson's r of source and target log lengths over the training pairs.
    pub length_correlation: Option<f64>,
    /// Standard deviation of the training sources' log lengths (units + 1).
    pub source_length_spread: f64,
    /// Eval sources found in the training sources (exact).
    pub leaked_exact: usize,
    /// Eval sources with a near duplicate among the training sources.
    pub leaked_near: usize,
    /// The leaked eval rows.
    #[serde(skip)]
    pub leaked_rows: Vec<usize>,
    /// The best system's outputs against rotated references.
    pub alignment: Option<AlignmentCheck>,
}

/// One pilot (or the model as it is).
#[derive(Clone, Debug, Serialize)]
pub struct GenPilot {
    /// Strategy (`as-is` for the model as it is).
    pub strategy: String,
    /// Scores on the eval rows.
    pub scored: GenScored,
    /// Pairs trained on.
    pub pairs: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Training pairs per second.
    pub pairs_per_s: f64,
    /// Seconds one epoch over all training pairs would take at that speed.
    pub full_epoch_seconds: f64,
    /// Trainable values.
    pub trainable: usize,
    /// Peak resident memory of the process so far (MiB).
    pub peak_rss_mib: f64,
    /// Paired bootstrap (chrF) against the model as it is.
    pub vs_as_is: Option<PairedResult>,
    /// Paired bootstrap (chrF) against the best (None for the best).
    pub vs_best: Option<PairedResult>,
}

/// An eval row where the best pilot gained or lost most against the model as it is.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    /// Eval row (0-based).
    pub row: usize,
    /// Source.
    pub source: String,
    /// Reference.
    pub reference: String,
    /// The model as it is.
    pub as_is: String,
    /// The best pilot.
    pub pilot: String,
    /// Sentence chrF of each.
    pub chrf: (f64, f64),
}

/// The whole assessment.
#[derive(Clone, Debug, Serialize)]
pub struct GenAssessment {
    /// The model folder.
    pub model: PathBuf,
    /// What is generated.
    pub task: GenTask,
    /// How the model generates (for the report).
    pub how: String,
    /// Source and target language codes.
    pub languages: (String, String),
    /// Eval rows scored.
    pub eval_rows: usize,
    /// Angle 1: the goal against the as-is interval.
    pub target: Option<TargetCheck>,
    /// Angle 2.
    pub complexity: GenComplexity,
    /// Angle 3.
    pub quantity: GenQuantity,
    /// Angle 4.
    pub quality: GenQuality,
    /// Findings weighed by their effect.
    pub weighed: Vec<Weighed>,
    /// Advice that does not change the verdict (vocabulary, copies, scripts).
    pub advice: Vec<String>,
    /// The model as it is, then each pilot.
    pub pilots: Vec<GenPilot>,
    /// Index of the best system in `pilots`.
    pub best: usize,
    /// Rows where the best pilot gained most, then lost most, against as-is.
    pub examples: Vec<Example>,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// The settings.
    pub config: AssessConfig,
    /// Seconds of the whole assessment.
    pub seconds: f64,
}

/// The strategies of `cfg` a generation model trains with (lora, top:K, full, scratch);
/// default `lora:8`, `top:2`, `full`. `top:K` is capped at the decoder's layers.
fn generation_strategies(cfg: &AssessConfig, decoder_layers: usize) -> Vec<Strategy> {
    let mut s: Vec<Strategy> = cfg
        .strategies
        .iter()
        .filter(|s| {
            matches!(
                s,
                Strategy::Lora { .. } | Strategy::Top { .. } | Strategy::Full | Strategy::Scratch
            )
        })
        .cloned()
        .collect();
    if s.is_empty() {
        s = vec![
            Strategy::Lora { r: 8, alpha: 16.0 },
            Strategy::Top { layers: 2 },
            Strategy::Full,
        ];
    }
    for x in s.iter_mut() {
        if let Strategy::Top { layers } = x {
            *layers = (*layers).clamp(1, decoder_layers.max(1));
        }
    }
    s.dedup();
    s
}

fn paired_chrf(base: &SegmentStats, sys: &SegmentStats, cfg: &AssessConfig) -> PairedResult {
    paired_bootstrap(&chrf_metric(), base, sys, cfg.bootstrap, cfg.seed)
}

/// Sentence chrF of row `i`.
fn row_chrf(stats: &SegmentStats, i: usize) -> f64 {
    chrf_metric().score_of_sums(stats.row(i))
}

/// What is generated: the task's name for the report and the CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GenTask {
    /// Source language → target language.
    Translate,
    /// Document → summary.
    Summarize,
}

impl GenTask {
    /// `translate` or `summarize`.
    pub fn name(self) -> &'static str {
        match self {
            GenTask::Translate => "translate",
            GenTask::Summarize => "summarize",
        }
    }
}

/// Assesses the Marian model at `model` on translation pairs: `train` to learn from, `eval` to
/// judge on. See [`assess_generation`].
pub fn assess_translation(
    model: &Path,
    train: &PairTexts,
    eval: &PairTexts,
    languages: (&str, &str),
    wordnet: Option<Arc<WordNet>>,
    cfg: &AssessConfig,
    progress: Progress,
) -> Result<GenAssessment> {
    progress("loading the model");
    let subject = MarianSubject::load(model, languages.1, cfg)?;
    assess_generation(
        &subject,
        GenTask::Translate,
        train,
        eval,
        languages,
        wordnet,
        cfg,
        progress,
    )
}

/// Assesses a model on document → summary pairs: a Marian encoder-decoder summarizes directly,
/// a causal LM (a folder whose `model_type` is not `marian`, or a GGUF file) is prompted with
/// [`SUMMARIZE_INSTRUCTION`] (in its chat template when it has one) and its pilots learn the
/// summaries after the prompt. `language` is the summaries' language.
pub fn assess_summarization(
    model: &Path,
    train: &PairTexts,
    eval: &PairTexts,
    language: &str,
    wordnet: Option<Arc<WordNet>>,
    cfg: &AssessConfig,
    progress: Progress,
) -> Result<GenAssessment> {
    progress("loading the model");
    let marian = model.is_dir()
        && std::fs::read_to_string(model.join("config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["model_type"] == "marian");
    let langs = (language, language);
    if marian {
        let subject = MarianSubject::load(model, language, cfg)?;
        assess_generation(&subject, GenTask::Summarize, train, eval, langs, wordnet, cfg, progress)
    } else {
        let subject = PromptedLm::load(model, SUMMARIZE_INSTRUCTION, 48, cfg)?;
        assess_generation(&subject, GenTask::Summarize, train, eval, langs, wordnet, cfg, progress)
    }
}

/// The four angles, the pilots and the verdict for a generation task on any [`GenSubject`]:
/// at most `cfg.feature_rows` eval rows (spread evenly) are generated and scored;
/// `cfg.pilot_rows` training pairs train each pilot for `cfg.pilot_epochs` epochs at `cfg.lr`
/// (else each strategy's default); `languages` are the source and target codes; `wordnet`
/// enables METEOR for English targets.
#[allow(clippy::too_many_arguments)]
pub fn assess_generation(
    subject: &dyn GenSubject,
    task: GenTask,
    train: &PairTexts,
    eval: &PairTexts,
    languages: (&str, &str),
    wordnet: Option<Arc<WordNet>>,
    cfg: &AssessConfig,
    progress: Progress,
) -> Result<GenAssessment> {
    let t0 = Instant::now();
    if train.sources.is_empty() || eval.sources.is_empty() {
        return Err(AssessError::Invalid(format!(
            "assess --task {} needs training and eval pairs",
            task.name()
        )));
    }
    let (src_lang, tgt_lang) = languages;
    let mcfg = GenerationMetricsConfig {
        target_lang: tgt_lang.into(),
        bootstrap: cfg.bootstrap,
        seed: cfg.seed,
        wordnet,
    };
    let rows: Vec<usize> = spread(&(0..eval.sources.len()).collect::<Vec<_>>(), cfg.feature_rows.max(1));
    let eval_set = PairTexts {
        name: "eval".into(),
        sources: rows.iter().map(|&i| eval.sources[i].clone()).collect(),
        targets: rows.iter().map(|&i| eval.targets[i].clone()).collect(),
    };
    let refs = &eval_set.targets;

    progress(&format!(
        "angle 1: generating for {} eval sources as-is",
        eval_set.sources.len()
    ));
    let as_is = GenScored::new(subject.outputs(&eval_set.sources)?, refs, &mcfg);
    let target = cfg.target.as_ref().map(|(metric, t)| {
        let threshold = 100.0 * t;
        let ci = as_is
            .metrics
            .get(if metric == "bleu" { "BLEU" } else { CHRF })
            .map(|m| m.ci.clone());
        let outcome = match ci {
            Some(ci) if ci.lower >= threshold => "met",
            Some(ci) if ci.upper < threshold => "missed",
            _ => "undecided",
        };
        TargetCheck {
            metric: metric.clone(),
            threshold,
            outcome: outcome.into(),
        }
    });

    progress("angle 2: complexity");
    let complexity = complexity(subject, train, &eval_set, &as_is.hypotheses, tgt_lang, cfg)?;

    progress("angle 4: the pair audit and leakage");
    let script = Script::parse(tgt_lang);
    let src_refs: Vec<&str> = train.sources.iter().map(String::as_str).collect();
    let tgt_refs: Vec<&str> = train.targets.iter().map(String::as_str).collect();
    let audit_cfg = AuditConfig {
        max_examples_per_finding: usize::MAX,
        ..AuditConfig::default()
    };
    let audit = audit_pairs(&src_refs, &tgt_refs, script, &audit_cfg)?;
    let eval_src: Vec<&str> = eval_set.sources.iter().map(String::as_str).collect();
    let leak = find_leakage(&src_refs, &eval_src, &audit_cfg)?;
    let mut leaked_rows: Vec<usize> = leak
        .exact
        .iter()
        .map(|l| l.row)
        .chain(leak.near.iter().map(|l| l.row))
        .collect();
    leaked_rows.sort_unstable();
    leaked_rows.dedup();

    // Pilots.
    let pilot_pairs = {
        let idx = spread(&(0..train.sources.len()).collect::<Vec<_>>(), cfg.pilot_rows.max(1));
        PairTexts {
            name: "pilot".into(),
            sources: idx.iter().map(|&i| train.sources[i].clone()).collect(),
            targets: idx.iter().map(|&i| train.targets[i].clone()).collect(),
        }
    };
    let run_pilot =
        |strategy: &Strategy, pairs: &PairTexts, max_steps: Option<usize>, epochs: usize| -> Result<GenPilot> {
            let run = subject.pilot(strategy, pairs, &eval_set, max_steps, epochs)?;
            let scored = GenScored::new(run.hypotheses, refs, &mcfg);
            let seen = (run.steps * cfg.batch_size.max(1)).min(pairs.sources.len() * epochs) as f64;
            let pairs_per_s = seen / run.train_seconds.max(1e-9);
            Ok(GenPilot {
                strategy: strategy.to_string(),
                vs_as_is: Some(paired_chrf(&as_is.metrics.chrf_stats, &scored.metrics.chrf_stats, cfg)),
                scored,
                pairs: pairs.sources.len(),
                steps: run.steps,
                train_seconds: run.train_seconds,
                pairs_per_s,
                full_epoch_seconds: train.sources.len() as f64 / pairs_per_s.max(1e-9),
                trainable: run.trainable,
                peak_rss_mib: peak_rss_mib(),
                vs_best: None,
            })
        };
    let mut pilots = vec![GenPilot {
        strategy: "as-is".into(),
        scored: as_is.clone(),
        pairs: 0,
        steps: 0,
        train_seconds: 0.0,
        pairs_per_s: 0.0,
        full_epoch_seconds: 0.0,
        trainable: 0,
        peak_rss_mib: peak_rss_mib(),
        vs_as_is: None,
        vs_best: None,
    }];
    let strategies = generation_strategies(cfg, subject.layers());
    for s in &strategies {
        progress(&format!(
            "pilot {s} on {} pairs, {} epoch(s)",
            pilot_pairs.sources.len(),
            cfg.pilot_epochs.max(1)
        ));
        pilots.push(run_pilot(s, &pilot_pairs, None, cfg.pilot_epochs.max(1))?);
    }

    // Angle 3: the curve's strategy for its steps on a quarter and a half of the pairs.
    let curve_strategy = strategies
        .iter()
        .find(|s| **s == Strategy::Full)
        .or(strategies.first())
        .cloned()
        .unwrap_or(Strategy::Full);
    let curve_pilot = pilots
        .iter()
        .find(|p| p.strategy == curve_strategy.to_string())
        .map(|p| (p.steps, p.pairs, p.scored.chrf));
    let mut curve = Vec::new();
    if let Some((steps, n, chrf)) = curve_pilot {
        if steps > 0 && n >= 8 {
            for share in [4usize, 2] {
                let idx = spread(&(0..n).collect::<Vec<_>>(), n / share);
                let part = PairTexts {
                    name: "curve".into(),
                    sources: idx.iter().map(|&i| pilot_pairs.sources[i].clone()).collect(),
                    targets: idx.iter().map(|&i| pilot_pairs.targets[i].clone()).collect(),
                };
                progress(&format!(
                    "learning curve: {curve_strategy} for {steps} steps on {} pairs",
                    part.sources.len()
                ));
                let p = run_pilot(&curve_strategy, &part, Some(steps), share * cfg.pilot_epochs.max(1) * 2)?;
                curve.push((part.sources.len(), p.scored.chrf));
            }
            curve.push((n, chrf));
        }
    }
    let quantity = GenQuantity {
        train_pairs: train.sources.len(),
        pilot_pairs: pilot_pairs.sources.len(),
        curve,
        curve_strategy: curve_strategy.to_string(),
    };

    // The best system and every other one against it.
    let best = pilots
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.scored.chrf.total_cmp(&b.1.scored.chrf))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let best_stats = pilots[best].scored.metrics.chrf_stats.clone();
    for (i, p) in pilots.iter_mut().enumerate() {
        if i != best {
            p.vs_best = Some(paired_chrf(&best_stats, &p.scored.metrics.chrf_stats, cfg));
        }
    }

    // Does the best system's output belong to its source?
    let alignment = (refs.len() >= 2).then(|| {
        let b = &pilots[best];
        let rotated: Vec<String> = (0..refs.len()).map(|i| refs[(i + 1) % refs.len()].clone()).collect();
        // Only chrF's statistics: the table's other metrics are not needed here.
        let rot = corpus_stats(&chrf_metric(), &b.scored.hypotheses, &[rotated]);
        AlignmentCheck {
            system: b.strategy.clone(),
            chrf_own: b.scored.chrf,
            chrf_rotated: chrf_metric().score_of_sums(&rot.sum()),
            test: paired_chrf(&rot, &b.scored.metrics.chrf_stats, cfg),
        }
    });
    let quality = GenQuality {
        copies: audit.summary.copies,
        ratio_outliers: audit.summary.ratio_outliers,
        wrong_script: audit.summary.wrong_script,
        duplicate_pairs: audit.summary.duplicate_rows,
        blank: audit.summary.blank_source + audit.summary.blank_target,
        length_correlation: audit.length_correlation,
        source_length_spread: audit.source_length_spread,
        leaked_exact: leak.summary.exact_rows,
        leaked_near: leak.summary.near_rows,
        leaked_rows,
        alignment,
    };
    let weighed = weigh(&quality, &pilots[best], task, cfg);
    let advice = advise(&complexity, &quality, &pilots, cfg);
    let examples = examples(&eval_set, &pilots, best);
    let recommendation = decide_translate(&pilots, best, &quantity, &weighed, &advice, target.as_ref(), cfg);
    Ok(GenAssessment {
        model: subject.path().to_path_buf(),
        task,
        how: subject.describe(),
        languages: (src_lang.into(), tgt_lang.into()),
        eval_rows: eval_set.sources.len(),
        target,
        complexity,
        quantity,
        quality,
        weighed,
        advice,
        pilots,
        best,
        examples,
        recommendation,
        config: cfg.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Angle 2 from the subject's token figures and the as-is outputs.
fn complexity(
    subject: &dyn GenSubject,
    train: &PairTexts,
    eval: &PairTexts,
    outputs: &[String],
    tgt_lang: &str,
    cfg: &AssessConfig,
) -> Result<GenComplexity> {
    let idx = spread(&(0..train.sources.len()).collect::<Vec<_>>(), cfg.feature_rows.max(1));
    let sources: Vec<&String> = idx.iter().map(|&i| &train.sources[i]).chain(&eval.sources).collect();
    let targets: Vec<&String> = idx.iter().map(|&i| &train.targets[i]).chain(&eval.targets).collect();
    let t = subject.tokens(&sources, &targets)?;
    let script = Script::parse(tgt_lang);
    let outputs_wrong_script = match script {
        Some(s) => outputs
            .iter()
            .filter(|o| {
                let p = ScriptProfile::of(o);
                p.letters() > 0 && p.dominant() != Some(s)
            })
            .count(),
        None => 0,
    };
    let outputs_copied = outputs
        .iter()
        .zip(&eval.sources)
        .filter(|(o, s)| !o.trim().is_empty() && same_key(o, s))
        .count();
    Ok(GenComplexity {
        source_tokens_mean: t.source_tokens_mean,
        target_tokens_mean: t.target_tokens_mean,
        longest: t.longest,
        max_length: t.max_length,
        max_positions: t.max_positions,
        rows_over_max: t.rows_over_max,
        source_unk_rate: t.source_unk_rate,
        target_unk_rate: t.target_unk_rate,
        source_fertility: t.source_fertility,
        target_fertility: t.target_fertility,
        target_script: script.map(|s| s.name().to_string()),
        outputs_wrong_script,
        outputs_copied,
        outputs: outputs.len(),
    })
}

/// The findings weighed by what they change: leaked eval rows by the best system's chrF without
/// them; for translation, low length correlation by whether the best system's outputs belong to
/// their sources.
fn weigh(q: &GenQuality, best: &GenPilot, task: GenTask, cfg: &AssessConfig) -> Vec<Weighed> {
    let mut out = Vec::new();
    let stats = &best.scored.metrics.chrf_stats;
    let resolve = best.scored.half_width();
    if !q.leaked_rows.is_empty() {
        let mut keep = SegmentStats::new(stats.width);
        for i in (0..stats.len()).filter(|i| q.leaked_rows.binary_search(i).is_err()) {
            keep.push(stats.row(i));
        }
        if keep.is_empty() {
            out.push(Weighed {
                kind: "leakage".into(),
                effect: format!(
                    "every eval source is in train ({} exact, {} near): the eval measures memorisation",
                    q.leaked_exact, q.leaked_near
                ),
                points: f64::INFINITY,
                material: true,
            });
        } else {
            let clean = chrf_metric().score_of_sums(&keep.sum());
            out.push(Weighed::new(
                "leakage",
                format!(
                    "{} eval sources are in train ({} exact, {} near): {}'s chrF {:.2} with them, {:.2} without",
                    q.leaked_rows.len(),
                    q.leaked_exact,
                    q.leaked_near,
                    best.strategy,
                    best.scored.chrf,
                    clean
                ),
                (clean - best.scored.chrf).abs(),
                resolve,
            ));
        }
    }
    // Lengths go together in translation only: a summary's length hardly follows its document's.
    if let (GenTask::Translate, Some(r), Some(a)) = (task, q.length_correlation, &q.alignment) {
        if r < LOW_LENGTH_CORRELATION && q.source_length_spread >= MIN_LENGTH_SPREAD {
            let belongs = a.test.p_value < cfg.alpha;
            out.push(Weighed {
                kind: "misaligned_pairs".into(),
                effect: format!(
                    "source and target lengths of the training pairs are uncorrelated (r = {r:.2}; parallel text measures 0.7-0.9) and {} outputs match their own references {} other rows' (chrF {:.2} against {:.2}, paired p = {:.3}){}",
                    a.system,
                    if belongs { "better than" } else { "no better than" },
                    a.chrf_own,
                    a.chrf_rotated,
                    a.test.p_value,
                    if belongs {
                        ""
                    } else {
                        ": the pairs look shuffled, and what training learns is the target language, not the translation"
                    }
                ),
                points: a.chrf_own - a.chrf_rotated,
                material: !belongs,
            });
        }
    }
    out
}

/// Advice beside the verdict: the vocabulary, the outputs' script, copies in the data.
fn advise(c: &GenComplexity, q: &GenQuality, pilots: &[GenPilot], cfg: &AssessConfig) -> Vec<String> {
    let mut out = Vec::new();
    let learns = pilots.iter().skip(1).any(|p| {
        p.vs_as_is.as_ref().is_some_and(|v| v.p_value < cfg.alpha)
            && p.scored.chrf - pilots[0].scored.chrf >= MIN_CHRF_GAIN
    });
    for (side, rate) in [("source", c.source_unk_rate), ("target", c.target_unk_rate)] {
        if rate >= 0.01 {
            out.push(format!(
                "{:.1}% of {side} tokens are unknown to the model's vocabulary{}",
                100.0 * rate,
                if learns {
                    " (the pilots still learn; a model whose vocabulary covers the language would fit better)"
                } else {
                    ": no pilot improves, and a model whose vocabulary covers the language would fit better"
                }
            ));
        }
    }
    if c.outputs > 0 && c.outputs_wrong_script * 10 >= c.outputs {
        out.push(format!(
            "{} of {} as-is outputs are not written in the target language's script ({}): the model answers in another language",
            c.outputs_wrong_script,
            c.outputs,
            c.target_script.as_deref().unwrap_or("?")
        ));
    }
    if c.outputs > 0 && c.outputs_copied * 10 >= c.outputs {
        out.push(format!(
            "{} of {} as-is outputs repeat their source",
            c.outputs_copied, c.outputs
        ));
    }
    for (n, what) in [
        (q.copies, "training targets are copies of their source"),
        (
            q.wrong_script,
            "training targets have no character of the target script",
        ),
        (q.ratio_outliers, "training pairs have an unusual length ratio"),
        (q.duplicate_pairs, "training pairs repeat an earlier pair"),
        (q.blank, "training pairs have a blank side"),
    ] {
        if n > 0 {
            out.push(format!(
                "{n} {what} (reported; its effect on the pilots is not measured)"
            ));
        }
    }
    out
}

/// The three rows the best pilot improved most and the three it worsened most.
fn examples(eval: &PairTexts, pilots: &[GenPilot], best: usize) -> Vec<Example> {
    if best == 0 || pilots.len() < 2 {
        return Vec::new();
    }
    let (a, b) = (&pilots[0].scored, &pilots[best].scored);
    let n = a.hypotheses.len().min(b.hypotheses.len());
    let mut d: Vec<(usize, f64, f64)> = (0..n)
        .map(|i| {
            (
                i,
                row_chrf(&a.metrics.chrf_stats, i),
                row_chrf(&b.metrics.chrf_stats, i),
            )
        })
        .collect();
    d.sort_by(|x, y| (y.2 - y.1).total_cmp(&(x.2 - x.1)).then(x.0.cmp(&y.0)));
    let mut pick: Vec<&(usize, f64, f64)> = d.iter().take(3).filter(|x| x.2 > x.1).collect();
    pick.extend(d.iter().rev().take(3).filter(|x| x.2 < x.1));
    pick.into_iter()
        .map(|&(i, ca, cb)| Example {
            row: i,
            source: eval.sources[i].clone(),
            reference: eval.targets[i].clone(),
            as_is: a.hypotheses[i].clone(),
            pilot: b.hypotheses[i].clone(),
            chrf: (ca, cb),
        })
        .collect()
}

/// The verdict: the data first when a finding is material; as it is when the goal is met or no
/// pilot raises chrF significantly by [`MIN_CHRF_GAIN`] points; otherwise the cheapest pilot
/// that does and is not significantly worse than the best, with a full fine-tune (or
/// retraining) and more data when only `full`/`scratch` gets there and the curve still rises.
fn decide_translate(
    pilots: &[GenPilot],
    best_i: usize,
    qn: &GenQuantity,
    weighed: &[Weighed],
    advice: &[String],
    target: Option<&TargetCheck>,
    cfg: &AssessConfig,
) -> Recommendation {
    let mut reasons = Vec::new();
    let a = &pilots[0].scored;
    let ci = a.metrics.get(CHRF).map(|m| m.ci.clone());
    reasons.push(format!(
        "as it is: chrF {:.2} (95% CI {:.2}-{:.2}), BLEU {:.2} on {} eval rows",
        a.chrf,
        ci.as_ref().map_or(0.0, |c| c.lower),
        ci.as_ref().map_or(0.0, |c| c.upper),
        a.metrics.bleu(),
        a.hypotheses.len()
    ));
    let material: Vec<&Weighed> = weighed.iter().filter(|w| w.material).collect();
    if !material.is_empty() {
        reasons.extend(material.iter().map(|w| format!("data finding: {}", w.effect)));
        return Recommendation {
            verdict: Verdict::FixDataFirst,
            headline: "Fix the data first: the audit found problems that change what training and evaluation measure"
                .into(),
            reasons,
        };
    }
    for w in weighed {
        reasons.push(format!("data finding, too small to matter: {}", w.effect));
    }
    for p in pilots.iter().skip(1) {
        let ci = p.scored.metrics.get(CHRF).map(|m| m.ci.clone());
        reasons.push(format!(
            "{}: chrF {:.2} (95% CI {:.2}-{:.2}), BLEU {:.2}, {:+.2} chrF against as-is (paired p = {:.3}){}",
            p.strategy,
            p.scored.chrf,
            ci.as_ref().map_or(0.0, |c| c.lower),
            ci.as_ref().map_or(0.0, |c| c.upper),
            p.scored.metrics.bleu(),
            p.scored.chrf - a.chrf,
            p.vs_as_is.as_ref().map(|v| v.p_value).unwrap_or(1.0),
            match &p.vs_best {
                None => ", best".to_string(),
                Some(b) => format!(", p = {:.3} against the best", b.p_value),
            }
        ));
    }
    if qn.curve.len() >= 2 {
        let pts: Vec<String> = qn.curve.iter().map(|(n, c)| format!("{n} pairs {c:.2}")).collect();
        reasons.push(format!(
            "learning curve of {} (same steps, growing data): {}",
            qn.curve_strategy,
            pts.join(", ")
        ));
    }
    reasons.extend(advice.iter().map(|s| format!("advice: {s}")));
    if let Some(t) = target {
        reasons.push(format!(
            "target {}>={:.1}: {} by the model as it is (judged against its 95% interval)",
            t.metric, t.threshold, t.outcome
        ));
        if t.outcome == "met" {
            return Recommendation {
                verdict: Verdict::UseAsIs,
                headline: format!(
                    "Use the model as it is: it reaches {}>={:.1} on your eval rows",
                    t.metric, t.threshold
                ),
                reasons,
            };
        }
    }
    let best = &pilots[best_i];
    let gain = |p: &GenPilot| p.scored.chrf - a.chrf;
    let improves =
        |p: &GenPilot| p.vs_as_is.as_ref().is_some_and(|v| v.p_value < cfg.alpha) && gain(p) >= MIN_CHRF_GAIN;
    // The goal missed (the as-is interval below it) and no pilot whose interval reaches it:
    // short fine-tunes on this data do not close the gap.
    if let Some(t) = target.filter(|t| t.outcome == "missed" && t.metric != "bleu") {
        let reaches = pilots
            .iter()
            .skip(1)
            .any(|p| p.scored.metrics.get(CHRF).is_some_and(|m| m.ci.upper >= t.threshold));
        if !reaches {
            return Recommendation {
                verdict: Verdict::FullFineTuneOrRetrain,
                headline: format!(
                    "Retrain (or choose a stronger model): chrF {:.2} misses the target {:.1}, and no pilot comes within reach of it (best {} {:.2})",
                    a.chrf, t.threshold, best.strategy, best.scored.chrf
                ),
                reasons,
            };
        }
    }
    if best_i == 0 || !improves(best) {
        let why = if best_i == 0 {
            format!("no pilot raises chrF on your eval rows (best as it is, {:.2})", a.chrf)
        } else {
            format!(
                "no pilot raises chrF significantly by {MIN_CHRF_GAIN:.0} point or more (best {} {:.2} against {:.2}, paired p = {:.3})",
                best.strategy,
                best.scored.chrf,
                a.chrf,
                best.vs_as_is.as_ref().map(|v| v.p_value).unwrap_or(1.0)
            )
        };
        let enough = match target {
            Some(t) => format!("; the target {}>={:.1} is {}", t.metric, t.threshold, t.outcome),
            None => format!(
                "; whether chrF {:.2} is good enough is yours to say (--target chrf>=N judges it against the interval)",
                a.chrf
            ),
        };
        return Recommendation {
            verdict: Verdict::UseAsIs,
            headline: format!("Use the model as it is — training on this data does not improve it: {why}{enough}"),
            reasons,
        };
    }
    let mut adequate: Vec<&GenPilot> = pilots
        .iter()
        .skip(1)
        .filter(|p| improves(p) && p.vs_best.as_ref().is_none_or(|v| v.p_value >= cfg.alpha))
        .collect();
    adequate.sort_by_key(|p| strategy_rank(&p.strategy));
    let choice = adequate.first().copied().unwrap_or(best);
    reasons.push(format!(
        "cost of {}: {:.1} pairs/s on this machine, one epoch over all {} training pairs ≈ {:.0} s; peak memory {:.0} MiB",
        choice.strategy,
        choice.pairs_per_s,
        qn.train_pairs,
        choice.full_epoch_seconds,
        choice.peak_rss_mib
    ));
    // Rising: the last point gains at least MIN_CHRF_GAIN over the first and does not fall
    // from the one before (a noisy curve that ends where it started is not rising).
    let still_rising = qn.curve.len() >= 2 && {
        let (first, prev, last) = (
            qn.curve[0].1,
            qn.curve[qn.curve.len() - 2].1,
            qn.curve[qn.curve.len() - 1].1,
        );
        last >= first + MIN_CHRF_GAIN && last >= prev
    };
    if strategy_rank(&choice.strategy) >= 4 && still_rising {
        return Recommendation {
            verdict: Verdict::FullFineTuneOrRetrain,
            headline: format!(
                "Fine-tune fully (or retrain), longer and with more data: only {} reaches the best chrF ({:.2} against {:.2} as it is), and the curve is still rising",
                choice.strategy, best.scored.chrf, a.chrf
            ),
            reasons,
        };
    }
    Recommendation {
        verdict: Verdict::FineTune {
            strategy: choice.strategy.clone(),
        },
        headline: format!(
            "Fine-tune with {}: chrF {:.2} against {:.2} as it is, the cheapest strategy not significantly worse than the best ({} at {:.2})",
            choice.strategy, choice.scored.chrf, a.chrf, best.strategy, best.scored.chrf
        ),
        reasons,
    }
}
