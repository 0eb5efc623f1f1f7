//! `retune finetune`: fine-tune a classifier with one of the strategies, continue fine-tuning a
//! fine-tuned model on new data (measuring what it forgets), or retrain a translation model.

use clap::Args;
use retune_data::LabelSet;
use retune_models::config::BertConfig;
use retune_models::{hub, Device};
use retune_train::batching::SplitMix;
use retune_train::classify::{
    evaluate_texts, train_classifier, ClassifyConfig, ClassifyJob, LabeledTexts, SelectMetric,
};
use retune_train::schedule::ScheduleKind;
use retune_train::strategy::Strategy;
use retune_train::trainer::LoopConfig;
use std::path::PathBuf;

use super::data_args::{labeled, DataArgs};
use super::train_bar::{field, TrainBar};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune finetune`.
#[derive(Args)]
pub struct FinetuneArgs {
    /// Model folder or hub id (`org/name[@revision]`).
    #[arg(long)]
    pub model: String,
    /// `classify` (BERT + head) or `translate` (Marian seq2seq).
    #[arg(long, default_value = "classify")]
    pub task: String,
    /// Training data, e.g. `train.tsv`, `a.jsonl,b.jsonl`, `train.tsv[:6000]`.
    #[arg(long)]
    pub train: String,
    /// Evaluation data (picks the best checkpoint, drives early stopping).
    #[arg(long)]
    pub eval: String,
    /// Test data, evaluated once with the best model.
    #[arg(long)]
    pub test: Option<String>,
    /// Run folder: best model (`best/`), checkpoints, `log.jsonl`, `summary.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// probe, head, top:K, lora[:r], full, scratch.
    #[arg(long, default_value = "full")]
    pub strategy: Strategy,
    /// Passes over the training data.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Examples per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// Peak learning rate (default by strategy: head/probe 1e-3, lora 5e-4, top 1e-4, full 5e-5, scratch 1e-4).
    #[arg(long)]
    pub lr: Option<f64>,
    /// AdamW weight decay (not on biases and LayerNorm).
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Fraction of steps of linear warmup.
    #[arg(long, default_value_t = 0.06)]
    pub warmup_ratio: f64,
    /// Decay after warmup: linear, cosine, constant.
    #[arg(long, default_value = "linear")]
    pub schedule: ScheduleKind,
    /// Gradient clipping by global norm (0 = off).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Evaluate every N optimizer steps (default: each epoch).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Stop after N evaluations without improvement.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Metric of the best checkpoint: accuracy or macro_f1.
    #[arg(long, default_value = "accuracy")]
    pub metric: SelectMetric,
    /// Seed of data order, dropout and new weights.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Longest input in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_length: usize,
    /// Label smoothing.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Batches of random lengths (default groups similar lengths to save padding).
    #[arg(long)]
    pub no_group_by_length: bool,
    /// Resume from a checkpoint folder or the run folder (newest checkpoint).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Also evaluate NAME=DATA before and after training (forgetting on an old task).
    #[arg(long, value_name = "NAME=DATA")]
    pub also_eval: Vec<String>,
    /// Mix old examples into training: DATA:FRACTION of the old training set.
    #[arg(long, value_name = "DATA:FRACTION")]
    pub replay: Option<String>,
    /// Source language (translation): also the default source column.
    #[arg(long, default_value = "en")]
    pub source_lang: String,
    /// Target language (translation): also the default target column; `zh` scores BLEU with
    /// sacrebleu's `zh` tokenizer.
    #[arg(long, default_value = "zh")]
    pub target_lang: String,
    /// Source column (translation), e.g. `translation.en`.
    #[arg(long)]
    pub source_column: Option<String>,
    /// Target column (translation), e.g. `zh_hans`.
    #[arg(long)]
    pub target_column: Option<String>,
    /// Beams for evaluating translations.
    #[arg(long, default_value_t = 4)]
    pub beams: usize,
    /// Evaluate translations on at most this many eval rows.
    #[arg(long)]
    pub eval_rows: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

