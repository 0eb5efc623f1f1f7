//! `retune eval` from the shell, as a person uses sacrebleu: printed lines against sacrebleu's
//! (golden file), and one clear error line with a non-zero exit on bad input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn retune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run retune")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr_line(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected failure, got: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(e.trim_end().lines().count(), 1, "one line expected: {e}");
    e.trim_end().to_string()
}

const ZE: &str = "data/wmt22/zh-en/generaltest2022.zh-en";
const EZ: &str = "data/wmt22/en-zh/generaltest2022.en-zh";

fn golden_line(hyp: &str, nrefs: usize, metric: &str) -> (String, String) {
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-metrics/tests/golden/sacrebleu.json")).unwrap(),
    )
    .unwrap();
    let c = g["corpus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["hyp"] == hyp
                && c["refs"].as_array().unwrap().len() == nrefs
                && c["metric"] == metric
                && c["options"].as_object().unwrap().len() <= 1
        })
        .expect("golden case");
    (
        c["line"].as_str().unwrap().to_string(),
        c["signature"].as_str().unwrap().to_string(),
    )
}

#[test]
fn bleu_prints_sacrebleus_line_and_signature() {
    let hyp = format!("{ZE}.hyp.Online-W.en");
    let (line, sig) = golden_line(&hyp, 1, "bleu");
    let out = stdout(&retune(&[
        "eval",
        "bleu",
        "--hyp",
        &hyp,
        "--ref",
        &format!("{ZE}.ref.A.en"),
    ]));
    assert_eq!(out, format!("{line}\nsignature: {sig}\n"));

    let hyp = format!("{EZ}.hyp.JDExploreAcademy.zh");
    let (line, sig) = golden_line(&hyp, 2, "bleu");
    let out = stdout(&retune(&[
        "eval",
        "bleu",
        "-i",
        &hyp,
        "-r",
        &format!("{EZ}.ref.A.zh"),
        "-r",
        &format!("{EZ}.ref.B.zh"),
        "--tokenize",
        "zh",
    ]));
    assert_eq!(out, format!("{line}\nsignature: {sig}\n"));
}

