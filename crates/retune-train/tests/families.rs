//! Every encoder family × every strategy through the one model interface, on the tiny random
//! checkpoints of retune-models (BERT, DistilBERT with learned and with sinusoidal positions,
//! RoBERTa, XLM-R): gradients reach exactly the trainable parameters, LoRA adapts each family's
//! attention projections, a short fine-tune lowers the loss, and the saved checkpoint reloads
//! with the same predictions.

use candle_core::Device;
use retune_models::arch::EncoderInput;
use retune_models::nn::{self, Mode};
use retune_train::classify::{evaluate_texts, prepare_classifier, train_classifier, ClassifyConfig, ClassifyJob};
use retune_train::loss::cross_entropy_sum;
use retune_train::strategy::Strategy;
use retune_train::trainer::LoopConfig;
use std::path::PathBuf;

mod common;
use common::{labels, tempdir, toy};

/// (fixture, encoder layers, the names LoRA must adapt in every layer).
const FAMILIES: &[(&str, usize, [&str; 2])] = &[
    ("bert-tiny-a", 2, ["attention.self.query", "attention.self.value"]),
    ("distilbert-tiny-seq", 2, ["attention.q_lin", "attention.v_lin"]),
    ("distilbert-tiny-token", 3, ["attention.q_lin", "attention.v_lin"]),
    ("roberta-tiny-seq", 2, ["attention.self.query", "attention.self.value"]),
    ("xlmr-tiny-seq", 2, ["attention.self.query", "attention.self.value"]),
];

/// A job on fixture `name` with the toy task (nothing written unless `out` is given).
fn job(name: &str, config: ClassifyConfig, train: usize, eval: usize, out: Option<PathBuf>) -> ClassifyJob<'static> {
    ClassifyJob {
        model_dir: Box::leak(fixture(name).into_boxed_path()),
        labels: labels(),
        train: toy(train, "train", 0),
        eval: toy(eval, "eval", 1000),
        also_eval: vec![],
        out,
        resume: None,
        config,
        device: Device::Cpu,
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../retune-models/tests/fixtures")
        .join(name)
}

/// The optimizer's backward (fused layers and embeddings add their parameters' gradients
/// straight into its accumulators) against candle's store filled by `ops::backward`: the same
/// gradient for every trainable parameter, twice accumulated (two micro-batches).
#[test]
fn gradients_added_in_place_equal_the_stores() {
    use retune_train::optim::{AdamW, AdamWConfig};
    for &(name, _, _) in FAMILIES {
        for strategy in [
            Strategy::Full,
            Strategy::Lora { r: 4, alpha: 8.0 },
            Strategy::Top { layers: 1 },
        ] {
            let what = format!("{name} {strategy}");
            nn::set_seed(1);
            let st = prepare_classifier(&fixture(name), &labels(), &strategy, 64, &Device::Cpu).unwrap();
            let data = toy(8, "t", 0);
            let texts: Vec<&str> = data.texts.iter().map(|s| s.as_str()).collect();
            let input =
                EncoderInput::from_batch(&st.tokenizer.encode_batch(&texts, None).unwrap(), &Device::Cpu).unwrap();
            let targets: Vec<i64> = data.labels.iter().map(|&y| y as i64).collect();
            let loss = |seed: u64| {
                nn::set_seed(seed);
                let logits = st.model.logits(&input, Mode::Train).unwrap();
                cross_entropy_sum(&logits, &targets, 0.0).unwrap().0
            };
            let vars = || {
                st.trainable
                    .iter()
                    .map(|n| (n.clone(), st.params.var(n).unwrap()))
                    .collect::<Vec<_>>()
            };
            let (mut direct, mut stored) = (
                AdamW::new(vars(), AdamWConfig::default()),
                AdamW::new(vars(), AdamWConfig::default()),
            );
            for seed in [7, 8] {
                direct.backward(&loss(seed), 8.0).unwrap();
                let grads = retune_models::ops::backward(&loss(seed)).unwrap();
                stored.accumulate(&grads, 8.0).unwrap();
            }
            for p in &st.trainable {
                let (a, b) = (direct.grad_of(p).unwrap(), stored.grad_of(p).unwrap());
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
                let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(diff <= 1e-6 * scale, "{what}: {p} differs by {diff} (scale {scale})");
            }
            let (na, nb) = (direct.grad_norm(), stored.grad_norm());
            assert!(nb > 0.0 && (na - nb).abs() <= 1e-6 * nb, "{what}: norms {na} {nb}");
        }
    }
}

