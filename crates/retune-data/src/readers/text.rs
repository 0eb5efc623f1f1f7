//! Plain text: one example per line, in one column named `text`.

use std::path::Path;

use super::{list_names, utf8, Cell, FileInfo, Lines, Sink};
use crate::DataError;

/// The column name of a plain-text file.
const COLUMN: &str = "text";

pub(super) fn read(path: &Path, wanted: &[&str], sink: &mut Sink) -> Result<FileInfo, DataError> {
    if let Some(bad) = wanted.iter().find(|&&w| w != COLUMN) {
        return Err(DataError::File {
            path: path.to_path_buf(),
            message: format!(
                "no column '{bad}'; a plain-text file has one column: {}",
                list_names(&[COLUMN])
            ),
        });
    }
    let mut lines = Lines::open(path)?;
    while let Some((number, line)) = lines.next_line()? {
        let row = utf8(line).map(|s| vec![Cell::Str(s); wanted.len()]);
        if !sink(number, row)? {
            break;
        }
    }
    Ok(FileInfo::default())
}
