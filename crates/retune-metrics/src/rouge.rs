//! ROUGE scores identical to Google's `rouge-score` 0.1.2 (`rouge_scorer.RougeScorer`).
//!
//! Supported types: `rouge1` … `rouge9` (n-gram overlap), `rougeL` (longest
//! common subsequence over the whole text) and `rougeLsum` (summary-level LCS:
//! union of the LCS of each target sentence against every predicted sentence,
//! with sentences separated by `"\n"`, as rouge-score does with its default
//! `split_summaries=False`).
//!
//! Tokenisation follows rouge-score's default tokenizer: the text is
//! lowercased (Python `str.lower`, i.e. Unicode lowercasing), every run of
//! characters other than ASCII `a-z0-9` is a separator, and with
//! `use_stemmer` tokens longer than three characters are stemmed with NLTK's
//! Porter stemmer ([`crate::porter`]). Non-ASCII letters are therefore
//! separators (`"café"` gives the token `"caf"`); the only non-ASCII
//! characters that produce token characters are U+212A KELVIN SIGN (lowercased
//! to `k`) and U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE (lowercased to `i`
//! followed by a combining dot, which ends the token).
//!
//! rouge-score's tokenizer drops every character outside `a-z0-9`, so Chinese scores 0.
//! [`RougeTokenizer`] adds two tokenizations that are *not* rouge-score's and say so in the
//! signature (`tok:zh`, `tok:char`): `zh` keeps ASCII words as rouge-score does and makes every
//! other letter or digit (a Han character, a kana) a token of its own; `char` makes every letter
//! and digit a token. Punctuation and spaces separate tokens in both; stemming applies only to
//! ASCII words. Internally each non-ASCII token becomes an ASCII word ending in a digit (which
//! the Porter stemmer leaves alone) before the same scoring code runs.
//!
//! Scores are computed with the same floating-point operations as
//! rouge-score, so they agree bit for bit. Tokens are interned as 64-bit
//! integers: tokens of at most 12 characters are encoded exactly, longer ones
//! by a 64-bit hash (a collision between two distinct long tokens is
//! astronomically unlikely). Stems are cached per thread.
//!
//! ```
//! use retune_metrics::rouge::{RougeScorer, RougeType};
//! let scorer = RougeScorer::new(vec![RougeType::N(1), RougeType::L], true);
//! let s = scorer.score("The quick brown fox", "the quick brown foxes");
//! assert_eq!(s[0].fmeasure, 1.0);
//! assert_eq!(s[1].recall, 1.0);
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::porter;

/// Errors of the ROUGE module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RougeError {
    /// A ROUGE type name that rouge-score does not accept (valid names:
    /// `rouge1` … `rouge9`, `rougeL`, `rougeLsum`).
    #[error("invalid rouge type: {0:?} (expected rouge1..rouge9, rougeL or rougeLsum)")]
    InvalidType(String),
    /// `RougeType::N(0)`: rouge-score requires a positive n.
    #[error("rougen requires positive n: rouge0")]
    ZeroN,
    /// rouge-score's `split_summaries=True` splits rougeLsum sentences with
    /// NLTK's trained Punkt model (`nltk.sent_tokenize`), which is not
    /// reproduced here.
    #[error(
        "split_summaries=True (NLTK punkt sentence splitting) is not supported; put one sentence per line instead"
    )]
    SplitSummariesUnsupported,
}

/// A ROUGE variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RougeType {
    /// ROUGE-N: overlap of n-grams (`rouge1` … `rouge9`; larger n can be
    /// built directly but have no rouge-score name that parses).
    N(u8),
    /// ROUGE-L: longest common subsequence of the two token sequences
    /// (`rougeL`).
    L,
    /// ROUGE-Lsum: summary-level LCS over newline-separated sentences
    /// (`rougeLsum`).
    Lsum,
}

impl FromStr for RougeType {
    type Err = RougeError;

    /// Parses the rouge-score names `rouge1` … `rouge9`, `rougeL`, `rougeLsum`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rougeL" => Ok(RougeType::L),
            "rougeLsum" => Ok(RougeType::Lsum),
            "rouge0" => Err(RougeError::ZeroN),
            _ => {
                let b = s.as_bytes();
                if b.len() == 6 && s.starts_with("rouge") && (b'1'..=b'9').contains(&b[5]) {
                    Ok(RougeType::N(b[5] - b'0'))
                } else {
                    Err(RougeError::InvalidType(s.to_string()))
                }
            }
        }
    }
}

