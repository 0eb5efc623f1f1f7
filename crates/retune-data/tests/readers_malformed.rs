//! Bad input in every text format: one clear error with `file:line`, or with `skip_bad_rows`
//! every skipped row reported with its line and reason.

use std::path::PathBuf;

use retune_data::{
    read_pair_dataset, read_text_dataset, Columns, DataError, Format, LabelSet, PairColumns, ReadOptions, SkippedRow,
};

/// Writes `bytes` to a fresh file `name` in this test's directory.
fn file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir: PathBuf = [env!("CARGO_TARGET_TMPDIR"), "readers_malformed", test]
        .iter()
        .collect();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn s(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_string()
}

fn err_text(path: &std::path::Path, columns: &Columns, opts: &ReadOptions) -> String {
    let e = read_text_dataset(&s(path), columns, opts).unwrap_err();
    let shown = e.to_string();
    assert!(!shown.contains('\n'), "one line: {shown}");
    shown
}

fn skip() -> ReadOptions {
    ReadOptions {
        skip_bad_rows: true,
        ..ReadOptions::default()
    }
}

fn skipped(rows: &[SkippedRow]) -> Vec<(usize, String)> {
    rows.iter().map(|r| (r.line, r.reason.clone())).collect()
}

#[test]
fn tsv_wrong_field_count_and_empty_line() {
    let p = file(
        "tsv_fields",
        "train.tsv",
        b"text\tlabel\nfine\t1\ntoo\tmany\t0\n\nok\t0\nshort\n",
    );
    let cols = Columns::default();
    let e = read_text_dataset(&s(&p), &cols, &ReadOptions::default()).unwrap_err();
    assert!(matches!(&e, DataError::Row { line: 3, .. }));
    assert_eq!(e.to_string(), format!("{}:3: expected 2 fields, found 3", p.display()));

    let ds = read_text_dataset(&s(&p), &cols, &skip()).unwrap();
    assert_eq!(
        ds.examples
            .iter()
            .map(|e| (e.text.as_str(), e.row.line))
            .collect::<Vec<_>>(),
        [("fine", 2), ("ok", 5)]
    );
    assert_eq!(
        skipped(&ds.skipped),
        [
            (3, "expected 2 fields, found 3".to_string()),
            (4, "empty line (expected 2 fields)".to_string()),
            (6, "expected 2 fields, found 1".to_string())
        ]
    );
    assert_eq!(
        ds.skipped[0].to_string(),
        format!("{}:3: expected 2 fields, found 3", p.display())
    );
    assert_eq!(ds.skipped[0].file, p);
}

#[test]
fn tsv_has_no_quoting_by_default_and_csv_has() {
    let p = file(
        "tsv_quotes",
        "a.tsv",
        b"text\tlabel\n\"quoted\" start\t1\n\"open only\t0\n",
    );
    let ds = read_text_dataset(&s(&p), &Columns::default(), &ReadOptions::default()).unwrap();
    assert_eq!(ds.examples[0].text, "\"quoted\" start");
    assert_eq!(ds.examples[1].text, "\"open only");
    // Quoting on for the same file: the second row's quote is never closed.
    let opts = ReadOptions {
        quoting: Some(true),
        ..ReadOptions::default()
    };
    assert_eq!(
        err_text(&p, &Columns::default(), &opts),
        format!(
            "{}:2: unexpected character ' ' after the closing quote of field 1",
            p.display()
        )
    );
}

#[test]
fn csv_quoting_rules() {
    let p = file(
        "csv_ok",
        "a.csv",
        b"text,label\n\"a, b\",1\n\"say \"\"hi\"\"\",0\n\"two\nlines\",1\nplain \"inner\" quote,0\n,1\r\nlast,0",
    );
    let ds = read_text_dataset(&s(&p), &Columns::default(), &ReadOptions::default()).unwrap();
    let got: Vec<(&str, usize)> = ds.examples.iter().map(|e| (e.text.as_str(), e.row.line)).collect();
    assert_eq!(
        got,
        [
            ("a, b", 2),
            ("say \"hi\"", 3),
            ("two\nlines", 4),
            ("plain \"inner\" quote", 6),
            ("", 7),
            ("last", 8)
        ]
    );
}

#[test]
fn csv_unterminated_quote_is_reported_and_the_rest_is_read_again() {
    let p = file(
        "csv_unterminated",
        "a.csv",
        b"text,label\ngood,1\n\"never closed,0\nnext,1\nlast,0\n",
    );
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!(
            "{}:3: unterminated quoted field (the quote opens on line 3)",
            p.display()
        )
    );
    let ds = read_text_dataset(&s(&p), &Columns::default(), &skip()).unwrap();
    let got: Vec<(&str, usize)> = ds.examples.iter().map(|e| (e.text.as_str(), e.row.line)).collect();
    assert_eq!(got, [("good", 2), ("next", 4), ("last", 5)]);
    assert_eq!(
        skipped(&ds.skipped),
        [(3, "unterminated quoted field (the quote opens on line 3)".to_string())]
    );
}

