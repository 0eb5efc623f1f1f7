//! `retune eval`: corpus metrics from line-aligned files, as sacrebleu / rouge-score / nltk
//! compute them, with bootstrap intervals and paired tests.

use clap::{Args, Subcommand, ValueEnum};
use rayon::prelude::*;
use retune_metrics::bleu::{Bleu, BleuConfig, Smooth};
use retune_metrics::chrf::{Chrf, ChrfConfig};
use retune_metrics::classify::{ClassScore, ClassificationMetric, ClassificationReport};
use retune_metrics::corpus::{corpus_stats, Resampling, SegmentMetric, SegmentStats};
use retune_metrics::io::{read_lines, TextFile};
use retune_metrics::mean::{MeanColumn, MeteorMetric, RougeMetric};
use retune_metrics::meteor::{Meteor, MeteorParams};
use retune_metrics::rouge::{RougeTokenizer, RougeType};
use retune_metrics::significance::{self, BootstrapCi};
use retune_metrics::ter::{Ter, TerOptions};
use retune_metrics::tokenizers::Tokenizer;
use retune_metrics::wordnet::{self, WordNet};
use retune_metrics::MetricsError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod classify;
mod compare;
mod perplexity;
mod seqeval;
mod text;

use classify::*;
use compare::*;
use perplexity::*;
use seqeval::*;
use text::*;

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
    /// Entity-level precision / recall / F1 of NER tags per type and averaged, token accuracy
    /// (seqeval 1.2.2, default or strict mode).
    Seqeval(SeqevalArgs),
    /// Paired significance test of systems against a baseline (sacrebleu --paired-bs / --paired-ar).
    Compare(CompareArgs),
    /// Perplexity of a causal language model over documents (the Hugging Face perplexity guide's
    /// sliding windows with --stride), with a bootstrap interval over documents.
    Perplexity(Box<PerplexityArgs>),
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
        Metric::Seqeval(a) => run_seqeval(a),
        Metric::Compare(a) => run_compare(a),
        Metric::Perplexity(a) => run_perplexity(*a),
    }
}

/// A hypothesis file and its reference files, read in parallel.
struct Corpus {
    hyp: TextFile,
    refs: Vec<TextFile>,
}

impl Corpus {
    fn read(hyp: &Path, refs: &[PathBuf]) -> Result<Corpus> {
        let (hyp, refs) = rayon::join(
            || TextFile::read(hyp),
            || {
                refs.par_iter()
                    .map(|r| TextFile::read(r))
                    .collect::<std::result::Result<Vec<_>, MetricsError>>()
            },
        );
        Ok(Corpus { hyp: hyp?, refs: refs? })
    }

    /// The hypotheses and the reference streams (split in parallel), checked to be line-aligned.
    fn lines(&self) -> Result<(Vec<&str>, Vec<Vec<&str>>)> {
        let (hyps, refs) = rayon::join(
            || self.hyp.lines(),
            || self.refs.par_iter().map(TextFile::lines).collect::<Vec<_>>(),
        );
        let mut streams = Vec::with_capacity(self.refs.len());
        for (r, lines) in self.refs.iter().zip(refs) {
            if lines.len() != hyps.len() {
                return Err(MetricsError::LineCount {
                    path: r.path().to_path_buf(),
                    found: lines.len(),
                    expected_from: self.hyp.path().to_path_buf(),
                    expected: hyps.len(),
                }
                .into());
            }
            streams.push(lines);
        }
        Ok((hyps, streams))
    }
}

/// [`Corpus`]'s lines, owned (for `compare`, whose systems' lines join them).
fn load(hyp: &Path, refs: &[PathBuf]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let corpus = Corpus::read(hyp, refs)?;
    let (hyps, streams) = corpus.lines()?;
    let own = |lines: Vec<&str>| -> Vec<String> { lines.into_iter().map(str::to_string).collect() };
    Ok((own(hyps), streams.into_iter().map(own).collect()))
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

/// `NAME 95% CI: lo .. hi (μ = m ± h, N resamples, seed S)` of a label-file metric.
fn print_ci(name: &str, ci: &BootstrapCi) {
    println!(
        "{name} 95% CI: {:.2} .. {:.2} (μ = {:.2} ± {:.2}, {} resamples, seed {})",
        ci.lower, ci.upper, ci.mean, ci.half_width, ci.n_samples, ci.seed
    );
}

/// Prints the `precision recall f1 support` table (percentages) of named rows; returns the
/// width of the name column.
fn print_prf_table(rows: &[(&str, &retune_metrics::classify::Prf)]) -> usize {
    let width = rows.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(5).max(12);
    let pct = |x: f64| format!("{:.2}", 100.0 * x);
    println!("\n{:>width$}  precision  recall     f1  support", "");
    for (name, p) in rows {
        println!(
            "{:>width$}  {:>9}  {:>6}  {:>5}  {:>7}",
            name,
            pct(p.precision),
            pct(p.recall),
            pct(p.f1),
            p.support
        );
    }
    width
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A metric whose report is one number: chrF, TER, METEOR.
fn run_simple(common: &Common, m: &dyn SegmentMetric, sig: &dyn Fn(Resampling) -> String) -> Result<()> {
    let corpus = Corpus::read(&common.hyp, &common.refs)?;
    let (hyps, refs) = corpus.lines()?;
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

fn refs_len(n: Option<usize>) -> usize {
    n.unwrap_or(0)
}
