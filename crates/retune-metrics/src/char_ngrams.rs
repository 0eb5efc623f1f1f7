//! Clipped character n-gram matches of one segment pair by dense ids (chrF's inner loop).
//!
//! Every distinct character of the pair gets a small id (1, 2, …), and every distinct n-gram of
//! order n + 1 an id found from the pair (id of its order-n prefix, id of its last character) in
//! a directly indexed array of `(prefix ids + 1) × (character ids + 1)` entries: no hashing and no
//! probing, and for sentences the array (tens of kB) stays in cache. Equal n-grams get equal ids
//! by construction, so the counts are exact. A pair whose array would pass [`MAX_KEYS`] entries
//! (segments of thousands of distinct characters) goes through the hash table
//! ([`clipped_matches_by_order`]) instead.
//!
//! Clipped matches are counted as in [`crate::ngrams`]: the reference's n-grams go in, each
//! hypothesis n-gram takes one remaining occurrence if any is left.

use crate::ngrams::{clipped_matches_by_order, hash_unit, MatchScratch, NgramTable};

/// Most entries of the id array (4 bytes each) before a pair goes through the hash table.
pub const MAX_KEYS: usize = 1 << 21;

/// Code points: the size of the character-to-id array.
const CODE_POINTS: usize = 0x11_0000;

/// Reused buffers of [`CharMatcher::clipped_matches`].
pub struct CharMatcher {
    /// The pair's id of each code point (0: not in the pair). Allocated zeroed on first use, so
    /// only the pages of code points that occur are ever touched; cleared after each pair.
    local: Vec<u32>,
    /// Characters given an id in this pair (to clear `local`).
    used: Vec<char>,
    reference: Side,
    hypothesis: Side,
    /// The id of the n-gram at each key (0: none yet), all 0 between orders.
    ids: Vec<u32>,
    /// Remaining reference occurrences of each n-gram id of the current order.
    counts: Vec<u32>,
    /// The hash-table path for pairs over [`MAX_KEYS`].
    fallback: (NgramTable, MatchScratch, Vec<u64>, Vec<u64>),
    /// Entries allowed in `ids` (tests lower it to reach the fallback).
    max_keys: usize,
}

/// One side of a pair.
#[derive(Default)]
struct Side {
    /// Character id at each position.
    chars: Vec<u32>,
    /// Id of the current order's n-gram at each position (0 before order 1: the empty prefix).
    ngrams: Vec<u32>,
    /// Key of the current order's n-gram at each position (to clear `ids`).
    keys: Vec<u32>,
}

impl Side {
    /// Ids of the n-grams of order `order + 1` (0-based `order`) from those one order below,
    /// `d` ids given so far in this order; returns the new `d`. With `take`, each n-gram takes
    /// one remaining count (the hypothesis), and the second value is how many did; otherwise
    /// each adds one (the reference).
    #[inline]
    fn next(
        &mut self,
        order: usize,
        width: usize,
        ids: &mut [u32],
        counts: &mut [u32],
        mut d: u32,
        take: bool,
    ) -> (u32, u32) {
        let len = self.chars.len().saturating_sub(order);
        let mut hits = 0;
        for j in 0..len {
            let key = self.ngrams[j] as usize * width + self.chars[j + order] as usize;
            let old = ids[key];
            // Branch-free: whether an n-gram is new is unpredictable.
            let new = u32::from(old == 0);
            d += new;
            let id = old | (d & new.wrapping_neg());
            ids[key] = id;
            self.ngrams[j] = id;
            self.keys[j] = key as u32;
            let c = counts[id as usize];
            if take {
                let hit = u32::from(c > 0);
                counts[id as usize] = c - hit;
                hits += hit;
            } else {
                counts[id as usize] = c + 1;
            }
        }
        (d, hits)
    }

    /// Empties the `ids` entries this order's n-grams wrote.
    fn clear(&self, order: usize, ids: &mut [u32]) {
        let len = self.chars.len().saturating_sub(order);
        for &k in &self.keys[..len] {
            ids[k as usize] = 0;
        }
    }
}

impl Default for CharMatcher {
    fn default() -> Self {
        Self::with_max_keys(MAX_KEYS)
    }
}

impl CharMatcher {
    /// A matcher whose id array holds at most `max_keys` entries (the default: [`MAX_KEYS`]).
    pub fn with_max_keys(max_keys: usize) -> Self {
        CharMatcher {
            local: Vec::new(),
            used: Vec::new(),
            reference: Side::default(),
            hypothesis: Side::default(),
            ids: Vec::new(),
            counts: Vec::new(),
            fallback: Default::default(),
            max_keys,
        }
    }

