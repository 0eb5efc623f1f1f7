//! The Tercom tokenizer as sacrebleu applies it: lowercasing, Western normalisation, CJK
//! splitting, punctuation removal and Python `str.split()` whitespace.

use super::*;

/// Writes the Tercom tokenization of `s` into `out` (cleared first).
pub(super) fn tokenize_into(opts: &TerOptions, s: &str, out: &mut String) {
    out.clear();
    if s.is_empty() {
        return;
    }
    if !opts.normalized && s.is_ascii() {
        // Same steps fused into one pass: lowercase, drop punctuation, collapse
        // whitespace (ASCII part of Python's set: \t \n \v \f \r, 0x1c-0x1f, space).
        let mut gap = false;
        for &b in s.as_bytes() {
            if matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ') {
                gap = true;
                continue;
            }
            if opts.no_punct && matches!(b, b'.' | b',' | b'?' | b':' | b';' | b'!' | b'"' | b'(' | b')') {
                continue;
            }
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(if opts.case_sensitive { b } else { b.to_ascii_lowercase() } as char);
        }
        return;
    }
    let mut cur: String = if opts.case_sensitive { s.to_owned() } else { py_lower(s) };
    if opts.normalized {
        cur = normalize_general_and_western(&cur);
        if opts.asian_support {
            cur = map_chars(&cur, |c| if is_asian_split(c) { Some(true) } else { None });
        }
    }
    if opts.no_punct {
        let asian = opts.asian_support;
        cur = map_chars(&cur, |c| {
            if matches!(c, '.' | ',' | '?' | ':' | ';' | '!' | '"' | '(' | ')')
                || (asian && (is_asian_punct(c) || is_full_width_punct(c)))
            {
                Some(false)
            } else {
                None
            }
        });
    }
    collapse_whitespace(&cur, out);
}

/// `' '.join(s.split())` appended to the empty `out`.
pub(super) fn collapse_whitespace(s: &str, out: &mut String) {
    if s.is_ascii() {
        for w in s.as_bytes().split(|&b| matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ')) {
            if !w.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                // ASCII, hence valid UTF-8.
                out.push_str(std::str::from_utf8(w).expect("ASCII"));
            }
        }
        return;
    }
    for w in s.split(is_py_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
}

/// Python 3.11's `str.lower()`: the full Unicode lowercase mapping with the
/// final-sigma rule, as Rust's `str::to_lowercase`, except for the letters that
/// got a lowercase mapping after Unicode 14.0 (Python 3.11's tables), which
/// are kept as they are.
pub(super) fn py_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    if !s.chars().any(is_newer_uppercase) {
        return s.to_lowercase();
    }
    // Those letters are unassigned (neither cased nor case-ignorable) for
    // Python, so cutting the text at them leaves the final-sigma context intact.
    let mut out = String::with_capacity(s.len());
    let mut seg_start = 0;
    for (i, c) in s.char_indices() {
        if is_newer_uppercase(c) {
            out.push_str(&s[seg_start..i].to_lowercase());
            out.push(c);
            seg_start = i + c.len_utf8();
        }
    }
    out.push_str(&s[seg_start..].to_lowercase());
    out
}

/// Letters with a lowercase mapping in Rust's Unicode tables but not in
/// Unicode 14.0 (found by comparing `str.lower()` and `to_lowercase` over all
/// code points).
pub(super) fn is_newer_uppercase(c: char) -> bool {
    matches!(c,
        '\u{1c89}' | '\u{a7cb}'..='\u{a7cc}' | '\u{a7ce}' | '\u{a7d2}' | '\u{a7d4}' | '\u{a7da}'
        | '\u{a7dc}' | '\u{10d50}'..='\u{10d65}' | '\u{16ea0}'..='\u{16eb8}')
}

/// Rewrites each char: `f(c) == Some(true)` surrounds it with spaces,
/// `Some(false)` drops it, `None` keeps it.
pub(super) fn map_chars(s: &str, f: impl Fn(char) -> Option<bool>) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match f(c) {
            Some(true) => {
                out.push(' ');
                out.push(c);
                out.push(' ');
            }
            Some(false) => {}
            None => out.push(c),
        }
    }
    out
}

/// CJK characters that the Asian normaliser splits to character level:
/// ideographs (+ extension A), strokes, radicals, compatibility blocks,
/// enclosed letters (sacrebleu's range U+3200..U+3F22), and CJK / full-width
/// punctuation. (sacrebleu's Hiragana/Katakana rules are anchored with `^` at
/// a string that always starts with a space at that point, so they never fire.)
pub(super) fn is_asian_split(c: char) -> bool {
    matches!(c,
        '\u{4e00}'..='\u{9fff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{31c0}'..='\u{31ef}'
        | '\u{2e80}'..='\u{2eff}'
        | '\u{3300}'..='\u{33ff}'
        | '\u{f900}'..='\u{faff}'
        | '\u{fe30}'..='\u{fe4f}'
        | '\u{3200}'..='\u{3f22}')
        || is_asian_punct(c)
        || is_full_width_punct(c)
}

