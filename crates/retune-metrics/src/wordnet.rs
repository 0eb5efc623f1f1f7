//! A small, read-only reader for the Princeton WordNet 3.0 database files
//! (`index.*`, `data.*`, `*.exc`, as shipped by Debian's `wordnet-base` in
//! `/usr/share/wordnet`), giving the same answers as nltk 3.10.4's
//! `WordNetCorpusReader` for what METEOR needs:
//!
//! * [`WordNet::morphy`] — nltk's `_morphy(form, pos)`: the exception list of
//!   the part of speech if the form is in it, otherwise one application of the
//!   suffix rules, then every candidate (the form itself first) that is a lemma
//!   of that part of speech;
//! * [`WordNet::synsets`] — nltk's `synsets(word)`: the word lower-cased, the
//!   parts of speech searched in nltk's order noun, verb, adjective, adverb
//!   (adjective satellites are found through the adjective index), every
//!   morphy form, every synset offset listed for that form;
//! * [`WordNet::lemma_names`] / [`WordNet::synonyms`] — the lemma names of
//!   those synsets, with the adjective syntactic markers such as `(a)` or
//!   `(ip)` removed and their case kept (as nltk's `Lemma.name()`).
//!
//! Loading reads the four index files (lemma → synset offsets), the four
//! exception lists and the four data files into memory; synset lines are only
//! parsed when asked for. Every offset the index lists is checked at load to
//! point at the start of the synset line with that offset, so later look-ups
//! cannot fail.

use std::fmt;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// Environment variable that overrides [`default_dir`].
pub const WORDNET_DIR_ENV: &str = "WORDNET_DIR";

/// The directory the WordNet database is read from by default: the value of
/// the environment variable `WORDNET_DIR` when it is set and not empty,
/// otherwise `/usr/share/wordnet` (Debian's `wordnet-base`).
pub fn default_dir() -> PathBuf {
    match std::env::var_os(WORDNET_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/usr/share/wordnet"),
    }
}

/// Errors raised while loading the WordNet database; each names the file (and
/// where it applies, the 1-based line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum WordNetError {
    /// A file could not be read.
    #[error("cannot read WordNet file {}: {source}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what the WordNet format prescribes.
    #[error("malformed WordNet file {}, line {line}: {message}", path.display())]
    Parse {
        /// The file at fault.
        path: PathBuf,
        /// The 1-based line number at fault.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// A WordNet part of speech, as searched by nltk's `synsets()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pos {
    /// Nouns (`n`, files `index.noun`, `data.noun`, `noun.exc`).
    Noun,
    /// Verbs (`v`, files `index.verb`, `data.verb`, `verb.exc`).
    Verb,
    /// Adjectives, head and satellite (`a`/`s`, files `index.adj`,
    /// `data.adj`, `adj.exc`).
    Adj,
    /// Adverbs (`r`, files `index.adv`, `data.adv`, `adv.exc`).
    Adv,
}

impl Pos {
    /// The parts of speech in the order nltk's `POS_LIST` searches them:
    /// noun, verb, adjective, adverb.
    pub const ALL: [Pos; 4] = [Pos::Noun, Pos::Verb, Pos::Adj, Pos::Adv];

    /// The file-name suffix of this part of speech (`noun`, `verb`, `adj`, `adv`).
    pub fn file_suffix(self) -> &'static str {
        match self {
            Pos::Noun => "noun",
            Pos::Verb => "verb",
            Pos::Adj => "adj",
            Pos::Adv => "adv",
        }
    }

    /// The one-letter WordNet tag (`n`, `v`, `a`, `r`).
    pub fn tag(self) -> char {
        match self {
            Pos::Noun => 'n',
            Pos::Verb => 'v',
            Pos::Adj => 'a',
            Pos::Adv => 'r',
        }
    }

    fn from_tag(tag: &str) -> Option<Pos> {
        match tag {
            "n" => Some(Pos::Noun),
            "v" => Some(Pos::Verb),
            "a" => Some(Pos::Adj),
            "r" => Some(Pos::Adv),
            _ => None,
        }
    }

    fn idx(self) -> usize {
        self as usize
    }

    /// nltk's `MORPHOLOGICAL_SUBSTITUTIONS` for this part of speech, in order:
    /// (suffix to remove, suffix to put in its place).
    fn substitutions(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Pos::Noun => &[
                ("s", ""),
                ("ses", "s"),
                ("ves", "f"),
                ("xes", "x"),
                ("zes", "z"),
                ("ches", "ch"),
                ("shes", "sh"),
                ("men", "man"),
                ("ies", "y"),
            ],
            Pos::Verb => &[
                ("s", ""),
                ("ies", "y"),
                ("es", "e"),
                ("es", ""),
                ("ed", "e"),
                ("ed", ""),
                ("ing", "e"),
                ("ing", ""),
            ],
            Pos::Adj => &[("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
            Pos::Adv => &[],
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.tag())
    }
}

