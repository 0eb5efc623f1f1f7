//! MinHash signatures over shingles, LSH banding and verified near-duplicate search.
//!
//! Pipeline (all deterministic):
//! 1. each text → the set of 64-bit hashes of its shingles (see [`Shingle`]);
//! 2. signature: for each of `num_perm` hash functions `h_i(x) = mix64(x ^ seed_i)`, the minimum
//!    over the shingle set; only the low 16 bits of each minimum are kept (b-bit MinHash: two
//!    unrelated minima agree by chance with probability 2⁻¹⁶), so a row costs `2 × num_perm` bytes;
//! 3. LSH: the signature is cut into `bands` bands of `num_perm / bands` values; rows whose band
//!    values are all equal share a bucket; a row is compared with the first `bucket_reps` rows of
//!    each of its buckets (bounded work even for huge buckets);
//! 4. a candidate pair is kept only if the MinHash estimate of the Jaccard similarity is at least
//!    `threshold − 0.25` (a cheap filter; a pair with true similarity ≥ 0.8 is estimated that low
//!    with probability ≈ 10⁻⁶ at 64 permutations) and the **exact** Jaccard similarity of the two
//!    shingle sets, recomputed from the texts, is at least `threshold`. Reported similarities are
//!    exact Jaccard similarities of the shingle sets.

use super::script::{char_script, Script};
use super::text::{hash_bytes, mix64, normalize_into, SplitMix64};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// How a text is cut into shingles (the units whose set overlap defines similarity).
///
/// All shingles are taken from the normalized key (lower-cased, whitespace collapsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Shingle {
    /// Default. Word unigrams (the set of whitespace-separated tokens); a token that contains
    /// characters of a script written without spaces (Han, Kana, Thai) is cut into character
    /// bigrams instead. On Rotten Tomatoes sentences of 10+ words, one changed word keeps a
    /// Jaccard similarity of 0.75–1.0 (median 0.92), one added word or punctuation mark 0.88–1.0.
    Auto,
    /// Word n-grams (n ≥ 1) of whitespace tokens; a text with fewer than n tokens is one shingle.
    Words(usize),
    /// Character n-grams (n ≥ 1) of the normalized text; a shorter text is one shingle.
    Chars(usize),
}

/// Whether `c` belongs to a script written without spaces between words.
fn unspaced(c: char) -> bool {
    !c.is_ascii() && matches!(char_script(c), Some(Script::Han | Script::Kana | Script::Thai))
}

/// Appends the hashes of the character n-grams of `s` (one shingle if `s` is shorter).
fn char_ngrams(s: &str, n: usize, out: &mut Vec<u64>, bounds: &mut Vec<usize>) {
    bounds.clear();
    bounds.extend(s.char_indices().map(|(i, _)| i));
    bounds.push(s.len());
    let chars = bounds.len() - 1;
    if chars <= n {
        out.push(hash_bytes(s.as_bytes()));
        return;
    }
    for i in 0..=chars - n {
        out.push(hash_bytes(&s.as_bytes()[bounds[i]..bounds[i + n]]));
    }
}

/// Scratch buffers for shingling, reused across rows by one worker.
#[derive(Default)]
pub(crate) struct Scratch {
    norm: String,
    bounds: Vec<usize>,
    words: Vec<(usize, usize)>,
    /// The sorted, deduplicated shingle hashes of the last text.
    pub(crate) shingles: Vec<u64>,
    mins: Vec<u64>,
    /// Shingle sets of comparison partners (bucket representatives), which recur across rows.
    cache: HashMap<u64, Vec<u64>, BuildHasherDefault<PassThrough>>,
}

/// Entries of [`Scratch::cache`] before it is cleared.
const CACHE_ENTRIES: usize = 1 << 15;

