//! Reading line-aligned text files as sacrebleu does: UTF-8, split on `\n` only, each line
//! right-stripped of Python whitespace; a final newline does not add an empty line.

use crate::error::MetricsError;
use crate::text::py_rstrip;
use std::path::Path;

/// Reads `path` (or standard input for `-`) into right-stripped lines.
pub fn read_lines(path: &Path) -> Result<Vec<String>, MetricsError> {
    let bytes = if path.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        v
    } else {
        std::fs::read(path).map_err(|source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        })?
    };
    split_lines(&bytes, path)
}

/// Splits a byte buffer into right-stripped UTF-8 lines; `path` names the source in errors.
pub fn split_lines(bytes: &[u8], path: &Path) -> Result<Vec<String>, MetricsError> {
    let mut lines = Vec::new();
    if bytes.is_empty() {
        return Ok(lines);
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let s = std::str::from_utf8(raw).map_err(|e| MetricsError::InvalidUtf8 {
            path: path.to_path_buf(),
            line: i + 1,
            byte: e.valid_up_to() + 1,
        })?;
        lines.push(py_rstrip(s).to_string());
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_like_python() {
        let p = Path::new("x");
        assert_eq!(split_lines(b"a \n\nb\r\n", p).unwrap(), ["a", "", "b"]);
        assert_eq!(split_lines(b"a", p).unwrap(), ["a"]);
        assert!(split_lines(b"", p).unwrap().is_empty());
        match split_lines(b"ok\nb\xffad\n", p) {
            Err(MetricsError::InvalidUtf8 { line, byte, .. }) => assert_eq!((line, byte), (2, 2)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
