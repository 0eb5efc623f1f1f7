//! Script detection on hand-made strings; translation-pair checks on hand-made pairs and on the
//! real Tatoeba English–Chinese test split (data/translation_en_zh_tatoeba/test.jsonl).

use retune_data::audit::{audit_pairs, audit_split, dominant_script, AuditConfig, Script, ScriptCounts};

#[test]
fn dominant_scripts_of_hand_made_strings() {
    let cases: &[(&str, Option<Script>)] = &[
        ("Hello world", Some(Script::Latin)),
        ("Café ñandú, déjà vu", Some(Script::Latin)),
        ("ＡＢＣ full width", Some(Script::Latin)),
        ("你好，世界！", Some(Script::Han)),
        ("這是繁體中文。", Some(Script::Han)),
        ("Привет, мир", Some(Script::Cyrillic)),
        ("مرحبا بالعالم", Some(Script::Arabic)),
        ("سلام دنیا", Some(Script::Arabic)),
        ("안녕하세요 세계", Some(Script::Hangul)),
        ("こんにちは", Some(Script::Kana)),
        ("カタカナ", Some(Script::Kana)),
        ("東京に行きます", Some(Script::Kana)), // 3 Han, 4 Kana
        ("नमस्ते दुनिया", Some(Script::Devanagari)),
        ("Γειά σου Κόσμε", Some(Script::Greek)),
        ("สวัสดีชาวโลก", Some(Script::Thai)),
        ("שלום עולם", Some(Script::Hebrew)),
        ("ሰላም ለዓለም", Some(Script::Other)), // Ethiopic
        ("12345 !!! ?", None),
        ("", None),
        ("I love 北京 very much", Some(Script::Latin)), // 11 Latin letters, 2 Han
        ("我爱 NYC 和北京", Some(Script::Han)),
    ];
    for &(text, want) in cases {
        assert_eq!(dominant_script(text), want, "{text:?}");
    }
    assert_eq!(Script::parse("zh"), Some(Script::Han));
    assert_eq!(Script::parse("zh-Hant"), Some(Script::Han));
    assert_eq!(Script::parse("Cyrillic"), Some(Script::Cyrillic));
    assert_eq!(Script::parse("xx"), None);
}

#[test]
fn chinese_rows_in_an_english_dataset() {
    let texts = [
        "This movie was great.",
        "我很喜欢这部电影。",
        "Terrible acting.",
        "",
        "Не понравилось.",
        "Loved it!",
    ];
    let counts = ScriptCounts::of_texts(&texts, 10);
    assert_eq!(counts.majority, Some(Script::Latin));
    assert_eq!(counts.dominant[&Script::Latin], 3);
    assert_eq!(counts.dominant[&Script::Han], 1);
    assert_eq!(counts.no_letters, 1);
    assert_eq!(counts.minority_examples[&Script::Han], vec![1]);
    assert_eq!(counts.minority_examples[&Script::Cyrillic], vec![4]);
    let a = audit_split(&texts, None, &AuditConfig::default()).unwrap();
    assert_eq!(a.scripts, counts);
    assert_eq!(a.empty_rows, vec![3]);
}

#[test]
fn hand_made_pairs() {
    let pairs = [
        ("Hello, how are you?", "你好，你好吗？"),
        ("I like green tea very much.", "我非常喜欢绿茶。"),
        ("Good morning!", "good  MORNING!"), // untranslated copy
        ("The weather is nice today.", "今天天气很好。"),
        ("Thank you.", "Merci."), // wrong script for a Chinese target
        ("Where is the station?", "车站在哪里？"),
        ("Tom is reading a book.", "汤姆在看书。"),
        (
            "Yes.",
            "是的，我完全同意你的看法，而且我认为我们应该立刻开始这个项目并且邀请所有人都来参加。",
        ), // far too long
        ("It is raining.", "下雨了。"),
        ("", "空的"), // blank source
        ("See you tomorrow.", "明天见。"),
        ("I like green tea very much.", "我非常喜欢绿茶。"), // duplicate pair of row 1
    ];
    let (s, t): (Vec<&str>, Vec<&str>) = pairs.iter().copied().unzip();
    let a = audit_pairs(&s, &t, Some(Script::Han), &AuditConfig::default()).unwrap();
    assert_eq!(a.copies, vec![2]);
    assert_eq!(a.wrong_script, vec![2, 4]); // the copy is in the wrong script too
    assert_eq!(a.blank_source, vec![9]);
    assert_eq!(
        a.ratio_outliers.iter().map(|o| o.row).collect::<Vec<_>>(),
        vec![7],
        "{:?}",
        a.ratio
    );
    assert_eq!(a.duplicate_groups, vec![vec![1, 11]]);
    assert_eq!(a.target_scripts.majority, Some(Script::Han));
    assert_eq!(a.source_scripts.majority, Some(Script::Latin));
    assert!(audit_pairs(&s[..2], &t[..3], None, &AuditConfig::default()).is_err());
}

