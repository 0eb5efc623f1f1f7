//! `retune assess --task ner` on real WNUT 2017 sentences with a fault injected by the test:
//! a third of the eval sentences copied into train. The assessment must measure what the leak
//! does to the score (the best pilot with and without the leaked sentences), and its figures
//! must agree with `retune eval seqeval` (checked against seqeval 1.2.2 elsewhere) run on the
//! predictions it writes.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(root().join(path))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn retune(args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn seqeval_f1(pred: &Path, gold: &Path) -> f64 {
    let p = pred.to_str().unwrap();
    let g = gold.to_str().unwrap();
    let r = retune(&[
        "eval", "seqeval", "--format", "lines", "--pred", p, "--gold", g, "--json",
    ]);
    r["micro"]["f1"].as_f64().unwrap_or_else(|| panic!("{r:#}"))
}

fn gold_tags(rows: &[&String]) -> String {
    rows.iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r).unwrap();
            let t: Vec<&str> = v["ner_tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            t.join(" ") + "\n"
        })
        .collect()
}

#[test]
fn leaked_eval_sentences_are_weighed_by_their_effect_on_the_score() {
    let m = root().join("models/all-MiniLM-L6-v2");
    assert!(m.exists(), "{} is missing: run scripts/fetch_minilm.sh", m.display());
    let d = std::env::temp_dir().join(format!("retune-assess-ner-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let train = lines("data/ner_wnut17/train.jsonl");
    let eval = lines("data/ner_wnut17/validation.jsonl");
    let eval: Vec<&String> = eval.iter().step_by(3).take(300).collect();
    // Every third eval sentence (100) goes into train as well.
    let leaked: Vec<usize> = (0..eval.len()).filter(|i| i % 3 == 0).collect();
    let mut tr: Vec<&String> = train.iter().step_by(4).take(450).collect();
    tr.extend(leaked.iter().map(|&i| eval[i]));
    let join = |v: &[&String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(d.join("train.jsonl"), join(&tr)).unwrap();
    std::fs::write(d.join("eval.jsonl"), join(&eval)).unwrap();
    let out = d.join("out");
    let a = retune(&[
        "assess",
        "--task",
        "ner",
        "--model",
        m.to_str().unwrap(),
        "--train",
        d.join("train.jsonl").to_str().unwrap(),
        "--eval",
        d.join("eval.jsonl").to_str().unwrap(),
        "--strategies",
        "probe,full",
        "--pilot-rows",
        "550",
        "--feature-rows",
        "550",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    // The audit counts the leak.
    let leak = &a["quality"]["tag_leakage"][0][1];
    assert!(leak["exact_count"].as_u64().unwrap() >= 100, "{leak:#}");
    // Each pilot's F1 is what `retune eval seqeval` gives for its written predictions.
    std::fs::write(d.join("gold.tags"), gold_tags(&eval)).unwrap();
    let pilots = a["pilots"].as_array().unwrap();
    assert_eq!(pilots.len(), 2);
    for p in pilots {
        let name = p["strategy"].as_str().unwrap();
        let f1 = seqeval_f1(&out.join(format!("predictions/{name}.tags")), &d.join("gold.tags"));
        let got = p["scored"]["f1"].as_f64().unwrap();
        assert!((got - f1).abs() < 1e-12, "{name}: assess {got} vs eval seqeval {f1}");
        assert!(f1 > 0.05, "{name} learned nothing: F1 {f1}");
    }
    // The leak's effect: the best pilot on every eval sentence against the same without the
    // leaked ones, recomputed here from the written predictions.
    let best = pilots.iter().find(|p| p["vs_best"].is_null()).unwrap();
    let name = best["strategy"].as_str().unwrap();
    let pred = std::fs::read_to_string(out.join(format!("predictions/{name}.tags"))).unwrap();
    let clean_pred: String = pred
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let clean_gold: Vec<&String> = eval
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(d.join("clean_pred.tags"), clean_pred).unwrap();
    std::fs::write(d.join("clean_gold.tags"), gold_tags(&clean_gold)).unwrap();
    let clean = seqeval_f1(&d.join("clean_pred.tags"), &d.join("clean_gold.tags"));
    let all = best["scored"]["f1"].as_f64().unwrap();
    let w = a["weighed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "leakage")
        .unwrap_or_else(|| panic!("no leakage weighed: {:#}", a["weighed"]));
    let points = w["points"].as_f64().unwrap();
    assert!(
        (points - 100.0 * (all - clean).abs()).abs() < 1e-9,
        "{points} vs {all} - {clean}"
    );
    // The verdict stops at the data exactly when the leak moves the score by more than the
    // best pilot's interval resolves.
    let half = best["scored"]["ci"]["half_width"].as_f64().unwrap();
    assert_eq!(w["material"].as_bool().unwrap(), points > half);
    let verdict = a["recommendation"]["verdict"]["verdict"].as_str().unwrap();
    assert_eq!(verdict == "fix_data_first", points > half, "{:#}", a["recommendation"]);
    // The reports name the angles.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for part in [
        "entity F1",
        "Task complexity",
        "Data quantity",
        "Data quality",
        "confused",
    ] {
        assert!(html.contains(part), "report.html lacks {part:?}");
    }
    std::fs::remove_dir_all(&d).ok();
}

/// `assess --task ner` with several models: ranked on word features, the top two assessed with
/// NER pilots on the same eval sentences, their best pilots compared by a paired bootstrap over
/// sentences, and the headline names the chosen model (tiny random BERT and DistilBERT token
/// classifiers on real WNUT sentences: fast, and nothing here is learnable — the mechanics are
/// what is checked).
#[test]
fn several_models_for_ner_are_ranked_assessed_and_compared() {
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../retune-models/tests/fixtures");
    let wnut = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/ner_wnut17");
    let out = std::env::temp_dir().join(format!("retune-assess-ner-cands-{}", std::process::id()));
    let (a, b) = (fx.join("bert-tiny-token"), fx.join("distilbert-tiny-token"));
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(["assess", "--task", "ner", "--json", "--model"])
        .arg(&a)
        .arg("--model")
        .arg(&b)
        .arg("--train")
        .arg(format!("{}[:200]", wnut.join("train.jsonl").display()))
        .arg("--eval")
        .arg(format!("{}[:100]", wnut.join("validation.jsonl").display()))
        .args([
            "--strategies",
            "probe,full",
            "--pilot-rows",
            "200",
            "--feature-rows",
            "200",
            "--rank-rows",
            "100",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ranking"]["unit"], "words");
    assert_eq!(v["ranking"]["candidates"].as_array().unwrap().len(), 2);
    let assessed = v["assessed"].as_array().unwrap();
    assert_eq!(assessed.len(), 2);
    assert!(assessed.iter().all(|x| x["pilots"].as_array().unwrap().len() == 2));
    let versus = &v["runner_up_vs_leader"];
    assert!(versus["p_value"].as_f64().unwrap() > 0.0);
    let chosen = v["model"].as_str().unwrap();
    assert!(v["recommendation"]["headline"].as_str().unwrap().starts_with(chosen));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Ranking from frozen features") && html.trim_end().ends_with("</html>"));
}
