//! Helpers shared by the training tests: a learnable toy task, temporary folders, tensor
//! differences.
#![allow(dead_code)]

use candle_core::Tensor;
use retune_train::classify::LabeledTexts;
use std::path::PathBuf;

pub fn labels() -> Vec<String> {
    vec!["neg".into(), "pos".into()]
}

/// A learnable toy task: texts with "good" words are positive, with "bad" words negative.
pub fn toy(n: usize, name: &str, offset: usize) -> LabeledTexts {
    let good = ["good", "great", "fine", "nice"];
    let bad = ["bad", "awful", "poor", "sad"];
    let fill = ["the", "movie", "was", "a", "film", "and", "it"];
    let mut texts = Vec::new();
    let mut ys = Vec::new();
    for i in 0..n {
        let j = i + offset;
        let y = (j * 7 + j / 3) % 2;
        let w = if y == 1 { good[j % 4] } else { bad[j % 4] };
        let len = 2 + j % 5;
        let mut words: Vec<&str> = (0..len).map(|k| fill[(j + k) % fill.len()]).collect();
        words.insert(j % (len + 1), w);
        texts.push(words.join(" "));
        ys.push(y as u32);
    }
    LabeledTexts {
        name: name.into(),
        texts,
        pairs: None,
        labels: ys,
    }
}

pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retune-train-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The largest absolute difference between two tensors of one shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
