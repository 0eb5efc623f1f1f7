//! `retune eval`: corpus metrics from line-aligned files, as sacrebleu / rouge-score / nltk
//! compute them, with bootstrap intervals and paired tests.

use clap::{Args, Subcommand, ValueEnum};
use retune_metrics::bleu::{Bleu, BleuConfig, Smooth};
use retune_metrics::chrf::{Chrf, ChrfConfig};
use retune_metrics::classify::{ClassScore, ClassificationMetric, ClassificationReport};
use retune_metrics::corpus::{corpus_stats, Resampling, SegmentMetric, SegmentStats};
use retune_metrics::io::read_lines;
use retune_metrics::mean::{MeanColumn, MeteorMetric, RougeMetric};
use retune_metrics::meteor::{Meteor, MeteorParams};
use retune_metrics::rouge::RougeType;
use retune_metrics::significance::{self, BootstrapCi};
use retune_metrics::ter::{Ter, TerOptions};
use retune_metrics::tokenizers::Tokenizer;
use retune_metrics::wordnet::{self, WordNet};
use retune_metrics::MetricsError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune eval`.
#[derive(Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    metric: Metric,
}

#[derive(Subcommand)]
enum Metric {
    /// Corpus BLEU (sacrebleu 2.6.0).
    Bleu(BleuArgs),
    /// chrF / chrF++ (sacrebleu 2.6.0).
    Chrf(ChrfArgs),
    /// Translation edit rate (sacrebleu 2.6.0 TER).
    Ter(TerArgs),
    /// Mean ROUGE precision / recall / F-measure (rouge-score 0.1.2).
    Rouge(RougeArgs),
    /// Mean METEOR (nltk 3.10.4 meteor_score on whitespace tokens, WordNet 3.0).
    Meteor(MeteorArgs),
    /// Accuracy, precision / recall / F1 per class and averaged, MCC, confusion matrix.
    Classify(ClassifyArgs),
    /// Paired significance test of systems against a baseline (sacrebleu --paired-bs / --paired-ar).
    Compare(CompareArgs),
}

/// Inputs and reporting options shared by the text metrics.
#[derive(Args, Clone)]
struct Common {
    /// Hypothesis file, one segment a line (`-` for standard input).
    #[arg(long = "hyp", short = 'i', value_name = "FILE")]
    hyp: PathBuf,
    /// Reference file, line-aligned with the hypotheses; repeat for several references.
    #[arg(long = "ref", short = 'r', value_name = "FILE", required = true)]
    refs: Vec<PathBuf>,
    /// Bootstrap 95% confidence interval (sacrebleu's resamples: numpy default_rng(seed)).
    #[arg(long)]
    ci: bool,
    /// Bootstrap resamples for --ci.
    #[arg(long, default_value_t = significance::DEFAULT_BOOTSTRAP)]
    n_bootstrap: usize,
    /// Seed of the resampling (sacrebleu's SACREBLEU_SEED default).
    #[arg(long, default_value_t = significance::DEFAULT_SEED)]
    seed: u64,
    /// Decimals in the text output.
    #[arg(long, short = 'w', default_value_t = 2)]
    width: usize,
    /// Machine-readable JSON on standard output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BleuOpts {
    /// Tokenizer: 13a (default), zh, intl, char, none.
    #[arg(long, default_value = "13a")]
    tokenize: Tokenizer,
    /// Smoothing: exp, floor, add-k, none.
    #[arg(long, default_value = "exp")]
    smooth: String,
    /// Smoothing value for floor (0.1) and add-k (1).
    #[arg(long)]
    smooth_value: Option<f64>,
    /// Highest n-gram order.
    #[arg(long, default_value_t = 4)]
    max_ngram_order: usize,
}

impl BleuOpts {
    fn metric(&self, lowercase: bool, effective_order: bool) -> Result<Bleu> {
        if self.max_ngram_order == 0 {
            return Err("--max-ngram-order must be at least 1".into());
        }
        Ok(Bleu::new(BleuConfig {
            lowercase,
            tokenize: self.tokenize,
            smooth: Smooth::from_name(&self.smooth, self.smooth_value)?,
            max_ngram_order: self.max_ngram_order,
            effective_order,
        }))
    }
}

#[derive(Args)]
struct BleuArgs {
    #[command(flatten)]
    common: Common,
    /// Lower-case before scoring.
    #[arg(long, short = 'l')]
    lowercase: bool,
    #[command(flatten)]
    opts: BleuOpts,
    /// Score every line on its own (sentence BLEU, effective order), one line of output each.
    #[arg(long)]
    sentence: bool,
}

#[derive(Args)]
struct ChrfOpts {
    /// Character n-gram order.
    #[arg(long, default_value_t = 6)]
    char_order: usize,
    /// Word n-gram order (2 gives chrF++).
    #[arg(long, default_value_t = 0)]
    word_order: usize,
    /// Recall weight.
    #[arg(long = "beta", default_value_t = 2)]
    chrf_beta: u32,
    /// Keep whitespace in character n-grams.
    #[arg(long)]
    whitespace: bool,
    /// chrF++.py epsilon smoothing instead of effective order.
    #[arg(long)]
    eps_smoothing: bool,
}

impl ChrfOpts {
    fn metric(&self, lowercase: bool) -> Result<Chrf> {
        if self.char_order + self.word_order == 0 {
            return Err("chrF needs --char-order or --word-order above 0".into());
        }
        Ok(Chrf::new(ChrfConfig {
            char_order: self.char_order,
            word_order: self.word_order,
            beta: self.chrf_beta,
            lowercase,
            whitespace: self.whitespace,
            eps_smoothing: self.eps_smoothing,
        }))
    }
}

#[derive(Args)]
struct ChrfArgs {
    #[command(flatten)]
    common: Common,
    /// Lower-case before scoring.
    #[arg(long, short = 'l')]
    lowercase: bool,
    #[command(flatten)]
    opts: ChrfOpts,
}

#[derive(Args)]
struct TerOpts {
    /// Keep case (TER lower-cases by default).
    #[arg(long)]
    case_sensitive: bool,
    /// tercom's normalization (punctuation and number splitting).
    #[arg(long)]
    normalized: bool,
    /// Remove punctuation.
    #[arg(long)]
    no_punct: bool,
    /// Split Asian characters (with --normalized).
    #[arg(long)]
    asian_support: bool,
}

impl TerOpts {
    fn metric(&self) -> Ter {
        Ter::new(TerOptions {
            normalized: self.normalized,
            no_punct: self.no_punct,
            asian_support: self.asian_support,
            case_sensitive: self.case_sensitive,
        })
    }
}

#[derive(Args)]
struct TerArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    opts: TerOpts,
}

#[derive(Args)]
struct RougeOpts {
    /// Porter-stem tokens longer than 3 characters (rouge-score's use_stemmer).
    #[arg(long)]
    stem: bool,
    /// Comma-separated ROUGE types.
    #[arg(long, default_value = "rouge1,rouge2,rougeL,rougeLsum", value_delimiter = ',')]
    types: Vec<String>,
    /// A marker that stands for a sentence break in the files (e.g. `<n>`), turned into a newline
    /// before scoring so that rougeLsum sees the sentences.
    #[arg(long, value_name = "TEXT")]
    newline_marker: Option<String>,
}

impl RougeOpts {
    fn metric(&self) -> Result<RougeMetric> {
        let types = self
            .types
            .iter()
            .map(|t| t.trim().parse::<RougeType>())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if types.is_empty() {
            return Err("--types needs at least one ROUGE type".into());
        }
        let mut m = RougeMetric::new(types, self.stem);
        m.newline_marker = self.newline_marker.clone();
        Ok(m)
    }
}

#[derive(Args)]
struct RougeArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    opts: RougeOpts,
}

#[derive(Args)]
struct MeteorOpts {
    /// WordNet 3.0 database folder (Debian's wordnet-base); default $WORDNET_DIR or /usr/share/wordnet.
    #[arg(long, value_name = "DIR")]
    wordnet: Option<PathBuf>,
    /// Weight of precision against recall in the harmonic mean.
    #[arg(long, default_value_t = 0.9)]
    alpha: f64,
    /// Shape of the fragmentation penalty.
    #[arg(long = "meteor-beta", default_value_t = 3.0)]
    meteor_beta: f64,
    /// Weight of the fragmentation penalty.
    #[arg(long, default_value_t = 0.5)]
    gamma: f64,
}

impl MeteorOpts {
    fn metric(&self) -> Result<MeteorMetric> {
        let dir = self.wordnet.clone().unwrap_or_else(wordnet::default_dir);
        let wn =
            WordNet::load(&dir).map_err(|e| format!("{e} (install Debian's wordnet-base or pass --wordnet DIR)"))?;
        let params = MeteorParams {
            alpha: self.alpha,
            beta: self.meteor_beta,
            gamma: self.gamma,
        };
        Ok(MeteorMetric {
            meteor: Meteor::with_params(Arc::new(wn), params),
        })
    }
}

#[derive(Args)]
struct MeteorArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    opts: MeteorOpts,
}

#[derive(Args)]
struct ClassifyArgs {
    /// Predicted labels, one a line.
    #[arg(long)]
    pred: PathBuf,
    /// Gold labels, one a line.
    #[arg(long)]
    gold: PathBuf,
    /// Number the --ci interval is computed for: accuracy, macro-f1, weighted-f1, mcc.
    #[arg(long, default_value = "accuracy")]
    score: ClassScore,
    /// Bootstrap 95% confidence interval.
    #[arg(long)]
    ci: bool,
    /// Bootstrap resamples for --ci.
    #[arg(long, default_value_t = significance::DEFAULT_BOOTSTRAP)]
    n_bootstrap: usize,
    /// Seed of the resampling.
    #[arg(long, default_value_t = significance::DEFAULT_SEED)]
    seed: u64,
    /// Machine-readable JSON on standard output.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompareMetric {
    Bleu,
    Chrf,
    Ter,
    Rouge,
    Meteor,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum TestKind {
    /// Paired bootstrap resampling.
    Bs,
    /// Paired approximate randomization.
    Ar,
}

#[derive(Args)]
struct CompareArgs {
    /// The metric to compare on.
    #[arg(long, default_value = "bleu")]
    metric: CompareMetric,
    /// Baseline system's output.
    #[arg(long)]
    baseline: PathBuf,
    /// Another system's output; repeat for several.
    #[arg(long = "system", required = true)]
    systems: Vec<PathBuf>,
    /// Reference file; repeat for several references.
    #[arg(long = "ref", short = 'r', required = true)]
    refs: Vec<PathBuf>,
    /// bs (paired bootstrap, 1000 resamples) or ar (approximate randomization, 10000 trials).
    #[arg(long, default_value = "bs")]
    test: TestKind,
    /// Resamples or trials (0 = sacrebleu's default for the test).
    #[arg(long, default_value_t = 0)]
    samples: usize,
    /// Seed.
    #[arg(long, default_value_t = significance::DEFAULT_SEED)]
    seed: u64,
    /// Lower-case before scoring (BLEU, chrF).
    #[arg(long, short = 'l')]
    lowercase: bool,
    #[command(flatten)]
    bleu: BleuOpts,
    #[command(flatten)]
    chrf: ChrfOpts,
    #[command(flatten)]
    ter: TerOpts,
    #[command(flatten)]
    rouge: RougeOpts,
    #[command(flatten)]
    meteor: MeteorOpts,
    /// Decimals in the text output.
    #[arg(long, short = 'w', default_value_t = 2)]
    width: usize,
    /// Machine-readable JSON on standard output.
    #[arg(long)]
    json: bool,
}

/// Runs `retune eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    match args.metric {
        Metric::Bleu(a) => run_bleu(a),
        Metric::Chrf(a) => {
            let m = a.opts.metric(a.lowercase)?;
            let sig = |r| m.signature(Some(a.common.refs.len()), r);
            run_simple(&a.common, &m, &sig)
        }
        Metric::Ter(a) => {
            let m = a.opts.metric();
            let sig = |r| m.signature(Some(a.common.refs.len()), r);
            run_simple(&a.common, &m, &sig)
        }
        Metric::Rouge(a) => run_rouge(a),
        Metric::Meteor(a) => {
            let m = a.opts.metric()?;
            let o = &a.opts;
            let sig = |_r: Resampling| {
                format!(
                    "nrefs:{}|alpha:{}|beta:{}|gamma:{}|tok:whitespace|nltk:3.10.4",
                    a.common.refs.len(),
                    o.alpha,
                    o.meteor_beta,
                    o.gamma
                )
            };
            run_simple(&a.common, &m, &sig)
        }
        Metric::Classify(a) => run_classify(a),
        Metric::Compare(a) => run_compare(a),
    }
}

