//! Injected faults in real data: Rotten Tomatoes sentences (data/sentiment_rt_polarity) with
//! seeded exact duplicates, near-duplicates (one word changed/added/dropped, punctuation), rows
//! leaked into test (exact and edited), and empty / whitespace-only rows. Recall must be 1.0;
//! precision is printed.

use retune_data::audit::text::SplitMix64;
use retune_data::audit::{audit_split, find_leakage, AuditConfig};
use std::collections::{BTreeSet, HashSet};

fn read(split: &str) -> Vec<(String, u32)> {
    let path = format!(
        "{}/../../data/sentiment_rt_polarity/{split}.tsv",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].parse().unwrap())
        })
        .collect()
}

/// Jaccard similarity of lower-cased word sets (written here independently of the library).
fn word_jaccard(a: &str, b: &str) -> f64 {
    let sa: HashSet<String> = a.split_whitespace().map(|w| w.to_lowercase()).collect();
    let sb: HashSet<String> = b.split_whitespace().map(|w| w.to_lowercase()).collect();
    sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64
}

/// A small edit of `text`: change, add or drop one word, or add punctuation.
fn edit(text: &str, rng: &mut SplitMix64, vocab: &[&str]) -> String {
    let mut w: Vec<String> = text.split(' ').map(str::to_string).collect();
    match rng.below(4) {
        0 => {
            let i = rng.below(w.len());
            w[i] = vocab[rng.below(vocab.len())].to_string();
        }
        1 => {
            let i = rng.below(w.len() + 1);
            w.insert(i, vocab[rng.below(vocab.len())].to_string());
        }
        2 => {
            w.remove(rng.below(w.len()));
        }
        _ => w.push(["!", "?", "...", "!!"][rng.below(4)].to_string()),
    }
    w.join(" ")
}

/// A variant with the same normalized key: different case and whitespace.
fn same_key_variant(text: &str, rng: &mut SplitMix64) -> String {
    match rng.below(3) {
        0 => text.to_uppercase(),
        1 => format!("  {}\t", text.replace(' ', "  ")),
        _ => text.to_string(),
    }
}

