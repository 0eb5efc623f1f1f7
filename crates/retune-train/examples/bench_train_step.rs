//! One training step of MiniLM + classification head: batch 32 × L random tokens (L = 64 unless
//! given), forward, cross-entropy, backward, AdamW — the same work as
//! `scripts/reference/bench_train_step.py --seq-len L`.
//!
//! `cargo run --release -p retune-train --example bench_train_step -- models/all-MiniLM-L6-v2 [steps] [warmup] [L]`
//! (threads: `RAYON_NUM_THREADS`). Prints one JSON line.

use retune_models::arch::{batch_tensor, EncoderInput};
use retune_models::batches::on_pool;
use retune_models::nn::{self, Mode};
use retune_train::classify::prepare_classifier;
use retune_train::loss::cross_entropy_sum;
use retune_train::optim::{AdamW, AdamWConfig};
use retune_train::strategy::Strategy;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = std::path::PathBuf::from(args.get(1).map(|s| s.as_str()).unwrap_or("models/all-MiniLM-L6-v2"));
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let warmup: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let seq_len: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    retune_train::alloc::tune_allocator();
    nn::set_seed(0);
    let dev = retune_models::device::select(&std::env::var("RETUNE_DEVICE").unwrap_or_else(|_| "cpu".into()))
        .expect("device");
    let st = prepare_classifier(&model, &["0".into(), "1".into()], &Strategy::Full, 128, &dev).expect("model");
    let vars: Vec<_> = st
        .trainable
        .iter()
        .map(|n| (n.clone(), st.params.var(n).unwrap()))
        .collect();
    let mut opt = AdamW::new(vars, AdamWConfig::default());
    let (b, l) = (32usize, seq_len);
    let vocab = st.config.arch().vocab_size() as u64;
    let mut rng = retune_train::batching::SplitMix(0);
    let ids: Vec<Vec<u32>> = (0..b)
        .map(|_| {
            let mut r: Vec<u32> = (0..l)
                .map(|_| (1000 + rng.next_u64() % (vocab - 1000)) as u32)
                .collect();
            r[0] = 101;
            r[l - 1] = 102;
            r
        })
        .collect();
    let zeros = vec![vec![0u32; l]; b];
    let ones = vec![vec![1u32; l]; b];
    let input = EncoderInput {
        input_ids: batch_tensor(&ids, &dev).unwrap(),
        token_type_ids: batch_tensor(&zeros, &dev).unwrap(),
        attention_mask: batch_tensor(&ones, &dev).unwrap(),
    };
    let targets: Vec<i64> = (0..b).map(|_| (rng.next_u64() % 2) as i64).collect();
    let mut times = Vec::new();
    let (mut tf, mut tb, mut to) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..steps + warmup {
        // Each phase on the rayon pool, as the trainer runs them (`on_pool`).
        let t0 = Instant::now();
        let (loss, n) = on_pool(|| {
            let logits = st.model.logits(&input, Mode::Train).unwrap();
            let (loss, n) = cross_entropy_sum(&logits, &targets, 0.0).unwrap();
            let _ = loss.to_scalar::<f32>().unwrap();
            (loss, n)
        });
        let t1 = Instant::now();
        on_pool(|| opt.backward(&loss, n as f64).unwrap());
        let t2 = Instant::now();
        on_pool(|| opt.step(5e-5, Some(1.0)).unwrap());
        let t3 = Instant::now();
        if i >= warmup {
            times.push((t3 - t0).as_secs_f64());
            tf.push((t1 - t0).as_secs_f64());
            tb.push((t2 - t1).as_secs_f64());
            to.push((t3 - t2).as_secs_f64());
        }
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let m = med(&mut times);
    println!(
        "{}",
        serde_json::json!({"impl": "retune", "threads": rayon::current_num_threads(), "batch": b, "seq_len": l,
            "median_step_s": m, "examples_per_s": b as f64 / m,
            "phases_median_s": {"forward": med(&mut tf), "backward": med(&mut tb), "optimizer": med(&mut to)}})
    );
}
