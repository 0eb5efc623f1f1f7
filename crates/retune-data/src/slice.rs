//! Dataset specs with slices, as the Hugging Face `datasets` library writes them.
//!
//! A spec is a comma-separated list of files, optionally followed by one slice that applies to
//! their concatenation: `data/x/train-1-of-2.jsonl,data/x/train-2-of-2.jsonl[:1000]`.
//! Slices follow `datasets`' `ReadInstruction` semantics exactly: `[:6000]`, `[100:]`,
//! `[-500:]` (Python negative indices), `[10%:20%]` (percent of the rows, rounded to the closest
//! row, ties to even, as Python's `round`), and an optional rounding suffix `(closest)` or
//! `(pct1_dropremainder)`. If either bound has `%`, both are percentages, as in `datasets`.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use crate::DataError;

/// How percent boundaries become row numbers (`datasets`' `rounding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// `round(boundary * rows / 100)`, ties to even (the default).
    #[default]
    Closest,
    /// `boundary * trunc(rows / 100)`: every 1% holds the same number of rows; needs 100 rows or more.
    Pct1DropRemainder,
}

/// A slice of a dataset's rows: `[from:to]`, in rows or in percent.
///
/// ```
/// use retune_data::Slice;
/// let s = Slice::parse("[10%:20%]").unwrap();
/// assert_eq!(s.resolve(1000).unwrap(), 100..200);
/// assert_eq!(Slice::parse("[-3:]").unwrap().resolve(10).unwrap(), 7..10);
/// assert_eq!(Slice::parse("[:25%]").unwrap().resolve(10).unwrap(), 0..2); // 2.5 rounds to even
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// The first row (or percent), negative counts from the end; `None`: the start.
    pub from: Option<i64>,
    /// One past the last row (or percent), negative counts from the end; `None`: the end.
    pub to: Option<i64>,
    /// Whether both bounds are percentages.
    pub percent: bool,
    /// How percentages are rounded.
    pub rounding: Rounding,
}

/// Parses an integer as Python's `int()` does for `datasets`' slice pattern `-?[\d_]+`:
/// ASCII digits, single underscores only between digits.
fn parse_bound(s: &str, whole: &str) -> Result<i64, DataError> {
    let bad = || DataError::Invalid(format!("invalid slice '{whole}': '{s}' is not an integer"));
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return Err(bad());
    }
    if !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(bad());
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    clean.parse::<i64>().map_err(|_| bad())
}