impl Scratch {
    /// Fills `self.shingles` with the sorted, distinct shingle hashes of `text`.
    pub(crate) fn shingle(&mut self, text: &str, shingle: Shingle) {
        normalize_into(text, &mut self.norm);
        let s = self.norm.as_str();
        self.shingles.clear();
        match shingle {
            Shingle::Auto => {
                for w in s.split(' ').filter(|w| !w.is_empty()) {
                    if !w.is_ascii() && w.chars().any(unspaced) {
                        char_ngrams(w, 2, &mut self.shingles, &mut self.bounds);
                    } else {
                        self.shingles.push(hash_bytes(w.as_bytes()));
                    }
                }
            }
            Shingle::Words(n) => {
                let n = n.max(1);
                self.words.clear();
                let mut start = 0;
                for (i, c) in s.char_indices() {
                    if c == ' ' {
                        self.words.push((start, i));
                        start = i + 1;
                    }
                }
                if !s.is_empty() {
                    self.words.push((start, s.len()));
                }
                if self.words.len() <= n {
                    if !s.is_empty() {
                        self.shingles.push(hash_bytes(s.as_bytes()));
                    }
                } else {
                    // The normalized text has single spaces, so a word n-gram is a contiguous slice.
                    for i in 0..=self.words.len() - n {
                        let (a, b) = (self.words[i].0, self.words[i + n - 1].1);
                        self.shingles.push(hash_bytes(&s.as_bytes()[a..b]));
                    }
                }
            }
            Shingle::Chars(n) => {
                if !s.is_empty() {
                    char_ngrams(s, n.max(1), &mut self.shingles, &mut self.bounds);
                }
            }
        }
        self.shingles.sort_unstable();
        self.shingles.dedup();
    }

    /// The exact Jaccard similarity between the shingles of row `row` of `texts` (cached) and
    /// `own` (the shingle set of the row being checked).
    fn jaccard_with(&mut self, own: &[u64], texts: &[&str], row: u32, shingle: Shingle) -> f64 {
        let key = mix64(row as u64);
        if !self.cache.contains_key(&key) {
            if self.cache.len() >= CACHE_ENTRIES {
                self.cache.clear();
            }
            self.shingle(texts[row as usize], shingle);
            self.cache.insert(key, self.shingles.clone());
        }
        jaccard_sorted(own, &self.cache[&key])
    }

    /// Writes the b-bit MinHash signature of the current shingles into `sig` (`seeds.len()` values).
    fn signature(&mut self, seeds: &[u64], sig: &mut [u16]) {
        self.mins.clear();
        self.mins.resize(seeds.len(), u64::MAX);
        for &h in &self.shingles {
            for (m, &seed) in self.mins.iter_mut().zip(seeds) {
                let v = mix64(h ^ seed);
                if v < *m {
                    *m = v;
                }
            }
        }
        for (s, &m) in sig.iter_mut().zip(&self.mins) {
            *s = m as u16;
        }
    }
}

/// The exact Jaccard similarity of two sorted, distinct hash sets (1.0 for two empty sets).
pub(crate) fn jaccard_sorted(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
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
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// The exact Jaccard similarity of the shingle sets of two texts.
pub fn jaccard(a: &str, b: &str, shingle: Shingle) -> f64 {
    let mut s = Scratch::default();
    s.shingle(a, shingle);
    let sa = std::mem::take(&mut s.shingles);
    s.shingle(b, shingle);
    jaccard_sorted(&sa, &s.shingles)
}

/// A hasher for keys that are already well-mixed 64-bit values.
#[derive(Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(bytes) ^ self.0.rotate_left(5);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A `HashMap` keyed by well-mixed `u64` hashes.
pub(crate) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Near-duplicate pairs `(a, b, similarity)` and groups of rows.
pub(crate) type PairsAndGroups = (Vec<(usize, usize, f64)>, Vec<Vec<usize>>);

/// LSH parameters, checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lsh {
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
    pub reps: usize,
    pub threshold: f64,
    pub shingle: Shingle,
    pub seed: u64,
}

/// How far below the threshold a MinHash estimate may be and still get an exact check.
const ESTIMATE_MARGIN: f64 = 0.25;

impl Lsh {
    fn seeds(&self) -> Vec<u64> {
        let mut rng = SplitMix64::new(self.seed);
        (0..self.num_perm).map(|_| rng.next_u64()).collect()
    }

