//! Parquet files written by Hugging Face `datasets` and pyarrow
//! (made by scripts/fixtures/make_parquet_fixtures.py).

use std::path::PathBuf;

use retune_data::{read_pair_dataset, read_text_dataset, Columns, DataError, PairColumns, ReadOptions};

fn fixture(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", "readers", name]
        .iter()
        .collect();
    p.to_str().unwrap().to_string()
}

fn opts() -> ReadOptions {
    ReadOptions::default()
}

#[test]
fn hf_classlabel_is_read_as_its_names() {
    let ds = read_text_dataset(
        &fixture("hf_classlabel_translation.parquet"),
        &Columns::default(),
        &opts(),
    )
    .unwrap();
    let got: Vec<(&str, &str, usize)> = ds
        .examples
        .iter()
        .map(|e| (e.text.as_str(), e.label.as_deref().unwrap(), e.row.line))
        .collect();
    assert_eq!(
        got,
        [
            ("a dull film", "neg", 1),
            ("a lovely film", "pos", 2),
            ("\"quoted\" start", "pos", 3),
            ("tab\there", "neg", 4),
            ("多语言 text", "pos", 5),
            ("last", "neg", 6),
        ]
    );
    assert_eq!(
        ds.class_names.as_deref(),
        Some(&["neg".to_string(), "pos".to_string()][..])
    );
    let labels = ds.label_set().unwrap();
    assert_eq!(labels.names(), ["neg", "pos"]);
    assert_eq!(labels.encode(&ds).unwrap(), [0, 1, 1, 0, 1, 0]);
    // A slice that holds only 'pos' rows keeps the ClassLabel ids.
    let ds = read_text_dataset(
        &format!("{}[1:3]", fixture("hf_classlabel_translation.parquet")),
        &Columns::default(),
        &opts(),
    )
    .unwrap();
    assert_eq!(ds.label_set().unwrap().encode(&ds).unwrap(), [1, 1]);
}

#[test]
fn hf_translation_struct_columns() {
    let cols = PairColumns {
        source: "translation.en".into(),
        target: "translation.zh".into(),
    };
    let ds = read_pair_dataset(&fixture("hf_classlabel_translation.parquet"), &cols, &opts()).unwrap();
    assert_eq!(ds.examples.len(), 6);
    assert_eq!(
        (ds.examples[0].source.as_str(), ds.examples[0].target.as_str()),
        ("I quit.", "我退出。")
    );
    assert_eq!(
        (ds.examples[5].source.as_str(), ds.examples[5].target.as_str()),
        ("Hello!", "你好。")
    );
    let bad = PairColumns {
        source: "translation.en".into(),
        target: "translation.de".into(),
    };
    let e = read_pair_dataset(&fixture("hf_classlabel_translation.parquet"), &bad, &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: no column 'translation.de'; the columns are: text, label, translation.en, translation.zh",
            fixture("hf_classlabel_translation.parquet")
        )
    );
    // A struct is not a text.
    let cols = Columns {
        text: "translation".into(),
        label: None,
        text_pair: None,
    };
    let e = read_text_dataset(&fixture("hf_classlabel_translation.parquet"), &cols, &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1: column 'translation': expected a string, found a struct",
            fixture("hf_classlabel_translation.parquet")
        )
    );
}

