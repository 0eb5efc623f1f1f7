//! Golden tests: BLEU, chrF, their printed lines and signatures, bootstrap intervals and paired
//! tests against sacrebleu 2.6.0 on the WMT22 system outputs and the edge cases
//! (expected values from `scripts/golden/sacrebleu_metrics.py`).

use retune_metrics::bleu::{Bleu, BleuConfig, Smooth};
use retune_metrics::chrf::{Chrf, ChrfConfig};
use retune_metrics::corpus::{corpus_stats, Resampling, SegmentMetric};
use retune_metrics::io::read_lines;
use retune_metrics::significance::{bootstrap_ci, paired_ar, paired_bootstrap};
use retune_metrics::tokenizers::Tokenizer;
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden() -> Value {
    let p = root().join("crates/retune-metrics/tests/golden/sacrebleu.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden file")).expect("json")
}

fn lines(p: &Value) -> Vec<String> {
    read_lines(&root().join(p.as_str().unwrap())).unwrap_or_else(|e| panic!("{e}"))
}

fn refs(v: &Value) -> Vec<Vec<String>> {
    v.as_array().unwrap().iter().map(lines).collect()
}

fn bleu_from(opts: &Value) -> Bleu {
    let mut c = BleuConfig::default();
    if let Some(t) = opts.get("tokenize") {
        c.tokenize = t.as_str().unwrap().parse().unwrap();
    }
    if let Some(l) = opts.get("lowercase") {
        c.lowercase = l.as_bool().unwrap();
    }
    if let Some(s) = opts.get("smooth_method") {
        c.smooth = Smooth::from_name(s.as_str().unwrap(), opts.get("smooth_value").and_then(|v| v.as_f64())).unwrap();
    }
    if let Some(n) = opts.get("max_ngram_order") {
        c.max_ngram_order = n.as_u64().unwrap() as usize;
    }
    if let Some(e) = opts.get("effective_order") {
        c.effective_order = e.as_bool().unwrap();
    }
    Bleu::new(c)
}

fn chrf_from(opts: &Value) -> Chrf {
    let mut c = ChrfConfig::default();
    let get = |k: &str| opts.get(k);
    if let Some(v) = get("word_order") {
        c.word_order = v.as_u64().unwrap() as usize;
    }
    if let Some(v) = get("char_order") {
        c.char_order = v.as_u64().unwrap() as usize;
    }
    if let Some(v) = get("beta") {
        c.beta = v.as_u64().unwrap() as u32;
    }
    if let Some(v) = get("lowercase") {
        c.lowercase = v.as_bool().unwrap();
    }
    if let Some(v) = get("whitespace") {
        c.whitespace = v.as_bool().unwrap();
    }
    if let Some(v) = get("eps_smoothing") {
        c.eps_smoothing = v.as_bool().unwrap();
    }
    Chrf::new(c)
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol,
        "{what}: got {a}, expected {b} (diff {})",
        (a - b).abs()
    );
}

#[test]
fn corpus_scores_lines_and_signatures() {
    let g = golden();
    let cases = g["corpus"].as_array().unwrap();
    assert!(cases.len() > 90, "{}", cases.len());
    for c in cases {
        let hyps = lines(&c["hyp"]);
        let rs = refs(&c["refs"]);
        let what = format!("{} {} {:?} {}", c["metric"], c["hyp"], c["refs"], c["options"]);
        let nrefs = Some(rs.len());
        if c["metric"] == "bleu" {
            let m = bleu_from(&c["options"]);
            let s = m.corpus_score(&hyps, &rs);
            close(s.score, c["score"].as_f64().unwrap(), 1e-9, &what);
            assert_eq!(s.sys_len, c["sys_len"].as_u64().unwrap(), "{what}");
            assert_eq!(s.ref_len, c["ref_len"].as_u64().unwrap(), "{what}");
            assert_eq!(s.to_string(), c["line"].as_str().unwrap(), "{what}");
            assert_eq!(
                m.signature(nrefs, Resampling::default()),
                c["signature"].as_str().unwrap(),
                "{what}"
            );
        } else {
            let m = chrf_from(&c["options"]);
            let s = m.corpus_score(&hyps, &rs);
            close(s, c["score"].as_f64().unwrap(), 1e-9, &what);
            assert_eq!(
                format!("{} = {:.2}", m.name(), s),
                c["line"].as_str().unwrap(),
                "{what}"
            );
            assert_eq!(
                m.signature(nrefs, Resampling::default()),
                c["signature"].as_str().unwrap(),
                "{what}"
            );
        }
    }
}

