//! Token classification (NER): sub-word alignment against `transformers`' recipe on real WNUT
//! 2017 and Universal NER Chinese sentences with the real MiniLM tokenizer, windows of long
//! sentences, and a short fine-tune of a tiny tagger whose saved checkpoint reloads as a
//! `*ForTokenClassification` with the run's labels and tags as the trained model did.

use std::path::PathBuf;

use retune_data::tagged::read_tagged_spec;
use retune_metrics::seqeval::{SeqevalConfig, SeqevalReport};
use retune_models::classifier::TokenTagger;
use retune_models::text_tokenizer::TextTokenizer;
use retune_train::strategy::Strategy;
use retune_train::tag::{evaluate_tagger, label_list, train_tagger, windows, TagConfig, TagJob, TaggedSentences};
use retune_train::trainer::LoopConfig;
use serde_json::Value;

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The alignment golden (scripts/golden/make_ner_alignment_golden.py: transformers' tokenizer
/// with is_split_into_words=True and word_ids()), its labels, and the real MiniLM tokenizer.
/// The `tokens` of every sentence of a golden file.
fn golden_words(sentences: &[Value]) -> Vec<Vec<String>> {
    sentences
        .iter()
        .map(|s| {
            s["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

fn alignment_golden() -> (Value, Vec<String>, TextTokenizer) {
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-train/tests/golden/ner_alignment.json")).unwrap(),
    )
    .unwrap();
    let labels = g["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().into())
        .collect();
    let tok = TextTokenizer::load(&root().join("models/all-MiniLM-L6-v2"), 512).unwrap();
    (g, labels, tok)
}

#[test]
fn subword_labels_match_transformers_on_real_sentences() {
    let (g, labels, tok) = alignment_golden();
    let sents = g["sentences"].as_array().unwrap();
    assert_eq!(sents.len(), 100);
    let words = golden_words(sents);
    let encs = tok.encode_words(&words).unwrap();
    let ints = |v: &Value| -> Vec<i64> { v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect() };
    for (i, (s, enc)) in sents.iter().zip(&encs).enumerate() {
        let ids: Vec<i64> = enc.ids.iter().map(|&x| x as i64).collect();
        assert_eq!(ids, ints(&s["input_ids"]), "sentence {i}: ids");
        let tags: Vec<u32> = s["ner_tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| labels.iter().position(|l| l == t.as_str().unwrap()).unwrap() as u32)
            .collect();
        for (all, key) in [(false, "labels_first"), (true, "labels_all")] {
            let w = windows(i, enc, Some(&tags), &labels, 512, 32, all);
            assert_eq!(w.len(), 1);
            assert_eq!(w[0].targets, ints(&s[key]), "sentence {i}: {key}");
        }
    }
}

#[test]
fn long_sentences_are_windowed_and_stitched_back_not_truncated() {
    let (g, labels, tok) = alignment_golden();
    for s in g["sentences"].as_array().unwrap().iter().take(30) {
        let words: Vec<String> = s["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().into())
            .collect();
        let enc = &tok.encode_words(&[words.clone()]).unwrap()[0];
        let first: Vec<i64> = s["labels_first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let tags = vec![0u32; words.len()];
        let w = windows(0, enc, Some(&tags), &labels, 12, 4, false);
        // Every word with a sub-word is predicted by exactly one window; words without one by none.
        let mut seen = vec![0; words.len()];
        for win in &w {
            assert!(win.row.ids.len() <= 12);
            for p in win.predicts.iter().flatten() {
                seen[*p] += 1;
            }
        }
        let pieces: Vec<bool> = (0..words.len()).map(|k| enc.words.contains(&Some(k))).collect();
        for (k, (&n, &has)) in seen.iter().zip(&pieces).enumerate() {
            assert_eq!(n, has as usize, "word {k} {:?}", words[k]);
        }
        // The labelled first sub-words are those transformers labels, window by window.
        let labelled: usize = first.iter().filter(|&&t| t >= 0).count();
        let covered: std::collections::BTreeSet<usize> = w
            .iter()
            .flat_map(|win| win.predicts.iter().flatten().copied())
            .collect();
        assert_eq!(covered.len(), labelled);
    }
}

fn tagged(spec: &str, name: &str) -> TaggedSentences {
    let c = read_tagged_spec(&root().join(spec).to_string_lossy(), None).unwrap();
    TaggedSentences {
        name: name.into(),
        words: c.sentences.iter().map(|s| s.tokens.clone()).collect(),
        tags: c.tags(),
    }
}

#[test]
fn a_tiny_tagger_learns_and_its_checkpoint_reloads() {
    // WNUT 2017 sentences (see data/README.md); the tiny random BERT token-classification
    // fixture (crates/retune-models/tests/fixtures/bert-tiny-token) with a new 13-tag head.
    let train = tagged("data/ner_wnut17/train.jsonl[:200]", "train");
    let eval = tagged("data/ner_wnut17/validation.jsonl[:60]", "eval");
    let labels = label_list(train.tags.iter().chain(&eval.tags));
    let dir = root().join("crates/retune-models/tests/fixtures/bert-tiny-token");
    let out = std::env::temp_dir().join(format!("retune-ner-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let cfg = TagConfig {
        strategy: Strategy::Full,
        lr: Some(5e-3),
        train: LoopConfig {
            epochs: 3,
            batch_size: 16,
            warmup_ratio: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let (summary, state) = train_tagger(
        TagJob {
            model_dir: &dir,
            labels: labels.clone(),
            train: train.clone(),
            eval: eval.clone(),
            also_eval: Vec::new(),
            out: Some(out.clone()),
            resume: None,
            config: cfg.clone(),
            device: retune_models::device::select("cpu").unwrap(),
        },
        |_| {},
    )
    .unwrap();
    // The loss falls (most tokens are O: the head learns that first).
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let losses: Vec<f64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "step")
        .map(|v| v["loss"].as_f64().unwrap())
        .collect();
    assert!(losses.len() >= 30);
    assert!(losses.last().unwrap() < &(0.5 * losses[0]), "{losses:?}");
    // Its evaluation is seqeval's report of its word-level predictions.
    let e = evaluate_tagger(&state, &eval, &cfg, summary.run.steps).unwrap();
    let again = SeqevalReport::compute(&e.predictions, &eval.tags, &SeqevalConfig::default()).unwrap();
    assert_eq!(e.report, again);
    assert!(e.report.accuracy > 0.8, "token accuracy {}", e.report.accuracy);
    // The saved best model is a BertForTokenClassification with the run's labels that tags as
    // the in-memory model does.
    let best = out.join("best");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(best.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");
    for (i, l) in labels.iter().enumerate() {
        assert_eq!(config["id2label"][i.to_string()], l.as_str());
    }
    let tagger = TokenTagger::load(&best, &retune_models::device::select("cpu").unwrap()).unwrap();
    assert_eq!(tagger.labels, labels);
    let texts: Vec<String> = eval.words.iter().take(8).map(|w| w.join(" ")).collect();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let batch = tagger.tokenizer.encode_batch(&refs, None).unwrap();
    let dev = retune_models::device::select("cpu").unwrap();
    let input = retune_models::arch::EncoderInput::from_batch(&batch, &dev).unwrap();
    let mode = retune_models::nn::Mode::Eval;
    let a = tagger.model.logits(&input, mode).unwrap();
    let b = state.model.logits(&input, mode).unwrap();
    let diff = common::max_abs_diff(&a, &b);
    assert!(diff < 1e-5, "reloaded logits differ by {diff}");
    let _ = std::fs::remove_dir_all(&out);
}

/// `--strategy probe` for NER: the logistic regression on the frozen first-sub-word states,
/// folded into the head, tags every word as the probe itself predicts it (refitted here on the
/// same features, standardized in the probe's own way), and the saved checkpoint reloads with
/// the same logits.
#[test]
fn the_token_probe_is_folded_into_the_head_exactly() {
    use retune_train::probe::{argmax_rows, LogisticRegression, ProbeConfig};
    let train = tagged("data/ner_wnut17/train.jsonl[:120]", "train");
    let eval = tagged("data/ner_wnut17/validation.jsonl[:40]", "eval");
    let labels = label_list(train.tags.iter().chain(&eval.tags));
    // The real MiniLM: a tiny random encoder's features let the probe predict only O.
    let dir = root().join("models/all-MiniLM-L6-v2");
    assert!(
        dir.exists(),
        "{} is missing: run scripts/fetch_minilm.sh",
        dir.display()
    );
    let out = std::env::temp_dir().join(format!("retune-ner-probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let cfg = TagConfig {
        strategy: Strategy::Probe,
        ..Default::default()
    };
    let dev = retune_models::device::select("cpu").unwrap();
    let (summary, state) = train_tagger(
        TagJob {
            model_dir: &dir,
            labels: labels.clone(),
            train: train.clone(),
            eval: eval.clone(),
            also_eval: Vec::new(),
            out: Some(out.clone()),
            resume: None,
            config: cfg.clone(),
            device: dev.clone(),
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(summary.run.steps, 0);
    // The probe refitted on the training words' features predicts the eval words as the
    // folded head does.
    let (ftrain, has) = retune_train::tag::word_features(&state, &train, &cfg, &mut |_, _| {}).unwrap();
    let keep: Vec<usize> = (0..ftrain.n).filter(|&i| has[i]).collect();
    let y: Vec<u32> = train
        .tags
        .iter()
        .flatten()
        .enumerate()
        .filter(|(i, _)| has[*i])
        .map(|(_, t)| labels.iter().position(|l| l == t).unwrap() as u32)
        .collect();
    let probe = LogisticRegression::fit(&ftrain.select(&keep), &y, labels.len(), ProbeConfig::default());
    // On the training words themselves (which the probe fits, entities included).
    let pred = argmax_rows(&probe.predict_proba(&ftrain), labels.len());
    let has_eval = has;
    let e = evaluate_tagger(&state, &train, &cfg, 0).unwrap();
    let words: Vec<&String> = e.predictions.iter().flatten().collect();
    assert_eq!(words.len(), pred.len());
    let mut compared = 0;
    for (i, (w, p)) in words.iter().zip(&pred).enumerate() {
        if has_eval[i] {
            assert_eq!(**w, labels[*p as usize], "word {i}");
            compared += 1;
        }
    }
    assert!(compared > 500, "{compared} words compared");
    // Not a constant tagger: the probe tags some words as entities.
    let entity_words = pred.iter().filter(|&&p| labels[p as usize] != "O").count();
    assert!(entity_words >= 20, "{entity_words} words tagged as entities");
    // The checkpoint reloads as a BertForTokenClassification that tags the same.
    let tagger = TokenTagger::load(&out.join("best"), &dev).unwrap();
    assert_eq!(tagger.labels, labels);
    let again = evaluate_tagger(
        &retune_train::classify::prepare_model(
            &out.join("best"),
            retune_models::arch::Head::TokenClassification,
            &labels,
            &Strategy::Probe,
            cfg.max_length,
            &dev,
        )
        .unwrap(),
        &train,
        &cfg,
        0,
    )
    .unwrap();
    assert_eq!(again.predictions, e.predictions);
    let _ = std::fs::remove_dir_all(&out);
}

/// Pre-split words with a byte-level BPE (RoBERTa) tokenizer are encoded as `transformers`
/// encodes them for token classification (`add_prefix_space=True`: each word as if a space
/// preceded it), although the fixture's `tokenizer.json` has `add_prefix_space: false`
/// (golden file from `scripts/golden/make_roberta_words_golden.py`, 40 real WNUT sentences).
#[test]
fn roberta_words_get_the_prefix_space_transformers_gives_them() {
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-train/tests/golden/roberta_words.json")).unwrap(),
    )
    .unwrap();
    let tok = TextTokenizer::load(
        &root().join("crates/retune-models/tests/fixtures/roberta-tiny-token"),
        512,
    )
    .unwrap();
    let sentences = golden_words(g["sentences"].as_array().unwrap());
    let enc = tok.encode_words(&sentences).unwrap();
    for (i, (e, s)) in enc.iter().zip(g["sentences"].as_array().unwrap()).enumerate() {
        let ids: Vec<u32> = s["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let words: Vec<Option<usize>> = s["word_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().map(|w| w as usize))
            .collect();
        assert_eq!(e.ids, ids, "sentence {i}: ids");
        assert_eq!(e.words, words, "sentence {i}: word ids");
    }
}
