//! `retune assess --model A --model B ...`: which model, and does it need fine-tuning? The
//! candidates are ranked first from frozen features ([`crate::rank`]); the top two (or all)
//! are then assessed in full — four angles, pilots — on the same eval rows, and the best pilots
//! of the two leading models are compared by a paired bootstrap. The verdict names the model
//! and the strategy, with what ranking and pilots cost.

use retune_data::tagged::TaggedCorpus;
use retune_data::{LabelSet, TextDataset};
use retune_metrics::significance::PairedResult;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::classify::paired;
use super::{assess_classification, assess_ner, best_pilot, AssessConfig, Assessment, NerAssessment, Progress};
use crate::error::{AssessError, Result};
use crate::rank::{rank_classification, rank_tagging, RankConfig, Ranking};

/// What choosing among candidates needs from one model's full assessment (classification:
/// [`Assessment`]; NER: [`NerAssessment`]).
pub trait Assessed: Serialize + Clone {
    /// The headline metric's name (`accuracy`, `entity F1`).
    const METRIC: &'static str;
    /// The model.
    fn model(&self) -> &Path;
    /// The best pilot's strategy and score (fraction).
    fn best(&self) -> Option<(&str, f64)>;
    /// The model's own verdict.
    fn recommendation(&self) -> &super::Recommendation;
    /// Paired bootstrap of `other`'s best pilot (system) against this one's (baseline), on the
    /// same eval rows.
    fn versus(&self, other: &Self, cfg: &AssessConfig) -> Result<PairedResult>;
}

impl Assessed for Assessment {
    const METRIC: &'static str = "accuracy";
    fn model(&self) -> &Path {
        &self.model
    }
    fn best(&self) -> Option<(&str, f64)> {
        best_accuracy(self)
    }
    fn recommendation(&self) -> &super::Recommendation {
        &self.recommendation
    }
    fn versus(&self, other: &Self, cfg: &AssessConfig) -> Result<PairedResult> {
        let best_of = |a: &Assessment| a.pilots[best_pilot(&a.pilots).unwrap_or(0)].scored.clone();
        Ok(paired(&self.labels, &self.gold, &best_of(self), &best_of(other), cfg))
    }
}

impl Assessed for NerAssessment {
    const METRIC: &'static str = "entity F1";
    fn model(&self) -> &Path {
        &self.model
    }
    fn best(&self) -> Option<(&str, f64)> {
        best_pilot(&self.pilots).map(|i| (self.pilots[i].strategy.as_str(), self.pilots[i].scored.f1))
    }
    fn recommendation(&self) -> &super::Recommendation {
        &self.recommendation
    }
    fn versus(&self, other: &Self, cfg: &AssessConfig) -> Result<PairedResult> {
        if self.types != other.types {
            return Err(AssessError::Invalid(
                "the candidates' assessments saw different entity types".into(),
            ));
        }
        let best_of = |a: &NerAssessment| a.pilots[best_pilot(&a.pilots).unwrap_or(0)].scored.clone();
        Ok(super::ner::paired(&best_of(self), &best_of(other), &self.types, cfg))
    }
}

/// The assessment of several candidate models.
#[derive(Clone, Debug, Serialize)]
pub struct CandidatesAssessment<A = Assessment> {
    /// The ranking from frozen features.
    pub ranking: Ranking,
    /// Full assessments of the candidates that got pilots, in ranking order.
    pub assessed: Vec<A>,
    /// The best pilot of the first assessed model against the best of the second (system =
    /// second, baseline = first), when two were assessed.
    pub runner_up_vs_leader: Option<PairedResult>,
    /// The chosen model.
    pub model: PathBuf,
    /// The chosen model's verdict; the headline names the model, the reasons cite the ranking,
    /// the comparison and the model's own evidence.
    pub recommendation: super::Recommendation,
    /// Seconds spent ranking and on the pilots' assessments.
    pub rank_seconds: f64,
    /// Seconds of the full assessments.
    pub assess_seconds: f64,
}

/// The best pilot's strategy and accuracy of an assessment.
pub fn best_accuracy(a: &Assessment) -> Option<(&str, f64)> {
    best_pilot(&a.pilots).map(|i| (a.pilots[i].strategy.as_str(), a.pilots[i].scored.accuracy))
}

impl<A: Assessed> CandidatesAssessment<A> {
    /// The best pilot's strategy and score of `model`, when it was assessed.
    pub fn best_pilot_of(&self, model: &std::path::Path) -> Option<(&str, f64)> {
        self.assessed.iter().find(|x| x.model() == model).and_then(|x| x.best())
    }
}

/// Ranks `models` for tagging, assesses the top two (all with `pilot_all`) with NER pilots and
/// chooses.
#[allow(clippy::too_many_arguments)]
pub fn assess_ner_candidates(
    models: &[PathBuf],
    train: &TaggedCorpus,
    eval: &TaggedCorpus,
    cfg: &AssessConfig,
    rank_cfg: &RankConfig,
    pilot_all: bool,
    progress: Progress,
) -> Result<CandidatesAssessment<NerAssessment>> {
    let t0 = Instant::now();
    let ranking = rank_tagging(models, train, eval, rank_cfg, progress)?;
    let rank_seconds = t0.elapsed().as_secs_f64();
    choose(ranking, rank_seconds, pilot_all, cfg, progress, |dir, p| {
        assess_ner(dir, train, eval, cfg, p)
    })
}

