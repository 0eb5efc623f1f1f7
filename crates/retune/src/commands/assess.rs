//! `retune assess`: does this pretrained model need fine-tuning or retraining for my task and
//! data? Measures the four angles, runs pilot fine-tunes, recommends, and writes a report.

use super::model_args::DeviceArgs;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use retune_assess::assess::{
    assess_candidates, assess_classification, assess_lm, assess_ner, assess_ner_candidates, AssessConfig, BudgetTask,
};
use retune_assess::rank::RankConfig;
use retune_assess::report;
use retune_data::tagged::{read_tagged_spec_in, InputScheme};
use retune_models::hub;
use retune_train::strategy::Strategy;
use std::path::PathBuf;
use std::time::Duration;

use super::data_args::{read_documents, DataArgs, PairArgs, PairKind};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune assess`.
#[derive(Args)]
pub struct AssessArgs {
    /// The model (folder or hub id). Repeat it to choose among candidates: they are ranked
    /// from frozen features (as `retune rank`), the top two assessed with pilots and compared.
    #[arg(long = "model", required = true)]
    pub models: Vec<String>,
    /// Device flags.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// With several models: pilots for every candidate, not only the top two.
    #[arg(long)]
    pub pilot_all: bool,
    /// With several models: training rows (sentences for `--task ner`) sampled for the
    /// ranking's estimates. Default: 6% of the training rows, at least 100, at most 1000.
    #[arg(long)]
    pub rank_rows: Option<usize>,
    /// `classify`, `ner`, `lm` (a causal LM on documents: continued pre-training or not),
    /// `translate` (a Marian model on source/target pairs) or `summarize` (document → summary:
    /// a Marian model directly, a causal LM prompted).
    #[arg(long, default_value = "classify")]
    pub task: String,
    /// `--task ner`: the tag scheme of the files (iob2, iob1, bioes, bmes), converted to IOB2 on
    /// read. Default iob2.
    #[arg(long)]
    pub scheme: Option<InputScheme>,
    /// Training data.
    #[arg(long)]
    pub train: String,
    /// Evaluation data: every strategy is scored on the same rows.
    #[arg(long)]
    pub eval: String,
    /// Time budget, e.g. `10m`, `90s`, `1h`: sets the pilots' sizes (`AssessConfig::for_budget`:
    /// classification under 7m 1,500 rows, under 30m 4,000, more 8,000 and a from-scratch
    /// pilot; NER 500 / 1,500 / 4,000 sentences).
    #[arg(long, default_value = "10m")]
    pub budget: String,
    /// The goal, e.g. `accuracy>=0.85` (classification), `f1>=0.5` (NER, entity micro-F1) or
    /// `chrf>=45` / `bleu>=20` (translation, judged against the as-is interval).
    #[arg(long)]
    pub target: Option<String>,
    /// Pilot strategies, comma-separated (default by budget: probe,head,lora,full[,scratch]).
    #[arg(long, value_delimiter = ',')]
    pub strategies: Option<Vec<Strategy>>,
    /// Training rows (sentences for NER) per pilot fine-tune (overrides the budget's choice).
    #[arg(long)]
    pub pilot_rows: Option<usize>,
    /// Training rows for features, the learning curve and label noise (overrides the budget's).
    #[arg(long)]
    pub feature_rows: Option<usize>,
    /// Longest input in tokens (default 128; for `--task lm` the block size, default 256).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// `--task lm`: the smallest relative perplexity drop that counts as an improvement (a pilot
    /// must also be significantly better than the model as it is). Default 0.05.
    #[arg(long)]
    pub min_gain: Option<f64>,
    /// `--task lm`: the general reference text (one document a line, or a table's text column)
    /// instead of the 200 bundled Tatoeba sentences.
    #[arg(long)]
    pub reference: Option<String>,
    /// `--task translate`: peak learning rate of every pilot (default: 5e-4 for lora, 1e-4 for
    /// top:K, 5e-5 for full).
    #[arg(long)]
    pub lr: Option<f64>,
    /// `--task translate`: epochs of each pilot. Default 1.
    #[arg(long)]
    pub pilot_epochs: Option<usize>,
    /// Translation columns and languages (`--task translate`).
    #[command(flatten)]
    pub pairs: PairArgs,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Report folder: `report.html`, `report.md`, `assessment.json` (for NER each pilot's tags
    /// in `predictions/STRATEGY.tags`, a sentence a line; for translation each system's outputs
    /// in `translations/STRATEGY.txt`, a row a line, for `retune eval`).
    #[arg(long, default_value = "runs/assess")]
    pub out: PathBuf,
    /// Print the assessment as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Seconds of a budget like `10m`, `90s`, `1h`, `600`.
pub fn parse_budget(s: &str) -> Result<f64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("--budget {s}: write e.g. 10m, 90s or 1h"))?;
    let mult = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("--budget {s}: unit must be s, m or h").into()),
    };
    if v <= 0.0 {
        return Err(format!("--budget {s}: must be positive").into());
    }
    Ok(v * mult)
}

/// `(metric, value)` of a target like `accuracy>=0.85`; `metric` is the task's headline metric
/// (`accuracy` for classification, `f1` for NER).
pub fn parse_target(s: &str, metric: &str) -> Result<(String, f64)> {
    let (m, v) = s
        .split_once(">=")
        .ok_or_else(|| format!("--target {s}: write METRIC>=VALUE, e.g. {metric}>=0.85"))?;
    let m = m.trim().to_string();
    if m != metric {
        return Err(format!("--target {s}: the metric of this task is {metric}").into());
    }
    let mut v: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("--target {s}: VALUE must be a number"))?;
    if v > 1.0 {
        v /= 100.0;
    }
    Ok((m, v))
}

/// Runs the command.
pub fn run(args: AssessArgs) -> Result<()> {
    let metric = match args.task.as_str() {
        "classify" => "accuracy",
        "ner" => "f1",
        "lm" => "perplexity",
        "translate" | "summarize" => "chrf",
        other => {
            return Err(format!("--task {other}: assess measures classify, ner, lm, translate and summarize").into())
        }
    };
    let budget = parse_budget(&args.budget)?;
    let device = args.device.device()?;
    let dirs: Vec<PathBuf> = args
        .models
        .iter()
        .map(|m| hub::resolve(m))
        .collect::<std::result::Result<_, _>>()?;
    let model_dir = dirs[0].clone();
    if dirs.len() > 1 && args.task != "classify" && args.task != "ner" {
        return Err(format!(
            "--task {}: choosing among several --model runs for classify and ner",
            args.task
        )
        .into());
    }
    let task = match args.task.as_str() {
        "ner" => BudgetTask::Ner,
        "lm" => BudgetTask::Lm,
        "translate" => BudgetTask::Translate,
        "summarize" => BudgetTask::Summarize,
        _ => BudgetTask::Classify,
    };
    let sized = AssessConfig::for_budget(budget, task);
    let target = match (&args.target, task) {
        (Some(t), BudgetTask::Translate) if t.trim_start().starts_with("bleu") => Some(parse_target(t, "bleu")?),
        (Some(t), _) => Some(parse_target(t, metric)?),
        (None, _) => None,
    };
    let mut cfg = AssessConfig {
        seed: args.seed,
        lr: args.lr,
        pilot_epochs: args.pilot_epochs.unwrap_or(sized.pilot_epochs),
        max_length: args
            .max_length
            .unwrap_or(if matches!(task, BudgetTask::Lm | BudgetTask::Summarize) {
                sized.max_length
            } else {
                128
            }),
        target,
        device: device.clone(),
        pilot_rows: args.pilot_rows.unwrap_or(sized.pilot_rows),
        feature_rows: args.feature_rows.unwrap_or(sized.feature_rows),
        min_gain: args.min_gain.unwrap_or(sized.min_gain),
        ..sized
    };
    if !(0.0..1.0).contains(&cfg.min_gain) {
        return Err(format!("--min-gain {}: a fraction from 0 to below 1", cfg.min_gain).into());
    }
    if let Some(s) = &args.strategies {
        cfg.strategies = s.clone();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} assess: {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut on = |m: &str| bar.set_message(m.to_string());
    // The report in its three forms and the assessment as JSON.
    let (html, md, term, json) = if args.task == "translate" || args.task == "summarize" {
        let kind = if args.task == "translate" {
            PairKind::Translation
        } else {
            PairKind::Summary
        };
        let train = args.pairs.read(&args.train, "train", kind, &args.data)?;
        let eval = args.pairs.read(&args.eval, "eval", kind, &args.data)?;
        let (src_lang, tgt_lang) = args.pairs.languages(kind);
        let wordnet = if retune_metrics::generation::is_english(&tgt_lang) {
            match retune_metrics::wordnet::WordNet::load(&retune_metrics::wordnet::default_dir()) {
                Ok(w) => Some(std::sync::Arc::new(w)),
                Err(e) => {
                    eprintln!("note: METEOR left out: {e}");
                    None
                }
            }
        } else {
            None
        };
        let a = if kind == PairKind::Translation {
            let langs = (src_lang.as_str(), tgt_lang.as_str());
            retune_assess::assess::assess_translation(&model_dir, &train, &eval, langs, wordnet, &cfg, &mut on)?
        } else {
            retune_assess::assess::assess_summarization(&model_dir, &train, &eval, &tgt_lang, wordnet, &cfg, &mut on)?
        };
        let dir = args.out.join(if kind == PairKind::Translation {
            "translations"
        } else {
            "summaries"
        });
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for p in &a.pilots {
            let path = dir.join(format!("{}.txt", p.strategy.replace(':', "-")));
            let lines: Vec<String> = p
                .scored
                .hypotheses
                .iter()
                .map(|t| t.replace('\n', " ") + "\n")
                .collect();
            std::fs::write(&path, lines.concat()).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        (
            report::generation::html(&a),
            report::generation::markdown(&a),
            report::generation::terminal(&a),
            serde_json::to_string_pretty(&a)?,
        )
    } else if args.task == "lm" {
        if args.target.is_some() {
            return Err("--target: --task lm judges by significance against the model as it is".into());
        }
        let docs = |spec: &str| -> Result<Vec<String>> {
            let ds = read_documents(spec, &args.data.text_column, &args.data.options(None)?)?;
            Ok(ds.examples.into_iter().map(|e| e.text).collect())
        };
        let (train, eval) = (docs(&args.train)?, docs(&args.eval)?);
        let reference = args.reference.as_deref().map(docs).transpose()?;
        let a = assess_lm(&model_dir, &train, &eval, reference.as_deref(), &cfg, &mut on)?;
        (
            report::lm::html(&a),
            report::lm::markdown(&a),
            report::lm::terminal(&a),
            serde_json::to_string_pretty(&a)?,
        )
    } else if args.task == "ner" && dirs.len() > 1 {
        let read = |spec: &str| read_tagged_spec_in(spec, None, args.scheme);
        let (train, eval) = (read(&args.train)?, read(&args.eval)?);
        let rank = RankConfig {
            rows: args.rank_rows,
            max_length: cfg.max_length,
            seed: args.seed,
            device: device.clone(),
            ..Default::default()
        };
        let a = assess_ner_candidates(&dirs, &train, &eval, &cfg, &rank, args.pilot_all, &mut on)?;
        (
            report::candidates::html(&a),
            report::candidates::markdown(&a),
            report::candidates::terminal(&a),
            serde_json::to_string_pretty(&a)?,
        )
    } else if args.task == "ner" {
        let read = |spec: &str| read_tagged_spec_in(spec, None, args.scheme);
        let (train, eval) = (read(&args.train)?, read(&args.eval)?);
        let a = assess_ner(&model_dir, &train, &eval, &cfg, &mut on)?;
        // Each pilot's tags, a sentence a line, for `retune eval seqeval --pred`.
        let dir = args.out.join("predictions");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for p in &a.pilots {
            let path = dir.join(format!("{}.tags", p.strategy.replace(':', "-")));
            let lines: Vec<String> = p.scored.predictions.iter().map(|t| t.join(" ") + "\n").collect();
            std::fs::write(&path, lines.concat()).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        (
            report::ner::html(&a),
            report::ner::markdown(&a),
            report::ner::terminal(&a),
            serde_json::to_string_pretty(&a)?,
        )
    } else if dirs.len() > 1 {
        let train = args.data.read(&args.train, None)?;
        let labels = train.label_set()?;
        let eval = args.data.read(&args.eval, Some(&labels))?;
        let rank = RankConfig {
            rows: args.rank_rows,
            max_length: cfg.max_length,
            seed: args.seed,
            device,
            ..Default::default()
        };
        let a = assess_candidates(&dirs, &train, &eval, &labels, &cfg, &rank, args.pilot_all, &mut on)?;
        (
            report::candidates::html(&a),
            report::candidates::markdown(&a),
            report::candidates::terminal(&a),
            serde_json::to_string_pretty(&a)?,
        )
    } else {
        let train = args.data.read(&args.train, None)?;
        let labels = train.label_set()?;
        let eval = args.data.read(&args.eval, Some(&labels))?;
        let a = assess_classification(&model_dir, &train, &eval, &labels, &cfg, &mut on)?;
        (
            report::html(&a),
            report::markdown(&a),
            report::terminal(&a),
            serde_json::to_string_pretty(&a)?,
        )
    };
    bar.finish_and_clear();
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let write = |name: &str, body: &str| -> Result<PathBuf> {
        let p = args.out.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    };
    let html = write("report.html", &html)?;
    write("report.md", &md)?;
    write("assessment.json", &json)?;
    if args.json {
        println!("{json}");
    } else {
        print!("{term}");
        println!("report: {}", html.display());
    }
    Ok(())
}