impl fmt::Display for RougeType {
    /// Writes the rouge-score name (`rouge1`, `rougeL`, `rougeLsum`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RougeType::N(n) => write!(f, "rouge{n}"),
            RougeType::L => f.write_str("rougeL"),
            RougeType::Lsum => f.write_str("rougeLsum"),
        }
    }
}

/// Precision, recall and F1 of one ROUGE type for one segment (rouge-score's
/// `Score` named tuple).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RougeScore {
    /// Matches divided by the prediction's size.
    pub precision: f64,
    /// Matches divided by the target's size.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub fmeasure: f64,
}

impl RougeScore {
    /// Builds a score from precision and recall, computing the F-measure
    /// exactly as rouge-score's `scoring.fmeasure`.
    pub fn from_precision_recall(precision: f64, recall: f64) -> Self {
        let fmeasure = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        RougeScore {
            precision,
            recall,
            fmeasure,
        }
    }
}

/// How ROUGE splits text into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RougeTokenizer {
    /// rouge-score's default tokenizer: lower-cased ASCII `a-z0-9` runs, everything else
    /// separates (Chinese text has no token).
    #[default]
    Default,
    /// ASCII words as rouge-score makes them, and every other letter or digit (a Han
    /// character, a kana, an accented letter) a token of its own. Not rouge-score's.
    Zh,
    /// Every letter and digit a token of its own (lower-cased). Not rouge-score's.
    Char,
}

impl RougeTokenizer {
    /// The signature's name: `default`, `zh`, `char`.
    pub fn name(self) -> &'static str {
        match self {
            RougeTokenizer::Default => "default",
            RougeTokenizer::Zh => "zh",
            RougeTokenizer::Char => "char",
        }
    }

    /// `text` as the ASCII token stream rouge-score's tokenizer reads: unchanged for
    /// `Default`; otherwise each token that is not an ASCII word becomes `zqx<code point>`,
    /// and line breaks are kept (for rougeLsum).
    fn encode<'a>(self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self == RougeTokenizer::Default {
            return text.into();
        }
        let mut out = String::with_capacity(text.len() * 2);
        for c in text.chars() {
            if c == '\n' {
                out.push('\n');
            } else if c.is_ascii_alphanumeric() && self == RougeTokenizer::Zh {
                out.push(c);
            } else if c.is_alphanumeric() {
                for l in c.to_lowercase() {
                    out.push_str(&format!(" zqx{} ", l as u32));
                }
            } else {
                out.push(' ');
            }
        }
        out.into()
    }
}

impl std::str::FromStr for RougeTokenizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" | "rouge-score" => Ok(RougeTokenizer::Default),
            "zh" => Ok(RougeTokenizer::Zh),
            "char" => Ok(RougeTokenizer::Char),
            o => Err(format!("unknown ROUGE tokenizer '{o}' (default, zh, char)")),
        }
    }
}

/// Computes ROUGE scores like rouge-score's `RougeScorer(rouge_types,
/// use_stemmer)` (default tokenizer, `split_summaries=False`).
///
/// The scorer is immutable and `Sync`: share one across threads (scratch
/// buffers and the stem cache are per thread).
#[derive(Debug, Clone)]
pub struct RougeScorer {
    types: Vec<RougeType>,
    use_stemmer: bool,
    tokenizer: RougeTokenizer,
}

impl RougeScorer {
    /// Creates a scorer for `types` (results come back in this order).
    ///
    /// # Panics
    /// If `types` contains `RougeType::N(0)` (use [`RougeScorer::try_new`] to
    /// get an error instead).
    pub fn new(types: Vec<RougeType>, use_stemmer: bool) -> Self {
        match Self::try_new(types, use_stemmer) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`RougeScorer::new`], but returns an error for `RougeType::N(0)`.
    pub fn try_new(types: Vec<RougeType>, use_stemmer: bool) -> Result<Self, RougeError> {
        if types.contains(&RougeType::N(0)) {
            return Err(RougeError::ZeroN);
        }
        Ok(RougeScorer {
            types,
            use_stemmer,
            tokenizer: RougeTokenizer::Default,
        })
    }

    /// The same scorer with another tokenization ([`RougeTokenizer`]).
    pub fn with_tokenizer(mut self, tokenizer: RougeTokenizer) -> Self {
        self.tokenizer = tokenizer;
        self
    }

    /// The tokenization in use.
    pub fn tokenizer(&self) -> RougeTokenizer {
        self.tokenizer
    }

