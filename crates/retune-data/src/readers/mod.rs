//! The format readers. Each streams one file once and hands every row's wanted cells (or why the
//! row is bad) to a sink, which decides whether to skip or stop.

mod delimited;
mod jsonl;
mod parquet;
mod text;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::{DataError, Format, ReadOptions};

/// A value of one wanted column in one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A null / missing value.
    Null,
    /// A list (Parquet `list<...>`, as `datasets` stores a `Sequence`).
    List(Vec<Cell>),
    /// Any other value, described for messages (`a number (1.5)`, `an array`).
    Other(String),
}

impl Cell {
    /// For messages: `a string`, `an integer (5)`, `null`, ...
    pub(crate) fn describe(&self) -> String {
        match self {
            Cell::Str(s) => format!("a string ({s:?})"),
            Cell::Int(i) => format!("an integer ({i})"),
            Cell::Null => "null".into(),
            Cell::List(v) => format!("a list ({} items)", v.len()),
            Cell::Other(d) => d.clone(),
        }
    }
}

/// A row's cells (in the order the columns were asked for), or why the row is bad.
pub(crate) type RowResult = Result<Vec<Cell>, String>;

/// Receives `(line, row)`; returns whether to go on reading, or the error that ends the read.
pub(crate) type Sink<'a> = dyn FnMut(usize, RowResult) -> Result<bool, DataError> + 'a;

/// What a reader learned about a file besides its rows.
#[derive(Debug, Default)]
pub(crate) struct FileInfo {
    /// Per wanted column: the `ClassLabel` names a Hugging Face Parquet file declares for it.
    pub class_names: Vec<Option<Vec<String>>>,
}

/// Reads one file.
pub(crate) fn read_file(
    path: &Path,
    format: Format,
    wanted: &[&str],
    opts: &ReadOptions,
    sink: &mut Sink,
) -> Result<FileInfo, DataError> {
    match format {
        Format::Csv | Format::Tsv => delimited::read(path, format, wanted, opts, sink),
        Format::Jsonl => jsonl::read(path, wanted, sink),
        Format::Text => text::read(path, wanted, sink),
        Format::Parquet => parquet::read(path, wanted, sink),
    }
    .map(|mut info| {
        info.class_names.resize(wanted.len(), None);
        info
    })
}

/// `a, b, c` (at most 30 names) for "the columns are: ..." messages; control characters in a
/// name are escaped (`\n`), so the message stays one line.
pub(crate) fn list_names<S: AsRef<str>>(names: &[S]) -> String {
    const MAX: usize = 30;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| n.as_ref().chars().flat_map(char::escape_debug).collect::<String>())
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(", ... ({} in all)", names.len()));
    }
    if s.is_empty() {
        s.push_str("(none)");
    }
    s
}

/// The physical lines of a file, numbered from 1, without `\n` or a trailing `\r`, and without a
/// UTF-8 byte-order mark at the start. Lines can be pushed back to be read again.
pub(crate) struct Lines {
    path: PathBuf,
    reader: BufReader<File>,
    next: usize,
    pending: VecDeque<(usize, Vec<u8>)>,
}

impl Lines {
    /// Opens a file.
    pub(crate) fn open(path: &Path) -> Result<Lines, DataError> {
        let file = File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Lines {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
            next: 1,
            pending: VecDeque::new(),
        })
    }

    /// The next line and its number, or `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, Vec<u8>)>, DataError> {
        if let Some(l) = self.pending.pop_front() {
            return Ok(Some(l));
        }
        let mut buf = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| DataError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if self.next == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            buf.drain(..3);
        }
        let number = self.next;
        self.next += 1;
        Ok(Some((number, buf)))
    }

    /// Puts lines back, to be returned (in this order) before any new line.
    pub(crate) fn push_back(&mut self, lines: Vec<(usize, Vec<u8>)>) {
        for l in lines.into_iter().rev() {
            self.pending.push_front(l);
        }
    }
}

/// A line as UTF-8, or why not.
pub(crate) fn utf8(line: Vec<u8>) -> Result<String, String> {
    String::from_utf8(line)
        .map_err(|e| format!("invalid UTF-8 (byte {} of the line)", e.utf8_error().valid_up_to() + 1))
}