impl FinetuneArgs {
    /// The loop settings from the flags (the learning rate is set by the task).
    pub fn loop_config(&self) -> LoopConfig {
        LoopConfig {
            epochs: self.epochs,
            max_steps: self.max_steps,
            batch_size: self.batch_size,
            grad_accum: self.grad_accum,
            lr: self.lr.unwrap_or(5e-5),
            adamw: retune_train::optim::AdamWConfig {
                weight_decay: self.weight_decay,
                ..Default::default()
            },
            warmup_ratio: self.warmup_ratio,
            schedule: self.schedule,
            max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
            eval_every: self.eval_every,
            patience: self.patience,
            seed: self.seed,
            group_by_length: !self.no_group_by_length,
            ..Default::default()
        }
    }
}

/// The labels of the run: the model's own labels when it is a fine-tuned classifier (new labels
/// in the training data are appended: the head is resized), else the training data's labels.
fn run_labels(config: &BertConfig, train: &retune_data::TextDataset) -> Result<LabelSet> {
    let from_data = train.label_set()?;
    let fine_tuned = config
        .architectures
        .as_ref()
        .is_some_and(|a| a.iter().any(|s| s.contains("ForSequenceClassification")))
        && config.id2label.is_some();
    if !fine_tuned {
        return Ok(from_data);
    }
    let mut names = config.labels();
    for n in from_data.names() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    Ok(LabelSet::from_names(names)?)
}

fn parse_replay(spec: &str) -> Result<(String, f64)> {
    let (data, frac) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("--replay {spec}: write DATA:FRACTION, e.g. old/train.tsv:0.1"))?;
    let f: f64 = frac
        .parse()
        .ok()
        .filter(|f: &f64| *f > 0.0 && *f <= 1.0)
        .ok_or_else(|| format!("--replay {spec}: FRACTION must be in (0, 1]"))?;
    Ok((data.to_string(), f))
}

/// Rewrites `OUT/summary.json` with the test evaluation added and, with `--json`, prints it;
/// returns whether it was printed (then the text summary is skipped).
pub fn write_summary(
    out: &std::path::Path,
    summary: &impl serde::Serialize,
    test: &impl serde::Serialize,
    print_json: bool,
) -> Result<bool> {
    let mut json = serde_json::to_value(summary)?;
    json["test"] = serde_json::to_value(test)?;
    let path = out.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?).map_err(|e| format!("{}: {e}", path.display()))?;
    if print_json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(print_json)
}

/// Runs the command.
pub fn run(args: FinetuneArgs) -> Result<()> {
    match args.task.as_str() {
        "classify" => run_classify(args),
        "translate" => super::finetune_translate::run(args),
        other => Err(format!("--task {other}: use classify or translate").into()),
    }
}

