//! Reading datasets: formats, options, column choice, and the typed rows that come out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::readers::{self, Cell, RowResult};
use crate::{DataError, DataSpec, LabelSet};

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values with a header line; quoting on by default.
    Csv,
    /// Tab-separated values with a header line; quoting off by default.
    Tsv,
    /// JSON Lines: one JSON object per line (`.jsonl`, `.json`, `.ndjson`).
    Jsonl,
    /// Apache Parquet, as Hugging Face `datasets` and pyarrow write it.
    Parquet,
    /// Plain text: one example per line, one column named `text`.
    Text,
}

impl Format {
    /// The format a file's extension says: `.csv`, `.tsv`/`.tab`, `.jsonl`/`.json`/`.ndjson`,
    /// `.parquet`/`.pq`, `.txt`/`.text` (case-insensitive).
    ///
    /// ```
    /// use retune_data::Format;
    /// assert_eq!(Format::from_path("data/train-1-of-2.jsonl".as_ref()), Some(Format::Jsonl));
    /// assert_eq!(Format::from_path("x.bin".as_ref()), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            "jsonl" | "json" | "ndjson" => Format::Jsonl,
            "parquet" | "pq" => Format::Parquet,
            "txt" | "text" => Format::Text,
            _ => return None,
        })
    }
}

impl FromStr for Format {
    type Err = DataError;

    /// `csv`, `tsv`, `jsonl` (or `json`), `parquet`, `text` (or `txt`).
    fn from_str(s: &str) -> Result<Format, DataError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "jsonl" | "json" | "ndjson" => Format::Jsonl,
            "parquet" => Format::Parquet,
            "text" | "txt" => Format::Text,
            _ => {
                return Err(DataError::Invalid(format!(
                    "unknown format '{s}' (expected csv, tsv, jsonl, parquet or text)"
                )))
            }
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
            Format::Text => "text",
        })
    }
}

/// How to read the files.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The format of every file; `None`: from each file's extension.
    pub format: Option<Format>,
    /// The CSV/TSV field delimiter; `None`: `,` for CSV, TAB for TSV.
    pub delimiter: Option<u8>,
    /// Whether CSV/TSV fields may be quoted (`"a, b"`, `""` for a quote, newlines inside);
    /// `None`: on for CSV, off for TSV (the shared data's TSV files use no quoting).
    pub quoting: Option<bool>,
    /// CSV/TSV files have no header line; their columns are then named `0`, `1`, ...
    pub no_header: bool,
    /// Skip malformed rows and report each in the dataset's `skipped`, instead of failing on the first.
    pub skip_bad_rows: bool,
    /// The allowed labels: a label outside this list is a bad row. `None`: any label.
    pub labels: Option<LabelSet>,
}

/// Which columns hold what, for classification. Names may be nested (`meta.text`) in JSONL and Parquet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The text column (default `text`).
    pub text: String,
    /// A second text for sentence-pair tasks (default none).
    pub text_pair: Option<String>,
    /// The label column (default `label`); `None` for unlabelled data.
    pub label: Option<String>,
}

impl Default for Columns {
    fn default() -> Columns {
        Columns {
            text: "text".into(),
            text_pair: None,
            label: Some("label".into()),
        }
    }
}

/// Which columns hold the source and target texts, for translation. Names may be nested
/// (`translation.en`) in JSONL and Parquet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairColumns {
    /// The source column (default `en`).
    pub source: String,
    /// The target column (default `zh`).
    pub target: String,
}

impl Default for PairColumns {
    fn default() -> PairColumns {
        PairColumns {
            source: "en".into(),
            target: "zh".into(),
        }
    }
}

/// Where a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowRef {
    /// Index into the dataset's `files`.
    pub file: usize,
    /// 1-based line where the row starts (for Parquet: 1-based row number).
    pub line: usize,
}

/// One classification example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Where it came from.
    pub row: RowRef,
    /// The text.
    pub text: String,
    /// The second text of a pair task.
    pub text_pair: Option<String>,
    /// The label as written (an integer label as its decimal digits); `None` when no label column was read.
    pub label: Option<String>,
}

/// One translation example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairExample {
    /// Where it came from.
    pub row: RowRef,
    /// The source text.
    pub source: String,
    /// The target text.
    pub target: String,
}

/// A row that was skipped (with [`ReadOptions::skip_bad_rows`]) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (for Parquet: row number).
    pub line: usize,
    /// Why, one line.
    pub reason: String,
}

impl fmt::Display for SkippedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// A classification dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextDataset {
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// The examples, in file order (after the slice).
    pub examples: Vec<Example>,
    /// Rows skipped as malformed (only with `skip_bad_rows`).
    pub skipped: Vec<SkippedRow>,
    /// The class names a Hugging Face `datasets` Parquet file declares for the label column
    /// (`ClassLabel`); its integer labels are then read as these names.
    pub class_names: Option<Vec<String>>,
}

