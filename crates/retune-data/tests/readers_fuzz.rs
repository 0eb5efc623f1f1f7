//! Property tests of every reader of this crate over arbitrary bytes and over real files with
//! bytes flipped, inserted, deleted or cut: each read ends in a dataset or in one error that
//! names the file — never a panic. `PROPTEST_CASES` sets the cases per property (256 by
//! default; `scripts/fuzz.sh` runs many more).

use proptest::prelude::*;

#[path = "common/edits.rs"]
mod edits;
use edits::{apply, edits};
use retune_data::tagged::{read_tagged_spec_in, InputScheme};
use retune_data::{read_pair_dataset, read_text_dataset, Columns, PairColumns, ReadOptions};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh file `name` holding `bytes`, in a folder of this process and thread.
fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "retune-fuzz-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The first `n` bytes of a real file.
fn real(path: &str, n: usize) -> Vec<u8> {
    let mut b = std::fs::read(root().join(path)).unwrap();
    b.truncate(n);
    b
}

/// Reads `bytes` as a classification dataset named `name`; an error must name the file.
fn text_reader(name: &str, bytes: &[u8]) {
    let p = file(name, bytes);
    let cols = Columns::default();
    for skip in [false, true] {
        let opts = ReadOptions {
            skip_bad_rows: skip,
            ..Default::default()
        };
        if let Err(e) = read_text_dataset(p.to_str().unwrap(), &cols, &opts) {
            assert_names(&e.to_string(), &p);
        }
    }
    let cols = PairColumns {
        source: "en".into(),
        target: "zh".into(),
    };
    if let Err(e) = read_pair_dataset(p.to_str().unwrap(), &cols, &ReadOptions::default()) {
        assert_names(&e.to_string(), &p);
    }
}

/// Reads `bytes` as token/tag data named `name`, as is and in every scheme.
fn tag_reader(name: &str, bytes: &[u8]) {
    let p = file(name, bytes);
    for scheme in [
        None,
        Some(InputScheme::Iob2),
        Some(InputScheme::Iob1),
        Some(InputScheme::Bioes),
        Some(InputScheme::Bmes),
    ] {
        if let Err(e) = read_tagged_spec_in(p.to_str().unwrap(), None, scheme) {
            assert_names(&e.to_string(), &p);
        }
    }
}

fn assert_names(message: &str, p: &Path) {
    let name = p.file_name().unwrap().to_str().unwrap();
    assert!(message.contains(name), "error does not name the file: {message}");
    assert_eq!(message.lines().count(), 1, "not one line: {message}");
}

proptest! {
    #[test]
    fn delimited_and_json_readers_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for name in ["a.tsv", "a.csv", "a.jsonl", "a.txt", "a.parquet"] {
            text_reader(name, &bytes);
        }
    }

    #[test]
    fn delimited_and_json_readers_take_mutated_real_files(e in edits()) {
        text_reader("rt.tsv", &apply(real("data/sentiment_rt_polarity/train.tsv", 600), &e, usize::MAX));
        text_reader("tatoeba.jsonl", &apply(real("data/translation_en_zh_tatoeba/validation.jsonl", 600), &e, usize::MAX));
        text_reader("quoted.csv", &apply(b"text,label\n\"a, \"\"b\"\"\nc\",1\nplain,0\n".to_vec(), &e, usize::MAX));
    }

    #[test]
    fn parquet_reader_takes_mutated_real_files(e in edits()) {
        for f in ["compression_snappy", "compression_zstd", "hf_classlabel_translation"] {
            let bytes = std::fs::read(root().join(format!("crates/retune-data/tests/data/readers/{f}.parquet"))).unwrap();
            text_reader(&format!("{f}.parquet"), &apply(bytes, &e, usize::MAX));
        }
    }

    #[test]
    fn tag_readers_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for name in ["t.jsonl", "t.conll", "t.txt"] {
            tag_reader(name, &bytes);
        }
    }

    #[test]
    fn tag_readers_take_mutated_real_files(e in edits()) {
        tag_reader("wnut.jsonl", &apply(real("data/ner_wnut17/train.jsonl", 800), &e, usize::MAX));
        tag_reader("wnut.conll", &apply(b"-DOCSTART- O\n\nEU B-ORG\nrejects O\nGerman B-MISC\ncall I-MISC\n\nPeter S-PER\n".to_vec(), &e, usize::MAX));
        tag_reader("tags.txt", &apply(b"B-PER I-PER O\nO S-LOC\n".to_vec(), &e, usize::MAX));
    }
}
