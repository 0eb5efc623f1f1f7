//! Saving and reloading checkpoints, and clear errors for broken ones.

use candle_core::Device;
use retune_models::arch::{batch_tensor, EncoderInput, Head, ModelConfig};
use retune_models::classifier::SequenceClassifier;
use retune_models::nn::{Mode, Params};
use retune_models::save::save_encoder;
use retune_models::weights::Checkpoint;
use retune_models::ModelError;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::fixture;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retune-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn saved_classifier_reloads_with_the_same_logits() {
    let src = fixture("bert-tiny-b"); // pytorch_model.bin + vocab.txt: saved as safetensors
    let dev = Device::Cpu;
    let cfg = ModelConfig::from_dir(&src).unwrap();
    let params = cfg.load_params(&src, &dev).unwrap();
    let tensors = params.tensors().unwrap();
    let out = tmp("saved");
    save_encoder(&out, &cfg, Head::SequenceClassification, &tensors, None, Some(&src)).unwrap();
    for f in ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["architectures"][0], "BertForSequenceClassification");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(src.join("expected.json")).unwrap()).unwrap();
    let case = &expected["cases"][1];
    let ids = |k: &str| -> Vec<Vec<u32>> { serde_json::from_value(case[k].clone()).unwrap() };
    let input = EncoderInput {
        input_ids: batch_tensor(&ids("input_ids"), &dev).unwrap(),
        token_type_ids: batch_tensor(&ids("token_type_ids"), &dev).unwrap(),
        attention_mask: batch_tensor(&ids("attention_mask"), &dev).unwrap(),
    };
    let reloaded = SequenceClassifier::load(&out, &dev).unwrap();
    let got: Vec<f32> = reloaded
        .model
        .logits(&input, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let want: Vec<f32> = case["outputs"]["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32))
        .collect();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
    }
    // Saving over an existing checkpoint replaces it whole.
    save_encoder(&out, &cfg, Head::SequenceClassification, &tensors, None, Some(&src)).unwrap();
    // No temporary or replaced copy of this checkpoint is left beside it (other tests save into
    // the same temporary folder at the same time, so only this checkpoint's names are checked).
    let name = out.file_name().unwrap().to_string_lossy().to_string();
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&format!(".{name}.tmp-")) || n.starts_with(&format!(".{name}.old-")))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn load_err(dir: &Path) -> String {
    let dev = Device::Cpu;
    let r =
        ModelConfig::from_dir(dir).and_then(|cfg| cfg.load_model(dir, Head::SequenceClassification, &dev).map(|_| ()));
    match r {
        Err(e) => e.to_string(),
        Ok(()) => panic!("{} loaded but should not", dir.display()),
    }
}

