//! Deterministic train/validation/test splits for data that comes without one.
//!
//! * [`split_by_hash`]: the shared data's hash-bucket rule. Identical texts (after
//!   [`split_key`]) always land in the same split, whatever else is in the data.
//! * [`split_stratified`]: per-class proportional, shuffled with a seed.

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::DataError;

/// Row indices of the three splits, each in increasing order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    /// Rows for training.
    pub train: Vec<usize>,
    /// Rows for validation.
    pub validation: Vec<usize>,
    /// Rows for testing.
    pub test: Vec<usize>,
}

/// Whitespace as Python's `str.split()` sees it (Unicode White_Space plus U+001C..U+001F).
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The split key: the text lower-cased (as Python's `str.lower`, final sigma included), with
/// whitespace runs collapsed to one space (whitespace as Python's `str.split()` sees it), and trimmed.
///
/// ```
/// assert_eq!(retune_data::split_key("  Hello\t\tWORLD \n"), "hello world");
/// ```
pub fn split_key(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut key = String::with_capacity(lower.len());
    for word in lower.split(is_python_space).filter(|w| !w.is_empty()) {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(word);
    }
    key
}

/// The hash bucket (0..100) of a text: `int(first 8 hex digits of SHA-256(split_key(text)), 16) mod 100`.
///
/// ```
/// // the same bucket for texts that differ only in case and spacing
/// assert_eq!(retune_data::hash_bucket("A  Film"), retune_data::hash_bucket("a film"));
/// assert!(retune_data::hash_bucket("a film") < 100);
/// ```
pub fn hash_bucket(text: &str) -> u32 {
    let digest = Sha256::digest(split_key(text).as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100
}

/// Splits rows by the hash bucket of their texts: buckets in `test` go to test, buckets in
/// `validation` to validation, all others to train. The ranges must lie in `0..100` and not overlap.
///
/// ```
/// use retune_data::split_by_hash;
/// let texts = ["one", "two", "three", "four"];
/// let split = split_by_hash(texts.iter().copied(), 10..20, 0..10).unwrap();
/// assert_eq!(split.train.len() + split.validation.len() + split.test.len(), 4);
/// ```
pub fn split_by_hash<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    validation: Range<u32>,
    test: Range<u32>,
) -> Result<Split, DataError> {
    if validation.end > 100 || test.end > 100 {
        return Err(DataError::Invalid(format!(
            "hash buckets are 0..100, got validation {validation:?} and test {test:?}"
        )));
    }
    if validation.start < test.end && test.start < validation.end {
        return Err(DataError::Invalid(format!(
            "the validation buckets {validation:?} overlap the test buckets {test:?}"
        )));
    }
    let mut split = Split::default();
    for (i, text) in texts.into_iter().enumerate() {
        let b = hash_bucket(text);
        if test.contains(&b) {
            split.test.push(i);
        } else if validation.contains(&b) {
            split.validation.push(i);
        } else {
            split.train.push(i);
        }
    }
    Ok(split)
}

/// SplitMix64: a small, fixed, platform-independent generator for seeded shuffles.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// Counts per class that sum to `round(fraction * total)` and are proportional to the class
/// sizes (largest remainder; ties go to the smaller class id).
fn allocate(sizes: &[usize], fraction: f64) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    let want = (fraction * total as f64).round() as usize;
    let exact: Vec<f64> = sizes.iter().map(|&s| fraction * s as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut left = want.saturating_sub(counts.iter().sum());
    for &c in order.iter().cycle().take(sizes.len() * 2) {
        if left == 0 {
            break;
        }
        if counts[c] < sizes[c] {
            counts[c] += 1;
            left -= 1;
        }
    }
    counts
}

/// A stratified split: every class is divided in the given proportions (validation and test
/// fractions; train gets the rest), choosing rows by a shuffle seeded with `seed`. The same
/// labels and seed always give the same split. Totals are `round(fraction * rows)`.
///
/// ```
/// use retune_data::split_stratified;
/// let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
/// let split = split_stratified(&labels, 0.25, 0.25, 42).unwrap();
/// assert_eq!((split.train.len(), split.validation.len(), split.test.len()), (10, 5, 5));
/// assert_eq!(split.test.iter().filter(|&&i| labels[i] == 0).count(), 2);
/// assert_eq!(split, split_stratified(&labels, 0.25, 0.25, 42).unwrap());
/// ```
pub fn split_stratified(labels: &[u32], validation: f64, test: f64, seed: u64) -> Result<Split, DataError> {
    let ok = |f: f64| (0.0..=1.0).contains(&f);
    if !ok(validation) || !ok(test) || validation + test > 1.0 {
        return Err(DataError::Invalid(format!(
            "split fractions must be in 0..1 and sum to at most 1, got validation {validation} and test {test}"
        )));
    }
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        rows[l as usize].push(i);
    }
    let sizes: Vec<usize> = rows.iter().map(Vec::len).collect();
    let n_test = allocate(&sizes, test);
    let n_val = allocate(&sizes, validation);
    let mut rng = SplitMix64(seed);
    let mut split = Split::default();
    for (c, members) in rows.iter_mut().enumerate() {
        // Fisher-Yates
        for i in (1..members.len()).rev() {
            let j = rng.below(i + 1);
            members.swap(i, j);
        }
        let t = n_test[c];
        let v = n_val[c].min(members.len() - t);
        split.test.extend_from_slice(&members[..t]);
        split.validation.extend_from_slice(&members[t..t + v]);
        split.train.extend_from_slice(&members[t + v..]);
    }
    split.train.sort_unstable();
    split.validation.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}