/// sacrebleu's `TercomTokenizer.ASIAN_PUNCT` character class.
pub(super) fn is_asian_punct(c: char) -> bool {
    matches!(c,
        '\u{3001}' | '\u{3002}' | '\u{3008}'..='\u{3011}' | '\u{3014}'..='\u{301f}'
        | '\u{ff61}'..='\u{ff65}' | '\u{30fb}')
}

/// sacrebleu's `TercomTokenizer.FULL_WIDTH_PUNCT` character class.
pub(super) fn is_full_width_punct(c: char) -> bool {
    matches!(
        c,
        '\u{ff0e}'
            | '\u{ff0c}'
            | '\u{ff1f}'
            | '\u{ff1a}'
            | '\u{ff1b}'
            | '\u{ff01}'
            | '\u{ff02}'
            | '\u{ff08}'
            | '\u{ff09}'
    )
}

/// ASCII characters of the class `[{-~[-\` -&(-+:-@/]` that the Western
/// normaliser surrounds with spaces.
pub(super) fn is_western_punct(b: u8) -> bool {
    matches!(b, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/')
}

/// sacrebleu's `_normalize_general_and_western`. The regex substitutions are
/// replayed as left-to-right, non-overlapping scans over UTF-8 bytes; every
/// pattern byte is ASCII, and `[^0-9]` against a multi-byte character behaves
/// the same byte-wise because continuation bytes are never `.`, `,` or `-`.
pub(super) fn normalize_general_and_western(s: &str) -> String {
    let mut t: String = if s.contains('\n') {
        s.replace("\n-", "").replace('\n', " ")
    } else {
        s.to_owned()
    };
    if t.contains('&') {
        t = t
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    // " {sent} " with punctuation tokenised.
    let mut a: Vec<u8> = Vec::with_capacity(t.len() * 2 + 4);
    a.push(b' ');
    for &b in t.as_bytes() {
        if is_western_punct(b) {
            a.extend_from_slice(&[b' ', b, b' ']);
        } else {
            a.push(b);
        }
    }
    a.push(b' ');
    // Possessives: "'s " -> " 's ". ("'s$" cannot match: the text ends in a space.)
    let mut b: Vec<u8> = Vec::with_capacity(a.len() + 8);
    let mut i = 0;
    while let Some(off) = a[i..].iter().position(|&x| x == b'\'') {
        let p = i + off;
        b.extend_from_slice(&a[i..p]);
        if a.get(p + 1) == Some(&b's') && a.get(p + 2) == Some(&b' ') {
            b.extend_from_slice(b" 's ");
            i = p + 3;
        } else {
            b.push(b'\'');
            i = p + 1;
        }
    }
    b.extend_from_slice(&a[i..]);
    let is_pc = |x: &u8| *x == b'.' || *x == b',';
    // ([^0-9])([\.,]) -> "\1 \2 ": a match starts right before a '.' or ','
    // that is not already consumed.
    a.clear();
    let mut i = 0;
    while i < b.len() {
        let Some(off) = b[i + 1..].iter().position(is_pc) else {
            break;
        };
        let p = i + 1 + off;
        a.extend_from_slice(&b[i..p - 1]);
        if !b[p - 1].is_ascii_digit() {
            a.extend_from_slice(&[b[p - 1], b' ', b[p], b' ']);
            i = p + 1;
        } else {
            a.push(b[p - 1]);
            i = p;
        }
    }
    a.extend_from_slice(&b[i.min(b.len())..]);
    // ([\.,])([^0-9]) -> " \1 \2"
    b.clear();
    let mut i = 0;
    while let Some(off) = a[i..].iter().position(is_pc) {
        let p = i + off;
        b.extend_from_slice(&a[i..p]);
        if p + 1 < a.len() && !a[p + 1].is_ascii_digit() {
            b.extend_from_slice(&[b' ', a[p], b' ', a[p + 1]]);
            i = p + 2;
        } else {
            b.push(a[p]);
            i = p + 1;
        }
    }
    b.extend_from_slice(&a[i..]);
    // ([0-9])(-) -> "\1 \2 ": a match starts right before a '-'.
    a.clear();
    let mut i = 0;
    while i < b.len() {
        let Some(off) = b[i + 1..].iter().position(|&x| x == b'-') else {
            break;
        };
        let p = i + 1 + off;
        a.extend_from_slice(&b[i..p - 1]);
        if b[p - 1].is_ascii_digit() {
            a.extend_from_slice(&[b[p - 1], b' ', b'-', b' ']);
            i = p + 1;
        } else {
            a.push(b[p - 1]);
            i = p;
        }
    }
    a.extend_from_slice(&b[i.min(b.len())..]);
    // Only ASCII bytes were inserted or removed, at character boundaries.
    String::from_utf8(a).expect("normaliser keeps UTF-8 valid")
}
