//! `retune finetune` end to end: strategies and outputs on the tiny fixture, bad input errors,
//! and continued fine-tuning of the real MiniLM from Rotten Tomatoes to Amazon/Yelp reporting what
//! it forgets on the old task.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retune-cli-finetune-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn finetune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_retune"))
        .arg("finetune")
        .args(args)
        .output()
        .unwrap()
}

fn toy(path: &Path, n: usize, off: usize) {
    let mut s = String::from("text\tlabel\n");
    for i in 0..n {
        let j = i + off;
        let (w, y) = if j % 2 == 1 {
            (["good", "great"][j % 2], "pos")
        } else {
            (["bad", "awful"][j % 2], "neg")
        };
        s.push_str(&format!(
            "the film was {w} and {}\t{y}\n",
            ["long", "short", "new"][j % 3]
        ));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn strategies_write_their_outputs_on_the_tiny_model() {
    let d = tmp("tiny");
    toy(&d.join("train.tsv"), 64, 0);
    toy(&d.join("eval.tsv"), 20, 100);
    let model = root().join("crates/retune-models/tests/fixtures/bert-tiny-a");
    let m = model.to_str().unwrap();
    let (tr, ev) = (d.join("train.tsv"), d.join("eval.tsv"));
    for strategy in ["probe", "head", "lora:4", "top:1", "full", "scratch"] {
        let out = d.join(strategy.replace(':', "-"));
        let o = finetune(&[
            "--model",
            m,
            "--train",
            tr.to_str().unwrap(),
            "--eval",
            ev.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--strategy",
            strategy,
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--json",
        ]);
        assert!(o.status.success(), "{strategy}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if strategy == "probe" {
            assert!(out.join("probe.json").exists());
            assert!(v["eval"]["accuracy"].as_f64().is_some());
            continue;
        }
        assert_eq!(v["run"]["steps"], 8, "{strategy}: 64 rows / 16 x 2 epochs");
        assert!(out.join("best/config.json").exists() && out.join("best/model.safetensors").exists());
        assert!(out.join("log.jsonl").exists() && out.join("summary.json").exists());
        assert_eq!(
            out.join("best/adapter/adapter_config.json").exists(),
            strategy.starts_with("lora")
        );
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("best/config.json")).unwrap()).unwrap();
        // The fixture is a fine-tuned 3-label classifier: its labels stay, the data's new ones are
        // appended (the head is resized, known rows kept).
        assert_eq!(cfg["id2label"]["0"], "negative");
        assert_eq!(cfg["id2label"]["3"], "neg");
        assert_eq!(cfg["id2label"]["4"], "pos");
    }
}

