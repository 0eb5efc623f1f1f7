//! The classification loop on a tiny random BERT (the fixture of retune-models): gradients
//! reach every trainable parameter, strategies freeze what they should, LoRA merges exactly,
//! a resumed run reproduces the uninterrupted one, and training learns a learnable task.

use candle_core::Device;
use retune_models::arch::EncoderInput;
use retune_models::nn::{self, Mode};
use retune_train::classify::{
    prepare_classifier, save_classifier, train_classifier, ClassifyConfig, ClassifyJob, LabeledTexts,
};
use retune_train::loss::cross_entropy_sum;
use retune_train::strategy::Strategy;
use retune_train::trainer::LoopConfig;
use std::path::PathBuf;

mod common;
use common::{labels, tempdir, toy};

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../retune-models/tests/fixtures/bert-tiny-a")
}

fn one_batch_loss(strategy: &Strategy) -> (retune_train::classify::ClassifierState, candle_core::Tensor) {
    nn::set_seed(1);
    let st = prepare_classifier(&tiny(), &labels(), strategy, 64, &Device::Cpu).unwrap();
    let data = toy(8, "t", 0);
    let texts: Vec<&str> = data.texts.iter().map(|s| s.as_str()).collect();
    let enc = st.tokenizer.encode_batch(&texts, None).unwrap();
    let input = EncoderInput::from_batch(&enc, &Device::Cpu).unwrap();
    let logits = st.model.logits(&input, Mode::Train).unwrap();
    let targets: Vec<i64> = data.labels.iter().map(|&y| y as i64).collect();
    let (loss, _) = cross_entropy_sum(&logits, &targets, 0.0).unwrap();
    (st, loss)
}

#[test]
fn every_trainable_parameter_gets_a_gradient_and_frozen_ones_none() {
    for strategy in [
        Strategy::Full,
        Strategy::Head,
        Strategy::Top { layers: 1 },
        Strategy::Lora { r: 4, alpha: 8.0 },
        Strategy::Scratch,
    ] {
        let (st, loss) = one_batch_loss(&strategy);
        let grads = retune_models::ops::backward(&loss).unwrap();
        let names = st.params.names();
        for name in &names {
            let var = st.params.var(name).unwrap();
            let g = grads.get(var.as_tensor());
            let trainable = st.trainable.contains(name);
            if trainable {
                let g = g.unwrap_or_else(|| panic!("{strategy}: {name} has no gradient"));
                let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
                // LoRA's A gets zero gradient at step 0 because B starts at zero; B must not.
                if !name.ends_with("lora_A.weight") {
                    assert!(norm > 0.0, "{strategy}: {name} has a zero gradient");
                }
            } else {
                assert!(g.is_none(), "{strategy}: frozen {name} got a gradient");
            }
        }
        let expect_count = match strategy {
            Strategy::Head => 4,                    // pooler + classifier
            Strategy::Lora { .. } => 4 + 2 * 2 * 2, // head + (A, B) x (query, value) x 2 layers
            _ => 0,
        };
        if expect_count > 0 {
            assert_eq!(st.trainable.len(), expect_count, "{strategy}: {:?}", st.trainable);
        }
        if let Strategy::Top { .. } = strategy {
            assert!(st
                .trainable
                .iter()
                .all(|n| !n.contains("layer.0.") && !n.contains("embeddings")));
            assert!(st.trainable.iter().any(|n| n.contains("layer.1.")));
        }
    }
}