/// Ranks `models` (accuracies cross-validated on the training sample: the ranking reads no
/// eval rows), assesses the top two (all with `pilot_all`) on `eval` and chooses.
#[allow(clippy::too_many_arguments)]
pub fn assess_candidates(
    models: &[PathBuf],
    train: &TextDataset,
    eval: &TextDataset,
    labels: &LabelSet,
    cfg: &AssessConfig,
    rank_cfg: &RankConfig,
    pilot_all: bool,
    progress: Progress,
) -> Result<CandidatesAssessment> {
    let t0 = Instant::now();
    let ranking = rank_classification(models, train, None, labels, rank_cfg, progress)?;
    let rank_seconds = t0.elapsed().as_secs_f64();
    choose(ranking, rank_seconds, pilot_all, cfg, progress, |dir, p| {
        assess_classification(dir, train, eval, labels, cfg, p)
    })
}

/// Assesses the ranking's top two (all with `pilot_all`) with `assess_one`, compares the two
/// leaders' best pilots and writes the verdict naming the model.
fn choose<A: Assessed>(
    ranking: Ranking,
    rank_seconds: f64,
    pilot_all: bool,
    cfg: &AssessConfig,
    progress: Progress,
    mut assess_one: impl FnMut(&Path, Progress) -> Result<A>,
) -> Result<CandidatesAssessment<A>> {
    let take = if pilot_all { ranking.candidates.len() } else { 2 };
    let t1 = Instant::now();
    let mut assessed = Vec::new();
    for c in ranking.candidates.iter().take(take) {
        let name = c.model.display().to_string();
        assessed.push(assess_one(&c.model, &mut |m: &str| progress(&format!("{name}: {m}")))?);
    }
    let assess_seconds = t1.elapsed().as_secs_f64();
    // The leader by best pilot score; the runner-up compared with it on the same rows.
    let mut order: Vec<usize> = (0..assessed.len()).collect();
    order.sort_by(|&a, &b| {
        let v = |i: usize| assessed[i].best().map(|x| x.1).unwrap_or(0.0);
        v(b).total_cmp(&v(a))
    });
    let lead = assessed
        .get(order[0])
        .ok_or_else(|| AssessError::Invalid("no candidate was assessed".into()))?;
    let versus = order.get(1).map(|&j| lead.versus(&assessed[j], cfg)).transpose()?;
    let pct = |x: f64| 100.0 * x;
    let mut reasons = Vec::new();
    for (i, c) in ranking.candidates.iter().enumerate() {
        let pilot = assessed
            .iter()
            .find(|a| a.model() == c.model)
            .and_then(|a| a.best())
            .map(|(s, v)| format!("best pilot {s} {:.1}% {}", pct(v), A::METRIC))
            .unwrap_or_else(|| "no pilots".into());
        reasons.push(format!(
            "rank {}: {} — layer-averaged LogME {:.4}, probe {:.1}%, 10-NN {:.1}%; {pilot}",
            i + 1,
            c.model.display(),
            c.average.logme,
            pct(c.average.probe_accuracy),
            pct(c.average.knn_accuracy)
        ));
    }
    let chosen = lead.model().to_path_buf();
    let headline = match (&versus, order.get(1)) {
        (Some(v), Some(&j)) if v.p_value >= cfg.alpha => {
            reasons.push(format!(
                "{} and {} are not significantly different ({:.1}% vs {:.1}%, paired bootstrap p = {:.3}): either will do; the cheaper to run is the better choice",
                chosen.display(),
                assessed[j].model().display(),
                v.baseline,
                v.score,
                v.p_value
            ));
            format!(
                "{} (tied with {}): {}",
                chosen.display(),
                assessed[j].model().display(),
                lead.recommendation().headline
            )
        }
        (Some(v), Some(&j)) => {
            reasons.push(format!(
                "{} beats {}: {:.1}% vs {:.1}% (paired bootstrap p = {:.3})",
                chosen.display(),
                assessed[j].model().display(),
                v.baseline,
                v.score,
                v.p_value
            ));
            format!("{}: {}", chosen.display(), lead.recommendation().headline)
        }
        _ => format!("{}: {}", chosen.display(), lead.recommendation().headline),
    };
    reasons.extend(lead.recommendation().reasons.iter().cloned());
    reasons.push(format!(
        "ranking took {:.0} s, the full assessments {:.0} s ({:.1}%)",
        rank_seconds,
        assess_seconds,
        100.0 * rank_seconds / assess_seconds.max(1e-9)
    ));
    let verdict = lead.recommendation().verdict.clone();
    Ok(CandidatesAssessment {
        recommendation: super::Recommendation {
            verdict,
            headline,
            reasons,
        },
        model: chosen,
        runner_up_vs_leader: versus,
        ranking,
        assessed,
        rank_seconds,
        assess_seconds,
    })
}
