//! sacrebleu's BLEU tokenizers: `13a` (mteval-v13a, the default), `zh`, `intl` (mteval-v14),
//! `char` and `none`, reproduced exactly, traps included.
//!
//! * `13a` pads the line with a space on each side before its regular expressions run; `zh` and
//!   `intl` do not, so a leading `.` is split differently.
//! * `zh` has sacrebleu's range quirk: its table writes `'\u20000'` and `'\u2f800'`, which Python
//!   reads as two characters (`'\u2000' '0'`), so every character from U+2001 to U+2A6D counts as
//!   Chinese (general punctuation, arrows, math symbols, ...) and CJK Extension B does not.
//! * Whitespace is Python's (U+001C..U+001F included).

use crate::text::{for_each_py_token, py_normalize_spaces, py_strip};

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// A sacrebleu tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Tokenizer {
    /// No tokenization: split on whitespace only.
    None,
    /// mteval-v13a, sacrebleu's default.
    #[default]
    Thirteen,
    /// Chinese: every CJK character is a token, the rest as `13a` (without its padding).
    Zh,
    /// mteval-v14 international tokenization on Unicode punctuation and symbols.
    Intl,
    /// Every non-whitespace character is a token.
    Char,
}

impl Tokenizer {
    /// The name sacrebleu puts in signatures (`tok:13a`).
    pub fn signature(&self) -> &'static str {
        match self {
            Tokenizer::None => "none",
            Tokenizer::Thirteen => "13a",
            Tokenizer::Zh => "zh",
            Tokenizer::Intl => "intl",
            Tokenizer::Char => "char",
        }
    }

    /// Tokenizes `line` into `out` (cleared first); tokens are separated by single spaces.
    ///
    /// ```
    /// use retune_metrics::tokenizers::Tokenizer;
    /// let mut out = String::new();
    /// Tokenizer::Thirteen.tokenize_into("Hello, world (2.5-fold)!", &mut out);
    /// assert_eq!(out, "Hello , world ( 2.5 - fold ) !");
    /// Tokenizer::Zh.tokenize_into("我爱abc.", &mut out);
    /// assert_eq!(out, "我 爱 abc .");
    /// ```
    pub fn tokenize_into(&self, line: &str, out: &mut String) {
        out.clear();
        let mut sc = TokScratch::default();
        let mut bytes = Vec::new();
        self.for_each_token(line, &mut sc, |t| {
            if !bytes.is_empty() {
                bytes.push(b' ');
            }
            bytes.extend_from_slice(t);
        });
        // Tokens are whole-character slices of UTF-8 text.
        out.push_str(&String::from_utf8_lossy(&bytes));
    }

    /// Calls `f` with the bytes of each token of `line` (whole UTF-8 characters), reusing the
    /// buffers in `sc`: the fast path BLEU uses.
    pub(crate) fn for_each_token(&self, line: &str, sc: &mut TokScratch, mut f: impl FnMut(&[u8])) {
        match self {
            Tokenizer::None => for_each_py_token(line, |t| f(t.as_bytes())),
            Tokenizer::Thirteen => for_each_13a_token(line, sc, f),
            Tokenizer::Zh => {
                rules_zh(line, sc);
                for_each_rules_token(&sc.a, line.is_ascii(), &mut f);
            }
            Tokenizer::Intl => {
                tokenize_intl(line, &mut sc.owned);
                for_each_py_token(&sc.owned, |t| f(t.as_bytes()));
            }
            Tokenizer::Char => {
                let mut buf = [0u8; 4];
                for_each_py_token(line, |t| {
                    for c in t.chars() {
                        f(c.encode_utf8(&mut buf).as_bytes());
                    }
                });
            }
        }
    }

    /// Tokenizes `line` and returns the result.
    pub fn tokenize(&self, line: &str) -> String {
        let mut out = String::new();
        self.tokenize_into(line, &mut out);
        out
    }
}

impl fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.signature())
    }
}

impl FromStr for Tokenizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => Tokenizer::None,
            "13a" => Tokenizer::Thirteen,
            "zh" => Tokenizer::Zh,
            "intl" => Tokenizer::Intl,
            "char" => Tokenizer::Char,
            other => {
                return Err(format!(
                    "unknown tokenizer '{other}' (expected one of: 13a, zh, intl, char, none)"
                ))
            }
        })
    }
}