/// One synset: a part of speech and the byte offset of its line in that
/// part of speech's data file (which is how WordNet names synsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Synset {
    /// The part of speech whose data file holds the synset.
    pub pos: Pos,
    /// The byte offset of the synset's line in `data.<pos>`.
    pub offset: u32,
}

pub(crate) use crate::hashing::{FxHashMap, FxHasher};

/// An exception list: inflected form → base forms.
type ExceptionMap = FxHashMap<Box<str>, Box<[Box<str>]>>;

/// One line of an index file: the lemma (a range of that file's text) and
/// where its synset offsets lie in `WordNet::offsets`.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    file: u8,
    key_start: u32,
    key_len: u32,
    offsets_start: u32,
    offsets_len: u32,
}

/// The lemma of an index line.
fn entry_key<'a>(index_text: &'a [String; 4], e: &IndexEntry) -> &'a [u8] {
    let start = e.key_start as usize;
    &index_text[e.file as usize].as_bytes()[start..start + e.key_len as usize]
}

/// A hash of `bytes` (Fx, then a 64-bit finaliser so all bits are mixed).
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// An open-addressing hash table from a lemma to the index of its entry in
/// a `Vec<IndexEntry>`; each slot holds 32 bits of the key's hash and the
/// entry index + 1 (0: empty), so that most misses touch one slot only.
#[derive(Debug, Default)]
struct LemmaTable {
    slots: Vec<u64>,
    shift: u32,
}

impl LemmaTable {
    /// Indexes `entries`; of entries with equal keys the last one wins.
    fn build<'a>(entries: &[IndexEntry], key: impl Fn(&IndexEntry) -> &'a [u8]) -> LemmaTable {
        let bits = (entries.len().max(1) * 2).next_power_of_two().trailing_zeros().max(4);
        let mut table = LemmaTable {
            slots: vec![0; 1 << bits],
            shift: 64 - bits,
        };
        for (i, e) in entries.iter().enumerate() {
            let k = key(e);
            let (mut slot, tag) = table.start(k);
            loop {
                let v = table.slots[slot];
                if v == 0 {
                    table.slots[slot] = tag | (i as u64 + 1);
                    break;
                }
                let j = (v & 0xffff_ffff) as usize - 1;
                if v & !0xffff_ffff == tag && key(&entries[j]) == k {
                    table.slots[slot] = tag | (i as u64 + 1);
                    break;
                }
                slot = (slot + 1) & (table.slots.len() - 1);
            }
        }
        table
    }

    /// First slot to probe, and the tag of `key` (32 bits of its hash, in
    /// the high half of a slot).
    #[inline]
    fn start(&self, key: &[u8]) -> (usize, u64) {
        let h = hash_bytes(key);
        ((h >> self.shift) as usize, h << 32)
    }

    /// The entry index of `key`, `key_of` giving an entry's key.
    #[inline]
    fn find<'a>(&self, key: &[u8], key_of: impl Fn(usize) -> &'a [u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let (mut slot, tag) = self.start(key);
        loop {
            let v = self.slots[slot];
            if v == 0 {
                return None;
            }
            let j = (v & 0xffff_ffff) as usize - 1;
            if v & !0xffff_ffff == tag && key_of(j) == key {
                return Some(j);
            }
            slot = (slot + 1) & (self.slots.len() - 1);
        }
    }
}

/// The WordNet 3.0 database, loaded from a directory of `index.*`, `data.*`
/// and `*.exc` files. Read-only after loading, so it is `Send + Sync`.
pub struct WordNet {
    dir: PathBuf,
    /// The contents of `index.noun`, `index.verb`, `index.adj`, `index.adv`.
    index_text: [String; 4],
    /// Per part of speech: the index lines, in file order.
    index: [Vec<IndexEntry>; 4],
    /// Per part of speech: lemma → its (last, as nltk's dict keeps) line.
    lookup: [LemmaTable; 4],
    offsets: Vec<u32>,
    /// Per part of speech: inflected form → base forms (`*.exc`).
    exceptions: [ExceptionMap; 4],
    /// The contents of `data.noun`, `data.verb`, `data.adj`, `data.adv`.
    data: [String; 4],
    /// Per data file: bit set of the offsets that start a synset line.
    line_starts: [Vec<u64>; 4],
    /// Per data file: whether it is all ASCII.
    data_ascii: [bool; 4],
}

