//! Golden tests: ROUGE against rouge-score 0.1.2 and the Porter stemmer
//! against NLTK 3.10.4 (files written by `scripts/golden/rouge.py`).

use std::path::PathBuf;

use retune_metrics::porter::{stem, stem_into};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

#[test]
fn porter_matches_nltk() {
    let text = std::fs::read_to_string(golden_dir().join("porter.tsv")).expect("porter.tsv");
    let mut n = 0;
    let mut bad = Vec::new();
    let mut buf = String::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (word, expected) = match line.split_once('\t') {
            Some((w, s)) => (w, s),
            None => (line, line),
        };
        n += 1;
        stem_into(word, &mut buf);
        if buf != expected || stem(word) != expected {
            bad.push(format!("{word:?}: got {buf:?}, nltk {expected:?}"));
        }
    }
    assert!(n > 20_000, "only {n} words");
    assert!(bad.is_empty(), "{} of {n} stems differ:\n{}", bad.len(), bad.join("\n"));
}

// ---------------------------------------------------------------------------
// ROUGE

use retune_metrics::rouge::{RougeScore, RougeScorer, RougeType};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn load_golden() -> Value {
    let text = std::fs::read_to_string(golden_dir().join("rouge.json")).expect("rouge.json");
    serde_json::from_str(&text).expect("rouge.json parses")
}

/// Repository root holding `data/` (override with `RETUNE_REPO_ROOT`).
fn repo_root() -> PathBuf {
    match std::env::var_os("RETUNE_REPO_ROOT") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(".."),
    }
}

fn data_available(rel: &str) -> Option<PathBuf> {
    let p = repo_root().join(rel);
    // The data is committed with the repository: a missing file is a failure, not a skip.
    assert!(p.exists(), "{} not found (set RETUNE_REPO_ROOT)", p.display());
    Some(p)
}

fn types_of(v: &Value) -> Vec<RougeType> {
    v.as_array()
        .expect("types")
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("scores")
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Compares one segment; returns a description of the first mismatch.
fn compare(got: &[RougeScore], expected: &[f64], types: &[RougeType]) -> Option<String> {
    assert_eq!(expected.len(), 3 * types.len());
    for (k, (g, ty)) in got.iter().zip(types).enumerate() {
        let e = &expected[3 * k..3 * k + 3];
        let gv = [g.precision, g.recall, g.fmeasure];
        if gv.iter().zip(e).any(|(a, b)| (a - b).abs() > TOL) {
            return Some(format!("{ty}: got {gv:?}, rouge-score {e:?}"));
        }
    }
    None
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

#[test]
fn rouge_edge_cases() {
    let g = load_golden();
    let edge = &g["edge"];
    let default_types = types_of(&edge["types"]);
    let cases = edge["cases"].as_array().unwrap();
    let mut bad = Vec::new();
    for case in cases {
        let types = match case.get("types") {
            Some(t) => types_of(t),
            None => default_types.clone(),
        };
        let scorer = RougeScorer::new(types.clone(), case["use_stemmer"].as_bool().unwrap());
        let targets: Vec<&str> = case["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let pred = case["prediction"].as_str().unwrap();
        let got = if case["multi"].as_bool().unwrap() {
            scorer.score_multi(&targets, pred)
        } else {
            scorer.score(targets[0], pred)
        };
        if let Some(msg) = compare(&got, &floats(&case["scores"]), &types) {
            bad.push(format!(
                "{targets:?} vs {pred:?} (stem={}): {msg}",
                scorer.use_stemmer()
            ));
        }
    }
    assert!(cases.len() > 100);
    assert!(
        bad.is_empty(),
        "{} of {} edge cases differ:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

#[test]
fn rouge_xsum() {
    let Some(path) = data_available("data/xsum/test.jsonl") else {
        return;
    };
    let g = load_golden();
    let x = &g["xsum"];
    let types = types_of(&x["types"]);
    let rows: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len() as u64, x["rows"].as_u64().unwrap());
    let mut checked = 0;
    let mut bad = Vec::new();
    for (key, use_stemmer) in [("nostem", false), ("stem", true)] {
        let scorer = RougeScorer::new(types.clone(), use_stemmer);
        let lead = x[format!("summary_vs_lead_{key}")].as_array().unwrap();
        let docsum = x[format!("document_vs_summary_{key}")].as_array().unwrap();
        assert_eq!(lead.len(), rows.len());
        let mut d = 0;
        for (i, r) in rows.iter().enumerate() {
            let doc = r["document"].as_str().unwrap();
            let summary = r["summary"].as_str().unwrap();
            let pred = doc.split('\n').take(1 + i % 3).collect::<Vec<_>>().join("\n");
            if let Some(m) = compare(&scorer.score(summary, &pred), &floats(&lead[i]), &types) {
                bad.push(format!("xsum row {i} summary_vs_lead {key}: {m}"));
            }
            checked += 1;
            if i % 10 == 0 {
                if let Some(m) = compare(&scorer.score(doc, summary), &floats(&docsum[d]), &types) {
                    bad.push(format!("xsum row {i} document_vs_summary {key}: {m}"));
                }
                d += 1;
                checked += 1;
            }
        }
        assert_eq!(d, docsum.len());
    }
    assert!(
        bad.is_empty(),
        "{} of {checked} XSum segments differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn rouge_wmt22() {
    if data_available("data/wmt22/zh-en").is_none() {
        return;
    }
    let g = load_golden();
    let mut checked = 0;
    let mut bad = Vec::new();
    for cfg in g["wmt"].as_array().unwrap() {
        let types = types_of(&cfg["types"]);
        let scorer = RougeScorer::new(types.clone(), cfg["use_stemmer"].as_bool().unwrap());
        let hyp = read_lines(&repo_root().join(cfg["hyp"].as_str().unwrap()));
        let refs: Vec<Vec<String>> = cfg["refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| read_lines(&repo_root().join(r.as_str().unwrap())))
            .collect();
        let expected = cfg["scores"].as_array().unwrap();
        assert_eq!(expected.len(), hyp.len());
        for (i, h) in hyp.iter().enumerate() {
            let targets: Vec<&str> = refs.iter().map(|r| r[i].as_str()).collect();
            let got = if targets.len() == 1 {
                scorer.score(targets[0], h)
            } else {
                scorer.score_multi(&targets, h)
            };
            if let Some(m) = compare(&got, &floats(&expected[i]), &types) {
                bad.push(format!("{} line {i}: {m}", cfg["hyp"]));
            }
            checked += 1;
        }
    }
    assert!(checked > 7000);
    assert!(
        bad.is_empty(),
        "{} of {checked} WMT22 segments differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
