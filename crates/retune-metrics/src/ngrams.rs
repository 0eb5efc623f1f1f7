//! N-gram counting on hashed tokens.
//!
//! Tokens and n-grams are identified by 64-bit hashes, and counted in a small reused table
//! ([`NgramTable`]) instead of Python-style `Counter`s. Two different n-grams of one segment pair
//! would have to share a 64-bit hash to change a score (odds about 1 in 10^16 per pair).

/// Hashes a byte string (a token or a character) to 64 bits.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ v).wrapping_mul(K).rotate_left(29);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        h = (h ^ tail(rem)).wrapping_mul(K).rotate_left(29);
    }
    finalize(h)
}

/// The 1 to 7 bytes of a tail as one integer, read in place (a copy into a zeroed buffer is a
/// `memcpy` call per token): two overlapping 4-byte reads, or the first, middle and last byte of
/// up to 3. Given the length (already in the hash), different tails give different integers.
#[inline]
fn tail(r: &[u8]) -> u64 {
    let n = r.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
        let hi = u32::from_le_bytes([r[n - 4], r[n - 3], r[n - 2], r[n - 1]]);
        u64::from(lo) | u64::from(hi) << 32
    } else {
        u64::from(r[0]) | u64::from(r[n / 2]) << 8 | u64::from(r[n - 1]) << 16
    }
}

/// Extends an n-gram hash by one more token hash. Token hashes must be well mixed (from
/// [`hash_bytes`] or [`hash_unit`]); then one odd multiply keeps distinct n-grams apart.
#[inline]
pub fn extend(prefix: u64, token: u64) -> u64 {
    (prefix.rotate_left(23) ^ token).wrapping_mul(0x9FB2_1C65_1E98_DF25)
}

/// Hashes a small integer unit (a character code) to 64 well-mixed bits.
#[inline]
pub fn hash_unit(u: u64) -> u64 {
    finalize(u.wrapping_add(0x632B_E59B_D9B4_E019))
}

#[inline]
fn finalize(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string of up to 9 bytes over a small alphabet (including the bytes a tail read
    /// could confuse: repeats, zeros) hashes to its own value.
    #[test]
    fn short_strings_hash_apart() {
        let alphabet = [0u8, 1, b'a', b'b'];
        let mut seen = std::collections::HashSet::new();
        let mut count = 0;
        for len in 0..=9u32 {
            for code in 0..4usize.pow(len) {
                let s: Vec<u8> = (0..len).map(|i| alphabet[(code >> (2 * i)) & 3]).collect();
                assert!(seen.insert(hash_bytes(&s)), "collision at {s:?}");
                count += 1;
            }
        }
        assert_eq!(seen.len(), count);
    }

    #[test]
    fn counts_and_matches_by_hand() {
        let hashes = |ts: &[&str]| -> Vec<u64> { ts.iter().map(|t| hash_bytes(t.as_bytes())).collect() };
        let (hyp, refs) = (hashes(&["a", "b", "a", "b", "a"]), hashes(&["a", "b"]));
        // Hypothesis n-grams: 5 unigrams (a x3, b x2), 4 bigrams (ab x2, ba x2), 3 trigrams
        // (aba x2, bab x1); against "a b": 2, 1 and 0 of them clipped-match.
        assert_eq!(
            [1, 2, 3].map(|n| ngram_count(hyp.len(), n) - ngram_count(hyp.len(), n - 1)),
            [5, 4, 3]
        );
        let (mut table, mut scratch, mut pair) = (NgramTable::default(), Vec::new(), MatchScratch::default());
        let mut by_order = [9u32; 3];
        clipped_matches_by_order(&mut table, &refs, &hyp, 3, &mut pair, &mut by_order);
        assert_eq!(by_order, [2, 1, 0]);
        // All orders in one table, as multi-reference BLEU counts.
        table.reset(ngram_count(refs.len(), 3));
        add_ngrams(&mut table, &refs, 3, &mut scratch);
        let mut together = [9u32; 3];
        take_ngrams(&mut table, &hyp, 3, &mut scratch, &mut together);
        assert_eq!(together, [2, 1, 0]);
    }

    /// The table against a plain map: many segments through one reused table (generations,
    /// stale counts in emptied slots), tables sized too small (growth), and the multi-reference
    /// maximum, with few distinct keys so that keys repeat and collide.
    #[test]
    fn table_equals_a_map_across_resets_and_growth() {
        use std::collections::HashMap;
        let mut next = crate::test_stream(0x9E37_79B9_7F4A_7C15u64);
        let (mut table, mut other) = (NgramTable::default(), NgramTable::default());
        for round in 0..3000 {
            let keys = |next: &mut dyn FnMut() -> u64, n: usize| -> Vec<u64> { (0..n).map(|_| next() % 23).collect() };
            let (n_ref, n_two, n_hyp) = ((next() % 40) as usize, (next() % 40) as usize, (next() % 40) as usize);
            let (r1, r2, h) = (keys(&mut next, n_ref), keys(&mut next, n_two), keys(&mut next, n_hyp));
            // Sized for a few keys only in some rounds, so adds must grow the table.
            table.reset(if round % 3 == 0 { 1 } else { n_ref });
            other.reset(n_two);
            let mut want: HashMap<u64, u32> = HashMap::new();
            for &k in &r1 {
                table.add(k);
                *want.entry(k).or_default() += 1;
            }
            if round % 2 == 0 {
                let mut two: HashMap<u64, u32> = HashMap::new();
                for &k in &r2 {
                    other.add(k);
                    *two.entry(k).or_default() += 1;
                }
                table.max_with(&other);
                for (k, c) in two {
                    let e = want.entry(k).or_default();
                    *e = (*e).max(c);
                }
            }
            assert_eq!(table.len(), want.len(), "round {round}");
            let got: u32 = h.iter().map(|&k| table.take(k)).sum();
            let mut left = want.clone();
            let expected: u32 = h
                .iter()
                .map(|k| match left.get_mut(k) {
                    Some(c) if *c > 0 => {
                        *c -= 1;
                        1
                    }
                    _ => 0,
                })
                .sum();
            assert_eq!(got, expected, "round {round}");
        }
    }
}

/// One slot of an [`NgramTable`]: key and count side by side (one cache line per probe), and
/// the generation that wrote them (a slot of an older generation is empty).
#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    /// The count in the low 31 bits; [`SEEN`] once [`NgramTable::take_seen`] has looked the key up.
    count: u32,
    generation: u32,
}

