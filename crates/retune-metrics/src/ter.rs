//! Translation Edit Rate (TER) that gives the same numbers as sacrebleu 2.6.0's
//! `sacrebleu.metrics.TER` (a re-implementation of Tercom).
//!
//! The pieces, in the order sacrebleu applies them:
//!
//! * **Pre-processing** (`TER._preprocess_segment`): trailing whitespace is
//!   stripped and the Tercom tokenizer (`TercomTokenizer.__call__`) is applied:
//!   lowercasing (unless `case_sensitive`), optional Western normalisation
//!   (`normalized`), optional CJK splitting (`normalized` + `asian_support`),
//!   optional punctuation removal (`no_punct`, plus CJK punctuation with
//!   `asian_support`), and finally whitespace collapsing with Python's
//!   `str.split()` (whose whitespace set is Unicode `White_Space` plus the
//!   separators U+001C..U+001F).
//!   sacrebleu pre-processes every *reference* twice (once when the reference
//!   cache is built, once more inside `_extract_reference_info`) and the
//!   hypothesis once; [`Ter::segment_stats`] does the same, which matters only
//!   with `normalized` (the normaliser is not idempotent, e.g. `a.,5`).
//! * **Edit distance with shifts** (`lib_ter.translation_edit_rate`): greedy
//!   search for the block shift that lowers a beam-restricted Levenshtein
//!   distance the most (ranked by gain, then longer block, then earlier hypothesis
//!   position, then earlier target position), repeated while the gain is
//!   positive. Blocks are at most 10 words, source and reference start at most
//!   50 positions apart, the Levenshtein matrix is restricted to a beam of 25
//!   cells either side of the length-ratio diagonal, and the whole search stops
//!   (discarding the pending shift) once 1000 shift candidates have been scored.
//! * **Statistics**: per segment `[edits against the best reference, average
//!   reference length]`; corpus TER is `100 * sum(edits) / sum(lengths)`.
//!
//! Implementation notes (all exact, no change of semantics; about 30x faster
//! than sacrebleu):
//!
//! * Words are interned to integer ids per segment pair; hypothesis words that
//!   are not in the reference share one id. Buffers live in a thread-local
//!   scratch area, so [`Ter`] is `Sync` and scoring allocates little.
//! * Block pairs are enumerated in sacrebleu's order from per-word position
//!   lists of the reference; candidate counting (the 1000 cap) and ranking,
//!   ties included, are replayed exactly. Only candidates that could beat the
//!   current best with a positive gain need their exact distance: the others
//!   are abandoned as soon as a bound proves it.
//! * Any path through a cell outside the beam needs at least `lb_out`
//!   insertions + deletions (a function of the two lengths). A distance below
//!   `lb_out` is therefore the same with and without the beam, and so are the
//!   optimal paths and the trace. Such distances are computed with the
//!   bit-parallel Levenshtein algorithm (Myers 1999 / Hyyrö's blocks), starting
//!   from the stored row of the unshifted hypothesis at the first changed word,
//!   and either stopping once the row re-joins the unshifted one or combining
//!   with the cost-to-go of the unchanged suffix. Only when a distance can reach
//!   `lb_out` (long or very unequal segments) is the beam applied literally,
//!   with scalar rows (again re-using prefix rows and a restricted
//!   cost-to-go matrix).
//! * sacrebleu's trie cache of matrix rows only saves time and is not needed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Largest block of words that one shift may move (Tercom's `MAX_SHIFT_SIZE`).
const MAX_SHIFT_SIZE: usize = 10;
/// Largest distance between the hypothesis and reference start of a block.
const MAX_SHIFT_DIST: usize = 50;
/// Half-width of the Levenshtein beam around the pseudo-diagonal.
const BEAM_WIDTH: usize = 25;
/// Number of scored shift candidates after which sacrebleu gives up shifting.
const MAX_SHIFT_CANDIDATES: usize = 1000;
/// "Infinite" cost of cells outside the beam (sacrebleu uses `int(1e16)`); any
/// finite cost is far below it and sums of two of them fit in an `i32`.
const INF: i32 = 1 << 29;

/// Options of sacrebleu's `TER(...)` / `TercomTokenizer(...)`.
///
/// `Default` gives sacrebleu's defaults: every flag `false` (lowercased input,
/// no normalisation, punctuation kept, no special CJK treatment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TerOptions {
    /// `normalized`: Western tokenisation of punctuation, XML entity decoding
    /// (`&quot; &amp; &lt; &gt;`), line joining; with `asian_support` also splits
    /// CJK characters and CJK punctuation into single-character tokens.
    pub normalized: bool,
    /// `no_punct`: removes `. , ? : ; ! " ( )`; with `asian_support` also CJK and
    /// full-width punctuation.
    pub no_punct: bool,
    /// `asian_support`: enables the CJK parts of `normalized` / `no_punct`
    /// (has no effect on its own).
    pub asian_support: bool,
    /// `case_sensitive`: when `false` (sacrebleu's default) input is lowercased
    /// with Python's `str.lower()` semantics.
    pub case_sensitive: bool,
}

/// The TER metric with fixed options; cheap to build, `Send + Sync`, and
/// stateless apart from thread-local scratch buffers, so segments can be scored
/// in parallel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ter {
    opts: TerOptions,
}

impl Ter {
    /// A TER scorer with the given options (`TER(normalized=..., no_punct=...,
    /// asian_support=..., case_sensitive=...)` in sacrebleu).
    pub fn new(opts: TerOptions) -> Self {
        Ter { opts }
    }

    /// The options this scorer was built with.
    pub fn options(&self) -> &TerOptions {
        &self.opts
    }

    /// The Tercom tokenizer alone (sacrebleu's `TercomTokenizer.__call__`): the
    /// returned string holds the tokens separated by single ASCII spaces.
    pub fn tercom_tokenize(&self, s: &str) -> String {
        let mut out = String::new();
        tokenize_into(&self.opts, s, &mut out);
        out
    }

