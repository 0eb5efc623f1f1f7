//! JSON Lines: one JSON object per line. Nested fields are named with dots (`translation.en`).

use std::path::Path;

use serde_json::{Map, Value};

use super::{list_names, utf8, Cell, FileInfo, Lines, Sink};
use crate::DataError;

/// A JSON value as a cell.
fn cell(value: &Value) -> Cell {
    match value {
        Value::String(s) => Cell::Str(s.clone()),
        Value::Null => Cell::Null,
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Other(format!("a number ({n})")),
        },
        Value::Bool(b) => Cell::Other(format!("a boolean ({b})")),
        Value::Array(_) => Cell::Other("an array".into()),
        Value::Object(_) => Cell::Other("an object".into()),
    }
}

/// For messages: `an array`, `a string`, ...
fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Null => "null",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at `path`: a key with that exact name, else the dotted path through nested objects.
pub(super) fn lookup<'a>(object: &'a Map<String, Value>, path: &str) -> Result<&'a Value, String> {
    if let Some(v) = object.get(path) {
        return Ok(v);
    }
    let mut current = object;
    let mut walked = String::new();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let where_ = if walked.is_empty() {
            String::new()
        } else {
            format!(" in '{walked}'")
        };
        let value = current.get(part).ok_or_else(|| {
            let keys: Vec<&String> = current.keys().collect();
            format!("no field '{part}'{where_} (the fields are: {})", list_names(&keys))
        })?;
        if parts.peek().is_none() {
            return Ok(value);
        }
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(part);
        current = match value {
            Value::Object(o) => o,
            other => return Err(format!("field '{walked}' is {}, not an object", kind(other))),
        };
    }
    unreachable!("split yields at least one part")
}

pub(super) fn read(path: &Path, wanted: &[&str], sink: &mut Sink) -> Result<FileInfo, DataError> {
    let mut lines = Lines::open(path)?;
    while let Some((number, line)) = lines.next_line()? {
        let row = utf8(line).and_then(|text| {
            if text.trim().is_empty() {
                return Err("empty line (expected a JSON object)".to_string());
            }
            let value: Value = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
            let Value::Object(object) = value else {
                return Err(format!("expected a JSON object, found {}", kind(&value)));
            };
            wanted.iter().map(|w| lookup(&object, w).map(cell)).collect()
        });
        if !sink(number, row)? {
            break;
        }
    }
    Ok(FileInfo::default())
}