/// Characters of mteval's first rule: ASCII punctuation except `'`, `,`, `-`, `.`.
#[inline]
const fn is_13a_punct(b: u8) -> bool {
    matches!(b, 0x7b..=0x7e | 0x5b..=0x60 | 0x20..=0x26 | 0x28..=0x2b | 0x3a..=0x40 | 0x2f)
}

/// Reusable buffers for the tokenizers' passes.
#[derive(Default)]
pub(crate) struct TokScratch {
    a: Vec<u8>,
    b: Vec<u8>,
    pad: Vec<u8>,
    owned: String,
}

#[inline]
const fn is_ascii_py_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

/// Byte classes of mteval's rules: 0 = plain byte (letters, digits, UTF-8), 1 = whitespace,
/// 2 = rule-1 punctuation, 3 = `.` or `,` (rules 2 and 3), 4 = `-` (rule 4).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if is_ascii_py_space(c) {
            1
        } else if is_13a_punct(c) {
            2
        } else if c == b'.' || c == b',' {
            3
        } else if c == b'-' {
            4
        } else {
            0
        };
        b += 1;
    }
    t
};

/// Runs the four rules of sacrebleu's `TokenizerRegexp` on `src`, leaving the result in
/// `sc.a` (tokens separated by whitespace, not yet normalized).
///
/// Each rule is a left-to-right, non-overlapping substitution, as Python's `re.sub`. Working on
/// bytes gives the same result because every pattern's fixed characters are ASCII and `[^0-9]`
/// accepts any byte of a multi-byte character. ASCII whitespace is collapsed to one space while
/// rule 1 runs: a whitespace character only ever plays the part of "not a digit, not `.`/`,`",
/// and the result is split on whitespace anyway, so this changes no token.
fn regexp_rules(src: &[u8], pad: bool, a: &mut Vec<u8>, b: &mut Vec<u8>) {
    // Rule 1: ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "
    a.clear();
    a.reserve(src.len() * 2 + 8);
    let mut has_dot = false;
    let mut has_dash = false;
    let mut last_space = false;
    if pad {
        a.push(b' ');
        last_space = true;
    }
    let n = src.len();
    let mut i = 0;
    while i < n {
        // Copy the run of plain bytes (letters, digits, UTF-8) in one go.
        let start = i;
        while i < n && CLASS[src[i] as usize] == 0 {
            i += 1;
        }
        if i > start {
            a.extend_from_slice(&src[start..i]);
            last_space = false;
        }
        if i == n {
            break;
        }
        let c = src[i];
        match CLASS[c as usize] {
            1 => {
                if !last_space {
                    a.push(b' ');
                    last_space = true;
                }
            }
            2 => {
                if !last_space {
                    a.push(b' ');
                }
                a.extend_from_slice(&[c, b' ']);
                last_space = true;
            }
            k => {
                has_dot |= k == 3;
                has_dash |= k == 4;
                a.push(c);
                last_space = false;
            }
        }
        i += 1;
    }
    if pad && !last_space {
        a.push(b' ');
    }
    if has_dot {
        // Rule 2: ([^0-9])([\.,]) -> "\1 \2 ". A match can only end at a '.' or ',': copy the
        // stretches between them wholesale.
        b.clear();
        b.reserve(a.len() + 16);
        let n = a.len();
        let mut i = 0;
        while i < n {
            match memchr::memchr2(b'.', b',', &a[(i + 1).min(n)..]) {
                None => {
                    b.extend_from_slice(&a[i..]);
                    break;
                }
                Some(off) => {
                    let j = i + 1 + off;
                    b.extend_from_slice(&a[i..j - 1]);
                    let x = a[j - 1];
                    if !x.is_ascii_digit() {
                        b.extend_from_slice(&[x, b' ', a[j], b' ']);
                        i = j + 1;
                    } else {
                        b.push(x);
                        i = j;
                    }
                }
            }
        }
        // Rule 3: ([\.,])([^0-9]) -> " \1 \2". A match can only start at a '.' or ','.
        a.clear();
        let n = b.len();
        let mut i = 0;
        while i < n {
            match memchr::memchr2(b'.', b',', &b[i..]) {
                None => {
                    a.extend_from_slice(&b[i..]);
                    break;
                }
                Some(off) => {
                    let j = i + off;
                    a.extend_from_slice(&b[i..j]);
                    if j + 1 < n && !b[j + 1].is_ascii_digit() {
                        a.extend_from_slice(&[b' ', b[j], b' ', b[j + 1]]);
                        i = j + 2;
                    } else {
                        a.push(b[j]);
                        i = j + 1;
                    }
                }
            }
        }
    }
    if has_dash {
        // Rule 4: ([0-9])(-) -> "\1 \2 ". A match can only end at a '-'.
        b.clear();
        let n = a.len();
        let mut i = 0;
        while i < n {
            match memchr::memchr(b'-', &a[(i + 1).min(n)..]) {
                None => {
                    b.extend_from_slice(&a[i..]);
                    break;
                }
                Some(off) => {
                    let j = i + 1 + off;
                    b.extend_from_slice(&a[i..j - 1]);
                    let x = a[j - 1];
                    if x.is_ascii_digit() {
                        b.extend_from_slice(&[x, b' ', b'-', b' ']);
                        i = j + 1;
                    } else {
                        b.push(x);
                        i = j;
                    }
                }
            }
        }
        std::mem::swap(a, b);
    }
}

