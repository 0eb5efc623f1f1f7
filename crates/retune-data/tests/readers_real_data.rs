//! The readers on the real datasets of `data/` (copies of the shared offline data): row and label
//! counts as the data README states them, and the hash-bucket split reproducing the files' split.

use std::collections::BTreeMap;
use std::path::PathBuf;

use retune_data::{
    hash_bucket, read_pair_dataset, read_text_dataset, split_by_hash, Columns, LabelSet, PairColumns, ReadOptions,
    TextDataset,
};

fn data(rel: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "data", rel].iter().collect();
    p.to_str().unwrap().to_string()
}

fn read(rel: &str) -> TextDataset {
    read_text_dataset(&data(rel), &Columns::default(), &ReadOptions::default()).unwrap()
}

fn label_counts(ds: &TextDataset) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in &ds.examples {
        *counts.entry(e.label.clone().unwrap()).or_insert(0) += 1;
    }
    counts
}

/// An independent, naive reading of a TSV file without quoting: `line.split('\t')`.
fn naive_tsv(rel: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(data(rel)).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn rt_polarity_counts_match_the_readme() {
    let expected = [
        ("train", 8514, 4257, 4257),
        ("validation", 1090, 562, 528),
        ("test", 1058, 512, 546),
    ];
    for (split, rows, neg, pos) in expected {
        let ds = read(&format!("sentiment_rt_polarity/{split}.tsv"));
        assert_eq!(ds.examples.len(), rows, "{split}");
        assert!(ds.skipped.is_empty());
        let counts = label_counts(&ds);
        assert_eq!(counts.len(), 2);
        assert_eq!((counts["0"], counts["1"]), (neg, pos), "{split}");
        // Line numbers: header on line 1, rows from line 2.
        assert_eq!(ds.examples[0].row.line, 2);
        assert_eq!(ds.examples.last().unwrap().row.line, rows + 1);
        // Texts equal a naive split on TAB (texts that start with '"' are kept whole).
        let naive = naive_tsv(&format!("sentiment_rt_polarity/{split}.tsv"));
        let ours: Vec<Vec<String>> = ds
            .examples
            .iter()
            .map(|e| vec![e.text.clone(), e.label.clone().unwrap()])
            .collect();
        assert_eq!(ours, naive, "{split}");
    }
    let train = read("sentiment_rt_polarity/train.tsv");
    assert_eq!(train.examples.iter().filter(|e| e.text.starts_with('"')).count(), 44);
    assert_eq!(train.label_set().unwrap().names(), ["0", "1"]);
}

#[test]
fn hash_buckets_reproduce_the_rt_polarity_split() {
    let splits: Vec<TextDataset> = ["train", "validation", "test"]
        .iter()
        .map(|s| read(&format!("sentiment_rt_polarity/{s}.tsv")))
        .collect();
    for e in &splits[2].examples {
        assert!(
            hash_bucket(&e.text) < 10,
            "test row {:?} is in bucket {}",
            e.text,
            hash_bucket(&e.text)
        );
    }
    for e in &splits[1].examples {
        assert!((10..20).contains(&hash_bucket(&e.text)), "validation row {:?}", e.text);
    }
    for e in &splits[0].examples {
        assert!(hash_bucket(&e.text) >= 20, "train row {:?}", e.text);
    }
    // split_by_hash over all rows, in file order train|validation|test, gives back the files.
    let all: Vec<&str> = splits
        .iter()
        .flat_map(|d| d.examples.iter().map(|e| e.text.as_str()))
        .collect();
    let split = split_by_hash(all.iter().copied(), 10..20, 0..10).unwrap();
    let (n_train, n_val) = (splits[0].examples.len(), splits[1].examples.len());
    assert_eq!(split.train, (0..n_train).collect::<Vec<_>>());
    assert_eq!(split.validation, (n_train..n_train + n_val).collect::<Vec<_>>());
    assert_eq!(split.test, (n_train + n_val..all.len()).collect::<Vec<_>>());
}

#[test]
fn trec_coarse_and_fine_labels() {
    let expected = [
        ("train", 4905, [81, 1057, 1122, 1093, 748, 804], 50),
        ("validation", 547, [5, 105, 128, 130, 87, 92], 44),
        ("test", 500, [9, 138, 94, 65, 81, 113], 42),
    ];
    for (split, rows, per_label, fine_classes) in expected {
        let ds = read(&format!("trec_question_classification/{split}.tsv"));
        assert_eq!(ds.examples.len(), rows);
        let labels = ds.label_set().unwrap();
        assert_eq!(labels.names(), ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]);
        let ids = labels.encode(&ds).unwrap();
        let mut counts = [0usize; 6];
        for id in ids {
            counts[id as usize] += 1;
        }
        assert_eq!(counts, per_label, "{split}");
        let cols = Columns {
            label: Some("fine_label".into()),
            ..Columns::default()
        };
        let fine = read_text_dataset(
            &data(&format!("trec_question_classification/{split}.tsv")),
            &cols,
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(fine.label_set().unwrap().len(), fine_classes, "{split}");
        assert_eq!(fine.examples[0].text, ds.examples[0].text);
    }
    // The official training set was split by hash bucket: 0-9 -> validation, the rest -> train.
    let train = read("trec_question_classification/train.tsv");
    let val = read("trec_question_classification/validation.tsv");
    assert!(train.examples.iter().all(|e| hash_bucket(&e.text) >= 10));
    assert!(val.examples.iter().all(|e| hash_bucket(&e.text) < 10));
    // A given label list fixes the order (and rejects labels outside it).
    let given = LabelSet::from_names(["NUM", "LOC", "HUM", "ENTY", "DESC", "ABBR"].map(String::from).to_vec()).unwrap();
    let ids = given.encode(&val).unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == 5).count(), 5); // ABBR
}