#[test]
fn bad_input_is_one_clear_error() {
    let d = tmp("bad");
    toy(&d.join("train.tsv"), 8, 0);
    std::fs::write(d.join("eval.tsv"), "text\tlabel\nfine movie\tpos\nodd one\tmaybe\n").unwrap();
    let model = root().join("crates/retune-models/tests/fixtures/bert-tiny-a");
    let o = finetune(&[
        "--model",
        model.to_str().unwrap(),
        "--train",
        d.join("train.tsv").to_str().unwrap(),
        "--eval",
        d.join("eval.tsv").to_str().unwrap(),
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("eval.tsv:3") && err.contains("maybe"), "{err}");
    let o = finetune(&[
        "--model",
        model.to_str().unwrap(),
        "--train",
        d.join("train.tsv").to_str().unwrap(),
        "--eval",
        d.join("train.tsv").to_str().unwrap(),
        "--out",
        d.join("o").to_str().unwrap(),
        "--strategy",
        "top:9",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("top:9") && err.contains("2 layers"),
        "{err}"
    );
}

#[test]
fn continued_fine_tuning_reports_forgetting_on_the_old_task() {
    let minilm = root().join("models/all-MiniLM-L6-v2");
    assert!(
        minilm.exists(),
        "{} is missing: run scripts/fetch_minilm.sh",
        minilm.display()
    );
    let d = tmp("continue");
    let rt = root().join("data/sentiment_rt_polarity");
    let ay = root().join("data/sentiment_amazon_yelp");
    let p = |x: &Path| x.to_str().unwrap().to_string();
    // 1. Rotten Tomatoes (a stratified-enough slice: the file is sorted by label, so take both ends).
    let o = finetune(&[
        "--model",
        &p(&minilm),
        "--train",
        &format!("{}[25%:75%]", p(&rt.join("train.tsv"))),
        "--eval",
        &format!("{}[40%:60%]", p(&rt.join("validation.tsv"))),
        "--out",
        &p(&d.join("rt")),
        "--epochs",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // 2. Continue on Amazon/Yelp, evaluating the old task before and after, with 5% replay.
    let o = finetune(&[
        "--model",
        &p(&d.join("rt/best")),
        "--train",
        &p(&ay.join("train.tsv")),
        "--eval",
        &p(&ay.join("validation.tsv")),
        "--also-eval",
        &format!("old={}[40%:60%]", p(&rt.join("validation.tsv"))),
        "--replay",
        &format!("{}:0.05", p(&rt.join("train.tsv"))),
        "--out",
        &p(&d.join("ay")),
        "--epochs",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let before = v["also_eval_before"][0]["accuracy"].as_f64().unwrap();
    let after = v["also_eval_after"][0]["accuracy"].as_f64().unwrap();
    let new_task = v["run"]["best"][0].as_f64().unwrap();
    eprintln!("old task (RT) accuracy {before:.4} -> {after:.4}; new task (Amazon/Yelp) eval {new_task:.4}");
    assert_eq!(v["also_eval_before"][0]["split"], "old");
    assert!(before > 0.7, "the RT model should know RT: {before}");
    assert!(new_task > 0.8, "Amazon/Yelp after continuing: {new_task}");
    assert!((0.0..=1.0).contains(&after));
    // Two MiniLM runs with checkpoints: about 700 MB.
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn ner_fine_tunes_a_tagger_saves_it_and_predict_prints_entities() {
    // 120 WNUT 2017 training sentences on the tiny random BERT token fixture: the run writes a
    // BertForTokenClassification with the run's 13 tags, the summary holds seqeval's report of
    // the test split, and `retune predict` on the checkpoint prints one line of entities per text.
    let d = tmp("ner");
    let dir = root().join("crates/retune-models/tests/fixtures/bert-tiny-token");
    let data = root().join("data/ner_wnut17");
    let o = finetune(&[
        "--task",
        "ner",
        "--model",
        dir.to_str().unwrap(),
        "--train",
        &format!("{}[:120]", data.join("train.jsonl").display()),
        "--eval",
        &format!("{}[:40]", data.join("validation.jsonl").display()),
        "--test",
        &format!("{}[:40]", data.join("test.jsonl").display()),
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "--out",
        d.join("run").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/summary.json")).unwrap()).unwrap();
    let labels = s["labels"].as_array().unwrap();
    assert!(labels.len() >= 10 && labels.iter().any(|l| l == "B-person"));
    let test = &s["test"]["report"];
    assert_eq!(test["tokens"].as_u64().unwrap(), {
        let text = std::fs::read_to_string(data.join("test.jsonl")).unwrap();
        text.lines()
            .take(40)
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["tokens"]
                    .as_array()
                    .unwrap()
                    .len() as u64
            })
            .sum::<u64>()
    });
    assert!(test["micro"]["f1"].as_f64().is_some() && test["signature"].as_str().unwrap().contains("seqeval-1.2.2"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/best/config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");
    assert_eq!(config["id2label"]["0"], labels[0]);
    let input = d.join("in.txt");
    std::fs::write(&input, "Empire State Building is in New York\nhello\n").unwrap();
    let p = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args([
            "predict",
            "--model",
            d.join("run/best").to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    assert_eq!(String::from_utf8(p.stdout).unwrap().lines().count(), 2);
}

/// WNUT 2017 sentences `[range]` with only the `keep` entity types (the others tagged O), as JSONL.
fn wnut_subset(src: &Path, dest: &Path, lines: std::ops::Range<usize>, keep: &[&str]) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut out = String::new();
    for l in text.lines().skip(lines.start).take(lines.len()) {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        let tags: Vec<String> = v["ner_tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let t = t.as_str().unwrap();
                match t.split_once('-') {
                    Some((_, ty)) if keep.contains(&ty) => t.to_string(),
                    _ => "O".to_string(),
                }
            })
            .collect();
        v["ner_tags"] = serde_json::json!(tags);
        out.push_str(&format!("{v}\n"));
    }
    std::fs::write(dest, out).unwrap();
}

#[test]
fn continued_ner_keeps_the_old_tags_and_measures_their_forgetting() {
    // A tagger of person/location (the tiny random BERT, 1 epoch on 200 WNUT sentences) continues
    // on corporation/product/group tags. The run must keep the old tags at their ids (its
    // before-training score of the old eval split equals the first run's own test score on
    // it, to the token), mix in the asked share of old sentences, and report the old split
    // after training.
    let d = tmp("ner-continue");
    let src = root().join("data/ner_wnut17");
    let (old, new) = (["person", "location"], ["corporation", "product", "group"]);
    wnut_subset(&src.join("train.jsonl"), &d.join("old_train.jsonl"), 0..200, &old);
    wnut_subset(&src.join("validation.jsonl"), &d.join("old_eval.jsonl"), 0..60, &old);
    wnut_subset(&src.join("train.jsonl"), &d.join("new_train.jsonl"), 200..400, &new);
    wnut_subset(&src.join("validation.jsonl"), &d.join("new_eval.jsonl"), 60..120, &new);
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let fixture = root().join("crates/retune-models/tests/fixtures/bert-tiny-token");
    let o = finetune(&[
        "--task",
        "ner",
        "--model",
        &p(&fixture),
        "--train",
        &p(&d.join("old_train.jsonl")),
        "--eval",
        &p(&d.join("old_eval.jsonl")),
        "--test",
        &p(&d.join("old_eval.jsonl")),
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "--out",
        &p(&d.join("old")),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("old/summary.json")).unwrap()).unwrap();
    let o = finetune(&[
        "--task",
        "ner",
        "--model",
        &p(&d.join("old/best")),
        "--train",
        &p(&d.join("new_train.jsonl")),
        "--eval",
        &p(&d.join("new_eval.jsonl")),
        "--also-eval",
        &format!("old={}", p(&d.join("old_eval.jsonl"))),
        "--replay",
        &format!("{}:0.1", p(&d.join("old_train.jsonl"))),
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "--out",
        &p(&d.join("new")),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("replay: 20 of 200 old sentences mixed in"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("new/summary.json")).unwrap()).unwrap();
    // The old tags first, at their ids; the new ones after.
    let old_labels = first["labels"].as_array().unwrap();
    let labels = second["labels"].as_array().unwrap();
    assert_eq!(&labels[..old_labels.len()], &old_labels[..]);
    assert!(labels.iter().any(|l| l == "B-corporation") && labels.len() > old_labels.len());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("new/best/config.json")).unwrap()).unwrap();
    for (i, l) in labels.iter().enumerate() {
        assert_eq!(&config["id2label"][i.to_string()], l);
    }
    // Before training, the old split scores exactly as the first run's best model did on it.
    let before = &second["also_eval_before"][0]["report"];
    let test = &first["test"]["report"];
    assert_eq!(second["also_eval_before"][0]["split"], "old");
    for k in ["accuracy", "tokens", "predicted_entities"] {
        assert_eq!(
            before[k], test[k],
            "{k}: before {before:#} vs the first run's test {test:#}"
        );
    }
    assert_eq!(before["micro"], test["micro"]);
    let after = &second["also_eval_after"][0]["report"];
    assert!(after["accuracy"].as_f64().is_some() && after["tokens"] == before["tokens"]);
    let _ = std::fs::remove_dir_all(&d);
}