#[test]
fn one_step_changes_every_trainable_parameter() {
    let dir = tempdir("one-step");
    let cfg = ClassifyConfig {
        strategy: Strategy::Full,
        lr: Some(1e-3),
        train: LoopConfig {
            epochs: 1,
            max_steps: Some(1),
            batch_size: 8,
            warmup_ratio: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    nn::set_seed(cfg.train.seed);
    let before = prepare_classifier(&tiny(), &labels(), &cfg.strategy, 64, &Device::Cpu).unwrap();
    let snapshot: Vec<(String, Vec<f32>)> = before
        .params
        .names()
        .into_iter()
        .map(|n| {
            let v = before
                .params
                .var(&n)
                .unwrap()
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (n, v)
        })
        .collect();
    let (summary, after) = train_classifier(job(cfg, toy(8, "train", 0), Some(dir.clone()), None), |_| {}).unwrap();
    assert_eq!(summary.run.steps, 1);
    for (name, v0) in snapshot {
        let v1 = after
            .params
            .var(&name)
            .unwrap()
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // Rows of the word/position tables that the batch never used keep their values (only
        // weight decay moves them), so compare whole tensors.
        assert_ne!(v0, v1, "{name} did not change after one step");
    }
}

fn job(
    cfg: ClassifyConfig,
    train: LabeledTexts,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
) -> ClassifyJob<'static> {
    let model: &'static std::path::Path = Box::leak(tiny().into_boxed_path());
    ClassifyJob {
        model_dir: model,
        labels: labels(),
        train,
        eval: toy(40, "eval", 1000),
        also_eval: vec![],
        out,
        resume,
        config: cfg,
        device: Device::Cpu,
    }
}

#[test]
fn learns_a_learnable_task_and_saves_a_loadable_checkpoint() {
    let dir = tempdir("learn");
    let cfg = ClassifyConfig {
        strategy: Strategy::Full,
        lr: Some(3e-3),
        train: LoopConfig {
            epochs: 6,
            batch_size: 16,
            ..Default::default()
        },
        ..Default::default()
    };
    let (summary, _) = train_classifier(job(cfg, toy(160, "train", 0), Some(dir.clone()), None), |_| {}).unwrap();
    let first = summary.evals.first().unwrap().accuracy;
    let best = summary.run.best.unwrap().0;
    assert!(best >= 0.9, "accuracy {first} -> best {best}");
    // The best model folder is a checkpoint retune-models reloads with the same accuracy.
    let clf = retune_models::classifier::SequenceClassifier::load(&dir.join("best"), &Device::Cpu).unwrap();
    assert_eq!(clf.labels, labels());
    let eval = toy(40, "eval", 1000);
    let texts: Vec<&str> = eval.texts.iter().map(|s| s.as_str()).collect();
    let preds = clf.predict(&texts, None, 16, |_| {}).unwrap();
    let acc = preds
        .iter()
        .zip(&eval.labels)
        .filter(|(p, &y)| p.label as u32 == y)
        .count() as f64
        / 40.0;
    assert!((acc - best).abs() < 1e-9, "reloaded accuracy {acc} vs best {best}");
    let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    assert!(log.lines().count() > 6);
    assert!(dir.join("summary.json").exists());
}

#[test]
fn lora_merge_gives_the_same_logits() {
    let strategy = Strategy::Lora { r: 4, alpha: 8.0 };
    nn::set_seed(3);
    let st = prepare_classifier(&tiny(), &labels(), &strategy, 64, &Device::Cpu).unwrap();
    // Give B non-zero values so the adapter matters.
    for name in st.params.names() {
        if name.ends_with("lora_B.weight") {
            let v = st.params.var(&name).unwrap();
            v.set(&nn::seeded_normal(v.dims(), 0.1, &Device::Cpu).unwrap()).unwrap();
        }
    }
    let texts = ["the good movie", "a bad film and it was"];
    let enc = st.tokenizer.encode_batch(&texts, None).unwrap();
    let input = EncoderInput::from_batch(&enc, &Device::Cpu).unwrap();
    let with_adapter = st
        .model
        .logits(&input, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let dir = tempdir("lora-merge");
    save_classifier(&st, &dir).unwrap();
    assert!(dir.join("adapter/adapter_model.safetensors").exists());
    let merged = retune_models::classifier::SequenceClassifier::load(&dir, &Device::Cpu).unwrap();
    let logits = merged
        .model
        .logits(&input, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (a, b) in with_adapter.iter().zip(&logits) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn resumed_run_reproduces_the_uninterrupted_log() {
    let cfg = ClassifyConfig {
        strategy: Strategy::Full,
        lr: Some(1e-3),
        train: LoopConfig {
            epochs: 2,
            batch_size: 8,
            eval_every: Some(3),
            keep_checkpoints: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let train = toy(40, "train", 0);
    let full_dir = tempdir("resume-full");
    train_classifier(job(cfg.clone(), train.clone(), Some(full_dir.clone()), None), |_| {}).unwrap();
    // The same recipe run to the end, then cut back to its step-3 checkpoint (mid-epoch: 5
    // batches per epoch), as if it had been killed after step 3.
    let cut_dir = tempdir("resume-cut");
    train_classifier(job(cfg.clone(), train.clone(), Some(cut_dir.clone()), None), |_| {}).unwrap();
    for entry in std::fs::read_dir(&cut_dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("checkpoint-") && name != "checkpoint-3" {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    // Garble the log after the checkpoint, as a killed run would leave it.
    let log_path = cut_dir.join("log.jsonl");
    let mut log = std::fs::read_to_string(&log_path).unwrap();
    log.push_str("{\"type\":\"step\",\"step\":999}\n");
    std::fs::write(&log_path, log).unwrap();
    train_classifier(
        job(cfg.clone(), train, Some(cut_dir.clone()), Some(cut_dir.clone())),
        |_| {},
    )
    .unwrap();
    let a = std::fs::read_to_string(full_dir.join("log.jsonl")).unwrap();
    let b = std::fs::read_to_string(cut_dir.join("log.jsonl")).unwrap();
    assert_eq!(a, b, "resumed log differs from the uninterrupted one");
    assert!(a.lines().count() >= 10);
}
