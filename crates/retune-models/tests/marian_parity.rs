//! Marian parity with `transformers` 5.24: tokenization, teacher-forced logits and loss, greedy
//! and beam-search `generate()` (sequences exactly, `sequences_scores` to 1e-4), on a tied
//! (shared embeddings, `scale_embedding`) and an untied (three matrices, separate vocabularies,
//! head dim 10) checkpoint. Expected values come from `scripts/fixtures/make_model_fixtures.py`.

use candle_core::{DType, Device, Tensor};
use retune_models::arch::batch_tensor;
use retune_models::generate::{generate, EarlyStopping, GenerationConfig};
use retune_models::marian::{
    seq2seq_loss, shift_tokens_right, unused_params, KvCache, MarianConfig, MarianMTModel, BUFFERS,
};
use retune_models::nn::{Mode, Params};
use retune_models::seq2seq::{translate, Seq2SeqNet, Seq2SeqTokenizer};
use retune_models::spm::MarianTokenizer;
use retune_models::weights::Checkpoint;
use serde_json::Value;
use std::path::Path;

mod common;
use common::{expected, fixture as dir, flat, floats, ids, ids1};

const FIXTURES: &[&str] = &[
    "marian-tiny-tied",
    "marian-tiny-untied",
    "marian-tiny-shared-untied",
    "marian-tiny-decoder-tied",
];

fn load(name: &str) -> (Params, MarianMTModel) {
    let d = dir(name);
    let dev = Device::Cpu;
    let config = MarianConfig::from_file(&d.join("config.json")).unwrap();
    let params = Params::from_checkpoint(Checkpoint::load(&d, &dev).unwrap(), &dev).unwrap();
    let model = MarianMTModel::load(&params, &config).unwrap();
    (params, model)
}

fn max_diff(got: &[f32], want: &[f32], what: &str) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max)
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    let worst = max_diff(got, want, what);
    assert!(worst <= tol, "{what}: max abs diff {worst}");
}

#[test]
fn tokenization_matches_transformers() {
    for name in FIXTURES {
        let tok = MarianTokenizer::from_dir(&dir(name)).unwrap();
        let exp = expected(name);
        for case in exp["tokenizer"]["source"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            assert_eq!(
                tok.encode_source(text),
                ids1(&case["input_ids"]),
                "{name}: source {text:?}"
            );
        }
        for case in exp["tokenizer"]["target"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let labels = ids1(&case["labels"]);
            assert_eq!(tok.encode_target(text), labels, "{name}: target {text:?}");
            assert_eq!(
                tok.decode(&labels, true),
                case["decoded"].as_str().unwrap(),
                "{name}: decode {text:?}"
            );
        }
        // The batches of the teacher-forced and generation cases too.
        let gi = &exp["generate_inputs"];
        for (text, want) in gi["src_texts"].as_array().unwrap().iter().zip(ids(&gi["input_ids"])) {
            let got = tok.encode_source(text.as_str().unwrap());
            assert_eq!(&got[..], &want[..got.len()], "{name}: {text}");
        }
    }
}

