//! `retune finetune --task translate`: fine-tune or retrain (from scratch) a Marian model.

use retune_train::translate::{train_translator, PairTexts, TranslateConfig};

use super::data_args::PairKind;
use super::finetune_args::{write_summary, FinetuneArgs};
use super::train_bar::{field, TrainBar};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn read_pairs(args: &FinetuneArgs, spec: &str, name: &str) -> Result<PairTexts> {
    args.pairs.read(spec, name, PairKind::Translation, &args.data)
}

/// Runs the translation fine-tune.
pub fn run(args: FinetuneArgs) -> Result<()> {
    let (model_dir, dev) = args.model.resolve()?;
    let train = read_pairs(&args, &args.train, "train")?;
    let eval = read_pairs(&args, &args.eval, "eval")?;
    let test = match &args.test {
        Some(t) => Some(read_pairs(&args, t, "test")?),
        None => None,
    };
    let cfg = TranslateConfig {
        strategy: args.strategy(),
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
        target_lang: args.pairs.languages(PairKind::Translation).1,
        ..Default::default()
    };
    let bar = TrainBar::new("pairs");
    let (summary, state) = train_translator(
        &model_dir,
        &train,
        &eval,
        &cfg,
        Some(&args.out),
        args.resume.as_deref(),
        &dev,
        |e| {
            bar.event(e, |step, r| {
                format!("step {step}: BLEU {:.2} chrF {:.2}", field(r, "bleu"), field(r, "chrf"))
            })
        },
    )?;
    bar.finish();
    let test_eval = match &test {
        Some(t) => Some(retune_train::translate::evaluate_translation(&state, t, &cfg, &dev)?),
        None => None,
    };
    if write_summary(&args.out, &summary, &test_eval, args.json)? {
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