    /// For each order `1..=max_order`, the clipped matches of the hypothesis character n-grams
    /// against the reference's (`matches[order - 1]`).
    pub fn clipped_matches(&mut self, reference: &[char], hypothesis: &[char], max_order: usize, matches: &mut [u32]) {
        if self.local.is_empty() {
            self.local = vec![0; CODE_POINTS];
        }
        let mut k = 0u32;
        for (side, text) in [(&mut self.reference, reference), (&mut self.hypothesis, hypothesis)] {
            side.chars.clear();
            for &c in text {
                let slot = &mut self.local[c as usize];
                if *slot == 0 {
                    k += 1;
                    *slot = k;
                    self.used.push(c);
                }
                side.chars.push(*slot);
            }
            side.ngrams.clear();
            side.ngrams.resize(text.len(), 0);
            side.keys.resize(text.len(), 0);
        }
        for &c in &self.used {
            self.local[c as usize] = 0;
        }
        self.used.clear();
        let width = k as usize + 1;
        let most_ids = reference.len() + hypothesis.len();
        // Every order's prefix ids are at most `most_ids`.
        let need = (most_ids + 1).saturating_mul(width);
        if need > self.max_keys || need > u32::MAX as usize {
            return self.by_hash(max_order, matches);
        }
        if self.ids.len() < need {
            self.ids.resize(need, 0);
        }
        if self.counts.len() < most_ids + 1 {
            self.counts.resize(most_ids + 1, 0);
        }
        for (order, m) in matches.iter_mut().enumerate().take(max_order) {
            let (r, h) = (&mut self.reference, &mut self.hypothesis);
            let (d, _) = r.next(order, width, &mut self.ids, &mut self.counts, 0, false);
            let (d, hits) = h.next(order, width, &mut self.ids, &mut self.counts, d, true);
            *m = hits;
            r.clear(order, &mut self.ids);
            h.clear(order, &mut self.ids);
            self.counts[..=d as usize].fill(0);
        }
    }

    /// The same counts through the hash table, from the character ids already in place.
    fn by_hash(&mut self, max_order: usize, matches: &mut [u32]) {
        let (table, scratch, r, h) = &mut self.fallback;
        r.clear();
        r.extend(self.reference.chars.iter().map(|&c| hash_unit(u64::from(c))));
        h.clear();
        h.extend(self.hypothesis.chars.iter().map(|&c| hash_unit(u64::from(c))));
        clipped_matches_by_order(table, r, h, max_order, scratch, matches);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Clipped matches by Python-style counters of string n-grams (sacrebleu's way).
    fn by_counters(r: &[char], h: &[char], order: usize) -> Vec<u32> {
        (1..=order)
            .map(|n| {
                let mut refs: HashMap<&[char], u32> = HashMap::new();
                for g in r.windows(n) {
                    *refs.entry(g).or_default() += 1;
                }
                let mut hyps: HashMap<&[char], u32> = HashMap::new();
                for g in h.windows(n) {
                    *hyps.entry(g).or_default() += 1;
                }
                hyps.iter()
                    .map(|(g, &c)| c.min(refs.get(g).copied().unwrap_or(0)))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn hand_computed_matches() {
        // "abab" vs "aba": 1-grams a,b,a,b / a,b,a -> 3; 2-grams ab,ba,ab / ab,ba -> 2;
        // 3-grams aba,bab / aba -> 1; 4-grams none.
        let mut m = CharMatcher::default();
        let mut out = [9; 4];
        m.clipped_matches(&['a', 'b', 'a', 'b'], &['a', 'b', 'a'], 4, &mut out);
        assert_eq!(out, [3, 2, 1, 0]);
    }

    #[test]
    fn equals_counters_on_both_paths_across_pairs() {
        // Small alphabets (many repeats), CJK and astral code points, empty sides; one matcher
        // reused across pairs (its arrays must be clean after each), and one forced onto the
        // hash table.
        let alphabets: [&[char]; 3] = [
            &['a', 'b', 'c'],
            &['\u{4e00}', '\u{4e8c}', 'a', '\u{1f600}'],
            &['\u{10ffff}', '\0', ' ', '\u{7f}', '\u{e9}'],
        ];
        let mut dense = CharMatcher::default();
        let mut hashed = CharMatcher::with_max_keys(0);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..400 {
            let a = alphabets[next(3)];
            let (lr, lh) = (next(30), next(30));
            let r: Vec<char> = (0..lr).map(|_| a[next(a.len())]).collect();
            let h: Vec<char> = (0..lh).map(|_| a[next(a.len())]).collect();
            let want = by_counters(&r, &h, 6);
            let mut out = [0; 6];
            dense.clipped_matches(&r, &h, 6, &mut out);
            assert_eq!(out.to_vec(), want, "{r:?} {h:?}");
            hashed.clipped_matches(&r, &h, 6, &mut out);
            assert_eq!(out.to_vec(), want, "{r:?} {h:?}");
        }
    }
}
