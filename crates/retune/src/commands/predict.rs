//! `retune predict`: label and probabilities for every row of a file from a sequence classifier,
//! or a tag for every token from a token classifier (a local folder or a hub id; the head is
//! read from the checkpoint's class).

use super::model_args::ModelArgs;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use retune_models::arch::{Head, ModelConfig};
use retune_models::classifier::{SequenceClassifier, TokenTagger};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `retune predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// The model (a sequence- or token-classification checkpoint) and device.
    #[command(flatten)]
    model: ModelArgs,
    /// Input: a `.tsv` / `.csv` file with a header (see --text-column), or plain text, one row a line.
    #[arg(long)]
    input: PathBuf,
    /// Column holding the text (tsv/csv).
    #[arg(long, default_value = "text")]
    text_column: String,
    /// Optional column holding a second text (sentence pairs).
    #[arg(long)]
    text_pair_column: Option<String>,
    /// Rows per batch (rows are grouped by length).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// One JSON object per row (label, probabilities and logits).
    #[arg(long)]
    json: bool,
}

/// Rows of text (and optional pair) from a file.
fn read_rows(path: &Path, text_col: &str, pair_col: Option<&str>) -> Result<(Vec<String>, Option<Vec<String>>)> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        format!("{}:{line}: invalid UTF-8", path.display())
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let sep = match ext {
        "tsv" => Some('\t'),
        "csv" => Some(','),
        _ => None,
    };
    let Some(sep) = sep else {
        return Ok((text.lines().map(str::to_string).collect(), None));
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| format!("{}: empty file (a header line is expected)", path.display()))?
        .split(sep)
        .collect();
    let col = |name: &str| -> Result<usize> {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            format!(
                "{}: no column '{name}' (columns: {})",
                path.display(),
                header.join(", ")
            )
            .into()
        })
    };
    let ti = col(text_col)?;
    let pi = pair_col.map(col).transpose()?;
    let (mut texts, mut pairs) = (Vec::new(), Vec::new());
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(sep).collect();
        if fields.len() != header.len() {
            return Err(format!(
                "{}:{}: {} fields, the header has {}",
                path.display(),
                n + 2,
                fields.len(),
                header.len()
            )
            .into());
        }
        texts.push(fields[ti].to_string());
        if let Some(pi) = pi {
            pairs.push(fields[pi].to_string());
        }
    }
    Ok((texts, pi.map(|_| pairs)))
}

/// Runs `retune predict`.
pub fn run(a: PredictArgs) -> Result<()> {
    let (dir, device) = a.model.resolve()?;
    let (texts, pairs) = read_rows(&a.input, &a.text_column, a.text_pair_column.as_deref())?;
    let t: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bar = ProgressBar::new(t.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if ModelConfig::from_dir(&dir)?.checkpoint_head() == Some(Head::TokenClassification) {
        if pairs.is_some() {
            return Err("--text-pair-column: a token classifier tags single texts".into());
        }
        return tag_tokens(&TokenTagger::load(&dir, &device)?, &t, &a, &bar);
    }
    let clf = SequenceClassifier::load(&dir, &device)?;
    let p: Option<Vec<&str>> = pairs.as_ref().map(|v| v.iter().map(String::as_str).collect());
    let preds = clf.predict(&t, p.as_deref(), a.batch_size, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, pr) in preds.iter().enumerate() {
        let label = clf.labels.get(pr.label).cloned().unwrap_or_default();
        if a.json {
            let probs: serde_json::Map<String, serde_json::Value> = clf
                .labels
                .iter()
                .zip(&pr.probabilities)
                .map(|(l, p)| (l.clone(), json!(p)))
                .collect();
            writeln!(
                out,
                "{}",
                json!({"row": i + 1, "label": label, "probabilities": probs, "logits": pr.logits})
            )?;
        } else {
            let probs: Vec<String> = pr.probabilities.iter().map(|p| format!("{p:.4}")).collect();
            writeln!(out, "{label}\t{}", probs.join("\t"))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Tags every token of every row and groups the words into entities: with `--json` one object
/// per row (its entities — type, byte range, text, score — and each token's text, byte range,
/// tag and probability), otherwise one line per row of `[text](TYPE score)` entities.
fn tag_tokens(tagger: &TokenTagger, texts: &[&str], a: &PredictArgs, bar: &ProgressBar) -> Result<()> {
    let tags = tagger.predict(texts, a.batch_size, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let name = |t: &retune_models::classifier::TokenTag| tagger.labels.get(t.label).cloned().unwrap_or_default();
    for (i, row) in tags.iter().enumerate() {
        let ents = retune_train::tag::entities(texts[i], row, &tagger.labels);
        if a.json {
            let tokens: Vec<serde_json::Value> = row
                .iter()
                .map(|t| json!({"token": t.token, "start": t.start, "end": t.end, "tag": name(t), "probability": t.probability}))
                .collect();
            writeln!(out, "{}", json!({"row": i + 1, "entities": ents, "tokens": tokens}))?;
        } else {
            let line: Vec<String> = ents
                .iter()
                .map(|e| format!("[{}]({} {:.2})", e.text, e.kind, e.score))
                .collect();
            writeln!(out, "{}", line.join(" "))?;
        }
    }
    out.flush()?;
    Ok(())
}