#[test]
fn csv_other_delimiter_and_no_header() {
    let p = file("semicolon", "a.csv", b"x;1\n\"y;z\";0\n");
    let opts = ReadOptions {
        delimiter: Some(b';'),
        no_header: true,
        ..ReadOptions::default()
    };
    let cols = Columns {
        text: "0".into(),
        text_pair: None,
        label: Some("1".into()),
    };
    let ds = read_text_dataset(&s(&p), &cols, &opts).unwrap();
    let got: Vec<(&str, &str, usize)> = ds
        .examples
        .iter()
        .map(|e| (e.text.as_str(), e.label.as_deref().unwrap(), e.row.line))
        .collect();
    assert_eq!(got, [("x", "1", 1), ("y;z", "0", 2)]);
    // The format can be named for any extension.
    let p = file("named", "data.dat", b"text|label\na|b\n");
    let opts = ReadOptions {
        format: Some(Format::Csv),
        delimiter: Some(b'|'),
        ..ReadOptions::default()
    };
    assert_eq!(
        read_text_dataset(&s(&p), &Columns::default(), &opts).unwrap().examples[0]
            .label
            .as_deref(),
        Some("b")
    );
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!(
            "{}: cannot tell the format from the file name; name it (csv, tsv, jsonl, parquet, text)",
            p.display()
        )
    );
}

#[test]
fn missing_column_lists_the_columns() {
    let p = file("missing_col", "a.tsv", b"sentence\tlabel\tfine\nx\t1\ta\n");
    assert_eq!(
        err_text(&p, &Columns::default(), &skip()),
        format!(
            "{}:1: no column 'text'; the columns are: sentence, label, fine",
            p.display()
        )
    );
    let p = file("dup_col", "a.tsv", b"text\ttext\tlabel\nx\ty\t1\n");
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!("{}:1: column 'text' appears more than once", p.display())
    );
    let p = file("empty", "a.tsv", b"");
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!("{}: the file is empty (no header line)", p.display())
    );
    let missing = file("nofile", "x.tsv", b"").with_file_name("does-not-exist.tsv");
    let e = read_text_dataset(&s(&missing), &Columns::default(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }));
    assert!(e.to_string().starts_with(&format!("{}: ", missing.display())), "{e}");
}

#[test]
fn empty_and_unknown_labels() {
    let p = file(
        "labels",
        "a.tsv",
        b"text\tlabel\na\tpos\nb\t\nc\t  \nd\tneutral\ne\tneg\n",
    );
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!("{}:3: empty label in column 'label'", p.display())
    );
    let given = LabelSet::from_names(vec!["neg".into(), "pos".into()]).unwrap();
    let opts = ReadOptions {
        skip_bad_rows: true,
        labels: Some(given.clone()),
        ..ReadOptions::default()
    };
    let ds = read_text_dataset(&s(&p), &Columns::default(), &opts).unwrap();
    assert_eq!(ds.examples.len(), 2);
    assert_eq!(
        skipped(&ds.skipped),
        [
            (3, "empty label in column 'label'".to_string()),
            (4, "empty label in column 'label'".to_string()),
            (5, "unknown label 'neutral' (the labels are: neg, pos)".to_string()),
        ]
    );
    assert_eq!(given.encode(&ds).unwrap(), [1, 0]);
    // Without a given list, reading works and encode() names the unknown label's row.
    let p = file("labels2", "a.tsv", b"text\tlabel\na\tpos\nd\tneutral\n");
    let ds = read_text_dataset(&s(&p), &Columns::default(), &ReadOptions::default()).unwrap();
    assert_eq!(
        given.encode(&ds).unwrap_err().to_string(),
        format!("{}:3: unknown label 'neutral' (the labels are: neg, pos)", p.display())
    );
    let unlabelled = read_text_dataset(
        &s(&p),
        &Columns {
            label: None,
            ..Columns::default()
        },
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(unlabelled.examples[0].label, None);
    assert_eq!(
        given.encode(&unlabelled).unwrap_err().to_string(),
        format!("{}:2: the example has no label", p.display())
    );
}

#[test]
fn invalid_utf8_names_the_line() {
    let p = file("utf8", "a.tsv", b"text\tlabel\nok\t1\nbad \xff byte\t0\n");
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!("{}:3: invalid UTF-8 (byte 5 of the line)", p.display())
    );
    let p = file("utf8", "a.txt", b"one\ntwo\n\xc3\n");
    let cols = Columns {
        label: None,
        ..Columns::default()
    };
    assert_eq!(
        err_text(&p, &cols, &ReadOptions::default()),
        format!("{}:3: invalid UTF-8 (byte 1 of the line)", p.display())
    );
    let p = file(
        "utf8",
        "a.jsonl",
        b"{\"text\": \"a\", \"label\": 1}\n{\"text\": \"\xe4\xb8\", \"label\": 1}\n",
    );
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!("{}:2: invalid UTF-8 (byte 11 of the line)", p.display())
    );
}

