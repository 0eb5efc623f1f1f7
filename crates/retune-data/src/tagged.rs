//! Token/tag data for token classification (NER): one sentence of tokens and one tag per token.
//!
//! Formats ([`TagFormat`]): Hugging Face-style JSONL (`{"tokens": [...], "ner_tags": [...]}`,
//! tags as strings or as integers with the label names given), CoNLL column files (a token a
//! line, whitespace-separated columns, the tag in a chosen column — the last by default —,
//! blank lines between sentences, `-DOCSTART-` lines skipped), Parquet as Hugging Face
//! `datasets` writes a NER dataset (list columns `tokens` and `ner_tags`, the tags as
//! `ClassLabel` ids named by the file's metadata, or strings), and tag lines (a sentence a line
//! of whitespace-separated tags, for predictions). Errors name `file:line` (see
//! [`crate::error`]).
//!
//! Tags written in another scheme ([`InputScheme`]: IOB1, BIOES, BMES) are converted to IOB2
//! (`B-X` starts every entity, `I-X` continues it) on read; a tag outside the scheme or one that
//! cannot stand where it is (an `I-X` continuing nothing, an entity never closed) is an error
//! naming its line.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::DataError;

/// How a token/tag file is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagFormat {
    /// A JSON object a line with `tokens` (optional) and `ner_tags`.
    Jsonl,
    /// A token a line, whitespace-separated columns, blank lines between sentences; the tag in
    /// column `tag_column` (0-based; None: the last column).
    Conll {
        /// 0-based column of the tag.
        tag_column: Option<usize>,
    },
    /// Parquet with list columns `tokens` and `ner_tags` (a row's number is its "line").
    Parquet,
    /// A sentence a line of whitespace-separated tags (no tokens).
    TagLines,
}

impl TagFormat {
    /// The format a file name suggests: `.jsonl`/`.json` → JSONL, `.conll`/`.conllu`/`.iob`/
    /// `.iob2`/`.bio`/`.bioes` → CoNLL (tag in the last column), `.parquet` → Parquet, anything
    /// else → tag lines.
    pub fn from_path(path: &Path) -> TagFormat {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "jsonl" | "json" => TagFormat::Jsonl,
            "conll" | "conllu" | "iob" | "iob2" | "bio" | "bioes" => TagFormat::Conll { tag_column: None },
            "parquet" => TagFormat::Parquet,
            _ => TagFormat::TagLines,
        }
    }
}

/// The tagging scheme of a file's tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InputScheme {
    /// `B-X` starts every entity, `I-X` continues it (checked, kept).
    Iob2,
    /// `I-X` starts an entity; `B-X` only where one follows another of the same type.
    Iob1,
    /// `B-X I-X … E-X` for entities of several tokens, `S-X` for one token.
    Bioes,
    /// As BIOES with `M-X` inside (Chinese segmentation style).
    Bmes,
}

impl std::str::FromStr for InputScheme {
    type Err = String;
    /// `iob2` (or `bio`), `iob1` (or `iob`), `bioes` (or `iobes`), `bmes`, any case.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "iob2" | "bio" => InputScheme::Iob2,
            "iob1" | "iob" => InputScheme::Iob1,
            "bioes" | "iobes" => InputScheme::Bioes,
            "bmes" => InputScheme::Bmes,
            _ => return Err(format!("unknown tag scheme {s:?}: use iob2, iob1, bioes or bmes")),
        })
    }
}

