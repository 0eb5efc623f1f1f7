//! Python-compatible text helpers.
//!
//! The reference implementations (sacrebleu, rouge-score, nltk) are written in Python, whose idea
//! of whitespace differs from Rust's: `str.split()` and `str.strip()` also treat the ASCII
//! separators U+001C..U+001F as whitespace, which `char::is_whitespace` does not. Every metric in
//! this crate splits and strips through these helpers so that scores agree to the last bit.

/// Whether `c` is whitespace for Python's `str.isspace()` (and so for `str.split()`).
///
/// ```
/// use retune_metrics::text::is_py_whitespace;
/// assert!(is_py_whitespace('\u{1c}'));
/// assert!(is_py_whitespace('\u{3000}'));
/// assert!(!is_py_whitespace('\u{200b}'));
/// ```
#[inline]
pub fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python whitespace test for an ASCII byte (`b < 0x80`).
#[inline]
fn is_py_ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

/// Calls `f` with each whitespace-separated token of `s`, as Python's `s.split()` yields them.
///
/// ```
/// use retune_metrics::text::for_each_py_token;
/// let mut v = Vec::new();
/// for_each_py_token(" a\u{1f}b\u{a0}c ", |t| v.push(t.to_string()));
/// assert_eq!(v, ["a", "b", "c"]);
/// ```
#[inline]
pub fn for_each_py_token<'a>(s: &'a str, mut f: impl FnMut(&'a str)) {
    let bytes = s.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (space, width) = if b < 0x80 {
            (is_py_ascii_space(b), 1)
        } else {
            // Decode one multi-byte character; only a few are whitespace.
            let c = s[i..].chars().next().unwrap_or('\0');
            (c.is_whitespace(), c.len_utf8())
        };
        if space {
            if let Some(st) = start.take() {
                f(&s[st..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += width;
    }
    if let Some(st) = start {
        f(&s[st..]);
    }
}

/// Python's `s.split()`: the whitespace-separated tokens of `s`.
pub fn py_split(s: &str) -> Vec<&str> {
    let mut v = Vec::new();
    for_each_py_token(s, |t| v.push(t));
    v
}

/// Python's `s.rstrip()`.
pub fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_whitespace)
}

/// Python's `s.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_whitespace)
}

/// Python's `" ".join(s.split())`: whitespace runs collapsed to one space, ends trimmed.
pub fn py_normalize_spaces(s: &str, out: &mut String) {
    out.clear();
    for_each_py_token(s, |t| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    });
}

/// Python's `str.lower()` (full Unicode lower-casing, as Rust's `to_lowercase`).
pub fn py_lower(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_python_whitespace_set() {
        // Python: 'a\x1cb\x85c\u2028d\u200be'.split() == ['a', 'b', 'c', 'd\u200be']
        assert_eq!(
            py_split("a\u{1c}b\u{85}c\u{2028}d\u{200b}e"),
            ["a", "b", "c", "d\u{200b}e"]
        );
        assert_eq!(py_split(""), Vec::<&str>::new());
        assert_eq!(py_split(" \t "), Vec::<&str>::new());
    }

    #[test]
    fn strip_matches_python() {
        assert_eq!(py_rstrip("ab \u{1f}\u{3000}"), "ab");
        assert_eq!(py_strip("\u{1e} ab \u{a0}"), "ab");
        let mut s = String::new();
        py_normalize_spaces("  a \u{1d} b  ", &mut s);
        assert_eq!(s, "a b");
    }
}
