//! METEOR against nltk 3.10.4 (`nltk.translate.meteor_score.meteor_score`
//! with Debian's WordNet 3.0), from `tests/golden/meteor.json` written by
//! `scripts/golden/meteor.py`: every WMT22 zh-en segment of four systems
//! (reference A, and best of references A and B), every XSum article (lead-1
//! and lead-3 against the summary), hand-written edge cases, and random pairs
//! over a vocabulary of case, stem, synonym and exception-list collisions.
//!
//! Needs the WordNet database (`/usr/share/wordnet` from Debian's
//! `wordnet-base`, or `$WORDNET_DIR`): without it the tests fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use retune_metrics::meteor::{for_each_token, Meteor, MeteorParams};
use retune_metrics::wordnet::{default_dir, WordNet};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn repo_root() -> PathBuf {
    manifest_dir().join("../..")
}

fn golden() -> &'static Value {
    static GOLDEN: OnceLock<Value> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let path = manifest_dir().join("tests/golden/meteor.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e} (run scripts/golden/meteor.py)", path.display()));
        serde_json::from_str(&text).expect("meteor.json is not valid JSON")
    })
}

fn meteor() -> &'static Meteor {
    static METEOR: OnceLock<Meteor> = OnceLock::new();
    METEOR.get_or_init(|| {
        let dir = default_dir();
        let wordnet = WordNet::load(&dir).unwrap_or_else(|e| {
            panic!(
                "METEOR needs the WordNet 3.0 database (Debian/Ubuntu: apt-get install \
                 wordnet-base; or set WORDNET_DIR) — loading {} failed: {e}",
                dir.display()
            )
        });
        Meteor::new(Arc::new(wordnet))
    })
}

/// Lines of a UTF-8 text file split on `\n` only, a final empty piece
/// dropped (as the golden script reads them).
fn read_lines(rel: &str) -> Vec<String> {
    let path = repo_root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// A score of the golden file: written as a string (Python's `repr`) so that
/// it parses exactly (serde_json's own float parsing may be 1 ulp off).
fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("bad score {s:?}")),
        other => other.as_f64().unwrap_or_else(|| panic!("bad score {other}")),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array of scores").iter().map(num).collect()
}

/// Whether `got` is within [`TOLERANCE`] of `want` (false for NaN).
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= TOLERANCE
}

/// Checks `got` against `want` segment by segment and their means; panics
/// listing the first disagreements.
fn check(label: &str, got: &[f64], want: &[f64], want_mean: f64, describe: impl Fn(usize) -> String) {
    assert_eq!(got.len(), want.len(), "{label}: segment count");
    let bad: Vec<usize> = (0..got.len()).filter(|&k| !close(got[k], want[k])).collect();
    if !bad.is_empty() {
        let shown: Vec<String> = bad
            .iter()
            .take(5)
            .map(|&k| format!("  #{k}: got {} want {} — {}", got[k], want[k], describe(k)))
            .collect();
        panic!(
            "{label}: {} of {} segments differ from nltk by more than {TOLERANCE}:\n{}",
            bad.len(),
            got.len(),
            shown.join("\n")
        );
    }
    let mean = got.iter().sum::<f64>() / got.len() as f64;
    assert!(close(mean, want_mean), "{label}: mean {mean} != nltk {want_mean}");
    let identical = (0..got.len())
        .filter(|&k| got[k].to_bits() == want[k].to_bits())
        .count();
    eprintln!(
        "{label}: {} segments within {TOLERANCE} of nltk, {identical} bit-identical; mean {mean}",
        got.len()
    );
}

#[test]
fn params_are_nltk_defaults() {
    let p = &golden()["params"];
    let defaults = MeteorParams::default();
    assert_eq!(defaults.alpha, num(&p["alpha"]));
    assert_eq!(defaults.beta, num(&p["beta"]));
    assert_eq!(defaults.gamma, num(&p["gamma"]));
}

