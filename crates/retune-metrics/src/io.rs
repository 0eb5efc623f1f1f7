//! Reading line-aligned text files as sacrebleu does: UTF-8, split on `\n` only, each line
//! right-stripped of Python whitespace; a final newline does not add an empty line.

use crate::error::MetricsError;
use crate::text::py_rstrip;
use std::path::{Path, PathBuf};

/// A line-aligned text file held whole in one buffer, checked to be UTF-8; its lines borrow from
/// it (no allocation per line: a 100k-line corpus is read in one piece).
#[derive(Debug)]
pub struct TextFile {
    path: PathBuf,
    text: String,
}

impl TextFile {
    /// Reads `path` (or standard input for `-`).
    pub fn read(path: &Path) -> Result<TextFile, MetricsError> {
        let io = |source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = if path.as_os_str() == "-" {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(io)?;
            v
        } else {
            std::fs::read(path).map_err(io)?
        };
        TextFile::from_bytes(bytes, path)
    }

    /// Takes `bytes` as the contents of `path` (named in errors).
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<TextFile, MetricsError> {
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let before = &e.as_bytes()[..at];
            let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
            MetricsError::InvalidUtf8 {
                path: path.to_path_buf(),
                line: memchr::memchr_iter(b'\n', before).count() + 1,
                byte: at - line_start + 1,
            }
        })?;
        Ok(TextFile {
            path: path.to_path_buf(),
            text,
        })
    }

    /// The file's path (or `-`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lines as sacrebleu reads them: split on `\n` only, each right-stripped of Python
    /// whitespace; a final newline does not add an empty line.
    pub fn lines(&self) -> Vec<&str> {
        if self.text.is_empty() {
            return Vec::new();
        }
        let body = self.text.strip_suffix('\n').unwrap_or(&self.text);
        let mut lines = Vec::new();
        let mut start = 0;
        // `\n` is one byte of UTF-8: every cut is on a character boundary.
        for end in memchr::memchr_iter(b'\n', body.as_bytes()) {
            lines.push(py_rstrip(&body[start..end]));
            start = end + 1;
        }
        lines.push(py_rstrip(&body[start..]));
        lines
    }
}

/// Reads `path` (or standard input for `-`) into right-stripped lines.
pub fn read_lines(path: &Path) -> Result<Vec<String>, MetricsError> {
    let file = TextFile::read(path)?;
    Ok(file.lines().into_iter().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<String> {
        let f = TextFile::from_bytes(bytes.to_vec(), Path::new("x")).unwrap();
        f.lines().into_iter().map(str::to_string).collect()
    }

    #[test]
    fn lines_like_python() {
        let p = Path::new("x");
        assert_eq!(lines(b"a \n\nb\r\n"), ["a", "", "b"]);
        assert_eq!(lines(b"a"), ["a"]);
        assert!(lines(b"").is_empty());
        match TextFile::from_bytes(b"ok\nb\xffad\n".to_vec(), p) {
            Err(MetricsError::InvalidUtf8 { line, byte, .. }) => assert_eq!((line, byte), (2, 2)),
            other => panic!("unexpected {other:?}"),
        }
        match TextFile::from_bytes(b"\xff\n".to_vec(), p) {
            Err(MetricsError::InvalidUtf8 { line, byte, .. }) => assert_eq!((line, byte), (1, 1)),
            other => panic!("unexpected {other:?}"),
        }
        // Python's str.split("\n") then rstrip: trailing blank lines are kept.
        assert_eq!(lines(b"x\r\n\n\n"), ["x", "", ""]);
    }
}
