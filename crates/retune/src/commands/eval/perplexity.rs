//! `retune eval perplexity`: token-level negative log-likelihood and perplexity of a causal LM
//! over documents, each scored on its own, with a bootstrap interval over documents.

use super::*;
use crate::commands::data_args::read_documents;
use crate::commands::model_args::ModelArgs;
use indicatif::{ProgressBar, ProgressStyle};
use retune_data::ReadOptions;
use retune_metrics::corpus::SummedScore;
use retune_metrics::perplexity::{Perplexity, PerplexityStats};
use retune_models::causal::perplexity::{document_nll, window_count, PerplexityOptions};
use retune_models::causal::CausalLm;

/// Arguments of `retune eval perplexity`.
#[derive(Args)]
pub struct PerplexityArgs {
    /// Causal LM: a model folder, a GGUF file or a hub id.
    #[command(flatten)]
    model: ModelArgs,
    /// Documents: a text file (one document a line) or a CSV/TSV/JSONL/Parquet file with --column.
    #[arg(long, value_name = "FILE")]
    input: String,
    /// Column holding the documents (tables; a text file's column is `text`).
    #[arg(long, default_value = "text")]
    column: String,
    /// Longest window in tokens (default: the model's context).
    #[arg(long)]
    max_length: Option<usize>,
    /// Score documents longer than --max-length in sliding windows with this step (default:
    /// truncate them to --max-length, which is reported).
    #[arg(long)]
    stride: Option<usize>,
    /// Most tokens in one forward pass.
    #[arg(long, default_value_t = 2048)]
    batch_tokens: usize,
    /// Bootstrap 95% confidence interval over documents.
    #[arg(long)]
    ci: bool,
    /// Bootstrap resamples for --ci.
    #[arg(long, default_value_t = significance::DEFAULT_BOOTSTRAP)]
    n_bootstrap: usize,
    /// Seed of the resampling.
    #[arg(long, default_value_t = significance::DEFAULT_SEED)]
    seed: u64,
    /// Machine-readable JSON on standard output.
    #[arg(long)]
    json: bool,
}

/// Runs `retune eval perplexity`.
pub fn run_perplexity(a: PerplexityArgs) -> Result<()> {
    let (path, device) = a.model.resolve()?;
    let lm = CausalLm::load(&path, &device)?;
    let ds = read_documents(&a.input, &a.column, &ReadOptions::default())?;
    let docs = ds
        .examples
        .iter()
        .map(|ex| lm.encode(&ex.text))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let opts = PerplexityOptions {
        max_length: a.max_length.unwrap_or(lm.context()),
        stride: a.stride,
        batch_tokens: a.batch_tokens.max(1),
    };
    let bar = ProgressBar::new(window_count(&docs, &opts) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} windows {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = std::time::Instant::now();
    let scored = document_nll(&lm, &docs, &opts, |n| bar.inc(n as u64))?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    for (ex, d) in ds.examples.iter().zip(&scored) {
        if d.predicted == 0 {
            eprintln!(
                "{}:{}: {} token(s), nothing to predict (counted in documents, not in tokens)",
                ds.files[ex.row.file].display(),
                ex.row.line,
                d.tokens
            );
        }
    }
    let rows: Vec<(f64, usize)> = scored.iter().map(|d| (d.nll, d.predicted)).collect();
    let stats = PerplexityStats::from_documents(&rows);
    let sums = stats.sum();
    if sums[1] == 0.0 {
        return Err(format!("{}: no document has a token to predict", a.input).into());
    }
    let ppl = Perplexity.score_of_sums(&sums);
    let ci = if a.ci {
        if a.n_bootstrap < 2 {
            return Err("--n-bootstrap must be at least 2".into());
        }
        Some(significance::bootstrap_ci(&Perplexity, &stats, a.n_bootstrap, a.seed))
    } else {
        None
    };
    let truncated = scored.iter().filter(|d| d.truncated).count();
    let tokens_per_s = sums[1] / seconds.max(1e-9);
    if a.json {
        print_json(&json!({
            "perplexity": ppl,
            "nll": sums[0],
            "nll_per_token": sums[0] / sums[1],
            "tokens": sums[1] as u64,
            "documents": scored.len(),
            "truncated_documents": truncated,
            "max_length": opts.max_length,
            "stride": opts.stride,
            "seconds": seconds,
            "tokens_per_second": tokens_per_s,
            "ci": ci_json(&ci),
            "model": path.display().to_string(),
        }))
    } else {
        println!("{}", score_line(&Perplexity.score_name(), ppl, ci.as_ref(), "", 4));
        if let Some(c) = &ci {
            print_ci("perplexity", c);
        }
        println!(
            "{} documents, {} tokens predicted, NLL {:.4} nats/token, {:.0} tokens/s",
            scored.len(),
            sums[1] as u64,
            sums[0] / sums[1],
            tokens_per_s
        );
        if truncated > 0 {
            println!(
                "{truncated} document(s) longer than {} tokens were truncated (use --stride for sliding windows)",
                opts.max_length
            );
        }
        Ok(())
    }
}
