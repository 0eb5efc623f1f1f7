//! METEOR as computed by nltk 3.10.4's `nltk.translate.meteor_score`
//! (`meteor_score` for several references, `single_meteor_score` for one),
//! with WordNet 3.0 read through [`crate::wordnet::WordNet`] and the Porter
//! stemmer of [`crate::porter`].
//!
//! The algorithm, as nltk runs it on pre-tokenised input:
//!
//! 1. Every token of hypothesis and reference is lower-cased (`str.lower`).
//! 2. **Exact stage**: the hypothesis words are visited from last to first;
//!    each is aligned to the *last* still unaligned reference word equal to it.
//! 3. **Stem stage**: the words left over on both sides are replaced by their
//!    Porter stems and aligned the same way.
//! 4. **Synonym stage**: the words still left over — *stems* now, as nltk
//!    passes the stemmed lists on — are visited from last to first; a
//!    hypothesis stem `h` is aligned to the last unaligned reference stem that
//!    is `h` itself or a lemma name without `_` of one of the synsets
//!    `wordnet.synsets(h)` returns (morphy applied, all parts of speech).
//! 5. With `m` alignments, hypothesis length `t` and reference length `r`:
//!    `P = m/t`, `R = m/r`, `fmean = P·R / (α·P + (1−α)·R)`; the alignments
//!    sorted by hypothesis position are cut into chunks (runs adjacent on both
//!    sides); `penalty = γ·(chunks/m)^β`; the score is `(1 − penalty)·fmean`,
//!    or 0 when `m`, `t` or `r` is 0.
//! 6. With several references the best score is taken.
//!
//! Strings given to [`Meteor::score`] are split on whitespace exactly as
//! Python's `str.split()` does (which also splits on U+001C..U+001F).
//!
//! Lower-cased words, stems and synonym sets are cached (per worker, inside
//! the [`Meteor`]), so scoring a corpus costs little more than the matching.

use std::sync::{Arc, Mutex};

use crate::porter;
use crate::wordnet::{FxHashMap, WordNet, WordNetError};

/// The METEOR parameters; [`Default`] gives nltk's defaults
/// `alpha = 0.9`, `beta = 3.0`, `gamma = 0.5`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeteorParams {
    /// Relative weight of precision and recall in the harmonic mean
    /// `P·R / (α·P + (1−α)·R)` (nltk default 0.9).
    pub alpha: f64,
    /// Exponent of the fragmentation penalty `γ·frag^β` (nltk default 3.0).
    pub beta: f64,
    /// Weight of the fragmentation penalty (nltk default 0.5).
    pub gamma: f64,
}

impl Default for MeteorParams {
    fn default() -> Self {
        MeteorParams {
            alpha: 0.9,
            beta: 3.0,
            gamma: 0.5,
        }
    }
}

/// Python `str.split()` tokenization (re-exported from [`crate::text`]).
pub use crate::text::for_each_py_token as for_each_token;

/// Marks "no value" in the `u32` tables below.
const NONE: u32 = u32::MAX;

/// A string of at most 15 bytes packed into two words (bytes zero-padded,
/// the length in the last byte): hashing and comparing it touches no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SmallKey([u64; 2]);

impl SmallKey {
    #[inline]
    fn new(s: &str) -> Option<SmallKey> {
        let bytes = s.as_bytes();
        if bytes.len() > 15 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf[..bytes.len()].copy_from_slice(bytes);
        buf[15] = bytes.len() as u8;
        let (lo, hi) = buf.split_at(8);
        Some(SmallKey([
            u64::from_le_bytes(lo.try_into().unwrap()),
            u64::from_le_bytes(hi.try_into().unwrap()),
        ]))
    }
}

/// String → id map, with short strings stored inline.
#[derive(Default)]
struct StrMap {
    small: FxHashMap<SmallKey, u32>,
    large: FxHashMap<Box<str>, u32>,
}

impl StrMap {
    #[inline]
    fn get(&self, s: &str) -> Option<u32> {
        match SmallKey::new(s) {
            Some(key) => self.small.get(&key).copied(),
            None => self.large.get(s).copied(),
        }
    }

    fn insert(&mut self, s: &str, id: u32) {
        match SmallKey::new(s) {
            Some(key) => self.small.insert(key, id),
            None => self.large.insert(s.into(), id),
        };
    }

    fn len(&self) -> usize {
        self.small.len() + self.large.len()
    }
}

