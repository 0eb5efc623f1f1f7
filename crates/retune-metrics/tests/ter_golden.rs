//! TER against sacrebleu 2.6.0 golden values (written by scripts/golden/ter.py):
//! per-segment statistics and corpus scores on the WMT22 zh-en / en-zh data,
//! hand-written edge cases (with their tokenization) and random word salads.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use retune_metrics::ter::{Ter, TerOptions};
use serde::Deserialize;

const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Golden {
    sacrebleu_version: String,
    configs: Vec<Config>,
    edge_cases: Vec<Case>,
    random_cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Config {
    name: String,
    options: TerOptions,
    refs: Vec<String>,
    systems: Vec<System>,
}

#[derive(Deserialize)]
struct System {
    hyp: String,
    /// Number of leading lines of the files that were scored.
    lines: usize,
    stats: Vec<[f64; 2]>,
    total: [f64; 2],
    score: f64,
}

#[derive(Deserialize)]
struct Case {
    options: TerOptions,
    hyp: String,
    refs: Vec<String>,
    stats: [f64; 2],
    score: f64,
    hyp_tok: Option<String>,
    refs_tok: Option<Vec<String>>,
}

fn golden() -> Golden {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ter.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid golden JSON")
}

/// The repository root: the first ancestor of the crate holding `data/wmt22`.
fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if dir.join("data/wmt22").is_dir() {
            return dir;
        }
        assert!(dir.pop(), "data/wmt22 not found above {}", env!("CARGO_MANIFEST_DIR"));
    }
}

/// Lines split on '\n' only, without the empty piece after a final newline
/// (the way the golden script reads them).
fn read_lines(rel: &str) -> Vec<String> {
    let path = repo_root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL
}

#[test]
fn golden_version() {
    assert_eq!(golden().sacrebleu_version, "2.6.0");
}

#[test]
fn wmt22_segments_and_corpus_scores() {
    let g = golden();
    let mut segments = 0usize;
    let mut bad = Vec::new();
    for cfg in &g.configs {
        let ter = Ter::new(cfg.options);
        let refs: Vec<Vec<String>> = cfg.refs.iter().map(|r| read_lines(r)).collect();
        for sys in &cfg.systems {
            let mut hyps = read_lines(&sys.hyp);
            hyps.truncate(sys.lines);
            assert_eq!(hyps.len(), sys.stats.len(), "{} {}", cfg.name, sys.hyp);
            let stats: Vec<[f64; 2]> = hyps
                .par_iter()
                .enumerate()
                .map(|(i, h)| {
                    let r: Vec<&str> = refs.iter().map(|rs| rs[i].as_str()).collect();
                    ter.segment_stats(h, &r)
                })
                .collect();
            for (i, (got, want)) in stats.iter().zip(&sys.stats).enumerate() {
                segments += 1;
                if !(close(got[0], want[0]) && close(got[1], want[1])) {
                    bad.push(format!(
                        "{} {} line {}: got {:?}, want {:?}",
                        cfg.name,
                        sys.hyp,
                        i + 1,
                        got,
                        want
                    ));
                }
            }
            let total = Ter::sum_stats(&stats);
            let score = Ter::score_from_stats(&total);
            if !(close(total[0], sys.total[0]) && close(total[1], sys.total[1]) && close(score, sys.score)) {
                bad.push(format!(
                    "{} {} corpus: got {:?} {score}, want {:?} {}",
                    cfg.name, sys.hyp, total, sys.total, sys.score
                ));
            }
        }
    }
    eprintln!("checked {segments} WMT22 segments, {} mismatches", bad.len());
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
}

fn check_cases(cases: &[Case], what: &str) {
    let mut bad = Vec::new();
    for (k, c) in cases.iter().enumerate() {
        let ter = Ter::new(c.options);
        let refs: Vec<&str> = c.refs.iter().map(String::as_str).collect();
        if let Some(want) = &c.hyp_tok {
            let got = ter.preprocess(&c.hyp);
            if &got != want {
                bad.push(format!("{what} {k} {:?}: hyp tokens {got:?}, want {want:?}", c.options));
            }
        }
        if let Some(want) = &c.refs_tok {
            for (r, w) in c.refs.iter().zip(want) {
                let got = ter.preprocess(&ter.preprocess(r));
                if &got != w {
                    bad.push(format!("{what} {k} {:?}: ref tokens {got:?}, want {w:?}", c.options));
                }
            }
        }
        let stats = ter.segment_stats(&c.hyp, &refs);
        let score = Ter::score_from_stats(&stats);
        if !(close(stats[0], c.stats[0]) && close(stats[1], c.stats[1]) && close(score, c.score)) {
            bad.push(format!(
                "{what} {k} {:?} hyp {:?} refs {:?}: got {stats:?} {score}, want {:?} {}",
                c.options, c.hyp, c.refs, c.stats, c.score
            ));
        }
    }
    eprintln!("checked {} {what} cases, {} mismatches", cases.len(), bad.len());
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
}

#[test]
fn edge_cases() {
    check_cases(&golden().edge_cases, "edge");
}

#[test]
fn random_cases() {
    check_cases(&golden().random_cases, "random");
}