#[test]
fn injected_faults_are_found() {
    let cfg = AuditConfig::unlimited();
    let train0 = read("train");
    let test0 = read("test");
    let vocab: Vec<&str> = train0.iter().flat_map(|r| r.0.split(' ')).collect();
    let mut rng = SplitMix64::new(20240611);
    let mut used = BTreeSet::new();
    // Source rows: distinct, at least 10 words (one edited word in a 4-word sentence is not a
    // near-duplicate at 0.8).
    let mut pick = |rng: &mut SplitMix64, min_words: usize| loop {
        let r = rng.below(train0.len());
        if train0[r].0.split(' ').count() >= min_words && used.insert(r) {
            return r;
        }
    };

    let mut train: Vec<String> = train0.iter().map(|r| r.0.clone()).collect();
    let mut labels: Vec<u32> = train0.iter().map(|r| r.1).collect();
    let mut exact_truth = Vec::new(); // (original row, injected row)
    for _ in 0..40 {
        let r = pick(&mut rng, 1);
        exact_truth.push((r, train.len()));
        train.push(same_key_variant(&train0[r].0, &mut rng));
        labels.push(train0[r].1);
    }
    let mut near_truth = Vec::new();
    let mut rejected = 0;
    while near_truth.len() < 40 {
        let r = pick(&mut rng, 10);
        let e = edit(&train0[r].0, &mut rng, &vocab);
        // Keep edits that stay near-duplicates by definition (word-set Jaccard ≥ 0.8) and are
        // not exact copies.
        if word_jaccard(&e, &train0[r].0) < 0.8 || e.to_lowercase() == train0[r].0 {
            rejected += 1;
            continue;
        }
        near_truth.push((r, train.len()));
        train.push(e);
        labels.push(train0[r].1);
    }
    // One conflict: an exact copy with the other label.
    let conflict_src = pick(&mut rng, 1);
    let conflict_row = train.len();
    train.push(train0[conflict_src].0.clone());
    labels.push(1 - train0[conflict_src].1);
    let mut empty_truth = Vec::new();
    let mut ws_truth = Vec::new();
    for i in 0..20 {
        let at = rng.below(train.len());
        // Insert blank rows at random places: shift the truth indices accordingly.
        let text = if i % 2 == 0 {
            String::new()
        } else {
            [" ", "\t", " \n  ", "\u{3000}"][i / 2 % 4].to_string()
        };
        train.insert(at, text);
        labels.insert(at, 0);
        for (a, b) in exact_truth.iter_mut().chain(near_truth.iter_mut()) {
            if *a >= at {
                *a += 1;
            }
            if *b >= at {
                *b += 1;
            }
        }
        for v in empty_truth.iter_mut().chain(ws_truth.iter_mut()) {
            if *v >= at {
                *v += 1;
            }
        }
        if i % 2 == 0 {
            empty_truth.push(at);
        } else {
            ws_truth.push(at);
        }
    }
    empty_truth.sort();
    ws_truth.sort();
    let conflict_row = conflict_row
        + empty_truth
            .iter()
            .chain(&ws_truth)
            .filter(|&&x| x <= conflict_row)
            .count();
    let conflict_src = conflict_src
        + empty_truth
            .iter()
            .chain(&ws_truth)
            .filter(|&&x| x <= conflict_src)
            .count();

    let texts: Vec<&str> = train.iter().map(String::as_str).collect();
    let t0 = std::time::Instant::now();
    let a = audit_split(&texts, Some(&labels), &cfg).unwrap();
    println!("audit of {} rows: {:?}", texts.len(), t0.elapsed());

    assert_eq!(a.empty_rows, empty_truth);
    assert_eq!(a.whitespace_only_rows, ws_truth);

    // Exact duplicates: every injected copy is grouped with its original.
    let group_of = |g: &[Vec<usize>], r: usize| g.iter().position(|x| x.contains(&r));
    let found = exact_truth
        .iter()
        .filter(|(o, i)| {
            group_of(&a.duplicate_groups, *o).is_some()
                && group_of(&a.duplicate_groups, *o) == group_of(&a.duplicate_groups, *i)
        })
        .count();
    let true_groups = a
        .duplicate_groups
        .iter()
        .filter(|g| exact_truth.iter().any(|(o, _)| g.contains(o)) || g.contains(&conflict_row))
        .count();
    println!(
        "exact duplicates: recall {}/{}, precision {}/{} groups",
        found,
        exact_truth.len(),
        true_groups,
        a.duplicate_groups.len()
    );
    assert_eq!(found, exact_truth.len());
    assert_eq!(a.conflicts.len(), 1);
    let c = &a.conflicts[0];
    assert_eq!(c.first_row, conflict_src.min(conflict_row));
    assert!(c.rows_by_label.iter().any(|(_, rows)| rows.contains(&conflict_row)));

    // Near duplicates: every edited row ends up in the same near-duplicate group as its source.
    let g = &a.near_duplicate_groups;
    let missed: Vec<_> = near_truth
        .iter()
        .filter(|(o, i)| group_of(g, *o).is_none() || group_of(g, *o) != group_of(g, *i))
        .collect();
    let injected: HashSet<(usize, usize)> = near_truth.iter().copied().collect();
    let true_pairs = a
        .near_duplicates
        .iter()
        .filter(|p| injected.contains(&(p.a, p.b)))
        .count();
    println!(
        "near duplicates: recall {}/{} ({} candidate edits rejected as < 0.8), precision {}/{} pairs",
        near_truth.len() - missed.len(),
        near_truth.len(),
        rejected,
        true_pairs,
        a.near_duplicates.len()
    );
    for p in a
        .near_duplicates
        .iter()
        .filter(|p| !injected.contains(&(p.a, p.b)))
        .take(5)
    {
        println!(
            "  other near-dup {:.3}: {:?} ~ {:?}",
            p.similarity, texts[p.a], texts[p.b]
        );
    }
    assert!(missed.is_empty(), "missed near-duplicates: {missed:?}");

    // Leakage into test: exact (with case/space variants) and edited copies of other train rows.
    let mut test: Vec<String> = test0.iter().map(|r| r.0.clone()).collect();
    let mut leak_exact = Vec::new();
    let mut leak_near = Vec::new();
    for i in 0..40 {
        let r = pick(&mut rng, 10);
        let r_now = r + empty_truth.iter().chain(&ws_truth).filter(|&&x| x <= r).count();
        assert_eq!(train[r_now], train0[r].0);
        let at = rng.below(test.len() + 1);
        for v in leak_exact.iter_mut().chain(leak_near.iter_mut()) {
            let (row, _): &mut (usize, usize) = v;
            if *row >= at {
                *row += 1;
            }
        }
        if i % 2 == 0 {
            test.insert(at, same_key_variant(&train0[r].0, &mut rng));
            leak_exact.push((at, r_now));
        } else {
            let e = loop {
                let e = edit(&train0[r].0, &mut rng, &vocab);
                if word_jaccard(&e, &train0[r].0) >= 0.8 && e.to_lowercase() != train0[r].0 {
                    break e;
                }
            };
            test.insert(at, e);
            leak_near.push((at, r_now));
        }
    }
    let test_texts: Vec<&str> = test.iter().map(String::as_str).collect();
    let leak = find_leakage(&texts, &test_texts, &cfg).unwrap();
    let exact: HashSet<(usize, usize)> = leak.exact.iter().map(|l| (l.row, l.train_row)).collect();
    let near: HashSet<(usize, usize)> = leak.near.iter().map(|l| (l.row, l.train_row)).collect();
    let exact_found = leak_exact.iter().filter(|p| exact.contains(p)).count();
    let near_found = leak_near.iter().filter(|p| near.contains(p)).count();
    println!(
        "leakage: exact recall {}/{} precision {}/{}; near recall {}/{} precision {}/{}",
        exact_found,
        leak_exact.len(),
        exact_found,
        leak.exact.len(),
        near_found,
        leak_near.len(),
        near_found,
        leak.near.len()
    );
    for l in leak
        .near
        .iter()
        .filter(|l| !leak_near.contains(&(l.row, l.train_row)))
        .take(5)
    {
        println!(
            "  other near leak {:.3}: {:?} ~ {:?}",
            l.similarity, test_texts[l.row], texts[l.train_row]
        );
    }
    assert_eq!(exact_found, leak_exact.len());
    assert_eq!(near_found, leak_near.len());
    // The original splits have no exact overlap (hash-bucket split), so every exact leak is injected.
    assert_eq!(leak.exact.len(), leak_exact.len());
}
