//! Slices against `datasets`' own semantics: tests/data/readers/slices.json holds, for slice
//! strings on 10-, 7- and 1000-row tables, the rows `datasets.ReadInstruction` selects (or that it
//! rejects the slice), made by scripts/fixtures/make_parquet_fixtures.py.

use std::path::PathBuf;

use retune_data::{read_text_dataset, Columns, DataSpec, ReadOptions, Slice};

fn fixture(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", "readers", name]
        .iter()
        .collect();
    p.to_str().unwrap().to_string()
}

#[test]
fn slices_select_the_rows_datasets_selects() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("slices.json")).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 120);
    let cols = Columns {
        label: None,
        ..Columns::default()
    };
    let (mut ok, mut rejected) = (0, 0);
    for case in cases {
        let slice = case["slice"].as_str().unwrap();
        let n = case["n"].as_u64().unwrap() as usize;
        let spec = format!("{}{slice}", fixture(&format!("rows_{n}.txt")));
        // Through the parser and the resolver ...
        let resolved = Slice::parse(slice).and_then(|s| s.resolve(n));
        // ... and end to end through the reader.
        let read = read_text_dataset(&spec, &cols, &ReadOptions::default());
        match case.get("rows") {
            Some(rows) => {
                let expected: Vec<usize> = rows
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                let range = resolved.unwrap_or_else(|e| panic!("{slice} on {n} rows: {e}"));
                assert_eq!(range.collect::<Vec<_>>(), expected, "{slice} on {n} rows");
                let texts: Vec<String> = read.unwrap().examples.into_iter().map(|e| e.text).collect();
                let expected_texts: Vec<String> = expected.iter().map(|i| format!("row {i}")).collect();
                assert_eq!(texts, expected_texts, "{slice} on {n} rows, read");
                ok += 1;
            }
            None => {
                assert!(resolved.is_err(), "{slice} on {n} rows should fail ({})", case["error"]);
                assert!(read.is_err(), "{slice} on {n} rows should fail to read");
                rejected += 1;
            }
        }
    }
    assert!(ok > 90 && rejected > 25, "{ok} {rejected}");
}

#[test]
fn slice_display_round_trips() {
    for s in ["[:6000]", "[10%:20%]", "[-3:]", "[:]", "[5%:](pct1_dropremainder)"] {
        assert_eq!(Slice::parse(s).unwrap().to_string(), s);
    }
    let spec = DataSpec::parse("a.jsonl, b.jsonl[10%:20%]").unwrap();
    assert_eq!(spec.to_string(), "a.jsonl,b.jsonl[10%:20%]");
    assert_eq!(DataSpec::parse("plain.tsv").unwrap().slice, None);
}

#[test]
fn reading_stops_early_for_a_head_slice() {
    // [:3] of a file whose 5th line is malformed: the bad row lies beyond the slice.
    let dir: PathBuf = [env!("CARGO_TARGET_TMPDIR"), "readers_slices"].iter().collect();
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("head.tsv");
    std::fs::write(&p, "text\tlabel\na\t1\nb\t0\nc\t1\nbroken\n").unwrap();
    let ds = read_text_dataset(
        &format!("{}[:3]", p.display()),
        &Columns::default(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(ds.examples.len(), 3);
    let e = read_text_dataset(
        &format!("{}[-3:]", p.display()),
        &Columns::default(),
        &ReadOptions::default(),
    );
    assert_eq!(
        e.unwrap_err().to_string(),
        format!("{}:5: expected 2 fields, found 1", p.display())
    );
}
