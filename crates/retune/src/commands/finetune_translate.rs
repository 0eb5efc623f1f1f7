//! `retune finetune --task translate`: fine-tune or retrain (from scratch) a Marian model.

use indicatif::{ProgressBar, ProgressStyle};
use retune_data::{read_pair_dataset, PairColumns};
use retune_models::{hub, Device};
use retune_train::trainer::LoopEvent;
use retune_train::translate::{train_translator, PairTexts, TranslateConfig};

use super::data_args::report_skipped;
use super::finetune::FinetuneArgs;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn read_pairs(args: &FinetuneArgs, spec: &str, name: &str) -> Result<PairTexts> {
    let cols = PairColumns {
        source: args.source_column.clone().unwrap_or_else(|| args.source_lang.clone()),
        target: args.target_column.clone().unwrap_or_else(|| args.target_lang.clone()),
    };
    let ds = read_pair_dataset(spec, &cols, &args.data.options(None)?)?;
    report_skipped(spec, &ds.skipped);
    if ds.examples.is_empty() {
        return Err(format!("{spec}: no rows").into());
    }
    Ok(PairTexts {
        name: name.into(),
        sources: ds.examples.iter().map(|e| e.source.clone()).collect(),
        targets: ds.examples.iter().map(|e| e.target.clone()).collect(),
    })
}

/// Runs the translation fine-tune.
pub fn run(args: FinetuneArgs) -> Result<()> {
    let model_dir = hub::resolve(&args.model)?;
    let train = read_pairs(&args, &args.train, "train")?;
    let eval = read_pairs(&args, &args.eval, "eval")?;
    let test = match &args.test {
        Some(t) => Some(read_pairs(&args, t, "test")?),
        None => None,
    };
    let cfg = TranslateConfig {
        strategy: args.strategy.clone(),
        train: args.loop_config(),
        lr: args.lr,
        label_smoothing: if args.label_smoothing > 0.0 {
            args.label_smoothing
        } else {
            0.1
        },
        max_length: args.max_length,
        num_beams: args.beams,
        eval_rows: args.eval_rows,
        target_lang: args.target_lang.clone(),
        ..Default::default()
    };
    let dev = Device::Cpu;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (summary, state) = train_translator(
        &model_dir,
        &train,
        &eval,
        &cfg,
        Some(&args.out),
        args.resume.as_deref(),
        &dev,
        |e| match e {
            LoopEvent::Start {
                total_steps, from_step, ..
            } => {
                bar.set_length(*total_steps as u64);
                bar.set_position(*from_step as u64);
            }
            LoopEvent::Step {
                step,
                loss,
                lr,
                rows_per_s,
            } => {
                bar.set_position(*step as u64);
                bar.set_message(format!("loss {loss:.4} lr {lr:.2e} {rows_per_s:.1} pairs/s"));
            }
            LoopEvent::Eval { step, record, .. } => bar.println(format!(
                "step {step}: BLEU {:.2} chrF {:.2}",
                record["bleu"].as_f64().unwrap_or(f64::NAN),
                record["chrf"].as_f64().unwrap_or(f64::NAN)
            )),
        },
    )?;
    bar.finish_and_clear();
    let test_eval = match &test {
        Some(t) => Some(retune_train::translate::evaluate_translation(&state, t, &cfg, &dev)?),
        None => None,
    };
    let mut json = serde_json::to_value(&summary)?;
    json["test"] = serde_json::to_value(&test_eval)?;
    std::fs::write(args.out.join("summary.json"), serde_json::to_vec_pretty(&json)?)
        .map_err(|e| format!("{}: {e}", args.out.join("summary.json").display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "{} translation training: {} steps, {:.1} pairs/s, {:.0}s training",
        cfg.strategy, summary.run.steps, summary.run.rows_per_s, summary.run.train_seconds
    );
    println!(
        "eval BLEU before {:.2} -> best {:.2} (chrF before {:.2}); {}",
        summary.before.bleu,
        summary.run.best.map(|b| b.0).unwrap_or(f64::NAN),
        summary.before.chrf,
        summary.before.signature
    );
    if let Some(t) = &test_eval {
        println!("test BLEU {:.2} chrF {:.2} ({} rows)", t.bleu, t.chrf, t.rows);
    }
    if let Some(d) = &summary.run.best_dir {
        println!("best model: {}", d.display());
    }
    Ok(())
}