#[test]
fn tatoeba_shards_concatenate() {
    let root = data("translation_en_zh_tatoeba");
    let cols = PairColumns::default();
    let opts = ReadOptions::default();
    let one = read_pair_dataset(&format!("{root}/train-1-of-2.jsonl"), &cols, &opts).unwrap();
    let two = read_pair_dataset(&format!("{root}/train-2-of-2.jsonl"), &cols, &opts).unwrap();
    assert_eq!((one.examples.len(), two.examples.len()), (11974, 11777));
    let both = read_pair_dataset(
        &format!("{root}/train-1-of-2.jsonl,{root}/train-2-of-2.jsonl"),
        &cols,
        &opts,
    )
    .unwrap();
    assert_eq!(both.examples.len(), 23751);
    assert_eq!(both.files.len(), 2);
    assert_eq!(both.examples[11974].row.file, 1);
    assert_eq!(both.examples[11974].row.line, 1);
    assert_eq!(both.examples[11974].source, two.examples[0].source);
    // A slice applies to the concatenation.
    let tail = read_pair_dataset(
        &format!("{root}/train-1-of-2.jsonl,{root}/train-2-of-2.jsonl[11970:11980]"),
        &cols,
        &opts,
    )
    .unwrap();
    assert_eq!(tail.examples.len(), 10);
    assert_eq!(tail.examples[3].row, both.examples[11973].row);
    assert_eq!(tail.examples[4].row.file, 1);
    for (split, rows) in [("validation", 1313), ("test", 1324)] {
        let ds = read_pair_dataset(&format!("{root}/{split}.jsonl"), &cols, &opts).unwrap();
        assert_eq!(ds.examples.len(), rows);
    }
    // zh_hans differs from zh exactly where Traditional characters were converted.
    let hans = PairColumns {
        source: "zh".into(),
        target: "zh_hans".into(),
    };
    let ds = read_pair_dataset(&format!("{root}/validation.jsonl"), &hans, &opts).unwrap();
    assert!(ds.examples.iter().any(|e| e.source != e.target));
    let attribution = Columns {
        text: "en".into(),
        text_pair: Some("zh".into()),
        label: Some("attribution".into()),
    };
    let ds = read_text_dataset(&format!("{root}/test.jsonl[:2]"), &attribution, &opts).unwrap();
    assert!(ds.examples[0].label.as_deref().unwrap().starts_with("tatoeba.org #"));
}