/// Calls `f` with the bytes of each token of `a`, a result of [`regexp_rules`] (or a piece of a
/// line between its rule-1 cuts). Its only ASCII whitespace is `' '` (rule 1 collapsed the rest),
/// so tokens are split with `memchr`; when the line has non-ASCII text a token may still hold
/// Unicode whitespace and is split again the Python way.
fn for_each_rules_token(a: &[u8], ascii: bool, f: &mut impl FnMut(&[u8])) {
    let mut start = 0;
    for pos in memchr::memchr_iter(b' ', a) {
        emit_rules_token(&a[start..pos], ascii, f);
        start = pos + 1;
    }
    emit_rules_token(&a[start..], ascii, f);
}

/// Calls `f` with a token cut by the rules (none if empty), split again at Unicode whitespace
/// when it holds non-ASCII text (`ascii`: the whole line is ASCII). Inlined into the per-word
/// loop: called for every token BLEU hashes.
#[inline(always)]
fn emit_rules_token(tok: &[u8], ascii: bool, f: &mut impl FnMut(&[u8])) {
    if tok.is_empty() {
    } else if ascii || tok.is_ascii() {
        f(tok);
    } else {
        // Only ASCII was inserted or cut at, between whole characters: the token is valid UTF-8.
        let t = std::str::from_utf8(tok).unwrap_or_default();
        for_each_py_token(t, |x| f(x.as_bytes()));
    }
}

/// The first position from `i` on whose byte may not be plain (`CLASS` 0): 16 bytes at a time
/// while 16 remain, checking only the usual plain bytes (ASCII letters and digits, `'`, UTF-8),
/// so the caller looks up whatever it stops at; byte by byte for the rest.
#[inline]
fn plain_run_end(src: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while let Some(chunk) = src.get(i..i + 16) {
        let plain = surely_plain_16(chunk);
        if plain != 0xFFFF {
            return i + (!plain).trailing_zeros() as usize;
        }
        i += 16;
    }
    while i < src.len() && CLASS[src[i] as usize] == 0 {
        i += 1;
    }
    i
}

/// Bit k set where byte k of the first 16 of `chunk` is an ASCII letter or digit, `'` or a
/// UTF-8 byte (>= 0x80): plain bytes, though not all of them (`plain_bytes_by_simd_are_plain`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn surely_plain_16(chunk: &[u8]) -> u32 {
    use std::arch::x86_64::*;
    assert!(chunk.len() >= 16);
    // SAFETY: SSE2 is part of the x86_64 baseline; the load reads 16 bytes of `chunk`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        // x in lo..lo + width, as a signed comparison after shifting lo to -128.
        let within = |x: __m128i, lo: u8, width: i8| {
            let shifted = _mm_add_epi8(x, _mm_set1_epi8(128u8.wrapping_sub(lo) as i8));
            _mm_cmplt_epi8(shifted, _mm_set1_epi8(-128 + width))
        };
        let letter = within(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', 26);
        let digit = within(v, b'0', 10);
        let utf8 = _mm_cmplt_epi8(v, _mm_setzero_si128());
        let apostrophe = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\'' as i8));
        let plain = _mm_or_si128(_mm_or_si128(letter, digit), _mm_or_si128(utf8, apostrophe));
        _mm_movemask_epi8(plain) as u32
    }
}

