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

/// Extends an n-gram hash by one more token hash.
#[inline]
pub fn extend(prefix: u64, token: u64) -> u64 {
    finalize(prefix.rotate_left(21) ^ token.wrapping_add(0x632B_E59B_D9B4_E019))
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
        run_lengths(scratch, counts);
    }
}

/// Sorts a copy of `hashes` and writes `(hash, count)` runs into `out`.
pub fn run_lengths(hashes: &[u64], out: &mut Counts) {
    out.clear();
    if hashes.is_empty() {
        return;
    }
    let mut sorted: Vec<u64> = hashes.to_vec();
    sorted.sort_unstable();
    let mut cur = sorted[0];
    let mut cnt = 0u32;
    for &h in &sorted {
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
        let toks: Vec<u64> = ["a", "b", "a", "b", "a"].iter().map(|t| hash_bytes(t.as_bytes())).collect();
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