/// The bit of [`Slot::count`] that marks a key some hypothesis n-gram looked up.
const SEEN: u32 = 1 << 31;

/// A small open-addressing multiset of n-gram hashes, reused across segments.
///
/// Clipped n-gram matches need no sorting: `sum_g min(hyp_g, ref_g)` is the number of hypothesis
/// n-gram occurrences that can each take one remaining reference occurrence, so the reference
/// n-grams go in with [`NgramTable::add`] and every hypothesis n-gram tries [`NgramTable::take`].
/// Emptying it between segments is one increment of the generation, not a pass over the slots.
#[derive(Default)]
pub struct NgramTable {
    slots: Vec<Slot>,
    /// The current generation (never 0, the generation of untouched slots).
    generation: u32,
    /// Distinct keys of the current generation.
    len: usize,
    shift: u32,
}

impl NgramTable {
    /// Empties the table and makes room for `n` distinct keys.
    pub fn reset(&mut self, n: usize) {
        let want = (2 * n).next_power_of_two().max(16);
        if self.slots.len() < want || self.slots.len() > 8 * want.max(1024) || self.generation == u32::MAX {
            self.slots = vec![Slot::default(); want];
            self.shift = 64 - want.trailing_zeros();
            self.generation = 1;
        } else {
            self.generation += 1;
        }
        self.len = 0;
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn slot(&self, key: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        loop {
            let s = self.slots[i];
            if s.generation != self.generation || s.key == key {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// The `(key, count)` of every distinct key.
    fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.generation == self.generation)
            .map(|s| (s.key, s.count & !SEEN))
    }

    /// Puts `count` at `key` through `f(old count, count)` (0 as the old count of a new key),
    /// growing the table first when it would be more than half full.
    #[inline]
    fn upsert(&mut self, key: u64, count: u32, f: impl Fn(u32, u32) -> u32) {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        self.put(key, count, f);
    }

    /// [`NgramTable::upsert`] without the growth check; returns the key's slot. Clears [`SEEN`].
    #[inline]
    fn put(&mut self, key: u64, count: u32, f: impl Fn(u32, u32) -> u32) -> usize {
        let i = self.slot(key);
        let s = &mut self.slots[i];
        if s.generation != self.generation {
            *s = Slot {
                key,
                count: f(0, count),
                generation: self.generation,
            };
            self.len += 1;
        } else {
            s.count = f(s.count & !SEEN, count);
        }
        i
    }

    /// Doubles the capacity, keeping the contents.
    fn grow(&mut self) {
        let entries: Vec<(u64, u32)> = self.entries().collect();
        let want = (self.slots.len() * 2).max(16);
        self.slots = vec![Slot::default(); want];
        self.shift = 64 - want.trailing_zeros();
        self.generation = 1;
        self.len = entries.len();
        for (key, count) in entries {
            let i = self.slot(key);
            self.slots[i] = Slot {
                key,
                count,
                generation: 1,
            };
        }
    }

    /// Adds one occurrence of `key` without the growth check, and returns its slot: for at most
    /// `n` adds after [`NgramTable::reset`]`(n)`, which leaves at least `2n` slots (more adds
    /// would fill the table, and a lookup of a missing key would never find an empty slot).
    #[inline]
    fn add_within_reset(&mut self, key: u64) -> usize {
        debug_assert!(2 * (self.len + 1) <= self.slots.len());
        self.put(key, 1, |old, c| old + c)
    }

    /// Adds one occurrence of `key`.
    #[inline]
    pub fn add(&mut self, key: u64) {
        self.upsert(key, 1, |old, c| old + c);
    }

    /// Takes one occurrence of `key` if any remains; returns 1 if it did, else 0 (branch-free:
    /// whether an n-gram matches is unpredictable).
    #[inline]
    pub fn take(&mut self, key: u64) -> u32 {
        if self.slots.is_empty() {
            return 0;
        }
        let i = self.slot(key);
        let s = &mut self.slots[i];
        // An empty slot (older generation) may hold a stale count: it counts as 0.
        let c = if s.generation == self.generation {
            s.count & !SEEN
        } else {
            0
        };
        let hit = u32::from(c > 0);
        s.count = c - hit;
        hit
    }

    /// [`NgramTable::take`], also saying whether `key` is in the table at all (count exhausted
    /// or not) and marking its slot [`SEEN`] if so (branch-free; an empty slot keeps count 0).
    #[inline]
    fn take_seen(&mut self, key: u64) -> (u32, bool) {
        let i = self.slot(key);
        let s = &mut self.slots[i];
        let found = s.generation == self.generation;
        let c = if found { s.count & !SEEN } else { 0 };
        let hit = u32::from(c > 0);
        s.count = (c - hit) | (u32::from(found) << 31);
        (hit, found)
    }

    /// Whether the key at `slot` (from [`NgramTable::upsert`], this generation) was looked up by
    /// [`NgramTable::take_seen`].
    #[inline]
    fn seen(&self, slot: usize) -> bool {
        self.slots[slot].count & SEEN != 0
    }

    /// Raises every count to at least `other`'s count for the same key (multi-reference BLEU).
    pub fn max_with(&mut self, other: &NgramTable) {
        for (key, count) in other.entries() {
            self.upsert(key, count, u32::max);
        }
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Calls `f(order_index, hashes)` with the hashes of all n-grams of `tokens` of each order
/// `1..=max_order` in turn.
#[inline]
pub fn for_each_order(tokens: &[u64], max_order: usize, scratch: &mut Vec<u64>, mut f: impl FnMut(usize, &[u64])) {
    scratch.clear();
    scratch.extend_from_slice(tokens);
    for n in 0..max_order {
        if n > 0 {
            next_order(scratch, tokens, n);
        }
        f(n, scratch);
    }
}

/// Turns the hashes of the n-grams of order `n` of `tokens` (`scratch[i]` starts at token `i`)
/// into those of order `n + 1`.
#[inline]
fn next_order(scratch: &mut Vec<u64>, tokens: &[u64], n: usize) {
    let len = tokens.len().saturating_sub(n);
    for i in 0..len {
        scratch[i] = extend(scratch[i], tokens[i + n]);
    }
    scratch.truncate(len);
}

/// Adds every n-gram of orders `1..=max_order` of `tokens` to `table`.
pub fn add_ngrams(table: &mut NgramTable, tokens: &[u64], max_order: usize, scratch: &mut Vec<u64>) {
    for_each_order(tokens, max_order, scratch, |_, hs| {
        for &h in hs {
            table.add(h);
        }
    });
}

/// For each order `1..=max_order`, the number of n-grams of `tokens` that take a remaining
/// occurrence from `table` (the clipped matches), written to `matches[order - 1]`.
pub fn take_ngrams(
    table: &mut NgramTable,
    tokens: &[u64],
    max_order: usize,
    scratch: &mut Vec<u64>,
    matches: &mut [u32],
) {
    for_each_order(tokens, max_order, scratch, |o, hs| {
        let mut m = 0;
        for &h in hs {
            m += table.take(h);
        }
        matches[o] = m;
    });
}

/// Reused buffers of [`clipped_matches_by_order`].
#[derive(Default)]
pub struct MatchScratch {
    reference: Side,
    hypothesis: Side,
}

/// One side of a pair in [`clipped_matches_by_order`].
#[derive(Default)]
struct Side {
    /// The hash of the current order's n-gram at each live position.
    hashes: Vec<u64>,
    /// Whether the n-gram at each position occurs on the other side (false off the live list;
    /// one entry more than there are tokens, always false).
    found: Vec<bool>,
    /// The positions, ascending, whose n-gram of the current order may occur on the other side.
    live: Vec<u32>,
    /// The table slot of each live reference n-gram.
    slots: Vec<u32>,
}

impl Side {
    /// Unigrams: every position is live.
    fn start(&mut self, tokens: &[u64]) {
        self.hashes.clear();
        self.hashes.extend_from_slice(tokens);
        self.found.clear();
        self.found.resize(tokens.len() + 1, false);
        self.live.clear();
        self.live.extend(0..tokens.len() as u32);
    }

    /// From order `n` to `n + 1`: the n-gram at `j` can occur on the other side only if both of
    /// its n-grams of order `n` (at `j` and `j + 1`) do. Branch-free compaction of the live list;
    /// leaves `found` all false.
    fn next_order(&mut self, tokens: &[u64], n: usize) {
        let len = tokens.len();
        let mut kept = 0;
        for k in 0..self.live.len() {
            let j = self.live[k] as usize;
            // `found[j + 1]` is read before position j + 1 (later in the list) clears it.
            let keep = (j + n < len) & self.found[j] & self.found[j + 1];
            self.found[j] = false;
            self.live[kept] = j as u32;
            kept += usize::from(keep);
        }
        self.live.truncate(kept);
        for &j in &self.live {
            let j = j as usize;
            self.hashes[j] = extend(self.hashes[j], tokens[j + n]);
        }
    }
}

/// For each order `1..=max_order`, the clipped matches of the hypothesis n-grams against one
/// reference's (`matches[order - 1]`), one order at a time: the table holds one order's n-grams,
/// a few hundred slots that stay in the L1 cache, where all orders together spill out of it.
/// The same counts as [`add_ngrams`] then [`take_ngrams`] (n-grams of different orders never
/// meet), with less work: an n-gram can occur on the other side only if both n-grams one shorter
/// inside it do, so each order looks up only the n-grams whose two parts were found one order
/// below; the others can take no match and give none.
pub fn clipped_matches_by_order(
    table: &mut NgramTable,
    reference: &[u64],
    hypothesis: &[u64],
    max_order: usize,
    scratch: &mut MatchScratch,
    matches: &mut [u32],
) {
    let MatchScratch {
        reference: r,
        hypothesis: h,
    } = scratch;
    r.start(reference);
    h.start(hypothesis);
    for (n, m) in matches.iter_mut().enumerate().take(max_order) {
        if n > 0 {
            r.next_order(reference, n);
            h.next_order(hypothesis, n);
        }
        // No growth during these adds (reset for as many keys), so the slots stay put.
        table.reset(r.live.len());
        r.slots.clear();
        r.slots.extend(
            r.live
                .iter()
                .map(|&j| table.add_within_reset(r.hashes[j as usize]) as u32),
        );
        let mut hits = 0;
        for &i in &h.live {
            let (hit, found) = table.take_seen(h.hashes[i as usize]);
            hits += hit;
            h.found[i as usize] = found;
        }
        *m = hits;
        for (&j, &slot) in r.live.iter().zip(&r.slots) {
            r.found[j as usize] = table.seen(slot as usize);
        }
    }
}

/// Number of n-grams of orders `1..=max_order` in a sequence of `len` tokens.
pub fn ngram_count(len: usize, max_order: usize) -> usize {
    (1..=max_order).map(|n| len.saturating_sub(n - 1)).sum()
}