/// What rules 2–4 do to a word alone between two spaces (`rule_chars`: its count of `.`, `,`
/// and `-`), for the two shapes most words with those characters have.
enum WordShape {
    /// Left as it is: no `.` or `,` with a non-digit on either side (outside the word counts
    /// as a non-digit), no `-` after a digit (`well-known`, `3.5`, `1,000`).
    Unchanged,
    /// `.` or `,` after a non-digit (or alone) at the end of a word with no other rule
    /// character: split off as a token of its own (`end.`, `however,`).
    TrailingMark,
    /// Anything else: [`regexp_rules`] on the word.
    Other,
}

#[inline]
fn rules_13a_shape(word: &[u8], rule_chars: usize) -> WordShape {
    if rule_chars == 0 {
        return WordShape::Unchanged;
    }
    let digit = |k: usize| word.get(k).is_some_and(u8::is_ascii_digit);
    let last = word.len() - 1;
    if rule_chars == 1 && matches!(word[last], b'.' | b',') && (last == 0 || !digit(last - 1)) {
        return WordShape::TrailingMark;
    }
    // Rule 2 fires on a `.`/`,` after a non-digit, rule 3 before one, rule 4 on a `-` after a
    // digit; none firing leaves the word unchanged.
    let fires = word.iter().enumerate().any(|(k, &c)| match c {
        b'.' | b',' => k == 0 || !digit(k - 1) || !digit(k + 1),
        b'-' => k > 0 && digit(k - 1),
        _ => false,
    });
    if fires {
        WordShape::Other
    } else {
        WordShape::Unchanged
    }
}

/// mteval-v13a's tokens of `line` (its pre-processing, padding and four rules), straight from
/// the line in one pass.
///
/// The rules after the first only look at adjacent pairs around a `.`, `,` or `-` and only ever
/// insert spaces, and whitespace takes part in them only as "not a digit": so they act on each
/// word (a run of bytes that are neither whitespace nor rule-1 punctuation) as on the word
/// alone between two spaces. A word without `.`, `,` or `-` is a token as it stands (most are);
/// one with them goes through [`regexp_rules`] on its own; rule-1 punctuation is a token by
/// itself. Tokens with non-ASCII text are split again the Python way (Unicode whitespace).
/// `fast_rules_equal_the_regex_semantics_on_random_text` checks this against the rules applied
/// to the whole line.
fn for_each_13a_token(line: &str, sc: &mut TokScratch, mut f: impl FnMut(&[u8])) {
    let special = memchr::memchr3(b'<', b'\n', b'&', line.as_bytes()).is_some();
    let mut owned = std::mem::take(&mut sc.owned);
    let line: &str = if special {
        owned = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
        if owned.contains('&') {
            owned = owned
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">");
        }
        &owned
    } else {
        line
    };
    let ascii = line.is_ascii();
    let src = line.as_bytes();
    let (mut i, n) = (0, src.len());
    while i < n {
        // A word: plain bytes, `.`, `,` and `-`.
        let start = i;
        let mut rule_chars = 0usize;
        loop {
            i = plain_run_end(src, i);
            if i == n {
                break;
            }
            match CLASS[src[i] as usize] {
                0 => {}
                3 | 4 => rule_chars += 1,
                _ => break,
            }
            i += 1;
        }
        if i > start {
            let word = &src[start..i];
            match rules_13a_shape(word, rule_chars) {
                WordShape::Unchanged => emit_rules_token(word, ascii, &mut f),
                WordShape::TrailingMark => {
                    let (body, mark) = word.split_at(word.len() - 1);
                    emit_rules_token(body, ascii, &mut f);
                    f(mark);
                }
                WordShape::Other => {
                    regexp_rules(word, true, &mut sc.a, &mut sc.b);
                    for_each_rules_token(&sc.a, ascii, &mut f);
                }
            }
        }
        if i < n {
            if CLASS[src[i] as usize] == 2 {
                emit_rules_token(&src[i..i + 1], ascii, &mut f);
            }
            i += 1;
        }
    }
    sc.owned = owned;
}

