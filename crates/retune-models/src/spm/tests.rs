//! Golden tests of the SentencePiece reader and the Marian tokenizer.

use super::marian_tokenizer::split_language_code;
use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

fn golden() -> Value {
    let p = fixtures().join("spm_golden.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("spm_golden.json")).expect("golden JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_u64().expect("id") as u32)
        .collect()
}

#[test]
fn spm_pieces_and_decoding_match_sentencepiece() {
    let g = golden();
    let mut total = 0;
    let mut failures = Vec::new();
    for (name, model) in g["spm"].as_object().expect("spm") {
        let m = SentencePieceModel::from_file(&fixtures().join("spm-tiny").join(name)).expect("model loads");
        for case in model["cases"].as_array().expect("cases") {
            let text = case["text"].as_str().expect("text");
            let want = strings(&case["pieces"]);
            let got = m.encode_pieces(text);
            total += 1;
            if got != want {
                failures.push(format!("{name} encode {text:?}: got {got:?}, want {want:?}"));
            }
            let dec = m.decode_pieces(&want);
            if dec != case["decoded"].as_str().expect("decoded") {
                failures.push(format!(
                    "{name} decode {want:?}: got {dec:?}, want {:?}",
                    case["decoded"]
                ));
            }
        }
        for case in model["decode"].as_array().expect("decode") {
            let pieces = strings(&case["pieces"]);
            let dec = m.decode_pieces(&pieces);
            if dec != case["decoded"].as_str().expect("decoded") {
                failures.push(format!(
                    "{name} decode {pieces:?}: got {dec:?}, want {:?}",
                    case["decoded"]
                ));
            }
        }
    }
    assert!(total > 400, "only {total} cases");
    assert!(
        failures.is_empty(),
        "{} of {total} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn marian_ids_and_decoding_match_transformers() {
    let g = golden();
    let mut total = 0;
    let mut failures = Vec::new();
    for (name, fx) in g["marian"].as_object().expect("marian") {
        let tok = MarianTokenizer::from_dir(&fixtures().join(name)).expect("tokenizer loads");
        assert_eq!(
            tok.vocab_size() as u64,
            fx["vocab_size"].as_u64().unwrap(),
            "{name} vocab_size"
        );
        assert_eq!(u64::from(tok.pad_id()), fx["pad_id"].as_u64().unwrap(), "{name} pad");
        assert_eq!(u64::from(tok.eos_id()), fx["eos_id"].as_u64().unwrap(), "{name} eos");
        assert_eq!(u64::from(tok.unk_id()), fx["unk_id"].as_u64().unwrap(), "{name} unk");
        for case in fx["cases"].as_array().expect("cases") {
            let text = case["text"].as_str().expect("text");
            total += 1;
            let (src, tgt) = (tok.encode_source(text), tok.encode_target(text));
            if src != ids(&case["input_ids"]) {
                failures.push(format!(
                    "{name} source {text:?}: got {src:?}, want {}",
                    case["input_ids"]
                ));
            }
            if tgt != ids(&case["labels"]) {
                failures.push(format!("{name} target {text:?}: got {tgt:?}, want {}", case["labels"]));
            }
            for (key, idv, skip) in [
                ("decode_input_skip", &case["input_ids"], true),
                ("decode_input_keep", &case["input_ids"], false),
                ("decode_labels_skip", &case["labels"], true),
                ("decode_labels_keep", &case["labels"], false),
            ] {
                let got = tok.decode(&ids(idv), skip);
                if got != case[key].as_str().expect("decoded") {
                    failures.push(format!("{name} {key} {text:?}: got {got:?}, want {}", case[key]));
                }
            }
        }
        for case in fx["decode"].as_array().expect("decode") {
            let i = ids(&case["ids"]);
            for (key, skip) in [("skip", true), ("keep", false)] {
                let got = tok.decode(&i, skip);
                if got != case[key].as_str().expect("decoded") {
                    failures.push(format!(
                        "{name} decode {i:?} skip={skip}: got {got:?}, want {}",
                        case[key]
                    ));
                }
            }
        }
    }
    assert!(total > 300, "only {total} cases");
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn model_exposes_pieces_and_spec() {
    let m = SentencePieceModel::from_file(&fixtures().join("spm-tiny/unigram-nfkc.model")).unwrap();
    assert_eq!(m.model_type(), ModelType::Unigram);
    assert_eq!(m.len(), 1000);
    assert_eq!(m.pieces()[0].piece, "<unk>");
    assert_eq!(m.types()[0], PieceType::Unknown);
    assert_eq!(m.types()[1], PieceType::Control);
    assert_eq!(m.normalizer_spec().name, "nmt_nfkc");
    assert!(m.normalizer_spec().add_dummy_prefix && m.normalizer_spec().remove_extra_whitespaces);
    assert_eq!(m.normalize("  ｆｕｌｌ   ①  "), "▁full▁1");
    assert_eq!(m.piece_to_id("</s>"), 2);
    assert_eq!(m.piece_to_id("no such piece"), m.unk_id());
    assert_eq!(m.scores().len(), 1000);
    let bpe = SentencePieceModel::from_file(&fixtures().join("spm-tiny/bpe.model")).unwrap();
    assert_eq!(bpe.model_type(), ModelType::Bpe);
    assert_eq!(bpe.normalizer_spec().name, "identity");
    let user = SentencePieceModel::from_file(&fixtures().join("spm-tiny/unigram-user.model")).unwrap();
    assert!(user.trainer_spec().byte_fallback);
    assert!(user.types().contains(&PieceType::UserDefined) && user.types().contains(&PieceType::Byte));
}

#[test]
fn protobuf_errors_name_the_problem() {
    let path = fixtures().join("spm-tiny/bpe.model");
    let bytes = std::fs::read(&path).unwrap();
    let err = SentencePieceModel::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(matches!(err, SpmError::Truncated { .. }), "{err}");
    assert!(
        err.to_string().contains("<memory>") && err.to_string().contains("truncated"),
        "{err}"
    );
    // A lone key with wire type 3 (start group).
    let err = SentencePieceModel::from_bytes(&[0x0b]).unwrap_err();
    assert!(matches!(err, SpmError::Malformed { .. }), "{err}");
    // No pieces at all.
    let err = SentencePieceModel::from_bytes(&[]).unwrap_err();
    assert!(matches!(err, SpmError::InvalidModel { .. }), "{err}");
    // One NORMAL piece "a" but no <unk>.
    let err = SentencePieceModel::from_bytes(&[0x0a, 0x03, 0x0a, 0x01, b'a']).unwrap_err();
    assert!(err.to_string().contains("UNKNOWN"), "{err}");
    // model_type WORD in trainer_spec.
    let mut m = vec![0x0a, 0x09, 0x0a, 0x05];
    m.extend_from_slice(b"<unk>");
    m.extend_from_slice(&[0x18, 0x02]);
    m.extend_from_slice(&[0x12, 0x02, 0x18, 0x03]);
    let err = SentencePieceModel::from_bytes(&m).unwrap_err();
    assert!(
        matches!(err, SpmError::UnsupportedModelType { model_type: 3, .. }),
        "{err}"
    );
    // The same with UNIGRAM loads, and an unknown character becomes <unk>.
    let n = m.len();
    m[n - 1] = 0x01;
    let model = SentencePieceModel::from_bytes(&m).unwrap();
    assert_eq!(model.encode("xy z"), vec![("▁xy▁z".to_string(), 0)]);
    let err = SentencePieceModel::from_file(Path::new("/nonexistent/source.spm")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/source.spm"), "{err}");
}

#[test]
fn marian_missing_files_are_named() {
    let dir = std::env::temp_dir().join(format!("retune-spm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = fixtures().join("marian-tiny-tied");
    for f in ["source.spm", "target.spm", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let err = MarianTokenizer::from_dir(&dir).unwrap_err();
    assert!(
        matches!(err, SpmError::Missing { .. }) && err.to_string().contains("vocab.json"),
        "{err}"
    );
    std::fs::write(dir.join("vocab.json"), "{\"a\": 1}").unwrap();
    let err = MarianTokenizer::from_dir(&dir).unwrap_err();
    assert!(
        err.to_string().contains("vocab.json") && err.to_string().contains("<unk>"),
        "{err}"
    );
    std::fs::write(dir.join("vocab.json"), "[1, 2").unwrap();
    let err = MarianTokenizer::from_dir(&dir).unwrap_err();
    assert!(
        matches!(err, SpmError::Json { .. }) && err.to_string().contains("vocab.json"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn marian_language_codes_and_specials() {
    let tok = MarianTokenizer::from_dir(&fixtures().join("marian-tiny-tied")).unwrap();
    assert_eq!(
        tok.supported_language_codes(),
        [">>cmn_Hans<<", ">>cmn_Hant<<", ">>yue_Hans<<"]
    );
    let ids = tok.encode_source(">>cmn_Hans<< I love you.");
    assert_eq!(ids[0], tok.token_to_id(">>cmn_Hans<<").unwrap());
    assert_eq!(*ids.last().unwrap(), tok.eos_id());
    assert_eq!(tok.tokenize_source(">>cmn_Hans<< Hi")[0], ">>cmn_Hans<<");
    assert_eq!(tok.decode(&ids, true), tok.decode(&ids[..ids.len() - 1], true));
    assert_eq!(split_language_code(">>fr<<x"), Some((">>fr<<", "x")));
    assert_eq!(split_language_code(">>fr"), None);
    assert_eq!(split_language_code("a>>fr<<"), None);
    let untied = MarianTokenizer::from_dir(&fixtures().join("marian-tiny-untied")).unwrap();
    assert!(untied.separate_vocabs() && untied.supported_language_codes().is_empty());
}