impl fmt::Debug for WordNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordNet")
            .field("dir", &self.dir)
            .field("index_entries", &self.index.iter().map(Vec::len).sum::<usize>())
            .field("offsets", &self.offsets.len())
            .finish_non_exhaustive()
    }
}

fn read_text(path: &Path) -> Result<String, WordNetError> {
    let bytes = std::fs::read(path).map_err(|source| WordNetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..valid].iter().filter(|&&b| b == b'\n').count();
        WordNetError::Parse {
            path: path.to_path_buf(),
            line,
            message: "not valid UTF-8".to_string(),
        }
    })
}

use crate::text::is_py_whitespace;

/// Python's `str.split()` (no arguments) of `line`; `ascii` says that
/// `line` is known to be ASCII, which allows a byte-wise scan.
fn py_split(line: &str, ascii: bool) -> PySplit<'_> {
    PySplit { rest: line, ascii }
}

/// Iterator of [`py_split`].
struct PySplit<'a> {
    rest: &'a str,
    ascii: bool,
}

impl<'a> Iterator for PySplit<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.ascii {
            let bytes = self.rest.as_bytes();
            let is_ws = |b: u8| matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f);
            let start = bytes.iter().position(|&b| !is_ws(b))?;
            let end = bytes[start..]
                .iter()
                .position(|&b| is_ws(b))
                .map_or(bytes.len(), |n| start + n);
            let token = &self.rest[start..end];
            self.rest = &self.rest[end..];
            Some(token)
        } else {
            let trimmed = self.rest.trim_start_matches(is_py_whitespace);
            if trimmed.is_empty() {
                self.rest = trimmed;
                return None;
            }
            let end = trimmed.find(is_py_whitespace).unwrap_or(trimmed.len());
            self.rest = &trimmed[end..];
            Some(&trimmed[..end])
        }
    }
}

/// Bit set of the byte offsets of `data` that start a line which begins
/// with that offset written as 8 digits (what nltk's
/// `synset_from_pos_and_offset` checks before parsing a synset line).
fn synset_line_starts(data: &str) -> Vec<u64> {
    let bytes = data.as_bytes();
    let mut bits = vec![0u64; bytes.len() / 64 + 1];
    let mut start = 0usize;
    while start < bytes.len() {
        if offset_is_valid(bytes, start) {
            bits[start / 64] |= 1 << (start % 64);
        }
        match data[start..].find('\n') {
            Some(n) => start += n + 1,
            None => break,
        }
    }
    bits
}