impl TextDataset {
    /// `path:line` of a row, for messages.
    pub fn location(&self, row: RowRef) -> String {
        format!("{}:{}", self.files[row.file].display(), row.line)
    }

    /// The label set: the file's `ClassLabel` names if it declares them, else inferred from the
    /// labels present ([`LabelSet::infer`]).
    pub fn label_set(&self) -> Result<LabelSet, DataError> {
        if let Some(names) = &self.class_names {
            return LabelSet::from_names(names.clone());
        }
        let labels: Vec<&str> = self.examples.iter().filter_map(|e| e.label.as_deref()).collect();
        Ok(LabelSet::infer(&labels))
    }
}

/// A translation (text pair) dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairDataset {
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// The examples, in file order (after the slice).
    pub examples: Vec<PairExample>,
    /// Rows skipped as malformed (only with `skip_bad_rows`).
    pub skipped: Vec<SkippedRow>,
}

impl PairDataset {
    /// `path:line` of a row, for messages.
    pub fn location(&self, row: RowRef) -> String {
        format!("{}:{}", self.files[row.file].display(), row.line)
    }
}

/// A text cell, or why not.
fn text_of(column: &str, cell: Cell) -> Result<String, String> {
    match cell {
        Cell::Str(s) => Ok(s),
        Cell::Null => Err(format!("column '{column}' is null")),
        other => Err(format!(
            "column '{column}': expected a string, found {}",
            other.describe()
        )),
    }
}

/// A label cell as a string, or why not.
fn label_of(column: &str, cell: Cell, allowed: Option<&LabelSet>) -> Result<String, String> {
    let label = match cell {
        Cell::Str(s) if s.trim().is_empty() => return Err(format!("empty label in column '{column}'")),
        Cell::Str(s) => s,
        Cell::Int(i) => i.to_string(),
        Cell::Null => return Err(format!("missing label: column '{column}' is null")),
        other => {
            return Err(format!(
                "column '{column}': expected a string or integer label, found {}",
                other.describe()
            ))
        }
    };
    if let Some(set) = allowed {
        if set.id(&label).is_none() {
            return Err(format!("unknown label '{label}' (the labels are: {})", set.describe()));
        }
    }
    Ok(label)
}

/// Everything read from the files, before the slice.
struct Collected<T> {
    files: Vec<PathBuf>,
    rows: Vec<T>,
    skipped: Vec<SkippedRow>,
    class_names: Vec<Option<Vec<String>>>,
}

/// Reads every file of `spec`, converting each row's wanted cells with `convert`.
fn collect<T>(
    spec: &DataSpec,
    wanted: &[&str],
    opts: &ReadOptions,
    mut convert: impl FnMut(RowRef, Vec<Cell>) -> Result<T, String>,
) -> Result<Collected<T>, DataError> {
    let stop = spec.slice.as_ref().and_then(|s| s.stop_after());
    let mut out = Collected {
        files: spec.paths.clone(),
        rows: Vec::new(),
        skipped: Vec::new(),
        class_names: Vec::new(),
    };
    for (file, path) in spec.paths.iter().enumerate() {
        if stop.is_some_and(|k| out.rows.len() >= k) {
            break;
        }
        let format = match opts.format {
            Some(f) => f,
            None => Format::from_path(path).ok_or_else(|| DataError::File {
                path: path.clone(),
                message: "cannot tell the format from the file name; name it (csv, tsv, jsonl, parquet, text)".into(),
            })?,
        };
        let rows = &mut out.rows;
        let skipped = &mut out.skipped;
        let mut sink = |line: usize, result: RowResult| -> Result<bool, DataError> {
            let row = RowRef { file, line };
            match result.and_then(|cells| convert(row, cells)) {
                Ok(t) => rows.push(t),
                Err(reason) if opts.skip_bad_rows => skipped.push(SkippedRow {
                    file: path.clone(),
                    line,
                    reason,
                }),
                Err(message) => {
                    return Err(DataError::Row {
                        path: path.clone(),
                        line,
                        message,
                    })
                }
            }
            let go_on = match stop {
                Some(k) => rows.len() < k,
                None => true,
            };
            Ok(go_on)
        };
        let info = readers::read_file(path, format, wanted, opts, &mut sink)?;
        if out.class_names.is_empty() {
            out.class_names = info.class_names;
        } else if out.class_names != info.class_names {
            return Err(DataError::File {
                path: path.clone(),
                message: "its ClassLabel names differ from those of the first file".into(),
            });
        }
    }
    Ok(out)
}

