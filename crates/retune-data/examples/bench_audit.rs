//! Benchmark of the model-free audit on 1,000,000 short texts.
//!
//! The texts are real Rotten Tomatoes sentences (data/sentiment_rt_polarity, all splits) repeated
//! with seeded random word drops (each word dropped with probability 0.1), so the set holds many
//! exact and near-duplicates. Prints wall time, rows/s and the peak resident memory (VmHWM).
//!
//! `CARGO_TARGET_DIR=/work/target-data cargo run --release -p retune-data --example bench_audit [ROWS]`

use retune_data::audit::text::SplitMix64;
use retune_data::audit::{audit_split, find_leakage, AuditConfig};
use std::time::Instant;

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROWS"))
        .unwrap_or(1_000_000);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sentiment_rt_polarity");
    let mut base: Vec<(String, u32)> = Vec::new();
    for split in ["train", "validation", "test"] {
        let text = std::fs::read_to_string(format!("{dir}/{split}.tsv")).expect("rt_polarity data");
        base.extend(text.lines().skip(1).map(|l| {
            let (t, y) = l.split_once('\t').unwrap();
            (t.to_string(), y.parse().unwrap())
        }));
    }
    let mut rng = SplitMix64::new(7);
    let mut texts = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (t, y) = &base[i % base.len()];
        let kept: Vec<&str> = t.split(' ').filter(|_| rng.unit() >= 0.1).collect();
        texts.push(if kept.is_empty() { t.clone() } else { kept.join(" ") });
        labels.push(*y);
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mean_words = refs.iter().map(|t| t.split(' ').count()).sum::<usize>() as f64 / n as f64;
    println!(
        "{n} texts from {} real sentences (mean {mean_words:.1} words), {} threads; RSS after building: {}",
        base.len(),
        rayon::current_num_threads(),
        status("VmRSS:")
    );

    let cfg = AuditConfig::default();
    let t = Instant::now();
    let a = audit_split(&refs, Some(&labels), &cfg).unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!(
        "audit_split: {dt:.2} s, {:.0} rows/s; {} distinct texts, {} duplicate groups ({} rows), {} conflicting texts, \
         {} near-duplicate groups ({} rows, {} pairs)",
        n as f64 / dt,
        a.summary.distinct_texts,
        a.summary.duplicate_groups,
        a.summary.duplicate_rows,
        a.summary.conflicting_texts,
        a.summary.near_duplicate_groups,
        a.summary.near_duplicate_rows,
        a.summary.near_duplicate_pairs
    );
    println!("peak RSS (VmHWM) after audit_split: {}", status("VmHWM:"));

    let cut = n * 9 / 10;
    let t = Instant::now();
    let l = find_leakage(&refs[..cut], &refs[cut..], &cfg).unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!(
        "find_leakage ({} train vs {} other): {dt:.2} s, {:.0} rows/s; {} exact, {} near",
        cut,
        n - cut,
        n as f64 / dt,
        l.summary.exact_rows,
        l.summary.near_rows
    );
    println!("peak RSS (VmHWM) at the end: {}", status("VmHWM:"));
}
