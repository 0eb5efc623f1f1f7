//! The real SmolLM2-135M-Instruct GGUF (fetched by `scripts/fetch_smollm2.sh`; CI runs it)
//! against transformers reading the same GGUF on its own (golden numbers from
//! `scripts/golden/make_llama_golden.py`): token ids, logits to 1e-4, perplexity to 1e-4
//! relative (truncated and in sliding windows), greedy continuations token for token, the chat
//! template's rendering; and the folder `retune convert gguf` writes gives the same logits.

use retune_models::causal::chat::user_prompt;
use retune_models::causal::perplexity::{document_nll, PerplexityOptions};
use retune_models::causal::sample::{generate, SamplingOptions};
use retune_models::causal::CausalLm;
use retune_models::gguf::GgufModel;
use retune_models::Device;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

fn gguf() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.exists(), "{} is missing: run scripts/fetch_smollm2.sh", p.display());
    p
}

fn golden() -> &'static Value {
    static G: OnceLock<Value> = OnceLock::new();
    G.get_or_init(|| {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/smollm2.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    })
}

fn lm() -> &'static CausalLm {
    static LM: OnceLock<CausalLm> = OnceLock::new();
    LM.get_or_init(|| CausalLm::load(&gguf(), &Device::Cpu).unwrap())
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Checks logits of `model` on every golden text against transformers.
fn check_logits(model: &CausalLm) {
    let g = golden();
    let sample_ids = ids(&g["vocab_sample_ids"]);
    for t in g["texts"].as_array().unwrap() {
        let text = t["text"].as_str().unwrap();
        let want = ids(&t["ids"]);
        assert_eq!(model.encode(text).unwrap(), want, "token ids of {text:?}");
        let logits = model.logits(&want).unwrap().squeeze(0).unwrap();
        let lse: Vec<f32> = logits.log_sum_exp(1).unwrap().to_vec1().unwrap();
        for (i, (a, b)) in lse.iter().zip(floats(&t["lse"])).enumerate() {
            assert!(
                (*a as f64 - b).abs() < 1e-4,
                "{text:?} position {i}: logsumexp {a} vs {b}"
            );
        }
        let argmax: Vec<u32> = logits.argmax(1).unwrap().to_vec1().unwrap();
        assert_eq!(argmax, ids(&t["argmax"]), "argmax of {text:?}");
        let rows: Vec<Vec<f32>> = logits.to_vec2().unwrap();
        for (k, p) in t["sample_positions"].as_array().unwrap().iter().enumerate() {
            let p = p.as_u64().unwrap() as usize;
            for (j, want) in floats(&t["sample_logits"][k]).iter().enumerate() {
                let got = rows[p][sample_ids[j] as usize] as f64;
                assert!(
                    (got - want).abs() < 1e-4,
                    "{text:?} position {p} id {}: {got} vs {want}",
                    sample_ids[j]
                );
            }
        }
    }
}

#[test]
fn gguf_logits_match_transformers() {
    check_logits(lm());
}

#[test]
fn converted_folder_gives_the_same_logits() {
    let dir = std::env::temp_dir().join(format!("retune-smollm2-hf-{}", std::process::id()));
    GgufModel::read(&gguf(), &Device::Cpu)
        .unwrap()
        .write_hf_folder(&dir)
        .unwrap();
    let folder = CausalLm::load(&dir, &Device::Cpu).unwrap();
    // No lm_head is written for tied embeddings, as transformers saves them.
    assert!(!folder.params.contains("lm_head.weight"));
    check_logits(&folder);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn perplexity_matches_the_hf_guide() {
    let g = &golden()["perplexity"];
    let docs: Vec<Vec<u32>> = g["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| lm().encode(d.as_str().unwrap()).unwrap())
        .collect();
    for (key, max_length, stride) in [
        ("full", 8192, None),
        ("truncated_64", 64, None),
        ("stride_64_32", 64, Some(32)),
        ("stride_48_48", 48, Some(48)),
    ] {
        let opts = PerplexityOptions {
            max_length,
            stride,
            batch_tokens: 256,
        };
        let scored = document_nll(lm(), &docs, &opts, |_| {}).unwrap();
        let nll: f64 = scored.iter().map(|d| d.nll).sum();
        let n: usize = scored.iter().map(|d| d.predicted).sum();
        assert_eq!(n as u64, g[key]["tokens"].as_u64().unwrap(), "{key}: predicted tokens");
        let ppl = (nll / n as f64).exp();
        let want = g[key]["perplexity"].as_f64().unwrap();
        assert!(((ppl - want) / want).abs() < 1e-4, "{key}: perplexity {ppl} vs {want}");
        assert_eq!(
            scored.iter().any(|d| d.truncated),
            stride.is_none() && docs.iter().any(|d| d.len() > max_length),
            "{key}: truncation reported"
        );
    }
}

#[test]
fn greedy_generation_matches_transformers() {
    let g = &golden()["generation"];
    let opts = SamplingOptions {
        max_new_tokens: g["max_new_tokens"].as_u64().unwrap() as usize,
        ..SamplingOptions::default()
    };
    for run in g["runs"].as_array().unwrap() {
        let prompt = run["prompt"].as_str().unwrap();
        let text = if run["chat"].as_bool().unwrap() {
            let rendered = user_prompt(lm(), prompt).unwrap();
            assert_eq!(rendered, run["rendered"].as_str().unwrap(), "chat template");
            rendered
        } else {
            prompt.to_string()
        };
        let out = generate(lm(), &lm().encode(&text).unwrap(), &opts).unwrap();
        let mut want = ids(&run["new_ids"]);
        // transformers keeps the EOS it stopped at; retune's continuation ends before it.
        if want.last().is_some_and(|t| lm().eos_ids.contains(t)) {
            want.pop();
        }
        assert_eq!(out.ids, want, "greedy continuation of {prompt:?}");
    }
}
