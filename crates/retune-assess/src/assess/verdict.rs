//! The verdict of an assessment, for every task: whether anything beats the trivial baseline,
//! whether the data must be fixed first, whether the model's own head is good enough, and
//! otherwise the cheapest pilot not significantly worse than the best (paired bootstrap on the
//! same eval rows). Every reason cites a measured figure.

use retune_metrics::significance::PairedResult;
use serde::Serialize;

use super::{AssessConfig, Judged, Pilot};
use crate::audit::LabelNoise;

/// The verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The model (its own head) is good enough.
    UseAsIs,
    /// Fine-tune with this (cheapest adequate) strategy.
    FineTune {
        /// The strategy.
        strategy: String,
    },
    /// Full fine-tune for longer with more data, or retrain.
    FullFineTuneOrRetrain,
    /// The data is the problem.
    FixDataFirst,
}

/// The recommendation with its evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Recommendation {
    /// The verdict.
    pub verdict: Verdict,
    /// One line.
    pub headline: String,
    /// The measured figures behind it.
    pub reasons: Vec<String>,
}

/// What a task measured, as the verdict reads it.
pub struct Evidence<'a, S> {
    /// The headline metric's name (`accuracy`, `entity F1`).
    pub metric: &'a str,
    /// What a training row is (`rows`, `sentences`).
    pub unit: &'a str,
    /// The pilots, each with its paired test against the best.
    pub pilots: &'a [Pilot<S>],
    /// Index of the best pilot.
    pub best_i: usize,
    /// The trivial baseline: what it does (`always predicting the most frequent label`), its
    /// short name, its score (fraction), and the best pilot against it (paired bootstrap).
    pub baseline: (&'a str, &'a str, f64, PairedResult),
    /// The frozen features' own figures (`probe 51.2%, 10-NN 49.0%`).
    pub frozen: String,
    /// The checkpoint's own head and the paired test of it against the best pilot.
    pub existing: Option<(&'a S, PairedResult)>,
    /// Label noise of the training split.
    pub noise: Option<&'a LabelNoise>,
    /// Data findings whose effect on training or evaluation is material, each with its figure.
    pub blocking: Vec<String>,
    /// Baselines for the reasons (`majority 50.0%, 10-NN on frozen features 71.2%`).
    pub baselines: String,
    /// Predicted score with twice the training data and the gain over the last curve point.
    pub predicted_at_2x: Option<(f64, f64)>,
    /// Rows of the whole training split.
    pub train_rows: usize,
    /// The settings (alpha, target).
    pub cfg: &'a AssessConfig,
}

/// Cost order of strategies: the cheapest adequate one is recommended.
pub(crate) fn strategy_rank(s: &str) -> usize {
    match s.split(':').next().unwrap_or(s) {
        "probe" => 0,
        "head" => 1,
        "lora" => 2,
        "top" => 3,
        "full" => 4,
        _ => 5,
    }
}

