use std::time::Instant;
fn main() {
    let shapes = [
        (864usize, 384usize, 384usize),
        (864, 1536, 384),
        (864, 384, 1536),
        (320, 384, 384),
        (864, 1152, 384),
    ];
    let threads = rayon::current_num_threads();
    for &(m, n, k) in &shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; n * k];
        let mut c = vec![0f32; m * n];
        let iters = 200;
        for par in [gemm::Parallelism::None, gemm::Parallelism::Rayon(threads)] {
            let t = Instant::now();
            for _ in 0..iters {
                unsafe {
                    // c (m×n, row-major) = a (m×k row-major) · bᵀ (b is n×k row-major)
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        a.as_ptr(),
                        1,
                        k as isize,
                        b.as_ptr(),
                        k as isize,
                        1,
                        1.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        par,
                    );
                }
            }
            let s = t.elapsed().as_secs_f64() / iters as f64;
            println!(
                "{m}x{n}x{k} {:?}: {:.1} GFLOP/s",
                par,
                2.0 * (m * n * k) as f64 / s / 1e9
            );
        }
        use rayon::prelude::*;
        for split_n in [false, true] {
            let t = Instant::now();
            let cp = c.as_mut_ptr() as usize;
            for _ in 0..iters {
                (0..threads).into_par_iter().for_each(|i| {
                    let cp = cp as *mut f32;
                    if !split_n {
                        let (r0, r1) = (m * i / threads, m * (i + 1) / threads);
                        unsafe {
                            gemm::gemm(
                                r1 - r0,
                                n,
                                k,
                                cp.add(r0 * n),
                                1,
                                n as isize,
                                false,
                                a.as_ptr().add(r0 * k),
                                1,
                                k as isize,
                                b.as_ptr(),
                                k as isize,
                                1,
                                1.0f32,
                                1.0f32,
                                false,
                                false,
                                false,
                                gemm::Parallelism::None,
                            );
                        }
                    } else {
                        let (c0, c1) = (n * i / threads, n * (i + 1) / threads);
                        unsafe {
                            gemm::gemm(
                                m,
                                c1 - c0,
                                k,
                                cp.add(c0),
                                1,
                                n as isize,
                                false,
                                a.as_ptr(),
                                1,
                                k as isize,
                                b.as_ptr().add(c0 * k),
                                k as isize,
                                1,
                                1.0f32,
                                1.0f32,
                                false,
                                false,
                                false,
                                gemm::Parallelism::None,
                            );
                        }
                    }
                });
            }
            let s = t.elapsed().as_secs_f64() / iters as f64;
            println!(
                "{m}x{n}x{k} split {}: {:.1} GFLOP/s",
                if split_n { "n" } else { "m" },
                2.0 * (m * n * k) as f64 / s / 1e9
            );
        }
    }
}
