//! Tiny random Llama checkpoints made by `scripts/fixtures/make_llama_fixtures.py` against the
//! outputs `transformers` computed for them: GQA ratios 1 and 3, an odd head count, tied and
//! untied embeddings, biases, a `head_dim` that is not `hidden / heads`, and the same model as
//! llama.cpp writes a GGUF (permuted q/k, F16 and Q8_0 tensors, vocabulary in the metadata).
//! Also: training mode gives the inference values and gradients that agree with finite
//! differences; bad GGUF files fail with one error naming the file.

use candle_core::{Tensor, Var};
use retune_models::causal::chat::user_prompt;
use retune_models::causal::perplexity::{document_nll, PerplexityOptions};
use retune_models::causal::sample::{generate, SamplingOptions, StopReason};
use retune_models::causal::CausalLm;
use retune_models::gguf::GgufModel;
use retune_models::nn::Mode;
use retune_models::Device;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Logits, perplexity windows and greedy continuations of `lm` against `exp`.
fn check(lm: &CausalLm, exp: &Value, what: &str) {
    for case in exp["cases"].as_array().unwrap() {
        let ids = ids(&case["ids"]);
        let got: Vec<Vec<f32>> = lm.logits(&ids).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
        for (p, row) in case["logits"].as_array().unwrap().iter().enumerate() {
            for (v, want) in row.as_array().unwrap().iter().enumerate() {
                let want = want.as_f64().unwrap();
                let d = (got[p][v] as f64 - want).abs();
                assert!(d < 1e-4, "{what}: position {p} token {v}: {} vs {want}", got[p][v]);
            }
        }
    }
    let docs: Vec<Vec<u32>> = exp["perplexity"]["docs"].as_array().unwrap().iter().map(ids).collect();
    for (key, max_length, stride) in [
        ("truncated_16", 16, None),
        ("stride_16_8", 16, Some(8)),
        ("stride_12_12", 12, Some(12)),
    ] {
        let opts = PerplexityOptions {
            max_length,
            stride,
            batch_tokens: 40,
        };
        let scored = document_nll(lm, &docs, &opts, |_| {}).unwrap();
        let n: usize = scored.iter().map(|d| d.predicted).sum();
        let nll: f64 = scored.iter().map(|d| d.nll).sum();
        let want = &exp["perplexity"][key];
        assert_eq!(n as u64, want["tokens"].as_u64().unwrap(), "{what} {key}: tokens");
        let ppl = (nll / n as f64).exp();
        let w = want["perplexity"].as_f64().unwrap();
        assert!(((ppl - w) / w).abs() < 1e-4, "{what} {key}: perplexity {ppl} vs {w}");
    }
    for run in exp["generation"].as_array().unwrap() {
        let prompt = ids(&run["ids"]);
        let mut want = ids(&run["new_ids"]);
        // transformers ran without stopping; retune stops at the first EOS.
        if let Some(i) = want.iter().position(|t| lm.eos_ids.contains(t)) {
            want.truncate(i);
        }
        let opts = SamplingOptions {
            max_new_tokens: 12,
            ..SamplingOptions::default()
        };
        let out = generate(lm, &prompt, &opts).unwrap();
        assert_eq!(out.ids, want, "{what}: greedy continuation of {prompt:?}");
    }
}

#[test]
fn tiny_llama_folders_match_transformers() {
    for name in ["llama-tiny-gqa3-tied", "llama-tiny-mha-untied", "llama-tiny-headdim"] {
        let dir = fixtures().join(name);
        let lm = CausalLm::load(&dir, &Device::Cpu).unwrap();
        check(&lm, &expected(&dir.join("expected.json")), name);
    }
}

