//! `retune assess --task lm`: does this causal LM already know my text, or do I continue
//! pre-training it? The four angles for a language model, short pilots, one verdict.
//!
//! 1. As-is: perplexity on the eval documents (windows of the block size, stride half of it)
//!    with a bootstrap interval over documents, next to its perplexity on a general reference
//!    text shipped with retune (200 everyday Tatoeba sentences, `reference/`): how far out of
//!    domain the user's text is.
//! 2. Complexity: tokens per word, the share of tokens that are bare bytes (byte-level pieces
//!    that are not a whole character: text the vocabulary cannot spell), document lengths against
//!    the context window.
//! 3. Quantity: documents and tokens available, and a learning curve — the LoRA pilot's perplexity
//!    after the same number of steps on a quarter, a half and all of the pilot blocks.
//! 4. Quality: exact and near duplicates among training documents, eval documents found in
//!    train (exact or near), weighed by what they change: the best pilot's perplexity with and
//!    without the leaked documents, against its interval.
//!
//! Pilots: each LM strategy of the settings (`lora:8`, `full`) trains one epoch on the same
//! blocks and is scored on the same eval documents; paired bootstrap tests (over documents, on
//! `[NLL, tokens]`) against the model as it is and against the best pilot decide.

use retune_data::audit::{audit_split, find_leakage, AuditConfig};
use retune_metrics::corpus::SummedScore;
use retune_metrics::perplexity::{Perplexity, PerplexityStats};
use retune_metrics::significance::{bootstrap_ci, paired_bootstrap, BootstrapCi, PairedResult};
use retune_models::causal::CausalLm;
use retune_train::lm::{evaluate_lm, fit_lm, lm_rows, prepare_lm, EvalSet, LmConfig, LmData, LmEval, LmRow};
use retune_train::strategy::Strategy;
use retune_train::trainer::LoopConfig;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::verdict::{Recommendation, Verdict};
use super::{peak_rss_mib, spread, AssessConfig, Progress, Weighed};
use crate::error::{AssessError, Result};

/// The general reference text: 200 everyday English sentences (Tatoeba, CC BY 2.0 FR; see
/// `reference/README.md`), one JSON object a line with `text` and `attribution`.
pub const REFERENCE_JSONL: &str = include_str!("../../reference/tatoeba_en.jsonl");

/// The reference sentences.
pub fn reference_texts() -> Vec<String> {
    REFERENCE_JSONL
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect()
}

/// A perplexity with its interval.
#[derive(Clone, Debug, Serialize)]
pub struct PplScore {
    /// exp(Σ NLL / Σ tokens).
    pub perplexity: f64,
    /// Bootstrap 95% interval over documents.
    pub ci: BootstrapCi,
    /// Tokens predicted.
    pub tokens: usize,
    /// Documents.
    pub documents: usize,
    /// Per-document `(NLL, tokens)`.
    #[serde(skip)]
    pub per_document: Vec<(f64, usize)>,
}

fn scored(e: &LmEval, cfg: &AssessConfig) -> PplScore {
    let stats = PerplexityStats::from_documents(&e.per_document);
    PplScore {
        perplexity: e.perplexity,
        ci: bootstrap_ci(&Perplexity, &stats, cfg.bootstrap, cfg.seed),
        tokens: e.tokens,
        documents: e.documents,
        per_document: e.per_document.clone(),
    }
}

fn paired(base: &PplScore, sys: &PplScore, cfg: &AssessConfig) -> PairedResult {
    paired_bootstrap(
        &Perplexity,
        &PerplexityStats::from_documents(&base.per_document),
        &PerplexityStats::from_documents(&sys.per_document),
        cfg.bootstrap,
        cfg.seed,
    )
}

/// Angle 1.
#[derive(Clone, Debug, Serialize)]
pub struct LmAsIs {
    /// On the user's eval documents.
    pub eval: PplScore,
    /// On the reference sentences.
    pub reference: PplScore,
    /// eval / reference perplexity.
    pub ratio: f64,
}

