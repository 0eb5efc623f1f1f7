//! Parquet, as Hugging Face `datasets` and pyarrow write it (snappy, gzip, zstd, lz4 or none).
//! Nested struct fields are named with dots (`translation.en`). A column that the file's
//! `huggingface` metadata declares as a `ClassLabel`, or as a list of them (a `Sequence` /
//! `List` feature: NER tags), is read as its class names.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use parquet::schema::types::Type;

use super::{list_names, Cell, FileInfo, Sink};
use crate::DataError;

/// A Parquet value as a cell.
fn cell(field: &Field) -> Cell {
    match field {
        Field::Str(s) => Cell::Str(s.clone()),
        Field::Null => Cell::Null,
        Field::Byte(v) => Cell::Int(*v as i64),
        Field::Short(v) => Cell::Int(*v as i64),
        Field::Int(v) => Cell::Int(*v as i64),
        Field::Long(v) => Cell::Int(*v),
        Field::UByte(v) => Cell::Int(*v as i64),
        Field::UShort(v) => Cell::Int(*v as i64),
        Field::UInt(v) => Cell::Int(*v as i64),
        Field::ULong(v) => i64::try_from(*v).map_or_else(|_| Cell::Other(format!("an integer ({v})")), Cell::Int),
        Field::Bool(b) => Cell::Other(format!("a boolean ({b})")),
        Field::Float(v) => Cell::Other(format!("a number ({v})")),
        Field::Double(v) => Cell::Other(format!("a number ({v})")),
        Field::Float16(v) => Cell::Other(format!("a number ({v})")),
        Field::Bytes(_) => Cell::Other("binary data".into()),
        Field::Group(_) => Cell::Other("a struct".into()),
        Field::ListInternal(l) => Cell::List(l.elements().iter().map(cell).collect()),
        Field::MapInternal(_) => Cell::Other("a map".into()),
        other => Cell::Other(format!("a {} value", kind(other))),
    }
}

/// The name of a field's type, for messages.
fn kind(field: &Field) -> &'static str {
    match field {
        Field::Decimal(_) => "decimal",
        Field::Date(_) => "date",
        Field::TimeMillis(_) | Field::TimeMicros(_) => "time",
        Field::TimestampMillis(_) | Field::TimestampMicros(_) => "timestamp",
        _ => "non-text",
    }
}

/// Every leaf column as a dotted path, for "the columns are" messages.
fn leaf_paths(t: &Type, prefix: &str, out: &mut Vec<String>) {
    for f in t.get_fields() {
        let name = if prefix.is_empty() {
            f.name().to_string()
        } else {
            format!("{prefix}.{}", f.name())
        };
        if f.is_group() && !f.get_fields().is_empty() && f.get_basic_info().logical_type_ref().is_none() {
            leaf_paths(f, &name, out);
        } else {
            out.push(name);
        }
    }
}

/// How to find a wanted column: the path from the top level, as field names.
fn resolve(root: &Type, wanted: &str) -> Option<Vec<String>> {
    if root.get_fields().iter().any(|f| f.name() == wanted) {
        return Some(vec![wanted.to_string()]);
    }
    let parts: Vec<String> = wanted.split('.').map(str::to_string).collect();
    let mut t = root;
    for p in &parts {
        t = t.get_fields().iter().find(|f| f.name() == p.as_str())?;
    }
    Some(parts)
}

/// The value at a path in a row.
fn lookup<'a>(row: &'a Row, path: &[String]) -> Result<&'a Field, String> {
    let mut current = row;
    for (k, part) in path.iter().enumerate() {
        let field = current
            .get_column_iter()
            .find(|(name, _)| *name == part)
            .map(|(_, f)| f)
            .ok_or_else(|| format!("no field '{}'", path[..=k].join(".")))?;
        if k + 1 == path.len() {
            return Ok(field);
        }
        current = match field {
            Field::Group(g) => g,
            Field::Null => return Err(format!("column '{}' is null", path[..=k].join("."))),
            other => {
                return Err(format!(
                    "column '{}' is {}, not a struct",
                    path[..=k].join("."),
                    cell(other).describe()
                ))
            }
        };
    }
    unreachable!("paths have at least one part")
}

