//! `retune rank`: which of these encoders to fine-tune? Transferability estimates (LogME,
//! H-score, kNN and probe accuracy) on every layer's frozen features, ranked by layer-averaged
//! LogME — of texts for classification, of words (first sub-words) for `--task ner`.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use retune_assess::rank::{rank_classification, rank_tagging, table, RankConfig};
use retune_data::tagged::{read_tagged_spec_in, InputScheme};
use retune_models::hub;
use std::path::PathBuf;
use std::time::Duration;

use super::data_args::DataArgs;
use super::model_args::DeviceArgs;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune rank`.
#[derive(Args)]
pub struct RankArgs {
    /// A candidate model (folder or hub id); repeat for each.
    #[arg(long = "model", required = true)]
    pub models: Vec<String>,
    /// Device flags.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// `classify` (texts and labels) or `ner` (tagged sentences: word features, tags as labels).
    #[arg(long, default_value = "classify")]
    pub task: String,
    /// `--task ner`: the tag scheme of the files (iob2, iob1, bioes, bmes). Default iob2.
    #[arg(long)]
    pub scheme: Option<InputScheme>,
    /// Training data: the estimates are computed on a stratified sample of it.
    #[arg(long)]
    pub train: String,
    /// Evaluation data: kNN and probe accuracies are measured on a sample of it a quarter the
    /// size of the training sample (required by `--task ner`). Without it, `classify`
    /// cross-validates the accuracies on the training sample and reads no other rows.
    #[arg(long)]
    pub eval: Option<String>,
    /// Training rows (sentences for `--task ner`) sampled for the estimates. Default: 6% of
    /// the training rows, at least 100, at most 1000 (sized to cost at most 5% of one epoch of
    /// fine-tuning each candidate).
    #[arg(long)]
    pub rows: Option<usize>,
    /// Longest input in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_length: usize,
    /// Seed of the sample.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the ranking as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs the command.
pub fn run(args: RankArgs) -> Result<()> {
    let device = args.device.device()?;
    let models: Vec<PathBuf> = args
        .models
        .iter()
        .map(|m| hub::resolve(m))
        .collect::<std::result::Result<_, _>>()?;
    let cfg = RankConfig {
        rows: args.rows,
        max_length: args.max_length,
        seed: args.seed,
        device,
        ..Default::default()
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} rank: {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut on = |m: &str| bar.set_message(m.to_string());
    let r = match args.task.as_str() {
        "classify" => {
            let train = args.data.read(&args.train, None)?;
            let labels = train.label_set()?;
            let eval = match &args.eval {
                Some(spec) => Some(args.data.read(spec, Some(&labels))?),
                None => None,
            };
            rank_classification(&models, &train, eval.as_ref(), &labels, &cfg, &mut on)?
        }
        "ner" => {
            let read = |spec: &str| read_tagged_spec_in(spec, None, args.scheme);
            let Some(eval) = &args.eval else {
                return Err("--eval: rank --task ner measures word accuracies on eval sentences; give them".into());
            };
            let (train, eval) = (read(&args.train)?, read(eval)?);
            rank_tagging(&models, &train, &eval, &cfg, &mut on)?
        }
        other => return Err(format!("--task {other}: rank measures classify and ner").into()),
    };
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", table(&r));
    }
    Ok(())
}