/// One sentence's tags written in `scheme`, as IOB2. The error gives the 0-based position of the
/// offending tag and what is wrong.
pub fn to_iob2(tags: &[String], scheme: InputScheme) -> Result<Vec<String>, (usize, String)> {
    let prefixes: &[char] = match scheme {
        InputScheme::Iob2 | InputScheme::Iob1 => &['B', 'I'],
        InputScheme::Bioes => &['B', 'I', 'E', 'S'],
        InputScheme::Bmes => &['B', 'M', 'E', 'S'],
    };
    let parse = |j: usize, t: &str| -> Result<Option<(char, String)>, (usize, String)> {
        if t == "O" {
            return Ok(None);
        }
        let mut chars = t.chars();
        match (chars.next(), chars.next(), chars.as_str()) {
            (Some(p), Some('-'), kind) if prefixes.contains(&p) && !kind.is_empty() => Ok(Some((p, kind.to_string()))),
            _ => Err((
                j,
                format!(
                    "tag {t:?} is outside the {scheme:?} scheme (O or {}-TYPE)",
                    prefixes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("/")
                ),
            )),
        }
    };
    let mut out = Vec::with_capacity(tags.len());
    // The type of the entity the previous tag left open (IOB: any entity; BIOES/BMES: one not
    // yet closed by E-/S-).
    let mut open: Option<String> = None;
    for (j, t) in tags.iter().enumerate() {
        let tag = parse(j, t)?;
        let prev = if j == 0 {
            "the sentence start".to_string()
        } else {
            format!("{:?}", tags[j - 1])
        };
        match scheme {
            InputScheme::Iob2 | InputScheme::Iob1 => match tag {
                None => {
                    open = None;
                    out.push("O".into());
                }
                Some(('B', k)) => {
                    out.push(format!("B-{k}"));
                    open = Some(k);
                }
                Some((_, k)) => {
                    let continues = open.as_deref() == Some(k.as_str());
                    if !continues && scheme == InputScheme::Iob2 {
                        return Err((j, format!("I-{k} cannot follow {prev}: it continues no {k} entity")));
                    }
                    out.push(format!("{}-{k}", if continues { 'I' } else { 'B' }));
                    open = Some(k);
                }
            },
            InputScheme::Bioes | InputScheme::Bmes => {
                let inside = if scheme == InputScheme::Bioes { 'I' } else { 'M' };
                match tag {
                    None | Some(('B', _)) | Some(('S', _)) if open.is_some() => {
                        return Err((j, format!("{t} cannot follow {prev}: that entity is not closed (E-)")));
                    }
                    None => out.push("O".into()),
                    Some(('B', k)) => {
                        out.push(format!("B-{k}"));
                        open = Some(k);
                    }
                    Some(('S', k)) => out.push(format!("B-{k}")),
                    Some((p, k)) => {
                        if open.as_deref() != Some(k.as_str()) {
                            return Err((j, format!("{p}-{k} cannot follow {prev}: it continues no {k} entity")));
                        }
                        out.push(format!("I-{k}"));
                        if p != inside {
                            open = None;
                        }
                    }
                }
            }
        }
    }
    if let (Some(k), InputScheme::Bioes | InputScheme::Bmes) = (&open, scheme) {
        return Err((
            tags.len() - 1,
            format!("the {k} entity is not closed (E-) at the end of the sentence"),
        ));
    }
    Ok(out)
}

/// One sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedSentence {
    /// Tokens (empty for tag lines).
    pub tokens: Vec<String>,
    /// One tag per token.
    pub tags: Vec<String>,
    /// 1-based line where the sentence starts.
    pub line: usize,
}

/// The sentences of one file.
#[derive(Clone, Debug)]
pub struct TaggedCorpus {
    /// The file.
    pub path: PathBuf,
    /// Its sentences, in order.
    pub sentences: Vec<TaggedSentence>,
}

impl TaggedCorpus {
    /// `file:line` of sentence `i`.
    pub fn location(&self, i: usize) -> String {
        match self.sentences.get(i) {
            Some(s) => format!("{}:{}", self.path.display(), s.line),
            None => self.path.display().to_string(),
        }
    }

    /// The tags of every sentence.
    pub fn tags(&self) -> Vec<Vec<String>> {
        self.sentences.iter().map(|s| s.tags.clone()).collect()
    }
}

/// Reads `path` as `format`; `label_names` maps integer tags (as HF `datasets` stores a
/// `ClassLabel` sequence) to names.
pub fn read_tagged(path: &Path, format: &TagFormat, label_names: Option<&[String]>) -> Result<TaggedCorpus, DataError> {
    if *format == TagFormat::Parquet {
        return Ok(TaggedCorpus {
            path: path.to_path_buf(),
            sentences: parquet(path, label_names)?,
        });
    }
    let text = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(text).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        row(path, line, "invalid UTF-8".into())
    })?;
    let sentences = match format {
        TagFormat::Jsonl => jsonl(path, &text, label_names)?,
        TagFormat::Conll { tag_column } => conll(path, &text, *tag_column)?,
        TagFormat::Parquet => unreachable!("read above"),
        TagFormat::TagLines => text
            .lines()
            .enumerate()
            .map(|(i, l)| TaggedSentence {
                tokens: Vec::new(),
                tags: l.split_whitespace().map(String::from).collect(),
                line: i + 1,
            })
            .collect(),
    };
    Ok(TaggedCorpus {
        path: path.to_path_buf(),
        sentences,
    })
}

