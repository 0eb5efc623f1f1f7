//! numpy's floating-point summation, for results that match numpy-based references to the last
//! bit (seqeval's averages, cleanlab's confident joint).

/// numpy's pairwise summation (`np.add.reduce` on a contiguous float64 array): below 8
/// elements a plain left-to-right sum; up to 128, eight accumulators then the rest; above, the
/// two halves (split at a multiple of 8) summed recursively.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_pairwise_sum() {
        let a: Vec<f64> = (0..300).map(|i| 0.1 * i as f64 + 1e-3 / (i as f64 + 1.0)).collect();
        let plain: f64 = a.iter().sum();
        assert!((pairwise_sum(&a) - plain).abs() < 1e-9);
        assert_eq!(pairwise_sum(&a[..5]), a[..5].iter().sum::<f64>());
    }
}