    /// sacrebleu's `TER._preprocess_segment`: strips trailing (Python)
    /// whitespace, then applies [`Ter::tercom_tokenize`]. Hypotheses go through
    /// this once, references twice (see the module documentation).
    pub fn preprocess(&self, s: &str) -> String {
        self.tercom_tokenize(s.trim_end_matches(is_py_whitespace))
    }

    /// Segment statistics `[num_edits, ref_length]` exactly as sacrebleu's
    /// `TER._compute_segment_statistics` after its pre-processing: the fewest
    /// edits (shifts + Levenshtein operations) over all references, and the
    /// average of the references' token counts.
    ///
    /// With an empty `references` slice (sacrebleu would divide by zero) the
    /// result is that of a single empty reference: `[hypothesis tokens, 0]`.
    pub fn segment_stats(&self, hypothesis: &str, references: &[&str]) -> [f64; 2] {
        self.segment_stats_prepared(hypothesis, &self.prepare_references(references))
    }

    /// Pre-processes the references of one segment (twice, as sacrebleu does),
    /// so that several hypotheses (systems) can be scored against them with
    /// [`Ter::segment_stats_prepared`] without tokenizing them again.
    pub fn prepare_references(&self, references: &[&str]) -> TerReferences {
        let mut once = String::new();
        let tokenized = references
            .iter()
            .map(|r| {
                let mut twice = String::new();
                tokenize_into(&self.opts, r.trim_end_matches(is_py_whitespace), &mut once);
                tokenize_into(&self.opts, once.trim_end_matches(is_py_whitespace), &mut twice);
                twice
            })
            .collect();
        TerReferences { tokenized }
    }

    /// [`Ter::segment_stats`] with references from [`Ter::prepare_references`]
    /// (which must come from a scorer with the same options).
    pub fn segment_stats_prepared(&self, hypothesis: &str, references: &TerReferences) -> [f64; 2] {
        let mut hyp_tok = String::new();
        tokenize_into(&self.opts, hypothesis.trim_end_matches(is_py_whitespace), &mut hyp_tok);
        let hyp_words: Vec<&str> = split_tokens(&hyp_tok).collect();
        let refs = &references.tokenized;
        if refs.is_empty() {
            return [hyp_words.len() as f64, 0.0];
        }
        let mut best = usize::MAX;
        let mut total_len = 0usize;
        let mut ref_words: Vec<&str> = Vec::new();
        for r in refs {
            ref_words.clear();
            ref_words.extend(split_tokens(r));
            let (edits, len) = translation_edit_rate(&hyp_words, &ref_words);
            total_len += len;
            best = best.min(edits);
        }
        [best as f64, total_len as f64 / refs.len() as f64]
    }

    /// Sums segment statistics in order (sacrebleu's `sum_of_lists`), giving the
    /// corpus statistics that [`Ter::score_from_stats`] expects.
    pub fn sum_stats(stats: &[[f64; 2]]) -> [f64; 2] {
        stats.iter().fold([0.0, 0.0], |acc, s| [acc[0] + s[0], acc[1] + s[1]])
    }

    /// Corpus TER (in percent) from summed statistics, sacrebleu's
    /// `TER._compute_score_from_stats`: `100 * edits / ref_length`; when the
    /// total reference length is 0 the score is 100 if there are edits and 0
    /// otherwise.
    pub fn score_from_stats(stats: &[f64; 2]) -> f64 {
        let (edits, len) = (stats[0], stats[1]);
        let ratio = if len > 0.0 {
            edits / len
        } else if edits > 0.0 {
            1.0
        } else {
            0.0
        };
        100.0 * ratio
    }

    /// Corpus TER of parallel hypotheses and per-segment references
    /// (`references[i]` are the references of `hypotheses[i]`); convenience
    /// over [`Ter::segment_stats`], [`Ter::sum_stats`] and
    /// [`Ter::score_from_stats`].
    pub fn corpus_score(&self, hypotheses: &[&str], references: &[Vec<&str>]) -> f64 {
        let stats: Vec<[f64; 2]> = hypotheses
            .iter()
            .zip(references)
            .map(|(h, r)| self.segment_stats(h, r))
            .collect();
        Self::score_from_stats(&Self::sum_stats(&stats))
    }
}

/// The references of one segment after sacrebleu's pre-processing (see
/// [`Ter::prepare_references`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerReferences {
    /// Each reference's tokens, separated by single spaces.
    tokenized: Vec<String>,
}

impl TerReferences {
    /// The pre-processed references (tokens separated by single spaces).
    pub fn tokenized(&self) -> &[String] {
        &self.tokenized
    }
}

pub use crate::text::is_py_whitespace;

/// Tokens of an already tokenized string (single-space separated, no leading
/// or trailing space, empty string = no tokens).
fn split_tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').filter(|w| !w.is_empty())
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