/// Reads a data spec (`file` or `file[slice]`, see [`crate::DataSpec`]) of one token/tag file,
/// its format from the extension (CoNLL: the tag in the last column).
pub fn read_tagged_spec(spec: &str, label_names: Option<&[String]>) -> Result<TaggedCorpus, DataError> {
    read_tagged_spec_in(spec, label_names, None)
}

/// [`read_tagged_spec`] with the tags written in `scheme`, converted to IOB2 (None: kept as
/// they are).
pub fn read_tagged_spec_in(
    spec: &str,
    label_names: Option<&[String]>,
    scheme: Option<InputScheme>,
) -> Result<TaggedCorpus, DataError> {
    let ds = crate::DataSpec::parse(spec)?;
    let [path] = ds.paths.as_slice() else {
        return Err(DataError::Invalid(format!(
            "{spec}: token/tag data is read from one file per split"
        )));
    };
    let format = TagFormat::from_path(path);
    let mut c = read_tagged(path, &format, label_names)?;
    if let Some(scheme) = scheme {
        for s in &mut c.sentences {
            s.tags = to_iob2(&s.tags, scheme).map_err(|(j, message)| match format {
                // A token a line: the tag's own line.
                TagFormat::Conll { .. } => row(path, s.line + j, message),
                _ => row(path, s.line, format!("tag {}: {message}", j + 1)),
            })?;
        }
    }
    if let Some(slice) = &ds.slice {
        let r = slice.resolve(c.sentences.len())?;
        c.sentences = c.sentences[r].to_vec();
    }
    if c.sentences.is_empty() {
        return Err(DataError::File {
            path: path.clone(),
            message: "no sentences".into(),
        });
    }
    Ok(c)
}

fn row(path: &Path, line: usize, message: String) -> DataError {
    DataError::Row {
        path: path.to_path_buf(),
        line,
        message,
    }
}

fn jsonl(path: &Path, text: &str, names: Option<&[String]>) -> Result<Vec<TaggedSentence>, DataError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(l).map_err(|e| row(path, line, format!("invalid JSON: {e}")))?;
        let tags = v
            .get("ner_tags")
            .and_then(|t| t.as_array())
            .ok_or_else(|| row(path, line, "no \"ner_tags\" list".into()))?;
        let tags = tags
            .iter()
            .enumerate()
            .map(|(k, t)| match t {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => {
                    let names =
                        names.ok_or_else(|| row(path, line, "integer tags need the label names (--labels)".into()))?;
                    n.as_u64().and_then(|n| names.get(n as usize)).cloned().ok_or_else(|| {
                        row(
                            path,
                            line,
                            format!("tag {} ({n}) is not a label index below {}", k + 1, names.len()),
                        )
                    })
                }
                other => Err(row(
                    path,
                    line,
                    format!("tag {} is {other}, not a string or an integer", k + 1),
                )),
            })
            .collect::<Result<Vec<String>, DataError>>()?;
        let tokens = match v.get("tokens") {
            None => Vec::new(),
            Some(t) => t
                .as_array()
                .ok_or_else(|| row(path, line, "\"tokens\" is not a list".into()))?
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    t.as_str()
                        .map(String::from)
                        .ok_or_else(|| row(path, line, format!("token {} is not a string", k + 1)))
                })
                .collect::<Result<Vec<String>, DataError>>()?,
        };
        if !tokens.is_empty() && tokens.len() != tags.len() {
            return Err(row(
                path,
                line,
                format!("{} tokens but {} ner_tags", tokens.len(), tags.len()),
            ));
        }
        out.push(TaggedSentence { tokens, tags, line });
    }
    Ok(out)
}

