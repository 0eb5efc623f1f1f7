//! `retune generate`: continue a prompt with a causal LM (greedy by default, beam search or
//! sampling), the model's chat template applied with `--chat`. Prints each continuation,
//! without its prompt.

use clap::Args;
use retune_data::{read_text_dataset, Columns, ReadOptions};
use retune_models::causal::chat::user_prompt;
use retune_models::causal::sample::{generate, SamplingOptions, StopReason};
use retune_models::causal::CausalLm;

use super::model_args::ModelArgs;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Causal LM: a model folder, a GGUF file or a hub id.
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt.
    #[arg(long, conflicts_with = "input")]
    prompt: Option<String>,
    /// Prompts, one a line (or a table's --column).
    #[arg(long, value_name = "FILE")]
    input: Option<String>,
    /// Column of --input holding the prompts.
    #[arg(long, default_value = "text")]
    column: String,
    /// Wrap each prompt as a user message in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Sample at this temperature (default: greedy decoding).
    #[arg(long)]
    temperature: Option<f64>,
    /// Sample from the smallest set of tokens whose probability reaches P.
    #[arg(long)]
    top_p: Option<f64>,
    /// Sample from the K most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// transformers' repetition penalty (> 1 discourages repeats).
    #[arg(long)]
    repetition_penalty: Option<f64>,
    /// Beam search with N beams (transformers' length penalty 1.0, early stopping off).
    #[arg(long, default_value_t = 1, conflicts_with = "temperature")]
    num_beams: usize,
    /// No n-gram of this many tokens twice (prompt included).
    #[arg(long, default_value_t = 0)]
    no_repeat_ngram_size: usize,
    /// No end of sequence before this many new tokens.
    #[arg(long, default_value_t = 0)]
    min_new_tokens: usize,
    /// One JSON object a line: prompt, continuation, token ids, why it stopped.
    #[arg(long)]
    json: bool,
}

/// Runs `retune generate`.
pub fn run(a: GenerateArgs) -> Result<()> {
    if a.temperature.is_none() && (a.top_p.is_some() || a.top_k.is_some()) {
        return Err("--top-p / --top-k sample: give --temperature too (greedy decoding otherwise)".into());
    }
    if let Some(p) = a.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(format!("--top-p {p}: must be in (0, 1]").into());
        }
    }
    if a.num_beams == 0 {
        return Err("--num-beams 0: must be at least 1".into());
    }
    if let Some(r) = a.repetition_penalty {
        if r <= 0.0 {
            return Err(format!("--repetition-penalty {r}: must be positive").into());
        }
    }
    let prompts: Vec<String> = match (&a.prompt, &a.input) {
        (Some(p), _) => vec![p.clone()],
        (None, Some(file)) => {
            let columns = Columns {
                text: a.column.clone(),
                text_pair: None,
                label: None,
            };
            read_text_dataset(file, &columns, &ReadOptions::default())?
                .examples
                .into_iter()
                .map(|e| e.text)
                .collect()
        }
        (None, None) => return Err("give --prompt TEXT or --input FILE".into()),
    };
    let (path, device) = a.model.resolve()?;
    let lm = CausalLm::load(&path, &device)?;
    let opts = SamplingOptions {
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        repetition_penalty: a.repetition_penalty,
        seed: a.seed,
        num_beams: a.num_beams,
        no_repeat_ngram_size: a.no_repeat_ngram_size,
        min_new_tokens: a.min_new_tokens,
    };
    for prompt in &prompts {
        let text = if a.chat {
            user_prompt(&lm, prompt)?
        } else {
            prompt.clone()
        };
        let ids = lm.encode(&text)?;
        let out = generate(&lm, &ids, &opts)?;
        if a.json {
            println!(
                "{}",
                serde_json::json!({"prompt": prompt, "continuation": out.text, "ids": out.ids, "prompt_tokens": ids.len(), "stop": out.stop})
            );
        } else {
            println!("{}", out.text);
            if out.stop == StopReason::Context {
                eprintln!("note: stopped at the model's context of {} tokens", lm.context());
            }
        }
    }
    Ok(())
}
