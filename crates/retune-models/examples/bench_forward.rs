//! Eval-mode encoder forward on synthetic batches of a fixed shape: seconds per batch and the
//! implied sentences/s, for comparing against `scripts/reference/bench_forward.py` (PyTorch) on
//! the same shapes. `cargo run --release -p retune-models --example bench_forward -- MODEL_DIR
//! [BATCH] [LEN] [ITERS]`
use candle_core::{Device, Tensor};
use retune_models::arch::{EncoderInput, Head, ModelConfig};
use retune_models::nn::Mode;
use retune_models::ops::layer::OutputRows;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&a[1]);
    let b: usize = a.get(2).map_or(64, |s| s.parse().unwrap());
    let l: usize = a.get(3).map_or(89, |s| s.parse().unwrap());
    let iters: usize = a.get(4).map_or(5, |s| s.parse().unwrap());
    let config = ModelConfig::from_dir(&dir)?;
    let (_params, model) = config.load_model(&dir, Head::Base, &Device::Cpu)?;
    let ids: Vec<u32> = (0..b * l).map(|i| 1000 + (i * 7919 % 20000) as u32).collect();
    let input = EncoderInput {
        input_ids: Tensor::from_vec(ids, (b, l), &Device::Cpu)?,
        token_type_ids: Tensor::zeros((b, l), candle_core::DType::U32, &Device::Cpu)?,
        attention_mask: Tensor::ones((b, l), candle_core::DType::U32, &Device::Cpu)?,
    };
    for what in ["hidden_rows", "layer_states"] {
        let _ = model.hidden_rows(&input, Mode::Eval, OutputRows::All)?;
        let t = Instant::now();
        for _ in 0..iters {
            if what == "hidden_rows" {
                let _ = model.hidden_rows(&input, Mode::Eval, OutputRows::All)?;
            } else {
                let _ = model.layer_states(&input, Mode::Eval)?;
            }
        }
        let s = t.elapsed().as_secs_f64() / iters as f64;
        println!(
            "{what}: batch {b} x {l}: {:.3} s per batch, {:.1} sentences/s",
            s,
            b as f64 / s
        );
    }
    Ok(())
}