/// The `ClassLabel` names the `huggingface` metadata declares for top-level columns, of the
/// column itself or of its elements when it is a list (`Sequence` in `datasets` < 4, `List`
/// since).
fn class_labels(reader: &SerializedFileReader<File>, wanted: &[&str]) -> Vec<Option<Vec<String>>> {
    let meta = reader.metadata().file_metadata().key_value_metadata();
    let hf = meta
        .and_then(|kv| kv.iter().find(|k| k.key == "huggingface"))
        .and_then(|k| k.value.as_deref());
    let features = hf
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|v| v.pointer("/info/features").cloned());
    wanted
        .iter()
        .map(|w| {
            let mut feature = features.as_ref()?.get(*w)?;
            if matches!(feature.get("_type")?.as_str()?, "Sequence" | "List" | "LargeList") {
                feature = feature.get("feature")?;
            }
            if feature.get("_type")?.as_str()? != "ClassLabel" {
                return None;
            }
            feature
                .get("names")?
                .as_array()?
                .iter()
                .map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

/// A `ClassLabel` id as its name (each element of a list); other cells as they are.
fn class_name(c: Cell, names: &[String], column: &str) -> Result<Cell, String> {
    match c {
        Cell::Int(v) => match usize::try_from(v).ok().and_then(|v| names.get(v)) {
            Some(name) => Ok(Cell::Str(name.clone())),
            None if v == -1 => Err(format!("missing label: column '{column}' is -1 (no ClassLabel)")),
            None => Err(format!(
                "column '{column}': {v} is not a class id of its ClassLabel ({} names)",
                names.len()
            )),
        },
        Cell::List(items) => items
            .into_iter()
            .map(|c| class_name(c, names, column))
            .collect::<Result<_, _>>()
            .map(Cell::List),
        c => Ok(c),
    }
}

pub(super) fn read(path: &Path, wanted: &[&str], sink: &mut Sink) -> Result<FileInfo, DataError> {
    crate::guard::catch_quietly(|| read_unguarded(path, wanted, sink)).unwrap_or_else(|why| {
        Err(DataError::File {
            path: path.to_path_buf(),
            message: format!("corrupt Parquet file (the decoder failed: {})", why.replace('\n', " ")),
        })
    })
}

fn read_unguarded(path: &Path, wanted: &[&str], sink: &mut Sink) -> Result<FileInfo, DataError> {
    let file_err = |message: String| DataError::File {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(|e| file_err(format!("not a readable Parquet file: {e}")))?;
    let root = reader.metadata().file_metadata().schema_descr().root_schema();
    let mut paths = Vec::with_capacity(wanted.len());
    for w in wanted {
        match resolve(root, w) {
            Some(p) => paths.push(p),
            None => {
                let mut all = Vec::new();
                leaf_paths(root, "", &mut all);
                return Err(file_err(format!(
                    "no column '{w}'; the columns are: {}",
                    list_names(&all)
                )));
            }
        }
    }
    // Read only the top-level columns that are needed.
    let projection: Vec<Arc<Type>> = root
        .get_fields()
        .iter()
        .filter(|f| paths.iter().any(|p| p[0] == f.name()))
        .cloned()
        .collect();
    let projection = Type::group_type_builder(root.name())
        .with_fields(projection)
        .build()
        .map_err(|e| file_err(format!("cannot select the columns: {e}")))?;
    let class_names = class_labels(&reader, wanted);
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| file_err(format!("cannot read the rows: {e}")))?;
    for (i, row) in rows.enumerate() {
        let number = i + 1;
        let row = row.map_err(|e| DataError::Row {
            path: path.to_path_buf(),
            line: number,
            message: format!("cannot decode the row: {e}"),
        })?;
        let cells = paths
            .iter()
            .zip(&class_names)
            .map(|(p, names)| {
                let c = cell(lookup(&row, p)?);
                match names {
                    Some(names) => class_name(c, names, &p.join(".")),
                    None => Ok(c),
                }
            })
            .collect();
        if !sink(number, cells)? {
            break;
        }
    }
    Ok(FileInfo { class_names })
}
