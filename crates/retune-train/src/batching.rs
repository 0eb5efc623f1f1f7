//! Length-grouped batches with a deterministic order per (seed, epoch).
//!
//! As the Hugging Face `LengthGroupedSampler` does: shuffle, cut into mega-batches of 50
//! batches, sort each mega-batch by length (longest first), cut into batches. Padding then stays
//! small while every epoch sees the examples in a different order.

/// A small deterministic generator (SplitMix64) for shuffling.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Batches of row indices for one epoch. `lengths[i]` is row i's token count; `group` turns
/// length grouping on (off: plain shuffled batches).
pub fn epoch_batches(lengths: &[usize], batch_size: usize, seed: u64, epoch: usize, group: bool) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut rng = SplitMix(seed ^ (epoch as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    if group {
        for mega in order.chunks_mut(batch_size * 50) {
            mega.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
        }
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(batch_size).map(|c| c.to_vec()).collect();
    if group {
        rng.shuffle(&mut batches);
    }
    batches
}

/// Batches for evaluation: sorted by length, in order (no shuffling).
pub fn eval_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order.chunks(batch_size.max(1)).map(|c| c.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_once_and_deterministic() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 37) % 91 + 1).collect();
        let a = epoch_batches(&lengths, 32, 7, 0, true);
        let b = epoch_batches(&lengths, 32, 7, 0, true);
        let c = epoch_batches(&lengths, 32, 7, 1, true);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut all: Vec<usize> = a.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        // Grouping keeps padding small: total padded tokens far below random batches'.
        let padded = |bs: &[Vec<usize>]| -> usize {
            bs.iter()
                .map(|b| b.iter().map(|&i| lengths[i]).max().unwrap() * b.len())
                .sum()
        };
        let random = epoch_batches(&lengths, 32, 7, 0, false);
        assert!(
            padded(&a) * 10 < padded(&random) * 8,
            "{} vs {}",
            padded(&a),
            padded(&random)
        );
    }
}