/// The decision rules.
pub fn decide<S: Judged>(e: &Evidence<S>) -> Recommendation {
    let cfg = e.cfg;
    let best = &e.pilots[e.best_i];
    let pct = |x: f64| 100.0 * x;
    let metric = e.metric;
    let mut reasons = Vec::new();
    let (what, base_name, base_value, vs_base) = &e.baseline;
    // Does anything learn? Compare the best pilot with the trivial baseline.
    if vs_base.p_value >= cfg.alpha || best.scored.value() - base_value < 0.02 {
        reasons.push(format!(
            "no strategy beats {what}: best pilot ({}) {:.1}% vs {base_name} {:.1}% (paired bootstrap p = {:.3})",
            best.strategy,
            pct(best.scored.value()),
            pct(*base_value),
            vs_base.p_value
        ));
        reasons.push(format!("frozen features carry no signal either: {}", e.frozen));
        if let Some(n) = e.noise {
            reasons.push(format!(
                "confident learning estimates {:.0}% of training labels wrong (out-of-fold probe accuracy {:.1}%)",
                pct(n.noise_rate_estimate),
                pct(n.probe_oof_accuracy)
            ));
        }
        reasons.extend(e.blocking.iter().map(|h| format!("data finding: {h}")));
        return Recommendation {
            verdict: Verdict::FixDataFirst,
            headline: "Fix the data first: fine-tuning does not help, the labels are not learnable from these texts"
                .into(),
            reasons,
        };
    }
    if !e.blocking.is_empty() {
        reasons.extend(e.blocking.iter().map(|h| format!("data finding: {h}")));
        reasons.push(format!(
            "after that, the best pilot was {} at {:.1}% {metric}",
            best.strategy,
            pct(best.scored.value())
        ));
        return Recommendation {
            verdict: Verdict::FixDataFirst,
            headline: "Fix the data first: the audit found problems that distort training or evaluation".into(),
            reasons,
        };
    }
    let target_met = |v: f64| cfg.target.as_ref().map(|(_, t)| v >= *t);
    if let Some((h, vs)) = &e.existing {
        let (hv, bv) = (h.value(), best.scored.value());
        if vs.p_value >= cfg.alpha || hv >= bv || target_met(hv) == Some(true) {
            reasons.push(format!(
                "the model's own head scores {:.1}% {metric} (95% CI {:.1}-{:.1}); the best pilot ({}) {:.1}%, difference not significant (p = {:.3})",
                pct(hv),
                h.ci().lower,
                h.ci().upper,
                best.strategy,
                pct(bv),
                vs.p_value
            ));
            return Recommendation {
                verdict: Verdict::UseAsIs,
                headline: "Use the model as it is: training does not measurably improve it".into(),
                reasons,
            };
        }
        reasons.push(format!(
            "the model's own head scores {:.1}% {metric}, significantly below the best pilot's {:.1}% (p = {:.3})",
            pct(hv),
            pct(bv),
            vs.p_value
        ));
    }
    // The cheapest strategy not significantly worse than the best.
    let mut adequate: Vec<&Pilot<S>> = e
        .pilots
        .iter()
        .filter(|p| p.vs_best.as_ref().is_none_or(|v| v.p_value >= cfg.alpha))
        .collect();
    adequate.sort_by_key(|p| strategy_rank(&p.strategy));
    let choice = adequate.first().copied().unwrap_or(best);
    for p in e.pilots {
        let sig = match &p.vs_best {
            None => "best".to_string(),
            Some(v) => format!(
                "{} than the best (p = {:.3})",
                if v.p_value < cfg.alpha {
                    "significantly worse"
                } else {
                    "not significantly different"
                },
                v.p_value
            ),
        };
        reasons.push(format!(
            "{}: {:.1}% {metric} (95% CI {:.1}-{:.1}), {sig}",
            p.strategy,
            pct(p.scored.value()),
            p.scored.ci().lower,
            p.scored.ci().upper
        ));
    }
    reasons.push(format!("baselines: {}", e.baselines));
    if let Some((p2, gain)) = e.predicted_at_2x {
        reasons.push(format!(
            "probe learning curve: twice the data would bring {:+.1} points (to {:.1}%)",
            pct(gain),
            pct(p2)
        ));
    }
    if choice.epochs > 0 {
        reasons.push(format!(
            "cost of {}: {:.0} {unit}/s on this machine, one epoch over all {} training {unit} ≈ {:.0} s; peak memory {:.0} MiB",
            choice.strategy,
            choice.rows_per_s,
            e.train_rows,
            choice.full_epoch_seconds,
            choice.peak_rss_mib,
            unit = e.unit
        ));
    }
    if let Some(t) = target_met(best.scored.value()) {
        reasons.push(format!(
            "target {} >= {:.3}: {} by the best pilot ({:.3})",
            cfg.target.as_ref().map(|t| t.0.as_str()).unwrap_or(metric),
            cfg.target.as_ref().map(|t| t.1).unwrap_or(0.0),
            if t { "reached" } else { "not reached" },
            best.scored.value()
        ));
    }
    let full_needed = strategy_rank(&choice.strategy) >= 4;
    let more_data_helps = e.predicted_at_2x.is_some_and(|(_, g)| g >= 0.01);
    if full_needed && (more_data_helps || target_met(best.scored.value()) == Some(false)) {
        return Recommendation {
            verdict: Verdict::FullFineTuneOrRetrain,
            headline: format!(
                "Full fine-tune, longer and with more data: only {} reaches the best {metric}, and the curve is still rising",
                choice.strategy
            ),
            reasons,
        };
    }
    Recommendation {
        verdict: Verdict::FineTune {
            strategy: choice.strategy.clone(),
        },
        headline: format!(
            "Fine-tune with {}: the cheapest strategy not significantly worse than the best ({} at {:.1}% {metric})",
            choice.strategy,
            best.strategy,
            pct(best.scored.value())
        ),
        reasons,
    }
}
