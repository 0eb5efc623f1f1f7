//! `retune finetune --task ner`: fine-tune an encoder as a token classifier on tagged sentences
//! (JSONL with `tokens` + `ner_tags`, or CoNLL columns), selected by entity F1.

use retune_data::tagged::{read_tagged_spec_in, TaggedCorpus};
use retune_models::arch::{Head, ModelConfig};
use retune_train::continued::{replay_rows, run_labels};
use retune_train::tag::{evaluate_tagger, label_list, train_tagger, TagConfig, TagJob, TaggedSentences};

use super::finetune_args::{write_summary, FinetuneArgs};
use super::train_bar::{field, TrainBar};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn sentences(c: &TaggedCorpus, name: &str) -> Result<TaggedSentences> {
    if let Some(i) = c
        .sentences
        .iter()
        .position(|s| s.tokens.is_empty() && !s.tags.is_empty())
    {
        return Err(format!("{}: no tokens (training needs words and tags)", c.location(i)).into());
    }
    Ok(TaggedSentences {
        name: name.into(),
        words: c.sentences.iter().map(|s| s.tokens.clone()).collect(),
        tags: c.tags(),
    })
}

/// Runs the token-classification fine-tune.
pub fn run(args: FinetuneArgs) -> Result<()> {
    let (model_dir, device) = args.model.resolve()?;
    let read = |spec: &str| read_tagged_spec_in(spec, None, args.scheme);
    let mut train = sentences(&read(&args.train)?, "train")?;
    if let Some(spec) = &args.replay {
        let (data, frac) = super::finetune::parse_replay(spec)?;
        let old = sentences(&read(&data)?, "replay")?;
        let idx = replay_rows(old.words.len(), frac, args.seed);
        for &i in &idx {
            train.words.push(old.words[i].clone());
            train.tags.push(old.tags[i].clone());
        }
        eprintln!("replay: {} of {} old sentences mixed in", idx.len(), old.words.len());
    }
    let eval = sentences(&read(&args.eval)?, "eval")?;
    let mut also_eval = Vec::new();
    for spec in &args.also_eval {
        let (name, data) = spec
            .split_once('=')
            .ok_or_else(|| format!("--also-eval {spec}: write NAME=DATA, e.g. old=old/validation.jsonl"))?;
        also_eval.push(sentences(&read(data)?, name)?);
    }
    let test = match &args.test {
        Some(t) => Some(sentences(&read(t)?, "test")?),
        None => None,
    };
    // Continuing from a tagger: its tags keep their ids, the data's new ones follow.
    let config = ModelConfig::from_dir(&model_dir)?;
    let fine_tuned = config.checkpoint_head() == Some(Head::TokenClassification) && config.labels.id2label.is_some();
    let old = (fine_tuned && !args.new_head).then(|| config.labels.labels());
    let labels = run_labels(
        old.as_deref(),
        &label_list(
            train
                .tags
                .iter()
                .chain(&eval.tags)
                .chain(also_eval.iter().flat_map(|d| &d.tags)),
        ),
    );
    let cfg = TagConfig {
        strategy: args.strategy(),
        train: args.loop_config(),
        lr: args.lr,
        max_length: args.max_length,
        label_smoothing: args.label_smoothing,
        ..Default::default()
    };
    let bar = TrainBar::new("sentences");
    let (summary, state) = train_tagger(
        TagJob {
            model_dir: &model_dir,
            labels,
            train,
            eval,
            also_eval,
            out: Some(args.out.clone()),
            resume: args.resume.clone(),
            config: cfg.clone(),
            device,
        },
        |e| bar.event(e, |step, r| format!("step {step}: entity F1 {:.4}", field(r, "f1"))),
    )?;
    bar.finish();
    let test_eval = match &test {
        Some(t) => Some(evaluate_tagger(&state, t, &cfg, summary.run.steps)?),
        None => None,
    };
    if write_summary(&args.out, &summary, &test_eval, args.json)? {
        return Ok(());
    }
    if cfg.strategy == retune_train::strategy::Strategy::Probe {
        println!(
            "probe NER: logistic regression on the frozen encoder's first-sub-word states, {:.0}s (features and fit)",
            summary.run.train_seconds
        );
    } else {
        println!(
            "{} NER training: {} steps, {:.1} windows/s, {:.0}s training",
            cfg.strategy, summary.run.steps, summary.run.rows_per_s, summary.run.train_seconds
        );
    }
    if let Some(e) = summary
        .evals
        .iter()
        .max_by(|a, b| a.report.micro.f1.total_cmp(&b.report.micro.f1))
    {
        println!(
            "best eval: entity F1 {:.2} (P {:.2}, R {:.2}) at step {}",
            100.0 * e.report.micro.f1,
            100.0 * e.report.micro.precision,
            100.0 * e.report.micro.recall,
            e.step
        );
    }
    if let Some(t) = &test_eval {
        println!(
            "test: entity F1 {:.2} (P {:.2}, R {:.2}), token accuracy {:.2}",
            100.0 * t.report.micro.f1,
            100.0 * t.report.micro.precision,
            100.0 * t.report.micro.recall,
            100.0 * t.report.accuracy
        );
        for (ty, p) in t.report.types.iter().zip(&t.report.per_type) {
            println!("  {ty:>16}  F1 {:6.2}  support {}", 100.0 * p.f1, p.support);
        }
    }
    for (b, a) in summary.also_eval_before.iter().zip(&summary.also_eval_after) {
        println!(
            "{}: entity F1 {:.2} before -> {:.2} after ({:+.2}, forgetting {:.2})",
            a.split,
            100.0 * b.report.micro.f1,
            100.0 * a.report.micro.f1,
            100.0 * (a.report.micro.f1 - b.report.micro.f1),
            100.0 * (b.report.micro.f1 - a.report.micro.f1).max(0.0)
        );
    }
    println!("best model: {}", args.out.join("best").display());
    Ok(())
}
