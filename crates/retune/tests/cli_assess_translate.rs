//! `retune assess --task translate` on the tiny random Marian fixture
//! (`scripts/fixtures/make_model_fixtures.py`, en→zh, SentencePiece models trained on Tatoeba):
//! the verdict follows the measured effects in both directions — a model whose outputs are the
//! references is used as it is, shuffled pairs are data to fix, and a shift that a short
//! fine-tune measurably fixes is a fine-tune with a significant paired test — and the metric
//! table equals `retune eval` on the outputs the assessment writes; the report renders in
//! headless Chromium.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> PathBuf {
    root().join("crates/retune-models/tests/fixtures/marian-tiny-tied")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retune-assess-tr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_pairs(path: &Path, pairs: &[(String, String)]) {
    let mut s = String::new();
    for (en, zh) in pairs {
        s += &serde_json::json!({"en": en, "zh_hans": zh}).to_string();
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn tatoeba(file: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(root().join("data/translation_en_zh_tatoeba").join(file))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["en"].as_str().unwrap().to_string(),
                v["zh_hans"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

fn assess(train: &Path, eval: &Path, out: &Path, extra: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(["assess", "--task", "translate", "--model"])
        .arg(model())
        .arg("--train")
        .arg(train)
        .arg("--eval")
        .arg(eval)
        .args(["--target-column", "zh_hans", "--feature-rows", "60", "--json", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn eval_json(metric: &str, hyp: &Path, refs: &Path, extra: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(["eval", metric, "--json", "--ci", "--seed", "42", "-i"])
        .arg(hyp)
        .arg("-r")
        .arg(refs)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Subjects and lists of nouns: "They like tea, fish and milk." → "他们喜欢茶、鱼和牛奶。"; lengths
/// vary with the list, so a model can learn the mapping and the lengths correlate.
fn lists(rng: &mut Lcg, n: usize) -> Vec<(String, String)> {
    let subj = [
        ("I like", "我喜欢"),
        ("You like", "你喜欢"),
        ("He likes", "他喜欢"),
        ("She likes", "她喜欢"),
        ("We like", "我们喜欢"),
        ("They like", "他们喜欢"),
    ];
    let nouns = [
        ("tea", "茶"),
        ("rice", "米饭"),
        ("dogs", "狗"),
        ("cats", "猫"),
        ("music", "音乐"),
        ("books", "书"),
        ("fish", "鱼"),
        ("apples", "苹果"),
        ("milk", "牛奶"),
        ("flowers", "花"),
    ];
    (0..n)
        .map(|_| {
            let s = subj[rng.below(subj.len())];
            let k = [1, 1, 2, 3, 4][rng.below(5)];
            let mut idx: Vec<usize> = (0..nouns.len()).collect();
            rng.shuffle(&mut idx);
            let ns: Vec<(&str, &str)> = idx[..k].iter().map(|&i| nouns[i]).collect();
            let (en, zh) = if k == 1 {
                (ns[0].0.to_string(), ns[0].1.to_string())
            } else {
                let en: Vec<&str> = ns[..k - 1].iter().map(|n| n.0).collect();
                let zh: Vec<&str> = ns[..k - 1].iter().map(|n| n.1).collect();
                (
                    format!("{} and {}", en.join(", "), ns[k - 1].0),
                    format!("{}和{}", zh.join("、"), ns[k - 1].1),
                )
            };
            (format!("{} {en}.", s.0), format!("{}{zh}。", s.1))
        })
        .collect()
}

#[test]
fn a_shift_a_short_fine_tune_fixes_means_fine_tune() {
    let d = tmp("lists");
    let mut rng = Lcg(5);
    let train = lists(&mut rng, 400);
    let seen: std::collections::HashSet<&String> = train.iter().map(|p| &p.0).collect();
    let eval: Vec<(String, String)> = lists(&mut rng, 200)
        .into_iter()
        .filter(|p| !seen.contains(&p.0))
        .take(45)
        .collect();
    write_pairs(&d.join("train.jsonl"), &train);
    write_pairs(&d.join("eval.jsonl"), &eval);
    let out = d.join("out");
    let a = assess(
        &d.join("train.jsonl"),
        &d.join("eval.jsonl"),
        &out,
        &["--pilot-rows", "400", "--lr", "3e-3", "--pilot-epochs", "5"],
    );
    let verdict = a["recommendation"]["verdict"]["verdict"].as_str().unwrap();
    assert!(
        verdict == "fine_tune" || verdict == "full_fine_tune_or_retrain",
        "{:#}",
        a["recommendation"]
    );
    let best = &a["pilots"][a["best"].as_u64().unwrap() as usize];
    assert_ne!(best["strategy"], "as-is");
    let p = best["vs_as_is"]["p_value"].as_f64().unwrap();
    let gain = best["scored"]["chrf"].as_f64().unwrap() - a["pilots"][0]["scored"]["chrf"].as_f64().unwrap();
    assert!(p < 0.05 && gain >= 1.0, "p {p}, gain {gain}");
    assert!(a["quality"]["length_correlation"].as_f64().unwrap() > 0.5);
    assert!(!a["weighed"].as_array().unwrap().iter().any(|w| w["material"] == true));

    // The table equals `retune eval` on the outputs the assessment wrote (as-is and the best).
    let refs = d.join("refs.zh");
    std::fs::write(&refs, eval.iter().map(|p| format!("{}\n", p.1)).collect::<String>()).unwrap();
    for pilot in [&a["pilots"][0], best] {
        let name = pilot["strategy"].as_str().unwrap().replace(':', "-");
        let hyp = out.join(format!("translations/{name}.txt"));
        let table = pilot["scored"]["metrics"]["scores"].as_array().unwrap();
        let get = |n: &str| table.iter().find(|m| m["name"] == n).unwrap().clone();
        for (name, metric, extra) in [
            ("BLEU", "bleu", vec!["--tokenize", "zh"]),
            ("chrF2", "chrf", vec![]),
            ("TER", "ter", vec!["--normalized", "--asian-support"]),
        ] {
            let e = eval_json(metric, &hyp, &refs, &extra);
            let m = get(name);
            for (x, y) in [
                (&m["score"], &e["score"]),
                (&m["ci"]["lower"], &e["ci"]["lower"]),
                (&m["ci"]["upper"], &e["ci"]["upper"]),
            ] {
                assert!(
                    (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-9,
                    "{name}: assess {x} vs eval {y}"
                );
            }
            assert_eq!(m["signature"], e["signature"], "{name}");
        }
    }

    // The report renders in headless Chromium (installed by scripts/setup.sh).
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    assert!(html.contains("id=\"examples\""));
    let dom = common::render_in_chromium(&out.join("report.html"), &d.join("report.png"));
    for id in ["recommendation", "pilots", "metrics", "curve", "examples"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id} missing from the DOM");
    }
    assert_eq!(dom.matches("<svg").count(), 2);
}

#[test]
fn shuffled_pairs_mean_fix_the_data() {
    let d = tmp("shuffled");
    let mut rng = Lcg(3);
    let shuffle = |rows: Vec<(String, String)>, rng: &mut Lcg| {
        let (src, mut tgt): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
        rng.shuffle(&mut tgt);
        src.into_iter().zip(tgt).collect::<Vec<_>>()
    };
    // Every 29th pair: the file is sorted by length, and a correlation needs lengths that vary.
    let spread: Vec<(String, String)> = tatoeba("train-1-of-2.jsonl")
        .into_iter()
        .step_by(29)
        .take(400)
        .collect();
    let train = shuffle(spread.clone(), &mut rng);
    let eval = shuffle(tatoeba("validation.jsonl")[..60].to_vec(), &mut rng);
    write_pairs(&d.join("train.jsonl"), &train);
    write_pairs(&d.join("eval.jsonl"), &eval);
    let extra = [
        "--pilot-rows",
        "400",
        "--lr",
        "3e-3",
        "--pilot-epochs",
        "3",
        "--strategies",
        "full",
    ];
    let a = assess(&d.join("train.jsonl"), &d.join("eval.jsonl"), &d.join("out"), &extra);
    assert_eq!(
        a["recommendation"]["verdict"]["verdict"], "fix_data_first",
        "{:#}",
        a["recommendation"]
    );
    assert!(a["quality"]["length_correlation"].as_f64().unwrap().abs() < 0.3);
    let w = a["weighed"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w["kind"] == "misaligned_pairs" && w["material"] == true),
        "{w:#?}"
    );
    // The same pairs in their right order are not flagged.
    let d2 = tmp("aligned");
    write_pairs(&d2.join("train.jsonl"), &spread);
    write_pairs(&d2.join("eval.jsonl"), &tatoeba("validation.jsonl")[..60]);
    let b = assess(&d2.join("train.jsonl"), &d2.join("eval.jsonl"), &d2.join("out"), &extra);
    assert!(b["quality"]["length_correlation"].as_f64().unwrap() > 0.5);
    assert_ne!(
        b["recommendation"]["verdict"]["verdict"], "fix_data_first",
        "{:#}",
        b["recommendation"]
    );
}

#[test]
fn a_model_whose_outputs_are_the_references_is_used_as_is() {
    let d = tmp("self");
    let train = tatoeba("train-1-of-2.jsonl")[2000..2200].to_vec();
    let eval = tatoeba("validation.jsonl")[100..160].to_vec();
    write_pairs(&d.join("train.jsonl"), &train);
    write_pairs(&d.join("eval.jsonl"), &eval);
    let first = d.join("first");
    let extra = [
        "--pilot-rows",
        "200",
        "--lr",
        "3e-3",
        "--pilot-epochs",
        "3",
        "--strategies",
        "top:1,full",
    ];
    // First, with a goal the random model is nowhere near: retrain, not "use as it is".
    let mut goal = extra.to_vec();
    goal.extend(["--target", "chrf>=50"]);
    let a = assess(&d.join("train.jsonl"), &d.join("eval.jsonl"), &first, &goal);
    assert_eq!(a["target"]["outcome"], "missed");
    assert_eq!(
        a["recommendation"]["verdict"]["verdict"], "full_fine_tune_or_retrain",
        "{:#}",
        a["recommendation"]
    );
    // The eval references become the model's own translations (rows it leaves empty dropped).
    let outputs = std::fs::read_to_string(first.join("translations/as-is.txt")).unwrap();
    let own: Vec<(String, String)> = eval
        .iter()
        .zip(outputs.lines())
        .filter(|(_, o)| !o.trim().is_empty())
        .map(|(p, o)| (p.0.clone(), o.to_string()))
        .collect();
    assert!(own.len() >= 25, "{} non-empty outputs", own.len());
    write_pairs(&d.join("own.jsonl"), &own);
    let mut args = extra.to_vec();
    args.extend(["--target", "chrf>=90"]);
    let a = assess(&d.join("train.jsonl"), &d.join("own.jsonl"), &d.join("second"), &args);
    assert!((a["pilots"][0]["scored"]["chrf"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    assert_eq!(a["target"]["outcome"], "met");
    assert_eq!(
        a["recommendation"]["verdict"]["verdict"], "use_as_is",
        "{:#}",
        a["recommendation"]
    );
    assert_eq!(a["best"], 0);
}

/// `--task summarize` with a causal LM (the tiny random Llama, prompted in its chat template)
/// on real XSum documents: the English table has METEOR and ROUGE, the outputs are written for
/// `retune eval`, and ROUGE there equals the table (fractions against percent).
#[test]
fn summarize_with_a_prompted_causal_lm() {
    let d = tmp("summarize");
    let out = d.join("out");
    let model = root().join("crates/retune-models/tests/fixtures/llama-tiny-gqa3-tied");
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(["assess", "--task", "summarize", "--model"])
        .arg(&model)
        .args([
            "--train",
            "data/xsum/test.jsonl[:64]",
            "--eval",
            "data/xsum/test.jsonl[900:930]",
            "--pilot-rows",
            "64",
            "--feature-rows",
            "20",
            "--lr",
            "3e-3",
            "--pilot-epochs",
            "2",
            "--json",
            "--out",
        ])
        .arg(&out)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["task"], "summarize");
    assert!(a["how"].as_str().unwrap().contains("chat template"));
    let table = a["pilots"][0]["scored"]["metrics"]["scores"].as_array().unwrap();
    let names: Vec<&str> = table.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["BLEU", "chrF2", "TER", "METEOR", "rouge1", "rouge2", "rougeL"]);
    // No length-correlation finding for summaries: their length does not follow the document's.
    assert!(!a["weighed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["kind"] == "misaligned_pairs"));
    let refs = d.join("refs.txt");
    let lines: String = std::fs::read_to_string(root().join("data/xsum/test.jsonl"))
        .unwrap()
        .lines()
        .skip(900)
        .take(30)
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["summary"]
                .as_str()
                .unwrap()
                .replace('\n', " ")
                + "\n"
        })
        .collect();
    // The assessment scored 20 rows spread over the 30: row i*30/20.
    let picked: String = lines
        .lines()
        .enumerate()
        .filter(|(i, _)| (0..20).any(|k| k * 30 / 20 == *i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&refs, picked).unwrap();
    let e = eval_json(
        "rouge",
        &out.join("summaries/as-is.txt"),
        &refs,
        &["--types", "rouge1,rouge2,rougeL"],
    );
    for (k, name) in ["rouge1", "rouge2", "rougeL"].iter().enumerate() {
        let want = 100.0 * e["scores"][k]["fmeasure"].as_f64().unwrap();
        let got = table.iter().find(|m| m["name"] == *name).unwrap()["score"]
            .as_f64()
            .unwrap();
        assert!((got - want).abs() < 1e-9, "{name}: assess {got} vs eval {want}");
    }
}