impl Slice {
    /// Parses `[from:to]` with an optional `(closest)` / `(pct1_dropremainder)` suffix.
    pub fn parse(text: &str) -> Result<Slice, DataError> {
        let bad = |why: &str| DataError::Invalid(format!("invalid slice '{text}': {why}"));
        let inner_and_rest = text.strip_prefix('[').ok_or_else(|| bad("expected '[from:to]'"))?;
        let close = inner_and_rest.find(']').ok_or_else(|| bad("expected '[from:to]'"))?;
        let inner = &inner_and_rest[..close];
        let rest = &inner_and_rest[close + 1..];
        let rounding = if rest.is_empty() {
            None
        } else {
            let name = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| bad("expected '(closest)' or '(pct1_dropremainder)' after ']'"))?;
            Some(match name {
                "closest" => Rounding::Closest,
                "pct1_dropremainder" => Rounding::Pct1DropRemainder,
                _ => return Err(bad("rounding must be 'closest' or 'pct1_dropremainder'")),
            })
        };
        let (from_s, to_s) = inner
            .split_once(':')
            .ok_or_else(|| bad("expected '[from:to]' (a ':' is required)"))?;
        let mut percent = false;
        let mut bound = |s: &str| -> Result<Option<i64>, DataError> {
            if s.is_empty() {
                return Ok(None);
            }
            let (num, pct) = match s.strip_suffix('%') {
                Some(n) => (n, true),
                None => (s, false),
            };
            percent |= pct;
            parse_bound(num, text).map(Some)
        };
        let from = bound(from_s)?;
        let to = bound(to_s)?;
        if !percent && rounding.is_some() {
            return Err(bad("a rounding can only be given for percent slices"));
        }
        if percent && (from.is_some_and(|v| v.abs() > 100) || to.is_some_and(|v| v.abs() > 100)) {
            return Err(bad("percent boundaries must be between -100% and 100%"));
        }
        Ok(Slice {
            from,
            to,
            percent,
            rounding: rounding.unwrap_or_default(),
        })
    }

    /// The rows `[start, end)` this slice selects from `rows` rows (`datasets`' `to_absolute`).
    ///
    /// Fails only for `pct1_dropremainder` with fewer than 100 rows, as `datasets` does.
    pub fn resolve(&self, rows: usize) -> Result<Range<usize>, DataError> {
        let n = rows as i64;
        let (from, to) = if self.percent {
            let to_abs = |b: i64| -> Result<i64, DataError> {
                match self.rounding {
                    Rounding::Closest => Ok(((b as i128 * n as i128) as f64 / 100.0).round_ties_even() as i64),
                    Rounding::Pct1DropRemainder => {
                        if n < 100 {
                            Err(DataError::Invalid(format!(
                                "slice {self}: pct1_dropremainder rounding needs at least 100 rows, the data has {n}"
                            )))
                        } else {
                            Ok(b * (n / 100))
                        }
                    }
                }
            };
            (
                self.from.map(to_abs).transpose()?.unwrap_or(0),
                self.to.map(to_abs).transpose()?.unwrap_or(n),
            )
        } else {
            (self.from.unwrap_or(0), self.to.unwrap_or(n))
        };
        let fix = |v: i64| if v < 0 { (n + v).max(0) } else { v.min(n) };
        let (from, to) = (fix(from) as usize, fix(to) as usize);
        Ok(from..to.max(from))
    }

    /// If the slice ends at a known row whatever the size (`[:k]`, `[a:k]` with `a, k >= 0`),
    /// that row: a reader can stop there.
    pub fn stop_after(&self) -> Option<usize> {
        if self.percent || self.from.is_some_and(|f| f < 0) {
            return None;
        }
        self.to.filter(|&t| t >= 0).map(|t| t as usize)
    }
}

impl fmt::Display for Slice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = if self.percent { "%" } else { "" };
        write!(f, "[")?;
        if let Some(v) = self.from {
            write!(f, "{v}{pct}")?;
        }
        write!(f, ":")?;
        if let Some(v) = self.to {
            write!(f, "{v}{pct}")?;
        }
        write!(f, "]")?;
        if self.rounding == Rounding::Pct1DropRemainder {
            write!(f, "(pct1_dropremainder)")?;
        }
        Ok(())
    }
}

/// A parsed dataset spec: files (concatenated in order) and an optional slice of their rows.
///
/// ```
/// use retune_data::DataSpec;
/// let spec = DataSpec::parse("d/train-1-of-2.jsonl,d/train-2-of-2.jsonl[:1000]").unwrap();
/// assert_eq!(spec.paths.len(), 2);
/// assert_eq!(spec.slice.unwrap().resolve(5000).unwrap(), 0..1000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// The files, in order.
    pub paths: Vec<PathBuf>,
    /// The slice of the concatenated rows, if any.
    pub slice: Option<Slice>,
}

impl DataSpec {
    /// Parses `file[,file...][slice]`. A spec ending in `]` or `)` after a `[` must end in a
    /// valid slice. File names cannot contain commas.
    pub fn parse(spec: &str) -> Result<DataSpec, DataError> {
        let spec = spec.trim();
        let (files, slice) = match spec.rfind('[') {
            Some(i) if (spec.ends_with(']') || spec.ends_with(')')) && !spec[i..].contains(',') => {
                (&spec[..i], Some(Slice::parse(&spec[i..])?))
            }
            _ => (spec, None),
        };
        let paths: Vec<PathBuf> = files.split(',').map(str::trim).map(PathBuf::from).collect();
        if paths.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(DataError::Invalid(format!(
                "invalid data spec '{spec}': an empty file name"
            )));
        }
        Ok(DataSpec { paths, slice })
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.paths.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{}", p.display())?;
        }
        if let Some(s) = &self.slice {
            write!(f, "{s}")?;
        }
        Ok(())
    }
}
