//! N-gram counting on hashed tokens.
//!
//! Tokens and n-grams are identified by 64-bit hashes, and counted by sorting instead of by hash
//! maps: a segment has a few hundred n-grams at most, and sorting them in a reused buffer is far
//! cheaper than building Python-style `Counter`s. Two different n-grams of one segment pair would
//! have to share a 64-bit hash to change a score (odds about 1 in 10^16 per pair).

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
        let mut buf = [0u8; 8];
        buf[..rem.len()].copy_from_slice(rem);
        h = (h ^ u64::from_le_bytes(buf)).wrapping_mul(K).rotate_left(29);
    }
    finalize(h)
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

/// Counted n-grams of one order: `(hash, count)` sorted by hash.
pub type Counts = Vec<(u64, u32)>;

/// Fills `out[n-1]` with the counted n-grams of order `n` of `tokens`, for `n` in `1..=max_order`.
/// `scratch` is a reused buffer.
pub fn count_ngrams(tokens: &[u64], max_order: usize, out: &mut [Counts], scratch: &mut Vec<u64>) {
    SORTED.with(|s| count_ngrams_with(tokens, max_order, out, scratch, &mut s.borrow_mut()))
}

thread_local! {
    static SORTED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn count_ngrams_with(
    tokens: &[u64],
    max_order: usize,
    out: &mut [Counts],
    scratch: &mut Vec<u64>,
    sorted: &mut Vec<u64>,
) {
    scratch.clear();
    scratch.extend_from_slice(tokens);
    for (n, counts) in out.iter_mut().enumerate().take(max_order) {
        // scratch[i] holds the hash of the n-gram of order n+1 starting at i.
        if n > 0 {
            let len = tokens.len().saturating_sub(n);
            for i in 0..len {
                scratch[i] = extend(scratch[i], tokens[i + n]);
            }
            scratch.truncate(len);
        }
        run_lengths(scratch, counts, sorted);
    }
}

/// Writes the `(hash, count)` runs of `hashes` into `out`, sorted by hash. `sorted` is a reused
/// buffer.
pub fn run_lengths(hashes: &[u64], out: &mut Counts, sorted: &mut Vec<u64>) {
    out.clear();
    if hashes.is_empty() {
        return;
    }
    sorted.clear();
    sorted.extend_from_slice(hashes);
    sorted.sort_unstable();
    let mut cur = sorted[0];
    let mut cnt = 0u32;
    for &h in sorted.iter() {
        if h == cur {
            cnt += 1;
        } else {
            out.push((cur, cnt));
            cur = h;
            cnt = 1;
        }
    }
    out.push((cur, cnt));
}

/// `acc` becomes the element-wise maximum of `acc` and `other` (the union of two counters with
/// the larger count, as BLEU merges several references).
pub fn merge_max(acc: &mut Counts, other: &Counts, tmp: &mut Counts) {
    tmp.clear();
    let (mut i, mut j) = (0, 0);
    while i < acc.len() && j < other.len() {
        let (a, b) = (acc[i], other[j]);
        if a.0 == b.0 {
            tmp.push((a.0, a.1.max(b.1)));
            i += 1;
            j += 1;
        } else if a.0 < b.0 {
            tmp.push(a);
            i += 1;
        } else {
            tmp.push(b);
            j += 1;
        }
    }
    tmp.extend_from_slice(&acc[i..]);
    tmp.extend_from_slice(&other[j..]);
    std::mem::swap(acc, tmp);
}

/// Returns `(hyp_total, ref_total, clipped_matches)` of two counters.
#[inline]
pub fn match_counts(hyp: &Counts, refc: &Counts) -> (u64, u64, u64) {
    let hyp_total: u64 = hyp.iter().map(|&(_, c)| c as u64).sum();
    let ref_total: u64 = refc.iter().map(|&(_, c)| c as u64).sum();
    let (mut i, mut j, mut m) = (0, 0, 0u64);
    while i < hyp.len() && j < refc.len() {
        let (a, b) = (hyp[i], refc[j]);
        if a.0 == b.0 {
            m += a.1.min(b.1) as u64;
            i += 1;
            j += 1;
        } else if a.0 < b.0 {
            i += 1;
        } else {
            j += 1;
        }
    }
    (hyp_total, ref_total, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_matches_by_hand() {
        let toks: Vec<u64> = ["a", "b", "a", "b", "a"]
            .iter()
            .map(|t| hash_bytes(t.as_bytes()))
            .collect();
        let mut out = vec![Counts::new(); 3];
        let mut s = Vec::new();
        count_ngrams(&toks, 3, &mut out, &mut s);
        let mut c1: Vec<u32> = out[0].iter().map(|x| x.1).collect();
        c1.sort();
        assert_eq!(c1, [2, 3]); // b x2, a x3
        let mut c2: Vec<u32> = out[1].iter().map(|x| x.1).collect();
        c2.sort();
        assert_eq!(c2, [2, 2]); // ab x2, ba x2
        assert_eq!(out[2].len(), 2); // aba x2, bab x1
        let refs: Vec<u64> = ["a", "b"].iter().map(|t| hash_bytes(t.as_bytes())).collect();
        let mut r = vec![Counts::new(); 3];
        count_ngrams(&refs, 3, &mut r, &mut s);
        assert_eq!(match_counts(&out[0], &r[0]), (5, 2, 2));
        assert_eq!(match_counts(&out[1], &r[1]), (4, 1, 1));
        assert_eq!(match_counts(&out[2], &r[2]), (3, 0, 0));
    }
}

/// 0 marks an empty slot, so the key 0 is stored as another (fixed, random) value.
#[inline]
fn nonzero(key: u64) -> u64 {
    if key == 0 {
        0x5851_F42D_4C95_7F2D
    } else {
        key
    }
}

/// A small open-addressing multiset of n-gram hashes, reused across segments.
///
/// Clipped n-gram matches need no sorting: `sum_g min(hyp_g, ref_g)` is the number of hypothesis
/// n-gram occurrences that can each take one remaining reference occurrence, so the reference
/// n-grams go in with [`NgramTable::add`] and every hypothesis n-gram tries [`NgramTable::take`].
#[derive(Default)]
pub struct NgramTable {
    keys: Vec<u64>,
    counts: Vec<u32>,
    used: Vec<u32>,
    shift: u32,
}

impl NgramTable {
    /// Empties the table and makes room for `n` distinct keys.
    pub fn reset(&mut self, n: usize) {
        let want = (2 * n).next_power_of_two().max(16);
        if self.keys.len() < want || self.keys.len() > 8 * want.max(1024) {
            self.keys = vec![0; want];
            self.counts = vec![0; want];
            self.used.clear();
            self.shift = 64 - want.trailing_zeros();
        } else {
            for &s in &self.used {
                self.keys[s as usize] = 0;
                self.counts[s as usize] = 0;
            }
            self.used.clear();
        }
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        let key = nonzero(key);
        let mask = self.keys.len() - 1;
        let mut i = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        loop {
            let k = self.keys[i];
            if k == key || k == 0 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the capacity, keeping the contents.
    fn grow(&mut self) {
        let entries: Vec<(u64, u32)> = self
            .used
            .iter()
            .map(|&s| (self.keys[s as usize], self.counts[s as usize]))
            .collect();
        let want = (self.keys.len() * 2).max(16);
        self.keys = vec![0; want];
        self.counts = vec![0; want];
        self.used.clear();
        self.shift = 64 - want.trailing_zeros();
        for (k, c) in entries {
            let i = self.slot(k);
            self.keys[i] = k;
            self.counts[i] = c;
            self.used.push(i as u32);
        }
    }

    /// Adds one occurrence of `key`.
    #[inline]
    pub fn add(&mut self, key: u64) {
        if 2 * (self.used.len() + 1) > self.keys.len() {
            self.grow();
        }
        let i = self.slot(key);
        if self.keys[i] == 0 {
            self.keys[i] = nonzero(key);
            self.used.push(i as u32);
        }
        self.counts[i] += 1;
    }

    /// Takes one occurrence of `key` if any remains; returns 1 if it did, else 0 (branch-free:
    /// whether an n-gram matches is unpredictable).
    #[inline]
    pub fn take(&mut self, key: u64) -> u32 {
        if self.keys.is_empty() {
            return 0;
        }
        let i = self.slot(key);
        let c = self.counts[i];
        let hit = u32::from(c > 0);
        self.counts[i] = c - hit;
        hit
    }

    /// Raises every count to at least `other`'s count for the same key (multi-reference BLEU).
    pub fn max_with(&mut self, other: &NgramTable) {
        for &s in &other.used {
            let (k, c) = (other.keys[s as usize], other.counts[s as usize]);
            if 2 * (self.used.len() + 1) > self.keys.len() {
                self.grow();
            }
            let i = self.slot(k);
            if self.keys[i] == 0 {
                self.keys[i] = k;
                self.used.push(i as u32);
            }
            self.counts[i] = self.counts[i].max(c);
        }
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.used.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
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
            let len = tokens.len().saturating_sub(n);
            for i in 0..len {
                scratch[i] = extend(scratch[i], tokens[i + n]);
            }
            scratch.truncate(len);
        }
        f(n, scratch);
    }
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

/// Number of n-grams of orders `1..=max_order` in a sequence of `len` tokens.
pub fn ngram_count(len: usize, max_order: usize) -> usize {
    (1..=max_order).map(|n| len.saturating_sub(n - 1)).sum()
}
