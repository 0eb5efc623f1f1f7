//! Property tests of the model-file readers over arbitrary bytes and over real fixture files
//! with bytes flipped, inserted, deleted or cut: `config.json`, the safetensors header and
//! weights, the SentencePiece model reader (with a segmentation of text when it loads), and
//! `tokenizer.json`. Each read ends in a value or in an error — never a panic.
//! `PROPTEST_CASES` sets the cases per property (256 by default; `scripts/fuzz.sh` runs more).

use proptest::prelude::*;

#[path = "../../retune-data/tests/common/edits.rs"]
mod edits;
use edits::{apply, edits};
use retune_models::arch::ModelConfig;
use retune_models::spm::SentencePieceModel;
use retune_models::text_tokenizer::TextTokenizer;
use retune_models::weights::Checkpoint;
use std::path::PathBuf;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

/// A fresh model folder of this process and thread holding `files`.
fn folder(files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "retune-fuzz-models-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

fn config_and_weights(config: &[u8], weights: &[u8]) {
    let dir = folder(&[("config.json", config), ("model.safetensors", weights)]);
    let _ = ModelConfig::from_dir(&dir).and_then(|c| c.load_params(&dir, &candle_core::Device::Cpu));
    let _ = Checkpoint::load(&dir, &candle_core::Device::Cpu);
}

fn spm(bytes: &[u8]) {
    if let Ok(m) = SentencePieceModel::from_bytes(bytes) {
        let _ = m.encode("Hello wörld, 你好 ▁▁ 123 \u{fe0f}");
    }
}

proptest! {
    #[test]
    fn config_and_safetensors_take_any_bytes(a in prop::collection::vec(any::<u8>(), 0..300), b in prop::collection::vec(any::<u8>(), 0..300)) {
        config_and_weights(&a, &b);
    }

    #[test]
    fn config_and_safetensors_take_mutated_fixtures(e in edits(), which in 0usize..2) {
        let config = fixture("bert-tiny-a/config.json");
        let weights = fixture("bert-tiny-a/model.safetensors");
        if which == 0 {
            config_and_weights(&apply(config, &e, 2000), &weights);
        } else {
            // The safetensors header (a length, then JSON with offsets) is in the first bytes.
            config_and_weights(&config, &apply(weights, &e, 4000));
        }
    }

    #[test]
    fn sentencepiece_reader_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        spm(&bytes);
    }

    #[test]
    fn sentencepiece_reader_takes_mutated_models(e in edits()) {
        for f in ["spm-tiny/bpe.model", "spm-tiny/unigram-nfkc.model", "marian-tiny-tied/source.spm"] {
            let b = fixture(f);
            let n = b.len();
            spm(&apply(b, &e, n));
        }
    }

    #[test]
    fn tokenizer_json_takes_mutated_files(e in edits()) {
        let b = fixture("bert-tiny-a/tokenizer.json");
        let n = b.len();
        let dir = folder(&[("tokenizer.json", &apply(b, &e, n)), ("config.json", &fixture("bert-tiny-a/config.json"))]);
        if let Ok(t) = TextTokenizer::load(&dir, 128) {
            let _ = t.encode_batch(&["Hello wörld, 你好 \u{fe0f}"], None);
        }
    }
}