#[test]
fn teacher_forced_logits_and_loss_match() {
    for name in FIXTURES {
        let (_, model) = load(name);
        let exp = expected(name);
        let tf = &exp["teacher_forced"];
        let dev = Device::Cpu;
        let input_ids = batch_tensor(&ids(&tf["input_ids"]), &dev).unwrap();
        let mask = batch_tensor(&ids(&tf["attention_mask"]), &dev).unwrap();
        let labels: Vec<Vec<i64>> = tf["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
            .collect();
        let dec = shift_tokens_right(&labels, model.config.pad_token_id, model.config.decoder_start_token_id);
        assert_eq!(dec, ids(&tf["decoder_input_ids"]), "{name}: shift_tokens_right");
        let dec = batch_tensor(&dec, &dev).unwrap();

        let hidden = model.encode(&input_ids, &mask, Mode::Eval).unwrap();
        assert_close(
            &flat(&hidden.narrow(2, 0, 5).unwrap()),
            &floats(&tf["encoder_last_hidden_state_first5"]),
            1e-4,
            &format!("{name}: encoder first5"),
        );
        let d = hidden.dim(2).unwrap() as f32;
        assert_close(
            &flat(&hidden.sum(2).unwrap()),
            &floats(&tf["encoder_last_hidden_state_token_sum"]),
            1e-5 * d,
            &format!("{name}: encoder token sums"),
        );

        let logits = model.forward(&input_ids, &mask, &dec, Mode::Eval).unwrap();
        let shape: Vec<usize> = tf["logits_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(logits.dims(), &shape[..], "{name}: logits shape");
        let worst = max_diff(&flat(&logits), &floats(&tf["logits"]), name);
        eprintln!("{name}: teacher-forced logits max abs diff {worst:e}");
        assert!(worst <= 1e-4, "{name}: logits max abs diff {worst}");

        let flat_labels: Vec<i64> = labels.iter().flatten().copied().collect();
        let lt = Tensor::from_vec(flat_labels, (labels.len(), labels[0].len()), &dev).unwrap();
        let loss = seq2seq_loss(&logits, &lt).unwrap().to_scalar::<f32>().unwrap();
        let want = tf["loss"].as_f64().unwrap() as f32;
        assert!((loss - want).abs() <= 1e-4, "{name}: loss {loss} vs {want}");
    }
}

#[test]
fn cached_decoding_equals_full_decoding() {
    for name in FIXTURES {
        let (_, model) = load(name);
        let exp = expected(name);
        let tf = &exp["teacher_forced"];
        let dev = Device::Cpu;
        let input_ids = batch_tensor(&ids(&tf["input_ids"]), &dev).unwrap();
        let mask = batch_tensor(&ids(&tf["attention_mask"]), &dev).unwrap();
        let dec = batch_tensor(&ids(&tf["decoder_input_ids"]), &dev).unwrap();
        let hidden = model.encode(&input_ids, &mask, Mode::Eval).unwrap();
        let cross = model.cross_attention_state(&hidden, &mask).unwrap();
        let full = model.decode(&dec, None, &cross, None, Mode::Eval).unwrap();
        let mut cache = KvCache::new();
        let len = dec.dim(1).unwrap();
        // Two tokens, then one at a time.
        let mut parts = vec![model
            .decode(
                &dec.narrow(1, 0, 2).unwrap(),
                None,
                &cross,
                Some(&mut cache),
                Mode::Eval,
            )
            .unwrap()];
        for t in 2..len {
            parts.push(
                model
                    .decode(
                        &dec.narrow(1, t, 1).unwrap(),
                        None,
                        &cross,
                        Some(&mut cache),
                        Mode::Eval,
                    )
                    .unwrap(),
            );
        }
        assert_eq!(cache.len(), len);
        let stepped = Tensor::cat(&parts, 1).unwrap();
        assert_close(&flat(&stepped), &flat(&full), 1e-5, &format!("{name}: cached vs full"));
    }
}

fn generation_config(model: &MarianMTModel, kwargs: &Value) -> GenerationConfig {
    let mut g = model.config.generation_config();
    let u = |k: &str| kwargs[k].as_u64().map(|x| x as usize);
    g.max_length = u("max_length").unwrap();
    g.num_beams = u("num_beams").unwrap();
    g.length_penalty = kwargs["length_penalty"].as_f64().unwrap();
    g.bad_words_ids = ids(&kwargs["bad_words_ids"]);
    g.forced_eos_token_id = vec![kwargs["forced_eos_token_id"].as_u64().unwrap() as u32];
    g.eos_token_ids = vec![kwargs["eos_token_id"].as_u64().unwrap() as u32];
    g.pad_token_id = kwargs["pad_token_id"].as_u64().unwrap() as u32;
    g.decoder_start_token_id = kwargs["decoder_start_token_id"].as_u64().unwrap() as u32;
    g.num_return_sequences = u("num_return_sequences").unwrap_or(1);
    g.renormalize_logits = kwargs["renormalize_logits"].as_bool().unwrap_or(false);
    g.early_stopping = match &kwargs["early_stopping"] {
        Value::String(s) if s == "never" => EarlyStopping::Never,
        v if v.as_bool() == Some(true) => EarlyStopping::Stop,
        _ => EarlyStopping::Heuristic,
    };
    g.max_new_tokens = u("max_new_tokens");
    g.min_length = u("min_length").unwrap_or(0);
    g.min_new_tokens = u("min_new_tokens").unwrap_or(0);
    g.no_repeat_ngram_size = u("no_repeat_ngram_size").unwrap_or(0);
    g.repetition_penalty = kwargs["repetition_penalty"].as_f64().unwrap_or(1.0);
    assert_eq!(kwargs["do_sample"].as_bool(), Some(false));
    g
}

/// Runs every case of `cases` (transformers' kwargs, sequences, beam scores) through
/// `generate`, collecting mismatches.
fn check_generation_cases(
    name: &str,
    model: &MarianMTModel,
    inputs: &Value,
    cases: &Value,
    failures: &mut Vec<String>,
) {
    let dev = Device::Cpu;
    let input_ids = batch_tensor(&ids(&inputs["input_ids"]), &dev).unwrap();
    let mask = batch_tensor(&ids(&inputs["attention_mask"]), &dev).unwrap();
    for case in cases.as_array().unwrap() {
        let case_name = case["name"].as_str().unwrap();
        let cfg = generation_config(model, &case["kwargs"]);
        let out = generate(model, &input_ids, &mask, &cfg).unwrap();
        let want = ids(&case["sequences"]);
        if out.sequences != want {
            failures.push(format!(
                "{name} {case_name}: sequences\n  got  {:?}\n  want {:?}",
                out.sequences, want
            ));
            continue;
        }
        match (&out.scores, case["sequences_scores"].as_array()) {
            (None, None) => {}
            (Some(got), Some(_)) => {
                let w = max_diff(got, &floats(&case["sequences_scores"]), case_name);
                eprintln!("{name} {case_name}: sequences_scores max abs diff {w:e}");
                if w > 1e-4 {
                    failures.push(format!(
                        "{name} {case_name}: scores {got:?} vs {}",
                        case["sequences_scores"]
                    ));
                }
            }
            (g, w) => failures.push(format!("{name} {case_name}: scores presence {g:?} vs {w:?}")),
        }
    }
}

#[test]
fn greedy_and_beam_search_match_generate() {
    let mut failures = Vec::new();
    for name in FIXTURES {
        let (_, model) = load(name);
        let exp = expected(name);
        check_generation_cases(name, &model, &exp["generate_inputs"], &exp["generate"], &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `scripts/fixtures/make_generation_cases.py`: the processors and stopping rules beyond the
/// defaults (no repeated n-grams, minimum lengths, repetition penalty, `max_new_tokens`,
/// `early_stopping="never"`), greedy and beam.
#[test]
fn processors_and_stopping_rules_match_generate() {
    let mut failures = Vec::new();
    for name in FIXTURES {
        let (_, model) = load(name);
        let exp = expected(name);
        let path = dir(name).join("generation_cases.json");
        let cases: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(cases["cases"].as_array().unwrap().len(), 5, "{name}");
        check_generation_cases(name, &model, &exp["generate_inputs"], &cases["cases"], &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn generation_defaults_and_translate() {
    for name in FIXTURES {
        let d = dir(name);
        let (_, model) = load(name);
        let g = GenerationConfig::from_model_dir(&d, model.config.generation_config()).unwrap();
        let pad = model.config.pad_token_id;
        assert_eq!((g.num_beams, g.max_length, g.length_penalty), (4, 64, 1.0));
        assert_eq!(g.bad_words_ids, vec![vec![pad]]);
        assert_eq!(
            (
                g.forced_eos_token_id.clone(),
                g.eos_token_ids.clone(),
                g.decoder_start_token_id
            ),
            (vec![0], vec![0], pad)
        );
        // translate() = tokenize + generate + decode; compare with the greedy fixture texts.
        let exp = expected(name);
        let case = exp["generate"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "greedy")
            .unwrap();
        let cfg = generation_config(&model, &case["kwargs"]);
        let tok = Seq2SeqTokenizer::Marian(MarianTokenizer::from_dir(&d).unwrap());
        let texts: Vec<&str> = exp["generate_inputs"]["src_texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let got = translate(&Seq2SeqNet::Marian(model), &tok, &texts, &cfg).unwrap();
        let want: Vec<&str> = case["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{name}: translate");
    }
}

#[test]
fn training_forward_backward_reaches_every_parameter() {
    for name in FIXTURES {
        let (params, model) = load(name);
        let exp = expected(name);
        let tf = &exp["teacher_forced"];
        let dev = Device::Cpu;
        let input_ids = batch_tensor(&ids(&tf["input_ids"]), &dev).unwrap();
        let mask = batch_tensor(&ids(&tf["attention_mask"]), &dev).unwrap();
        let dec = batch_tensor(&ids(&tf["decoder_input_ids"]), &dev).unwrap();
        let labels: Vec<i64> = tf["labels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()))
            .collect();
        let labels = Tensor::from_vec(labels, dec.dims2().unwrap(), &dev).unwrap();
        let logits = model.forward(&input_ids, &mask, &dec, Mode::Train).unwrap();
        let loss = seq2seq_loss(&logits, &labels).unwrap();
        assert!(loss.to_scalar::<f32>().unwrap().is_finite());
        let grads = loss.backward().unwrap();
        let data = params.varmap.data().lock().unwrap();
        // Tied aliases were folded into one variable at load.
        assert!(!data.contains_key("model.encoder.embed_positions.weight"));
        let c = &model.config;
        if c.share_encoder_decoder_embeddings && c.tie_word_embeddings {
            assert!(data.contains_key("model.shared.weight") && !data.contains_key("lm_head.weight"));
        }
        if !c.tie_word_embeddings {
            assert!(data.contains_key("lm_head.weight"), "{name}");
        }
        let mut checked = 0;
        for (pname, var) in data.iter() {
            let g = grads.get(var.as_tensor());
            if BUFFERS.contains(&pname.as_str()) || unused_params(c).contains(&pname.as_str()) {
                assert!(g.is_none(), "{name}: {pname} must not be trained");
                continue;
            }
            let g = g.unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
            let norm = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{name}: gradient of {pname} is {norm}");
            checked += 1;
        }
        assert!(checked > 30, "{name}: only {checked} parameters");
    }
}

#[test]
fn config_errors_name_the_field() {
    let tmp = std::env::temp_dir().join(format!("marian-config-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(dir("marian-tiny-tied").join("config.json")).unwrap()).unwrap();
    let check = |field: &str, value: Value, needle: &str| {
        let mut v = base.clone();
        v[field] = value;
        let p: &Path = &tmp.join("config.json");
        std::fs::write(p, serde_json::to_string(&v).unwrap()).unwrap();
        let err = MarianConfig::from_file(p).unwrap_err().to_string();
        assert!(err.contains(needle), "{field}: {err}");
    };
    check("d_model", Value::from("wide"), "field 'd_model'");
    check(
        "encoder_attention_heads",
        Value::from(5),
        "field 'encoder_attention_heads'",
    );
    check(
        "activation_function",
        Value::from("mish"),
        "field 'activation_function'",
    );
    check("eos_token_id", Value::from("x"), "field 'eos_token_id'");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn older_checkpoint_layouts_load_to_the_same_model() {
    let name = "marian-tiny-tied";
    let d = dir(name);
    let dev = Device::Cpu;
    let config = MarianConfig::from_file(&d.join("config.json")).unwrap();
    let exp = expected(name);
    let tf = &exp["teacher_forced"];
    let input_ids = batch_tensor(&ids(&tf["input_ids"]), &dev).unwrap();
    let mask = batch_tensor(&ids(&tf["attention_mask"]), &dev).unwrap();
    let dec = batch_tensor(&ids(&tf["decoder_input_ids"]), &dev).unwrap();
    let want = floats(&tf["logits"]);
    // transformers 4 layout: every alias saved, with position tables; and one without
    // `model.shared.weight` or `final_logits_bias` at all (bias defaults to zeros).
    for keep_shared in [true, false] {
        let mut ckpt = Checkpoint::load(&d, &dev).unwrap();
        let shared = ckpt.tensors["model.shared.weight"].clone();
        for alias in [
            "model.encoder.embed_tokens.weight",
            "model.decoder.embed_tokens.weight",
            "lm_head.weight",
        ] {
            ckpt.tensors.insert(alias.into(), shared.copy().unwrap());
        }
        let pos = Tensor::zeros((64, 32), DType::F32, &dev).unwrap();
        ckpt.tensors
            .insert("model.encoder.embed_positions.weight".into(), pos.clone());
        ckpt.tensors.insert("model.decoder.embed_positions.weight".into(), pos);
        if !keep_shared {
            ckpt.tensors.remove("model.shared.weight");
            ckpt.tensors.remove("final_logits_bias");
        }
        let params = Params::from_checkpoint(ckpt, &dev).unwrap();
        let model = MarianMTModel::load(&params, &config).unwrap();
        let mut names: Vec<String> = params
            .varmap
            .data()
            .lock()
            .unwrap()
            .keys()
            .filter(|k| !k.contains(".layers."))
            .cloned()
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["final_logits_bias".to_string(), "model.shared.weight".to_string()]
        );
        let logits = model.forward(&input_ids, &mask, &dec, Mode::Eval).unwrap();
        if keep_shared {
            assert_close(&flat(&logits), &want, 1e-4, "old layout");
        } else {
            let bias = floats(&exp["final_logits_bias"]);
            let v = bias.len();
            let unbiased: Vec<f32> = want.iter().enumerate().map(|(i, x)| x - bias[i % v]).collect();
            assert_close(&flat(&logits), &unbiased, 1e-4, "old layout without bias");
        }
    }
}
