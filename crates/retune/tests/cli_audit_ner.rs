//! `retune audit --task ner` on the real WNUT17 data with faults injected by the test (broken
//! `I-` starts, sentences repeated with other tags, test sentences copied into train): every
//! injected fault is counted on top of what the clean files already show, and the broken tags
//! are listed where they were put.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str, n: usize) -> Vec<Value> {
    std::fs::read_to_string(root().join(path))
        .unwrap()
        .lines()
        .take(n)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write(path: &Path, rows: &[Value]) {
    let text: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

fn audit(train: &Path, test: &Path) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(["audit", "--task", "ner", "--json", "--train"])
        .arg(train)
        .arg("--test")
        .arg(test)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn tags(r: &Value) -> Vec<String> {
    r["ner_tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

fn tokens(r: &Value) -> Vec<String> {
    r["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Every `I-X` continues a `B-X` or `I-X`.
fn valid_bio(t: &[String]) -> bool {
    (0..t.len()).all(|j| match t[j].strip_prefix("I-") {
        Some(k) => j > 0 && (t[j - 1] == format!("B-{k}") || t[j - 1] == format!("I-{k}")),
        None => true,
    })
}

struct Counts {
    violations: u64,
    conflict_groups: usize,
    leaked: u64,
}

fn counts(report: &Value) -> Counts {
    let train = &report["tagged"][0][1];
    Counts {
        violations: train["violation_count"].as_u64().unwrap(),
        conflict_groups: train["conflict_groups"].as_array().unwrap().len(),
        leaked: report["tag_leakage"][0][1]["exact_count"].as_u64().unwrap(),
    }
}

#[test]
fn injected_tagging_faults_are_found() {
    let dir = std::env::temp_dir().join(format!("retune-audit-ner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut train = read("data/ner_wnut17/train.jsonl", 600);
    let test = read("data/ner_wnut17/test.jsonl", 200);
    let (train_clean, test_path) = (dir.join("train.jsonl"), dir.join("test.jsonl"));
    write(&train_clean, &train);
    write(&test_path, &test);
    let base = counts(&audit(&train_clean, &test_path));

    // Sentences whose tokens occur once in the file (so a repeat makes a new group).
    let unique = |rows: &[Value], i: usize| rows.iter().filter(|r| tokens(r) == tokens(&rows[i])).count() == 1;
    let once: Vec<bool> = (0..train.len()).map(|i| unique(&train, i)).collect();
    // 1. Seven entity starts `B-X` after `O` (or first) become `I-X`: one violation each.
    let mut broken = Vec::new();
    for (i, r) in train.iter_mut().enumerate() {
        if broken.len() == 7 {
            break;
        }
        if !once[i] {
            continue;
        }
        let t = tags(r);
        if let Some(j) = (0..t.len()).find(|&j| t[j].starts_with("B-") && (j == 0 || t[j - 1] == "O")) {
            r["ner_tags"][j] = Value::from(t[j].replacen("B-", "I-", 1));
            broken.push((i, j));
        }
    }
    // 2. Five sentences with an entity, repeated with that entity's type changed.
    let mut repeated = 0;
    for i in 0..train.len() {
        if repeated == 5 {
            break;
        }
        let t = tags(&train[i]);
        if broken.iter().any(|&(b, _)| b == i) || !once[i] || !valid_bio(&t) || !t.iter().any(|x| x.starts_with("B-")) {
            continue;
        }
        let mut copy = train[i].clone();
        let flipped: Vec<Value> = t
            .iter()
            .map(|x| match x.split_once('-') {
                Some((p, k)) if k != "location" => Value::from(format!("{p}-location")),
                Some((p, _)) => Value::from(format!("{p}-person")),
                None => Value::from(x.clone()),
            })
            .collect();
        copy["ner_tags"] = Value::from(flipped);
        train.push(copy);
        repeated += 1;
    }
    // 3. Four test sentences copied into train.
    let mut copied = 0;
    for (i, r) in test.iter().enumerate() {
        if copied == 4 {
            break;
        }
        if unique(&test, i) && !train.iter().any(|t| tokens(t) == tokens(r)) {
            train.push(r.clone());
            copied += 1;
        }
    }
    assert_eq!((broken.len(), repeated, copied), (7, 5, 4));
    let train_faulty = dir.join("train_faulty.jsonl");
    write(&train_faulty, &train);
    let report = audit(&train_faulty, &test_path);
    let got = counts(&report);
    assert_eq!(got.violations, base.violations + 7);
    assert_eq!(got.conflict_groups, base.conflict_groups + 5);
    assert_eq!(got.leaked, base.leaked + 4);
    let listed: Vec<(u64, u64)> = report["tagged"][0][1]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["row"].as_u64().unwrap(), v["token"].as_u64().unwrap()))
        .collect();
    for (i, j) in broken {
        assert!(
            listed.contains(&(i as u64, j as u64)),
            "broken tag at {i}:{j} not listed"
        );
    }
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for k in ["tag-scheme", "conflicting-tags", "leakage"] {
        assert!(kinds.contains(&k), "no {k} finding: {kinds:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Entity types flipped on every 12th entity of 600 real WNUT sentences (about 8% of the
/// entities, 0.3% of the words) stand out in the token label-noise ranking: confident learning
/// on the out-of-fold MiniLM token probe puts several of them among its 50 most likely
/// mis-tagged words, where chance would put well under one.
#[test]
fn flipped_entity_types_rank_high_in_token_label_noise() {
    let model = root().join("models/all-MiniLM-L6-v2");
    assert!(
        model.exists(),
        "{} is missing: run scripts/fetch_minilm.sh",
        model.display()
    );
    let dir = std::env::temp_dir().join(format!("retune-audit-ner-noise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut train = read("data/ner_wnut17/train.jsonl", 600);
    const TYPES: [&str; 6] = ["person", "location", "corporation", "group", "product", "creative-work"];
    let mut flipped = std::collections::HashSet::new();
    let mut entity = 0usize;
    let mut words = 0usize;
    for (i, r) in train.iter_mut().enumerate() {
        let t = tags(r);
        words += t.len();
        let mut j = 0;
        while j < t.len() {
            let Some(kind) = t[j].strip_prefix("B-") else {
                j += 1;
                continue;
            };
            let mut end = j + 1;
            while end < t.len() && t[end] == format!("I-{kind}") {
                end += 1;
            }
            if entity % 12 == 0 {
                let other = TYPES[(TYPES.iter().position(|x| *x == kind).unwrap() + 1) % TYPES.len()];
                for w in j..end {
                    let p = if w == j { "B" } else { "I" };
                    r["ner_tags"][w] = Value::from(format!("{p}-{other}"));
                    flipped.insert((i as u64, w as u64));
                }
            }
            entity += 1;
            j = end;
        }
    }
    assert!(flipped.len() >= 30, "{} flipped words", flipped.len());
    let path = dir.join("train.jsonl");
    write(&path, &train);
    let o = Command::new(env!("CARGO_BIN_EXE_retune"))
        .args(["audit", "--task", "ner", "--json", "--train"])
        .arg(&path)
        .arg("--model")
        .arg(&model)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ranked = report["label_noise"]["ranked"].as_array().unwrap();
    assert_eq!(ranked.len(), 50);
    // Locations read `file:line word N: "w"`; line L is sentence L - 1 (one JSON object a line).
    let hits = ranked
        .iter()
        .filter(|r| {
            let loc = r[1].as_str().unwrap();
            let (line, word) = loc
                .rsplit_once(':')
                .unwrap()
                .0
                .split_once(':')
                .unwrap()
                .1
                .split_once(" word ")
                .unwrap();
            let key = (line.parse::<u64>().unwrap() - 1, word.parse::<u64>().unwrap() - 1);
            flipped.contains(&key)
        })
        .count();
    let chance = 50.0 * flipped.len() as f64 / words as f64;
    assert!(hits >= 5, "{hits} flipped words among the top 50 (chance {chance:.2})");
    std::fs::remove_dir_all(&dir).ok();
}

/// IOB2 → BIOES, written independently of the reader: an entity of one token is `S-`, the last
/// token of a longer one `E-`.
fn to_bioes(t: &[String]) -> Vec<String> {
    (0..t.len())
        .map(|j| {
            let continued = t.get(j + 1).is_some_and(|n| n.starts_with("I-"));
            match t[j].split_once('-') {
                Some(("B", k)) if continued => format!("B-{k}"),
                Some(("B", k)) => format!("S-{k}"),
                Some(("I", k)) if continued => format!("I-{k}"),
                Some(("I", k)) => format!("E-{k}"),
                _ => t[j].clone(),
            }
        })
        .collect()
}

/// `--scheme bioes` reads BIOES tags as the IOB2 they encode (the same entity counts as the
/// original WNUT file), and a BIOES entity left open is one error line naming its file and line.
#[test]
fn bioes_files_are_read_as_iob2_and_broken_ones_are_refused() {
    let dir = std::env::temp_dir().join(format!("retune-audit-ner-scheme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original = read("data/ner_wnut17/train.jsonl", 300);
    let mut bioes = original.clone();
    for r in &mut bioes {
        r["ner_tags"] = Value::from(to_bioes(&tags(r)));
    }
    let (a, b) = (dir.join("iob2.jsonl"), dir.join("bioes.jsonl"));
    write(&a, &original);
    write(&b, &bioes);
    let run = |path: &Path, scheme: &str| {
        Command::new(env!("CARGO_BIN_EXE_retune"))
            .args(["audit", "--task", "ner", "--json", "--scheme", scheme, "--train"])
            .arg(path)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let types = |o: &std::process::Output| -> Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["tagged"][0][1]["types"].clone()
    };
    let want = types(&run(&a, "iob2"));
    assert!(want.as_object().unwrap().len() >= 5);
    assert_eq!(types(&run(&b, "bioes")), want);
    // The first sentence with an entity loses that entity's closing tag.
    let mut broken = bioes.clone();
    let i = broken.iter().position(|r| tags(r).iter().any(|x| x != "O")).unwrap();
    let t = tags(&broken[i]);
    let j = t
        .iter()
        .position(|x| x.starts_with("E-") || x.starts_with("S-"))
        .unwrap();
    let k = t[j].split_once('-').unwrap().1.to_string();
    broken[i]["ner_tags"][j] = Value::from(if t[j].starts_with("E-") {
        format!("I-{k}")
    } else {
        format!("B-{k}")
    });
    let c = dir.join("broken.jsonl");
    write(&c, &broken);
    let o = run(&c, "bioes");
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("broken.jsonl:{}: tag ", i + 1)), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
