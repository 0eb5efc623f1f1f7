//! Shared data options of the commands that read datasets (columns, format, bad rows), and
//! loading labeled texts through `retune-data`.

use clap::Args;
use retune_data::{read_text_dataset, Columns, Format, LabelSet, ReadOptions, TextDataset};
use retune_train::classify::LabeledTexts;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How to read data files.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Column holding the text (nested JSON fields as `a.b`).
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Column holding a second text (sentence-pair tasks).
    #[arg(long)]
    pub text_pair_column: Option<String>,
    /// Column holding the label.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// File format (csv, tsv, jsonl, parquet, txt); default from the extension.
    #[arg(long)]
    pub format: Option<Format>,
    /// CSV/TSV delimiter (one character).
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Allow quoted CSV/TSV fields (default: on for CSV, off for TSV).
    #[arg(long)]
    pub quoting: Option<bool>,
    /// Skip malformed rows (each is reported) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl DataArgs {
    /// Read options, optionally restricted to a label list.
    pub fn options(&self, labels: Option<&LabelSet>) -> Result<ReadOptions> {
        let delimiter = match self.delimiter {
            Some(c) if c.is_ascii() => Some(c as u8),
            Some(c) => return Err(format!("--delimiter {c:?}: must be one ASCII character").into()),
            None => None,
        };
        Ok(ReadOptions {
            format: self.format,
            delimiter,
            quoting: self.quoting,
            no_header: false,
            skip_bad_rows: self.skip_bad_rows,
            labels: labels.cloned(),
        })
    }

    /// Column names for classification.
    pub fn columns(&self, with_label: bool) -> Columns {
        Columns {
            text: self.text_column.clone(),
            text_pair: self.text_pair_column.clone(),
            label: with_label.then(|| self.label_column.clone()),
        }
    }

    /// Reads a labeled dataset; skipped rows are reported on stderr.
    pub fn read(&self, spec: &str, labels: Option<&LabelSet>) -> Result<TextDataset> {
        let ds = read_text_dataset(spec, &self.columns(true), &self.options(labels)?)?;
        report_skipped(spec, &ds.skipped);
        if ds.examples.is_empty() {
            return Err(format!("{spec}: no rows").into());
        }
        Ok(ds)
    }
}

/// Reads the documents of `spec` from its text `column` (a text file's is `text`): the one
/// reader of the causal-LM commands. An empty or blank document is one error naming file:line;
/// skipped rows (with `--skip-bad-rows`) are reported.
pub fn read_documents(spec: &str, column: &str, opts: &ReadOptions) -> Result<TextDataset> {
    let cols = Columns {
        text: column.into(),
        text_pair: None,
        label: None,
    };
    let ds = read_text_dataset(spec, &cols, opts)?;
    report_skipped(spec, &ds.skipped);
    if ds.examples.is_empty() {
        return Err(format!("{spec}: no documents").into());
    }
    if let Some(ex) = ds.examples.iter().find(|e| e.text.trim().is_empty()) {
        return Err(format!(
            "{}:{}: empty document (nothing to score)",
            ds.files[ex.row.file].display(),
            ex.row.line
        )
        .into());
    }
    Ok(ds)
}

/// Prints every skipped row and the count.
pub fn report_skipped(spec: &str, skipped: &[retune_data::SkippedRow]) {
    if skipped.is_empty() {
        return;
    }
    for s in skipped {
        eprintln!("skipped {s}");
    }
    eprintln!("{spec}: skipped {} bad rows", skipped.len());
}

/// Texts and label ids of a dataset under `labels`.
pub fn labeled(ds: &TextDataset, labels: &LabelSet, name: &str) -> Result<LabeledTexts> {
    let ids = labels.encode(ds)?;
    let pairs = ds.examples.first().and_then(|e| e.text_pair.as_ref()).map(|_| {
        ds.examples
            .iter()
            .map(|e| e.text_pair.clone().unwrap_or_default())
            .collect()
    });
    Ok(LabeledTexts {
        name: name.into(),
        texts: ds.examples.iter().map(|e| e.text.clone()).collect(),
        pairs,
        labels: ids,
    })
}

/// The columns and languages of source/target pairs (`finetune --task translate`, `assess --task
/// translate|summarize`), and reading pairs with them.
#[derive(Args, Clone, Debug)]
pub struct PairArgs {
    /// Source language: also the default source column (translation). Default `en`.
    #[arg(long)]
    pub source_lang: Option<String>,
    /// Target language: also the default target column (translation); `zh` scores BLEU with
    /// sacrebleu's `zh` tokenizer and ROUGE by character. Default `zh` for translation, `en`
    /// for summarization.
    #[arg(long)]
    pub target_lang: Option<String>,
    /// Source column, e.g. `translation.en` (summarization: default `document`).
    #[arg(long)]
    pub source_column: Option<String>,
    /// Target column, e.g. `zh_hans` (summarization: default `summary`).
    #[arg(long)]
    pub target_column: Option<String>,
}

/// What the pairs are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairKind {
    /// Source sentence → translation.
    Translation,
    /// Document → summary.
    Summary,
}

impl PairArgs {
    /// The source and target languages for `kind`.
    pub fn languages(&self, kind: PairKind) -> (String, String) {
        let src = self.source_lang.clone().unwrap_or_else(|| "en".into());
        let tgt = self.target_lang.clone().unwrap_or_else(|| match kind {
            PairKind::Translation => "zh".into(),
            PairKind::Summary => src.clone(),
        });
        (src, tgt)
    }

    /// Reads the pairs of `spec` (file, files, slice) as `name`; skipped rows are reported, no
    /// row at all is an error naming the file.
    pub fn read(
        &self,
        spec: &str,
        name: &str,
        kind: PairKind,
        data: &DataArgs,
    ) -> Result<retune_train::translate::PairTexts> {
        let (src, tgt) = self.languages(kind);
        let (src_col, tgt_col) = match kind {
            PairKind::Translation => (src, tgt),
            PairKind::Summary => ("document".into(), "summary".into()),
        };
        let cols = retune_data::PairColumns {
            source: self.source_column.clone().unwrap_or(src_col),
            target: self.target_column.clone().unwrap_or(tgt_col),
        };
        let ds = retune_data::read_pair_dataset(spec, &cols, &data.options(None)?)?;
        report_skipped(spec, &ds.skipped);
        if ds.examples.is_empty() {
            return Err(format!("{spec}: no rows").into());
        }
        Ok(retune_train::translate::PairTexts {
            name: name.into(),
            sources: ds.examples.iter().map(|e| e.source.clone()).collect(),
            targets: ds.examples.iter().map(|e| e.target.clone()).collect(),
        })
    }
}