#[test]
fn tatoeba_en_zh_test_split() {
    let path = format!(
        "{}/../../data/translation_en_zh_tatoeba/test.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let rows: Vec<(String, String)> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["en"].as_str().unwrap().to_string(),
                v["zh"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 1324);
    let en: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let zh: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let a = audit_pairs(&en, &zh, Some(Script::Han), &AuditConfig::unlimited()).unwrap();
    // Facts of the data (shared README section 4, checked independently): no untranslated copies,
    // every Chinese side has Han characters, no duplicate pairs, nothing blank.
    assert_eq!(a.summary.copies, 0);
    assert_eq!(a.summary.wrong_script, 0);
    assert_eq!(a.summary.duplicate_groups, 0);
    assert_eq!(a.summary.blank_source + a.summary.blank_target, 0);
    assert_eq!(a.target_scripts.containing[&Script::Han], 1324);
    // Dominance counts letters: "Tom在洗澡。" (twice, for two English sentences) has 3 Latin and 3 Han
    // letters, and ties go to Latin.
    assert_eq!(a.target_scripts.dominant[&Script::Han], 1322);
    assert_eq!(
        a.target_scripts.minority_examples[&Script::Latin]
            .iter()
            .map(|&r| zh[r])
            .collect::<Vec<_>>(),
        ["Tom在洗澡。"; 2]
    );
    assert_eq!(a.source_scripts.dominant[&Script::Latin], 1324);
    println!(
        "tatoeba test: median zh/en unit ratio {:.3}, bounds [{:.3}, {:.3}], {} ratio outliers",
        a.ratio.median_ratio, a.ratio.lower_bound, a.ratio.upper_bound, a.summary.ratio_outliers
    );
    for o in &a.ratio_outliers {
        println!("  outlier z={:.2}: {:?} → {:?}", o.z, en[o.row], zh[o.row]);
    }
    // Real, sentence-aligned data: outliers are rare.
    assert!(a.summary.ratio_outliers <= 13, "{} outliers", a.summary.ratio_outliers);
    // Swapping in a wrong target is detected as an outlier.
    let mut zh2 = zh.clone();
    let long = "这是一个非常长的句子，它和英文原文完全没有关系，只是为了测试长度比例异常的检测是否能够正常工作而写的。";
    let short_row = en.iter().position(|e| e.split(' ').count() <= 3).unwrap();
    zh2[short_row] = long;
    let b = audit_pairs(&en, &zh2, Some(Script::Han), &AuditConfig::unlimited()).unwrap();
    assert!(b.ratio_outliers.iter().any(|o| o.row == short_row));
}

#[test]
fn length_correlation_separates_parallel_from_shuffled_pairs() {
    use retune_data::audit::pairs::pearson;
    // By hand: x = 1..5, y = (2, 1, 4, 3, 6): Sxy = 10, Sxx = 10, Syy = 14.8, r = 10 / √148.
    let xy: Vec<(f64, f64)> = [(1.0, 2.0), (2.0, 1.0), (3.0, 4.0), (4.0, 3.0), (5.0, 6.0)].to_vec();
    assert!((pearson(&xy).unwrap() - 10.0 / 148f64.sqrt()).abs() < 1e-12);
    assert_eq!(pearson(&xy[..2]), None);
    assert_eq!(pearson(&[(1.0, 2.0), (1.0, 3.0), (1.0, 4.0)]), None);

    let path = format!(
        "{}/../../data/translation_en_zh_tatoeba/validation.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let rows: Vec<(String, String)> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["en"].as_str().unwrap().into(), v["zh_hans"].as_str().unwrap().into())
        })
        .collect();
    let en: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let zh: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let aligned = audit_pairs(&en, &zh, Some(Script::Han), &AuditConfig::default()).unwrap();
    // A fixed pseudo-random permutation of the targets (the file is sorted by length, so a
    // rotation by one row would keep the lengths together).
    let n = zh.len();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut s = 7u64;
    for i in (1..n).rev() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        perm.swap(i, ((s >> 33) % (i as u64 + 1)) as usize);
    }
    let shuffled: Vec<&str> = perm.iter().map(|&i| zh[i]).collect();
    let mixed = audit_pairs(&en, &shuffled, Some(Script::Han), &AuditConfig::default()).unwrap();
    let (a, m) = (aligned.length_correlation.unwrap(), mixed.length_correlation.unwrap());
    println!("tatoeba validation: length correlation {a:.3} aligned, {m:.3} shuffled");
    assert!(a > 0.6, "{a}");
    assert!(m.abs() < 0.15, "{m}");
}