#[test]
fn jsonl_malformed_lines() {
    let p = file(
        "jsonl",
        "a.jsonl",
        concat!(
            "{\"text\": \"fine\", \"label\": 1}\n",
            "{\"text\": \"broken\", \"label\": 1\n",
            "[\"not\", \"an object\"]\n",
            "\n",
            "{\"text\": 5, \"label\": 1}\n",
            "{\"text\": null, \"label\": 1}\n",
            "{\"text\": \"no label\"}\n",
            "{\"text\": \"null label\", \"label\": null}\n",
            "{\"text\": \"float label\", \"label\": 1.5}\n",
            "{\"text\": \"bool label\", \"label\": true}\n",
            "{\"text\": \"int label\", \"label\": 7}\n",
            "{\"text\": \"string label\", \"label\": \"pos\"}\n",
        )
        .as_bytes(),
    );
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!(
            "{}:2: invalid JSON: EOF while parsing an object at line 1 column 29",
            p.display()
        )
    );
    let ds = read_text_dataset(&s(&p), &Columns::default(), &skip()).unwrap();
    let got: Vec<(&str, &str, usize)> = ds
        .examples
        .iter()
        .map(|e| (e.text.as_str(), e.label.as_deref().unwrap(), e.row.line))
        .collect();
    assert_eq!(
        got,
        [("fine", "1", 1), ("int label", "7", 11), ("string label", "pos", 12)]
    );
    assert_eq!(
        skipped(&ds.skipped),
        [
            (
                2,
                "invalid JSON: EOF while parsing an object at line 1 column 29".to_string()
            ),
            (3, "expected a JSON object, found an array".to_string()),
            (4, "empty line (expected a JSON object)".to_string()),
            (5, "column 'text': expected a string, found an integer (5)".to_string()),
            (6, "column 'text' is null".to_string()),
            (7, "no field 'label' (the fields are: text)".to_string()),
            (8, "missing label: column 'label' is null".to_string()),
            (
                9,
                "column 'label': expected a string or integer label, found a number (1.5)".to_string()
            ),
            (
                10,
                "column 'label': expected a string or integer label, found a boolean (true)".to_string()
            ),
        ]
    );
    // Mixed integer and string labels: not all integers, so sorted as strings.
    assert_eq!(ds.label_set().unwrap().names(), ["1", "7", "pos"]);
}

#[test]
fn jsonl_nested_fields() {
    let p = file(
        "nested",
        "a.jsonl",
        concat!(
            "{\"translation\": {\"en\": \"Hi.\", \"zh\": \"你好。\"}}\n",
            "{\"translation\": {\"en\": \"Bye.\"}}\n",
            "{\"translation\": \"flat\"}\n",
            "{\"translation.en\": \"dotted key\", \"translation\": {\"zh\": \"点\"}}\n",
        )
        .as_bytes(),
    );
    let cols = PairColumns {
        source: "translation.en".into(),
        target: "translation.zh".into(),
    };
    let e = read_pair_dataset(&s(&p), &cols, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2: no field 'zh' in 'translation' (the fields are: en)", p.display())
    );
    let ds = read_pair_dataset(&s(&p), &cols, &skip()).unwrap();
    let got: Vec<(&str, &str)> = ds
        .examples
        .iter()
        .map(|e| (e.source.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(got, [("Hi.", "你好。"), ("dotted key", "点")]);
    assert_eq!(
        skipped(&ds.skipped),
        [
            (2, "no field 'zh' in 'translation' (the fields are: en)".to_string()),
            (3, "field 'translation' is a string, not an object".to_string()),
        ]
    );
}

#[test]
fn plain_text_lines() {
    let p = file("text", "a.txt", "\u{feff}first\r\nsecond\n\nfourth".as_bytes());
    let cols = Columns {
        label: None,
        ..Columns::default()
    };
    let ds = read_text_dataset(&s(&p), &cols, &ReadOptions::default()).unwrap();
    let got: Vec<(&str, usize)> = ds.examples.iter().map(|e| (e.text.as_str(), e.row.line)).collect();
    assert_eq!(got, [("first", 1), ("second", 2), ("", 3), ("fourth", 4)]);
    assert_eq!(
        err_text(&p, &Columns::default(), &ReadOptions::default()),
        format!(
            "{}: no column 'label'; a plain-text file has one column: text",
            p.display()
        )
    );
}

#[test]
fn spec_errors() {
    let e = read_text_dataset("a.tsv[5]", &Columns::default(), &ReadOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid slice '[5]': expected '[from:to]' (a ':' is required)"
    );
    let e = read_text_dataset("a.tsv,,b.tsv", &Columns::default(), &ReadOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "invalid data spec 'a.tsv,,b.tsv': an empty file name");
}
