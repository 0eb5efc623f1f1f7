//! Confident learning against golden values computed by the real cleanlab 2.9
//! (scripts/golden/make_cleanlab_golden.py → tests/data/audit/cleanlab_golden.json).

use retune_data::audit::confident::{
    compute_confident_joint, estimate_joint, find_label_issues, num_label_issues, CountMethod, LabelIssueOptions,
    RankBy,
};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/audit/cleanlab_golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn matrix_i64(v: &Value) -> Vec<Vec<i64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
        .collect()
}

struct Case {
    name: String,
    k: usize,
    labels: Vec<u32>,
    probs: Vec<f32>,
    v: Value,
}

fn cases() -> Vec<Case> {
    let g = golden();
    g["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let k = c["num_classes"].as_u64().unwrap() as usize;
            let probs: Vec<f32> = c["pred_probs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
                .collect();
            Case {
                name: c["name"].as_str().unwrap().to_string(),
                k,
                labels: c["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
                probs,
                v: c.clone(),
            }
        })
        .collect()
}

#[test]
fn thresholds_and_confident_joint_match_cleanlab() {
    for c in cases() {
        let raw = compute_confident_joint(&c.labels, &c.probs, c.k, false).unwrap();
        let want_t: Vec<f64> = c.v["confident_thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        for (a, b) in raw.thresholds.iter().zip(&want_t) {
            assert!((a - b).abs() <= 1e-12, "{}: threshold {a} vs {b}", c.name);
        }
        assert_eq!(
            raw.counts,
            matrix_i64(&c.v["confident_joint_uncalibrated"]),
            "{}",
            c.name
        );
        assert_eq!(
            raw.off_diagonal_rows,
            usizes(&c.v["off_diagonal_indices"]),
            "{}",
            c.name
        );
        let cal = compute_confident_joint(&c.labels, &c.probs, c.k, true).unwrap();
        assert_eq!(cal.counts, matrix_i64(&c.v["confident_joint"]), "{}", c.name);
        let joint = estimate_joint(&cal.counts, &c.labels, c.k);
        let want: Vec<Vec<f64>> = c.v["estimated_joint"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
            .collect();
        for (ra, rb) in joint.iter().zip(&want) {
            for (a, b) in ra.iter().zip(rb) {
                assert!((a - b).abs() <= 1e-12, "{}: joint {a} vs {b}", c.name);
            }
        }
        println!(
            "{}: thresholds {:?}\n  calibrated joint {:?}",
            c.name, cal.thresholds, cal.counts
        );
    }
}

#[test]
fn label_issues_match_cleanlab() {
    for c in cases() {
        let opts = LabelIssueOptions::default();
        let li = find_label_issues(&c.labels, &c.probs, c.k, &opts).unwrap();
        assert_eq!(li.issue_rows, usizes(&c.v["issue_indices"]), "{}: mask", c.name);
        assert_eq!(
            li.ranked_rows,
            usizes(&c.v["ranked_self_confidence"]),
            "{}: self_confidence order",
            c.name
        );
        let noise = c.v["noise_rate"].as_f64().unwrap();
        assert!(
            (li.noise_rate_estimate - noise).abs() <= 1e-9,
            "{}: noise {} vs {noise}",
            c.name,
            li.noise_rate_estimate
        );
        assert_eq!(li.confident_joint, matrix_i64(&c.v["confident_joint"]));
        let nm = find_label_issues(
            &c.labels,
            &c.probs,
            c.k,
            &LabelIssueOptions {
                rank_by: RankBy::NormalizedMargin,
                ..opts
            },
        )
        .unwrap();
        assert_eq!(
            nm.ranked_rows,
            usizes(&c.v["ranked_normalized_margin"]),
            "{}: normalized_margin order",
            c.name
        );
        assert_eq!(
            num_label_issues(&c.labels, &c.probs, c.k, CountMethod::OffDiagonal).unwrap() as u64,
            c.v["num_label_issues_off_diagonal"].as_u64().unwrap()
        );
        assert_eq!(
            num_label_issues(&c.labels, &c.probs, c.k, CountMethod::OffDiagonalCalibrated).unwrap() as u64,
            c.v["num_label_issues_off_diagonal_calibrated"].as_u64().unwrap()
        );
        println!(
            "{}: {} rows, {} issues, noise rate {:.6} (cleanlab {noise:.6}), top 5 {:?}",
            c.name,
            c.labels.len(),
            li.issue_rows.len(),
            li.noise_rate_estimate,
            &li.ranked_rows[..5]
        );
    }
}

#[test]
fn bad_shapes_are_errors() {
    assert!(find_label_issues(&[0u32, 1], &[0.5f32, 0.5, 1.0], 2, &LabelIssueOptions::default()).is_err());
    assert!(find_label_issues(&[0u32, 2], &[0.5f32, 0.5, 1.0, 0.0], 2, &LabelIssueOptions::default()).is_err());
    // f64 probabilities work too.
    let li = find_label_issues(
        &[0u32, 0, 1, 1],
        &[0.9f64, 0.1, 0.8, 0.2, 0.3, 0.7, 0.95, 0.05],
        2,
        &LabelIssueOptions::default(),
    )
    .unwrap();
    assert_eq!(li.num_rows, 4);
}