/// Angle 2.
#[derive(Clone, Debug, Serialize)]
pub struct LmComplexity {
    /// Tokens per whitespace-separated word (train and eval documents).
    pub tokens_per_word: f64,
    /// Share of tokens that are bare bytes (not a whole character).
    pub byte_token_rate: f64,
    /// Mean tokens per document.
    pub mean_doc_tokens: f64,
    /// Longest document in tokens.
    pub max_doc_tokens: usize,
    /// The model's context window.
    pub context: usize,
    /// Documents longer than the context window.
    pub docs_over_context: usize,
    /// Documents longer than a block (scored in several windows, split across blocks).
    pub docs_over_block: usize,
}

/// Angle 3.
#[derive(Clone, Debug, Serialize)]
pub struct LmQuantity {
    /// Training documents.
    pub train_documents: usize,
    /// Training tokens (with an EOS after each document).
    pub train_tokens: usize,
    /// Blocks of the block size the training text makes.
    pub train_blocks: usize,
    /// Blocks each pilot trains on.
    pub pilot_blocks: usize,
    /// (blocks seen, eval perplexity) of the LoRA pilot after the same steps on growing shares.
    pub curve: Vec<(usize, f64)>,
    /// Why the learning curve has fewer points than planned (the budget), None when complete.
    pub curve_note: Option<String>,
}

/// Angle 4.
#[derive(Clone, Debug, Serialize)]
pub struct LmQuality {
    /// Training documents that repeat an earlier one (normalised text).
    pub duplicate_docs: usize,
    /// Training documents in near-duplicate groups beyond the first of each.
    pub near_duplicate_docs: usize,
    /// Eval documents whose text is in train.
    pub leaked_exact: usize,
    /// Eval documents with a near duplicate in train.
    pub leaked_near: usize,
    /// Eval documents leaked (exact or near), by index.
    #[serde(skip)]
    pub leaked_rows: Vec<usize>,
}

/// One LM pilot.
#[derive(Clone, Debug, Serialize)]
pub struct LmPilot {
    /// Strategy (`as-is` for the untrained model).
    pub strategy: String,
    /// Eval perplexity.
    pub scored: PplScore,
    /// Blocks trained on.
    pub blocks: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Training tokens per second.
    pub tokens_per_s: f64,
    /// Seconds one epoch over all training tokens would take at that speed.
    pub full_epoch_seconds: f64,
    /// Trainable values.
    pub trainable: usize,
    /// Peak resident memory of the process so far (MiB).
    pub peak_rss_mib: f64,
    /// Paired bootstrap against the model as it is.
    pub vs_as_is: Option<PairedResult>,
    /// Paired bootstrap against the best pilot (None for the best).
    pub vs_best: Option<PairedResult>,
}

/// The whole assessment.
#[derive(Clone, Debug, Serialize)]
pub struct LmAssessment {
    /// The model (folder or GGUF file).
    pub model: PathBuf,
    /// Eval documents.
    pub eval_documents: usize,
    /// Angle 1.
    pub as_is: LmAsIs,
    /// Angle 2.
    pub complexity: LmComplexity,
    /// Angle 3.
    pub quantity: LmQuantity,
    /// Angle 4.
    pub quality: LmQuality,
    /// The audit's findings weighed by their effect.
    pub weighed: Vec<Weighed>,
    /// The model as it is, then each pilot.
    pub pilots: Vec<LmPilot>,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// Tokens per training block and eval window.
    pub block_size: usize,
    /// The settings.
    pub config: AssessConfig,
    /// Seconds of the whole assessment.
    pub seconds: f64,
}

/// The strategies of `cfg` a language model trains with (lora, top:K, full).
fn lm_strategies(cfg: &AssessConfig) -> Vec<Strategy> {
    let mut s: Vec<Strategy> = cfg
        .strategies
        .iter()
        .filter(|s| matches!(s, Strategy::Lora { .. } | Strategy::Top { .. } | Strategy::Full))
        .cloned()
        .collect();
    if s.is_empty() {
        s = vec![Strategy::Lora { r: 8, alpha: 16.0 }, Strategy::Full];
    }
    s
}