/// The sentences of a Parquet file: `tokens` and `ner_tags` list columns; integer tags are
/// `ClassLabel` ids, named by the file's metadata or else by `names`.
fn parquet(path: &Path, names: Option<&[String]>) -> Result<Vec<TaggedSentence>, DataError> {
    use crate::readers::Cell;
    let strings = |c: Cell, what: &str, ints: Option<&[String]>| -> Result<Vec<String>, String> {
        let Cell::List(items) = c else {
            return Err(format!("\"{what}\" is {}, not a list", c.describe()));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(k, c)| match (c, ints) {
                (Cell::Str(s), _) => Ok(s),
                (Cell::Int(i), Some(names)) => usize::try_from(i)
                    .ok()
                    .and_then(|i| names.get(i))
                    .cloned()
                    .ok_or_else(|| format!("tag {} ({i}) is not a label index below {}", k + 1, names.len())),
                (Cell::Int(_), None) => Err(format!(
                    "{what} {} is an integer and the file names no ClassLabel: give the label names (--labels)",
                    k + 1
                )),
                (c, _) => Err(format!("{what} {} is {}, not a string", k + 1, c.describe())),
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut sink = |line: usize, cells: crate::readers::RowResult| -> Result<bool, DataError> {
        let mut cells = cells.map_err(|m| row(path, line, m))?.into_iter();
        let (tokens, tags) = (cells.next().unwrap_or(Cell::Null), cells.next().unwrap_or(Cell::Null));
        let tokens = strings(tokens, "token", None).map_err(|m| row(path, line, m))?;
        let tags = strings(tags, "ner_tags", names).map_err(|m| row(path, line, m))?;
        if tokens.len() != tags.len() {
            return Err(row(
                path,
                line,
                format!("{} tokens but {} ner_tags", tokens.len(), tags.len()),
            ));
        }
        out.push(TaggedSentence { tokens, tags, line });
        Ok(true)
    };
    crate::readers::read_file(
        path,
        crate::read::Format::Parquet,
        &["tokens", "ner_tags"],
        &crate::read::ReadOptions::default(),
        &mut sink,
    )?;
    Ok(out)
}

fn conll(path: &Path, text: &str, tag_column: Option<usize>) -> Result<Vec<TaggedSentence>, DataError> {
    let mut out = Vec::new();
    let mut cur = TaggedSentence {
        tokens: Vec::new(),
        tags: Vec::new(),
        line: 1,
    };
    let mut flush = |cur: &mut TaggedSentence, next_line: usize| {
        if !cur.tags.is_empty() {
            out.push(std::mem::replace(
                cur,
                TaggedSentence {
                    tokens: Vec::new(),
                    tags: Vec::new(),
                    line: next_line,
                },
            ));
        } else {
            cur.line = next_line;
        }
    };
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.is_empty() || cols[0] == "-DOCSTART-" {
            flush(&mut cur, line + 1);
            continue;
        }
        let col = tag_column.unwrap_or(cols.len() - 1);
        let tag = cols.get(col).ok_or_else(|| {
            row(
                path,
                line,
                format!("no column {} for the tag (the line has {})", col + 1, cols.len()),
            )
        })?;
        if cols.len() < 2 && tag_column.is_none() {
            return Err(row(path, line, "expected a token and a tag".into()));
        }
        if cur.tags.is_empty() {
            cur.line = line;
        }
        cur.tokens.push(cols[0].to_string());
        cur.tags.push(tag.to_string());
    }
    flush(&mut cur, text.lines().count() + 1);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("retune-tagged-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_the_three_formats() {
        let p = write(
            "a.conll",
            "-DOCSTART- O\n\nEU B-ORG\nrejects O\n\n\nGerman B-MISC\ncall O\n",
        );
        let c = read_tagged(&p, &TagFormat::from_path(&p), None).unwrap();
        assert_eq!(c.sentences.len(), 2);
        assert_eq!(c.sentences[0].tags, ["B-ORG", "O"]);
        assert_eq!(c.sentences[0].line, 3);
        assert_eq!(c.sentences[1].tokens, ["German", "call"]);
        assert_eq!(c.sentences[1].line, 7);
        let p = write("b.jsonl", "{\"tokens\":[\"a\",\"b\"],\"ner_tags\":[1,0]}\n");
        let names = vec!["O".to_string(), "B-X".to_string()];
        let c = read_tagged(&p, &TagFormat::Jsonl, Some(&names)).unwrap();
        assert_eq!(c.sentences[0].tags, ["B-X", "O"]);
        let p = write("c.txt", "B-X O\n\nO\n");
        let c = read_tagged(&p, &TagFormat::from_path(&p), None).unwrap();
        assert_eq!(c.tags(), vec![vec!["B-X", "O"], vec![], vec!["O"]]);
    }

    fn tags(v: &str) -> Vec<String> {
        v.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn schemes_become_iob2() {
        let iob2 = tags("B-PER I-PER O B-LOC B-LOC I-LOC O");
        // IOB1: I- starts an entity, B- only between two of the same type.
        let iob1 = tags("I-PER I-PER O I-LOC B-LOC I-LOC O");
        assert_eq!(to_iob2(&iob1, InputScheme::Iob1).unwrap(), iob2);
        let bioes = tags("B-PER E-PER O S-LOC B-LOC E-LOC O");
        assert_eq!(to_iob2(&bioes, InputScheme::Bioes).unwrap(), iob2);
        let bmes = tags("B-PER E-PER O S-LOC B-LOC E-LOC O");
        assert_eq!(to_iob2(&bmes, InputScheme::Bmes).unwrap(), iob2);
        let long = tags("B-ORG M-ORG M-ORG E-ORG");
        assert_eq!(
            to_iob2(&long, InputScheme::Bmes).unwrap(),
            tags("B-ORG I-ORG I-ORG I-ORG")
        );
        assert_eq!(to_iob2(&iob2, InputScheme::Iob2).unwrap(), iob2);
    }

    #[test]
    fn tags_that_cannot_stand_are_errors_at_their_position() {
        let e = |t: &str, s| to_iob2(&tags(t), s).unwrap_err();
        assert_eq!(e("O I-PER", InputScheme::Iob2).0, 1);
        assert_eq!(e("B-PER I-LOC", InputScheme::Iob2).0, 1);
        assert_eq!(e("B-PER O", InputScheme::Bioes).0, 1);
        assert_eq!(e("B-PER I-PER", InputScheme::Bioes).0, 1);
        assert_eq!(e("O E-PER", InputScheme::Bioes).0, 1);
        assert_eq!(e("B-PER M-PER", InputScheme::Bioes).0, 1);
        assert_eq!(e("S-PER I-PER", InputScheme::Bmes).0, 1);
        assert_eq!(e("X-PER", InputScheme::Iob2).0, 0);
        assert_eq!(e("B-", InputScheme::Iob2).0, 0);
        let p = write("g.conll", "a B-PER\nb O\n\nc O\nd I-LOC\n");
        let err = read_tagged_spec_in(p.to_str().unwrap(), None, Some(InputScheme::Iob2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("g.conll:5: I-LOC cannot follow \"O\""), "{err}");
        let p = write("h.jsonl", "{\"tokens\":[\"a\",\"b\"],\"ner_tags\":[\"B-X\",\"I-X\"]}\n");
        let err = read_tagged_spec_in(p.to_str().unwrap(), None, Some(InputScheme::Bioes))
            .unwrap_err()
            .to_string();
        assert!(err.contains("h.jsonl:1: tag 2: the X entity is not closed"), "{err}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let p = write(
            "d.jsonl",
            "{\"tokens\":[\"a\"],\"ner_tags\":[\"O\"]}\n{\"tokens\":[\"a\",\"b\"],\"ner_tags\":[\"O\"]}\n",
        );
        let e = read_tagged(&p, &TagFormat::Jsonl, None).unwrap_err().to_string();
        assert!(e.ends_with("d.jsonl:2: 2 tokens but 1 ner_tags"), "{e}");
        let p = write("e.jsonl", "{\"ner_tags\":[0]}\n");
        let e = read_tagged(&p, &TagFormat::Jsonl, None).unwrap_err().to_string();
        assert!(
            e.ends_with("e.jsonl:1: integer tags need the label names (--labels)"),
            "{e}"
        );
        let p = write("f.conll", "a O\nb\n");
        let e = read_tagged(&p, &TagFormat::Conll { tag_column: None }, None)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("f.conll:2: expected a token and a tag"), "{e}");
    }
}