    /// Creates a scorer from rouge-score type names (`"rouge1"`, `"rougeL"`,
    /// `"rougeLsum"`, …).
    pub fn from_names<S: AsRef<str>>(names: &[S], use_stemmer: bool) -> Result<Self, RougeError> {
        let types = names
            .iter()
            .map(|n| n.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()?;
        Self::try_new(types, use_stemmer)
    }

    /// rouge-score's `split_summaries` option: `false` (the default, sentences
    /// are the lines of the text) is accepted; `true` needs NLTK's Punkt
    /// sentence splitter and returns [`RougeError::SplitSummariesUnsupported`].
    pub fn with_split_summaries(self, split_summaries: bool) -> Result<Self, RougeError> {
        if split_summaries {
            Err(RougeError::SplitSummariesUnsupported)
        } else {
            Ok(self)
        }
    }

    /// The ROUGE types this scorer computes, in output order.
    pub fn types(&self) -> &[RougeType] {
        &self.types
    }

    /// Whether tokens longer than three characters are Porter-stemmed.
    pub fn use_stemmer(&self) -> bool {
        self.use_stemmer
    }

    /// Scores `prediction` against one `target`: one [`RougeScore`] per type,
    /// in the order of [`RougeScorer::types`] (rouge-score's
    /// `RougeScorer.score(target, prediction)`).
    pub fn score(&self, target: &str, prediction: &str) -> Vec<RougeScore> {
        let mut out = Vec::with_capacity(self.types.len());
        self.score_into(target, prediction, &mut out);
        out
    }

    /// Like [`RougeScorer::score`], but writes into `out` (cleared first).
    pub fn score_into(&self, target: &str, prediction: &str, out: &mut Vec<RougeScore>) {
        out.clear();
        let (target, prediction) = (self.tokenizer.encode(target), self.tokenizer.encode(prediction));
        with_scratch(|s| {
            s.dict.reset();
            s.tokenize(&target, self.use_stemmer, Side::Target);
            s.tokenize(&prediction, self.use_stemmer, Side::Prediction);
            s.score_all(&self.types, |_, sc| out.push(sc));
        });
    }

    /// Scores `prediction` against several targets and keeps, for each type
    /// independently, the score of the target with the highest F-measure (the
    /// first one on ties), like rouge-score's `RougeScorer.score_multi`.
    ///
    /// With no targets at all every score is zero (rouge-score raises an
    /// error there).
    pub fn score_multi(&self, targets: &[&str], prediction: &str) -> Vec<RougeScore> {
        let mut best = vec![RougeScore::default(); self.types.len()];
        let prediction = self.tokenizer.encode(prediction);
        with_scratch(|s| {
            s.dict.reset();
            s.tokenize(&prediction, self.use_stemmer, Side::Prediction);
            for (k, target) in targets.iter().enumerate() {
                s.tokenize(&self.tokenizer.encode(target), self.use_stemmer, Side::Target);
                s.score_all(&self.types, |i, sc| {
                    // np.argmax keeps the first maximum.
                    if k == 0 || sc.fmeasure > best[i].fmeasure {
                        best[i] = sc;
                    }
                });
            }
        });
        best
    }
}

/// rouge-score's default tokenizer: the token strings of `text` (lowercased,
/// split on every character outside ASCII `a-z0-9`, tokens longer than three
/// characters Porter-stemmed when `use_stemmer`).
pub fn tokenize(text: &str, use_stemmer: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut stem_buf = String::new();
    for_each_raw_token(text, &mut Vec::new(), |tok, _, _| {
        // Tokens are ASCII alphanumerics.
        let tok = std::str::from_utf8(tok).expect("ASCII token");
        if use_stemmer && tok.len() > 3 {
            porter::stem_into(tok, &mut stem_buf);
            if !stem_buf.is_empty() {
                out.push(stem_buf.clone());
            }
        } else {
            out.push(tok.to_string());
        }
    });
    out
}

// ---------------------------------------------------------------------------
// Tokenisation and interning

/// Token-character codes: 0 for a separator byte, 1..=26 for `a-z` / `A-Z`,
/// 27..=36 for `0-9`.
static CODES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 26 {
        t[b'a' as usize + c] = c as u8 + 1;
        t[b'A' as usize + c] = c as u8 + 1;
        c += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = d as u8 + 27;
        d += 1;
    }
    t
};

/// Powers of 37 used to pack tokens of up to 12 characters.
static POW37: [u64; 12] = {
    let mut t = [1u64; 12];
    let mut i = 1;
    while i < 12 {
        t[i] = t[i - 1] * 37;
        i += 1;
    }
    t
};

