//! The flags of `retune finetune` (shared by the classification and translation runs) and the
//! summary writer both use.

use clap::{Args, ValueEnum};
use retune_train::classify::SelectMetric;
use retune_train::schedule::ScheduleKind;
use retune_train::strategy::Strategy;
use retune_train::trainer::LoopConfig;
use std::path::PathBuf;

use super::data_args::DataArgs;
use super::model_args::ModelArgs;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What `retune finetune` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FinetuneTask {
    /// Text classification: an encoder (BERT, DistilBERT, RoBERTa, XLM-R) with a head.
    Classify,
    /// Translation: a Marian encoder-decoder.
    Translate,
    /// Token classification (NER): an encoder with a tag per word; tagged sentences as JSONL
    /// (`tokens` + `ner_tags`) or CoNLL columns.
    Ner,
    /// Causal language modelling: continued pre-training on documents, or prompt → completion.
    Lm,
}

/// Arguments of `retune finetune`.
#[derive(Args)]
pub struct FinetuneArgs {
    /// The model (folder or hub id) and device.
    #[command(flatten)]
    pub model: ModelArgs,
    /// classify (an encoder + head), ner (a tag per word) or translate (Marian seq2seq).
    #[arg(long, value_enum, default_value_t = FinetuneTask::Classify)]
    pub task: FinetuneTask,
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
    /// probe, head, top:K, lora[:r], full, scratch (default full; lora:8 for `--task lm`).
    #[arg(long)]
    pub strategy: Option<Strategy>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Examples per batch (default 32; 8 blocks for `--task lm`).
    #[arg(long)]
    pub batch_size: Option<usize>,
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
    /// `--task ner`: the tag scheme of the files (iob2, iob1, bioes, bmes), converted to IOB2 on
    /// read; a tag that breaks it is an error naming its line. Default: tags kept as they are.
    #[arg(long)]
    pub scheme: Option<retune_data::tagged::InputScheme>,
    /// Batches of random lengths (default groups similar lengths to save padding).
    #[arg(long)]
    pub no_group_by_length: bool,
    /// Resume from a checkpoint folder or the run folder (newest checkpoint).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Replace the checkpoint's classification head with one for the data's labels only
    /// (default: a fine-tuned head keeps its labels at their ids and the data's new ones are
    /// added, so the old task can still be measured).
    #[arg(long)]
    pub new_head: bool,
    /// Also evaluate NAME=DATA before and after training (forgetting on an old task).
    #[arg(long, value_name = "NAME=DATA")]
    pub also_eval: Vec<String>,
    /// Mix old examples into training: DATA:FRACTION of the old training set.
    #[arg(long, value_name = "DATA:FRACTION")]
    pub replay: Option<String>,
    /// Translation columns and languages.
    #[command(flatten)]
    pub pairs: super::data_args::PairArgs,
    /// Beams for evaluating translations.
    #[arg(long, default_value_t = 4)]
    pub beams: usize,
    /// Evaluate translations on at most this many eval rows.
    #[arg(long)]
    pub eval_rows: Option<usize>,
    /// (lm) Tokens per training block and evaluation window.
    #[arg(long, default_value_t = 256)]
    pub block_size: usize,
    /// (lm) Column of prompts: train on prompt → completion pairs instead of raw documents.
    #[arg(long, requires = "completion_column")]
    pub prompt_column: Option<String>,
    /// (lm) Column of completions (the loss is on these tokens only).
    #[arg(long, requires = "prompt_column")]
    pub completion_column: Option<String>,
    /// (lm) Do not wrap prompts in the model's chat template.
    #[arg(long)]
    pub no_chat: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

impl FinetuneArgs {
    /// `--strategy`, or `full` when not given.
    pub fn strategy(&self) -> Strategy {
        self.strategy.clone().unwrap_or(Strategy::Full)
    }

    /// The loop settings from the flags (the learning rate is set by the task).
    pub fn loop_config(&self) -> LoopConfig {
        LoopConfig {
            epochs: self.epochs,
            max_steps: self.max_steps,
            batch_size: self.batch_size.unwrap_or(32),
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