fn run_classify(args: FinetuneArgs) -> Result<()> {
    let model_dir = hub::resolve(&args.model)?;
    let config = BertConfig::from_file(&model_dir.join("config.json"))?;
    let train_ds = args.data.read(&args.train, None)?;
    let labels = run_labels(&config, &train_ds)?;
    let mut train = labeled(&train_ds, &labels, "train")?;
    if let Some(spec) = &args.replay {
        let (data, frac) = parse_replay(spec)?;
        let old_ds = args.data.read(&data, Some(&labels))?;
        let old = labeled(&old_ds, &labels, "replay")?;
        let mut idx: Vec<usize> = (0..old.texts.len()).collect();
        SplitMix(args.seed ^ 0x7e91a7).shuffle(&mut idx);
        idx.truncate(((old.texts.len() as f64) * frac).round().max(1.0) as usize);
        idx.sort();
        for &i in &idx {
            train.texts.push(old.texts[i].clone());
            if let (Some(p), Some(op)) = (&mut train.pairs, &old.pairs) {
                p.push(op[i].clone());
            }
            train.labels.push(old.labels[i]);
        }
        eprintln!("replay: {} of {} old examples mixed in", idx.len(), old.texts.len());
    }
    let eval = labeled(&args.data.read(&args.eval, Some(&labels))?, &labels, "eval")?;
    let mut also_eval = Vec::new();
    for spec in &args.also_eval {
        let (name, data) = spec
            .split_once('=')
            .ok_or_else(|| format!("--also-eval {spec}: write NAME=DATA, e.g. old=rt/validation.tsv"))?;
        also_eval.push(labeled(&args.data.read(data, Some(&labels))?, &labels, name)?);
    }
    let test: Option<LabeledTexts> = match &args.test {
        Some(t) => Some(labeled(&args.data.read(t, Some(&labels))?, &labels, "test")?),
        None => None,
    };
    let config = ClassifyConfig {
        strategy: args.strategy.clone(),
        train: args.loop_config(),
        lr: args.lr,
        metric: args.metric,
        max_length: args.max_length,
        label_smoothing: args.label_smoothing,
        ..Default::default()
    };
    let job = ClassifyJob {
        model_dir: &model_dir,
        labels: labels.names().to_vec(),
        train,
        eval,
        also_eval,
        out: Some(args.out.clone()),
        resume: args.resume.clone(),
        config,
        device: Device::Cpu,
    };
    if args.strategy == Strategy::Probe {
        let run = retune_train::classify::train_probe(&job, Default::default())?;
        let out = serde_json::json!({"strategy": "probe", "eval": run.eval, "also_eval": run.also_eval,
            "feature_seconds": run.feature_seconds, "fit_seconds": run.fit_seconds, "out": args.out});
        if args.json {
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!(
                "probe: eval accuracy {:.4}, macro F1 {:.4} ({} rows); features {:.1}s, fit {:.1}s",
                run.eval.accuracy, run.eval.macro_f1, run.eval.rows, run.feature_seconds, run.fit_seconds
            );
            println!("probe written to {}", args.out.join("probe.json").display());
        }
        return Ok(());
    }
    let bar = TrainBar::new("ex");
    let (summary, state) = train_classifier(job, |e| {
        bar.event(e, |step, r| {
            format!(
                "step {step}: {} accuracy {:.4} macro F1 {:.4} loss {:.4}",
                r["split"].as_str().unwrap_or("eval"),
                field(r, "accuracy"),
                field(r, "macro_f1"),
                field(r, "loss")
            )
        })
    })?;
    bar.finish();
    let test_result = match &test {
        Some(t) => Some(evaluate_texts(&state, t, 64)?),
        None => None,
    };
    if write_summary(&args.out, &summary, &test_result, args.json)? {
        return Ok(());
    }
    println!(
        "{} fine-tune: {} steps, {} of {} parameters trained, {:.1} examples/s, {:.0}s training",
        summary.config.strategy,
        summary.run.steps,
        summary.trainable,
        summary.parameters,
        summary.run.rows_per_s,
        summary.run.train_seconds
    );
    if let Some((v, step)) = summary.run.best {
        println!("best eval {:?} {:.4} at step {step}", summary.config.metric, v);
    }
    for (b, a) in summary.also_eval_before.iter().zip(&summary.also_eval_after) {
        println!(
            "{}: accuracy {:.4} before -> {:.4} after ({:+.4}, forgetting {:.4})",
            b.split,
            b.accuracy,
            a.accuracy,
            a.accuracy - b.accuracy,
            (b.accuracy - a.accuracy).max(0.0)
        );
    }
    if let Some(t) = &test_result {
        println!(
            "test accuracy {:.4}, macro F1 {:.4} ({} rows)",
            t.accuracy, t.macro_f1, t.rows
        );
    }
    if let Some(d) = &summary.run.best_dir {
        println!("best model: {}", d.display());
    }
    Ok(())
}