/// Writes the Tercom tokenization of `s` into `out` (cleared first).
fn tokenize_into(opts: &TerOptions, s: &str, out: &mut String) {
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
fn collapse_whitespace(s: &str, out: &mut String) {
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
fn py_lower(s: &str) -> String {
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
fn is_newer_uppercase(c: char) -> bool {
    matches!(c,
        '\u{1c89}' | '\u{a7cb}'..='\u{a7cc}' | '\u{a7ce}' | '\u{a7d2}' | '\u{a7d4}' | '\u{a7da}'
        | '\u{a7dc}' | '\u{10d50}'..='\u{10d65}' | '\u{16ea0}'..='\u{16eb8}')
}

/// Rewrites each char: `f(c) == Some(true)` surrounds it with spaces,
/// `Some(false)` drops it, `None` keeps it.
fn map_chars(s: &str, f: impl Fn(char) -> Option<bool>) -> String {
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
fn is_asian_split(c: char) -> bool {
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
fn is_asian_punct(c: char) -> bool {
    matches!(c,
        '\u{3001}' | '\u{3002}' | '\u{3008}'..='\u{3011}' | '\u{3014}'..='\u{301f}'
        | '\u{ff61}'..='\u{ff65}' | '\u{30fb}')
}

/// sacrebleu's `TercomTokenizer.FULL_WIDTH_PUNCT` character class.
fn is_full_width_punct(c: char) -> bool {
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
fn is_western_punct(b: u8) -> bool {
    matches!(b, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/')
}

/// sacrebleu's `_normalize_general_and_western`. The regex substitutions are
/// replayed as left-to-right, non-overlapping scans over UTF-8 bytes; every
/// pattern byte is ASCII, and `[^0-9]` against a multi-byte character behaves
/// the same byte-wise because continuation bytes are never `.`, `,` or `-`.
fn normalize_general_and_western(s: &str) -> String {
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

// ---------------------------------------------------------------------------
// Edit distance with shifts
// ---------------------------------------------------------------------------

use crate::hashing::FxHasher;

/// sacrebleu's `lib_ter.translation_edit_rate` on already tokenized words:
/// returns `(number of edits, number of reference words)`. An empty reference
/// gives `(hypothesis length, 0)`.
pub fn translation_edit_rate(hyp_words: &[&str], ref_words: &[&str]) -> (usize, usize) {
    let m = ref_words.len();
    if m == 0 {
        return (hyp_words.len(), 0);
    }
    let mut ids: HashMap<&str, u32, BuildHasherDefault<FxHasher>> =
        HashMap::with_capacity_and_hasher(m * 2, Default::default());
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let sc = &mut *guard;
        sc.refw.clear();
        for w in ref_words {
            let next = ids.len() as u32;
            let id = *ids.entry(*w).or_insert(next);
            sc.refw.push(id);
        }
        // Every hypothesis word that does not occur in the reference gets one
        // shared id: such words only ever compare unequal to reference words.
        let oov = ids.len() as u32;
        sc.vocab = ids.len() + 1;
        sc.hyp.clear();
        for w in hyp_words {
            sc.hyp.push(ids.get(w).copied().unwrap_or(oov));
        }
        (sc.run(), m)
    })
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Reusable buffers of one TER computation (one per thread).
#[derive(Default)]
struct Scratch {
    /// Current hypothesis (word ids), `n` words.
    hyp: Vec<u32>,
    /// Reference word ids, `m` words.
    refw: Vec<u32>,
    /// Forward costs of `hyp`, `(n+1) x (m+1)`, `INF` outside the beam.
    fwd: Vec<i32>,
    /// Backward (cost-to-go to `(n, m)`) costs of `hyp`, same layout.
    bwd: Vec<i32>,
    /// Beam of row `i`: columns `lo[i] .. hi[i]`.
    lo: Vec<usize>,
    hi: Vec<usize>,
    /// Shift candidate being scored and best candidate so far.
    cand: Vec<u32>,
    best: Vec<u32>,
    /// Rolling rows for candidate scoring.
    row_a: Vec<i32>,
    row_b: Vec<i32>,
    /// Alignment of reference positions to hypothesis positions (-1 = before).
    align: Vec<i32>,
    /// Prefix sums of hypothesis / reference error flags (length n+1 / m+1).
    herr: Vec<u32>,
    rerr: Vec<u32>,
    /// Edit operations of the trace, collected back to front.
    ops: Vec<u8>,
    /// Number of word ids (reference words + one id for all other words).
    vocab: usize,
    /// Bit-parallel mode (see [`Scratch::run`]).
    fast: bool,
    /// Fewest insertions + deletions of a path that leaves the beam.
    lb_out: i64,
    /// 64-bit blocks per bit-parallel row, and the bit of column `m` in the last one.
    nb: usize,
    last_bit: u32,
    /// Match masks: `peq[id * nb + b]` has bit `t` set iff `ref[64 b + t] == id`.
    peq: Vec<u64>,
    /// Bit-parallel rows of `hyp`: per row `nb` pairs (Pv, Mv) of +1 / -1
    /// deltas along the reference, `(n+1) * 2 nb` words.
    states: Vec<u64>,
    /// `scores[i]` = distance of `hyp[..i]` to the whole reference (column m).
    scores: Vec<i32>,
    /// Reference positions of each word id: `pos_list[pos_start[id]..pos_start[id + 1]]`.
    pos_start: Vec<usize>,
    pos_list: Vec<u32>,
    /// Match masks of the reversed reference (bit `t` <-> `ref[m-1-t]`).
    peq_rev: Vec<u64>,
    /// Unrestricted cost-to-go of `hyp`, bit-parallel over the reversed
    /// sequences: row `q` holds the distances of `hyp[n-q..]` to the
    /// reference suffixes `ref[m-t..]` (as deltas over `t`). Rows for
    /// `i = n - q >= back_from` are up to date.
    back: Vec<u64>,
    back_from: usize,
    /// Rolling bit-parallel rows for candidate scoring.
    st_a: Vec<u64>,
    st_b: Vec<u64>,
}

/// Outcome of scoring one shift candidate against the running best.
struct Best {
    delta: i32,
    len: usize,
    start_h: usize,
    idx: usize,
}

impl Scratch {
    /// Full shift search for `self.hyp` against `self.refw` (m > 0); returns
    /// shifts + final edit distance.
    ///
    /// While the current distance is below `lb_out` ("fast" mode, the usual
    /// case, and permanent once reached since distances only decrease) every
    /// distance that can still matter and every optimal path are the same with
    /// and without the beam, so only bit-parallel rows are kept. Before that the
    /// beam-restricted scalar matrices give the distance and the trace.
    fn run(&mut self) -> usize {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        self.setup_beam(n, m);
        self.setup_bit_parallel();
        self.states_from(1);
        self.lb_out = self.lb_out();
        self.fast = self.lb_out > self.scores[n] as i64;
        if !self.fast {
            self.fwd.clear();
            self.fwd.resize((n + 1) * w, INF);
            self.bwd.clear();
            self.bwd.resize((n + 1) * w, INF);
            for j in 0..=m {
                self.fwd[j] = j as i32;
            }
            self.forward_from(1);
            self.backward_down_to(n);
        }
        let mut shifts = 0usize;
        let mut checked = 0usize;
        loop {
            // Distances only decrease, so once fast, always fast.
            self.fast = self.fast || (self.scores[n] as i64) < self.lb_out;
            let pre_score = if self.fast { self.scores[n] } else { self.fwd[n * w + m] };
            self.trace_alignment();
            match self.best_shift(pre_score, &mut checked) {
                ShiftResult::Abort | ShiftResult::NoGain => return shifts + pre_score as usize,
                ShiftResult::Shift => {
                    shifts += 1;
                    // Only rows after the common prefix / before the common
                    // suffix of old and new hypothesis change.
                    let k = common_prefix(&self.hyp, &self.best);
                    let r = n - common_suffix(&self.hyp, &self.best);
                    std::mem::swap(&mut self.hyp, &mut self.best);
                    self.states_from(k + 1);
                    self.back_from = self.back_from.max(r);
                    if !self.fast {
                        self.forward_from(k + 1);
                        self.backward_down_to(r);
                    }
                }
            }
        }
    }

    /// sacrebleu's beam: pseudo-diagonal `floor(i * m / n)`, half-width 25
    /// (widened for extreme length ratios), last row always complete.
    fn setup_beam(&mut self, n: usize, m: usize) {
        self.lo.clear();
        self.hi.clear();
        self.lo.push(0);
        self.hi.push(m + 1);
        if n == 0 {
            return;
        }
        let ratio = m as f64 / n as f64;
        let bw: i64 = if (BEAM_WIDTH as f64) < ratio / 2.0 {
            (ratio / 2.0 + BEAM_WIDTH as f64).ceil() as i64
        } else {
            BEAM_WIDTH as i64
        };
        for i in 1..=n {
            let diag = (i as f64 * ratio).floor() as i64;
            let lo = (diag - bw).max(0) as usize;
            let hi = if i == n {
                m + 1
            } else {
                ((diag + bw).min(m as i64 + 1)).max(0) as usize
            };
            self.lo.push(lo);
            self.hi.push(hi.max(lo));
        }
    }

    /// Smallest number of insertions + deletions on any path through a cell
    /// outside the beam (`i64::MAX` if there is none).
    fn lb_out(&self) -> i64 {
        let n = self.hyp.len() as i64;
        let m = self.refw.len() as i64;
        let mut best = i64::MAX;
        // g(j) = |i - j| + |(n - i) - (m - j)| is convex with its minimum on
        // [i, m - n + i]; on an interval it is minimal at a clamp of one end.
        let mut probe = |i: i64, a: i64, b: i64| {
            for x in [i, m - n + i] {
                let j = x.clamp(a, b);
                best = best.min((i - j).abs() + ((n - i) - (m - j)).abs());
            }
        };
        for i in 1..=n {
            let (lo, hi) = (self.lo[i as usize] as i64, self.hi[i as usize] as i64);
            if lo > 0 {
                probe(i, 0, lo - 1);
            }
            if hi <= m {
                probe(i, hi, m);
            }
        }
        best
    }

    /// Match masks of the reference and the (unrestricted) first row.
    fn setup_bit_parallel(&mut self) {
        let n = self.hyp.len();
        let m = self.refw.len();
        let nb = m.div_ceil(64);
        self.nb = nb;
        self.last_bit = ((m - 1) % 64) as u32;
        self.peq.clear();
        self.peq.resize(self.vocab * nb, 0);
        self.pos_start.clear();
        self.pos_start.resize(self.vocab + 1, 0);
        for (j, &id) in self.refw.iter().enumerate() {
            self.peq[id as usize * nb + j / 64] |= 1u64 << (j % 64);
            self.pos_start[id as usize + 1] += 1;
        }
        for id in 0..self.vocab {
            self.pos_start[id + 1] += self.pos_start[id];
        }
        self.pos_list.clear();
        self.pos_list.resize(m, 0);
        let mut fill = self.pos_start.clone();
        for (j, &id) in self.refw.iter().enumerate() {
            self.pos_list[fill[id as usize]] = j as u32;
            fill[id as usize] += 1;
        }
        self.states.clear();
        self.states.resize((n + 1) * 2 * nb, 0);
        for b in 0..nb {
            self.states[2 * b] = !0; // D(0, j) = j: all +1
        }
        self.scores.clear();
        self.scores.resize(n + 1, 0);
        self.scores[0] = m as i32;
        self.peq_rev.clear();
        self.peq_rev.resize(self.vocab * nb, 0);
        for (j, &id) in self.refw.iter().enumerate() {
            let t = m - 1 - j;
            self.peq_rev[id as usize * nb + t / 64] |= 1u64 << (t % 64);
        }
        self.back.clear();
        self.back.resize((n + 1) * 2 * nb, 0);
        for b in 0..nb {
            self.back[2 * b] = !0;
        }
        self.back_from = n;
    }

    /// Recomputes bit-parallel rows `start..=n` of `self.hyp` (row `start-1` valid).
    fn states_from(&mut self, start: usize) {
        let n = self.hyp.len();
        let nb = self.nb;
        for i in start..=n {
            let (prev_rows, cur_rows) = self.states.split_at_mut(i * 2 * nb);
            let prev = &prev_rows[(i - 1) * 2 * nb..];
            let id = self.hyp[i - 1] as usize;
            let d = myers_row(
                prev,
                &mut cur_rows[..2 * nb],
                &self.peq[id * nb..(id + 1) * nb],
                self.last_bit,
            );
            self.scores[i] = self.scores[i - 1] + d;
        }
    }

    /// Distance of `hyp[..i]` to `ref[..j]` (beam applied unless in fast mode).
    #[inline]
    fn val(&self, i: usize, j: usize) -> i32 {
        if !self.fast {
            return self.fwd[i * (self.refw.len() + 1) + j];
        }
        let nb = self.nb;
        let st = &self.states[i * 2 * nb..(i + 1) * 2 * nb];
        let mut v = i as i32;
        let full = j / 64;
        for b in 0..full {
            v += st[2 * b].count_ones() as i32 - st[2 * b + 1].count_ones() as i32;
        }
        let rem = j % 64;
        if rem > 0 {
            let mask = (1u64 << rem) - 1;
            v += (st[2 * full] & mask).count_ones() as i32 - (st[2 * full + 1] & mask).count_ones() as i32;
        }
        v
    }

    /// `D(i, j) - D(i, j - 1)` for `j >= 1`.
    #[inline]
    fn step(&self, i: usize, j: usize) -> i32 {
        if !self.fast {
            let w = self.refw.len() + 1;
            return self.fwd[i * w + j] - self.fwd[i * w + j - 1];
        }
        let nb = self.nb;
        let t = j - 1;
        let base = i * 2 * nb + 2 * (t / 64);
        ((self.states[base] >> (t % 64)) & 1) as i32 - ((self.states[base + 1] >> (t % 64)) & 1) as i32
    }

    /// Recomputes forward rows `start..=n` of `self.hyp` (row `start-1` valid).
    fn forward_from(&mut self, start: usize) {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        for i in start..=n {
            let (prev_rows, cur_rows) = self.fwd.split_at_mut(i * w);
            let prev = &prev_rows[(i - 1) * w..];
            let cur = &mut cur_rows[..w];
            compute_row(prev, cur, self.hyp[i - 1], &self.refw, self.lo[i], self.hi[i]);
        }
    }

    /// Recomputes backward rows `last..=0` going down (rows above `last` valid).
    fn backward_down_to(&mut self, last: usize) {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        for i in (0..=last.min(n)).rev() {
            let (cur_rows, next_rows) = self.bwd.split_at_mut((i + 1) * w);
            let cur = &mut cur_rows[i * w..];
            cur.fill(INF);
            let (lo, hi) = (self.lo[i], self.hi[i]);
            if i == n {
                // Row n: only insertions remain; its beam always ends at m.
                for (j, v) in cur.iter_mut().enumerate().take(m + 1).skip(lo) {
                    *v = (m - j) as i32;
                }
                continue;
            }
            let next = &next_rows[..w];
            let word = self.hyp[i];
            let mut right = INF; // cur[j + 1]
            for j in (lo..hi).rev() {
                let mut v = next[j] + 1; // deletion of hyp word i
                if j < m {
                    let sub = next[j + 1] + (word != self.refw[j]) as i32;
                    v = v.min(sub).min(right + 1);
                }
                let v = v.min(INF);
                cur[j] = v;
                right = v;
            }
        }
    }

    /// Trace of the optimal alignment (sacrebleu's tie-breaking: match /
    /// substitution, then deletion, then insertion of the reference-to-
    /// hypothesis DP), flipped and turned into `align`, `herr`, `rerr`.
    fn trace_alignment(&mut self) {
        let n = self.hyp.len();
        let m = self.refw.len();
        self.ops.clear();
        let (mut i, mut j) = (n, m);
        // c = D(i, j), up = D(i-1, j) (kept up to date while walking left).
        let mut c = self.val(n, m);
        let mut up = if n > 0 { self.val(n - 1, m) } else { 0 };
        while i > 0 || j > 0 {
            let op = if i == 0 || j == 0 {
                c -= 1;
                if i == 0 {
                    b'i'
                } else {
                    b'd'
                }
            } else {
                let sub = (self.hyp[i - 1] != self.refw[j - 1]) as i32;
                let diag = up - self.step(i - 1, j);
                if diag + sub == c {
                    c = diag;
                    if sub == 0 {
                        b' '
                    } else {
                        b's'
                    }
                } else if up + 1 == c {
                    c = up;
                    b'd'
                } else {
                    debug_assert_eq!(self.val(i, j - 1) + 1, c);
                    c -= 1;
                    b'i'
                }
            };
            self.ops.push(op);
            match op {
                b'i' => {
                    if i > 0 {
                        up -= self.step(i - 1, j);
                    }
                    j -= 1;
                }
                b'd' => {
                    i -= 1;
                    if i > 0 {
                        up = self.val(i - 1, j);
                    }
                }
                _ => {
                    i -= 1;
                    j -= 1;
                    if i > 0 {
                        up = self.val(i - 1, j);
                    }
                }
            }
            debug_assert!(i == 0 || up == self.val(i - 1, j));
            debug_assert_eq!(c, self.val(i, j));
        }
        // Walk forwards; DP 'd' (hyp word consumed) is the flipped 'i' and vice versa.
        self.align.clear();
        self.herr.clear();
        self.rerr.clear();
        self.herr.push(0);
        self.rerr.push(0);
        let mut pos_hyp: i32 = -1;
        for &op in self.ops.iter().rev() {
            match op {
                b' ' | b's' => {
                    let e = (op == b's') as u32;
                    pos_hyp += 1;
                    self.align.push(pos_hyp);
                    let h = *self.herr.last().unwrap();
                    self.herr.push(h + e);
                    let r = *self.rerr.last().unwrap();
                    self.rerr.push(r + e);
                }
                b'd' => {
                    pos_hyp += 1;
                    let h = *self.herr.last().unwrap();
                    self.herr.push(h + 1);
                }
                _ => {
                    self.align.push(pos_hyp);
                    let r = *self.rerr.last().unwrap();
                    self.rerr.push(r + 1);
                }
            }
        }
        debug_assert_eq!(self.align.len(), m);
        debug_assert_eq!(self.herr.len(), n + 1);
    }

    /// sacrebleu's `_shift`: enumerates candidates in its order, counts them,
    /// and keeps the best one with a positive gain in `self.best`.
    fn best_shift(&mut self, pre_score: i32, checked: &mut usize) -> ShiftResult {
        let n = self.hyp.len();
        let m = self.refw.len();
        let mut best: Option<Best> = None;
        for start_h in 0..n {
            let r_lo = start_h.saturating_sub(MAX_SHIFT_DIST);
            let r_hi = (start_h + MAX_SHIFT_DIST + 1).min(m);
            // Reference positions holding this word, ascending (sacrebleu scans
            // all positions in order; the others never match).
            let id = self.hyp[start_h] as usize;
            for p in self.pos_start[id]..self.pos_start[id + 1] {
                let start_r = self.pos_list[p] as usize;
                if start_r < r_lo {
                    continue;
                }
                if start_r >= r_hi {
                    break;
                }
                let mut len = 0;
                while len < MAX_SHIFT_SIZE && self.hyp[start_h + len] == self.refw[start_r + len] {
                    len += 1;
                    self.try_block(start_h, start_r, len, pre_score, checked, &mut best);
                    if *checked >= MAX_SHIFT_CANDIDATES {
                        return ShiftResult::Abort;
                    }
                    if start_h + len == n || start_r + len == m {
                        break;
                    }
                }
            }
        }
        match best {
            Some(_) => ShiftResult::Shift,
            None => ShiftResult::NoGain,
        }
    }

    /// The candidates of one matching block (sacrebleu's filters, then one
    /// candidate per distinct consecutive target position).
    fn try_block(
        &mut self,
        start_h: usize,
        start_r: usize,
        len: usize,
        pre_score: i32,
        checked: &mut usize,
        best: &mut Option<Best>,
    ) {
        if self.herr[start_h + len] == self.herr[start_h] {
            return; // hypothesis block already correct
        }
        if self.rerr[start_r + len] == self.rerr[start_r] {
            return; // reference block already matched
        }
        let a = self.align[start_r];
        if start_h as i32 <= a && a < (start_h + len) as i32 {
            return; // would shift within itself
        }
        let mut prev_idx: i64 = -1;
        for offset in -1i64..len as i64 {
            let p = start_r as i64 + offset;
            let idx = if p == -1 { 0 } else { self.align[p as usize] as i64 + 1 };
            if idx == prev_idx {
                continue;
            }
            prev_idx = idx;
            *checked += 1;
            let idx = idx as usize;
            // Gain needed to beat the best so far under the ranking
            // (gain, length, -start_h, -idx); gains <= 0 never matter.
            let need = match best {
                None => 1,
                Some(b) => {
                    let tie_wins = (len, std::cmp::Reverse(start_h), std::cmp::Reverse(idx))
                        > (b.len, std::cmp::Reverse(b.start_h), std::cmp::Reverse(b.idx));
                    if tie_wins {
                        b.delta
                    } else {
                        b.delta + 1
                    }
                }
            };
            let max_cost = pre_score - need;
            if max_cost < 0 {
                continue;
            }
            perform_shift(&self.hyp, start_h, len, idx, &mut self.cand);
            if let Some(cost) = self.candidate_cost(max_cost) {
                *best = Some(Best {
                    delta: pre_score - cost,
                    len,
                    start_h,
                    idx,
                });
                std::mem::swap(&mut self.best, &mut self.cand);
            }
        }
    }

    /// Unrestricted distance of `self.cand` (equal to `self.hyp` outside rows
    /// `k+1..=r`) if it is at most `max_cost`, else `None`; `NB` = `self.nb`.
    ///
    /// Rows `k+1..=r` are computed bit-parallel from the hypothesis' row `k`.
    /// The rest either continues row by row, stopping as soon as the row equals
    /// the hypothesis' row (the distance is then the hypothesis' unrestricted
    /// one; in fast mode that is `pre_score`, which never wins) or the last
    /// column proves the bound exceeded (it drops at most 1 per row), or, when
    /// many rows remain, combines row `r` with the cost-to-go of the shared
    /// suffix: `min_j D(r, j) + back(r, j)`.
    #[inline(never)]
    fn unrestricted_cost<const NB: usize>(&mut self, k: usize, r: usize, max_cost: i32) -> Option<i32> {
        let n = self.hyp.len();
        let m = self.refw.len();
        let last_bit = self.last_bit;
        let mut pv = [0u64; NB];
        let mut mv = [0u64; NB];
        for b in 0..NB {
            pv[b] = self.states[k * 2 * NB + 2 * b];
            mv[b] = self.states[k * 2 * NB + 2 * b + 1];
        }
        let mut score = self.scores[k];
        for i in k + 1..=r {
            let id = self.cand[i - 1] as usize;
            score += myers_step_n::<NB>(&mut pv, &mut mv, &self.peq[id * NB..(id + 1) * NB], last_bit);
            if score - ((n - i) as i32) > max_cost {
                return None;
            }
        }
        if r < n && (n - r) * NB * 2 > m {
            self.ensure_back(r);
            let q = n - r;
            let back = &self.back[q * 2 * NB..(q + 1) * 2 * NB];
            // Walk j = m..0 with c = D(r, j) and v = back(r, j) = D'(q, m - j).
            let mut c = score;
            let mut v = q as i32;
            let mut best = c + v;
            for j in (0..m).rev() {
                c -= ((pv[j / 64] >> (j % 64)) & 1) as i32 - ((mv[j / 64] >> (j % 64)) & 1) as i32;
                let t = m - 1 - j;
                v += ((back[2 * (t / 64)] >> (t % 64)) & 1) as i32 - ((back[2 * (t / 64) + 1] >> (t % 64)) & 1) as i32;
                best = best.min(c + v);
            }
            return (best <= max_cost).then_some(best);
        }
        let valid = !0u64 >> (63 - last_bit);
        for i in r + 1..=n {
            let id = self.hyp[i - 1] as usize;
            score += myers_step_n::<NB>(&mut pv, &mut mv, &self.peq[id * NB..(id + 1) * NB], last_bit);
            if score - ((n - i) as i32) > max_cost {
                return None;
            }
            let st = &self.states[i * 2 * NB..(i + 1) * 2 * NB];
            let mut same = true;
            for b in 0..NB {
                let mask = if b + 1 == NB { valid } else { !0 };
                same &= (pv[b] ^ st[2 * b]) & mask == 0 && (mv[b] ^ st[2 * b + 1]) & mask == 0;
            }
            if same {
                // From here on the rows are the hypothesis' own.
                let c = self.scores[n];
                return (c <= max_cost).then_some(c);
            }
        }
        (score <= max_cost).then_some(score)
    }

    /// [`Scratch::unrestricted_cost`] for any number of blocks (rows `k+1..=n`).
    fn unrestricted_cost_any(&mut self, k: usize, r: usize, max_cost: i32) -> Option<i32> {
        let n = self.hyp.len();
        let nb = self.nb;
        self.st_a.clear();
        self.st_a.extend_from_slice(&self.states[k * 2 * nb..(k + 1) * 2 * nb]);
        self.st_b.clear();
        self.st_b.resize(2 * nb, 0);
        let mut score = self.scores[k];
        for i in k + 1..=n {
            let id = self.cand[i - 1] as usize;
            score += myers_row(
                &self.st_a,
                &mut self.st_b,
                &self.peq[id * nb..(id + 1) * nb],
                self.last_bit,
            );
            std::mem::swap(&mut self.st_a, &mut self.st_b);
            if score - ((n - i) as i32) > max_cost {
                return None;
            }
            if i >= r && same_row(&self.st_a, &self.states[i * 2 * nb..(i + 1) * 2 * nb], self.last_bit) {
                let c = self.scores[n];
                return (c <= max_cost).then_some(c);
            }
        }
        (score <= max_cost).then_some(score)
    }

    /// Makes the cost-to-go rows for `i = r..=n` of `self.back` valid; rows for
    /// `i >= back_from` are kept from earlier calls.
    fn ensure_back(&mut self, r: usize) {
        let n = self.hyp.len();
        let nb = self.nb;
        for i in (r..self.back_from).rev() {
            let q = n - i;
            let (prev_rows, cur_rows) = self.back.split_at_mut(q * 2 * nb);
            let prev = &prev_rows[(q - 1) * 2 * nb..];
            let id = self.hyp[i] as usize;
            myers_row(
                prev,
                &mut cur_rows[..2 * nb],
                &self.peq_rev[id * nb..(id + 1) * nb],
                self.last_bit,
            );
        }
        self.back_from = self.back_from.min(r);
    }

    /// Edit distance of `self.cand` if it is at most `max_cost`, else `None`.
    fn candidate_cost(&mut self, max_cost: i32) -> Option<i32> {
        let n = self.hyp.len();
        let m = self.refw.len();
        let w = m + 1;
        let k = common_prefix(&self.hyp, &self.cand);
        if k == n {
            let c = if self.fast { self.scores[n] } else { self.fwd[n * w + m] };
            return (c <= max_cost).then_some(c);
        }
        // Unrestricted distance first: it is a lower bound of the beam-restricted
        // one, and equal to it when below `lb_out`.
        let r = n - common_suffix(&self.hyp, &self.cand);
        let score = match self.nb {
            1 => self.unrestricted_cost::<1>(k, r, max_cost),
            2 => self.unrestricted_cost::<2>(k, r, max_cost),
            3 => self.unrestricted_cost::<3>(k, r, max_cost),
            4 => self.unrestricted_cost::<4>(k, r, max_cost),
            _ => self.unrestricted_cost_any(k, r, max_cost),
        }?;
        if self.fast || (score as i64) < self.lb_out {
            return Some(score);
        }
        // rows k+1..=r with the candidate's words, starting from base row k
        self.row_a.clear();
        self.row_a.extend_from_slice(&self.fwd[k * w..(k + 1) * w]);
        self.row_b.clear();
        self.row_b.resize(w, INF);
        for i in k + 1..=r {
            let row_min = compute_row(
                &self.row_a,
                &mut self.row_b,
                self.cand[i - 1],
                &self.refw,
                self.lo[i],
                self.hi[i],
            );
            if row_min > max_cost {
                return None;
            }
            std::mem::swap(&mut self.row_a, &mut self.row_b);
        }
        let bwd = &self.bwd[r * w..(r + 1) * w];
        let (lo, hi) = (self.lo[r], self.hi[r]);
        let cost = self.row_a[lo..hi]
            .iter()
            .zip(&bwd[lo..hi])
            .map(|(f, b)| f + b)
            .min()
            .unwrap_or(INF);
        (cost <= max_cost).then_some(cost)
    }
}

/// How one round of the shift search ended.
enum ShiftResult {
    /// 1000 candidates were scored: stop, the pending shift is discarded.
    Abort,
    /// No shift lowers the edit distance.
    NoGain,
    /// `Scratch::best` holds the shifted hypothesis to continue with.
    Shift,
}

/// One unrestricted Levenshtein row, bit-parallel (Myers 1999 in Hyyrö's
/// block formulation): `prev`/`cur` hold per 64-column block the (Pv, Mv)
/// delta masks, `eq` the match mask of the hypothesis word. The first column
/// grows by one per row (deleting hypothesis words). Returns the change of the
/// value in the last column.
#[inline]
fn myers_row(prev: &[u64], cur: &mut [u64], eq: &[u64], last_bit: u32) -> i32 {
    let nb = eq.len();
    let mut hin: i32 = 1;
    for b in 0..nb {
        let pv = prev[2 * b];
        let mv = prev[2 * b + 1];
        let e = eq[b];
        let xv = e | mv;
        let e = if hin < 0 { e | 1 } else { e };
        let xh = ((e & pv).wrapping_add(pv) ^ pv) | e;
        let mut ph = mv | !(xh | pv);
        let mut mh = pv & xh;
        let bit = if b + 1 == nb { last_bit } else { 63 };
        let hout = ((ph >> bit) & 1) as i32 - ((mh >> bit) & 1) as i32;
        ph <<= 1;
        mh <<= 1;
        if hin < 0 {
            mh |= 1;
        } else if hin > 0 {
            ph |= 1;
        }
        cur[2 * b] = mh | !(xv | ph);
        cur[2 * b + 1] = ph & xv;
        hin = hout;
    }
    hin
}

/// Whether two bit-parallel rows agree on all real columns.
#[inline]
fn same_row(a: &[u64], b: &[u64], last_bit: u32) -> bool {
    let last = a.len() - 2;
    for t in 0..last {
        if a[t] != b[t] {
            return false;
        }
    }
    let valid = !0u64 >> (63 - last_bit);
    (a[last] ^ b[last]) & valid == 0 && (a[last + 1] ^ b[last + 1]) & valid == 0
}

/// [`myers_row`] with the block count known at compile time and the row
/// kept in registers.
#[inline(always)]
fn myers_step_n<const NB: usize>(pv: &mut [u64; NB], mv: &mut [u64; NB], eq: &[u64], last_bit: u32) -> i32 {
    let mut hin: i32 = 1;
    for b in 0..NB {
        let e = eq[b];
        let xv = e | mv[b];
        let e = if hin < 0 { e | 1 } else { e };
        let xh = ((e & pv[b]).wrapping_add(pv[b]) ^ pv[b]) | e;
        let mut ph = mv[b] | !(xh | pv[b]);
        let mut mh = pv[b] & xh;
        let bit = if b + 1 == NB { last_bit } else { 63 };
        let hout = ((ph >> bit) & 1) as i32 - ((mh >> bit) & 1) as i32;
        ph <<= 1;
        mh <<= 1;
        if hin < 0 {
            mh |= 1;
        } else if hin > 0 {
            ph |= 1;
        }
        pv[b] = mh | !(xv | ph);
        mv[b] = ph & xv;
        hin = hout;
    }
    hin
}

/// One beam-restricted Levenshtein row: `cur[lo..hi]` from `prev` (cells
/// outside the beam are `INF`); returns the row minimum.
#[inline]
fn compute_row(prev: &[i32], cur: &mut [i32], word: u32, refw: &[u32], lo: usize, hi: usize) -> i32 {
    let w = refw.len() + 1;
    let prev = &prev[..w];
    let cur = &mut cur[..w];
    // Cells outside the beam must read as INF for the next row.
    cur[..lo].fill(INF);
    cur[hi..].fill(INF);
    let mut left = INF;
    let mut j = lo;
    if j == 0 {
        left = prev[0] + 1;
        cur[0] = left;
        j = 1;
    }
    let mut row_min = left;
    let refs = &refw[..hi - 1];
    while j < hi {
        let sub = prev[j - 1] + (word != refs[j - 1]) as i32;
        let v = sub.min(prev[j] + 1).min(left + 1).min(INF);
        cur[j] = v;
        left = v;
        row_min = row_min.min(v);
        j += 1;
    }
    row_min
}

/// sacrebleu's `_perform_shift`: moves `words[start..start+len]` so that it
/// starts before position `target` (with Python's slice clamping).
fn perform_shift(words: &[u32], start: usize, len: usize, target: usize, out: &mut Vec<u32>) {
    out.clear();
    let n = words.len();
    if target < start {
        out.extend_from_slice(&words[..target]);
        out.extend_from_slice(&words[start..start + len]);
        out.extend_from_slice(&words[target..start]);
        out.extend_from_slice(&words[start + len..]);
    } else if target > start + len {
        out.extend_from_slice(&words[..start]);
        out.extend_from_slice(&words[start + len..target]);
        out.extend_from_slice(&words[start..start + len]);
        out.extend_from_slice(&words[target..]);
    } else {
        let mid = (len + target).min(n);
        out.extend_from_slice(&words[..start]);
        out.extend_from_slice(&words[start + len..mid]);
        out.extend_from_slice(&words[start..start + len]);
        out.extend_from_slice(&words[mid..]);
    }
    debug_assert_eq!(out.len(), n);
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &[u32], b: &[u32]) -> usize {
    a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ter_is_sync() {
        fn assert_sync<T: Sync + Send>() {}
        assert_sync::<Ter>();
    }

    #[test]
    fn basic_cases() {
        let ter = Ter::default();
        assert_eq!(ter.segment_stats("", &[""]), [0.0, 0.0]);
        assert_eq!(ter.segment_stats("a b", &[""]), [2.0, 0.0]);
        assert_eq!(ter.segment_stats("", &["a b"]), [2.0, 2.0]);
        assert_eq!(ter.segment_stats("A b", &["a B"]), [0.0, 2.0]);
        // one shift moves "c d" to the front
        assert_eq!(ter.segment_stats("a b c d", &["c d a b"]), [1.0, 4.0]);
        assert_eq!(Ter::score_from_stats(&[3.0, 0.0]), 100.0);
        assert_eq!(Ter::score_from_stats(&[0.0, 0.0]), 0.0);
    }
}

/// TER as a [`SegmentMetric`]: statistics `[edits, reference length]`.
impl crate::corpus::SegmentMetric for Ter {
    fn name(&self) -> String {
        "TER".into()
    }
    fn num_stats(&self) -> usize {
        2
    }
    fn segment_stats(&self, hypothesis: &str, references: &[&str], out: &mut [f64]) {
        out.copy_from_slice(&Ter::segment_stats(self, hypothesis, references));
    }
    fn score_from_stats(&self, stats: &[f64]) -> f64 {
        Ter::score_from_stats(&[stats[0], stats[1]])
    }
}

impl Ter {
    /// sacrebleu's signature: `nrefs:1|case:lc|tok:tercom|norm:no|punct:yes|asian:no|version:2.6.0`.
    pub fn signature(&self, nrefs: Option<usize>, resampling: crate::corpus::Resampling) -> String {
        let o = &self.opts;
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        crate::corpus::signature(
            nrefs,
            resampling,
            &[
                ("case", if o.case_sensitive { "mixed" } else { "lc" }.into()),
                ("tok", "tercom".into()),
                ("norm", yn(o.normalized)),
                ("punct", yn(!o.no_punct)),
                ("asian", yn(o.asian_support)),
            ],
        )
    }
}