/// Bare-byte share of `ids`: tokens whose text alone is not valid text (a byte-level piece that
/// is part of a character).
fn byte_token_rate(lm: &CausalLm, docs: &[Vec<u32>]) -> Result<f64> {
    let mut cache = std::collections::HashMap::new();
    let (mut bytes, mut total) = (0usize, 0usize);
    for d in docs {
        for &t in d {
            let is_byte = match cache.get(&t) {
                Some(&b) => b,
                None => {
                    let b = lm.decode(&[t])?.contains('\u{FFFD}');
                    cache.insert(t, b);
                    b
                }
            };
            bytes += usize::from(is_byte);
            total += 1;
        }
    }
    Ok(if total == 0 { 0.0 } else { bytes as f64 / total as f64 })
}

/// Assesses the causal LM at `model` for continued pre-training on `train` documents, judged on
/// `eval` documents. `reference` replaces the bundled reference sentences. `cfg.max_length` is the
/// block size, `cfg.pilot_rows` the blocks each pilot trains on, `cfg.feature_rows` the most
/// eval documents scored, `cfg.batch_size` the blocks per step.
pub fn assess_lm(
    model: &Path,
    train: &[String],
    eval: &[String],
    reference: Option<&[String]>,
    cfg: &AssessConfig,
    progress: Progress,
) -> Result<LmAssessment> {
    let t0 = Instant::now();
    if train.is_empty() || eval.is_empty() {
        return Err(AssessError::Invalid(
            "assess --task lm needs training and eval documents".into(),
        ));
    }
    let block = cfg.max_length.max(8);
    progress("loading the model");
    let lm = CausalLm::load(model, &cfg.device)?;
    let eval_docs: Vec<String> = spread(eval, cfg.feature_rows.max(1));
    let eval_ids: Vec<Vec<u32>> = eval_docs
        .iter()
        .map(|d| lm.encode(d))
        .collect::<std::result::Result<_, _>>()?;
    let eval_set = EvalSet::Documents(eval_ids.clone());
    progress("angle 1: perplexity as-is on the eval documents");
    let as_is_eval = scored(&evaluate_lm(&lm, &eval_set, block)?, cfg);
    progress("angle 1: perplexity on the reference text");
    let refs = reference.map(|r| r.to_vec()).unwrap_or_else(reference_texts);
    let ref_ids: Vec<Vec<u32>> = refs
        .iter()
        .map(|d| lm.encode(d))
        .collect::<std::result::Result<_, _>>()?;
    let as_is_ref = scored(&evaluate_lm(&lm, &EvalSet::Documents(ref_ids), block)?, cfg);
    let as_is = LmAsIs {
        ratio: as_is_eval.perplexity / as_is_ref.perplexity,
        eval: as_is_eval.clone(),
        reference: as_is_ref,
    };

    progress("angle 2: complexity");
    let train_ids: Vec<Vec<u32>> = train
        .iter()
        .map(|d| lm.encode(d))
        .collect::<std::result::Result<_, _>>()?;
    let words: usize = train
        .iter()
        .chain(&eval_docs)
        .map(|d| d.split_whitespace().count())
        .sum();
    let all_tokens: usize = train_ids.iter().chain(&eval_ids).map(|d| d.len()).sum();
    let lens: Vec<usize> = train_ids.iter().chain(&eval_ids).map(|d| d.len()).collect();
    let complexity = LmComplexity {
        tokens_per_word: all_tokens as f64 / words.max(1) as f64,
        byte_token_rate: byte_token_rate(&lm, &train_ids.iter().chain(&eval_ids).cloned().collect::<Vec<_>>())?,
        mean_doc_tokens: all_tokens as f64 / lens.len().max(1) as f64,
        max_doc_tokens: lens.iter().copied().max().unwrap_or(0),
        context: lm.context(),
        docs_over_context: lens.iter().filter(|&&l| l > lm.context()).count(),
        docs_over_block: lens.iter().filter(|&&l| l > block).count(),
    };

    progress("angle 4: duplicates and leakage");
    let audit_cfg = AuditConfig::default();
    let train_refs: Vec<&str> = train.iter().map(String::as_str).collect();
    let eval_refs: Vec<&str> = eval_docs.iter().map(String::as_str).collect();
    let split = audit_split(&train_refs, None, &audit_cfg)?;
    let leak = find_leakage(&train_refs, &eval_refs, &audit_cfg)?;
    let mut leaked_rows: Vec<usize> = leak
        .exact
        .iter()
        .map(|l| l.row)
        .chain(leak.near.iter().map(|l| l.row))
        .collect();
    leaked_rows.sort_unstable();
    leaked_rows.dedup();
    let quality = LmQuality {
        duplicate_docs: split.summary.duplicate_rows,
        near_duplicate_docs: split.summary.near_duplicate_rows,
        leaked_exact: leak.summary.exact_rows,
        leaked_near: leak.summary.near_rows,
        leaked_rows,
    };

    // The pilots' training blocks: every document with an EOS after it, cut into blocks.
    let all_rows: Vec<LmRow> = lm_rows(&lm, &LmData::Documents(train.to_vec()), block, false)?;
    let train_tokens: usize = train_ids.iter().map(|d| d.len() + 1).sum();
    let pilot_rows: Vec<LmRow> = spread(&all_rows, cfg.pilot_rows.max(1));
    drop(lm);
    let base_cfg = |strategy: Strategy, max_steps: Option<usize>, epochs: usize| LmConfig {
        strategy,
        train: LoopConfig {
            batch_size: cfg.batch_size.max(1),
            epochs,
            max_steps,
            // One evaluation, after the last step: a learning-curve pilot runs several epochs
            // on its share, and the default (every epoch's end) scored the eval documents after
            // each of them.
            eval_every: Some(usize::MAX),
            seed: cfg.seed,
            keep_checkpoints: 0,
            ..LoopConfig::default()
        },
        lr: None,
        block_size: block,
        chat: false,
        eval_docs: None,
    };
    let run_pilot = |strategy: &Strategy,
                     rows: Vec<LmRow>,
                     max_steps: Option<usize>,
                     epochs: usize|
     -> Result<(PplScore, LmPilot)> {
        let (lm, trainable) = prepare_lm(model, strategy, &cfg.device)?;
        let n_trainable: usize = retune_train::classify::values_of(&lm.params, &trainable);
        let blocks = rows.len();
        let target_tokens: usize = rows.iter().map(|r| r.ids.len() - r.first_target).sum();
        let lcfg = base_cfg(strategy.clone(), max_steps, epochs);
        let (run, evals) = fit_lm(&lm, trainable, rows, &eval_set, &lcfg, None, None, |_| {})?;
        let last = evals
            .last()
            .ok_or_else(|| AssessError::Invalid("the pilot ran no evaluation".into()))?;
        let s = scored(last, cfg);
        // Tokens trained on: the steps' blocks (a full batch each) at the blocks' mean length.
        let seen = target_tokens as f64 / blocks.max(1) as f64
            * (run.steps * lcfg.train.batch_size).min(blocks * epochs) as f64;
        let tokens_per_s = seen / run.train_seconds.max(1e-9);
        let pilot = LmPilot {
            strategy: strategy.to_string(),
            scored: s.clone(),
            blocks,
            steps: run.steps,
            train_seconds: run.train_seconds,
            tokens_per_s,
            full_epoch_seconds: train_tokens as f64 / tokens_per_s.max(1e-9),
            trainable: n_trainable,
            peak_rss_mib: peak_rss_mib(),
            vs_as_is: Some(paired(&as_is_eval, &s, cfg)),
            vs_best: None,
        };
        Ok((s, pilot))
    };

    let mut pilots = vec![LmPilot {
        strategy: "as-is".into(),
        scored: as_is_eval.clone(),
        blocks: 0,
        steps: 0,
        train_seconds: 0.0,
        tokens_per_s: 0.0,
        full_epoch_seconds: 0.0,
        trainable: 0,
        peak_rss_mib: peak_rss_mib(),
        vs_as_is: None,
        vs_best: None,
    }];
    let strategies = lm_strategies(cfg);
    let mut lora_wall = 0.0;
    for s in &strategies {
        progress(&format!("pilot {s} on {} blocks", pilot_rows.len()));
        let started = Instant::now();
        let (_, p) = run_pilot(s, pilot_rows.clone(), None, 1)?;
        if matches!(s, Strategy::Lora { .. }) {
            lora_wall = started.elapsed().as_secs_f64();
        }
        pilots.push(p);
    }
    // Angle 3: the LoRA pilot's steps on a quarter and a half of the blocks (several epochs).
    let lora = strategies
        .iter()
        .find(|s| matches!(s, Strategy::Lora { .. }))
        .cloned()
        .unwrap_or(Strategy::Lora { r: 8, alpha: 16.0 });
    let lora_steps = pilots
        .iter()
        .find(|p| p.strategy == lora.to_string())
        .map(|p| p.steps)
        .unwrap_or(0);
    let mut curve = Vec::new();
    let mut curve_note = None;
    if lora_steps > 0 && pilot_rows.len() >= 8 {
        for share in [4usize, 2] {
            // A curve point costs what the LoRA pilot cost (the same steps, load and eval).
            let elapsed = t0.elapsed().as_secs_f64();
            if !cfg.fits_budget(elapsed, lora_wall) {
                curve_note = Some(format!(
                    "learning curve cut short: another {lora} pilot (~{lora_wall:.0} s) would end at {:.0} s, past the budget of {:.0} s",
                    elapsed + lora_wall,
                    cfg.budget_seconds.unwrap_or(0.0)
                ));
                break;
            }
            let rows = spread(&pilot_rows, pilot_rows.len() / share);
            progress(&format!(
                "learning curve: {lora} for {lora_steps} steps on {} blocks",
                rows.len()
            ));
            let n = rows.len();
            let (s, _) = run_pilot(&lora, rows, Some(lora_steps), share * 2)?;
            curve.push((n, s.perplexity));
        }
        // The LoRA pilot itself is the curve's last point, when the curve has any other.
        let lora_pilot = pilots.iter().find(|p| p.strategy == lora.to_string());
        if let Some(p) = lora_pilot.filter(|_| !curve.is_empty()) {
            curve.push((p.blocks, p.scored.perplexity));
        }
    }
    let quantity = LmQuantity {
        train_documents: train.len(),
        train_tokens,
        train_blocks: all_rows.len(),
        pilot_blocks: pilot_rows.len(),
        curve,
        curve_note,
    };

    // The best (lowest perplexity) pilot and every other one against it.
    let best_i = pilots
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.scored.perplexity.total_cmp(&b.1.scored.perplexity))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let best_scored = pilots[best_i].scored.clone();
    for (i, p) in pilots.iter_mut().enumerate() {
        if i != best_i {
            p.vs_best = Some(paired(&best_scored, &p.scored, cfg));
        }
    }
    let weighed = weigh(&quality, &pilots[best_i]);
    let recommendation = decide_lm(&as_is, &complexity, &quantity, &quality, &weighed, &pilots, best_i, cfg);
    Ok(LmAssessment {
        model: model.to_path_buf(),
        eval_documents: eval_docs.len(),
        as_is,
        complexity,
        quantity,
        quality,
        weighed,
        pilots,
        recommendation,
        block_size: block,
        config: cfg.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The leaked eval documents weighed by what they change: the best pilot's perplexity without
/// them against with them, in perplexity points, against its interval's half-width.
fn weigh(q: &LmQuality, best: &LmPilot) -> Vec<Weighed> {
    if q.leaked_rows.is_empty() {
        return Vec::new();
    }
    let docs = &best.scored.per_document;
    let keep: Vec<(f64, usize)> = docs
        .iter()
        .enumerate()
        .filter(|(i, _)| q.leaked_rows.binary_search(i).is_err())
        .map(|(_, d)| *d)
        .collect();
    if keep.iter().all(|d| d.1 == 0) {
        return vec![Weighed {
            kind: "leakage".into(),
            effect: format!(
                "every eval document is in train ({} exact, {} near): the eval measures memorisation",
                q.leaked_exact, q.leaked_near
            ),
            points: f64::INFINITY,
            material: true,
        }];
    }
    let clean = Perplexity.score_of_sums(&PerplexityStats::from_documents(&keep).sum());
    let effect = (clean - best.scored.perplexity).abs();
    vec![Weighed::new(
        "leakage",
        format!(
            "{} eval documents are in train ({} exact, {} near): {}'s perplexity {:.3} with them, {:.3} without",
            q.leaked_rows.len(),
            q.leaked_exact,
            q.leaked_near,
            best.strategy,
            best.scored.perplexity,
            clean
        ),
        effect,
        best.scored.ci.half_width,
    )]
}

/// The verdict for a language model: the data first when a finding is material; as it is when no
/// pilot lowers perplexity significantly; otherwise the cheapest pilot not significantly worse
/// than the best, with a full fine-tune and more data when only full reaches the best and the
/// learning curve still falls.
#[allow(clippy::too_many_arguments)]
fn decide_lm(
    as_is: &LmAsIs,
    cx: &LmComplexity,
    qn: &LmQuantity,
    ql: &LmQuality,
    weighed: &[Weighed],
    pilots: &[LmPilot],
    best_i: usize,
    cfg: &AssessConfig,
) -> Recommendation {
    let mut reasons = Vec::new();
    let a = &as_is.eval;
    reasons.push(format!(
        "as it is: perplexity {:.2} on your eval text (95% CI {:.2}-{:.2}, {} documents), {:.2} on everyday English (Tatoeba): {:.1}x",
        a.perplexity, a.ci.lower, a.ci.upper, a.documents, as_is.reference.perplexity, as_is.ratio
    ));
    let material: Vec<&Weighed> = weighed.iter().filter(|w| w.material).collect();
    if !material.is_empty() {
        reasons.extend(material.iter().map(|w| format!("data finding: {}", w.effect)));
        return Recommendation {
            verdict: Verdict::FixDataFirst,
            headline: "Fix the data first: eval documents also in train change the measured perplexity".into(),
            reasons,
        };
    }
    for w in weighed {
        reasons.push(format!("data finding, too small to matter: {}", w.effect));
    }
    if ql.duplicate_docs + ql.near_duplicate_docs > 0 {
        reasons.push(format!(
            "training documents: {} exact and {} near duplicates (they weigh more in training)",
            ql.duplicate_docs, ql.near_duplicate_docs
        ));
    }
    for p in pilots.iter().skip(1) {
        let v = p.vs_as_is.as_ref();
        reasons.push(format!(
            "{}: perplexity {:.2} (95% CI {:.2}-{:.2}) after {} steps on {} blocks, {:+.1}% against as-is (paired bootstrap p = {:.3}){}",
            p.strategy,
            p.scored.perplexity,
            p.scored.ci.lower,
            p.scored.ci.upper,
            p.steps,
            p.blocks,
            100.0 * (p.scored.perplexity / a.perplexity - 1.0),
            v.map(|v| v.p_value).unwrap_or(1.0),
            match &p.vs_best {
                None => ", best".to_string(),
                Some(b) => format!(", p = {:.3} against the best", b.p_value),
            }
        ));
    }
    reasons.push(format!(
        "text: {:.2} tokens per word, {:.2}% bare-byte tokens, {} of the documents longer than the {}-token context",
        cx.tokens_per_word,
        100.0 * cx.byte_token_rate,
        cx.docs_over_context,
        cx.context
    ));
    if qn.curve.len() >= 2 {
        let pts: Vec<String> = qn.curve.iter().map(|(n, p)| format!("{n} blocks {p:.2}")).collect();
        reasons.push(format!("learning curve (same steps, growing data): {}", pts.join(", ")));
    }
    if let Some(note) = &qn.curve_note {
        reasons.push(format!("{note} (a longer --budget runs it)"));
    }
    let best = &pilots[best_i];
    // A pilot improves when its drop is significant (paired bootstrap over documents) and at
    // least `min_gain` of the as-is perplexity: a consistent but tiny drop is no reason to
    // train. (The as-is interval's half-width is no yardstick for an effect: it measures how
    // documents differ from each other, which the paired test already takes out.)
    let gain = |p: &LmPilot| 1.0 - p.scored.perplexity / a.perplexity;
    let improves = |p: &LmPilot| p.vs_as_is.as_ref().is_some_and(|v| v.p_value < cfg.alpha) && gain(p) >= cfg.min_gain;
    if best_i == 0 || !improves(best) {
        let why = if best_i == 0 {
            format!(
                "no pilot lowers the perplexity on your text (best as it is, {:.2})",
                a.perplexity
            )
        } else {
            format!(
                "no pilot lowers the perplexity on your text significantly by {:.0}% or more (best {} {:.2} against {:.2}, {:+.1}%, paired p = {:.3})",
                100.0 * cfg.min_gain,
                best.strategy,
                best.scored.perplexity,
                a.perplexity,
                -100.0 * gain(best),
                best.vs_as_is.as_ref().map(|v| v.p_value).unwrap_or(1.0)
            )
        };
        return Recommendation {
            verdict: Verdict::UseAsIs,
            headline: format!("Use the model as it is: {why}"),
            reasons,
        };
    }
    // The cheapest pilot that improves on as-is and is not significantly worse than the best.
    let rank = |s: &str| super::verdict::strategy_rank(s);
    let mut adequate: Vec<&LmPilot> = pilots
        .iter()
        .skip(1)
        .filter(|p| improves(p) && p.vs_best.as_ref().is_none_or(|v| v.p_value >= cfg.alpha))
        .collect();
    adequate.sort_by_key(|p| rank(&p.strategy));
    let choice = adequate.first().copied().unwrap_or(best);
    reasons.push(format!(
        "cost of {}: {:.0} training tokens/s on this machine, one epoch over all {} training tokens ≈ {:.0} s; peak memory {:.0} MiB",
        choice.strategy, choice.tokens_per_s, qn.train_tokens, choice.full_epoch_seconds, choice.peak_rss_mib
    ));
    let still_falling = qn.curve.len() >= 2 && {
        let (last, prev) = (qn.curve[qn.curve.len() - 1].1, qn.curve[qn.curve.len() - 2].1);
        last < prev * 0.99
    };
    if rank(&choice.strategy) >= 4 && still_falling {
        return Recommendation {
            verdict: Verdict::FullFineTuneOrRetrain,
            headline: format!(
                "Continue pre-training with full fine-tuning and more data: only {} reaches the best perplexity ({:.2}), and the curve is still falling",
                choice.strategy, best.scored.perplexity
            ),
            reasons,
        };
    }
    Recommendation {
        verdict: Verdict::FineTune {
            strategy: choice.strategy.clone(),
        },
        headline: format!(
            "Continue pre-training with {}: perplexity {:.2} against {:.2} as it is, the cheapest strategy not significantly worse than the best ({} at {:.2})",
            choice.strategy, choice.scored.perplexity, a.perplexity, best.strategy, best.scored.perplexity
        ),
        reasons,
    }
}