/// sacrebleu's `TokenizerZh._is_chinese_char`, including its range quirk (see module docs).
pub fn is_chinese_char(c: char) -> bool {
    const RANGES: [(u32, u32); 22] = [
        (0x3400, 0x4db5),
        (0x4e00, 0x9fa5),
        (0x9fa6, 0x9fbb),
        (0xf900, 0xfa2d),
        (0xfa30, 0xfa6a),
        (0xfa70, 0xfad9),
        (0x2001, 0x2a6d), // written '\u20000'..'\u2a6d6' in sacrebleu
        (0x2f81, 0x2fa1), // written '\u2f800'..'\u2fa1d' in sacrebleu
        (0xff00, 0xffef),
        (0x2e80, 0x2eff),
        (0x3000, 0x303f),
        (0x31c0, 0x31ef),
        (0x2f00, 0x2fdf),
        (0x2ff0, 0x2fff),
        (0x3100, 0x312f),
        (0x31a0, 0x31bf),
        (0xfe10, 0xfe1f),
        (0xfe30, 0xfe4f),
        (0x2600, 0x26ff),
        (0x2700, 0x27bf),
        (0x3200, 0x32ff),
        (0x3300, 0x33ff),
    ];
    let u = c as u32;
    if u < 0x2001 {
        return false;
    }
    RANGES.iter().any(|&(lo, hi)| lo <= u && u <= hi)
}

