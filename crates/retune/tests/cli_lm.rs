//! The causal-LM commands on the tiny Llama fixtures (made by
//! `scripts/fixtures/make_llama_fixtures.py`, whose numbers transformers computed):
//! `eval perplexity` (sliding windows and truncation), `generate` (greedy, chat), `convert
//! gguf`, `finetune --task lm` (LoRA on XSum documents lowers eval perplexity, and the saved
//! model scores what the run reported), and the one-line errors.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn retune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retune")).args(args).output().unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let o = retune(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../retune-models/tests/fixtures")
}

fn expected(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn perplexity_matches_transformers_in_windows_and_truncated() {
    let dir = fixtures().join("llama-tiny-gqa3-tied");
    let exp = &expected(&dir.join("expected.json"))["cli_perplexity"];
    let docs = dir.join("documents.txt");
    let (m, d) = (dir.to_str().unwrap(), docs.to_str().unwrap());
    let j = ok_json(&[
        "eval",
        "perplexity",
        "--model",
        m,
        "--input",
        d,
        "--max-length",
        "32",
        "--stride",
        "16",
        "--json",
        "--ci",
    ]);
    let want = &exp["stride_32_16"];
    let rel = (j["perplexity"].as_f64().unwrap() / want["perplexity"].as_f64().unwrap() - 1.0).abs();
    assert!(rel < 1e-4, "{j} vs {want}");
    assert_eq!(j["tokens"], want["tokens"]);
    assert_eq!(j["truncated_documents"], 0);
    let ci = &j["ci"];
    assert!(ci["lower"].as_f64().unwrap() <= j["perplexity"].as_f64().unwrap());
    assert!(ci["upper"].as_f64().unwrap() >= j["perplexity"].as_f64().unwrap());
    let j = ok_json(&[
        "eval",
        "perplexity",
        "--model",
        m,
        "--input",
        d,
        "--max-length",
        "32",
        "--json",
    ]);
    let want = &exp["truncated_32"];
    let rel = (j["perplexity"].as_f64().unwrap() / want["perplexity"].as_f64().unwrap() - 1.0).abs();
    assert!(rel < 1e-4, "{j} vs {want}");
    assert_eq!(
        j["truncated_documents"], 3,
        "every document is longer than 32 tokens: {j}"
    );
}

#[test]
fn generate_and_convert_a_gguf() {
    let g = fixtures().join("llama-tiny-gqa3-tied.gguf");
    let exp = expected(&fixtures().join("llama-tiny-gqa3-tied.gguf.expected.json"));
    let out = std::env::temp_dir().join(format!("retune-cli-gguf-{}", std::process::id()));
    let o = retune(&["convert", "gguf", g.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let cfg = expected(&out.join("config.json"));
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["tie_word_embeddings"], true);
    // Greedy continuation of the fixture's first prompt, from the GGUF and from the folder:
    // transformers' tokens up to the first EOS.
    let run = &exp["generation"][0];
    let mut want: Vec<u64> = run["new_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    if let Some(i) = want.iter().position(|&t| t == 2) {
        want.truncate(i);
    }
    for model in [g.to_str().unwrap(), out.to_str().unwrap()] {
        let j = ok_json(&[
            "generate",
            "--model",
            model,
            "--prompt",
            "The government said",
            "--max-new-tokens",
            "12",
            "--json",
        ]);
        let got: Vec<u64> = j["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "{model}");
        assert_eq!(j["prompt_tokens"], run["ids"].as_array().unwrap().len());
    }
    // Sampling is reproducible by seed.
    let s = |seed: &str| {
        ok_json(&[
            "generate",
            "--model",
            g.to_str().unwrap(),
            "--prompt",
            "The government said",
            "--temperature",
            "1.0",
            "--top-p",
            "0.9",
            "--seed",
            seed,
            "--json",
        ])["ids"]
            .clone()
    };
    assert_eq!(s("3"), s("3"));
    // A prompt longer than the context (128 tokens) is one clear error.
    let long = "word ".repeat(400);
    let o = retune(&["generate", "--model", g.to_str().unwrap(), "--prompt", &long]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("context is 128"), "{err}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn empty_document_and_bad_gguf_are_one_line_errors() {
    let m = fixtures().join("llama-tiny-headdim");
    let input = std::env::temp_dir().join(format!("retune-empty-doc-{}.txt", std::process::id()));
    std::fs::write(&input, "a first document\n   \nthe third\n").unwrap();
    let o = retune(&[
        "eval",
        "perplexity",
        "--model",
        m.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains(&format!("{}:2: empty document", input.display())), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    std::fs::remove_file(&input).unwrap();
    let bad = fixtures().join("llama-bad-arch.gguf");
    let o = retune(&["eval", "perplexity", "--model", bad.to_str().unwrap(), "--input", "x"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("llama-bad-arch.gguf") && err.contains("falcon"),
        "{err}"
    );
}

#[test]
fn lora_on_documents_lowers_eval_perplexity_and_saves_what_it_scored() {
    let m = fixtures().join("llama-tiny-gqa3-tied");
    let xsum = repo().join("data/xsum/test.jsonl");
    let out = std::env::temp_dir().join(format!("retune-cli-lm-{}", std::process::id()));
    let train = format!("{}[:40]", xsum.display());
    let eval = format!("{}[900:915]", xsum.display());
    let j = ok_json(&[
        "finetune",
        "--task",
        "lm",
        "--model",
        m.to_str().unwrap(),
        "--train",
        &train,
        "--eval",
        &eval,
        "--text-column",
        "document",
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--block-size",
        "64",
        "--lr",
        "3e-3",
        "--json",
    ]);
    let before = j["before"]["perplexity"].as_f64().unwrap();
    let best = -j["run"]["best"][0].as_f64().unwrap();
    assert!(
        best < 0.5 * before,
        "LoRA should at least halve a random model's perplexity: {before} -> {best}"
    );
    let saved = out.join("best");
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
    ] {
        assert!(saved.join(f).exists(), "{f}");
    }
    let adapter = expected(&saved.join("adapter/adapter_config.json"));
    assert_eq!(adapter["task_type"], "CAUSAL_LM");
    assert_eq!(adapter["target_modules"].as_array().unwrap().len(), 7);
    // The merged checkpoint scores exactly what the run measured (windows of 64, stride 32).
    let p = ok_json(&[
        "eval",
        "perplexity",
        "--model",
        saved.to_str().unwrap(),
        "--input",
        &eval,
        "--column",
        "document",
        "--max-length",
        "64",
        "--stride",
        "32",
        "--json",
    ]);
    let rel = (p["perplexity"].as_f64().unwrap() / best - 1.0).abs();
    assert!(rel < 1e-5, "saved model {} vs run's best {best}", p["perplexity"]);
    std::fs::remove_dir_all(&out).unwrap();
}
