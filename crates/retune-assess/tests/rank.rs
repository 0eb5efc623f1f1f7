//! `retune rank`'s pieces on the real MiniLM: every layer's mean-pooled features against
//! transformers' `hidden_states` (golden from `scripts/golden/make_transferability_golden.py`),
//! and the ranking of MiniLM against two candidates derived from it — its random-initialised
//! twin (`scratch`: a floor every real model must beat) and its first three layers (whose
//! per-layer estimates must be MiniLM's own first three).

use candle_core::Device;
use retune_assess::rank::{rank_classification, AccuracyOn, Candidate, RankConfig};
use retune_data::{read_text_dataset, Columns, ReadOptions};
use retune_models::arch::{Head, ModelConfig};
use retune_models::text_tokenizer::TextTokenizer;
use retune_train::probe::extract_layer_features;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn minilm() -> PathBuf {
    let m = root().join("models/all-MiniLM-L6-v2");
    assert!(m.exists(), "{} is missing: run scripts/fetch_minilm.sh", m.display());
    m
}

fn copy_tokenizer(from: &Path, to: &Path) {
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "special_tokens_map.json",
    ] {
        if from.join(f).exists() {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
    }
}

#[test]
fn layer_features_match_transformers_hidden_states() {
    let g: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/transferability.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let want = &g["minilm_layers"];
    let texts: Vec<&str> = want["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let dir = minilm();
    let config = ModelConfig::from_dir(&dir).unwrap();
    let (_, model) = config.load_model(&dir, Head::Base, &Device::Cpu).unwrap();
    let tok = TextTokenizer::load(&dir, 128).unwrap();
    let rows = tok.encode_rows(&texts, None).unwrap();
    let layers = extract_layer_features(model.as_ref(), 6, 384, &tok, &rows, 2, &Device::Cpu, |_| {}).unwrap();
    let golden = want["layers"].as_array().unwrap();
    assert_eq!(layers.len(), golden.len());
    for (l, (f, w)) in layers.iter().zip(golden).enumerate() {
        for (i, row) in w.as_array().unwrap().iter().enumerate() {
            for (j, v) in row.as_array().unwrap().iter().enumerate() {
                let (got, v) = (f.row(i)[j], v.as_f64().unwrap() as f32);
                assert!((got - v).abs() < 1e-4, "layer {} text {i} dim {j}: {got} vs {v}", l + 1);
            }
        }
    }
}

/// The real model's probe accuracy is above its random twin's on every layer.
fn probe_beats_on_every_layer(real: &Candidate, twin: &Candidate) {
    for (a, b) in real.layers.iter().zip(&twin.layers) {
        assert!(
            a.probe_accuracy > b.probe_accuracy,
            "layer {}: probe {} vs scratch {}",
            a.layer,
            a.probe_accuracy,
            b.probe_accuracy
        );
    }
}

#[test]
fn the_scratch_twin_never_outranks_the_pretrained_model() {
    let dir = minilm();
    let tmp = std::env::temp_dir().join(format!("retune-rank-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    // The random-initialised twin: MiniLM's architecture and tokenizer, transformers' initialisation.
    let scratch = tmp.join("minilm-scratch");
    let config = ModelConfig::from_dir(&dir).unwrap();
    let (params, _) = config.load_model(&dir, Head::Base, &Device::Cpu).unwrap();
    retune_models::nn::set_seed(7);
    params.reinitialize(config.arch().initializer_range()).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    retune_models::save::save_encoder(
        &scratch,
        &config,
        Head::Base,
        &params.tensors().unwrap(),
        None,
        Some(&dir),
    )
    .unwrap();
    // The first three layers of MiniLM: the same weights, a config that stops after layer 3.
    let three = tmp.join("minilm-3-layers");
    std::fs::create_dir_all(&three).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    cfg["num_hidden_layers"] = serde_json::json!(3);
    std::fs::write(three.join("config.json"), cfg.to_string()).unwrap();
    std::fs::copy(dir.join("model.safetensors"), three.join("model.safetensors")).unwrap();
    copy_tokenizer(&dir, &three);
    let trec = root().join("data/trec_question_classification");
    let read = |spec: String| read_text_dataset(&spec, &Columns::default(), &ReadOptions::default()).unwrap();
    let train = read(format!("{}", trec.join("train.tsv").display()));
    let labels = train.label_set().unwrap();
    let eval = read(format!("{}[:200]", trec.join("test.tsv").display()));
    let cfg = RankConfig {
        rows: Some(400),
        ..Default::default()
    };
    let r = rank_classification(
        &[scratch.clone(), dir.clone(), three.clone()],
        &train,
        Some(&eval),
        &labels,
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    let by = |p: &Path| r.candidates.iter().find(|c| c.model == p).unwrap();
    let (real, rnd, short) = (by(&dir), by(&scratch), by(&three));
    assert!(
        real.average.logme > rnd.average.logme,
        "{} vs scratch {}",
        real.average.logme,
        rnd.average.logme
    );
    assert!(r.candidates.last().unwrap().model == scratch, "scratch must rank last");
    probe_beats_on_every_layer(real, rnd);
    assert_eq!(short.layers.len(), 3);
    for (a, b) in short.layers.iter().zip(&real.layers) {
        assert!(
            (a.logme - b.logme).abs() < 1e-9 && (a.hscore - b.hscore).abs() < 1e-9,
            "layer {}",
            a.layer
        );
        assert_eq!(a.knn_accuracy, b.knn_accuracy);
    }
    // Without eval rows the accuracies are cross-validated on the training sample: no eval row
    // is read, and the real model's held-out probe still beats its random twin's on every layer.
    let cv = RankConfig {
        rows: Some(200),
        ..Default::default()
    };
    let r = rank_classification(&[scratch.clone(), dir.clone()], &train, None, &labels, &cv, &mut |_| {}).unwrap();
    assert_eq!(r.accuracy_on, AccuracyOn::CrossValidated);
    assert_eq!((r.train_rows, r.eval_rows), (200, 0));
    assert!(r.candidates[0].model == dir, "MiniLM first without eval rows");
    probe_beats_on_every_layer(&r.candidates[0], &r.candidates[1]);
    let (a, b) = (&r.candidates[0].average, &r.candidates[1].average);
    assert!(
        a.knn_accuracy > b.knn_accuracy,
        "10-NN {} vs scratch {}",
        a.knn_accuracy,
        b.knn_accuracy
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
