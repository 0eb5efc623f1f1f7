//! `retune finetune`: fine-tune a classifier with one of the strategies, continue fine-tuning a
//! fine-tuned model on new data (measuring what it forgets), or retrain a translation model.

use retune_data::LabelSet;
use retune_models::arch::{Head, ModelConfig};
use retune_train::classify::{evaluate_texts, train_classifier, ClassifyConfig, ClassifyJob, LabeledTexts};
use retune_train::strategy::Strategy;

use super::data_args::labeled;
use super::finetune_args::{write_summary, FinetuneArgs, FinetuneTask};
use super::train_bar::{field, TrainBar};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The labels of the run: the model's own labels when it is a fine-tuned classifier (new labels
/// in the training data are appended: the head is resized), else the training data's labels.
fn run_labels(config: &ModelConfig, train: &retune_data::TextDataset, new_head: bool) -> Result<LabelSet> {
    let from_data = train.label_set()?;
    let fine_tuned = config.checkpoint_head() == Some(Head::SequenceClassification) && config.labels.id2label.is_some();
    let old = (fine_tuned && !new_head).then(|| config.labels.labels());
    Ok(LabelSet::from_names(retune_train::continued::run_labels(
        old.as_deref(),
        from_data.names(),
    ))?)
}

pub(super) fn parse_replay(spec: &str) -> Result<(String, f64)> {
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

/// Runs the command.
pub fn run(args: FinetuneArgs) -> Result<()> {
    match args.task {
        FinetuneTask::Classify => run_classify(args),
        FinetuneTask::Translate => super::finetune_translate::run(args),
        FinetuneTask::Ner => super::finetune_ner::run(args),
        FinetuneTask::Lm => super::finetune_lm::run(args),
    }
}

fn run_classify(args: FinetuneArgs) -> Result<()> {
    let (model_dir, device) = args.model.resolve()?;
    let config = ModelConfig::from_dir(&model_dir)?;
    let train_ds = args.data.read(&args.train, None)?;
    let labels = run_labels(&config, &train_ds, args.new_head)?;
    let mut train = labeled(&train_ds, &labels, "train")?;
    if let Some(spec) = &args.replay {
        let (data, frac) = parse_replay(spec)?;
        let old_ds = args.data.read(&data, Some(&labels))?;
        let old = labeled(&old_ds, &labels, "replay")?;
        let idx = retune_train::continued::replay_rows(old.texts.len(), frac, args.seed);
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
        strategy: args.strategy(),
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
        device,
    };
    if args.strategy() == Strategy::Probe {
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
    for note in &summary.notes {
        println!("note: {note}");
    }
    if let Some((v, step)) = summary.run.best {
        println!("best eval {} {:.4} at step {step}", summary.config.metric, v);
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
