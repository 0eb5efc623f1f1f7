//! `retune assess --task ner`: the four angles for token classification with seqeval's entity
//! micro-F1 as the headline metric — as-is (a probe on the frozen encoder's first-sub-word
//! states, and the checkpoint's own token head when it tags these labels), complexity (entity
//! types, their balance, entity length and density, how many eval entities train already
//! shows, the tokenizer's fit), quantity (entities per type, the probe's learning curve over
//! sentences), quality (the tagged-data audit with token label noise) — and pilot fine-tunes on
//! the same eval sentences, compared by paired bootstrap over sentences.
//!
//! A data finding stops the verdict ("fix the data first") only when its measured effect could
//! move the eval score by more than the eval set can resolve: leaked eval sentences by the best
//! pilot's F1 with and without them; scheme violations, conflicting tags and types train never
//! shows by the share of entities they touch, against the half-width of the best pilot's 95%
//! interval. Each finding's figure is in the reasons either way.

use retune_data::tagged::TaggedCorpus;
use retune_metrics::seqeval::chunks::get_entities;
use retune_metrics::seqeval::{SeqevalConfig, SeqevalMetric, SeqevalReport, SeqevalScore};
use retune_metrics::significance::{bootstrap_ci, paired_bootstrap, BootstrapCi, PairedResult};
use retune_metrics::{corpus_stats, SegmentStats};
use retune_models::arch::{Head, ModelConfig};
use retune_train::batching::SplitMix;
use retune_train::classify::prepare_model;
use retune_train::probe::{argmax_rows, Features, LogisticRegression, ProbeConfig};
use retune_train::strategy::Strategy;
use retune_train::tag::{
    evaluate_tagger, label_list, train_tagger, word_features, word_targets, TagConfig, TagJob, TaggedSentences,
};
use retune_train::trainer::LoopConfig;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::verdict::{decide, Evidence, Recommendation};
use super::{best_pilot, entropy_bits, peak_rss_mib, AssessConfig, Judged, Pilot, Progress, Weighed, NER_PILOT_EPOCHS};
use crate::audit::{audit_tagging, AuditOptions, AuditReport, TokenFit};
use crate::curve::{fit_power_law_bounded, PowerLaw};
use crate::error::{AssessError, Result};

/// A tagger scored on the eval sentences.
#[derive(Clone, Debug, Serialize)]
pub struct NerScored {
    /// What was scored.
    pub name: String,
    /// Entity micro-F1 (fraction, seqeval's default mode).
    pub f1: f64,
    /// Entity micro precision.
    pub precision: f64,
    /// Entity micro recall.
    pub recall: f64,
    /// Macro F1 over entity types.
    pub macro_f1: f64,
    /// Token accuracy.
    pub token_accuracy: f64,
    /// (type, F1, gold entities) per entity type.
    pub per_type: Vec<(String, f64, u64)>,
    /// 95% bootstrap interval of the entity F1 over sentences (percent).
    pub ci: BootstrapCi,
    /// Entities by gold type (rows) and predicted type (columns), matched by exact span; the
    /// last row and column are "none" (a predicted entity no gold one matches; a gold entity
    /// nothing predicted at its span).
    pub confusion: Vec<Vec<u64>>,
    /// Predicted tags per sentence.
    #[serde(skip)]
    pub predictions: Vec<Vec<String>>,
    /// Per-sentence seqeval statistics (for paired tests).
    #[serde(skip)]
    pub stats: SegmentStats,
}

impl Judged for NerScored {
    fn value(&self) -> f64 {
        self.f1
    }
    fn ci(&self) -> &BootstrapCi {
        &self.ci
    }
    fn macro_f1(&self) -> f64 {
        self.macro_f1
    }
}

/// Angle 1: how the model tags without training.
#[derive(Clone, Debug, Serialize)]
pub struct NerAsIs {
    /// The checkpoint's own token head, when it already tags these labels.
    pub existing_head: Option<NerScored>,
    /// The token probe (logistic regression on the frozen first-sub-word states).
    pub probe: NerScored,
}

