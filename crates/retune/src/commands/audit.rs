//! `retune audit`: what is wrong with the data before training on it.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use retune_assess::audit::{
    audit_classification, audit_tagging, audit_translation, AuditOptions, AuditReport, Severity,
};
use retune_data::tagged::{read_tagged_spec_in, InputScheme};
use retune_data::{read_pair_dataset, LabelSet, PairColumns};
use retune_models::hub;

use super::model_args::DeviceArgs;
use std::time::Duration;

use super::data_args::{report_skipped, DataArgs};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// Training data (e.g. `train.tsv`, `a.jsonl,b.jsonl`, `train.tsv[:6000]`).
    #[arg(long)]
    pub train: String,
    /// Evaluation data (checked for leakage from train).
    #[arg(long)]
    pub eval: Option<String>,
    /// Test data (checked for leakage from train).
    #[arg(long)]
    pub test: Option<String>,
    /// A model folder or hub id: adds token lengths, unknown tokens, fertility and label noise.
    #[arg(long)]
    pub model: Option<String>,
    /// `classify`, `translate` or `ner` (token tags: JSONL with `tokens` and `ner_tags`, CoNLL
    /// columns, or one sentence of tags a line).
    #[arg(long, default_value = "classify")]
    pub task: String,
    /// Source column (translation).
    #[arg(long, default_value = "en")]
    pub source_column: String,
    /// Target column (translation); its language picks the expected script.
    #[arg(long, default_value = "zh")]
    pub target_column: String,
    /// Target language (translation), e.g. `zh`; default the target column's name.
    #[arg(long)]
    pub target_lang: Option<String>,
    /// Near-duplicate threshold (Jaccard of word sets).
    #[arg(long, default_value_t = 0.8)]
    pub near_dup_threshold: f64,
    /// `--task ner`: the tag scheme of the files (iob2, iob1, bioes, bmes), converted to IOB2 on
    /// read (a tag that breaks it is an error naming its line). Default: tags kept as they are,
    /// and their violations reported.
    #[arg(long)]
    pub scheme: Option<InputScheme>,
    /// Folds of the out-of-fold probe for label noise.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Print everything as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Where the model runs.
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The audit options from the flags.
fn options(args: &AuditArgs) -> Result<AuditOptions> {
    let mut o = AuditOptions {
        device: args.device.device()?,
        ..Default::default()
    };
    o.checks.near_dup_threshold = args.near_dup_threshold;
    o.folds = args.folds.max(2);
    Ok(o)
}

/// Runs the command.
pub fn run(args: AuditArgs) -> Result<()> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let report = match args.task.as_str() {
        "classify" => {
            let train = args.data.read(&args.train, None)?;
            let labels: LabelSet = train.label_set()?;
            let mut splits = vec![("train", train)];
            for (name, spec) in [("eval", &args.eval), ("test", &args.test)] {
                if let Some(s) = spec {
                    splits.push((name, args.data.read(s, Some(&labels))?));
                }
            }
            let refs: Vec<(&str, &retune_data::TextDataset)> = splits.iter().map(|(n, d)| (*n, d)).collect();
            let model = args.model.as_deref().map(hub::resolve).transpose()?;
            audit_classification(&refs, &labels, model.as_deref(), None, &options(&args)?, |m| {
                bar.set_message(m.to_string())
            })?
        }
        "translate" => {
            let cols = PairColumns {
                source: args.source_column.clone(),
                target: args.target_column.clone(),
            };
            let mut splits = Vec::new();
            for (name, spec) in [
                ("train", Some(&args.train)),
                ("eval", args.eval.as_ref()),
                ("test", args.test.as_ref()),
            ] {
                if let Some(s) = spec {
                    let ds = read_pair_dataset(s, &cols, &args.data.options(None)?)?;
                    report_skipped(s, &ds.skipped);
                    splits.push((name, ds));
                }
            }
            let refs: Vec<(&str, &retune_data::PairDataset)> = splits.iter().map(|(n, d)| (*n, d)).collect();
            let lang = args.target_lang.clone().unwrap_or_else(|| args.target_column.clone());
            audit_translation(&refs, &lang, &options(&args)?)?
        }
        "ner" => {
            let mut corpora = Vec::new();
            for (name, spec) in [
                ("train", Some(&args.train)),
                ("eval", args.eval.as_ref()),
                ("test", args.test.as_ref()),
            ] {
                if let Some(s) = spec {
                    corpora.push((name, read_tagged_spec_in(s, None, args.scheme)?));
                }
            }
            let refs: Vec<(&str, &retune_data::tagged::TaggedCorpus)> = corpora.iter().map(|(n, c)| (*n, c)).collect();
            let model = args.model.as_deref().map(hub::resolve).transpose()?;
            bar.set_message("checking tags");
            audit_tagging(&refs, model.as_deref(), None, &options(&args)?, |m| {
                bar.set_message(m.to_string())
            })?
        }
        other => return Err(format!("--task {other}: use classify, translate or ner").into()),
    };
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The terminal summary: sizes, then the findings worst first with example rows.
pub fn print_report(r: &AuditReport) {
    for s in &r.splits {
        let counts: Vec<String> = s.class_counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!(
            "{:<6} {:>7} rows  {}  median {} words",
            s.name,
            s.audit.summary.rows,
            counts.join(", "),
            s.audit.lengths.words.median
        );
    }
    for (name, p) in &r.pairs {
        println!("{name:<6} {:>7} pairs", p.summary.rows);
    }
    for (name, a) in &r.tagged {
        let types: Vec<String> = a.types.iter().map(|(k, t)| format!("{k}: {}", t.entities)).collect();
        println!(
            "{name:<6} {:>7} sentences {:>8} tokens  {} tags  entities {}",
            a.sentences,
            a.tokens,
            a.scheme,
            types.join(", ")
        );
    }
    for t in &r.token_fit {
        println!(
            "{:<6} tokens: median {}, p95 {}, max {} (model max {}); unknown {:.2}%; {:.2} pieces/word",
            t.split,
            t.median_tokens,
            t.p95_tokens,
            t.max_tokens,
            r.max_positions.unwrap_or(0),
            100.0 * t.unk_rate,
            t.fertility
        );
    }
    if r.findings.is_empty() {
        println!("no findings");
    }
    for f in &r.findings {
        let tag = match f.severity {
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "low",
        };
        println!("[{tag}] {}", f.message);
        for row in &f.rows {
            println!("    {row}");
        }
    }
}
