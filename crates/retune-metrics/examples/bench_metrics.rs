//! Throughput of every metric on a line-aligned hypothesis/reference pair of files, on all
//! cores and on one thread; prints one JSON object per metric. Driven by
//! `scripts/bench_metrics.py`, which runs the Python references on the same pairs.
//!
//! ```text
//! cargo run --release -p retune-metrics --example bench_metrics -- HYP REF [metric ...]
//! ```

use retune_metrics::bleu::{Bleu, BleuConfig};
use retune_metrics::chrf::{Chrf, ChrfConfig};
use retune_metrics::corpus::{corpus_stats, SegmentMetric};
use retune_metrics::io::read_lines;
use retune_metrics::mean::{MeteorMetric, RougeMetric};
use retune_metrics::meteor::Meteor;
use retune_metrics::rouge::RougeType;
use retune_metrics::ter::{Ter, TerOptions};
use retune_metrics::wordnet::{default_dir, WordNet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Runs `f` `runs` times; returns (first run's seconds, best seconds, score).
fn timed<F: FnMut() -> f64>(runs: usize, mut f: F) -> (f64, f64, f64) {
    let (mut first, mut best, mut score) = (0.0, f64::INFINITY, 0.0);
    for i in 0..runs {
        let t = Instant::now();
        score = f();
        let s = t.elapsed().as_secs_f64();
        if i == 0 {
            first = s;
        }
        best = best.min(s);
    }
    (first, best, score)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: bench_metrics HYP REF [bleu chrf ter rouge meteor]".into());
    }
    let hyps = read_lines(Path::new(&args[0]))?;
    let refs = vec![read_lines(Path::new(&args[1]))?];
    let wanted: Vec<&str> = if args.len() > 2 {
        args[2..].iter().map(|s| s.as_str()).collect()
    } else {
        vec!["bleu", "chrf", "ter", "rouge", "meteor"]
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    for name in wanted {
        let t0 = Instant::now();
        let metric: Box<dyn SegmentMetric> = match name {
            "bleu" => Box::new(Bleu::new(BleuConfig::default())),
            "chrf" => Box::new(Chrf::new(ChrfConfig::default())),
            "ter" => Box::new(Ter::new(TerOptions::default())),
            "rouge" => Box::new(RougeMetric::new(
                vec![RougeType::N(1), RougeType::N(2), RougeType::L, RougeType::Lsum],
                true,
            )),
            "meteor" => Box::new(MeteorMetric {
                meteor: Meteor::new(Arc::new(WordNet::load(&default_dir())?)),
            }),
            other => return Err(format!("unknown metric {other}").into()),
        };
        let setup = t0.elapsed().as_secs_f64();
        // Each run builds a fresh metric state only where the metric has none to share; caches
        // (stems, synonyms) stay warm across runs as they would over a long evaluation.
        // The first run is cold (empty stem and synonym caches); the best of the next is warm.
        let (cold, all, score) = timed(3, || {
            metric.score_from_stats(&corpus_stats(metric.as_ref(), &hyps, &refs).sum())
        });
        let (_, single, _) = one.install(|| {
            timed(2, || {
                metric.score_from_stats(&corpus_stats(metric.as_ref(), &hyps, &refs).sum())
            })
        });
        println!(
            "{{\"metric\": \"{name}\", \"pairs\": {}, \"score\": {score}, \"setup_s\": {setup:.4}, \"seconds_cold\": {cold:.4}, \"seconds_all_cores\": {all:.4}, \"seconds_one_thread\": {single:.4}, \"threads\": {}}}",
            hyps.len(),
            rayon::current_num_threads()
        );
    }
    Ok(())
}
