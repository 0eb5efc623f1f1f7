//! Label lists, the hash bucket (against Python's `hashlib` on the shared data's key rule) and the
//! stratified split.

use std::collections::BTreeMap;

use retune_data::{hash_bucket, split_by_hash, split_key, split_stratified, LabelSet};

#[test]
fn label_order() {
    assert_eq!(LabelSet::infer(&["10", "-1", "2", "2"]).names(), ["-1", "2", "10"]);
    assert_eq!(LabelSet::infer(&["b", "a", "B"]).names(), ["B", "a", "b"]);
    // One non-integer label: all sorted as strings.
    assert_eq!(LabelSet::infer(&["10", "9", "x"]).names(), ["10", "9", "x"]);
    assert!(LabelSet::infer::<&str>(&[]).is_empty());
    let given = LabelSet::from_names(vec!["pos".into(), "neg".into()]).unwrap();
    assert_eq!(
        (given.id("pos"), given.id("neg"), given.id("x")),
        (Some(0), Some(1), None)
    );
    assert_eq!((given.name(1), given.name(2), given.len()), (Some("neg"), None, 2));
    assert_eq!(
        LabelSet::from_names(vec!["a".into(), "b".into(), "a".into()])
            .unwrap_err()
            .to_string(),
        "label list: 'a' is given twice (ids 0 and 2)"
    );
    assert_eq!(
        LabelSet::from_names(vec!["a".into(), " ".into()])
            .unwrap_err()
            .to_string(),
        "label list: label 1 is empty"
    );
}

#[test]
fn id2label_round_trip() {
    let set = LabelSet::infer(&["LOC", "HUM", "ABBR"]);
    let saved = serde_json::to_string(&set.id2label()).unwrap();
    assert_eq!(saved, r#"{"0":"ABBR","1":"HUM","2":"LOC"}"#);
    let loaded: BTreeMap<usize, String> = serde_json::from_str(&saved).unwrap();
    assert_eq!(LabelSet::from_id2label(&loaded).unwrap(), set);
    let gap: BTreeMap<usize, String> = serde_json::from_str(r#"{"0": "a", "2": "c"}"#).unwrap();
    assert_eq!(
        LabelSet::from_id2label(&gap).unwrap_err().to_string(),
        "id2label: the ids must be 0..2 without gaps, id 1 is missing"
    );
}

#[test]
fn hash_bucket_matches_python() {
    // Expected values from Python: int(hashlib.sha256(" ".join(t.lower().split()).encode())
    // .hexdigest()[:8], 16) % 100
    let cases = [
        ("a film", "a film", 50),
        ("  A\tFILM \n", "a film", 50),
        ("ΣΑΣ", "σας", 89),
        ("İstanbul", "i\u{307}stanbul", 84),
        ("x\u{1c}y", "x y", 50),
        ("x\u{a0}y", "x y", 50),
        ("x\u{200b}y", "x\u{200b}y", 25),
        ("Straße", "straße", 80),
        ("ǅ", "ǆ", 91),
        ("", "", 10),
    ];
    for (text, key, bucket) in cases {
        assert_eq!(split_key(text), key, "{text:?}");
        assert_eq!(hash_bucket(text), bucket, "{text:?}");
    }
}

#[test]
fn hash_split_ranges_are_checked() {
    assert_eq!(
        split_by_hash(["a"], 5..15, 0..10).unwrap_err().to_string(),
        "the validation buckets 5..15 overlap the test buckets 0..10"
    );
    assert!(split_by_hash(["a"], 90..101, 0..10).is_err());
    // Identical keys go to the same split.
    let split = split_by_hash(["A film", "a  film"], 60..70, 40..60).unwrap();
    assert_eq!(split.test, [0, 1]); // bucket 50
}

#[test]
fn stratified_split_is_proportional_and_deterministic() {
    // 3 classes of 50, 30 and 20 rows, interleaved.
    let mut labels = Vec::new();
    for i in 0..100u32 {
        labels.push(match i % 10 {
            0..=4 => 0,
            5..=7 => 1,
            _ => 2,
        });
    }
    let split = split_stratified(&labels, 0.1, 0.2, 7).unwrap();
    let per_class = |rows: &[usize]| {
        let mut c = [0; 3];
        for &r in rows {
            c[labels[r] as usize] += 1;
        }
        c
    };
    assert_eq!(per_class(&split.test), [10, 6, 4]);
    assert_eq!(per_class(&split.validation), [5, 3, 2]);
    assert_eq!(per_class(&split.train), [35, 21, 14]);
    // A partition of all rows, each list sorted.
    let mut all: Vec<usize> = split
        .train
        .iter()
        .chain(&split.validation)
        .chain(&split.test)
        .copied()
        .collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert!(split.test.windows(2).all(|w| w[0] < w[1]));
    // The same seed gives the same split; another seed another one.
    assert_eq!(split, split_stratified(&labels, 0.1, 0.2, 7).unwrap());
    assert_ne!(split.test, split_stratified(&labels, 0.1, 0.2, 8).unwrap().test);
    // Totals are round(fraction * rows) even when classes do not divide evenly (largest remainder).
    let odd = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
    let s = split_stratified(&odd, 0.0, 0.3, 1).unwrap();
    assert_eq!(s.test.len(), 3);
    assert_eq!(per_class_odd(&odd, &s.test), [1, 1, 1]);
    assert!(split_stratified(&odd, 0.6, 0.6, 1).is_err());
}

fn per_class_odd(labels: &[u32], rows: &[usize]) -> [usize; 3] {
    let mut c = [0; 3];
    for &r in rows {
        c[labels[r] as usize] += 1;
    }
    c
}