#[test]
fn sentence_scores() {
    let g = golden();
    let mut n = 0;
    for c in g["sentence"].as_array().unwrap() {
        let hyps = lines(&c["hyp"]);
        let rs = refs(&c["refs"]);
        let mut cfg = bleu_from(&c["options"]).config;
        cfg.effective_order = true;
        let bleu = Bleu::new(cfg);
        let chrf = Chrf::new(ChrfConfig::default());
        for (i, (eb, ec)) in c["bleu"]
            .as_array()
            .unwrap()
            .iter()
            .zip(c["chrf"].as_array().unwrap())
            .enumerate()
        {
            let r: Vec<&str> = rs.iter().map(|s| s[i].as_str()).collect();
            let what = format!("{} line {} {}", c["hyp"], i + 1, c["options"]);
            close(
                bleu.sentence_score(&hyps[i], &r).score,
                eb.as_f64().unwrap(),
                1e-9,
                &what,
            );
            let mut row = vec![0.0; chrf.num_stats()];
            chrf.segment_stats(&hyps[i], &r, &mut row);
            close(chrf.score_from_stats(&row), ec.as_f64().unwrap(), 1e-9, &what);
            n += 1;
        }
    }
    assert!(n > 700, "{n}");
}

#[test]
fn tokenizers_match_sacrebleu_on_edge_cases() {
    let g = golden();
    let mut input = lines(&Value::from("data/edge/hyp.txt"));
    input.extend(lines(&Value::from("data/edge/ref.A.txt")));
    for (name, expected) in g["tokenized"].as_object().unwrap() {
        let tok: Tokenizer = name.parse().unwrap();
        for (line, e) in input.iter().zip(expected.as_array().unwrap()) {
            let mut got = tok.tokenize(line);
            let mut want = e.as_str().unwrap().to_string();
            if matches!(tok, Tokenizer::Char | Tokenizer::None) {
                // BLEU splits these on whitespace; compare the tokens.
                got = retune_metrics::text::py_split(&got).join(" ");
                want = retune_metrics::text::py_split(&want).join(" ");
            }
            assert_eq!(got, want, "tokenizer {name} on {line:?}");
        }
    }
}

/// sacrebleu sums resampled statistics in float32 and, under numpy 2's promotion rules, divides
/// them in float32 too; this crate stays in float64. The resamples are the same (exact numpy
/// random streams), so the means and intervals agree to float32 precision.
const BOOTSTRAP_TOL: f64 = 2e-4;

fn metric_for(c: &Value) -> Box<dyn SegmentMetric> {
    if c["metric"] == "bleu" {
        let mut cfg = BleuConfig::default();
        cfg.tokenize = c["tokenize"].as_str().unwrap().parse().unwrap();
        Box::new(Bleu::new(cfg))
    } else {
        Box::new(Chrf::new(ChrfConfig::default()))
    }
}

#[test]
fn bootstrap_confidence_intervals() {
    let g = golden();
    for c in g["confidence"].as_array().unwrap() {
        let m = metric_for(c);
        let stats = corpus_stats(m.as_ref(), &lines(&c["hyp"]), &refs(&c["refs"]));
        close(
            m.score_from_stats(&stats.sum()),
            c["score"].as_f64().unwrap(),
            1e-9,
            "score",
        );
        let ci = bootstrap_ci(m.as_ref(), &stats, 1000, 12345);
        close(ci.mean, c["mean"].as_f64().unwrap(), BOOTSTRAP_TOL, "mean");
        close(ci.half_width, c["ci"].as_f64().unwrap(), BOOTSTRAP_TOL, "ci");
    }
}

#[test]
fn paired_tests() {
    let g = golden();
    for c in g["paired"].as_array().unwrap() {
        let m = metric_for(c);
        let rs = refs(&c["refs"]);
        let systems: Vec<_> = c["systems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| corpus_stats(m.as_ref(), &lines(s), &rs))
            .collect();
        let n = c["n_samples"].as_u64().unwrap() as usize;
        let results = c["results"].as_array().unwrap();
        for (k, sys) in systems.iter().enumerate().skip(1) {
            let what = format!("{} {} system {k}", c["metric"], c["test"]);
            let r = if c["test"] == "bs" {
                paired_bootstrap(m.as_ref(), &systems[0], sys, n, 12345)
            } else {
                paired_ar(m.as_ref(), &systems[0], sys, n, 1000, 12345)
            };
            let e = &results[k];
            close(r.score, e["score"].as_f64().unwrap(), 1e-9, &what);
            close(r.p_value, e["p_value"].as_f64().unwrap(), 1e-12, &what);
            let ci = r.ci.unwrap();
            close(ci.mean, e["mean"].as_f64().unwrap(), BOOTSTRAP_TOL, &what);
            close(ci.half_width, e["ci"].as_f64().unwrap(), BOOTSTRAP_TOL, &what);
        }
    }
}
