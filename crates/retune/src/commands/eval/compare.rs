//! `retune eval compare`: paired significance tests of systems against a baseline.

use super::*;
use retune_data::tagged::{read_tagged, TagFormat};
use retune_metrics::seqeval::{SeqevalConfig, SeqevalMetric, SeqevalReport, SeqevalScore};

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum CompareMetric {
    Bleu,
    Chrf,
    Ter,
    Rouge,
    Meteor,
    /// Entity micro-F1 (seqeval 1.2.2, default mode) over sentences; outputs and reference in
    /// any token/tag format `eval seqeval` reads (format from the extension).
    Seqeval,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(super) enum TestKind {
    /// Paired bootstrap resampling.
    Bs,
    /// Paired approximate randomization.
    Ar,
}

#[derive(Args)]
pub(super) struct CompareArgs {
    /// The metric to compare on.
    #[arg(long, default_value = "bleu")]
    pub(super) metric: CompareMetric,
    /// Baseline system's output.
    #[arg(long)]
    pub(super) baseline: PathBuf,
    /// Another system's output; repeat for several.
    #[arg(long = "system", required = true)]
    pub(super) systems: Vec<PathBuf>,
    /// Reference file; repeat for several references.
    #[arg(long = "ref", short = 'r', required = true)]
    pub(super) refs: Vec<PathBuf>,
    /// bs (paired bootstrap, 1000 resamples) or ar (approximate randomization, 10000 trials).
    #[arg(long, default_value = "bs")]
    pub(super) test: TestKind,
    /// Resamples or trials (0 = sacrebleu's default for the test). With bs the 95% intervals
    /// (baseline included) use as many resamples, as sacrebleu's `--paired-bs-n` does.
    #[arg(long, default_value_t = 0)]
    pub(super) samples: usize,
    /// With ar: bootstrap resamples for 95% intervals (sacrebleu's `n_ar_confidence`); 0 = no
    /// intervals, as sacrebleu's command line prints none for `--paired-ar`.
    #[arg(long, default_value_t = 0)]
    pub(super) ar_confidence: usize,
    /// Seed.
    #[arg(long, default_value_t = significance::DEFAULT_SEED)]
    pub(super) seed: u64,
    /// Lower-case before scoring (BLEU, chrF).
    #[arg(long, short = 'l')]
    pub(super) lowercase: bool,
    #[command(flatten)]
    pub(super) bleu: BleuOpts,
    #[command(flatten)]
    pub(super) chrf: ChrfOpts,
    #[command(flatten)]
    pub(super) ter: TerOpts,
    #[command(flatten)]
    pub(super) rouge: RougeOpts,
    #[command(flatten)]
    pub(super) meteor: MeteorOpts,
    /// Decimals in the text output.
    #[arg(long, short = 'w', default_value_t = 2)]
    pub(super) width: usize,
    /// Machine-readable JSON on standard output.
    #[arg(long)]
    pub(super) json: bool,
}

/// A token/tag file's sentences as lines of space-separated tags (the segments of
/// [`SeqevalMetric`]).
fn tag_lines(path: &Path) -> Result<Vec<String>> {
    let c = read_tagged(path, &TagFormat::from_path(path), None)?;
    Ok(c.tags().iter().map(|t| t.join(" ")).collect())
}

/// Every system's output, read as `read` does; a system whose segment count differs from the
/// baseline's is an error naming it.
fn systems_of(
    a: &CompareArgs,
    expected: usize,
    read: &dyn Fn(&Path) -> Result<Vec<String>>,
) -> Result<Vec<Vec<String>>> {
    a.systems
        .iter()
        .map(|s| {
            let hyps = read(s)?;
            if hyps.len() != expected {
                return Err(MetricsError::LineCount {
                    path: s.clone(),
                    found: hyps.len(),
                    expected_from: a.baseline.clone(),
                    expected,
                }
                .into());
            }
            Ok(hyps)
        })
        .collect()
}

pub(super) fn run_compare(a: CompareArgs) -> Result<()> {
    let seqeval = matches!(a.metric, CompareMetric::Seqeval);
    let (bl_hyps, refs) = if seqeval {
        let [gold] = a.refs.as_slice() else {
            return Err("--metric seqeval compares against one reference (--ref)".into());
        };
        let (bl, gold_lines) = (tag_lines(&a.baseline)?, tag_lines(gold)?);
        if bl.len() != gold_lines.len() {
            return Err(MetricsError::LineCount {
                path: gold.clone(),
                found: gold_lines.len(),
                expected_from: a.baseline.clone(),
                expected: bl.len(),
            }
            .into());
        }
        (bl, vec![gold_lines])
    } else {
        load(&a.baseline, &a.refs)?
    };
    let read: &dyn Fn(&Path) -> Result<Vec<String>> = if seqeval { &tag_lines } else { &|p| Ok(read_lines(p)?) };
    let systems = systems_of(&a, bl_hyps.len(), read)?;
    let nrefs = Some(refs.len());
    let (metric, sig_fields): (Box<dyn SegmentMetric>, SignatureFn) = match a.metric {
        CompareMetric::Seqeval => {
            // Entity types of the reference and of every output, as seqeval's report lists them.
            let split = |lines: &[String]| -> Vec<Vec<String>> {
                lines
                    .iter()
                    .map(|l| l.split_whitespace().map(String::from).collect())
                    .collect()
            };
            let gold = split(&refs[0]);
            let mut types = std::collections::BTreeSet::new();
            let named = std::iter::once((&a.baseline, &bl_hyps)).chain(a.systems.iter().zip(&systems));
            for (path, sys) in named {
                let r = SeqevalReport::compute(&split(sys), &gold, &SeqevalConfig::default())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                types.extend(r.types);
            }
            (
                Box::new(SeqevalMetric {
                    types: types.into_iter().collect(),
                    config: SeqevalConfig::default(),
                    score: SeqevalScore::MicroF1,
                }),
                Box::new(|_| "seqeval:1.2.2|mode:default|score:micro-f1".to_string()),
            )
        }
        CompareMetric::Bleu => {
            let m = a.bleu.metric(a.lowercase, false)?;
            let m2 = m.clone();
            (Box::new(m), Box::new(move |r| m2.signature(nrefs, r)))
        }
        CompareMetric::Chrf => {
            let m = a.chrf.metric(a.lowercase)?;
            let m2 = m.clone();
            (Box::new(m), Box::new(move |r| m2.signature(nrefs, r)))
        }
        CompareMetric::Ter => {
            let m = a.ter.metric();
            let m2 = m;
            (Box::new(m), Box::new(move |r| m2.signature(nrefs, r)))
        }
        CompareMetric::Rouge => {
            let m = a.rouge.metric()?;
            let sig = m.signature(refs_len(nrefs));
            (Box::new(m), Box::new(move |_| sig.clone()))
        }
        CompareMetric::Meteor => (
            Box::new(a.meteor.metric()?),
            Box::new(move |_| format!("nrefs:{}|nltk:3.10.4", refs_len(nrefs))),
        ),
    };
    if bl_hyps.is_empty() {
        return Err(format!("{}: no segments to compare", a.baseline.display()).into());
    }
    let n = if a.samples > 0 {
        a.samples
    } else if a.test == TestKind::Bs {
        significance::DEFAULT_BOOTSTRAP
    } else {
        significance::DEFAULT_AR_TRIALS
    };
    let bl = corpus_stats(metric.as_ref(), &bl_hyps, &refs);
    // sacrebleu: the baseline's interval takes the test's resamples (bs) or the AR confidence
    // resamples (none by default).
    let confidence_n = match a.test {
        TestKind::Bs => n,
        TestKind::Ar => a.ar_confidence,
    };
    let bl_ci = (confidence_n > 0).then(|| significance::bootstrap_ci(metric.as_ref(), &bl, confidence_n, a.seed));
    let mut rows = vec![
        json!({"system": a.baseline.display().to_string(), "baseline": true, "score": metric.score_from_stats(&bl.sum()), "ci": bl_ci}),
    ];
    for (s, hyps) in a.systems.iter().zip(&systems) {
        let st = corpus_stats(metric.as_ref(), hyps, &refs);
        let r = match a.test {
            TestKind::Bs => significance::paired_bootstrap(metric.as_ref(), &bl, &st, n, a.seed),
            TestKind::Ar => significance::paired_ar(metric.as_ref(), &bl, &st, n, a.ar_confidence, a.seed),
        };
        rows.push(json!({"system": s.display().to_string(), "baseline": false, "score": r.score, "p_value": r.p_value, "ci": r.ci}));
    }
    let resamp = match a.test {
        TestKind::Bs => Resampling {
            bootstrap: Some(n),
            ar: None,
            seed: Some(a.seed),
        },
        TestKind::Ar => Resampling {
            bootstrap: (a.ar_confidence > 0).then_some(a.ar_confidence),
            ar: Some(n),
            seed: Some(a.seed),
        },
    };
    let sig = sig_fields(resamp);
    if a.json {
        return print_json(
            &json!({"metric": metric.name(), "test": if a.test == TestKind::Bs {"paired-bs"} else {"paired-ar"}, "signature": sig, "systems": rows}),
        );
    }
    let w = a.width;
    let name_w = rows
        .iter()
        .map(|r| r["system"].as_str().unwrap_or("").chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<name_w$}  {:>12}  {:>20}  {:>8}",
        "system",
        metric.name(),
        "95% CI (μ ± half)",
        "p-value"
    );
    for r in &rows {
        let ci = &r["ci"];
        let ci_s = if ci.is_null() {
            "–".to_string()
        } else {
            format!(
                "{:.w$} ± {:.w$}",
                ci["mean"].as_f64().unwrap_or(f64::NAN),
                ci["half_width"].as_f64().unwrap_or(f64::NAN)
            )
        };
        let p = r["p_value"]
            .as_f64()
            .map(|p| format!("{p:.4}{}", if p < 0.05 { " *" } else { "" }))
            .unwrap_or_else(|| "(baseline)".into());
        println!(
            "{:<name_w$}  {:>12.w$}  {:>20}  {:>8}",
            r["system"].as_str().unwrap_or(""),
            r["score"].as_f64().unwrap_or(f64::NAN),
            ci_s,
            p
        );
    }
    println!("signature: {sig}");
    println!("* p < 0.05: significantly different from the baseline");
    Ok(())
}

/// Builds a metric's signature for given resampling settings.
type SignatureFn = Box<dyn Fn(Resampling) -> String>;
