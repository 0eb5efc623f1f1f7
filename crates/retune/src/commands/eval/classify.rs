//! `retune eval classify`: scikit-learn's classification metrics from label files.

use super::*;
use retune_metrics::classify::Prf;

#[derive(Args)]
pub(super) struct ClassifyArgs {
    /// Predicted labels, one a line.
    #[arg(long)]
    pub(super) pred: PathBuf,
    /// Gold labels, one a line.
    #[arg(long)]
    pub(super) gold: PathBuf,
    /// Number the --ci interval is computed for: accuracy, macro-f1, weighted-f1, mcc.
    #[arg(long, default_value = "accuracy")]
    pub(super) score: ClassScore,
    /// Bootstrap 95% confidence interval.
    #[arg(long)]
    pub(super) ci: bool,
    /// Bootstrap resamples for --ci.
    #[arg(long, default_value_t = significance::DEFAULT_BOOTSTRAP)]
    pub(super) n_bootstrap: usize,
    /// Seed of the resampling.
    #[arg(long, default_value_t = significance::DEFAULT_SEED)]
    pub(super) seed: u64,
    /// Machine-readable JSON on standard output.
    #[arg(long)]
    pub(super) json: bool,
}

pub(super) fn run_classify(a: ClassifyArgs) -> Result<()> {
    let pred = read_lines(&a.pred)?;
    let gold = read_lines(&a.gold)?;
    if pred.len() != gold.len() {
        return Err(MetricsError::LineCount {
            path: a.pred.clone(),
            found: pred.len(),
            expected_from: a.gold.clone(),
            expected: gold.len(),
        }
        .into());
    }
    let report = ClassificationReport::from_labels(&pred, &gold);
    let ci = if a.ci {
        if pred.is_empty() {
            return Err("--ci: cannot resample an empty file".into());
        }
        let m = ClassificationMetric::new(report.labels.clone(), a.score);
        let refs = vec![gold.clone()];
        let stats = corpus_stats(&m, &pred, &refs);
        Some(significance::bootstrap_ci(&m, &stats, a.n_bootstrap, a.seed))
    } else {
        None
    };
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["ci"] = ci_json(&ci);
        return print_json(&v);
    }
    println!("examples: {}", report.n);
    let pct = |x: f64| format!("{:.2}", 100.0 * x);
    println!("accuracy: {}", pct(report.accuracy));
    println!("MCC:      {:.4}", report.mcc);
    if let Some(ci) = &ci {
        print_ci(a.score_name(), ci);
    }
    let mut rows: Vec<(&str, &Prf)> = report
        .labels
        .iter()
        .map(String::as_str)
        .zip(&report.per_class)
        .collect();
    rows.extend([
        ("macro avg", &report.macro_avg),
        ("weighted avg", &report.weighted_avg),
        ("micro avg", &report.micro_avg),
    ]);
    let width = print_prf_table(&rows);
    println!("\nconfusion matrix (rows: gold, columns: predicted)");
    print!("{:>width$}", "");
    for l in &report.labels {
        print!("  {l:>7}");
    }
    println!();
    for (l, row) in report.labels.iter().zip(&report.confusion) {
        print!("{l:>width$}");
        for c in row {
            print!("  {c:>7}");
        }
        println!();
    }
    Ok(())
}

impl ClassifyArgs {
    pub(super) fn score_name(&self) -> &'static str {
        match self.score {
            ClassScore::Accuracy => "accuracy",
            ClassScore::MacroF1 => "macro-F1",
            ClassScore::WeightedF1 => "weighted-F1",
            ClassScore::Mcc => "MCC",
        }
    }
}