/// The caches and scratch buffers of one worker.
///
/// Words are interned as *token ids* (lower-cased tokens and their stems;
/// a token with upper-case letters is also a key, aliasing its lower-cased
/// form's id). WordNet lemma names live in a separate table of *lemma ids*,
/// so that the token table stays small.
#[derive(Default)]
struct Cache {
    /// Token (as written, and lower-cased) → token id.
    ids: StrMap,
    /// Token id → lower-cased string.
    strs: Vec<Box<str>>,
    /// Token id → token id of its Porter stem, or `NONE` while not computed.
    stem_of: Vec<u32>,
    /// Token id → sorted lemma ids of the single-word lemma names of its
    /// synsets, computed on first use.
    syn_of: Vec<Option<Box<[u32]>>>,
    /// Token id → (its lemma id or `NONE`, size of the lemma table when that
    /// was looked up), or `(NONE, NONE)` while not looked up.
    lemma_of: Vec<(u32, u32)>,
    /// Lemma name → lemma id.
    lemma_ids: StrMap,
    /// Synset (part of speech << 32 | offset) → range of `synset_lemmas`
    /// holding the lemma ids of its single-word lemma names.
    synsets: FxHashMap<u64, (u32, u32)>,
    synset_lemmas: Vec<u32>,
    /// Key → highest still unaligned reference position with this key, or
    /// `NONE` (all `NONE` between stages).
    head: Vec<u32>,
    /// Reference position → next lower unaligned position with the same key.
    next: Vec<u32>,
    lower_buf: String,
    stem_buf: String,
    hyp: Vec<u32>,
    refs: Vec<u32>,
    hyp_key: Vec<u32>,
    ref_key: Vec<u32>,
    /// Hypothesis position → aligned reference position or `NONE`.
    align: Vec<u32>,
    ref_used: Vec<bool>,
    hyp_left: Vec<u32>,
    ref_left: Vec<u32>,
}

/// Table entries kept before a cache is emptied (at the start of a call).
const MAX_CACHED_STRINGS: usize = 1_000_000;

impl Cache {
    fn is_full(&self) -> bool {
        self.ids.len() > MAX_CACHED_STRINGS || self.lemma_ids.len() > MAX_CACHED_STRINGS
    }

