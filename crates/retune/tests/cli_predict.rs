//! `retune predict` on a tiny random checkpoint: logits must equal those `transformers` computed
//! for the same texts (fixture), in input order, whatever the length-sorted batching does.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn predict_matches_transformers_logits_in_input_order() {
    let fx = root().join("crates/retune-models/tests/fixtures/bert-tiny-a");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fx.join("expected.json")).unwrap()).unwrap();
    let case = expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "batch")
        .unwrap();
    let texts: Vec<&str> = case["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let dir = std::env::temp_dir().join(format!("retune-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("rows.tsv");
    std::fs::write(&input, format!("text\n{}\n", texts.join("\n"))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args([
            "predict",
            "--model",
            fx.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--json",
            "--batch-size",
            "3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), texts.len());
    let labels: Vec<String> = (0..3)
        .map(|i| expected["id2label"][i.to_string()].as_str().unwrap().to_string())
        .collect();
    for (row, want) in rows.iter().zip(case["outputs"]["logits"].as_array().unwrap()) {
        let got: Vec<f64> = row["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want: Vec<f64> = want.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "logits {got:?} vs {want:?}");
        }
        let best = (0..want.len()).fold(0, |b, k| if want[k] > want[b] { k } else { b });
        assert_eq!(row["label"].as_str().unwrap(), labels[best]);
        let psum: f64 = row["probabilities"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((psum - 1.0).abs() < 1e-5);
    }
}

#[test]
fn predict_errors_name_the_file_and_column() {
    let fx = root().join("crates/retune-models/tests/fixtures/bert-tiny-a");
    let dir = std::env::temp_dir().join(format!("retune-predict-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("rows.tsv");
    std::fs::write(&input, "sentence\tlabel\nfine\t1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args([
            "predict",
            "--model",
            fx.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("rows.tsv") && e.contains("no column 'text'") && e.contains("sentence, label"),
        "{e}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args([
            "predict",
            "--model",
            "/nonexistent/model",
            "--input",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/model"));
}

#[test]
fn translate_matches_transformers_generate() {
    let fx = root().join("crates/retune-models/tests/fixtures/marian-tiny-tied");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fx.join("expected.json")).unwrap()).unwrap();
    let src: Vec<String> = expected["generate_inputs"]["src_texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.as_str()
                .unwrap()
                .trim_start_matches(">>cmn_Hans<<")
                .trim()
                .to_string()
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("retune-translate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("src.txt");
    std::fs::write(&input, src.join("\n") + "\n").unwrap();
    for (case, beams) in [("greedy", "1"), ("beam4_lp1.0", "4")] {
        let want = expected["generate"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == case)
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_retune"))
            .args([
                "translate",
                "--model",
                fx.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--target-token",
                ">>cmn_Hans<<",
            ])
            .args([
                "--beams",
                beams,
                "--max-length",
                "20",
                "--batch-size",
                "3",
                "--early-stopping",
                "true",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let want: Vec<String> = want["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "{case}");
    }
}

/// A token classifier (the real DistilBERT tagger, `scripts/fetch_quire_distilbert.sh`) tags
/// every non-special token of real WNUT-17 sentences with the tags `transformers` predicts.
#[test]
fn predict_tags_tokens_of_a_token_classifier_as_transformers_does() {
    let model = root().join("models/quire-distilbert");
    assert!(
        model.join("model.safetensors").exists(),
        "run scripts/fetch_quire_distilbert.sh"
    );
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-models/tests/fixtures/quire_distilbert_expected.json"))
            .unwrap(),
    )
    .unwrap();
    let case = &golden["cases"][0];
    let texts: Vec<&str> = case["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let dir = std::env::temp_dir().join(format!("retune-predict-tags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("rows.txt");
    std::fs::write(&input, format!("{}\n", texts.join("\n"))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args([
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), texts.len());
    for (r, row) in rows.iter().enumerate() {
        // The golden row without [CLS], [SEP] and padding.
        let tokens = case["tokens"][r].as_array().unwrap();
        let want: Vec<(&str, &str)> = tokens
            .iter()
            .zip(case["tagging"]["predicted_tags"][r].as_array().unwrap())
            .map(|(t, g)| (t.as_str().unwrap(), g.as_str().unwrap()))
            .filter(|(t, _)| !matches!(*t, "[CLS]" | "[SEP]" | "[PAD]"))
            .collect();
        let got: Vec<(&str, &str)> = row["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["token"].as_str().unwrap(), t["tag"].as_str().unwrap()))
            .collect();
        assert_eq!(got, want, "row {r}");
        // Byte offsets point at the token's text (WordPiece `##` continuations excepted).
        for t in row["tokens"].as_array().unwrap() {
            let (s, e) = (
                t["start"].as_u64().unwrap() as usize,
                t["end"].as_u64().unwrap() as usize,
            );
            let tok = t["token"].as_str().unwrap().trim_start_matches("##");
            if tok != "[UNK]" {
                assert_eq!(&texts[r][s..e], tok, "row {r}");
            }
        }
    }
}
