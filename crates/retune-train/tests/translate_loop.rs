//! Translation training on the tiny random Marian of retune-models: the loop lowers the loss
//! and raises BLEU on pairs it trains on; a model builds from its config alone for `scratch`;
//! the saved checkpoint reloads with the same translations.

use candle_core::Device;
use retune_train::strategy::Strategy;
use retune_train::trainer::{LoopConfig, LoopEvent};
use retune_train::translate::{evaluate_translation, prepare_translator, train_translator, PairTexts, TranslateConfig};
use std::path::PathBuf;

mod common;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../retune-models/tests/fixtures/marian-tiny-tied")
}

fn pairs() -> PairTexts {
    let src = [
        "the cat",
        "a dog runs",
        "good morning",
        "thank you very much",
        "see you",
    ];
    // Targets in the tiny Chinese target vocabulary.
    let tgt = ["我喜欢车", "他没有吃", "你好", "我们知道了", "她要去家里"];
    PairTexts {
        name: "toy".into(),
        sources: src.iter().map(|s| s.to_string()).collect(),
        targets: tgt.iter().map(|s| s.to_string()).collect(),
    }
}

fn config(strategy: Strategy, epochs: usize) -> TranslateConfig {
    TranslateConfig {
        strategy,
        lr: Some(5e-3),
        train: LoopConfig {
            epochs,
            batch_size: 5,
            warmup_ratio: 0.0,
            ..Default::default()
        },
        num_beams: 2,
        gen_max_length: 16,
        target_lang: "zh".into(),
        ..Default::default()
    }
}