/// Calls `f(token, packed, line)` for each token in order: `token` is the
/// lowercased ASCII token, `packed` its exact id when it has at most 12
/// characters, and `line` the index of the `"\n"`-separated line it is on.
/// `buf` is scratch space.
#[inline]
fn for_each_raw_token(text: &str, buf: &mut Vec<u8>, mut f: impl FnMut(&[u8], u64, usize)) {
    let b = text.as_bytes();
    buf.clear();
    let mut packed = 0u64;
    let mut line = 0usize;
    let mut i = 0;
    macro_rules! flush {
        () => {
            if !buf.is_empty() {
                f(buf, packed, line);
                buf.clear();
                packed = 0;
            }
        };
    }
    macro_rules! push {
        ($code:expr) => {{
            let code = $code;
            if buf.len() < 12 {
                packed += code as u64 * POW37[buf.len()];
            }
            buf.push(if code <= 26 { b'a' + code - 1 } else { b'0' + code - 27 });
        }};
    }
    while i < b.len() {
        let c = b[i];
        let code = CODES[c as usize];
        if code != 0 {
            push!(code);
            i += 1;
        } else if c < 0x80 {
            flush!();
            if c == b'\n' {
                line += 1;
            }
            i += 1;
        } else if c == 0xE2 && b.get(i + 1) == Some(&0x84) && b.get(i + 2) == Some(&0xAA) {
            // U+212A KELVIN SIGN lowercases to ASCII 'k'.
            push!(11u8);
            i += 3;
        } else if c == 0xC4 && b.get(i + 1) == Some(&0xB0) {
            // U+0130 lowercases to "i\u{307}": an 'i' and then a separator.
            push!(9u8);
            flush!();
            i += 2;
        } else {
            // Any other non-ASCII character lowercases to something without
            // ASCII letters or digits: a separator. Skip its continuation
            // bytes.
            flush!();
            i += 1;
            while i < b.len() && (b[i] & 0xC0) == 0x80 {
                i += 1;
            }
        }
    }
    if !buf.is_empty() {
        f(buf, packed, line);
        buf.clear();
    }
}

/// Interned id of an ASCII `[a-z0-9]+` token: the exact base-37 packing
/// (`packed`, below 2^63) for up to 12 characters, a 64-bit hash with the top
/// bit set for longer tokens.
#[inline]
fn token_id(tok: &[u8], packed: u64) -> u64 {
    if tok.len() <= 12 {
        packed
    } else {
        let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ (tok.len() as u64);
        for chunk in tok.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = mix(h ^ u64::from_le_bytes(w));
        }
        h | (1 << 63)
    }
}

/// Packs a token given as bytes (used for stems).
fn pack(tok: &[u8]) -> u64 {
    let mut packed = 0;
    for (i, &c) in tok.iter().take(12).enumerate() {
        packed += CODES[c as usize] as u64 * POW37[i];
    }
    token_id(tok, packed)
}

#[inline]
fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Hasher for `u64` keys.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(n);
    }
}

type StemCache = HashMap<u64, u64, BuildHasherDefault<IdHasher>>;

/// Maximum number of cached stems per thread (the cache is cleared when full).
const STEM_CACHE_CAP: usize = 1 << 17;

/// Marks a token whose stem is empty (cannot happen for `[a-z0-9]{4,}`, but
/// rouge-score would drop such a token).
const NO_TOKEN: u64 = u64::MAX;

/// Maps token ids to dense indices `0..len` for one scoring call. Open
/// addressing with generation stamps, so resetting is O(1).
#[derive(Default)]
struct Interner {
    slots: Vec<Slot>,
    stamp: u32,
    len: u32,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    val: u32,
    stamp: u32,
}

