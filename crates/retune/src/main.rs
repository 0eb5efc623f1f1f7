//! `retune`: does this pretrained model need fine-tuning for my task and data?
//!
//! A thin command-line layer over the retune crates; every command is a library call.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Measure whether a pretrained model needs fine-tuning or retraining, then do it and evaluate.
#[derive(Parser)]
#[command(name = "retune", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score outputs: BLEU, chrF, TER, ROUGE, METEOR (as sacrebleu, rouge-score, nltk), classification.
    Eval(commands::eval::EvalArgs),
    /// Label and probabilities for every row of a file, from a classifier checkpoint.
    Predict(commands::predict::PredictArgs),
    /// Translate with a Marian model (greedy or beam search).
    Translate(commands::translate::TranslateArgs),
    /// Does this model need fine-tuning for my data? Four angles, pilot runs, a recommendation, a report.
    Assess(Box<commands::assess::AssessArgs>),
    /// Which of these encoders to fine-tune? LogME, H-score, kNN and probe on every layer's frozen features.
    Rank(Box<commands::rank::RankArgs>),
    /// Find what is wrong with the data: duplicates, leakage, lengths, unknown tokens, label noise.
    Audit(Box<commands::audit::AuditArgs>),
    /// Fine-tune (probe, head, top:K, LoRA, full), retrain from scratch, or continue on new data.
    Finetune(Box<commands::finetune_args::FinetuneArgs>),
    /// Continue prompts with a causal language model (greedy, or sampled), with its chat template.
    Generate(Box<commands::generate::GenerateArgs>),
    /// Convert a model file to a Hugging Face folder (GGUF → transformers).
    Convert(commands::convert::ConvertArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Translate(args) => commands::translate::run(args),
        Command::Finetune(args) => commands::finetune::run(*args),
        Command::Audit(args) => commands::audit::run(*args),
        Command::Assess(args) => commands::assess::run(*args),
        Command::Rank(args) => commands::rank::run(*args),
        Command::Generate(args) => commands::generate::run(*args),
        Command::Convert(args) => commands::convert::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