/// Hypotheses and reference streams, checked to be line-aligned.
fn load(hyp: &Path, refs: &[PathBuf]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let hyps = read_lines(hyp)?;
    let mut streams = Vec::with_capacity(refs.len());
    for r in refs {
        let lines = read_lines(r)?;
        if lines.len() != hyps.len() {
            return Err(MetricsError::LineCount {
                path: r.clone(),
                found: lines.len(),
                expected_from: hyp.to_path_buf(),
                expected: hyps.len(),
            }
            .into());
        }
        streams.push(lines);
    }
    Ok((hyps, streams))
}

fn ci_of(metric: &dyn SegmentMetric, stats: &SegmentStats, common: &Common) -> Result<Option<BootstrapCi>> {
    if !common.ci {
        return Ok(None);
    }
    if stats.is_empty() {
        return Err("--ci: cannot resample an empty corpus".into());
    }
    if common.n_bootstrap < 2 {
        return Err("--n-bootstrap must be at least 2".into());
    }
    Ok(Some(significance::bootstrap_ci(
        metric,
        stats,
        common.n_bootstrap,
        common.seed,
    )))
}

fn resampling(common: &Common) -> Resampling {
    if common.ci {
        Resampling {
            bootstrap: Some(common.n_bootstrap),
            ar: None,
            seed: Some(common.seed),
        }
    } else {
        Resampling::default()
    }
}