/// Angle 2: how hard the task is for this model.
#[derive(Clone, Debug, Serialize)]
pub struct NerComplexity {
    /// Entity types.
    pub types: usize,
    /// Entropy of the training entities' types divided by its maximum (1 = balanced).
    pub type_balance: f64,
    /// Training entities per sentence.
    pub entities_per_sentence: f64,
    /// Mean words per training entity.
    pub mean_entity_words: f64,
    /// Share of training entities longer than one word.
    pub multi_word_share: f64,
    /// Share of training words tagged `O` (token accuracy of tagging everything `O`).
    pub outside_share: f64,
    /// Share of eval entities that occur in train with the same words and type (memorised
    /// rather than recognised).
    pub eval_entities_seen: f64,
    /// Entity F1 of the token probe.
    pub probe_f1: f64,
    /// Token fit on the training sample: lengths, unknown-token rate, fertility.
    pub token_fit: Option<TokenFit>,
    /// The model's maximum positions.
    pub max_positions: usize,
}

/// Angle 3: is there enough data.
#[derive(Clone, Debug, Serialize)]
pub struct NerQuantity {
    /// Training sentences.
    pub train_sentences: usize,
    /// Training entities per type.
    pub entities_per_type: BTreeMap<String, usize>,
    /// Probe learning curve: (training sentences, eval entity F1).
    pub curve: Vec<(usize, f64)>,
    /// Inverse power law fitted to the curve (bounded by F1 = 1).
    pub fit: Option<PowerLaw>,
    /// Predicted probe F1 with twice the training sentences, and the gain over the last point.
    pub predicted_at_2x: Option<(f64, f64)>,
}

/// The whole NER assessment.
#[derive(Clone, Debug, Serialize)]
pub struct NerAssessment {
    /// Model folder.
    pub model: PathBuf,
    /// Tag names.
    pub labels: Vec<String>,
    /// Entity types, in the confusion matrix's order (then "none").
    pub types: Vec<String>,
    /// Eval sentences.
    pub eval_rows: usize,
    /// Angle 1.
    pub as_is: NerAsIs,
    /// Angle 2.
    pub complexity: NerComplexity,
    /// Angle 3.
    pub quantity: NerQuantity,
    /// Angle 4: the audit (with token label noise).
    pub quality: AuditReport,
    /// The audit's findings weighed by their effect.
    pub weighed: Vec<Weighed>,
    /// Pilot fine-tunes.
    pub pilots: Vec<Pilot<NerScored>>,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// The settings.
    pub config: AssessConfig,
    /// Seconds of the whole assessment.
    pub seconds: f64,
}

fn sentences_of(c: &TaggedCorpus, name: &str, rows: Option<&[usize]>) -> TaggedSentences {
    let idx: Vec<usize> = rows
        .map(|r| r.to_vec())
        .unwrap_or_else(|| (0..c.sentences.len()).collect());
    TaggedSentences {
        name: name.into(),
        words: idx.iter().map(|&i| c.sentences[i].tokens.clone()).collect(),
        tags: idx.iter().map(|&i| c.sentences[i].tags.clone()).collect(),
    }
}

/// A seeded sample of `n` of `len` sentence indices (all when `n >= len`), sorted.
fn sample(len: usize, n: usize, seed: u64) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    let mut idx: Vec<usize> = (0..len).collect();
    SplitMix(seed).shuffle(&mut idx);
    idx.truncate(n);
    idx.sort_unstable();
    idx
}

/// Entity types named by IOB2 labels (`B-X`, `I-X`), sorted.
fn types_of(labels: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = labels
        .iter()
        .filter_map(|l| l.split_once('-').map(|(_, t)| t.to_string()))
        .collect();
    set.into_iter().collect()
}

fn metric(types: &[String]) -> SeqevalMetric {
    SeqevalMetric {
        types: types.to_vec(),
        config: SeqevalConfig::default(),
        score: SeqevalScore::MicroF1,
    }
}

fn joined(tags: &[Vec<String>]) -> Vec<String> {
    tags.iter().map(|t| t.join(" ")).collect()
}

/// Entities of one sentence as (start, end, type).
fn spans(tags: &[String]) -> Vec<(usize, usize, String)> {
    get_entities(&[tags.to_vec()], false)
        .map(|v| v.into_iter().map(|c| (c.start, c.end, c.kind)).collect())
        .unwrap_or_default()
}