#[test]
fn every_family_and_strategy_gets_gradients_exactly_where_it_trains() {
    for &(name, layers, lora) in FAMILIES {
        for strategy in [
            Strategy::Full,
            Strategy::Head,
            Strategy::Top { layers: 1 },
            Strategy::Lora { r: 4, alpha: 8.0 },
            Strategy::Scratch,
        ] {
            nn::set_seed(1);
            let what = format!("{name} {strategy}");
            let st = prepare_classifier(&fixture(name), &labels(), &strategy, 64, &Device::Cpu).unwrap();
            let data = toy(8, "t", 0);
            let texts: Vec<&str> = data.texts.iter().map(|s| s.as_str()).collect();
            let input =
                EncoderInput::from_batch(&st.tokenizer.encode_batch(&texts, None).unwrap(), &Device::Cpu).unwrap();
            let logits = st.model.logits(&input, Mode::Train).unwrap();
            let targets: Vec<i64> = data.labels.iter().map(|&y| y as i64).collect();
            let (loss, _) = cross_entropy_sum(&logits, &targets, 0.0).unwrap();
            let grads = retune_models::ops::backward(&loss).unwrap();
            for p in st.params.names() {
                let g = grads.get(st.params.var(&p).unwrap().as_tensor());
                if st.trainable.contains(&p) {
                    let g = g.unwrap_or_else(|| panic!("{what}: {p} has no gradient"));
                    let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
                    // LoRA's A gets zero gradient at step 0 because B starts at zero; B must not.
                    if !p.ends_with("lora_A.weight") {
                        assert!(norm > 0.0, "{what}: {p} has a zero gradient");
                    }
                } else {
                    assert!(g.is_none(), "{what}: frozen {p} got a gradient");
                }
            }
            let t = &st.trainable;
            match strategy {
                // BERT: pooler + classifier; DistilBERT: pre_classifier + classifier; RoBERTa:
                // classifier.dense + classifier.out_proj — two linear layers each.
                Strategy::Head => assert_eq!(t.len(), 4, "{what}: {t:?}"),
                Strategy::Lora { .. } => {
                    let adapters: Vec<&String> = t.iter().filter(|n| n.contains(".lora_")).collect();
                    assert_eq!(adapters.len(), 2 * 2 * layers, "{what}: {t:?}");
                    for target in lora {
                        for l in 0..layers {
                            assert!(
                                adapters
                                    .iter()
                                    .any(|n| n.contains(&format!("layer.{l}.{target}.lora_B"))),
                                "{what}: no adapter on layer {l} {target}: {adapters:?}"
                            );
                        }
                    }
                    assert_eq!(t.len(), 4 + adapters.len(), "{what}: head + adapters");
                }
                Strategy::Top { .. } => {
                    assert!(
                        t.iter().all(|n| !n.contains("layer.0.") && !n.contains("embeddings")),
                        "{what}: {t:?}"
                    );
                    assert!(
                        t.iter().any(|n| n.contains(&format!("layer.{}.", layers - 1))),
                        "{what}"
                    );
                }
                _ => {
                    // DistilBERT's sinusoidal table is fixed, as in transformers.
                    let fixed = name == "distilbert-tiny-token";
                    let pos = t.iter().any(|n| n.contains("position_embeddings"));
                    assert_eq!(pos, !fixed, "{what}: position embeddings trainable = {pos}");
                }
            }
        }
    }
}

#[test]
fn a_short_fine_tune_lowers_the_loss_and_reloads_on_every_family() {
    for &(name, _, _) in FAMILIES {
        let dir = tempdir(&format!("family-{name}"));
        let model: &'static std::path::Path = Box::leak(fixture(name).into_boxed_path());
        let eval = toy(40, "eval", 1000);
        let cfg = ClassifyConfig {
            strategy: Strategy::Full,
            lr: Some(3e-3),
            train: LoopConfig {
                epochs: 3,
                batch_size: 16,
                ..Default::default()
            },
            ..Default::default()
        };
        nn::set_seed(cfg.train.seed);
        let before = prepare_classifier(model, &labels(), &cfg.strategy, 64, &Device::Cpu).unwrap();
        let loss0 = evaluate_texts(&before, &eval, 64).unwrap().loss;
        let job = job(name, cfg, 96, 40, Some(dir.clone()));
        let (summary, _) = train_classifier(job, |_| {}).unwrap();
        let last = summary.evals.last().unwrap();
        assert!(last.loss < loss0, "{name}: eval loss {loss0} -> {}", last.loss);
        // The best checkpoint reloads (as its family's class) with the same accuracy.
        let best = dir.join("best");
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(best.join("config.json")).unwrap()).unwrap();
        assert!(
            saved["architectures"][0]
                .as_str()
                .unwrap()
                .ends_with("ForSequenceClassification"),
            "{name}: {}",
            saved["architectures"]
        );
        let clf = retune_models::classifier::SequenceClassifier::load(&best, &Device::Cpu).unwrap();
        let texts: Vec<&str> = eval.texts.iter().map(|s| s.as_str()).collect();
        let preds = clf.predict(&texts, None, 16, |_| {}).unwrap();
        let acc = preds
            .iter()
            .zip(&eval.labels)
            .filter(|(p, &y)| p.label as u32 == y)
            .count() as f64
            / 40.0;
        let best_acc = summary.run.best.unwrap().0;
        assert!(
            (acc - best_acc).abs() < 1e-9,
            "{name}: reloaded accuracy {acc} vs best {best_acc}"
        );
    }
}