#[inline]
fn bit_is_set(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

impl WordNet {
    /// Loads the database from `dir` (for instance [`default_dir`]): the files
    /// `index.{noun,verb,adj,adv}`, `data.{noun,verb,adj,adv}` and
    /// `{noun,verb,adj,adv}.exc`. Fails, naming the file and line, when one is
    /// missing or malformed (an index line that nltk would reject, or an
    /// offset that is not the start of a synset line of the data file).
    pub fn load(dir: &Path) -> Result<WordNet, WordNetError> {
        let mut data: [String; 4] = Default::default();
        for pos in Pos::ALL {
            data[pos.idx()] = read_text(&dir.join(format!("data.{}", pos.file_suffix())))?;
        }

        let mut line_starts: [Vec<u64>; 4] = Default::default();
        for pos in Pos::ALL {
            line_starts[pos.idx()] = synset_line_starts(&data[pos.idx()]);
        }

        let mut index_text: [String; 4] = Default::default();
        let mut index: [Vec<IndexEntry>; 4] = Default::default();
        let mut offsets: Vec<u32> = Vec::with_capacity(220_000);
        for file_pos in Pos::ALL {
            let path = dir.join(format!("index.{}", file_pos.file_suffix()));
            let text = read_text(&path)?;
            let ascii = text.is_ascii();
            let base = text.as_ptr() as usize;
            for (line_no, line) in text.lines().enumerate() {
                if line.starts_with(' ') {
                    continue; // the licence header
                }
                let err = |message: String| WordNetError::Parse {
                    path: path.clone(),
                    line: line_no + 1,
                    message,
                };
                let mut tokens = py_split(line, ascii);
                let mut next = |what: &str| tokens.next().ok_or_else(|| err(format!("line ends before the {what}")));
                let lemma = next("lemma")?;
                let pos_tag = next("part of speech")?;
                let number = |tok: &str, what: &str| -> Result<usize, WordNetError> {
                    tok.parse::<usize>()
                        .map_err(|_| err(format!("{what} {tok:?} is not a number")))
                };
                let n_synsets = number(next("synset count")?, "synset count")?;
                if n_synsets == 0 {
                    return Err(err("synset count is 0".to_string()));
                }
                let n_pointers = number(next("pointer count")?, "pointer count")?;
                for _ in 0..n_pointers {
                    next("pointer symbols")?;
                }
                let n_senses = number(next("sense count")?, "sense count")?;
                if n_senses != n_synsets {
                    return Err(err(format!(
                        "sense count {n_senses} differs from synset count {n_synsets}"
                    )));
                }
                next("tagged sense count")?;
                // nltk keys the entry by the line's own part-of-speech tag; a
                // tag outside n/v/a/r is never looked up by synsets().
                let pos = Pos::from_tag(pos_tag);
                let start = offsets.len();
                for _ in 0..n_synsets {
                    let tok = next("synset offsets")?;
                    let offset = number(tok, "synset offset")?;
                    if let Some(pos) = pos {
                        if !bit_is_set(&line_starts[pos.idx()], offset) {
                            return Err(err(format!(
                                "synset offset {offset} is not the start of a synset line of data.{}",
                                pos.file_suffix()
                            )));
                        }
                    }
                    offsets.push(offset as u32);
                }
                let Some(pos) = pos else {
                    offsets.truncate(start);
                    continue;
                };
                index[pos.idx()].push(IndexEntry {
                    file: file_pos.idx() as u8,
                    key_start: (lemma.as_ptr() as usize - base) as u32,
                    key_len: lemma.len() as u32,
                    offsets_start: start as u32,
                    offsets_len: n_synsets as u32,
                });
            }
            index_text[file_pos.idx()] = text;
        }
        let lookup: [LemmaTable; 4] =
            std::array::from_fn(|p| LemmaTable::build(&index[p], |e| entry_key(&index_text, e)));

        let mut exceptions: [ExceptionMap; 4] = Default::default();
        for pos in Pos::ALL {
            let path = dir.join(format!("{}.exc", pos.file_suffix()));
            let text = read_text(&path)?;
            let ascii = text.is_ascii();
            let map = &mut exceptions[pos.idx()];
            for line in text.lines() {
                let mut terms = py_split(line, ascii);
                let Some(form) = terms.next() else { continue };
                let bases: Box<[Box<str>]> = terms.map(Box::from).collect();
                map.insert(form.into(), bases);
            }
        }

        Ok(WordNet {
            dir: dir.to_path_buf(),
            index_text,
            index,
            lookup,
            offsets,
            exceptions,
            data_ascii: std::array::from_fn(|p| data[p].is_ascii()),
            data,
            line_starts,
        })
    }

    /// The directory this database was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, lemma: &str, pos: Pos) -> Option<&IndexEntry> {
        let entries = &self.index[pos.idx()];
        self.lookup[pos.idx()]
            .find(lemma.as_bytes(), |i| entry_key(&self.index_text, &entries[i]))
            .map(|i| &entries[i])
    }

    /// The synset offsets the index lists for `lemma` (exact, lower-case
    /// index form) and `pos`, in index order; empty when it has none.
    pub fn offsets(&self, lemma: &str, pos: Pos) -> &[u32] {
        match self.entry(lemma, pos) {
            Some(e) => {
                let start = e.offsets_start as usize;
                &self.offsets[start..start + e.offsets_len as usize]
            }
            None => &[],
        }
    }

    /// Whether `lemma` is in the index of `pos`.
    pub fn has_lemma(&self, lemma: &str, pos: Pos) -> bool {
        self.entry(lemma, pos).is_some()
    }

    /// nltk's `WordNetCorpusReader._morphy(form, pos)` (with exceptions
    /// checked): if `form` is in the exception list of `pos`, the candidates
    /// are its listed base forms, otherwise the results of applying each suffix
    /// rule of `pos` once; the form itself, then those candidates, are kept
    /// when they are lemmas of `pos`, without repeats, in that order.
    /// `form` is used as given (`synsets` lower-cases first).
    pub fn morphy(&self, form: &str, pos: Pos) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.for_each_morphy_form(form, pos, |f| out.push(f.to_string()));
        out
    }

    fn for_each_morphy_form(&self, form: &str, pos: Pos, mut f: impl FnMut(&str)) {
        use std::borrow::Cow;
        let mut candidates: Vec<Cow<'_, str>> = vec![Cow::Borrowed(form)];
        if let Some(bases) = self.exceptions[pos.idx()].get(form) {
            candidates.extend(bases.iter().map(|b| Cow::Borrowed(&**b)));
        } else {
            for &(old, new) in pos.substitutions() {
                if let Some(stem) = form.strip_suffix(old) {
                    let mut cand = String::with_capacity(stem.len() + new.len());
                    cand.push_str(stem);
                    cand.push_str(new);
                    candidates.push(Cow::Owned(cand));
                }
            }
        }
        for (i, cand) in candidates.iter().enumerate() {
            if self.has_lemma(cand, pos) && !candidates[..i].contains(cand) {
                f(cand);
            }
        }
    }

    /// nltk's `synsets(word)` with no part of speech: `word` lower-cased, then
    /// for noun, verb, adjective and adverb in that order, for every
    /// [`morphy`](Self::morphy) form, every synset the index lists for it.
    /// Like nltk, a synset reached through two forms is listed twice.
    pub fn synsets(&self, word: &str) -> Vec<Synset> {
        let lower = word.to_lowercase();
        let mut out = Vec::new();
        for pos in Pos::ALL {
            self.for_each_morphy_form(&lower, pos, |form| {
                out.extend(self.offsets(form, pos).iter().map(|&offset| Synset { pos, offset }));
            });
        }
        out
    }

    /// The lemma names of `synset`, in data-file order, as nltk's
    /// `Synset.lemma_names()`: case kept, `_` for spaces, an adjective's
    /// syntactic marker (`(a)`, `(p)`, `(ip)`) removed.
    ///
    /// # Panics
    /// If `synset` was not obtained from this database's index (its offset is
    /// not the start of a synset line).
    pub fn lemma_names(&self, synset: Synset) -> Vec<&str> {
        let mut out = Vec::new();
        self.for_each_lemma_name(synset, |name| out.push(name));
        out
    }

    /// Calls `f` with each lemma name of `synset` (see [`lemma_names`](Self::lemma_names)).
    pub fn for_each_lemma_name<'a>(&'a self, synset: Synset, mut f: impl FnMut(&'a str)) {
        let data = &self.data[synset.pos.idx()];
        let offset = synset.offset as usize;
        assert!(
            bit_is_set(&self.line_starts[synset.pos.idx()], offset),
            "{synset:?} is not a synset of this WordNet"
        );
        let rest = &data[offset..];
        let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
        let mut tokens = py_split(line, self.data_ascii[synset.pos.idx()]);
        // offset, lexicographer file number, synset type, word count (hex).
        let count = tokens
            .nth(3)
            .and_then(|t| usize::from_str_radix(t, 16).ok())
            .unwrap_or(0);
        for _ in 0..count {
            let Some(name) = tokens.next() else { break };
            tokens.next(); // lex_id
            f(strip_syntactic_marker(name));
        }
    }

    /// The set of lemma names (sorted, without repeats, case kept) of all
    /// synsets that nltk's `synsets(word)` returns — what nltk's METEOR
    /// collects as a word's synonyms, before it drops multi-word names
    /// (those containing `_`) and adds the word itself.
    pub fn synonyms(&self, word: &str) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for synset in self.synsets(word) {
            self.for_each_lemma_name(synset, |name| names.push(name));
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Whether `offset` is the start of a line of `data` that begins with the
/// offset written as 8 digits (nltk's check in `synset_from_pos_and_offset`).
fn offset_is_valid(data: &[u8], offset: usize) -> bool {
    if offset > 99_999_999 || offset + 8 > data.len() {
        return false;
    }
    if offset > 0 && data[offset - 1] != b'\n' {
        return false;
    }
    let mut value = 0usize;
    for &b in &data[offset..offset + 8] {
        if !b.is_ascii_digit() {
            return false;
        }
        value = value * 10 + (b - b'0') as usize;
    }
    value == offset
}

/// Removes a trailing syntactic marker `(...)` (with no parentheses inside)
/// from a lemma name, as nltk's regex `(.*?)(\([^()]*\))?$` does.
fn strip_syntactic_marker(name: &str) -> &str {
    if let Some(body) = name.strip_suffix(')') {
        if let Some(open) = body.rfind(['(', ')']) {
            if body.as_bytes()[open] == b'(' {
                return &name[..open];
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_stripping() {
        assert_eq!(strip_syntactic_marker("able"), "able");
        assert_eq!(strip_syntactic_marker("galore(ip)"), "galore");
        assert_eq!(strip_syntactic_marker("a(b)c"), "a(b)c");
        assert_eq!(strip_syntactic_marker("x(a)(p)"), "x(a)");
        assert_eq!(strip_syntactic_marker("()"), "");
    }

    #[test]
    fn offset_check() {
        let data = b"  header\n00000009 x\n";
        assert!(offset_is_valid(data, 9));
        assert!(!offset_is_valid(data, 0));
        assert!(!offset_is_valid(data, 10));
    }
}
