//! `retune convert gguf FILE --out DIR`: a GGUF file as a Hugging Face folder that
//! `transformers` loads (dequantised weights, the rotary permutation undone, `tokenizer.json`
//! and the chat template rebuilt from the GGUF vocabulary).

use clap::{Args, Subcommand};
use retune_models::gguf::GgufModel;
use retune_models::Device;
use std::path::PathBuf;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune convert`.
#[derive(Args)]
pub struct ConvertArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// A llama.cpp GGUF file (Llama family) to a Hugging Face model folder.
    Gguf {
        /// The GGUF file.
        file: PathBuf,
        /// The folder to write (replaced atomically).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `retune convert`.
pub fn run(a: ConvertArgs) -> Result<()> {
    match a.what {
        What::Gguf { file, out } => {
            let model = GgufModel::read(&file, &Device::Cpu)?;
            model.write_hf_folder(&out)?;
            let params: usize = model.tensors.values().map(|t| t.elem_count()).sum();
            println!(
                "{}: {} layers, hidden {}, {} parameters, vocabulary {} → {}",
                file.display(),
                model.config.num_hidden_layers,
                model.config.hidden_size,
                params,
                model.config.vocab_size,
                out.display()
            );
            Ok(())
        }
    }
}