/// sacrebleu's `Score.format`: `NAME = 12.34 (μ = 12.30 ± 0.50) VERBOSE`.
fn score_line(name: &str, score: f64, ci: Option<&BootstrapCi>, verbose: &str, w: usize) -> String {
    let mut s = format!("{name} = {score:.w$}");
    if let Some(ci) = ci {
        s += &format!(" (μ = {:.w$} ± {:.w$})", ci.mean, ci.half_width);
    }
    if !verbose.is_empty() {
        s += " ";
        s += verbose;
    }
    s
}

fn ci_json(ci: &Option<BootstrapCi>) -> Value {
    match ci {
        Some(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        None => Value::Null,
    }
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn run_bleu(a: BleuArgs) -> Result<()> {
    let (hyps, refs) = load(&a.common.hyp, &a.common.refs)?;
    let w = a.common.width;
    if a.sentence {
        if a.common.ci {
            return Err("--ci is not available with --sentence".into());
        }
        let m = a.opts.metric(a.lowercase, true)?;
        let mut out = Vec::new();
        for (i, h) in hyps.iter().enumerate() {
            let r: Vec<&str> = refs.iter().map(|s| s[i].as_str()).collect();
            let s = m.sentence_score(h, &r);
            if a.common.json {
                out.push(json!({"line": i + 1, "score": s.score, "verbose_score": s.verbose()}));
            } else {
                println!("{}", score_line("BLEU", s.score, None, &s.verbose(), w));
            }
        }
        if a.common.json {
            print_json(
                &json!({"name": "BLEU", "signature": m.signature(Some(refs.len()), Resampling::default()), "sentences": out}),
            )?;
        }
        return Ok(());
    }
    let m = a.opts.metric(a.lowercase, false)?;
    let stats = corpus_stats(&m, &hyps, &refs);
    let s = m.compute(&stats.sum());
    let ci = ci_of(&m, &stats, &a.common)?;
    let sig = m.signature(Some(refs.len()), resampling(&a.common));
    if a.common.json {
        print_json(&json!({
            "name": "BLEU", "score": s.score, "signature": sig, "verbose_score": s.verbose(),
            "counts": s.counts, "totals": s.totals, "precisions": s.precisions, "bp": s.bp,
            "ratio": s.ratio(), "sys_len": s.sys_len, "ref_len": s.ref_len,
            "segments": hyps.len(), "ci": ci_json(&ci),
        }))
    } else {
        println!("{}", score_line("BLEU", s.score, ci.as_ref(), &s.verbose(), w));
        println!("signature: {sig}");
        Ok(())
    }
}

/// A metric whose report is one number: chrF, TER, METEOR.
fn run_simple(common: &Common, m: &dyn SegmentMetric, sig: &dyn Fn(Resampling) -> String) -> Result<()> {
    let (hyps, refs) = load(&common.hyp, &common.refs)?;
    let stats = corpus_stats(m, &hyps, &refs);
    let score = m.score_from_stats(&stats.sum());
    let ci = ci_of(m, &stats, common)?;
    let sig = sig(resampling(common));
    if common.json {
        print_json(
            &json!({"name": m.name(), "score": score, "signature": sig, "segments": hyps.len(), "ci": ci_json(&ci)}),
        )
    } else {
        println!("{}", score_line(&m.name(), score, ci.as_ref(), "", common.width));
        println!("signature: {sig}");
        Ok(())
    }
}

fn run_rouge(a: RougeArgs) -> Result<()> {
    let m = a.opts.metric()?;
    let (hyps, refs) = load(&a.common.hyp, &a.common.refs)?;
    let stats = corpus_stats(&m, &hyps, &refs);
    let means = m.means(&stats.sum());
    let w = a.common.width;
    let mut rows = Vec::new();
    for (t, (ty, s)) in m.scorer.types().iter().zip(&means).enumerate() {
        let col = MeanColumn {
            base: &m,
            column: 3 * t + 2,
            scale: 100.0,
            label: ty.to_string(),
        };
        let ci = ci_of(&col, &stats, &a.common)?;
        if a.common.json {
            rows.push(json!({"type": ty.to_string(), "precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure, "ci_fmeasure": ci_json(&ci)}));
        } else {
            let verbose = format!("(P = {:.w$} R = {:.w$})", 100.0 * s.precision, 100.0 * s.recall);
            println!(
                "{}",
                score_line(&ty.to_string(), 100.0 * s.fmeasure, ci.as_ref(), &verbose, w)
            );
        }
    }
    let sig = format!(
        "nrefs:{}|stem:{}|agg:mean|rouge-score:0.1.2",
        refs.len(),
        if a.opts.stem { "yes" } else { "no" }
    );
    if a.common.json {
        print_json(&json!({"name": "ROUGE", "scores": rows, "signature": sig, "segments": hyps.len()}))
    } else {
        println!("signature: {sig}");
        Ok(())
    }
}

fn run_classify(a: ClassifyArgs) -> Result<()> {
    let pred = read_lines(&a.pred)?;
    let gold = read_lines(&a.gold)?;
    if pred.len() != gold.len() {
        return Err(MetricsError::LineCount {
            path: a.pred.clone(),
            found: pred.len(),
            expected_from: a.gold.clone(),
            expected: gold.len(),
        }
        .into());
    }
    let report = ClassificationReport::from_labels(&pred, &gold);
    let ci = if a.ci {
        if pred.is_empty() {
            return Err("--ci: cannot resample an empty file".into());
        }
        let m = ClassificationMetric::new(report.labels.clone(), a.score);
        let refs = vec![gold.clone()];
        let stats = corpus_stats(&m, &pred, &refs);
        Some(significance::bootstrap_ci(&m, &stats, a.n_bootstrap, a.seed))
    } else {
        None
    };
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["ci"] = ci_json(&ci);
        return print_json(&v);
    }
    println!("examples: {}", report.n);
    let pct = |x: f64| format!("{:.2}", 100.0 * x);
    println!("accuracy: {}", pct(report.accuracy));
    println!("MCC:      {:.4}", report.mcc);
    if let Some(ci) = ci {
        println!(
            "{} 95% CI: {:.2} .. {:.2} (μ = {:.2} ± {:.2}, {} resamples, seed {})",
            a.score_name(),
            ci.lower,
            ci.upper,
            ci.mean,
            ci.half_width,
            ci.n_samples,
            ci.seed
        );
    }
    let width = report
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(5)
        .max(12);
    println!("\n{:>width$}  precision  recall     f1  support", "");
    for (l, p) in report.labels.iter().zip(&report.per_class) {
        println!(
            "{:>width$}  {:>9}  {:>6}  {:>5}  {:>7}",
            l,
            pct(p.precision),
            pct(p.recall),
            pct(p.f1),
            p.support
        );
    }
    for (name, p) in [
        ("macro avg", &report.macro_avg),
        ("weighted avg", &report.weighted_avg),
        ("micro avg", &report.micro_avg),
    ] {
        println!(
            "{:>width$}  {:>9}  {:>6}  {:>5}  {:>7}",
            name,
            pct(p.precision),
            pct(p.recall),
            pct(p.f1),
            p.support
        );
    }
    println!("\nconfusion matrix (rows: gold, columns: predicted)");
    print!("{:>width$}", "");
    for l in &report.labels {
        print!("  {l:>7}");
    }
    println!();
    for (l, row) in report.labels.iter().zip(&report.confusion) {
        print!("{l:>width$}");
        for c in row {
            print!("  {c:>7}");
        }
        println!();
    }
    Ok(())
}

impl ClassifyArgs {
    fn score_name(&self) -> &'static str {
        match self.score {
            ClassScore::Accuracy => "accuracy",
            ClassScore::MacroF1 => "macro-F1",
            ClassScore::WeightedF1 => "weighted-F1",
            ClassScore::Mcc => "MCC",
        }
    }
}

fn run_compare(a: CompareArgs) -> Result<()> {
    let (bl_hyps, refs) = load(&a.baseline, &a.refs)?;
    let nrefs = Some(refs.len());
    let (metric, sig_fields): (Box<dyn SegmentMetric>, SignatureFn) = match a.metric {
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
            let m2 = m.clone();
            (Box::new(m), Box::new(move |r| m2.signature(nrefs, r)))
        }
        CompareMetric::Rouge => (
            Box::new(a.rouge.metric()?),
            Box::new(move |_| format!("nrefs:{}|agg:mean|rouge-score:0.1.2", refs_len(nrefs))),
        ),
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
    let bl_ci = significance::bootstrap_ci(metric.as_ref(), &bl, significance::DEFAULT_BOOTSTRAP, a.seed);
    let mut rows = vec![
        json!({"system": a.baseline.display().to_string(), "baseline": true, "score": metric.score_from_stats(&bl.sum()), "ci": bl_ci}),
    ];
    for s in &a.systems {
        let (hyps, _) = load(s, &[])?;
        if hyps.len() != bl_hyps.len() {
            return Err(MetricsError::LineCount {
                path: s.clone(),
                found: hyps.len(),
                expected_from: a.baseline.clone(),
                expected: bl_hyps.len(),
            }
            .into());
        }
        let st = corpus_stats(metric.as_ref(), &hyps, &refs);
        let r = match a.test {
            TestKind::Bs => significance::paired_bootstrap(metric.as_ref(), &bl, &st, n, a.seed),
            TestKind::Ar => {
                significance::paired_ar(metric.as_ref(), &bl, &st, n, significance::DEFAULT_BOOTSTRAP, a.seed)
            }
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
            bootstrap: Some(significance::DEFAULT_BOOTSTRAP),
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
        let ci_s = format!(
            "{:.w$} ± {:.w$}",
            ci["mean"].as_f64().unwrap_or(f64::NAN),
            ci["half_width"].as_f64().unwrap_or(f64::NAN)
        );
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

fn refs_len(n: Option<usize>) -> usize {
    n.unwrap_or(0)
}