/// Applies the spec's slice to the rows.
fn apply_slice<T>(spec: &DataSpec, rows: &mut Vec<T>) -> Result<(), DataError> {
    if let Some(slice) = &spec.slice {
        let range = slice.resolve(rows.len())?;
        rows.truncate(range.end);
        rows.drain(..range.start);
    }
    Ok(())
}

/// Reads a classification dataset from a spec such as `data/x/train.tsv[:6000]` (see [`DataSpec`]).
///
/// ```
/// use retune_data::{read_text_dataset, Columns, ReadOptions};
/// let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sentiment_rt_polarity");
/// let ds = read_text_dataset(&format!("{root}/validation.tsv[:10%]"), &Columns::default(), &ReadOptions::default())?;
/// assert_eq!(ds.examples.len(), 109); // round(10% of 1090)
/// assert_eq!(ds.examples[0].row.line, 2); // line 1 is the header
/// let all = read_text_dataset(&format!("{root}/validation.tsv"), &Columns::default(), &ReadOptions::default())?;
/// let labels = all.label_set()?;
/// assert_eq!(labels.names(), ["0", "1"]);
/// assert_eq!(labels.encode(&all)?.iter().filter(|&&id| id == 1).count(), 528);
/// # Ok::<(), retune_data::DataError>(())
/// ```
pub fn read_text_dataset(spec: &str, columns: &Columns, opts: &ReadOptions) -> Result<TextDataset, DataError> {
    read_text_spec(&DataSpec::parse(spec)?, columns, opts)
}

/// [`read_text_dataset`] for a parsed spec.
pub fn read_text_spec(spec: &DataSpec, columns: &Columns, opts: &ReadOptions) -> Result<TextDataset, DataError> {
    let mut wanted: Vec<&str> = vec![&columns.text];
    let pair_at = columns.text_pair.as_deref().map(|c| {
        wanted.push(c);
        wanted.len() - 1
    });
    let label_at = columns.label.as_deref().map(|c| {
        wanted.push(c);
        wanted.len() - 1
    });
    let names: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    let mut collected = collect(spec, &wanted, opts, |row, cells| {
        let mut cells: Vec<Option<Cell>> = cells.into_iter().map(Some).collect();
        let text = text_of(&names[0], cells[0].take().unwrap_or(Cell::Null))?;
        let text_pair = match pair_at {
            Some(i) => Some(text_of(&names[i], cells[i].take().unwrap_or(Cell::Null))?),
            None => None,
        };
        let label = match label_at {
            Some(i) => Some(label_of(
                &names[i],
                cells[i].take().unwrap_or(Cell::Null),
                opts.labels.as_ref(),
            )?),
            None => None,
        };
        Ok(Example {
            row,
            text,
            text_pair,
            label,
        })
    })?;
    apply_slice(spec, &mut collected.rows)?;
    let class_names = label_at.and_then(|i| collected.class_names.get_mut(i).and_then(Option::take));
    Ok(TextDataset {
        files: collected.files,
        examples: collected.rows,
        skipped: collected.skipped,
        class_names,
    })
}

/// Reads a translation dataset from a spec such as
/// `data/translation_en_zh_tatoeba/train-1-of-2.jsonl,data/translation_en_zh_tatoeba/train-2-of-2.jsonl`.
///
/// ```
/// use retune_data::{read_pair_dataset, PairColumns, ReadOptions};
/// let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/translation_en_zh_tatoeba");
/// let cols = PairColumns { source: "en".into(), target: "zh_hans".into() };
/// let ds = read_pair_dataset(&format!("{root}/validation.jsonl[:1]"), &cols, &ReadOptions::default())?;
/// assert_eq!((ds.examples[0].source.as_str(), ds.examples[0].target.as_str()), ("I quit.", "我退出。"));
/// # Ok::<(), retune_data::DataError>(())
/// ```
pub fn read_pair_dataset(spec: &str, columns: &PairColumns, opts: &ReadOptions) -> Result<PairDataset, DataError> {
    read_pair_spec(&DataSpec::parse(spec)?, columns, opts)
}

/// [`read_pair_dataset`] for a parsed spec.
pub fn read_pair_spec(spec: &DataSpec, columns: &PairColumns, opts: &ReadOptions) -> Result<PairDataset, DataError> {
    let wanted = [columns.source.as_str(), columns.target.as_str()];
    let mut collected = collect(spec, &wanted, opts, |row, cells| {
        let mut it = cells.into_iter();
        let source = text_of(&columns.source, it.next().unwrap_or(Cell::Null))?;
        let target = text_of(&columns.target, it.next().unwrap_or(Cell::Null))?;
        Ok(PairExample { row, source, target })
    })?;
    apply_slice(spec, &mut collected.rows)?;
    Ok(PairDataset {
        files: collected.files,
        examples: collected.rows,
        skipped: collected.skipped,
    })
}