#[test]
fn wmt22_zh_en_segments() {
    let meteor = meteor();
    let mut checked = 0;
    for run in golden()["wmt22"].as_array().expect("wmt22 runs") {
        let system = run["system"].as_str().unwrap();
        let hyps = read_lines(run["hyp_file"].as_str().unwrap());
        let ref_files: Vec<&str> = run["ref_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let refs: Vec<Vec<String>> = ref_files.iter().map(|f| read_lines(f)).collect();
        let got: Vec<f64> = hyps
            .iter()
            .enumerate()
            .map(|(k, hyp)| {
                let r: Vec<&str> = refs.iter().map(|lines| lines[k].as_str()).collect();
                meteor.score(&r, hyp)
            })
            .collect();
        let label = format!("wmt22 {system} vs {}", ref_files.join(" + "));
        check(&label, &got, &floats(&run["scores"]), num(&run["mean"]), |k| {
            format!("hyp {:?}", hyps[k])
        });
        checked += got.len();
    }
    assert_eq!(checked, 4 * 2 * 1875);
}

#[test]
fn wmt22_single_score_equals_one_reference_score() {
    let meteor = meteor();
    let hyps = read_lines("data/wmt22/zh-en/generaltest2022.zh-en.hyp.Online-B.en");
    let refs = read_lines("data/wmt22/zh-en/generaltest2022.zh-en.ref.A.en");
    for (hyp, reference) in hyps.iter().zip(&refs).take(200) {
        let single = meteor.single_score(reference, hyp);
        assert_eq!(single, meteor.score(&[reference.as_str()], hyp));
        let mut ref_tokens: Vec<&str> = Vec::new();
        for_each_token(reference, |t| ref_tokens.push(t));
        let mut hyp_tokens: Vec<&str> = Vec::new();
        for_each_token(hyp, |t| hyp_tokens.push(t));
        assert_eq!(single, meteor.single_score_tokens(&ref_tokens, &hyp_tokens));
    }
}

#[test]
fn xsum_lead_sentences() {
    let meteor = meteor();
    let xsum = &golden()["xsum"];
    let docs: Vec<Value> = read_lines(xsum["file"].as_str().unwrap())
        .iter()
        .map(|l| serde_json::from_str(l).expect("jsonl line"))
        .collect();
    for run in xsum["runs"].as_array().unwrap() {
        let lead = run["lead"].as_u64().unwrap() as usize;
        let hyps: Vec<String> = docs
            .iter()
            .map(|d| {
                let lines: Vec<&str> = d["document"].as_str().unwrap().split('\n').take(lead).collect();
                lines.join(" ")
            })
            .collect();
        let got: Vec<f64> = docs
            .iter()
            .zip(&hyps)
            .map(|(d, hyp)| meteor.score(&[d["summary"].as_str().unwrap()], hyp))
            .collect();
        check(
            &format!("xsum lead{lead}"),
            &got,
            &floats(&run["scores"]),
            num(&run["mean"]),
            |k| format!("summary {:?}", docs[k]["summary"]),
        );
    }
}

/// Scores the cases (`refs`, `hyp`, `score`) stored under `key`.
fn check_stored_cases(key: &str) {
    let meteor = meteor();
    let mut failures = Vec::new();
    let mut identical = 0;
    let cases = golden()[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in meteor.json"));
    for case in cases {
        let refs: Vec<&str> = case["refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let hyp = case["hyp"].as_str().unwrap();
        let want = num(&case["score"]);
        let got = meteor.score(&refs, hyp);
        if !close(got, want) {
            failures.push(format!("refs {refs:?} hyp {hyp:?}: got {got} want {want}"));
        }
        identical += usize::from(got.to_bits() == want.to_bits());
    }
    eprintln!("{key}: {} cases, {identical} bit-identical", cases.len());
    assert!(
        failures.is_empty(),
        "{key}: {} of {} cases differ from nltk:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn edge_cases() {
    check_stored_cases("edge_cases");
}

#[test]
fn random_collision_cases() {
    check_stored_cases("random_cases");
}

#[test]
fn no_references_scores_zero() {
    assert_eq!(meteor().score(&[], "a hypothesis"), 0.0);
}

#[test]
fn parallel_scoring_matches_sequential() {
    use rayon::prelude::*;
    let meteor = meteor();
    let hyps = read_lines("data/wmt22/zh-en/generaltest2022.zh-en.hyp.NiuTrans.en");
    let refs = read_lines("data/wmt22/zh-en/generaltest2022.zh-en.ref.A.en");
    let sequential: Vec<f64> = hyps
        .iter()
        .zip(&refs)
        .map(|(h, r)| meteor.score(&[r.as_str()], h))
        .collect();
    let parallel: Vec<f64> = hyps
        .par_iter()
        .zip(refs.par_iter())
        .map(|(h, r)| meteor.score(&[r.as_str()], h))
        .collect();
    assert_eq!(sequential, parallel);
}