#[test]
fn broken_checkpoints_give_clear_errors() {
    let src = fixture("bert-tiny-a");

    let d = tmp("badcfg");
    copy_dir(&src, &d);
    std::fs::write(
        d.join("config.json"),
        r#"{"model_type": "bert", "hidden_size": "thirty-two"}"#,
    )
    .unwrap();
    let e = load_err(&d);
    assert!(e.contains("config.json") && e.contains("hidden_size"), "{e}");

    // No model_type and no known class: the file and every supported type are named.
    std::fs::write(d.join("config.json"), r#"{"hidden_size": 32}"#).unwrap();
    let e = load_err(&d);
    assert!(
        e.contains("config.json")
            && e.contains("no model_type")
            && e.contains("bert, distilbert, roberta, xlm-roberta"),
        "{e}"
    );

    let d = tmp("heads");
    copy_dir(&src, &d);
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    cfg["num_attention_heads"] = 5.into();
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let e = load_err(&d);
    assert!(e.contains("num_attention_heads"), "{e}");

    let d = tmp("arch");
    copy_dir(&src, &d);
    let mut cfg2 = cfg.clone();
    cfg2["num_attention_heads"] = 4.into();
    cfg2["model_type"] = "gpt2".into();
    std::fs::write(d.join("config.json"), cfg2.to_string()).unwrap();
    let e = load_err(&d);
    assert!(
        e.contains("unsupported architecture") && e.contains("gpt2") && e.contains("distilbert, roberta, xlm-roberta"),
        "{e}"
    );

    let d = tmp("truncated");
    copy_dir(&src, &d);
    let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(&d);
    assert!(
        e.contains("model.safetensors") && e.contains("not a valid safetensors file"),
        "{e}"
    );

    let d = tmp("shape");
    copy_dir(&src, &d);
    let mut cfg3 = cfg.clone();
    cfg3["num_attention_heads"] = 4.into();
    cfg3["intermediate_size"] = 40.into();
    std::fs::write(d.join("config.json"), cfg3.to_string()).unwrap();
    let e = load_err(&d);
    assert!(
        e.contains("intermediate.dense.weight") && e.contains("[37, 32]") && e.contains("[40, 32]"),
        "{e}"
    );

    let d = tmp("noweights");
    copy_dir(&src, &d);
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    let e = load_err(&d);
    assert!(e.contains("no model.safetensors"), "{e}");

    let d = tmp("garbage-bin");
    copy_dir(&fixture("bert-tiny-b"), &d);
    std::fs::write(d.join("pytorch_model.bin"), b"PK\x03\x04 definitely not a torch zip").unwrap();
    let e = load_err(&d);
    assert!(e.contains("pytorch_model.bin"), "{e}");
    let _ = ModelError::NotFound {
        id: String::new(),
        message: String::new(),
    };
}

#[test]
fn saved_marian_reloads_with_the_same_logits() {
    use retune_models::marian::{MarianConfig, MarianMTModel};
    // Each saves the tensors transformers itself saves for its flags (and reads back).
    let names = |dir: &Path| -> Vec<String> {
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let mut n: Vec<String> = safetensors::SafeTensors::deserialize(&bytes)
            .unwrap()
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        n.sort();
        n
    };
    for name in [
        "marian-tiny-tied",
        "marian-tiny-untied",
        "marian-tiny-shared-untied",
        "marian-tiny-decoder-tied",
    ] {
        let src = fixture(name);
        let dev = Device::Cpu;
        let cfg = MarianConfig::from_file(&src.join("config.json")).unwrap();
        let params = Params::from_checkpoint(Checkpoint::load(&src, &dev).unwrap(), &dev).unwrap();
        let model = MarianMTModel::load(&params, &cfg).unwrap();
        let out = tmp(&format!("{name}-saved"));
        retune_models::save::save_marian(&out, &params, &cfg, Some(&src)).unwrap();
        for f in [
            "config.json",
            "model.safetensors",
            "source.spm",
            "target.spm",
            "vocab.json",
            "generation_config.json",
        ] {
            assert!(out.join(f).exists(), "{f} missing");
        }
        let cfg2 = MarianConfig::from_file(&out.join("config.json")).unwrap();
        let params2 = Params::from_checkpoint(Checkpoint::load(&out, &dev).unwrap(), &dev).unwrap();
        let model2 = MarianMTModel::load(&params2, &cfg2).unwrap();
        let ids = candle_core::Tensor::new(&[[2u32, 21, 20, 22, 5, 0]], &dev).unwrap();
        let mask = candle_core::Tensor::new(&[[1u32, 1, 1, 1, 1, 1]], &dev).unwrap();
        let dec = candle_core::Tensor::new(&[[cfg.decoder_start_token_id, 12, 40, 7]], &dev).unwrap();
        let a: Vec<f32> = model
            .forward(&ids, &mask, &dec, Mode::Eval)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f32> = model2
            .forward(&ids, &mask, &dec, Mode::Eval)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(a, b, "{name}");
        assert_eq!(names(&out), names(&src), "{name}: saved tensors");
    }
}

#[test]
fn sharded_safetensors_load_like_a_single_file() {
    let src = fixture("bert-tiny-a");
    let dev = Device::Cpu;
    let whole = Checkpoint::load(&src, &dev).unwrap();
    let d = tmp("sharded");
    copy_dir(&src, &d);
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    let mut names: Vec<&String> = whole.tensors.keys().collect();
    names.sort();
    let (a, b) = names.split_at(names.len() / 2);
    let mut map = serde_json::Map::new();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        let ts: Vec<(&str, &candle_core::Tensor)> = part.iter().map(|n| (n.as_str(), &whole.tensors[*n])).collect();
        safetensors::serialize_to_file(ts, None, &d.join(shard)).unwrap();
        for n in part {
            map.insert((*n).clone(), shard.into());
        }
    }
    std::fs::write(
        d.join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": map}).to_string(),
    )
    .unwrap();
    let sharded = Checkpoint::load(&d, &dev).unwrap();
    assert_eq!(sharded.tensors.len(), whole.tensors.len());
    for (n, t) in &whole.tensors {
        let s = &sharded.tensors[n];
        assert_eq!(s.to_vec1::<f32>().ok(), t.to_vec1::<f32>().ok());
        assert_eq!(
            s.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            "{n}"
        );
    }
    // A shard named in the index but missing is a clear error.
    std::fs::remove_file(d.join("model-00002-of-00002.safetensors")).unwrap();
    let e = Checkpoint::load(&d, &dev).err().unwrap().to_string();
    assert!(e.contains("model-00002-of-00002.safetensors"), "{e}");
}
