//! `retune eval seqeval`: entity-level precision / recall / F1 of tag sequences, as seqeval
//! 1.2.2 computes them (default and strict modes), with token accuracy and a bootstrap interval
//! over sentences.

use super::*;
use retune_data::tagged::{read_tagged, TagFormat, TaggedCorpus};
use retune_metrics::seqeval::{
    scheme, Mode, Scheme, SeqevalConfig, SeqevalError, SeqevalMetric, SeqevalReport, SeqevalScore, ZeroDivision,
};

#[derive(Args)]
pub(super) struct SeqevalArgs {
    /// Predicted tags: JSONL with `ner_tags`, a CoNLL column file, or a sentence a line of
    /// space-separated tags (chosen by extension: .jsonl, .conll/.iob/.bio, anything else).
    #[arg(long)]
    pred: PathBuf,
    /// Gold tags, in any of the same formats, sentence-aligned with --pred.
    #[arg(long)]
    gold: PathBuf,
    /// Format of both files, instead of guessing from the extension.
    #[arg(long, value_enum)]
    format: Option<TagFileFormat>,
    /// 1-based column of the tag in CoNLL files (default: the last).
    #[arg(long)]
    tag_column: Option<usize>,
    /// Label names, one a line, for JSONL files with integer tags (HF `datasets` ClassLabel order).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// default: conlleval-compatible chunking (seqeval's default); strict: entities must start
    /// and end as --scheme says.
    #[arg(long, value_enum, default_value = "default")]
    mode: SeqevalMode,
    /// Scheme of strict mode: IOB1, IOE1, IOB2, IOE2, IOBES, BILOU (default: detected from the
    /// gold tags, as seqeval's strict classification_report does).
    #[arg(long)]
    scheme: Option<String>,
    /// Tags written `PER-B` instead of `B-PER`.
    #[arg(long)]
    suffix: bool,
    /// Precision and recall with a zero denominator: 0 (seqeval's default) or 1.
    #[arg(long, default_value_t = 0)]
    zero_division: u8,
    /// Number the --ci interval is computed for.
    #[arg(long, value_enum, default_value = "micro-f1")]
    score: SeqevalScoreArg,
    /// Bootstrap 95% confidence interval over sentences.
    #[arg(long)]
    ci: bool,
    /// Bootstrap resamples for --ci.
    #[arg(long, default_value_t = significance::DEFAULT_BOOTSTRAP)]
    n_bootstrap: usize,
    /// Seed of the resampling.
    #[arg(long, default_value_t = significance::DEFAULT_SEED)]
    seed: u64,
    /// Machine-readable JSON on standard output.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum TagFileFormat {
    Jsonl,
    Conll,
    Lines,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeqevalMode {
    Default,
    Strict,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeqevalScoreArg {
    MicroF1,
    MacroF1,
    WeightedF1,
    Accuracy,
}

impl SeqevalArgs {
    fn read(&self, path: &Path) -> Result<TaggedCorpus> {
        let names = match &self.labels {
            Some(p) => Some(read_lines(p)?),
            None => None,
        };
        let column = match self.tag_column {
            Some(0) => return Err("--tag-column is 1-based".into()),
            c => c.map(|c| c - 1),
        };
        let format = match self.format {
            Some(TagFileFormat::Jsonl) => TagFormat::Jsonl,
            Some(TagFileFormat::Conll) => TagFormat::Conll { tag_column: column },
            Some(TagFileFormat::Lines) => TagFormat::TagLines,
            None => match TagFormat::from_path(path) {
                TagFormat::Conll { .. } => TagFormat::Conll { tag_column: column },
                f => f,
            },
        };
        Ok(read_tagged(path, &format, names.as_deref())?)
    }

    fn config(&self, gold: &[Vec<String>]) -> Result<SeqevalConfig> {
        let mode = match self.mode {
            SeqevalMode::Default => {
                if self.scheme.is_some() {
                    return Err("--scheme applies to --mode strict".into());
                }
                Mode::Default
            }
            SeqevalMode::Strict => match &self.scheme {
                Some(s) => Mode::Strict(
                    Scheme::parse(s)
                        .ok_or_else(|| format!("--scheme {s}: expected one of IOB1, IOE1, IOB2, IOE2, IOBES, BILOU"))?,
                ),
                None => Mode::Strict(scheme::detect(gold, self.suffix).ok_or_else(|| {
                    format!(
                        "{}: no tagging scheme fits the gold tags' prefixes (seqeval's auto-detection); give --scheme",
                        self.gold.display()
                    )
                })?),
            },
        };
        let zero_division = match self.zero_division {
            0 => ZeroDivision::Zero,
            1 => ZeroDivision::One,
            z => return Err(format!("--zero-division {z}: expected 0 or 1").into()),
        };
        Ok(SeqevalConfig {
            mode,
            suffix: self.suffix,
            zero_division,
            ..Default::default()
        })
    }
}

/// One line naming the files and lines an error is about.
fn locate(e: SeqevalError, pred: &TaggedCorpus, gold: &TaggedCorpus) -> String {
    match &e {
        SeqevalError::SentenceCount { pred: p, gold: g } => format!(
            "{} has {p} sentences but {} has {g}",
            pred.path.display(),
            gold.path.display()
        ),
        SeqevalError::Length {
            sentence,
            pred: p,
            gold: g,
        } => format!(
            "{} has {p} tags but {} has {g}",
            pred.location(*sentence),
            gold.location(*sentence)
        ),
        SeqevalError::Label {
            side,
            sentence,
            token,
            tag,
            why,
        } => {
            let c = if *side == "gold" { gold } else { pred };
            format!("{}: token {}: tag {tag:?} {why}", c.location(*sentence), token + 1)
        }
    }
}

pub(super) fn run_seqeval(a: SeqevalArgs) -> Result<()> {
    let pred_c = a.read(&a.pred)?;
    let gold_c = a.read(&a.gold)?;
    let (pred, gold) = (pred_c.tags(), gold_c.tags());
    let cfg = a.config(&gold)?;
    let report = SeqevalReport::compute(&pred, &gold, &cfg).map_err(|e| locate(e, &pred_c, &gold_c))?;
    let ci = if a.ci {
        if pred.is_empty() {
            return Err("--ci: cannot resample an empty file".into());
        }
        if a.n_bootstrap < 2 {
            return Err("--n-bootstrap must be at least 2".into());
        }
        let m = SeqevalMetric {
            types: report.types.clone(),
            config: cfg,
            score: match a.score {
                SeqevalScoreArg::MicroF1 => SeqevalScore::MicroF1,
                SeqevalScoreArg::MacroF1 => SeqevalScore::MacroF1,
                SeqevalScoreArg::WeightedF1 => SeqevalScore::WeightedF1,
                SeqevalScoreArg::Accuracy => SeqevalScore::Accuracy,
            },
        };
        let hyps: Vec<String> = pred.iter().map(|s| s.join(" ")).collect();
        let refs = vec![gold.iter().map(|s| s.join(" ")).collect::<Vec<String>>()];
        let stats = corpus_stats(&m, &hyps, &refs);
        Some((m.name(), significance::bootstrap_ci(&m, &stats, a.n_bootstrap, a.seed)))
    } else {
        None
    };
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["per_type"] = report
            .types
            .iter()
            .zip(&report.per_type)
            .map(|(t, p)| (t.clone(), serde_json::to_value(p).unwrap_or(Value::Null)))
            .collect::<serde_json::Map<String, Value>>()
            .into();
        v["sentences"] = json!(pred.len());
        v["ci"] = ci_json(&ci.map(|(_, c)| c));
        return print_json(&v);
    }
    let pct = |x: f64| format!("{:.2}", 100.0 * x);
    println!(
        "sentences: {}  tokens: {}  gold entities: {}  predicted entities: {}",
        pred.len(),
        report.tokens,
        report.micro.support,
        report.predicted_entities
    );
    println!("token accuracy: {}", pct(report.accuracy));
    if let Some((name, ci)) = &ci {
        print_ci(name, ci);
    }
    let mut rows: Vec<(&str, &retune_metrics::classify::Prf)> =
        report.types.iter().map(String::as_str).zip(&report.per_type).collect();
    rows.extend([
        ("micro avg", &report.micro),
        ("macro avg", &report.macro_avg),
        ("weighted avg", &report.weighted),
    ]);
    print_prf_table(&rows);
    println!("\nsignature: {}", report.signature);
    Ok(())
}
