//! seqeval parity: scores on real NER tags (WNUT 2017 and Universal NER zh_gsdsimp test
//! sentences) with seeded corruptions, in IOB2, IOBES and IOB1, default and strict modes,
//! against the numbers seqeval 1.2.2 gives (`scripts/golden/make_seqeval_golden.py`), to 1e-12.

use retune_metrics::corpus::{corpus_stats, SegmentMetric};
use retune_metrics::seqeval::{Mode, Scheme, SeqevalConfig, SeqevalMetric, SeqevalReport, SeqevalScore};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/seqeval.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-12, "{what}: {a} vs {b}");
}

#[test]
fn reports_match_seqeval_on_real_tags() {
    let g = golden();
    assert_eq!(g["seqeval"], "1.2.2");
    let seqs: Vec<Vec<Vec<String>>> = g["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lines| {
            lines
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    l.as_str()
                        .unwrap()
                        .split(' ')
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect()
                })
                .collect()
        })
        .collect();
    let cases = g["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for c in cases {
        let name = format!("{} {} {:?}", c["name"], c["mode"], c["scheme"]);
        let gold = &seqs[c["gold"].as_u64().unwrap() as usize];
        let pred = &seqs[c["pred"].as_u64().unwrap() as usize];
        let mode = match c["scheme"].as_str() {
            None => Mode::Default,
            Some(s) => Mode::Strict(Scheme::parse(s).unwrap()),
        };
        let cfg = SeqevalConfig {
            mode,
            ..Default::default()
        };
        let r = SeqevalReport::compute(pred, gold, &cfg).unwrap();
        let types: Vec<String> = c["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().into())
            .collect();
        assert_eq!(r.types, types, "{name}");
        let pt = &c["per_type"];
        for (i, p) in r.per_type.iter().enumerate() {
            close(
                p.precision,
                pt["precision"][i].as_f64().unwrap(),
                &format!("{name} precision {i}"),
            );
            close(
                p.recall,
                pt["recall"][i].as_f64().unwrap(),
                &format!("{name} recall {i}"),
            );
            close(p.f1, pt["f1"][i].as_f64().unwrap(), &format!("{name} f1 {i}"));
            assert_eq!(p.support, pt["support"][i].as_u64().unwrap(), "{name}");
        }
        for (key, avg) in [("micro", &r.micro), ("macro", &r.macro_avg), ("weighted", &r.weighted)] {
            let e = &c[key];
            close(
                avg.precision,
                e["precision"].as_f64().unwrap(),
                &format!("{name} {key} precision"),
            );
            close(
                avg.recall,
                e["recall"].as_f64().unwrap(),
                &format!("{name} {key} recall"),
            );
            close(avg.f1, e["f1"].as_f64().unwrap(), &format!("{name} {key} f1"));
            assert_eq!(avg.support, e["support"].as_u64().unwrap(), "{name} {key}");
        }
        close(r.accuracy, c["accuracy"].as_f64().unwrap(), &format!("{name} accuracy"));

        // Per-sentence statistics re-summed give the same micro F1 (what bootstrap resampling
        // and the trainer's streaming use).
        let metric = SeqevalMetric {
            types: r.types.clone(),
            config: cfg,
            score: SeqevalScore::MicroF1,
        };
        let hyps: Vec<String> = pred.iter().map(|s| s.join(" ")).collect();
        let refs = vec![gold.iter().map(|s| s.join(" ")).collect::<Vec<String>>()];
        let stats = corpus_stats(&metric, &hyps, &refs);
        close(
            metric.score_from_stats(&stats.sum()),
            100.0 * c["micro"]["f1"].as_f64().unwrap(),
            &format!("{name} streamed micro F1"),
        );
    }
}
