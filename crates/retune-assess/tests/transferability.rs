//! LogME and the H-score against the NumPy / scikit-learn numbers of
//! `scripts/golden/make_transferability_golden.py` (real MiniLM features of TREC questions, one
//! class, duplicated feature columns, more dimensions than rows, Gaussian data), to 1e-6.

use retune_assess::rank::estimators::{hscore, logme};

#[test]
fn logme_and_hscore_match_the_reference() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/transferability.json");
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = g["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let (n, d) = (c["n"].as_u64().unwrap() as usize, c["d"].as_u64().unwrap() as usize);
        let x: Vec<f32> = c["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let y: Vec<u32> = c["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let close = |got: f64, want: f64, what: &str| {
            let tol = 1e-6 * want.abs().max(1e-3);
            assert!((got - want).abs() <= tol, "{name} {what}: {got} vs {want}");
        };
        close(logme(&x, n, d, &y), c["logme"].as_f64().unwrap(), "LogME");
        close(hscore(&x, n, d, &y), c["hscore"].as_f64().unwrap(), "H-score");
    }
}