#[test]
fn memorizes_pairs_loss_falls_and_bleu_rises() {
    let dir = std::env::temp_dir().join(format!("retune-translate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = pairs();
    let mut losses = Vec::new();
    let cfg = config(Strategy::Full, 60);
    let (summary, state) = train_translator(&tiny(), &data, &data, &cfg, Some(&dir), None, &Device::Cpu, |e| {
        if let LoopEvent::Step { loss, .. } = e {
            losses.push(*loss)
        }
    })
    .unwrap();
    assert_eq!(losses.len(), 60);
    assert!(losses[59] < losses[0] * 0.5, "loss {} -> {}", losses[0], losses[59]);
    let best = summary.run.best.unwrap().0;
    // The best checkpoint reloads (as transformers would) and translates the same way.
    let again = prepare_translator(&dir.join("best"), &Strategy::Full, &Device::Cpu).unwrap();
    let a = evaluate_translation(&state, &data, &cfg, &Device::Cpu).unwrap();
    let b = evaluate_translation(&again, &data, &cfg, &Device::Cpu).unwrap();
    assert_eq!(a.hypotheses, b.hypotheses);
    // The state the run returns holds the best evaluated model: it scores the best BLEU.
    assert!(
        (a.bleu - best).abs() < 1e-9,
        "returned state BLEU {} vs best {best}",
        a.bleu
    );
    let _ = again.config.generation_config();
}

#[test]
fn scratch_builds_from_config_alone_and_trains() {
    let dir = std::env::temp_dir().join(format!("retune-translate-scratch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "config.json",
        "source.spm",
        "target.spm",
        "tokenizer_config.json",
        "vocab.json",
    ] {
        std::fs::copy(tiny().join(f), dir.join(f)).unwrap();
    }
    let st = prepare_translator(&dir, &Strategy::Scratch, &Device::Cpu).unwrap();
    let n: usize = st
        .trainable
        .iter()
        .map(|n| st.params.var(n).unwrap().elem_count())
        .sum();
    let reference = prepare_translator(&tiny(), &Strategy::Full, &Device::Cpu).unwrap();
    let m: usize = reference
        .trainable
        .iter()
        .map(|n| reference.params.var(n).unwrap().elem_count())
        .sum();
    assert_eq!(n, m, "a model from config has the pretrained model's parameter count");
    let data = pairs();
    let mut losses = Vec::new();
    train_translator(
        &dir,
        &data,
        &data,
        &config(Strategy::Scratch, 30),
        None,
        None,
        &Device::Cpu,
        |e| {
            if let LoopEvent::Step { loss, .. } = e {
                losses.push(*loss)
            }
        },
    )
    .unwrap();
    assert!(losses[29] < losses[0] * 0.7, "loss {} -> {}", losses[0], losses[29]);
}

/// `top:1` trains the last decoder layer only; `lora:4` trains adapters on every attention's
/// q_proj and v_proj (encoder self, decoder self and cross attention), PEFT's Marian targets.
/// Both lower the loss; frozen weights stay bit-identical; the LoRA run saves merged weights
/// that reload (as transformers would) to the same translations.
#[test]
fn top_k_and_lora_train_only_their_parameters() {
    let data = pairs();
    let base = prepare_translator(&tiny(), &Strategy::Full, &Device::Cpu).unwrap();
    let layers = base.config.decoder_layers();
    let top = prepare_translator(&tiny(), &Strategy::Top { layers: 1 }, &Device::Cpu).unwrap();
    let prefix = format!("model.decoder.layers.{}.", layers - 1);
    assert!(!top.trainable.is_empty());
    assert!(
        top.trainable.iter().all(|n| n.starts_with(&prefix)),
        "{:?}",
        top.trainable
    );
    let e = prepare_translator(&tiny(), &Strategy::Top { layers: layers + 1 }, &Device::Cpu)
        .err()
        .unwrap();
    assert!(
        e.to_string().contains(&format!("the decoder has {layers} layers")),
        "{e}"
    );

    let lora = prepare_translator(&tiny(), &Strategy::Lora { r: 4, alpha: 8.0 }, &Device::Cpu).unwrap();
    let q_v: Vec<&String> = base
        .params
        .names()
        .iter()
        .filter(|n| n.ends_with(".q_proj.weight") || n.ends_with(".v_proj.weight"))
        .map(|n| base.trainable.iter().find(|t| *t == n).unwrap())
        .collect();
    assert_eq!(lora.trainable.len(), 2 * q_v.len());
    assert!(lora
        .trainable
        .iter()
        .all(|n| n.ends_with(".lora_A.weight") || n.ends_with(".lora_B.weight")));
    assert!(lora.trainable.iter().any(|n| n.contains("encoder_attn")));

    let dir = std::env::temp_dir().join(format!("retune-translate-lora-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (strategy, out) in [
        (Strategy::Top { layers: 1 }, None),
        (Strategy::Lora { r: 4, alpha: 8.0 }, Some(dir.as_path())),
    ] {
        let mut losses = Vec::new();
        let (_, state) = train_translator(
            &tiny(),
            &data,
            &data,
            &config(strategy.clone(), 30),
            out,
            None,
            &Device::Cpu,
            |e| {
                if let LoopEvent::Step { loss, .. } = e {
                    losses.push(*loss)
                }
            },
        )
        .unwrap();
        assert!(
            losses[29] < losses[0] * 0.9,
            "{strategy}: loss {} -> {}",
            losses[0],
            losses[29]
        );
        for name in base.params.names() {
            if state.trainable.contains(&name) {
                continue;
            }
            let (a, b) = (base.params.var(&name).unwrap(), state.params.var(&name).unwrap());
            let diff = common::max_abs_diff(a.as_tensor(), b.as_tensor());
            assert_eq!(diff, 0.0, "{strategy}: frozen {name} changed");
        }
        if let Some(dir) = out {
            let cfg = config(strategy.clone(), 30);
            let again = prepare_translator(&dir.join("best"), &Strategy::Full, &Device::Cpu).unwrap();
            assert!(!again.params.names().iter().any(|n| n.contains("lora_")));
            let a = evaluate_translation(&state, &data, &cfg, &Device::Cpu).unwrap();
            let b = evaluate_translation(&again, &data, &cfg, &Device::Cpu).unwrap();
            assert_eq!(
                a.hypotheses, b.hypotheses,
                "merged LoRA weights translate as the adapters did"
            );
        }
    }
}