impl Interner {
    fn reset(&mut self) {
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); 256];
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.slots.fill(Slot::default());
            self.stamp = 1;
        }
        self.len = 0;
    }

    #[inline]
    fn intern(&mut self, key: u64) -> u32 {
        if (self.len as usize + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut h = mix(key) as usize & mask;
        loop {
            let slot = &mut self.slots[h];
            if slot.stamp != self.stamp {
                *slot = Slot {
                    key,
                    val: self.len,
                    stamp: self.stamp,
                };
                self.len += 1;
                return self.len - 1;
            }
            if slot.key == key {
                return slot.val;
            }
            h = (h + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        let stamp = self.stamp;
        self.slots = vec![Slot::default(); old.len() * 2];
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.stamp == stamp) {
            let mut h = mix(s.key) as usize & mask;
            while self.slots[h].stamp == stamp {
                h = (h + 1) & mask;
            }
            self.slots[h] = s;
        }
    }
}

/// A tokenised text: dense token ids and where each line starts.
#[derive(Default)]
struct Tokens {
    ids: Vec<u32>,
    /// `line_starts[k]..line_starts[k + 1]` are the tokens of line `k` (lines
    /// after the last token are omitted); ends with `ids.len()`.
    line_starts: Vec<u32>,
}

impl Tokens {
    fn lines(&self) -> impl Iterator<Item = &[u32]> {
        self.line_starts
            .windows(2)
            .map(|w| &self.ids[w[0] as usize..w[1] as usize])
            .filter(|s| !s.is_empty())
    }

    /// Whether all tokens are on one line.
    fn single_line(&self) -> bool {
        self.lines().nth(1).is_none()
    }
}

#[derive(Clone, Copy)]
enum Side {
    Target,
    Prediction,
}

// ---------------------------------------------------------------------------
// Per-thread scratch space

#[derive(Default)]
struct Work {
    keys_a: Vec<u64>,
    keys_b: Vec<u64>,
    ia: Vec<u32>,
    ib: Vec<u32>,
    row: Vec<u32>,
    table: Vec<u32>,
    cols: Vec<u64>,
    /// Indexed by dense token id; all zero between uses.
    cnt_a: Vec<u32>,
    /// Indexed by dense token id; all zero between uses.
    cnt_b: Vec<u32>,
    /// Indexed by dense token id; all zero between uses.
    masks: Vec<u64>,
    in_union: Vec<bool>,
}

#[derive(Default)]
struct Scratch {
    cache: StemCache,
    stem_buf: String,
    tok_buf: Vec<u8>,
    dict: Interner,
    target: Tokens,
    prediction: Tokens,
    work: Work,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        // Not reachable (no re-entrancy), but stay correct if it happens.
        Err(_) => f(&mut Scratch::default()),
    })
}

impl Scratch {
    /// Tokenises `text` into `self.target` or `self.prediction` (dense ids in
    /// `self.dict`).
    fn tokenize(&mut self, text: &str, use_stemmer: bool, side: Side) {
        let Scratch {
            cache,
            stem_buf,
            tok_buf,
            dict,
            target,
            prediction,
            ..
        } = self;
        let out = match side {
            Side::Target => target,
            Side::Prediction => prediction,
        };
        out.ids.clear();
        out.line_starts.clear();
        out.line_starts.push(0);
        let ids = &mut out.ids;
        let starts = &mut out.line_starts;
        for_each_raw_token(text, tok_buf, |tok, packed, line| {
            while starts.len() <= line {
                starts.push(ids.len() as u32);
            }
            let raw = token_id(tok, packed);
            let id = if use_stemmer && tok.len() > 3 {
                match cache.get(&raw) {
                    Some(&id) => id,
                    None => {
                        // ASCII by construction.
                        let s = std::str::from_utf8(tok).expect("ASCII token");
                        porter::stem_into(s, stem_buf);
                        let id = if stem_buf.is_empty() {
                            NO_TOKEN
                        } else {
                            pack(stem_buf.as_bytes())
                        };
                        if cache.len() >= STEM_CACHE_CAP {
                            cache.clear();
                        }
                        cache.insert(raw, id);
                        id
                    }
                }
            } else {
                raw
            };
            if id != NO_TOKEN {
                ids.push(dict.intern(id));
            }
        });
        starts.push(ids.len() as u32);
    }

    /// Scores `self.target` against `self.prediction` for every type, calling
    /// `emit(index, score)` in order.
    fn score_all(&mut self, types: &[RougeType], mut emit: impl FnMut(usize, RougeScore)) {
        let Scratch {
            dict,
            target: t,
            prediction: p,
            work: w,
            ..
        } = self;
        let vocab = dict.len as usize;
        if w.cnt_a.len() < vocab {
            w.cnt_a.resize(vocab, 0);
            w.cnt_b.resize(vocab, 0);
            w.masks.resize(vocab, 0);
        }
        let mut lcs: Option<usize> = None;
        for (k, &ty) in types.iter().enumerate() {
            let sc = match ty {
                RougeType::N(n) => score_ngrams(&t.ids, &p.ids, n.max(1) as usize, w),
                RougeType::L => {
                    if t.ids.is_empty() || p.ids.is_empty() {
                        RougeScore::default()
                    } else {
                        let l = *lcs.get_or_insert_with(|| lcs_len(&t.ids, &p.ids, w));
                        lcs_score(l, t.ids.len(), p.ids.len())
                    }
                }
                RougeType::Lsum => {
                    if t.ids.is_empty() || p.ids.is_empty() {
                        RougeScore::default()
                    } else if t.single_line() && p.single_line() {
                        // One sentence each: the union LCS is one LCS, and
                        // every token on it is a hit, so Lsum equals L.
                        let l = *lcs.get_or_insert_with(|| lcs_len(&t.ids, &p.ids, w));
                        lcs_score(l, t.ids.len(), p.ids.len())
                    } else {
                        score_lsum(t, p, w)
                    }
                }
            };
            emit(k, sc);
        }
    }
}

