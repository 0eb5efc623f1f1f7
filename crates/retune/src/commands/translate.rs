//! `retune translate`: translation with an encoder-decoder (Marian) from standard input or a
//! file, batched by length, greedy or beam search, output in input order.

use super::model_args::ModelArgs;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use retune_models::generate::{EarlyStopping, GenerationConfig};
use retune_models::nn::Params;
use retune_models::seq2seq::{translate, Seq2SeqConfig};
use retune_models::weights::Checkpoint;
use std::io::{BufRead, Write};
use std::path::PathBuf;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune translate`.
#[derive(Args)]
pub struct TranslateArgs {
    /// The Marian model (folder or hub id, e.g. Helsinki-NLP/opus-mt-en-zh) and device.
    #[command(flatten)]
    model: ModelArgs,
    /// Input file, one sentence a line (default: standard input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Beams (1 = greedy); default from the model's generation config.
    #[arg(long)]
    beams: Option<usize>,
    /// Maximum output length in tokens; default from the model's generation config.
    #[arg(long)]
    max_length: Option<usize>,
    /// Beam-search stopping rule: true (stop when num_beams hypotheses are done), false
    /// (transformers' heuristic) or never; default from the model's generation config.
    #[arg(long)]
    early_stopping: Option<String>,
    /// Sentences per batch (sentences are grouped by length).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Prefix every line with this target-language token (e.g. `>>cmn_Hans<<`).
    #[arg(long)]
    target_token: Option<String>,
}

/// Runs `retune translate`.
pub fn run(a: TranslateArgs) -> Result<()> {
    let (dir, dev) = a.model.resolve()?;
    let cfg = Seq2SeqConfig::from_dir(&dir)?;
    let params = Params::from_checkpoint(Checkpoint::load(&dir, &dev)?, &dev)?;
    let model = cfg.build(&params)?;
    let tok = cfg.tokenizer(&dir)?;
    let mut gen = GenerationConfig::from_model_dir(&dir, cfg.generation_config())?;
    if let Some(b) = a.beams {
        gen.num_beams = b.max(1);
    }
    if let Some(m) = a.max_length {
        gen.max_length = m;
    }
    if let Some(e) = &a.early_stopping {
        gen.early_stopping = match e.as_str() {
            "true" => EarlyStopping::Stop,
            "false" => EarlyStopping::Heuristic,
            "never" => EarlyStopping::Never,
            other => return Err(format!("--early-stopping: '{other}' is not one of true, false, never").into()),
        };
    }
    gen.validate()?;
    let lines: Vec<String> = match &a.input {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            String::from_utf8(bytes)
                .map_err(|e| {
                    let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        + 1;
                    format!("{}:{line}: invalid UTF-8", p.display())
                })?
                .lines()
                .map(str::to_string)
                .collect()
        }
        None => std::io::stdin().lock().lines().collect::<std::io::Result<_>>()?,
    };
    let texts: Vec<String> = match &a.target_token {
        Some(t) => lines.iter().map(|l| format!("{t} {l}")).collect(),
        None => lines,
    };
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let bar = ProgressBar::new(texts.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} sentences {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut out = vec![String::new(); texts.len()];
    for chunk in order.chunks(a.batch_size.max(1)) {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        for (&i, t) in chunk.iter().zip(translate(&model, &tok, &batch, &gen)?) {
            out[i] = t;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    for t in out {
        writeln!(w, "{t}")?;
    }
    w.flush()?;
    Ok(())
}
