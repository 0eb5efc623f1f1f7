//! The metric table of `retune assess` for generation tasks (`generation::score_generation`)
//! against the reference implementations' own numbers on the WMT22 system outputs (golden files
//! of sacrebleu, rouge-score and nltk made by `scripts/golden/`): BLEU with the `zh` tokenizer
//! for a Chinese target and `13a` for an English one, chrF, their bootstrap intervals, METEOR
//! and ROUGE-1/2/L for English targets only.

use retune_metrics::generation::{is_chinese, is_english, score_generation, GenerationMetricsConfig, GenerationScores};
use retune_metrics::io::read_lines;
use retune_metrics::wordnet::{default_dir, WordNet};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden(name: &str) -> Value {
    let p = root().join(format!("crates/retune-metrics/tests/golden/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn lines(p: &str) -> Vec<String> {
    read_lines(&root().join(p)).unwrap()
}

/// The golden entry of `section` for `metric` on `hyp` against the single reference `reference`
/// with `tokenize` (BLEU) or no options (chrF).
fn entry<'a>(
    g: &'a Value,
    section: &str,
    metric: &str,
    hyp: &str,
    reference: &str,
    tokenize: Option<&str>,
) -> &'a Value {
    g[section]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            let tok = e
                .get("tokenize")
                .or_else(|| e["options"].get("tokenize"))
                .and_then(|t| t.as_str());
            let plain =
                section != "corpus" || metric != "chrf" || e["options"].as_object().is_some_and(|o| o.is_empty());
            e["metric"] == metric
                && e["hyp"] == hyp
                && e["refs"].as_array().unwrap().len() == 1
                && e["refs"][0] == reference
                && (metric != "bleu" || tok == tokenize)
                && plain
        })
        .unwrap_or_else(|| panic!("no golden {section} {metric} for {hyp}"))
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: {got} vs {want}");
}

/// BLEU (with `bleu_tok`) and chrF of the table against sacrebleu's corpus scores, and their
/// bootstrap means and half-widths against sacrebleu's (chrF's in float32, hence 1e-3).
fn matches_sacrebleu(t: &GenerationScores, g: &Value, hyp: &str, reference: &str, bleu_tok: &str) {
    for (name, metric, tok) in [("BLEU", "bleu", Some(bleu_tok)), ("chrF2", "chrf", None)] {
        let m = t.get(name).unwrap();
        let corpus = entry(g, "corpus", metric, hyp, reference, tok)["score"]
            .as_f64()
            .unwrap();
        close(m.score, corpus, 1e-9, name);
        let c = entry(g, "confidence", metric, hyp, reference, Some(bleu_tok));
        close(m.ci.mean, c["mean"].as_f64().unwrap(), 1e-3, name);
        close(m.ci.half_width, c["ci"].as_f64().unwrap(), 1e-3, name);
    }
}

#[test]
fn languages() {
    assert!(is_chinese("zh") && is_chinese("zh-Hans") && is_chinese("cmn") && !is_chinese("en"));
    assert!(is_english("en") && is_english("en_US") && !is_english("eng-x") && !is_english("zh"));
}

#[test]
fn chinese_target_matches_sacrebleu() {
    let g = golden("sacrebleu");
    let hyp = "data/wmt22/en-zh/generaltest2022.en-zh.hyp.JDExploreAcademy.zh";
    let reference = "data/wmt22/en-zh/generaltest2022.en-zh.ref.A.zh";
    let t = score_generation(
        &lines(hyp),
        &lines(reference),
        &GenerationMetricsConfig {
            target_lang: "zh".into(),
            ..Default::default()
        },
    );
    let names: Vec<&str> = t.scores.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["BLEU", "chrF2", "TER", "rouge1", "rouge2", "rougeL"],
        "no METEOR for a Chinese target"
    );
    assert!(t.get("rouge1").unwrap().signature.contains("|tok:zh|"));
    assert!(
        t.get("rouge1").unwrap().score > 30.0,
        "Chinese ROUGE by character is not 0"
    );
    matches_sacrebleu(&t, &g, hyp, reference, "zh");
    assert!(t.get("BLEU").unwrap().signature.contains("tok:zh"));
    assert!(t.get("TER").unwrap().signature.contains("asian:yes"));
}

#[test]
fn english_target_matches_sacrebleu_nltk_and_rouge_score() {
    let g = golden("sacrebleu");
    let hyp = "data/wmt22/zh-en/generaltest2022.zh-en.hyp.JDExploreAcademy.en";
    let reference = "data/wmt22/zh-en/generaltest2022.zh-en.ref.A.en";
    let wordnet = WordNet::load(&default_dir()).expect("WordNet is missing: run scripts/setup.sh");
    let t = score_generation(
        &lines(hyp),
        &lines(reference),
        &GenerationMetricsConfig {
            target_lang: "en".into(),
            wordnet: Some(Arc::new(wordnet)),
            ..Default::default()
        },
    );
    let names: Vec<&str> = t.scores.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["BLEU", "chrF2", "TER", "METEOR", "rouge1", "rouge2", "rougeL"]);
    matches_sacrebleu(&t, &g, hyp, reference, "13a");
    // nltk's METEOR per segment, averaged.
    let meteor = golden("meteor");
    let m = meteor["wmt22"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hyp_file"] == hyp && e["ref_files"].as_array().unwrap().len() == 1)
        .unwrap();
    let s: Vec<f64> = m["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().parse().unwrap())
        .collect();
    close(
        t.get("METEOR").unwrap().score,
        100.0 * s.iter().sum::<f64>() / s.len() as f64,
        1e-9,
        "METEOR",
    );
    // rouge-score without stemming (its default): the golden file has Online-W that way.
    let hyp_w = "data/wmt22/zh-en/generaltest2022.zh-en.hyp.Online-W.en";
    let tw = score_generation(
        &lines(hyp_w),
        &lines(reference),
        &GenerationMetricsConfig {
            target_lang: "en".into(),
            ..Default::default()
        },
    );
    assert!(tw.left_out.iter().any(|l| l.starts_with("METEOR")));
    let rouge = golden("rouge");
    let r = rouge["wmt"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hyp"] == hyp_w && e["use_stemmer"] == false)
        .unwrap();
    assert_eq!(r["refs"][0], reference);
    let segs = r["scores"].as_array().unwrap();
    for (k, name) in ["rouge1", "rouge2", "rougeL"].iter().enumerate() {
        let mean = segs.iter().map(|s| s[3 * k + 2].as_f64().unwrap()).sum::<f64>() / segs.len() as f64;
        close(tw.get(name).unwrap().score, 100.0 * mean, 1e-6, name);
    }
}