    /// The token id of `s` (already lower-cased), added if new.
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return id;
        }
        let id = self.strs.len() as u32;
        self.ids.insert(s, id);
        self.strs.push(s.into());
        self.stem_of.push(NONE);
        self.syn_of.push(None);
        self.lemma_of.push((NONE, NONE));
        id
    }

    /// The token id of `token` lower-cased as Python's `str.lower` does.
    #[inline]
    fn intern_token(&mut self, token: &str) -> u32 {
        if let Some(id) = self.ids.get(token) {
            return id;
        }
        let id = if token.is_ascii() {
            let mut buf = std::mem::take(&mut self.lower_buf);
            buf.clear();
            buf.push_str(token);
            buf.make_ascii_lowercase();
            let id = self.intern(&buf);
            self.lower_buf = buf;
            id
        } else {
            self.intern(&token.to_lowercase())
        };
        if self.ids.get(token).is_none() {
            self.ids.insert(token, id);
        }
        id
    }

    fn stem(&mut self, id: u32) -> u32 {
        let cached = self.stem_of[id as usize];
        if cached != NONE {
            return cached;
        }
        let mut buf = std::mem::take(&mut self.stem_buf);
        porter::stem_into(&self.strs[id as usize], &mut buf);
        let stem = self.intern(&buf);
        self.stem_buf = buf;
        self.stem_of[id as usize] = stem;
        stem
    }

    /// The lemma id of the string of token `id`, or `NONE` when no synset
    /// computed so far has that lemma name (then nothing can match it).
    fn lemma(&mut self, id: u32) -> u32 {
        let (lemma, table_len) = self.lemma_of[id as usize];
        if lemma != NONE || table_len as usize == self.lemma_ids.len() {
            return lemma;
        }
        let lemma = self.lemma_ids.get(&self.strs[id as usize]).unwrap_or(NONE);
        self.lemma_of[id as usize] = (lemma, self.lemma_ids.len() as u32);
        lemma
    }

    fn ensure_synonyms(&mut self, id: u32, wordnet: &WordNet) {
        if self.syn_of[id as usize].is_some() {
            return;
        }
        let mut syn: Vec<u32> = Vec::new();
        for synset in wordnet.synsets(&self.strs[id as usize]) {
            let key = (synset.pos as u64) << 32 | synset.offset as u64;
            let (start, len) = match self.synsets.get(&key) {
                Some(&range) => range,
                None => {
                    let start = self.synset_lemmas.len();
                    wordnet.for_each_lemma_name(synset, |name| {
                        if !name.contains('_') {
                            let lemma = match self.lemma_ids.get(name) {
                                Some(lemma) => lemma,
                                None => {
                                    let lemma = self.lemma_ids.len() as u32;
                                    self.lemma_ids.insert(name, lemma);
                                    lemma
                                }
                            };
                            self.synset_lemmas.push(lemma);
                        }
                    });
                    let range = (start as u32, (self.synset_lemmas.len() - start) as u32);
                    self.synsets.insert(key, range);
                    range
                }
            };
            syn.extend_from_slice(&self.synset_lemmas[start as usize..(start + len) as usize]);
        }
        syn.sort_unstable();
        syn.dedup();
        self.syn_of[id as usize] = Some(syn.into_boxed_slice());
    }

    /// Puts the unaligned reference positions on per-key lists (highest
    /// position first), keys being `ref_key` (`NONE` keys are left out).
    fn build_heads(&mut self, key_count: usize) {
        if self.head.len() < key_count {
            self.head.resize(key_count, NONE);
        }
        for &j in &self.ref_left {
            let key = self.ref_key[j as usize];
            if key != NONE {
                self.next[j as usize] = self.head[key as usize];
                self.head[key as usize] = j;
            }
        }
    }

    /// Aligns the unaligned hypothesis positions `hyp_left` to the unaligned
    /// reference positions `ref_left` by equal token ids in `hyp_key` and
    /// `ref_key`, as nltk's `_match_enums`: hypothesis positions from last to
    /// first, each taking the last unaligned reference position with its key.
    fn match_equal(&mut self) {
        self.build_heads(self.strs.len());
        for &i in self.hyp_left.iter().rev() {
            let key = self.hyp_key[i as usize] as usize;
            let j = self.head[key];
            if j != NONE {
                self.head[key] = self.next[j as usize];
                self.align[i as usize] = j;
                self.ref_used[j as usize] = true;
            }
        }
        self.finish_stage();
    }

    /// nltk's `_enum_wordnetsyn_match` on the stems left over: each
    /// hypothesis stem (last to first) takes the last unaligned reference
    /// stem that is a single-word lemma name of one of its synsets. (nltk also
    /// counts the stem itself as a synonym, but after the stem stage no
    /// left-over reference stem equals a left-over hypothesis stem.)
    fn match_synonyms(&mut self, wordnet: &WordNet) {
        // Synonym sets first: they may add lemma names, which the reference
        // stems are then looked up among.
        for k in 0..self.hyp_left.len() {
            let h = self.hyp_key[self.hyp_left[k] as usize];
            self.ensure_synonyms(h, wordnet);
        }
        for k in 0..self.ref_left.len() {
            let j = self.ref_left[k] as usize;
            self.ref_key[j] = self.lemma(self.ref_key[j]);
        }
        self.build_heads(self.lemma_ids.len());
        let mut refs_left = self.ref_left.len();
        for &i in self.hyp_left.iter().rev() {
            if refs_left == 0 {
                break;
            }
            let h = self.hyp_key[i as usize];
            let syn = self.syn_of[h as usize].as_deref().unwrap_or(&[]);
            // The highest unaligned reference position whose key is in `syn`.
            let mut best = NONE;
            if syn.len() <= refs_left * 4 {
                for &s in syn {
                    let j = self.head[s as usize];
                    if j != NONE && (best == NONE || j > best) {
                        best = j;
                    }
                }
            } else {
                for &j in self.ref_left.iter().rev() {
                    let key = self.ref_key[j as usize];
                    if !self.ref_used[j as usize] && key != NONE && syn.binary_search(&key).is_ok() {
                        best = j;
                        break;
                    }
                }
            }
            if best != NONE {
                // `best` heads its key's list: no higher unaligned position
                // shares its key.
                let key = self.ref_key[best as usize] as usize;
                debug_assert_eq!(self.head[key], best);
                self.head[key] = self.next[best as usize];
                self.align[i as usize] = best;
                self.ref_used[best as usize] = true;
                refs_left -= 1;
            }
        }
        self.finish_stage();
    }

    /// Empties the per-key lists and drops aligned positions from the
    /// left-over lists.
    fn finish_stage(&mut self) {
        for &j in &self.ref_left {
            let key = self.ref_key[j as usize];
            if key != NONE {
                self.head[key as usize] = NONE;
            }
        }
        let align = &self.align;
        self.hyp_left.retain(|&i| align[i as usize] == NONE);
        let used = &self.ref_used;
        self.ref_left.retain(|&j| !used[j as usize]);
    }

    /// nltk's `single_meteor_score` on the token ids in `self.hyp` and
    /// `self.refs`.
    fn single(&mut self, wordnet: &WordNet, params: &MeteorParams) -> f64 {
        let t = self.hyp.len();
        let r = self.refs.len();
        if t == 0 || r == 0 {
            return 0.0;
        }
        self.align.clear();
        self.align.resize(t, NONE);
        self.ref_used.clear();
        self.ref_used.resize(r, false);
        if self.next.len() < r {
            self.next.resize(r, NONE);
        }
        self.hyp_left.clear();
        self.hyp_left.extend(0..t as u32);
        self.ref_left.clear();
        self.ref_left.extend(0..r as u32);

        // Exact stage.
        self.hyp_key.clear();
        self.hyp_key.extend_from_slice(&self.hyp);
        self.ref_key.clear();
        self.ref_key.extend_from_slice(&self.refs);
        self.match_equal();

        // Stem stage.
        if !self.hyp_left.is_empty() && !self.ref_left.is_empty() {
            for k in 0..self.hyp_left.len() {
                let i = self.hyp_left[k] as usize;
                self.hyp_key[i] = self.stem(self.hyp[i]);
            }
            for k in 0..self.ref_left.len() {
                let j = self.ref_left[k] as usize;
                self.ref_key[j] = self.stem(self.refs[j]);
            }
            self.match_equal();

            // Synonym stage (on the stems).
            if !self.hyp_left.is_empty() && !self.ref_left.is_empty() {
                self.match_synonyms(wordnet);
            }
        }

        let mut matches = 0usize;
        let mut chunks = 1usize;
        let mut prev: Option<(usize, u32)> = None;
        for (i, &j) in self.align.iter().enumerate() {
            if j == NONE {
                continue;
            }
            if let Some((pi, pj)) = prev {
                if !(i == pi + 1 && j == pj.wrapping_add(1)) {
                    chunks += 1;
                }
            }
            prev = Some((i, j));
            matches += 1;
        }
        meteor_formula(matches, t, r, chunks, params)
    }

    fn tokens_into(&mut self, text: &str, hyp: bool) {
        let mut out = std::mem::take(if hyp { &mut self.hyp } else { &mut self.refs });
        out.clear();
        for_each_token(text, |tok| out.push(self.intern_token(tok)));
        if hyp {
            self.hyp = out;
        } else {
            self.refs = out;
        }
    }

    fn token_list_into<S: AsRef<str>>(&mut self, tokens: &[S], hyp: bool) {
        let mut out = std::mem::take(if hyp { &mut self.hyp } else { &mut self.refs });
        out.clear();
        out.extend(tokens.iter().map(|tok| self.intern_token(tok.as_ref())));
        if hyp {
            self.hyp = out;
        } else {
            self.refs = out;
        }
    }
}