/// sacrebleu's `zh` tokenization up to its rules; the result is in `sc.a`.
fn rules_zh(line: &str, sc: &mut TokScratch) {
    let line = py_strip(line);
    let spaced = &mut sc.pad;
    spaced.clear();
    if line.is_ascii() {
        spaced.extend_from_slice(line.as_bytes());
    } else {
        let mut buf = [0u8; 4];
        for c in line.chars() {
            if is_chinese_char(c) {
                spaced.push(b' ');
                spaced.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                spaced.push(b' ');
            } else {
                spaced.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    regexp_rules(&sc.pad, false, &mut sc.a, &mut sc.b);
}

struct IntlRules {
    nonnum_punct: regex::Regex,
    punct_nonnum: regex::Regex,
    symbol: regex::Regex,
}

fn intl_rules() -> &'static IntlRules {
    static RULES: OnceLock<IntlRules> = OnceLock::new();
    RULES.get_or_init(|| IntlRules {
        nonnum_punct: regex::Regex::new(r"(\P{N})(\p{P})").expect("valid regex"),
        punct_nonnum: regex::Regex::new(r"(\p{P})(\P{N})").expect("valid regex"),
        symbol: regex::Regex::new(r"(\p{S})").expect("valid regex"),
    })
}

fn tokenize_intl(line: &str, out: &mut String) {
    let r = intl_rules();
    let s = r.nonnum_punct.replace_all(line, "${1} ${2} ");
    let s = r.punct_nonnum.replace_all(&s, " ${1} ${2}");
    let s = r.symbol.replace_all(&s, " ${1} ");
    py_normalize_spaces(&s, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_a_hand_cases() {
        // Expected strings computed by hand from the mteval-v13a rules.
        let t = Tokenizer::Thirteen;
        assert_eq!(t.tokenize("a.b"), "a . b");
        assert_eq!(t.tokenize("3.14 and 1,000."), "3.14 and 1,000 .");
        assert_eq!(t.tokenize("x &amp; y &lt;z&gt;"), "x & y < z >");
        assert_eq!(t.tokenize("pre-\nfix <skipped>"), "prefix");
        assert_eq!(t.tokenize(".5"), ". 5"); // padding makes the leading dot a token
        assert_eq!(t.tokenize("1990-2000"), "1990 - 2000");
    }

    #[test]
    fn zh_quirks() {
        let t = Tokenizer::Zh;
        assert_eq!(t.tokenize(".5"), ".5"); // no padding in zh
        assert!(is_chinese_char('\u{2013}')); // en dash: inside the quirky U+2001..U+2A6D
        assert!(!is_chinese_char('\u{2000}'));
        assert!(!is_chinese_char('\u{20001}')); // real CJK Extension B is not matched
        assert_eq!(t.tokenize("a\u{2014}b"), "a \u{2014} b");
    }

    /// The rules exactly as sacrebleu's regular expressions apply them, one pass each over
    /// characters, with no shortcut: the oracle for the fast byte-level version.
    fn naive_rules(line: &str) -> Vec<String> {
        let p1 =
            |c: char| matches!(c as u32, 0x7b..=0x7e | 0x5b..=0x60 | 0x20..=0x26 | 0x28..=0x2b | 0x3a..=0x40 | 0x2f);
        let mut s: Vec<char> = Vec::new();
        for c in line.chars() {
            if p1(c) {
                s.extend([' ', c, ' ']);
            } else {
                s.push(c);
            }
        }
        let pass = |s: &[char], m: &dyn Fn(char, char) -> bool, r: &dyn Fn(char, char) -> Vec<char>| {
            let mut o = Vec::new();
            let mut i = 0;
            while i < s.len() {
                if i + 1 < s.len() && m(s[i], s[i + 1]) {
                    o.extend(r(s[i], s[i + 1]));
                    i += 2;
                } else {
                    o.push(s[i]);
                    i += 1;
                }
            }
            o
        };
        let dot = |c: char| c == '.' || c == ',';
        let s = pass(&s, &|a, b| !a.is_ascii_digit() && dot(b), &|a, b| vec![a, ' ', b, ' ']);
        let s = pass(&s, &|a, b| dot(a) && !b.is_ascii_digit(), &|a, b| vec![' ', a, ' ', b]);
        let s = pass(&s, &|a, b| a.is_ascii_digit() && b == '-', &|a, b| vec![a, ' ', b, ' ']);
        let s: String = s.into_iter().collect();
        crate::text::py_split(&s).into_iter().map(String::from).collect()
    }

    #[test]
    fn fast_rules_equal_the_regex_semantics_on_random_text() {
        let alphabet: Vec<char> = "ab1 9.,-.,-\t\u{1c}\u{3000}\u{a0}é中(&'/:x0".chars().collect();
        let mut next = crate::test_stream(0x2545_F491_4F6C_DD1Du64);
        for _ in 0..40000 {
            // Several words per line: 13a runs the later rules word by word.
            let len = (next() % 40) as usize;
            let line: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let padded = format!(" {line} ");
            let want13a = naive_rules(&padded).join(" ");
            assert_eq!(Tokenizer::Thirteen.tokenize(&line), want13a, "13a on {line:?}");
            // zh: strip, space out Chinese characters, then the rules without padding.
            let zh: String = crate::text::py_strip(&line)
                .chars()
                .map(|c| {
                    if is_chinese_char(c) {
                        format!(" {c} ")
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            assert_eq!(
                Tokenizer::Zh.tokenize(&line),
                naive_rules(&zh).join(" "),
                "zh on {line:?}"
            );
        }
    }

    /// Every byte at every position of a 16-byte chunk: a byte the SIMD test calls plain is
    /// plain by the table, and the usual plain bytes are all called plain.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn plain_bytes_by_simd_are_plain() {
        for b in 0..=255u8 {
            for k in 0..16 {
                let mut chunk = [b' '; 16];
                chunk[k] = b;
                let usual = b.is_ascii_alphanumeric() || b == b'\'' || b >= 0x80;
                assert_eq!(surely_plain_16(&chunk), u32::from(usual) << k, "byte {b:#x} at {k}");
                assert!(!usual || CLASS[b as usize] == 0, "byte {b:#x}");
            }
        }
    }

    #[test]
    fn intl_and_char() {
        assert_eq!(Tokenizer::Intl.tokenize("Hello, world! 3.5$"), "Hello , world ! 3.5 $");
        assert_eq!(Tokenizer::Char.tokenize("ab c"), "a b c");
    }
}