// ---------------------------------------------------------------------------
// Scores

fn lcs_score(lcs: usize, target_len: usize, prediction_len: usize) -> RougeScore {
    RougeScore::from_precision_recall(lcs as f64 / prediction_len as f64, lcs as f64 / target_len as f64)
}

/// Counts matches between two sorted sequences (sum of min counts).
#[inline]
fn merge_count<T: Ord>(a: &[T], b: &[T]) -> usize {
    let (mut i, mut j, mut inter) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter
}

fn score_ngrams(t: &[u32], p: &[u32], n: usize, w: &mut Work) -> RougeScore {
    let tc = (t.len() + 1).saturating_sub(n);
    let pc = (p.len() + 1).saturating_sub(n);
    let mut inter = 0usize;
    if tc > 0 && pc > 0 {
        match n {
            1 => {
                for &v in t {
                    w.cnt_a[v as usize] += 1;
                }
                for &v in p {
                    let c = &mut w.cnt_a[v as usize];
                    if *c > 0 {
                        *c -= 1;
                        inter += 1;
                    }
                }
                for &v in t {
                    w.cnt_a[v as usize] = 0;
                }
            }
            2 => {
                w.keys_a.clear();
                w.keys_a.extend(t.windows(2).map(|x| (x[0] as u64) << 32 | x[1] as u64));
                w.keys_a.sort_unstable();
                w.keys_b.clear();
                w.keys_b.extend(p.windows(2).map(|x| (x[0] as u64) << 32 | x[1] as u64));
                w.keys_b.sort_unstable();
                inter = merge_count(&w.keys_a, &w.keys_b);
            }
            _ => {
                w.ia.clear();
                w.ia.extend(0..tc as u32);
                w.ia.sort_unstable_by(|&x, &y| t[x as usize..x as usize + n].cmp(&t[y as usize..y as usize + n]));
                w.ib.clear();
                w.ib.extend(0..pc as u32);
                w.ib.sort_unstable_by(|&x, &y| p[x as usize..x as usize + n].cmp(&p[y as usize..y as usize + n]));
                let (a, b) = (&w.ia, &w.ib);
                let (mut i, mut j) = (0, 0);
                while i < a.len() && j < b.len() {
                    let x = &t[a[i] as usize..a[i] as usize + n];
                    let y = &p[b[j] as usize..b[j] as usize + n];
                    match x.cmp(y) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => {
                            inter += 1;
                            i += 1;
                            j += 1;
                        }
                    }
                }
            }
        }
    }
    RougeScore::from_precision_recall(inter as f64 / pc.max(1) as f64, inter as f64 / tc.max(1) as f64)
}

#[inline]
fn low_mask(k: usize) -> u64 {
    if k >= 64 {
        !0
    } else {
        (1u64 << k) - 1
    }
}

/// Length of the longest common subsequence: bit-parallel (Allison–Dix /
/// Hyyrö) when the shorter sequence has at most 64 tokens, a rolling-row DP
/// otherwise.
fn lcs_len(a: &[u32], b: &[u32], w: &mut Work) -> usize {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return 0;
    }
    if short.len() <= 64 {
        for (i, &v) in short.iter().enumerate() {
            w.masks[v as usize] |= 1 << i;
        }
        let mut x = !0u64;
        for &v in long {
            let u = x & w.masks[v as usize];
            x = x.wrapping_add(u) | (x - u);
        }
        for &v in short {
            w.masks[v as usize] = 0;
        }
        short.len() - (x & low_mask(short.len())).count_ones() as usize
    } else {
        let row = &mut w.row;
        row.clear();
        row.resize(short.len() + 1, 0);
        for &x in long {
            let mut diag = 0u32;
            for j in 0..short.len() {
                let up = row[j + 1];
                row[j + 1] = if x == short[j] { diag + 1 } else { up.max(row[j]) };
                diag = up;
            }
        }
        row[short.len()] as usize
    }
}

