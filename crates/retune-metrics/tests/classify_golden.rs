//! Classification metrics against scikit-learn (`scripts/golden/classify.py`), on the TREC test
//! labels with seeded corruptions and on binary and degenerate cases.

use retune_metrics::classify::{ClassificationReport, Prf};
use retune_metrics::io::read_lines;
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/classify")
}

fn close(a: f64, b: &Value, what: &str) {
    let b = b.as_f64().unwrap();
    assert!((a - b).abs() < 1e-12, "{what}: got {a}, sklearn {b}");
}

fn check_avg(p: &Prf, e: &Value, what: &str) {
    close(p.precision, &e["precision"], &format!("{what} precision"));
    close(p.recall, &e["recall"], &format!("{what} recall"));
    close(p.f1, &e["f1"], &format!("{what} f1"));
}

#[test]
fn matches_scikit_learn() {
    let g: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("classify.json")).unwrap()).unwrap();
    for (name, e) in g.as_object().unwrap() {
        let pred = read_lines(&dir().join(format!("{name}.pred.txt"))).unwrap();
        let gold = read_lines(&dir().join(format!("{name}.gold.txt"))).unwrap();
        let r = ClassificationReport::from_labels(&pred, &gold);
        let labels: Vec<String> = e["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(r.labels, labels, "{name}");
        let cm: Vec<Vec<u64>> = serde_json::from_value(e["confusion"].clone()).unwrap();
        assert_eq!(r.confusion, cm, "{name}");
        close(r.accuracy, &e["accuracy"], &format!("{name} accuracy"));
        close(r.mcc, &e["mcc"], &format!("{name} mcc"));
        for (p, ep) in r.per_class.iter().zip(e["per_class"].as_array().unwrap()) {
            check_avg(p, ep, name);
            assert_eq!(p.support, ep["support"].as_u64().unwrap());
        }
        check_avg(&r.macro_avg, &e["macro"], &format!("{name} macro"));
        check_avg(&r.weighted_avg, &e["weighted"], &format!("{name} weighted"));
        check_avg(&r.micro_avg, &e["micro"], &format!("{name} micro"));
    }
}
