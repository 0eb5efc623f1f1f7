//! `retune finetune --task lm`: continued pre-training of a causal LM on documents, or
//! prompt → completion fine-tuning (`--prompt-column`, `--completion-column`).

use retune_train::lm::{train_lm, LmConfig, LmData};
use retune_train::strategy::Strategy;

use super::data_args::read_documents;
use super::finetune_args::{write_summary, FinetuneArgs};
use super::train_bar::{field, TrainBar};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn column(args: &FinetuneArgs, spec: &str, name: &str) -> Result<Vec<String>> {
    let ds = read_documents(spec, name, &args.data.options(None)?)?;
    Ok(ds.examples.into_iter().map(|e| e.text).collect())
}

fn read(args: &FinetuneArgs, spec: &str) -> Result<LmData> {
    Ok(match (&args.prompt_column, &args.completion_column) {
        (Some(p), Some(c)) => LmData::Pairs {
            prompts: column(args, spec, p)?,
            completions: column(args, spec, c)?,
        },
        _ => LmData::Documents(column(args, spec, &args.data.text_column)?),
    })
}

/// Runs the causal-LM fine-tune.
pub fn run(args: FinetuneArgs) -> Result<()> {
    let (model, dev) = args.model.resolve()?;
    let train = read(&args, &args.train)?;
    let eval = read(&args, &args.eval)?;
    let strategy = args.strategy.clone().unwrap_or(Strategy::Lora { r: 8, alpha: 16.0 });
    let mut train_cfg = args.loop_config();
    train_cfg.batch_size = args.batch_size.unwrap_or(8);
    let cfg = LmConfig {
        strategy,
        train: train_cfg,
        lr: args.lr,
        block_size: args.block_size,
        chat: !args.no_chat,
        eval_docs: args.eval_rows,
    };
    let bar = TrainBar::new("blocks");
    let (summary, _lm) = train_lm(
        &model,
        &train,
        &eval,
        &cfg,
        Some(&args.out),
        args.resume.as_deref(),
        &dev,
        |e| {
            bar.event(e, |step, r| {
                format!("step {step}: eval perplexity {:.3}", field(r, "perplexity"))
            })
        },
    )?;
    bar.finish();
    if write_summary(&args.out, &summary, &serde_json::Value::Null, args.json)? {
        return Ok(());
    }
    println!(
        "{} on {} rows ({} target tokens): {} steps, {:.1} rows/s, {:.0}s training",
        cfg.strategy,
        summary.rows,
        summary.target_tokens,
        summary.run.steps,
        summary.run.rows_per_s,
        summary.run.train_seconds
    );
    let best = summary.run.best.map(|b| -b.0).unwrap_or(f64::NAN);
    println!(
        "eval perplexity before {:.3} -> best {:.3}",
        summary.before.perplexity, best
    );
    if let Some(d) = &summary.run.best_dir {
        println!("best model: {}", d.display());
    }
    Ok(())
}