/// The type confusion matrix (see [`NerScored::confusion`]).
fn type_confusion(pred: &[Vec<String>], gold: &[Vec<String>], types: &[String]) -> Vec<Vec<u64>> {
    let k = types.len();
    let mut m = vec![vec![0u64; k + 1]; k + 1];
    let at = |t: &str| types.iter().position(|x| x == t).unwrap_or(k);
    for (p, g) in pred.iter().zip(gold) {
        let (ps, gs) = (spans(p), spans(g));
        for (s, e, t) in &gs {
            let hit = ps.iter().find(|(a, b, _)| a == s && b == e);
            m[at(t)][hit.map(|h| at(&h.2)).unwrap_or(k)] += 1;
        }
        for (s, e, t) in &ps {
            if !gs.iter().any(|(a, b, _)| a == s && b == e) {
                m[k][at(t)] += 1;
            }
        }
    }
    m
}

fn scored(
    name: &str,
    pred: Vec<Vec<String>>,
    gold: &[Vec<String>],
    types: &[String],
    cfg: &AssessConfig,
) -> Result<NerScored> {
    let m = metric(types);
    let stats = corpus_stats(&m, &joined(&pred), &[joined(gold)]);
    let ci = bootstrap_ci(&m, &stats, cfg.bootstrap, cfg.seed);
    let r = SeqevalReport::compute(&pred, gold, &SeqevalConfig::default())
        .map_err(|e| AssessError::Invalid(format!("{name}: {e}")))?;
    Ok(NerScored {
        name: name.into(),
        f1: r.micro.f1,
        precision: r.micro.precision,
        recall: r.micro.recall,
        macro_f1: r.macro_avg.f1,
        token_accuracy: r.accuracy,
        per_type: r
            .types
            .iter()
            .zip(&r.per_type)
            .map(|(t, p)| (t.clone(), p.f1, p.support))
            .collect(),
        ci,
        confusion: type_confusion(&pred, gold, types),
        predictions: pred,
        stats,
    })
}

pub(crate) fn paired(base: &NerScored, sys: &NerScored, types: &[String], cfg: &AssessConfig) -> PairedResult {
    paired_bootstrap(&metric(types), &base.stats, &sys.stats, cfg.bootstrap, cfg.seed)
}

/// Tags from a probe's word predictions (rows of `feats`; words without a token are `O`).
fn probe_tags(
    probe: &LogisticRegression,
    feats: &Features,
    has_token: &[bool],
    data: &TaggedSentences,
    labels: &[String],
) -> Vec<Vec<String>> {
    let k = labels.len();
    let best = argmax_rows(&probe.predict_proba(feats), k);
    let mut row = 0;
    data.words
        .iter()
        .map(|ws| {
            ws.iter()
                .map(|_| {
                    let t = if has_token[row] {
                        labels[best[row] as usize].clone()
                    } else {
                        "O".to_string()
                    };
                    row += 1;
                    t
                })
                .collect()
        })
        .collect()
}

/// Learning rate of a NER pilot: a token head needs a larger step than a sentence head to
/// leave "all O" within a pilot's epochs (MiniLM on WNUT 2017 full at 3e-4 for 3 epochs:
/// test F1 40.4, the Trainer's 39.9 with the same recipe; at 5e-5 for 1 epoch: 0).
fn pilot_lr(s: &Strategy) -> f64 {
    match s {
        Strategy::Full | Strategy::Top { .. } => 3e-4,
        Strategy::Scratch => 5e-4,
        other => other.default_lr().max(1e-3),
    }
}