/// nltk's final formula, including its `ZeroDivisionError` → 0 cases.
fn meteor_formula(
    matches: usize,
    translation_length: usize,
    reference_length: usize,
    chunks: usize,
    params: &MeteorParams,
) -> f64 {
    if matches == 0 || translation_length == 0 || reference_length == 0 {
        return 0.0;
    }
    let m = matches as f64;
    let precision = m / translation_length as f64;
    let recall = m / reference_length as f64;
    let denominator = params.alpha * precision + (1.0 - params.alpha) * recall;
    if denominator == 0.0 {
        return 0.0;
    }
    let fmean = (precision * recall) / denominator;
    let frag_frac = chunks as f64 / m;
    let penalty = params.gamma * frag_frac.powf(params.beta);
    (1.0 - penalty) * fmean
}

/// A METEOR scorer equal to nltk 3.10.4's `meteor_score` /
/// `single_meteor_score` (with `preprocess=str.lower`, the Porter stemmer
/// and the given WordNet). It is `Send + Sync`: share one across threads.
pub struct Meteor {
    wordnet: Arc<WordNet>,
    params: MeteorParams,
    /// Idle caches; a call takes one (or makes one) and gives it back.
    caches: Mutex<Vec<Cache>>,
}

impl std::fmt::Debug for Meteor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meteor")
            .field("wordnet", &self.wordnet)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Meteor {
    /// A scorer with nltk's default parameters ([`MeteorParams::default`]).
    pub fn new(wordnet: Arc<WordNet>) -> Meteor {
        Meteor::with_params(wordnet, MeteorParams::default())
    }

    /// A scorer with the given parameters.
    pub fn with_params(wordnet: Arc<WordNet>, params: MeteorParams) -> Meteor {
        Meteor {
            wordnet,
            params,
            caches: Mutex::new(Vec::new()),
        }
    }

    /// A scorer with nltk's default parameters and WordNet loaded from
    /// [`crate::wordnet::default_dir`].
    pub fn from_default_wordnet() -> Result<Meteor, WordNetError> {
        let wordnet = WordNet::load(&crate::wordnet::default_dir())?;
        Ok(Meteor::new(Arc::new(wordnet)))
    }

    /// The parameters in use.
    pub fn params(&self) -> MeteorParams {
        self.params
    }

    /// The WordNet in use.
    pub fn wordnet(&self) -> &Arc<WordNet> {
        &self.wordnet
    }

    fn with_cache<T>(&self, f: impl FnOnce(&mut Cache) -> T) -> T {
        let taken = self.caches.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut cache = taken.unwrap_or_default();
        if cache.is_full() {
            cache = Cache::default();
        }
        let out = f(&mut cache);
        self.caches.lock().unwrap_or_else(|e| e.into_inner()).push(cache);
        out
    }

    /// nltk's `meteor_score(references, hypothesis)` with every string split
    /// as Python's `str.split()`: the best single-reference score over
    /// `references`, 0 when there are none (where nltk raises).
    pub fn score(&self, references: &[&str], hypothesis: &str) -> f64 {
        self.with_cache(|cache| {
            cache.tokens_into(hypothesis, true);
            let mut best: Option<f64> = None;
            for reference in references {
                cache.tokens_into(reference, false);
                let s = cache.single(&self.wordnet, &self.params);
                best = Some(best.map_or(s, |b: f64| if s > b { s } else { b }));
            }
            best.unwrap_or(0.0)
        })
    }

    /// nltk's `single_meteor_score(reference, hypothesis)` with both strings
    /// split as Python's `str.split()`.
    pub fn single_score(&self, reference: &str, hypothesis: &str) -> f64 {
        self.score(&[reference], hypothesis)
    }

    /// nltk's `meteor_score(references, hypothesis)` on pre-tokenised input
    /// (each token is lower-cased, as nltk's default `preprocess`); 0 when
    /// there are no references.
    pub fn score_tokens<R, S>(&self, references: &[R], hypothesis: &[S]) -> f64
    where
        R: AsRef<[S]>,
        S: AsRef<str>,
    {
        self.with_cache(|cache| {
            cache.token_list_into(hypothesis, true);
            let mut best: Option<f64> = None;
            for reference in references {
                cache.token_list_into(reference.as_ref(), false);
                let s = cache.single(&self.wordnet, &self.params);
                best = Some(best.map_or(s, |b: f64| if s > b { s } else { b }));
            }
            best.unwrap_or(0.0)
        })
    }

    /// nltk's `single_meteor_score(reference, hypothesis)` on pre-tokenised
    /// input.
    pub fn single_score_tokens<S: AsRef<str>>(&self, reference: &[S], hypothesis: &[S]) -> f64 {
        self.score_tokens(&[reference], hypothesis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_like_python() {
        let mut v = Vec::new();
        for_each_token(" a\u{1c}b\u{85}c\u{2028}d\u{200b}e  ", |t| v.push(t));
        assert_eq!(v, ["a", "b", "c", "d\u{200b}e"]);
    }

    #[test]
    fn formula_edge_cases() {
        let p = MeteorParams::default();
        assert_eq!(meteor_formula(0, 3, 4, 1, &p), 0.0);
        assert_eq!(meteor_formula(1, 0, 4, 1, &p), 0.0);
        // One match in one chunk, t = r = 1: fmean 1, penalty 0.5.
        assert_eq!(meteor_formula(1, 1, 1, 1, &p), 0.5);
    }

    #[test]
    fn meteor_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Meteor>();
    }
}
