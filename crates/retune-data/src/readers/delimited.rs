//! CSV and TSV with a header line (or none), any one-byte delimiter, quoting on or off.
//!
//! With quoting on, a field that starts with `"` is quoted: it ends at the next lone `"`, `""`
//! stands for one `"`, and it may span lines. A `"` elsewhere is an ordinary character. With
//! quoting off, every line is one row and fields are split at each delimiter.

use std::path::Path;

use super::{list_names, utf8, Cell, FileInfo, Lines, Sink};
use crate::{DataError, Format, ReadOptions};

/// One parsed record: its first line and its fields, or why it is malformed.
type Record = (usize, Result<Vec<String>, String>);

struct Parser {
    lines: Lines,
    delimiter: u8,
    quoting: bool,
}

impl Parser {
    /// The next record, or `None` at the end of the file.
    fn next_record(&mut self) -> Result<Option<Record>, DataError> {
        let Some((start, line)) = self.lines.next_line()? else {
            return Ok(None);
        };
        if !self.quoting {
            let fields = utf8(line).map(|s| s.split(self.delimiter as char).map(str::to_string).collect());
            return Ok(Some((start, fields)));
        }
        self.parse_quoted(start, line).map(Some)
    }

    /// Parses a record with quoting, reading more lines while inside a quoted field. At the end
    /// of the file inside a quote, the record is bad and the lines after its first are read again.
    fn parse_quoted(&mut self, start: usize, first: Vec<u8>) -> Result<Record, DataError> {
        #[derive(PartialEq)]
        enum State {
            FieldStart,
            Unquoted,
            Quoted,
            AfterQuote,
        }
        let d = self.delimiter;
        let mut fields: Vec<Vec<u8>> = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        let mut state = State::FieldStart;
        let mut extra: Vec<(usize, Vec<u8>)> = Vec::new(); // lines after the first, kept for a re-read
        let mut line = first;
        let mut quote_line = start;
        loop {
            let mut i = 0;
            while i < line.len() {
                let b = line[i];
                match state {
                    State::FieldStart if b == b'"' => {
                        state = State::Quoted;
                        quote_line = extra.last().map_or(start, |l| l.0);
                    }
                    State::FieldStart | State::Unquoted if b == d => {
                        fields.push(std::mem::take(&mut cur));
                        state = State::FieldStart;
                    }
                    State::FieldStart | State::Unquoted => {
                        cur.push(b);
                        state = State::Unquoted;
                    }
                    State::Quoted if b == b'"' => {
                        if line.get(i + 1) == Some(&b'"') {
                            cur.push(b'"');
                            i += 1;
                        } else {
                            state = State::AfterQuote;
                        }
                    }
                    State::Quoted => cur.push(b),
                    State::AfterQuote if b == d => {
                        fields.push(std::mem::take(&mut cur));
                        state = State::FieldStart;
                    }
                    State::AfterQuote => {
                        return Ok((
                            start,
                            Err(format!(
                                "unexpected character {:?} after the closing quote of field {}",
                                String::from_utf8_lossy(&line[i..]).chars().next().unwrap_or('?'),
                                fields.len() + 1
                            )),
                        ));
                    }
                }
                i += 1;
            }
            if state != State::Quoted {
                fields.push(cur);
                break;
            }
            match self.lines.next_line()? {
                Some(next) => {
                    cur.push(b'\n');
                    line = next.1.clone();
                    extra.push(next);
                }
                None => {
                    self.lines.push_back(extra);
                    return Ok((
                        start,
                        Err(format!(
                            "unterminated quoted field (the quote opens on line {quote_line})"
                        )),
                    ));
                }
            }
        }
        let fields = fields.into_iter().map(utf8).collect::<Result<Vec<String>, String>>();
        Ok((start, fields))
    }
}

pub(super) fn read(
    path: &Path,
    format: Format,
    wanted: &[&str],
    opts: &ReadOptions,
    sink: &mut Sink,
) -> Result<FileInfo, DataError> {
    let delimiter = opts
        .delimiter
        .unwrap_or(if format == Format::Csv { b',' } else { b'\t' });
    let quoting = opts.quoting.unwrap_or(format == Format::Csv);
    if matches!(delimiter, b'\n' | b'\r') || (quoting && delimiter == b'"') || !delimiter.is_ascii() {
        return Err(DataError::Invalid(format!("invalid delimiter {:?}", delimiter as char)));
    }
    let mut parser = Parser {
        lines: Lines::open(path)?,
        delimiter,
        quoting,
    };
    let file_err = |line, message| DataError::Row {
        path: path.to_path_buf(),
        line,
        message,
    };

    let Some((header_line, header)) = parser.next_record()? else {
        return Err(DataError::File {
            path: path.to_path_buf(),
            message: "the file is empty (no header line)".into(),
        });
    };
    let header = header.map_err(|m| file_err(header_line, format!("bad header: {m}")))?;
    let width = header.len();
    let names: Vec<String> = if opts.no_header {
        (0..width).map(|i| i.to_string()).collect()
    } else {
        header.clone()
    };
    let mut index = Vec::with_capacity(wanted.len());
    for w in wanted {
        let mut hits = names.iter().enumerate().filter(|(_, n)| n == w).map(|(i, _)| i);
        match (hits.next(), hits.next()) {
            (Some(i), None) => index.push(i),
            (Some(_), Some(_)) => return Err(file_err(header_line, format!("column '{w}' appears more than once"))),
            (None, _) => {
                return Err(file_err(
                    header_line,
                    format!("no column '{w}'; the columns are: {}", list_names(&names)),
                ))
            }
        }
    }
    let to_row = |fields: Vec<String>| -> Result<Vec<Cell>, String> {
        if fields.len() != width {
            if fields.len() == 1 && fields[0].is_empty() {
                return Err(format!("empty line (expected {width} fields)"));
            }
            return Err(format!("expected {width} fields, found {}", fields.len()));
        }
        Ok(index.iter().map(|&i| Cell::Str(fields[i].clone())).collect())
    };
    if opts.no_header && !sink(header_line, to_row(header))? {
        return Ok(FileInfo::default());
    }
    while let Some((line, fields)) = parser.next_record()? {
        if !sink(line, fields.and_then(to_row))? {
            break;
        }
    }
    Ok(FileInfo::default())
}
