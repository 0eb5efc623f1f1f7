//! The causal-LM task on the shared loop (tiny random Llama fixture, real XSum text): a run
//! killed after a mid-epoch checkpoint and resumed writes the same log as the uninterrupted run
//! (LoRA adapters, AdamW moments, data order and schedule restored exactly), and prompt →
//! completion rows put the loss on the completion only.

use retune_models::causal::CausalLm;
use retune_models::Device;
use retune_train::lm::{lm_rows, train_lm, LmConfig, LmData};
use retune_train::strategy::Strategy;
use retune_train::trainer::LoopConfig;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../retune-models/tests/fixtures/llama-tiny-gqa3-tied")
}

fn xsum(from: usize, n: usize) -> Vec<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/xsum/test.jsonl");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .skip(from)
        .take(n)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["document"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retune-lm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn resumed_lm_run_reproduces_the_uninterrupted_log() {
    let cfg = LmConfig {
        strategy: Strategy::Lora { r: 4, alpha: 8.0 },
        lr: Some(3e-3),
        block_size: 32,
        train: LoopConfig {
            epochs: 2,
            batch_size: 8,
            eval_every: Some(3),
            keep_checkpoints: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let train = LmData::Documents(xsum(0, 4));
    let eval = LmData::Documents(xsum(900, 2));
    let run = |out: &PathBuf, resume: Option<&PathBuf>| {
        train_lm(
            &fixture(),
            &train,
            &eval,
            &cfg,
            Some(out),
            resume.map(|p| p.as_path()),
            &Device::Cpu,
            |_| {},
        )
        .unwrap()
    };
    let full = tempdir("full");
    let (summary, _) = run(&full, None);
    assert!(summary.run.steps >= 6, "{} steps", summary.run.steps);
    let cut = tempdir("cut");
    run(&cut, None);
    for entry in std::fs::read_dir(&cut).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("checkpoint-") && name != "checkpoint-3" {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    let log_path = cut.join("log.jsonl");
    let mut log = std::fs::read_to_string(&log_path).unwrap();
    log.push_str("{\"type\":\"step\",\"step\":999}\n");
    std::fs::write(&log_path, log).unwrap();
    run(&cut, Some(&cut));
    let a = std::fs::read_to_string(full.join("log.jsonl")).unwrap();
    let b = std::fs::read_to_string(cut.join("log.jsonl")).unwrap();
    assert_eq!(a, b, "resumed log differs from the uninterrupted one");
    std::fs::remove_dir_all(&full).unwrap();
    std::fs::remove_dir_all(&cut).unwrap();
}

#[test]
fn pairs_train_on_the_completion_only() {
    let lm = CausalLm::load(&fixture(), &Device::Cpu).unwrap();
    let data = LmData::Pairs {
        prompts: vec!["What did the court hear?".into()],
        completions: vec!["The defender denied the charges.".into()],
    };
    let rows = lm_rows(&lm, &data, 128, true).unwrap();
    // The prompt is the chat template's user turn with the assistant turn opened; the completion
    // and one EOS follow, and only they are targets.
    let prompt = lm
        .encode("<|im_start|>user\nWhat did the court hear?<|im_end|>\n<|im_start|>assistant\n")
        .unwrap();
    let completion = lm.encode("The defender denied the charges.").unwrap();
    assert_eq!(rows[0].first_target, prompt.len());
    assert_eq!(&rows[0].ids[..prompt.len()], &prompt[..]);
    assert_eq!(&rows[0].ids[prompt.len()..rows[0].ids.len() - 1], &completion[..]);
    assert_eq!(*rows[0].ids.last().unwrap(), lm.eos_ids[0]);
    // Without the template the prompt is the bare text.
    let plain = lm_rows(&lm, &data, 128, false).unwrap();
    assert_eq!(
        plain[0].first_target,
        lm.encode("What did the court hear?").unwrap().len()
    );
}

/// A learning rate that blows the weights up stops the run with the loop's non-finite error
/// (naming the step), and the checkpoint written before it is left intact.
#[test]
fn diverging_lm_run_stops_with_a_non_finite_error() {
    let cfg = LmConfig {
        strategy: Strategy::Full,
        lr: Some(1e9),
        block_size: 32,
        train: LoopConfig {
            epochs: 3,
            batch_size: 4,
            eval_every: Some(1),
            keep_checkpoints: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let out = tempdir("nan");
    let err = train_lm(
        &fixture(),
        &LmData::Documents(xsum(0, 4)),
        &LmData::Documents(xsum(900, 1)),
        &cfg,
        Some(&out),
        None,
        &Device::Cpu,
        |_| {},
    )
    .err()
    .expect("a learning rate of 1e9 must diverge");
    let msg = err.to_string();
    assert!(
        matches!(err, retune_train::error::TrainError::NonFinite { step, .. } if step >= 2),
        "{msg}"
    );
    assert!(msg.starts_with("non-finite "), "{msg}");
    // The first step's checkpoint is complete and holds finite weights.
    let ck = out.join("checkpoint-1/model.safetensors");
    let weights = candle_core::safetensors::load(&ck, &candle_core::Device::Cpu).unwrap();
    assert!(!weights.is_empty());
    for (name, t) in weights {
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{name} in {}", ck.display());
    }
    std::fs::remove_dir_all(&out).unwrap();
}