    /// Signatures of the rows with `active[i]` (others stay all-zero and are never looked at).
    pub(crate) fn signatures(&self, texts: &[&str], active: &[bool]) -> Vec<u16> {
        let p = self.num_perm;
        let seeds = self.seeds();
        let mut sig = vec![0u16; texts.len() * p];
        sig.par_chunks_mut(p)
            .with_min_len(256)
            .enumerate()
            .for_each_init(Scratch::default, |scratch, (row, out)| {
                if active[row] {
                    scratch.shingle(texts[row], self.shingle);
                    scratch.signature(&seeds, out);
                }
            });
        sig
    }

    fn band_key(&self, sig: &[u16], row: usize, band: usize) -> u64 {
        let s = &sig[row * self.num_perm + band * self.rows..row * self.num_perm + (band + 1) * self.rows];
        let mut h = (band as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for &v in s {
            h = mix64(h ^ v as u64);
        }
        h
    }

    fn estimate(&self, sa: &[u16], a: usize, sb: &[u16], b: usize) -> f64 {
        let p = self.num_perm;
        let x = &sa[a * p..(a + 1) * p];
        let y = &sb[b * p..(b + 1) * p];
        x.iter().zip(y).filter(|(u, v)| u == v).count() as f64 / p as f64
    }

    /// Buckets of one band: for each distinct key, up to `reps` rows (first in row order).
    fn buckets(&self, sig: &[u16], active: &[bool], band: usize) -> (U64Map<u32>, Vec<u32>) {
        let keys: Vec<u64> = (0..active.len())
            .into_par_iter()
            .with_min_len(4096)
            .map(|r| if active[r] { self.band_key(sig, r, band) } else { 0 })
            .collect();
        let mut map: U64Map<u32> = U64Map::default();
        map.reserve(active.len());
        // reps: groups of `self.reps` slots, u32::MAX = empty.
        let mut reps: Vec<u32> = Vec::new();
        for (r, &k) in keys.iter().enumerate() {
            if !active[r] {
                continue;
            }
            let slot = *map.entry(k).or_insert_with(|| {
                reps.extend(std::iter::repeat(u32::MAX).take(self.reps));
                (reps.len() / self.reps - 1) as u32
            });
            let g = &mut reps[slot as usize * self.reps..(slot as usize + 1) * self.reps];
            if let Some(e) = g.iter_mut().find(|e| **e == u32::MAX) {
                *e = r as u32;
            }
        }
        (map, reps)
    }

    /// Near-duplicate pairs inside one set of texts, as a spanning forest of the similarity graph
    /// found: each returned pair `(a, b, sim)` with `a < b` merged two groups. Also returns the
    /// groups (connected components of size ≥ 2, members ascending, groups by first member).
    pub(crate) fn self_join(&self, texts: &[&str], active: &[bool]) -> PairsAndGroups {
        let n = texts.len();
        let sig = self.signatures(texts, active);
        let mut uf = UnionFind::new(n);
        let mut pairs = Vec::new();
        for band in 0..self.bands {
            let (map, reps) = self.buckets(&sig, active, band);
            let roots: Vec<u32> = (0..n).map(|r| uf.find(r as u32)).collect();
            let accepted: Vec<(u32, u32, f64)> = (0..n)
                .into_par_iter()
                .with_min_len(1024)
                .filter(|&r| active[r])
                .map_init(
                    || (Scratch::default(), Vec::new()),
                    |(scratch, first), r| {
                        let slot = map[&self.band_key(&sig, r, band)] as usize;
                        let mut loaded = false;
                        for &rep in &reps[slot * self.reps..(slot + 1) * self.reps] {
                            if rep == u32::MAX || rep as usize >= r {
                                break;
                            }
                            if roots[rep as usize] == roots[r] {
                                return None; // already in the same group
                            }
                            if self.estimate(&sig, r, &sig, rep as usize) < self.threshold - ESTIMATE_MARGIN {
                                continue;
                            }
                            if !loaded {
                                scratch.shingle(texts[r], self.shingle);
                                std::mem::swap(first, &mut scratch.shingles);
                                loaded = true;
                            }
                            let sim = scratch.jaccard_with(first, texts, rep, self.shingle);
                            if sim >= self.threshold {
                                return Some((rep, r as u32, sim));
                            }
                        }
                        None
                    },
                )
                .flatten()
                .collect();
            for (a, b, sim) in accepted {
                if uf.union(a, b) {
                    pairs.push((a as usize, b as usize, sim));
                }
            }
        }
        pairs.sort_by_key(|&(a, b, _)| (a, b));
        let mut members: U64Map<Vec<usize>> = U64Map::default();
        for r in 0..n {
            if active[r] {
                let root = uf.find(r as u32);
                if uf.size[root as usize] > 1 {
                    members.entry(mix64(root as u64)).or_default().push(r);
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = members.into_values().filter(|g| g.len() > 1).collect();
        groups.sort_by_key(|g| g[0]);
        (pairs, groups)
    }

    /// For each active row of `other`, one active row of `base` whose shingle set has Jaccard
    /// similarity ≥ threshold, if LSH finds one: `(other_row, base_row, sim)`, by `other_row`.
    pub(crate) fn cross_join(
        &self,
        base: &[&str],
        base_active: &[bool],
        other: &[&str],
        other_active: &[bool],
    ) -> Vec<(usize, usize, f64)> {
        let bsig = self.signatures(base, base_active);
        let osig = self.signatures(other, other_active);
        let mut found: Vec<Option<(u32, f64)>> = vec![None; other.len()];
        for band in 0..self.bands {
            let (map, reps) = self.buckets(&bsig, base_active, band);
            let newly: Vec<(usize, u32, f64)> = (0..other.len())
                .into_par_iter()
                .with_min_len(1024)
                .filter(|&r| other_active[r] && found[r].is_none())
                .map_init(
                    || (Scratch::default(), Vec::new()),
                    |(scratch, first), r| {
                        let slot = *map.get(&self.band_key(&osig, r, band))? as usize;
                        let mut loaded = false;
                        for &rep in &reps[slot * self.reps..(slot + 1) * self.reps] {
                            if rep == u32::MAX {
                                break;
                            }
                            if self.estimate(&osig, r, &bsig, rep as usize) < self.threshold - ESTIMATE_MARGIN {
                                continue;
                            }
                            if !loaded {
                                scratch.shingle(other[r], self.shingle);
                                std::mem::swap(first, &mut scratch.shingles);
                                loaded = true;
                            }
                            let sim = scratch.jaccard_with(first, base, rep, self.shingle);
                            if sim >= self.threshold {
                                return Some((r, rep, sim));
                            }
                        }
                        None
                    },
                )
                .flatten()
                .collect();
            for (r, rep, sim) in newly {
                found[r] = Some((rep, sim));
            }
        }
        found
            .into_iter()
            .enumerate()
            .filter_map(|(r, f)| f.map(|(b, s)| (r, b as usize, s)))
            .collect()
    }
}

/// Union-find with union by size and path halving.
pub(crate) struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    pub(crate) fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = self.parent[x as usize];
        }
        x
    }

    /// Joins the sets of `a` and `b`; false if they were already one set.
    pub(crate) fn union(&mut self, a: u32, b: u32) -> bool {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        if self.size[ra as usize] < self.size[rb as usize]
            || (self.size[ra as usize] == self.size[rb as usize] && rb < ra)
        {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shingles() {
        let mut s = Scratch::default();
        s.shingle("The cat  sat the", Shingle::Auto);
        assert_eq!(s.shingles.len(), 3);
        s.shingle("我爱北京", Shingle::Auto);
        assert_eq!(s.shingles.len(), 3);
        s.shingle("a b c d", Shingle::Words(3));
        assert_eq!(s.shingles.len(), 2);
        s.shingle("a b", Shingle::Words(3));
        assert_eq!(s.shingles.len(), 1);
        s.shingle("abcdef", Shingle::Chars(5));
        assert_eq!(s.shingles.len(), 2);
        assert!((jaccard("a b c d", "a b c e", Shingle::Auto) - 3.0 / 5.0).abs() < 1e-12);
    }
}