/// `scripts/fixtures/make_generation_cases.py`: beam search on a decoder-only model, no
/// repeated n-grams (prompt included), repetition penalty and `min_new_tokens`, through the
/// search the encoder-decoders share.
#[test]
fn beam_search_and_processors_match_transformers() {
    let mut failures = Vec::new();
    for name in ["llama-tiny-gqa3-tied", "llama-tiny-mha-untied", "llama-tiny-headdim"] {
        let dir = fixtures().join(name);
        let lm = CausalLm::load(&dir, &Device::Cpu).unwrap();
        let cases = expected(&dir.join("generation_cases.json"));
        assert_eq!(cases["cases"].as_array().unwrap().len(), 4, "{name}");
        for case in cases["cases"].as_array().unwrap() {
            let kw = &case["kwargs"];
            let u = |k: &str| kw[k].as_u64().unwrap() as usize;
            assert_eq!(kw["do_sample"].as_bool(), Some(false));
            assert_eq!(kw["length_penalty"].as_f64(), Some(1.0));
            assert_eq!(kw["early_stopping"].as_bool(), Some(false));
            let opts = SamplingOptions {
                max_new_tokens: u("max_new_tokens"),
                num_beams: u("num_beams"),
                no_repeat_ngram_size: u("no_repeat_ngram_size"),
                min_new_tokens: u("min_new_tokens"),
                repetition_penalty: kw["repetition_penalty"].as_f64().filter(|&r| r != 1.0),
                ..SamplingOptions::default()
            };
            for row in case["rows"].as_array().unwrap() {
                let prompt = ids(&row["ids"]);
                let mut want = ids(&row["new_ids"]);
                if let Some(i) = want.iter().position(|t| lm.eos_ids.contains(t)) {
                    want.truncate(i);
                }
                let out = generate(&lm, &prompt, &opts).unwrap();
                if out.ids != want {
                    failures.push(format!("{name} {}: got {:?} want {want:?}", case["name"], out.ids));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tiny_gguf_matches_transformers_reading_it() {
    let file = fixtures().join("llama-tiny-gqa3-tied.gguf");
    let exp = expected(&fixtures().join("llama-tiny-gqa3-tied.gguf.expected.json"));
    let lm = CausalLm::load(&file, &Device::Cpu).unwrap();
    check(&lm, &exp, "gguf");
    assert_eq!(user_prompt(&lm, "Hello there").unwrap(), exp["chat"].as_str().unwrap());
    // The converted folder is the same model.
    let dir = std::env::temp_dir().join(format!("retune-tiny-gguf-{}", std::process::id()));
    GgufModel::read(&file, &Device::Cpu)
        .unwrap()
        .write_hf_folder(&dir)
        .unwrap();
    let folder = CausalLm::load(&dir, &Device::Cpu).unwrap();
    check(&folder, &exp, "converted gguf");
    assert_eq!(
        user_prompt(&folder, "Hello there").unwrap(),
        exp["chat"].as_str().unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn training_mode_values_and_gradients() {
    let dir = fixtures().join("llama-tiny-mha-untied");
    let lm = CausalLm::load(&dir, &Device::Cpu).unwrap();
    let ids = Tensor::new(&[[5u32, 70, 81, 200, 13, 99, 7]], &Device::Cpu).unwrap();
    let eval = lm.model.forward_logits(&ids, None, Mode::Eval).unwrap();
    let train = lm.model.forward_logits(&ids, None, Mode::Train).unwrap();
    let d: f32 = (eval - &train)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(
        d < 1e-4,
        "train-mode (composed) vs eval-mode (fused) logits differ by {d}"
    );
    // loss = Σ logits · w for fixed w; its gradient by backprop against central differences.
    let w = Tensor::rand(-1f32, 1f32, train.shape(), &Device::Cpu).unwrap();
    let loss = |lm: &CausalLm| -> f64 {
        let l = lm.model.forward_logits(&ids, None, Mode::Train).unwrap();
        (l * &w).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64
    };
    let l = (train * &w).unwrap().sum_all().unwrap();
    let grads = retune_models::ops::backward(&l).unwrap();
    for name in [
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.self_attn.k_proj.weight",
        "model.layers.2.mlp.gate_proj.weight",
        "model.layers.0.input_layernorm.weight",
        "model.norm.weight",
    ] {
        let var: Var = lm.params.var(name).unwrap();
        let g: Vec<f32> = grads
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let orig: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let k = orig.len() / 3;
        let h = 1e-2f32;
        let set = |delta: f32| {
            let mut v = orig.clone();
            v[k] += delta;
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        };
        set(h);
        let up = loss(&lm);
        set(-h);
        let down = loss(&lm);
        set(0.0);
        let fd = (up - down) / (2.0 * h as f64);
        let bp = g[k] as f64;
        assert!(
            (fd - bp).abs() <= 2e-2 * (1.0 + fd.abs()),
            "{name}[{k}]: backprop {bp} vs finite difference {fd}"
        );
    }
}

#[test]
fn bad_gguf_files_fail_with_the_file_named() {
    let arch = fixtures().join("llama-bad-arch.gguf");
    let e = CausalLm::load(&arch, &Device::Cpu).err().unwrap().to_string();
    assert!(
        e.contains("llama-bad-arch.gguf") && e.contains("falcon") && e.contains("llama"),
        "{e}"
    );
    let quant = fixtures().join("llama-bad-quant.gguf");
    let e = CausalLm::load(&quant, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("llama-bad-quant.gguf") && e.contains("dtype"), "{e}");
    let bytes = std::fs::read(fixtures().join("llama-tiny-gqa3-tied.gguf")).unwrap();
    let cut = std::env::temp_dir().join(format!("retune-truncated-{}.gguf", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let e = CausalLm::load(&cut, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("retune-truncated") && e.contains("remaining in file"), "{e}");
    std::fs::remove_file(&cut).unwrap();
}

#[test]
fn prompt_longer_than_the_context_is_an_error() {
    let lm = CausalLm::load(&fixtures().join("llama-tiny-headdim"), &Device::Cpu).unwrap();
    let prompt = vec![70u32; lm.context()];
    let e = generate(&lm, &prompt, &SamplingOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("128") && e.contains("context"), "{e}");
    // One token short of the window: generation stops at the window, stated.
    let out = generate(&lm, &prompt[..lm.context() - 3], &SamplingOptions::default()).unwrap();
    assert!(out.ids.len() <= 3);
    assert!(
        matches!(out.stop, StopReason::Context | StopReason::Eos),
        "{:?}",
        out.stop
    );
    let opts = PerplexityOptions {
        max_length: 16,
        stride: Some(17),
        batch_tokens: 64,
    };
    let e = document_nll(&lm, &[vec![1, 2, 3]], &opts, |_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--stride 17"), "{e}");
}

mod fused_decoder {
    //! The fused decoder layer (`ops::decoder`) and the fused next-token loss (`ops::lm_loss`)
    //! against the composed operations on the tiny Llama fixtures (GQA ratios 1 and 3, tied and
    //! untied, biases, `head_dim` ≠ hidden / heads): outputs and the gradient of every
    //! parameter and of the input, with attention dropout (both paths draw the same masks),
    //! right padding, LoRA on frozen layers with a frozen input, and inference.

    use super::common::rel;
    use super::fixtures;
    use candle_core::{Device, Tensor};
    use retune_models::arch::ArchConfig;
    use retune_models::causal::{composed_lm_loss_sum, CausalLm, CausalModel};
    use retune_models::layers::LayerPath;
    use retune_models::llama::LlamaModel;
    use retune_models::nn::{seeded_normal, set_seed, Mode, Params};
    use retune_models::{ops, Head, ModelConfig};

    const FIXTURES: [&str; 3] = ["llama-tiny-mha-untied", "llama-tiny-gqa3-tied", "llama-tiny-headdim"];

    /// The fixture's parameters, LoRA (rank 3, N(0, 0.2)) on `lora`, `frozen` detached.
    fn params(name: &str, lora: &[&str], frozen: &dyn Fn(&str) -> bool) -> (ModelConfig, Params) {
        let lm = CausalLm::load(&fixtures().join(name), &Device::Cpu).unwrap();
        let config = lm.config;
        let mut p = lm.params;
        set_seed(17);
        for layer in 0..2 {
            for target in lora {
                let w = format!("model.layers.{layer}.{target}");
                let (out, inp) = p.var(&format!("{w}.weight")).unwrap().as_tensor().dims2().unwrap();
                p.insert(
                    &format!("{w}.lora_A.weight"),
                    &seeded_normal(&[3, inp], 0.2, &Device::Cpu).unwrap(),
                )
                .unwrap();
                p.insert(
                    &format!("{w}.lora_B.weight"),
                    &seeded_normal(&[out, 3], 0.2, &Device::Cpu).unwrap(),
                )
                .unwrap();
            }
        }
        p.lora_scaling = 1.5;
        p.frozen = p.names().into_iter().filter(|n| frozen(n)).collect();
        (config, p)
    }

    struct Run {
        y: Tensor,
        loss: f32,
        grads: Vec<(String, Option<Tensor>)>,
    }

    /// Hidden states of a batch of two sequences of `len` tokens (the second right-padded by
    /// 2) through `path`, then `Σ y · u` for a fixed `u` plus the next-token loss (fused or
    /// composed with the path).
    fn run(config: &ModelConfig, p: &Params, dropout: f64, mode: Mode, path: LayerPath, len: usize) -> Run {
        let dev = Device::Cpu;
        let ArchConfig::Llama(cfg) = &config.arch else {
            panic!("not a Llama fixture")
        };
        let mut cfg = cfg.clone();
        cfg.attention_dropout = dropout;
        let model = LlamaModel::load(&cfg, p, Head::CausalLm).unwrap();
        let vocab = cfg.vocab_size as u32;
        let seq: Vec<u32> = (0..2 * len as u32).map(|i| (i * 37 + 5) % vocab).collect();
        let real = [len, len - 2];
        let mut flat = seq.clone();
        flat[2 * len - 2..].fill(0);
        let ids = Tensor::from_vec(flat, (2, len), &dev).unwrap();
        let mask: Vec<u32> = (0..2 * len).map(|i| u32::from(i % len < real[i / len])).collect();
        let mask = Tensor::from_vec(mask, (2, len), &dev).unwrap();
        set_seed(5);
        let y = model.decode_on(&ids, Some(&mask), mode, path).unwrap();
        set_seed(6);
        let u = seeded_normal(y.dims(), 1.0, &dev).unwrap();
        let hidden = y.reshape((2 * len, y.dim(2).unwrap())).unwrap();
        // The next token where there is one, but none at a few positions of the first row.
        let targets: Vec<i64> = (0..2 * len)
            .map(|i| {
                let (r, j) = (i / len, i % len);
                if j + 1 < real[r] && !(r == 0 && j % 5 == 3) {
                    seq[i + 1] as i64
                } else {
                    -100
                }
            })
            .collect();
        let (nll, count) = match path {
            LayerPath::Fused => model.lm_loss_sum(&hidden, &targets).unwrap(),
            LayerPath::Composed => composed_lm_loss_sum(|h| model.lm_logits(h), &hidden, &targets).unwrap(),
        };
        assert_eq!(count, targets.iter().filter(|&&t| t >= 0).count());
        let loss = ((&y * &u).unwrap().sum_all().unwrap() + nll).unwrap();
        let mut grads = Vec::new();
        if mode == Mode::Train {
            let g = ops::backward(&loss).unwrap();
            for name in p.names() {
                let var = p.var(&name).unwrap();
                grads.push((name, g.get(var.as_tensor()).cloned()));
            }
        }
        Run {
            y,
            loss: loss.to_scalar().unwrap(),
            grads,
        }
    }

    fn check(lora: &[&str], frozen: &dyn Fn(&str) -> bool, mode: Mode, dropout: f64) {
        check_len(lora, frozen, mode, dropout, 7);
    }

    fn check_len(lora: &[&str], frozen: &dyn Fn(&str) -> bool, mode: Mode, dropout: f64, len: usize) {
        for name in FIXTURES {
            let (lm, p) = params(name, lora, frozen);
            let f = run(&lm, &p, dropout, mode, LayerPath::Fused, len);
            let c = run(&lm, &p, dropout, mode, LayerPath::Composed, len);
            let d = rel(&f.y, &c.y);
            assert!(d < 1e-5, "{name}: hidden states differ by {d} (relative)");
            assert!(
                ((f.loss - c.loss) / c.loss.abs().max(1.0)).abs() < 1e-5,
                "{name}: loss {} vs {}",
                f.loss,
                c.loss
            );
            assert_eq!(f.grads.len(), c.grads.len());
            let mut trained = 0;
            for ((n, gf), (_, gc)) in f.grads.iter().zip(&c.grads) {
                match (gf, gc) {
                    (Some(gf), Some(gc)) => {
                        let d = rel(gf, gc);
                        assert!(d < 1e-5, "{name}: gradient of {n} differs by {d} (relative)");
                        trained += 1;
                    }
                    (None, None) => {}
                    _ => panic!(
                        "{name}: gradient of {n}: fused {} composed {}",
                        gf.is_some(),
                        gc.is_some()
                    ),
                }
                assert_eq!(gf.is_some(), !frozen(n) && mode == Mode::Train, "{name}: {n}");
            }
            assert!(mode == Mode::Eval || trained > 0);
        }
    }

    #[test]
    fn full_training_with_attention_dropout_and_padding() {
        check(&[], &|_| false, Mode::Train, 0.1);
    }

    #[test]
    fn lora_on_frozen_layers_with_a_frozen_input() {
        let lora = ["self_attn.q_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.down_proj"];
        check(&lora, &|n: &str| !n.contains("lora_"), Mode::Train, 0.0);
    }

    #[test]
    fn only_the_mlp_and_final_norm_train() {
        check(
            &[],
            &|n: &str| !(n.contains(".mlp.") || n == "model.norm.weight"),
            Mode::Train,
            0.0,
        );
    }

    #[test]
    fn inference() {
        check(&[], &|_| false, Mode::Eval, 0.1);
    }

    /// 150 tokens: the causal mask's blocks of 64 query rows (keys after a block skipped), the
    /// last block partial, the padded row too.
    #[test]
    fn long_sequences_in_causal_blocks() {
        check_len(&[], &|_| false, Mode::Train, 0.1, 150);
        check_len(&[], &|_| false, Mode::Eval, 0.0, 150);
    }
}
