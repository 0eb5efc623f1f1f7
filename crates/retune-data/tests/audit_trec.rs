//! The audit on the real TREC question-classification data (data/trec_question_classification),
//! against the quirks documented in the shared data README (section 3).

use retune_data::audit::{audit_split, find_leakage, find_leakage_labeled, AuditConfig, Script};
use std::collections::BTreeMap;

/// Reads a TREC TSV (header, TAB-separated, no quoting): (text, coarse label).
fn read(split: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}/../../data/trec_question_classification/{split}.tsv",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

fn label_ids(rows: &[(String, String)], map: &mut BTreeMap<String, u32>) -> Vec<u32> {
    rows.iter()
        .map(|(_, l)| {
            let n = map.len() as u32;
            *map.entry(l.clone()).or_insert(n)
        })
        .collect()
}

#[test]
fn trec_duplicates_leakage_and_conflict() {
    let cfg = AuditConfig::unlimited();
    let (train, val, test) = (read("train"), read("validation"), read("test"));
    let mut map = BTreeMap::new();
    for (name, rows, repeated) in [("train", &train, 60), ("validation", &val, 12)] {
        let texts: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let labels = label_ids(rows, &mut map);
        let a = audit_split(&texts, Some(&labels), &cfg).unwrap();
        // The README's "60 and 12 repeated questions" counts rows beyond the first occurrence of
        // each split key (rows − distinct keys), not groups (53 and 11 groups).
        assert_eq!(a.summary.duplicate_rows, repeated, "{name}");
        assert_eq!(a.summary.distinct_texts + a.summary.duplicate_rows, rows.len());
        // No text has two labels inside one split (the README's conflict spans train and test).
        assert_eq!(a.summary.conflicting_texts, 0, "{name}");
        assert_eq!(a.summary.empty + a.summary.whitespace_only, 0);
        assert_eq!(a.scripts.majority, Some(Script::Latin));
        println!(
            "{name}: {} rows, {} duplicate groups / {} repeated rows, {} near-dup pairs in {} groups, words median {} max {}",
            a.summary.rows,
            a.summary.duplicate_groups,
            a.summary.duplicate_rows,
            a.summary.near_duplicate_pairs,
            a.summary.near_duplicate_groups,
            a.lengths.words.median,
            a.lengths.words.max
        );
        for p in a.near_duplicates.iter().take(3) {
            println!("  near-dup {:.3}: {:?} ~ {:?}", p.similarity, texts[p.a], texts[p.b]);
        }
    }

    // Leakage of test into train + validation.
    let base: Vec<&str> = train.iter().chain(&val).map(|r| r.0.as_str()).collect();
    let base_rows: Vec<(String, String)> = train.iter().chain(&val).cloned().collect();
    let base_labels = label_ids(&base_rows, &mut map);
    let test_texts: Vec<&str> = test.iter().map(|r| r.0.as_str()).collect();
    let test_labels = label_ids(&test, &mut map);
    let leak = find_leakage_labeled(&base, &base_labels, &test_texts, &test_labels, &cfg).unwrap();
    assert_eq!(leak.summary.exact_distinct_texts, 11);
    assert_eq!(leak.summary.exact_rows, 11);
    // "What are the twin cities ?" is LOC in test and DESC in train ("What are the Twin Cities ?").
    assert_eq!(leak.label_conflicts.len(), 1, "{:?}", leak.label_conflicts);
    let c = leak.label_conflicts[0];
    assert_eq!(test_texts[c.row], "What are the twin cities ?");
    assert_eq!(base[c.train_row], "What are the Twin Cities ?");
    assert_eq!(
        (test[c.row].1.as_str(), base_rows[c.train_row].1.as_str()),
        ("LOC", "DESC")
    );
    println!(
        "test → train+validation: {} exact leaks, {} near leaks",
        leak.summary.exact_rows, leak.summary.near_rows
    );
    for l in leak.near.iter().take(5) {
        println!(
            "  near leak {:.3}: {:?} ~ {:?}",
            l.similarity, test_texts[l.row], base[l.train_row]
        );
    }
    // The unlabeled variant finds the same leaks.
    let plain = find_leakage(&base, &test_texts, &cfg).unwrap();
    assert_eq!(plain.exact, leak.exact);
    assert!(plain.label_conflicts.is_empty());
}
