//! The audit on real data: TREC's known quirks (data/README.md) are found, and label flips
//! injected into Rotten Tomatoes are ranked high by confident learning on MiniLM features.

use retune_assess::audit::{audit_classification, AuditOptions, Severity};
use retune_data::{read_text_dataset, Columns, LabelSet, ReadOptions, TextDataset};
use std::collections::HashSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str, labels: Option<&LabelSet>) -> TextDataset {
    let opts = ReadOptions {
        labels: labels.cloned(),
        ..Default::default()
    };
    read_text_dataset(root().join(path).to_str().unwrap(), &Columns::default(), &opts).unwrap()
}

#[test]
fn trec_leaks_and_the_twin_cities_conflict_are_found() {
    let train = read("data/trec_question_classification/train.tsv", None);
    let labels = train.label_set().unwrap();
    let eval = read("data/trec_question_classification/validation.tsv", Some(&labels));
    let test = read("data/trec_question_classification/test.tsv", Some(&labels));
    let r = audit_classification(
        &[("train", &train), ("eval", &eval), ("test", &test)],
        &labels,
        None,
        None,
        &AuditOptions::default(),
        |_| {},
    )
    .unwrap();
    // "11 test questions also occur in train or validation".
    let leaked: HashSet<usize> = r
        .leakage
        .iter()
        .filter(|(name, _)| name.ends_with("->test"))
        .flat_map(|(_, l)| l.exact.iter().map(|x| x.row))
        .collect();
    assert_eq!(leaked.len(), 11);
    // "one question ('What are the twin cities ?') has two different coarse labels".
    let conflicts: Vec<&str> = r
        .leakage
        .iter()
        .flat_map(|(_, l)| l.label_conflicts.iter().map(|c| test.examples[c.row].text.as_str()))
        .collect();
    assert_eq!(conflicts, vec!["What are the twin cities ?"]);
    // "60 and 12 repeated questions inside train and validation".
    assert_eq!(r.splits[0].audit.summary.duplicate_rows, 60);
    assert_eq!(r.splits[1].audit.summary.duplicate_rows, 12);
    // Leakage is the first (worst) finding and names file:line on both sides.
    assert_eq!(r.findings[0].severity, Severity::High);
    assert!(r.findings[0].rows[0].contains("test.tsv:") && r.findings[0].rows[0].contains("train.tsv:"));
}

#[test]
fn injected_label_flips_are_ranked_high_with_minilm() {
    let model = root().join("models/all-MiniLM-L6-v2");
    assert!(
        model.exists(),
        "{} is missing: run scripts/fetch_minilm.sh",
        model.display()
    );
    // 3,000 rows of the training split (every third row: both labels), 5% of labels flipped.
    let full = read("data/sentiment_rt_polarity/train.tsv", None);
    let mut ds = full.clone();
    ds.examples = full.examples.iter().step_by(3).take(3000).cloned().collect();
    let n = ds.examples.len();
    let flips = n / 20;
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut flipped = HashSet::new();
    while flipped.len() < flips {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        flipped.insert((rng % n as u64) as usize);
    }
    for &i in &flipped {
        let l = ds.examples[i].label.as_deref().unwrap();
        ds.examples[i].label = Some(if l == "0" { "1" } else { "0" }.into());
    }
    let labels = ds.label_set().unwrap();
    let r = audit_classification(
        &[("train", &ds)],
        &labels,
        Some(&model),
        None,
        &AuditOptions::default(),
        |_| {},
    )
    .unwrap();
    let noise = r.label_noise.as_ref().unwrap();
    // Rank every row by self-confidence (lowest first) and look at the top `flips`.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| noise.scores[a].partial_cmp(&noise.scores[b]).unwrap());
    let hits = order[..flips].iter().filter(|i| flipped.contains(i)).count();
    let precision_at_k = hits as f64 / flips as f64;
    // Recall at the flipped count equals precision at it; also check the flagged issue set.
    let issues: HashSet<usize> = noise.ranked.iter().map(|r| r.0).collect();
    eprintln!(
        "label noise: {flips} flips in {n} rows; precision=recall@{flips} = {precision_at_k:.3}; \
         estimated noise {:.3}; {} rows flagged; out-of-fold probe accuracy {:.3}",
        noise.noise_rate_estimate, noise.issues, noise.probe_oof_accuracy
    );
    assert!(precision_at_k >= 0.6, "precision/recall at {flips}: {precision_at_k}");
    assert!(
        noise.noise_rate_estimate > 0.03,
        "estimated noise {}",
        noise.noise_rate_estimate
    );
    assert!(!issues.is_empty());
}