/// Marks in `in_union` the positions of `r` on the LCS of `r` and `c` that
/// rouge-score's `_backtrack_norec` reads out (full DP table; any lengths).
fn mark_lcs_table(r: &[u32], c: &[u32], table: &mut Vec<u32>, in_union: &mut [bool]) {
    let cols = c.len() + 1;
    table.clear();
    table.resize((r.len() + 1) * cols, 0);
    for i in 1..=r.len() {
        let x = r[i - 1];
        for j in 1..=c.len() {
            table[i * cols + j] = if x == c[j - 1] {
                table[(i - 1) * cols + j - 1] + 1
            } else {
                table[(i - 1) * cols + j].max(table[i * cols + j - 1])
            };
        }
    }
    let (mut i, mut j) = (r.len(), c.len());
    while i > 0 && j > 0 {
        if r[i - 1] == c[j - 1] {
            in_union[i - 1] = true;
            i -= 1;
            j -= 1;
        } else if table[i * cols + j - 1] > table[(i - 1) * cols + j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
}

/// Same as [`mark_lcs_table`] for `r` of at most 64 tokens whose bit masks
/// are in `masks`: the DP table is represented by one bit-parallel column
/// per position of `c` (`T[i][j]` = number of zero bits of column `j` below
/// bit `i`).
fn mark_lcs_bits(r: &[u32], c: &[u32], masks: &[u64], cols: &mut Vec<u64>, in_union: &mut [bool]) {
    cols.clear();
    let mut x = !0u64;
    cols.push(x);
    for &v in c {
        let u = x & masks[v as usize];
        x = x.wrapping_add(u) | (x - u);
        cols.push(x);
    }
    let t = |i: usize, j: usize| i as u32 - (cols[j] & low_mask(i)).count_ones();
    let (mut i, mut j) = (r.len(), c.len());
    while i > 0 && j > 0 {
        if r[i - 1] == c[j - 1] {
            in_union[i - 1] = true;
            i -= 1;
            j -= 1;
        } else if t(i, j - 1) > t(i - 1, j) {
            j -= 1;
        } else {
            i -= 1;
        }
    }
}

/// rouge-score's `_summary_level_lcs`.
fn score_lsum(t: &Tokens, p: &Tokens, w: &mut Work) -> RougeScore {
    let m = t.ids.len();
    let n = p.ids.len();
    if m == 0 || n == 0 {
        return RougeScore::default();
    }
    // Token counts to prevent double counting.
    for &v in &t.ids {
        w.cnt_a[v as usize] += 1;
    }
    for &v in &p.ids {
        w.cnt_b[v as usize] += 1;
    }
    let mut hits = 0usize;
    for r in t.lines() {
        w.in_union.clear();
        w.in_union.resize(r.len(), false);
        if r.len() <= 64 {
            for (i, &v) in r.iter().enumerate() {
                w.masks[v as usize] |= 1 << i;
            }
            for c in p.lines() {
                mark_lcs_bits(r, c, &w.masks, &mut w.cols, &mut w.in_union);
            }
            for &v in r {
                w.masks[v as usize] = 0;
            }
        } else {
            for c in p.lines() {
                mark_lcs_table(r, c, &mut w.table, &mut w.in_union);
            }
        }
        for (i, &marked) in w.in_union.iter().enumerate() {
            if marked {
                let v = r[i] as usize;
                if w.cnt_b[v] > 0 && w.cnt_a[v] > 0 {
                    hits += 1;
                    w.cnt_b[v] -= 1;
                    w.cnt_a[v] -= 1;
                }
            }
        }
    }
    for &v in &t.ids {
        w.cnt_a[v as usize] = 0;
    }
    for &v in &p.ids {
        w.cnt_b[v as usize] = 0;
    }
    RougeScore::from_precision_recall(hits as f64 / n as f64, hits as f64 / m as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ["rouge1", "rouge2", "rouge9", "rougeL", "rougeLsum"] {
            let t: RougeType = name.parse().unwrap();
            assert_eq!(t.to_string(), name);
        }
        assert!("rouge0".parse::<RougeType>().is_err());
        assert!("rouge10".parse::<RougeType>().is_err());
        assert!("rougel".parse::<RougeType>().is_err());
    }

    #[test]
    fn tokenizer() {
        assert_eq!(tokenize("Hello, World! café", false), ["hello", "world", "caf"]);
        assert_eq!(
            tokenize("\u{212A}elvin \u{130}stanbul", false),
            ["kelvin", "i", "stanbul"]
        );
        assert_eq!(tokenize("running cats is", true), ["run", "cat", "is"]);
    }

    /// Small deterministic generator for the randomised tests.
    fn lcg(state: &mut u64) -> u32 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 33) as u32
    }

    fn random_seq(state: &mut u64, max_len: u32, alphabet: u32) -> Vec<u32> {
        let len = lcg(state) % (max_len + 1);
        (0..len).map(|_| lcg(state) % alphabet).collect()
    }

    fn work_for(alphabet: u32) -> Work {
        let mut w = Work::default();
        w.cnt_a.resize(alphabet as usize, 0);
        w.cnt_b.resize(alphabet as usize, 0);
        w.masks.resize(alphabet as usize, 0);
        w
    }

    #[test]
    fn bit_parallel_lcs_matches_dp() {
        let mut st = 7u64;
        for round in 0..3000 {
            let alphabet = 2 + round % 9;
            let max_len = if round % 3 == 0 { 150 } else { 70 };
            let a = random_seq(&mut st, max_len, alphabet);
            let b = random_seq(&mut st, max_len, alphabet);
            let mut w = work_for(alphabet);
            // Reference: full table.
            let mut table = Vec::new();
            let mut marks = vec![false; a.len()];
            mark_lcs_table(&a, &b, &mut table, &mut marks);
            let dp = if a.is_empty() || b.is_empty() {
                0
            } else {
                table[table.len() - 1] as usize
            };
            assert_eq!(lcs_len(&a, &b, &mut w), dp, "{a:?} {b:?}");
            assert!(w.masks.iter().all(|&m| m == 0));
            if a.len() <= 64 {
                for (i, &v) in a.iter().enumerate() {
                    w.masks[v as usize] |= 1 << i;
                }
                let mut bits = vec![false; a.len()];
                mark_lcs_bits(&a, &b, &w.masks, &mut w.cols, &mut bits);
                assert_eq!(bits, marks, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn scorer_is_sync() {
        fn assert_sync<T: Sync + Send>() {}
        assert_sync::<RougeScorer>();
    }
}

#[cfg(test)]
mod tokenizer_tests {
    use super::*;

    fn prf(s: &RougeScore) -> (f64, f64) {
        (s.precision, s.recall)
    }

    #[test]
    fn chinese_scores_zero_by_default_and_by_character_with_zh() {
        let types = vec![RougeType::N(1), RougeType::N(2), RougeType::L];
        let (t, p) = ("我喜欢茶。", "我喜欢米饭。");
        let d = RougeScorer::new(types.clone(), false).score(t, p);
        assert!(d.iter().all(|s| s.fmeasure == 0.0), "rouge-score drops Han characters");
        // By hand: tokens 我 喜 欢 茶 against 我 喜 欢 米 饭; 3 unigrams and 2 bigrams shared,
        // the longest common subsequence 3.
        for stem in [false, true] {
            let z = RougeScorer::new(types.clone(), stem)
                .with_tokenizer(RougeTokenizer::Zh)
                .score(t, p);
            assert_eq!(prf(&z[0]), (3.0 / 5.0, 3.0 / 4.0));
            assert_eq!(prf(&z[1]), (2.0 / 4.0, 2.0 / 3.0));
            assert_eq!(prf(&z[2]), (3.0 / 5.0, 3.0 / 4.0));
        }
    }

    #[test]
    fn zh_keeps_ascii_words_and_char_splits_them() {
        let one = vec![RougeType::N(1)];
        let z = RougeScorer::new(one.clone(), false).with_tokenizer(RougeTokenizer::Zh);
        assert_eq!(prf(&z.score("Hello, 世界", "hello 世")[0]), (1.0, 2.0 / 3.0));
        let c = RougeScorer::new(one.clone(), false).with_tokenizer(RougeTokenizer::Char);
        assert_eq!(prf(&c.score("abc de", "a-b-d")[0]), (1.0, 3.0 / 5.0));
        // Stemming still applies to ASCII words under zh: "running" and "runs" share "run".
        let zs = RougeScorer::new(one, true).with_tokenizer(RougeTokenizer::Zh);
        assert_eq!(zs.score("running 跑", "runs 跑")[0].fmeasure, 1.0);
        assert_eq!("zh".parse::<RougeTokenizer>(), Ok(RougeTokenizer::Zh));
        assert!("jieba".parse::<RougeTokenizer>().is_err());
    }
}