#[test]
fn hf_missing_classlabel_value() {
    let path = fixture("hf_missing_label.parquet");
    let e = read_text_dataset(&path, &Columns::default(), &opts()).unwrap_err();
    assert!(matches!(e, DataError::Row { line: 2, .. }));
    assert_eq!(
        e.to_string(),
        format!("{path}:2: missing label: column 'label' is -1 (no ClassLabel)")
    );
    let skip = ReadOptions {
        skip_bad_rows: true,
        ..opts()
    };
    let ds = read_text_dataset(&path, &Columns::default(), &skip).unwrap();
    assert_eq!(
        ds.examples
            .iter()
            .map(|e| e.label.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["pos", "neg"]
    );
    assert_eq!(ds.skipped.len(), 1);
    assert_eq!(
        ds.skipped[0].to_string(),
        format!("{path}:2: missing label: column 'label' is -1 (no ClassLabel)")
    );
}

#[test]
fn pyarrow_types_nulls_and_row_groups() {
    let path = fixture("pyarrow_types.parquet");
    // Integer labels (3 row groups of 2, 2 and 1 rows): sorted numerically.
    let cols = Columns {
        text: "large".into(),
        text_pair: None,
        label: Some("label_int".into()),
    };
    let ds = read_text_dataset(&path, &cols, &opts()).unwrap();
    let got: Vec<(&str, &str, usize)> = ds
        .examples
        .iter()
        .map(|e| (e.text.as_str(), e.label.as_deref().unwrap(), e.row.line))
        .collect();
    assert_eq!(
        got,
        [
            ("L1", "3", 1),
            ("L2", "10", 2),
            ("L3", "2", 3),
            ("L4", "10", 4),
            ("L5", "3", 5)
        ]
    );
    assert_eq!(ds.class_names, None);
    let labels = ds.label_set().unwrap();
    assert_eq!(labels.names(), ["2", "3", "10"]);
    assert_eq!(labels.encode(&ds).unwrap(), [1, 2, 0, 2, 1]);

    // A null text (row 3) and a null label (row 4).
    let cols = Columns {
        text: "text".into(),
        text_pair: Some("large".into()),
        label: Some("label_str".into()),
    };
    let e = read_text_dataset(&path, &cols, &opts()).unwrap_err();
    assert_eq!(e.to_string(), format!("{path}:3: column 'text' is null"));
    let ds = read_text_dataset(
        &path,
        &cols,
        &ReadOptions {
            skip_bad_rows: true,
            ..opts()
        },
    )
    .unwrap();
    let got: Vec<(&str, &str, &str)> = ds
        .examples
        .iter()
        .map(|e| {
            (
                e.text.as_str(),
                e.text_pair.as_deref().unwrap(),
                e.label.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("first", "L1", "b"), ("second", "L2", "a"), ("fifth", "L5", "a")]);
    let reasons: Vec<String> = ds.skipped.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        reasons,
        [
            format!("{path}:3: column 'text' is null"),
            format!("{path}:4: missing label: column 'label_str' is null")
        ]
    );

    // A float column is neither a text nor a label.
    let cols = Columns {
        text: "score".into(),
        text_pair: None,
        label: None,
    };
    let e = read_text_dataset(&path, &cols, &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{path}:1: column 'score': expected a string, found a number (0.5)")
    );
    let cols = Columns {
        text: "large".into(),
        text_pair: None,
        label: Some("score".into()),
    };
    let e = read_text_dataset(&path, &cols, &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{path}:1: column 'score': expected a string or integer label, found a number (0.5)")
    );

    // Missing column: the error lists those that exist.
    let e = read_text_dataset(&path, &Columns::default(), &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{path}: no column 'label'; the columns are: text, large, label_int, label_str, score")
    );
}

#[test]
fn every_codec_reads_the_same() {
    for codec in ["none", "snappy", "gzip", "zstd", "lz4"] {
        let ds = read_text_dataset(
            &fixture(&format!("compression_{codec}.parquet")),
            &Columns::default(),
            &opts(),
        )
        .unwrap();
        let got: Vec<(&str, &str)> = ds
            .examples
            .iter()
            .map(|e| (e.text.as_str(), e.label.as_deref().unwrap()))
            .collect();
        assert_eq!(got, [("alpha", "x"), ("beta", "y"), ("gamma", "x")], "{codec}");
    }
}

#[test]
fn parquet_shards_and_slices_concatenate() {
    let a = fixture("compression_snappy.parquet");
    let b = fixture("compression_zstd.parquet");
    let ds = read_text_dataset(&format!("{a},{b}[-4:]"), &Columns::default(), &opts()).unwrap();
    let got: Vec<(&str, usize, usize)> = ds
        .examples
        .iter()
        .map(|e| (e.text.as_str(), e.row.file, e.row.line))
        .collect();
    assert_eq!(got, [("gamma", 0, 3), ("alpha", 1, 1), ("beta", 1, 2), ("gamma", 1, 3)]);
}

#[test]
fn not_a_parquet_file() {
    let path = fixture("rows_10.txt");
    let o = ReadOptions {
        format: Some(retune_data::Format::Parquet),
        ..opts()
    };
    let e = read_text_dataset(&path, &Columns::default(), &o).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{path}: not a readable Parquet file: ")),
        "{shown}"
    );
    assert!(!shown.contains('\n'));
}

/// The first 40 WNUT 2017 training sentences as the JSONL file has them.
fn wnut_head() -> Vec<(Vec<String>, Vec<String>)> {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "data",
        "ner_wnut17",
        "train.jsonl",
    ]
    .iter()
    .collect();
    let c = retune_data::tagged::read_tagged_spec(p.to_str().unwrap(), None).unwrap();
    c.sentences.into_iter().take(40).map(|s| (s.tokens, s.tags)).collect()
}

#[test]
fn hf_ner_parquet_reads_as_the_jsonl_it_came_from() {
    // (made by scripts/fixtures/make_parquet_ner_fixtures.py)
    let want = wnut_head();
    for name in [
        "hf_ner_list.parquet",
        "hf_ner_sequence.parquet",
        "ner_string_tags.parquet",
    ] {
        let c = retune_data::tagged::read_tagged_spec(&fixture(name), None).unwrap();
        let got: Vec<(Vec<String>, Vec<String>)> =
            c.sentences.iter().map(|s| (s.tokens.clone(), s.tags.clone())).collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(
            c.location(2),
            format!("{}:3", fixture(name)),
            "{name}: rows are numbered from 1"
        );
    }
    // A slice and a scheme apply as to any tagged file.
    let c = retune_data::tagged::read_tagged_spec_in(
        &format!("{}[5:10]", fixture("hf_ner_list.parquet")),
        None,
        Some(retune_data::tagged::InputScheme::Iob2),
    )
    .unwrap();
    assert_eq!(c.sentences.len(), 5);
    assert_eq!(c.sentences[0].tags, want[5].1);
}

#[test]
fn a_tag_id_outside_the_classlabel_names_its_row() {
    let e = retune_data::tagged::read_tagged_spec(&fixture("ner_bad_id.parquet"), None).unwrap_err();
    let m = e.to_string();
    assert!(m.starts_with(&format!("{}:3", fixture("ner_bad_id.parquet"))), "{m}");
    assert!(m.contains("99") && m.contains("13 names"), "{m}");
    assert!(!m.contains('\n'));
}
