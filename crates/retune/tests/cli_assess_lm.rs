//! `retune assess --task lm` on the tiny random Llama fixture (made by
//! `scripts/fixtures/make_llama_fixtures.py`) and real XSum documents: the as-is perplexity is
//! the one transformers computed for the same documents and windows; eval documents copied into
//! train are found, counted and weighed; the verdict follows the pilots' paired tests; the
//! report is written in its three forms.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../retune-models/tests/fixtures")
}

fn assess(args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .arg("assess")
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn lm_assessment_measures_honestly() {
    let model = fixtures().join("llama-tiny-gqa3-tied");
    let docs = model.join("documents.txt");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(model.join("expected.json")).unwrap()).unwrap();
    // Training text: 40 XSum documents plus the three eval documents (a leak of all three).
    let dir = std::env::temp_dir().join(format!("retune-assess-lm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xsum = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/xsum/test.jsonl");
    let mut train = String::new();
    for line in std::fs::read_to_string(&xsum).unwrap().lines().skip(100).take(40) {
        let v: Value = serde_json::from_str(line).unwrap();
        train += &v["document"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        train.push('\n');
    }
    let clean_train = dir.join("train.txt");
    std::fs::write(&clean_train, &train).unwrap();
    let first_eval = std::fs::read_to_string(&docs)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    train += &first_eval;
    train.push('\n');
    let leaky_train = dir.join("train-leaky.txt");
    std::fs::write(&leaky_train, &train).unwrap();
    let out = dir.join("report");
    let common = [
        "--task",
        "lm",
        "--model",
        model.to_str().unwrap(),
        "--eval",
        docs.to_str().unwrap(),
        "--max-length",
        "32",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ];
    // A small budget: 8 steps at the pilots' usual learning rates barely move a random model —
    // a significant but tiny drop must not be a reason to train.
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--train", clean_train.to_str().unwrap(), "--pilot-rows", "64"]);
    let small = assess(&args);
    let as_is = small["as_is"]["eval"]["perplexity"].as_f64().unwrap();
    // A pilot counts when its paired test is significant and it lowers perplexity by at least
    // the default minimum gain, 5%.
    let counts = |p: &serde_json::Value, as_is: f64| {
        p["vs_as_is"]["p_value"].as_f64().unwrap() < 0.05
            && 1.0 - p["scored"]["perplexity"].as_f64().unwrap() / as_is >= 0.05
    };
    let counted: Vec<bool> = small["pilots"].as_array().unwrap()[1..]
        .iter()
        .map(|p| counts(p, as_is))
        .collect();
    let verdict = small["recommendation"]["verdict"]["verdict"].as_str().unwrap();
    assert_eq!(
        verdict == "use_as_is",
        counted.iter().all(|&c| !c),
        "{:?}: {}",
        counted,
        small["recommendation"]
    );
    // The case this budget is for: a drop the paired test finds significant (full: −0.9% at
    // p = 0.001 when written) that is too small to count.
    let significant = small["pilots"].as_array().unwrap()[1..]
        .iter()
        .any(|p| p["vs_as_is"]["p_value"].as_f64().unwrap() < 0.05);
    assert!(significant && verdict == "use_as_is", "{}", small["recommendation"]);
    // A budget already spent when the learning curve is due: its pilots are left out, and the
    // assessment says so instead of overrunning.
    let mut args: Vec<&str> = common.to_vec();
    args.extend([
        "--train",
        clean_train.to_str().unwrap(),
        "--pilot-rows",
        "64",
        "--budget",
        "0.001s",
    ]);
    let spent = assess(&args);
    assert_eq!(
        spent["quantity"]["curve"].as_array().unwrap().len(),
        0,
        "{}",
        spent["quantity"]
    );
    let note = spent["quantity"]["curve_note"].as_str().unwrap_or_default();
    assert!(note.contains("past the budget of 0 s"), "{note}");
    assert!(
        spent["recommendation"].to_string().contains("learning curve cut short"),
        "{}",
        spent["recommendation"]
    );
    // A larger budget: 128 steps teach the random model.
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--train", clean_train.to_str().unwrap(), "--pilot-rows", "1024"]);
    let a = assess(&args);
    // Angle 1 against transformers: windows of 32 tokens, stride 16, on the same documents.
    let want = expected["cli_perplexity"]["stride_32_16"]["perplexity"]
        .as_f64()
        .unwrap();
    let got = a["as_is"]["eval"]["perplexity"].as_f64().unwrap();
    assert!(
        (got / want - 1.0).abs() < 1e-4,
        "as-is perplexity {got} vs transformers {want}"
    );
    assert_eq!(
        a["as_is"]["eval"]["tokens"],
        expected["cli_perplexity"]["stride_32_16"]["tokens"]
    );
    assert!(a["as_is"]["reference"]["perplexity"].as_f64().unwrap() > 1.0);
    assert_eq!(a["as_is"]["reference"]["documents"], 200);

    // The pilots: as-is first, then lora:8 and full, each with its test against as-is.
    let pilots = a["pilots"].as_array().unwrap();
    let names: Vec<&str> = pilots.iter().map(|p| p["strategy"].as_str().unwrap()).collect();
    assert_eq!(names, ["as-is", "lora:8", "full"]);
    let improves: Vec<bool> = pilots[1..].iter().map(|p| counts(p, got)).collect();
    let verdict = a["recommendation"]["verdict"]["verdict"].as_str().unwrap();
    // A random model trained on real text learns: the verdict must say so, and agree with the tests.
    assert!(
        improves.iter().any(|&b| b),
        "no pilot improved a random model: {}",
        a["pilots"]
    );
    assert_ne!(verdict, "use_as_is", "{}", a["recommendation"]);
    assert!(
        a["quantity"]["curve"].as_array().unwrap().len() == 3,
        "{}",
        a["quantity"]
    );
    assert_eq!(a["quality"]["leaked_exact"], 0);
    for f in ["report.html", "report.md", "assessment.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("lora:8"), "HTML report");

    // One eval document copied into train: found, counted, weighed against the interval.
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--train", leaky_train.to_str().unwrap(), "--pilot-rows", "1024"]);
    let b = assess(&args);
    assert_eq!(b["quality"]["leaked_exact"], 1, "{}", b["quality"]);
    let w = &b["weighed"][0];
    assert_eq!(w["kind"], "leakage");
    let material = w["material"].as_bool().unwrap();
    assert_eq!(
        material,
        b["recommendation"]["verdict"]["verdict"] == "fix_data_first",
        "{}",
        b["recommendation"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