/// An XLM-R-sized vocabulary (≥ 100,000 rows) keeps its word embeddings frozen under `full`, and
/// says so; `scratch` (random embeddings) trains them.
#[test]
fn large_vocabularies_keep_word_embeddings_frozen_under_full() {
    use retune_models::arch::{Head, ModelConfig};
    let src = fixture("xlmr-tiny-seq");
    let dir = tempdir("xlmr-large-vocab");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    cfg["vocab_size"] = 100_000.into();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    // Weights for the config, as a model built from config.json alone would have them.
    let config = ModelConfig::from_dir(&dir).unwrap();
    let mut params = retune_models::nn::Params::empty(&Device::Cpu);
    params.init_missing = Some(0.02);
    config.build(&params, Head::SequenceClassification).unwrap();
    retune_models::save::save_encoder(
        &dir,
        &config,
        Head::SequenceClassification,
        &params.tensors().unwrap(),
        None,
        Some(&src),
    )
    .unwrap();
    let emb = "roberta.embeddings.word_embeddings.weight".to_string();
    let full = prepare_classifier(&dir, &labels(), &Strategy::Full, 64, &Device::Cpu).unwrap();
    assert!(!full.trainable.contains(&emb), "{:?}", full.trainable);
    assert!(full
        .trainable
        .contains(&"roberta.embeddings.position_embeddings.weight".to_string()));
    assert_eq!(full.notes.len(), 1);
    assert!(full.notes[0].contains("100000 rows"), "{}", full.notes[0]);
    let scratch = prepare_classifier(&dir, &labels(), &Strategy::Scratch, 64, &Device::Cpu).unwrap();
    assert!(scratch.trainable.contains(&emb));
    assert!(scratch.notes.is_empty());
    // The tiny fixture's 400 rows train under `full`.
    let small = prepare_classifier(&src, &labels(), &Strategy::Full, 64, &Device::Cpu).unwrap();
    assert!(small.trainable.contains(&emb) && small.notes.is_empty());
}

/// `head` runs the frozen encoder once per text and trains the head on the cached inputs: the
/// evaluation it reports must equal a full pass (encoder + head) over the same rows.
#[test]
fn head_strategy_on_cached_encoder_outputs_evaluates_like_a_full_pass() {
    for &(name, _, _) in FAMILIES {
        let eval = toy(40, "eval", 1000);
        let cfg = ClassifyConfig {
            strategy: Strategy::Head,
            lr: Some(1e-2),
            train: LoopConfig {
                epochs: 2,
                batch_size: 16,
                ..Default::default()
            },
            ..Default::default()
        };
        let job = job(name, cfg, 64, 40, None);
        let (summary, state) = train_classifier(job, |_| {}).unwrap();
        // The returned classifier holds the best evaluated parameters.
        let best_step = summary.run.best.unwrap().1;
        let reported = summary.evals.iter().find(|e| e.step == best_step).unwrap();
        let full = evaluate_texts(&state, &eval, 8).unwrap();
        assert_eq!(reported.predictions, full.predictions, "{name}");
        assert!(
            (reported.loss - full.loss).abs() < 1e-5,
            "{name}: {} vs {}",
            reported.loss,
            full.loss
        );
    }
}

/// Two runs of the same seeded fine-tune end with bit-identical weights on every family: every
/// parallel reduction (bias and LayerNorm gradients, AdamW) sums in a fixed order.
#[test]
fn the_same_seed_gives_bit_identical_weights() {
    for &(name, _, _) in FAMILIES {
        let run = || {
            let cfg = ClassifyConfig {
                strategy: Strategy::Full,
                lr: Some(1e-3),
                // 48 rows a batch: enough rows for the kernels to split their work across threads.
                train: LoopConfig {
                    epochs: 1,
                    batch_size: 48,
                    ..Default::default()
                },
                ..Default::default()
            };
            let job = job(name, cfg, 192, 16, None);
            let (_, state) = train_classifier(job, |_| {}).unwrap();
            let mut t: Vec<(String, Vec<u32>)> = state
                .params
                .tensors()
                .unwrap()
                .into_iter()
                .map(|(n, t)| {
                    let bits = t
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect();
                    (n, bits)
                })
                .collect();
            t.sort();
            t
        };
        let (a, b) = (run(), run());
        for ((na, va), (_, vb)) in a.iter().zip(&b) {
            assert!(va == vb, "{name}: {na} differs between two runs of the same seed");
        }
    }
}