/// Assesses `model_dir` on tagged sentences (IOB2 tags).
pub fn assess_ner(
    model_dir: &Path,
    train: &TaggedCorpus,
    eval: &TaggedCorpus,
    cfg: &AssessConfig,
    progress: Progress,
) -> Result<NerAssessment> {
    let t0 = Instant::now();
    let device = cfg.device.clone();
    let all_train = sentences_of(train, "train", None);
    let eval_data = sentences_of(eval, "eval", None);
    if eval_data.words.is_empty() || all_train.words.is_empty() {
        return Err(AssessError::Invalid(
            "assess --task ner needs training and eval sentences".into(),
        ));
    }
    let labels = label_list(all_train.tags.iter().chain(&eval_data.tags));
    let types = types_of(&labels);
    let gold = eval_data.tags.clone();
    let tag_cfg = TagConfig {
        max_length: cfg.max_length,
        ..Default::default()
    };
    // Frozen features of a sample of train and of every eval word.
    let feat_idx = sample(train.sentences.len(), cfg.feature_rows, cfg.seed);
    let feat_train = sentences_of(train, "train", Some(&feat_idx));
    let feat_corpus = TaggedCorpus {
        path: train.path.clone(),
        sentences: feat_idx.iter().map(|&i| train.sentences[i].clone()).collect(),
    };
    let probe_state = prepare_model(
        model_dir,
        Head::TokenClassification,
        &labels,
        &Strategy::Probe,
        cfg.max_length,
        &device,
    )?;
    let (ftrain, has_train) = word_features(&probe_state, &feat_train, &tag_cfg, &mut |d, t| {
        progress(&format!("frozen features: {d}/{t} training sentences"))
    })?;
    let (feval, has_eval) = word_features(&probe_state, &eval_data, &tag_cfg, &mut |d, t| {
        progress(&format!("frozen features: {d}/{t} eval sentences"))
    })?;
    drop(probe_state);
    // Angle 4: the audit on every sentence; the model's checks and label noise on the sample.
    progress("auditing the data");
    let opts = AuditOptions {
        device: device.clone(),
        ..Default::default()
    };
    let mut quality = audit_tagging(&[("train", train), ("eval", eval)], None, None, &opts, |m| progress(m))?;
    let with_model = audit_tagging(
        &[("train", &feat_corpus)],
        Some(model_dir),
        Some((&ftrain, &has_train)),
        &opts,
        |m| progress(m),
    )?;
    quality.token_fit = with_model.token_fit.clone();
    quality.max_positions = with_model.max_positions;
    quality.label_noise = with_model.label_noise.clone();
    quality.findings.extend(
        with_model
            .findings
            .iter()
            .filter(|f| {
                matches!(
                    f.kind.as_str(),
                    "label-noise" | "unknown-tokens" | "pieceless-words" | "long-sentences"
                )
            })
            .cloned(),
    );
    quality.findings.sort_by_key(|f| f.severity);
    // Angle 1: the probe, and the checkpoint's own token head.
    progress("token probe");
    let targets = word_targets(&feat_train, &labels, &has_train)?;
    let k = labels.len();
    let x = ftrain.select(&targets.rows);
    let probe = LogisticRegression::fit(&x, &targets.ids, k, ProbeConfig::default());
    let probe_scored = scored(
        "probe",
        probe_tags(&probe, &feval, &has_eval, &eval_data, &labels),
        &gold,
        &types,
        cfg,
    )?;
    let config = ModelConfig::from_dir(model_dir)?;
    let own: BTreeSet<String> = config.labels.labels().into_iter().collect();
    let wanted: BTreeSet<String> = labels.iter().cloned().collect();
    let existing_head = if config.checkpoint_head() == Some(Head::TokenClassification) && own == wanted {
        progress("the model's own token head");
        let st = prepare_model(
            model_dir,
            Head::TokenClassification,
            &labels,
            &Strategy::Head,
            cfg.max_length,
            &device,
        )?;
        let e = evaluate_tagger(&st, &eval_data, &tag_cfg, 0)?;
        Some(scored("as-is", e.predictions, &gold, &types, cfg)?)
    } else {
        None
    };
    // Angle 3: the probe's learning curve over sentences.
    progress("learning curve");
    let mut curve = Vec::new();
    for frac in [0.1, 0.2, 0.4, 0.7, 1.0] {
        let n = ((feat_train.words.len() as f64) * frac).round() as usize;
        if n < 10 {
            continue;
        }
        let chosen: BTreeSet<usize> = sample(feat_train.words.len(), n, cfg.seed + 1).into_iter().collect();
        let rows: Vec<usize> = (0..targets.rows.len())
            .filter(|&r| chosen.contains(&targets.place[r].0))
            .collect();
        let ys: Vec<u32> = rows.iter().map(|&r| targets.ids[r]).collect();
        if ys.iter().collect::<BTreeSet<_>>().len() < 2 {
            continue;
        }
        let m = LogisticRegression::fit(&x.select(&rows), &ys, k, ProbeConfig::default());
        let pred = probe_tags(&m, &feval, &has_eval, &eval_data, &labels);
        let r = SeqevalReport::compute(&pred, &gold, &SeqevalConfig::default())
            .map_err(|e| AssessError::Invalid(format!("learning curve: {e}")))?;
        curve.push((n, r.micro.f1));
    }
    let pts: Vec<(f64, f64)> = curve.iter().map(|&(n, f)| (n as f64, f)).collect();
    let fit = fit_power_law_bounded(&pts, 1.0);
    let predicted_at_2x = fit.zip(curve.last()).map(|(f, &(n, v))| {
        let p = f.at(2.0 * n as f64);
        (p, p - v)
    });
    // Pilots on a sample of the training sentences.
    let pilot_idx = sample(train.sentences.len(), cfg.pilot_rows, cfg.seed + 2);
    let pilot_train = sentences_of(train, "train", Some(&pilot_idx));
    let epochs = cfg.pilot_epochs.max(NER_PILOT_EPOCHS);
    let mut pilots: Vec<Pilot<NerScored>> = Vec::new();
    for strategy in &cfg.strategies {
        if *strategy == Strategy::Probe {
            pilots.push(Pilot {
                strategy: "probe".into(),
                rows: feat_train.words.len(),
                epochs: 0,
                scored: probe_scored.clone(),
                train_seconds: 0.0,
                rows_per_s: 0.0,
                full_epoch_seconds: 0.0,
                trainable: k * ftrain.d + k,
                peak_rss_mib: peak_rss_mib(),
                vs_best: None,
            });
            continue;
        }
        progress(&format!("pilot: {strategy}"));
        let job = TagJob {
            model_dir,
            labels: labels.clone(),
            train: pilot_train.clone(),
            eval: eval_data.clone(),
            also_eval: Vec::new(),
            out: None,
            resume: None,
            config: TagConfig {
                strategy: strategy.clone(),
                train: LoopConfig {
                    epochs,
                    batch_size: cfg.batch_size,
                    seed: cfg.seed,
                    ..Default::default()
                },
                lr: Some(pilot_lr(strategy)),
                ..tag_cfg.clone()
            },
            device: device.clone(),
        };
        let (summary, _) = train_tagger(job, |_| {})?;
        let best = summary
            .evals
            .iter()
            .max_by(|a, b| a.report.micro.f1.total_cmp(&b.report.micro.f1))
            .ok_or_else(|| AssessError::Invalid("a pilot ran no evaluation".into()))?;
        let rps = pilot_train.words.len() as f64 * epochs as f64 / summary.run.train_seconds.max(1e-9);
        pilots.push(Pilot {
            strategy: strategy.to_string(),
            rows: pilot_train.words.len(),
            epochs,
            scored: scored(&strategy.to_string(), best.predictions.clone(), &gold, &types, cfg)?,
            train_seconds: summary.run.train_seconds,
            rows_per_s: rps,
            full_epoch_seconds: train.sentences.len() as f64 / rps.max(1e-9),
            trainable: summary.trainable,
            peak_rss_mib: peak_rss_mib(),
            vs_best: None,
        });
    }
    let best_i = best_pilot(&pilots).ok_or_else(|| AssessError::Invalid("no pilot strategies".into()))?;
    let best = pilots[best_i].scored.clone();
    for (i, p) in pilots.iter_mut().enumerate() {
        if i != best_i {
            p.vs_best = Some(paired(&best, &p.scored, &types, cfg));
        }
    }
    // Angle 2.
    let train_audit = &quality.tagged[0].1;
    let entities_per_type: BTreeMap<String, usize> =
        train_audit.types.iter().map(|(t, s)| (t.clone(), s.entities)).collect();
    let n_entities: usize = entities_per_type.values().sum();
    let entity_words: usize = train_audit.types.values().map(|s| s.tokens).sum();
    let multi: usize = all_train
        .tags
        .iter()
        .flat_map(|t| spans(t))
        .filter(|(s, e, _)| e > s)
        .count();
    let counts: Vec<usize> = entities_per_type.values().copied().collect();
    let outside = train_audit.tag_counts.get("O").copied().unwrap_or(0);
    let eval_seen = quality
        .surface_overlap
        .first()
        .map(|(_, o)| o.seen_same_type as f64 / o.entities.max(1) as f64)
        .unwrap_or(0.0);
    let complexity = NerComplexity {
        types: types.len(),
        type_balance: if counts.len() > 1 {
            entropy_bits(&counts) / (counts.len() as f64).log2()
        } else {
            1.0
        },
        entities_per_sentence: n_entities as f64 / all_train.words.len().max(1) as f64,
        mean_entity_words: entity_words as f64 / n_entities.max(1) as f64,
        multi_word_share: multi as f64 / n_entities.max(1) as f64,
        outside_share: outside as f64 / train_audit.tokens.max(1) as f64,
        eval_entities_seen: eval_seen,
        probe_f1: probe_scored.f1,
        token_fit: quality.token_fit.first().cloned(),
        max_positions: config.arch().max_positions(),
    };
    let quantity = NerQuantity {
        train_sentences: all_train.words.len(),
        entities_per_type,
        curve,
        fit,
        predicted_at_2x,
    };
    let weighed = weigh(&quality, &pilots[best_i], eval, &gold)?;
    let as_is = NerAsIs {
        existing_head,
        probe: probe_scored,
    };
    let recommendation = recommend(
        &as_is,
        &complexity,
        &quantity,
        &quality,
        &weighed,
        &pilots,
        best_i,
        &gold,
        &types,
        cfg,
    )?;
    Ok(NerAssessment {
        model: model_dir.to_path_buf(),
        labels,
        types,
        eval_rows: gold.len(),
        as_is,
        complexity,
        quantity,
        quality,
        weighed,
        pilots,
        recommendation,
        config: cfg.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The audit's findings that bear on the score, each with its measured effect (see the module
/// doc); `material` when the effect exceeds the best pilot's CI half-width.
fn weigh(
    audit: &AuditReport,
    best: &Pilot<NerScored>,
    eval: &TaggedCorpus,
    gold: &[Vec<String>],
) -> Result<Vec<Weighed>> {
    let resolve = best.scored.ci.half_width;
    let mut out = Vec::new();
    let mut push = |kind: &str, effect: String, points: f64| out.push(Weighed::new(kind, effect, points, resolve));
    let entities = |i: usize| -> usize { audit.tagged[i].1.types.values().map(|s| s.entities).sum() };
    // Eval sentences that also occur in train: the best pilot with and without them.
    if let Some((_, l)) = audit.tag_leakage.first() {
        if l.exact_count > 0 {
            let leaked: BTreeSet<usize> = l.exact.iter().map(|&(r, _)| r).collect();
            let keep: Vec<usize> = (0..eval.sentences.len()).filter(|i| !leaked.contains(i)).collect();
            let pick = |v: &[Vec<String>]| keep.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
            let clean = SeqevalReport::compute(&pick(&best.scored.predictions), &pick(gold), &SeqevalConfig::default())
                .map_err(|e| AssessError::Invalid(format!("eval without leaked sentences: {e}")))?;
            push(
                "leakage",
                format!(
                    "{} eval sentences also occur in train; the best pilot ({}) scores {:.2} F1 with them and {:.2} without",
                    l.exact_count,
                    best.strategy,
                    100.0 * best.scored.f1,
                    100.0 * clean.micro.f1
                ),
                100.0 * (best.scored.f1 - clean.micro.f1).abs(),
            );
        }
    }
    for (i, (name, a)) in audit.tagged.iter().enumerate() {
        if a.violation_count > 0 {
            push(
                "tag-scheme",
                format!(
                    "{name}: {} tags break the {} scheme, touching at most {:.2}% of its {} entities",
                    a.violation_count,
                    a.scheme,
                    100.0 * a.violation_count as f64 / entities(i).max(1) as f64,
                    entities(i)
                ),
                100.0 * a.violation_count as f64 / entities(i).max(1) as f64,
            );
        }
        if !a.conflict_groups.is_empty() {
            let n: usize = a.conflict_groups.iter().map(|g| g.len()).sum();
            push(
                "conflicting-tags",
                format!(
                    "{name}: {n} of {} sentences sit in groups of identical sentences tagged differently ({:.2}%)",
                    a.sentences,
                    100.0 * n as f64 / a.sentences.max(1) as f64
                ),
                100.0 * n as f64 / a.sentences.max(1) as f64,
            );
        }
    }
    // Eval entities of types train never shows: none can be found.
    if audit.tagged.len() > 1 {
        let train_types = &audit.tagged[0].1.types;
        let eval_types = &audit.tagged[1].1.types;
        let unseen: usize = eval_types
            .iter()
            .filter(|(t, _)| !train_types.contains_key(*t))
            .map(|(_, s)| s.entities)
            .sum();
        if unseen > 0 {
            let share = 100.0 * unseen as f64 / entities(1).max(1) as f64;
            push(
                "unseen-types",
                format!("{unseen} eval entities ({share:.2}%) have types train never shows"),
                share,
            );
        }
    }
    Ok(out)
}

/// The verdict's evidence for NER: tagging everything `O` as the trivial baseline, material
/// findings as blocking (the others, and the tokenizer's unknown rate, as reasons).
#[allow(clippy::too_many_arguments)]
fn recommend(
    as_is: &NerAsIs,
    cx: &NerComplexity,
    qty: &NerQuantity,
    audit: &AuditReport,
    weighed: &[Weighed],
    pilots: &[Pilot<NerScored>],
    best_i: usize,
    gold: &[Vec<String>],
    types: &[String],
    cfg: &AssessConfig,
) -> Result<Recommendation> {
    let best = &pilots[best_i];
    let pct = |x: f64| 100.0 * x;
    let outside: Vec<Vec<String>> = gold.iter().map(|s| vec!["O".to_string(); s.len()]).collect();
    let all_o = scored("all-O", outside, gold, types, cfg)?;
    let vs_all_o = paired(&all_o, &best.scored, types, cfg);
    let mut r = decide(&Evidence {
        metric: "entity F1",
        unit: "sentences",
        pilots,
        best_i,
        baseline: ("tagging every word O", "all-O", all_o.f1, vs_all_o),
        frozen: format!(
            "token probe entity F1 {:.1}% (token accuracy {:.1}% against {:.1}% of words tagged O)",
            pct(cx.probe_f1),
            pct(as_is.probe.token_accuracy),
            pct(cx.outside_share)
        ),
        existing: as_is
            .existing_head
            .as_ref()
            .map(|h| (h, paired(&best.scored, h, types, cfg))),
        noise: audit.label_noise.as_ref(),
        blocking: weighed
            .iter()
            .filter(|w| w.material)
            .map(|w| w.effect.clone())
            .collect(),
        baselines: format!(
            "all-O 0.0%, token probe {:.1}%; {:.1}% of eval entities occur in train with the same words and type",
            pct(cx.probe_f1),
            pct(cx.eval_entities_seen)
        ),
        predicted_at_2x: qty.predicted_at_2x,
        train_rows: qty.train_sentences,
        cfg,
    });
    for w in weighed.iter().filter(|w| !w.material) {
        r.reasons
            .push(format!("data finding, too small to matter: {}", w.effect));
    }
    if let Some(t) = &cx.token_fit {
        if t.unk_rate >= 0.02 {
            r.reasons.push(format!(
                "the tokenizer leaves {:.1}% of tokens unknown ({:.2} pieces per word): no fine-tune can tell those words apart; a model whose vocabulary covers this script is the larger lever",
                pct(t.unk_rate),
                t.fertility
            ));
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn type_confusion_matches_spans_by_hand() {
        let types = vec!["LOC".to_string(), "PER".to_string()];
        // Sentence 1: PER right, LOC predicted as PER at the same span.
        // Sentence 2: a LOC missed, a spurious PER, a LOC at a shifted span (missed + spurious).
        let gold = vec![tags("B-PER I-PER O B-LOC"), tags("B-LOC O O B-LOC I-LOC")];
        let pred = vec![tags("B-PER I-PER O B-PER"), tags("O B-PER O O B-LOC")];
        let m = type_confusion(&pred, &gold, &types);
        // rows: gold LOC, PER, none; columns: predicted LOC, PER, none
        assert_eq!(m, vec![vec![0, 1, 2], vec![0, 1, 0], vec![1, 1, 0]]);
    }

    #[test]
    fn samples_are_seeded_sorted_and_distinct() {
        let a = sample(100, 30, 7);
        assert_eq!(a, sample(100, 30, 7));
        assert_ne!(a, sample(100, 30, 8));
        assert_eq!(a.len(), 30);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample(5, 30, 7), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn types_come_from_iob2_labels() {
        let labels: Vec<String> = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(types_of(&labels), vec!["LOC".to_string(), "PER".to_string()]);
    }
}