#[test]
fn chrf_json_matches_sacrebleu() {
    let hyp = format!("{ZE}.hyp.NiuTrans.en");
    let (line, sig) = golden_line(&hyp, 1, "chrf");
    let out = stdout(&retune(&[
        "eval",
        "chrf",
        "--hyp",
        &hyp,
        "--ref",
        &format!("{ZE}.ref.A.en"),
        "--json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["signature"], sig);
    assert_eq!(format!("chrF2 = {:.2}", v["score"].as_f64().unwrap()), line);
}

#[test]
fn confidence_interval_is_reported() {
    let out = stdout(&retune(&[
        "eval",
        "bleu",
        "-i",
        &format!("{ZE}.hyp.Online-W.en"),
        "-r",
        &format!("{ZE}.ref.A.en"),
        "--ci",
        "--json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let ci = &v["ci"];
    assert!(ci["lower"].as_f64().unwrap() < v["score"].as_f64().unwrap());
    assert!(ci["upper"].as_f64().unwrap() > v["score"].as_f64().unwrap());
    assert_eq!(
        v["signature"].as_str().unwrap(),
        "nrefs:1|bs:1000|seed:12345|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    );
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retune-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let h = tmp("h.txt", b"a b c\nd e f\n");
    let r1 = tmp("r1.txt", b"a b c\n");
    let e = stderr_line(&retune(&["eval", "bleu", "--hyp", s(&h), "--ref", s(&r1)]));
    assert!(e.contains("r1.txt has 1 lines but") && e.contains("h.txt has 2"), "{e}");

    let bad = tmp("bad.txt", b"fine\nbro\xffken\n");
    let r2 = tmp("r2.txt", b"x\ny\n");
    let e = stderr_line(&retune(&["eval", "chrf", "--hyp", s(&bad), "--ref", s(&r2)]));
    assert!(e.contains("bad.txt:2: invalid UTF-8"), "{e}");

    let e = stderr_line(&retune(&["eval", "bleu", "--hyp", "no/such/file.txt", "--ref", s(&r2)]));
    assert!(e.contains("no/such/file.txt"), "{e}");

    let o = retune(&["eval", "bleu", "--hyp", s(&h), "--ref", s(&r2), "--tokenize", "klingon"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown tokenizer 'klingon'"));

    let e = stderr_line(&retune(&[
        "eval",
        "meteor",
        "--hyp",
        s(&h),
        "--ref",
        s(&r2),
        "--wordnet",
        "/nonexistent",
    ]));
    assert!(e.contains("/nonexistent"), "{e}");
}

#[test]
fn empty_files_score_zero_without_error() {
    let h = tmp("empty_h.txt", b"");
    let r = tmp("empty_r.txt", b"");
    let out = stdout(&retune(&["eval", "bleu", "--hyp", s(&h), "--ref", s(&r)]));
    assert!(
        out.starts_with("BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 0 ref_len = 0)"),
        "{out}"
    );
    let out = stdout(&retune(&["eval", "chrf", "--hyp", s(&h), "--ref", s(&r)]));
    assert!(out.starts_with("chrF2 = 0.00"), "{out}");
    let e = stderr_line(&retune(&["eval", "bleu", "--hyp", s(&h), "--ref", s(&r), "--ci"]));
    assert!(e.contains("empty corpus"), "{e}");
}

#[test]
fn classify_reports_sklearn_numbers() {
    let d = "crates/retune-metrics/tests/golden/classify";
    let out = stdout(&retune(&[
        "eval",
        "classify",
        "--pred",
        &format!("{d}/trec6.pred.txt"),
        "--gold",
        &format!("{d}/trec6.gold.txt"),
        "--json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(d).join("classify.json")).unwrap()).unwrap();
    assert!((v["accuracy"].as_f64().unwrap() - g["trec6"]["accuracy"].as_f64().unwrap()).abs() < 1e-12);
    assert!((v["mcc"].as_f64().unwrap() - g["trec6"]["mcc"].as_f64().unwrap()).abs() < 1e-12);
    assert_eq!(v["confusion"], g["trec6"]["confusion"]);
}

#[test]
fn paired_test_prefers_the_better_system() {
    let out = stdout(&retune(&[
        "eval",
        "compare",
        "--baseline",
        &format!("{ZE}.hyp.Online-W.en"),
        "--system",
        &format!("{ZE}.hyp.Online-B.en"),
        "-r",
        &format!("{ZE}.ref.A.en"),
        "--json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let sys = &v["systems"][1];
    assert!(sys["score"].as_f64().unwrap() > v["systems"][0]["score"].as_f64().unwrap());
    assert!(sys["p_value"].as_f64().unwrap() < 0.01);
}

#[test]
fn ter_prints_sacrebleus_score_and_signature() {
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-metrics/tests/golden/ter.json")).unwrap(),
    )
    .unwrap();
    let cfg = g["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "zh-en.A.default")
        .expect("config");
    let sys = &cfg["systems"][0];
    let out = stdout(&retune(&[
        "eval",
        "ter",
        "--hyp",
        sys["hyp"].as_str().unwrap(),
        "--ref",
        cfg["refs"][0].as_str().unwrap(),
    ]));
    let want = format!(
        "TER = {:.2}\nsignature: nrefs:1|case:lc|tok:tercom|norm:no|punct:yes|asian:no|version:2.6.0\n",
        sys["score"].as_f64().unwrap()
    );
    assert_eq!(out, want);
}

#[test]
fn seqeval_json_matches_seqeval_and_errors_name_the_line() {
    // A golden case of `scripts/golden/make_seqeval_golden.py` (seqeval 1.2.2 on WNUT 2017 test
    // tags with seeded corruptions), strict IOB2: predictions as tag lines, gold as JSONL.
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-metrics/tests/golden/seqeval.json")).unwrap(),
    )
    .unwrap();
    let case = g["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wnut17-mixed-iob2" && c["mode"] == "strict")
        .unwrap();
    let seq = |k: &str| -> Vec<String> {
        g["sequences"][case[k].as_u64().unwrap() as usize]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    let pred = tmp("seqeval-pred.txt", (seq("pred").join("\n") + "\n").as_bytes());
    let gold_jsonl: String = seq("gold")
        .iter()
        .map(|l| {
            let tags: Vec<&str> = l.split(' ').filter(|t| !t.is_empty()).collect();
            serde_json::json!({"ner_tags": tags}).to_string() + "\n"
        })
        .collect();
    let gold = tmp("seqeval-gold.jsonl", gold_jsonl.as_bytes());
    let out = stdout(&retune(&[
        "eval",
        "seqeval",
        "--pred",
        s(&pred),
        "--gold",
        s(&gold),
        "--mode",
        "strict",
        "--scheme",
        "IOB2",
        "--json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    for key in ["micro", "macro", "weighted"] {
        for m in ["precision", "recall", "f1"] {
            let (a, b) = (v[key][m].as_f64().unwrap(), case[key][m].as_f64().unwrap());
            assert!((a - b).abs() < 1e-12, "{key} {m}: {a} vs {b}");
        }
    }
    let first = case["types"][0].as_str().unwrap();
    let f1 = v["per_type"][first]["f1"].as_f64().unwrap();
    assert!((f1 - case["per_type"]["f1"][0].as_f64().unwrap()).abs() < 1e-12);
    // A tag IOB2 does not allow, named by file and line.
    let bad = tmp("seqeval-bad.txt", b"B-person E-person\n");
    let one = tmp("seqeval-one.txt", b"B-person I-person\n");
    let e = stderr_line(&retune(&[
        "eval",
        "seqeval",
        "--pred",
        s(&bad),
        "--gold",
        s(&one),
        "--mode",
        "strict",
        "--scheme",
        "IOB2",
    ]));
    assert!(
        e.ends_with("seqeval-bad.txt:1: token 2: tag \"E-person\" has a prefix IOB2 does not allow"),
        "{e}"
    );
    let e = stderr_line(&retune(&["eval", "seqeval", "--pred", s(&one), "--gold", s(&pred)]));
    assert!(e.contains("seqeval-one.txt has 1 sentences but"), "{e}");
}

#[test]
fn compare_on_seqeval_scores_each_system_as_seqeval_does() {
    // Two corrupted predictions of the same WNUT 2017 gold tags from the seqeval golden file
    // (seqeval 1.2.2, default mode): the compare table's scores are their entity micro-F1, and
    // the gold tags themselves as a third system are significantly better than the baseline.
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-metrics/tests/golden/seqeval.json")).unwrap(),
    )
    .unwrap();
    let case = |name: &str| {
        g["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name && c["mode"] == "default")
            .unwrap()
            .clone()
    };
    let (a, b) = (case("wnut17-mixed-iob2"), case("wnut17-boundaries-iob2"));
    assert_eq!(a["gold"], b["gold"]);
    let lines = |i: &Value| -> String {
        g["sequences"][i.as_u64().unwrap() as usize]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string() + "\n")
            .collect()
    };
    let pa = tmp("cmp-a.txt", lines(&a["pred"]).as_bytes());
    let pb = tmp("cmp-b.txt", lines(&b["pred"]).as_bytes());
    let gold = tmp("cmp-gold.txt", lines(&a["gold"]).as_bytes());
    let out = stdout(&retune(&[
        "eval",
        "compare",
        "--metric",
        "seqeval",
        "--baseline",
        s(&pa),
        "--system",
        s(&pb),
        "--system",
        s(&gold),
        "--ref",
        s(&gold),
        "--json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows = v["systems"].as_array().unwrap();
    for (row, c) in rows.iter().zip([&a, &b]) {
        let want = 100.0 * c["micro"]["f1"].as_f64().unwrap();
        let got = row["score"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{got} vs seqeval {want}");
    }
    assert_eq!(rows[2]["score"].as_f64().unwrap(), 100.0);
    assert!(rows[2]["p_value"].as_f64().unwrap() < 0.05);
    assert_eq!(v["signature"], "seqeval:1.2.2|mode:default|score:micro-f1");
}

/// `eval compare` sizes intervals as sacrebleu does: with bs the baseline's interval takes the
/// test's `--samples` (sacrebleu's `--paired-bs-n`); with ar there is none unless
/// `--ar-confidence N` asks (sacrebleu's `n_ar_confidence`), and then the baseline's mean and
/// half-width and the signature equal sacrebleu's (golden file, 2,000 trials, 1,000 resamples).
#[test]
fn compare_intervals_follow_sacrebleu() {
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("crates/retune-metrics/tests/golden/sacrebleu.json")).unwrap(),
    )
    .unwrap();
    let case = g["paired"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["test"] == "ar" && c["metric"] == "bleu" && c["tokenize"] == "zh")
        .unwrap();
    let systems: Vec<&str> = case["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let reference = case["refs"][0].as_str().unwrap();
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "eval",
            "compare",
            "--tokenize",
            "zh",
            "--baseline",
            systems[0],
            "--system",
            systems[1],
            "-r",
            reference,
            "--json",
        ];
        args.extend(extra);
        serde_json::from_str(&stdout(&retune(&args))).unwrap()
    };
    let bs = run(&["--test", "bs", "--samples", "200"]);
    assert_eq!(bs["systems"][0]["ci"]["n_samples"], 200);
    assert!(bs["signature"].as_str().unwrap().contains("|bs:200|"));
    let ar = run(&["--test", "ar", "--samples", "300"]);
    assert!(ar["systems"][0]["ci"].is_null() && ar["systems"][1]["ci"].is_null());
    assert!(
        !ar["signature"].as_str().unwrap().contains("bs:"),
        "{}",
        ar["signature"]
    );
    let ar = run(&["--test", "ar", "--samples", "2000", "--ar-confidence", "1000"]);
    assert_eq!(ar["signature"], case["signature"]);
    let (got, want) = (&ar["systems"][0], &case["results"][0]);
    // Sums in another order: equal to 1e-6.
    assert!((got["ci"]["mean"].as_f64().unwrap() - want["mean"].as_f64().unwrap()).abs() < 1e-6);
    assert!((got["ci"]["half_width"].as_f64().unwrap() - want["ci"].as_f64().unwrap()).abs() < 1e-6);
    let p = ar["systems"][1]["p_value"].as_f64().unwrap();
    assert!(
        (p - case["results"][1]["p_value"].as_f64().unwrap()).abs() < 1e-12,
        "{p}"
    );
}

/// `eval rouge --ci --json` gives the interval in the units of the score beside it (fractions,
/// as rouge-score), says so, and names the tokenization in the signature; `--rouge-tokenize zh`
/// scores Chinese by character where rouge-score's tokenizer gives 0.
#[test]
fn rouge_json_units_and_chinese_tokenization() {
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "eval",
            "rouge",
            "--ci",
            "--json",
            "--types",
            "rouge1",
            "-i",
            "data/wmt22/en-zh/generaltest2022.en-zh.hyp.Online-B.zh",
            "-r",
            "data/wmt22/en-zh/generaltest2022.en-zh.ref.A.zh",
        ];
        args.extend(extra);
        serde_json::from_str(&stdout(&retune(&args))).unwrap()
    };
    let d = run(&[]);
    assert_eq!(d["units"], "fraction");
    assert!(d["signature"].as_str().unwrap().contains("|tok:default|"));
    let zh = run(&["--rouge-tokenize", "zh"]);
    assert!(zh["signature"].as_str().unwrap().contains("|tok:zh|"));
    let (fd, fz) = (
        d["scores"][0]["fmeasure"].as_f64().unwrap(),
        zh["scores"][0]["fmeasure"].as_f64().unwrap(),
    );
    // rouge-score keeps only the ASCII words and numbers of the news text.
    assert!(fd < 0.3 && fz > 0.6, "default {fd}, zh {fz}");
    let ci = &zh["scores"][0]["ci_fmeasure"];
    let (lo, hi) = (ci["lower"].as_f64().unwrap(), ci["upper"].as_f64().unwrap());
    assert!(lo < fz && fz < hi && hi < 1.0, "{lo} {fz} {hi}");
}
