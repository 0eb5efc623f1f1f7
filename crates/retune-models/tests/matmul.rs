//! The CPU matrix product (`ops::mm`: `gemm` blocks split over the pool) against a plain f64
//! triple loop, for every transposition of the operands, strided views and shapes that do and do
//! not split.

use candle_core::{Device, Tensor};
use retune_models::ops::mm;

fn naive(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let (m, k, n) = (a.len(), b.len(), b[0].len());
    (0..m)
        .map(|i| {
            (0..n)
                .map(|j| (0..k).map(|p| a[i][p] as f64 * b[p][j] as f64).sum())
                .collect()
        })
        .collect()
}

#[test]
fn products_match_a_plain_loop_in_every_layout() {
    let dev = Device::Cpu;
    for &(m, k, n) in &[
        (1, 7, 5),
        (3, 1, 4),
        (17, 33, 9),
        (64, 96, 130),
        (200, 48, 31),
        (5, 300, 257),
    ] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            // A view of (m, k): either contiguous or the transpose of a contiguous (k, m).
            let a = if ta {
                Tensor::randn(0f32, 1.0, (k, m), &dev).unwrap().t().unwrap()
            } else {
                Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap()
            };
            let b = if tb {
                Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap().t().unwrap()
            } else {
                Tensor::randn(0f32, 1.0, (k, n), &dev).unwrap()
            };
            let got: Vec<Vec<f32>> = mm(&a, &b).unwrap().to_vec2().unwrap();
            let want = naive(&a.to_vec2().unwrap(), &b.to_vec2().unwrap());
            for i in 0..m {
                for j in 0..n {
                    let d = (got[i][j] as f64 - want[i][j]).abs();
                    assert!(
                        d <= 1e-4 * (1.0 + want[i][j].abs()) * (k as f64).sqrt(),
                        "{m}x{k}x{n} ta={ta} tb={tb} [{i},{j}]: {} vs {}",
                        got[i][j],
                        want[i][j]
                    );
                }
            }
        }
    }
    // A narrowed (offset, strided) view.
    let big = Tensor::randn(0f32, 1.0, (40, 50), &dev).unwrap();
    let a = big.narrow(0, 3, 20).unwrap().narrow(1, 5, 30).unwrap();
    let b = Tensor::randn(0f32, 1.0, (30, 12), &dev).unwrap();
    let got: Vec<Vec<f32>> = mm(&a, &b).unwrap().to_vec2().unwrap();
    let want = naive(&a.to_vec2().unwrap(), &b.to_vec2().unwrap());
    for i in 0..20 {
        for j in 0..12 {
            assert!((got[i][j] as f64 - want[i][j]).abs() < 1e-3, "narrowed view [{i},{j}]");
        }
    }
}
