//! Fused CPU kernels with a backward pass for training: linear layers (matmul + bias), attention
//! probabilities (scale + mask + softmax), LayerNorm, softmax over the last dimension, and the
//! erf GELU. candle composes these from many small operations (each allocating its output and
//! its gradient, and computing gradients for frozen weights and constant masks too); these
//! compute forward and backward in one pass each. On other devices, for non-contiguous f32
//! inputs, or when `RETUNE_UNFUSED` names them, the composed operations are used. Each has a
//! parity test against the composed operations (`tests/fused_ops.rs`).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Storage, Tensor, D};
use rayon::prelude::*;

/// Runs `f` on the contiguous f32 CPU data of `t` (copied only when it is not contiguous).
fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (st, l) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) = (&*st, l.contiguous_offsets()) {
            return Ok(f(&v[a..b]));
        }
    }
    let v = t.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
    Ok(f(&v))
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("fused op needs contiguous f32 input"),
    }
}

fn fusable(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == candle_core::DType::F32 && t.is_contiguous()
}

/// Whether the fused kernel `name` is switched off by `RETUNE_UNFUSED` (a comma-separated list of
/// `layer`, `decoder`, `lm_loss`, `embedding`, `linear`, `attention`, `layer_norm`, `softmax`, `gelu`, or `all`): the composed operations run
/// instead, for benchmarks and for checking a kernel against its reference in a real run.
pub(crate) fn unfused(name: &str) -> bool {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let list = LIST.get_or_init(|| {
        std::env::var("RETUNE_UNFUSED")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    list.iter().any(|s| s == name || s == "all")
}

/// Calls `$f` compiled for AVX-512 (F and DQ) or AVX2 with FMA when the CPU has it (chosen at run
/// time; the generic build is SSE2-only), the baseline version otherwise. All compute the same
/// arithmetic, lane by lane (no reordered sums; the multiply-adds written with [`madd`] are fused
/// in every version: `vfmadd` where compiled with FMA, libm's correctly rounded `fmaf` in the
/// baseline), so results do not depend on the CPU.
macro_rules! simd_dispatch {
    ($f:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
                // SAFETY: the CPU supports AVX-512F and DQ (checked above).
                unsafe { avx512::$f($($arg),*) }
            } else if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA (checked above).
                unsafe { avx2::$f($($arg),*) }
            } else {
                $f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f($($arg),*)
        }
    }};
}

#[inline(always)]
fn gelu_forward(yo: &mut [f32], xi: &[f32]) {
    for (o, &v) in yo.iter_mut().zip(xi) {
        *o = 0.5 * v * (1.0 + erf_poly::<true>(v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// The erf-GELU backward from the forward's input `x` and output `y = x Φ(x)`: `Φ(x) = y / x`
/// (½ at x ≈ 0) instead of a second erf, then `g ← g · (Φ(x) + x φ(x))`.
#[inline(always)]
fn gelu_backward_from(o: &mut [f32], xi: &[f32], yi: &[f32], inv_sqrt_2pi: f32) {
    for ((o, &v), &y) in o.iter_mut().zip(xi).zip(yi) {
        let cdf = if v.abs() > 1e-20 { y / v } else { 0.5 };
        *o *= madd::<true>(v * inv_sqrt_2pi, exp_poly::<true>(-0.5 * v * v), cdf);
    }
}

/// Dropout multipliers of positions `start..start + out.len()` of the stream `seed`: 0 where
/// the uniform draw is below `p`, `scale` elsewhere.
#[inline(always)]
fn dropout_fill(out: &mut [f32], seed: u64, start: u64, p: f32, scale: f32) {
    for (j, o) in out.iter_mut().enumerate() {
        let u = crate::nn::unit(seed, start + j as u64);
        *o = if u < p { 0.0 } else { scale };
    }
}

/// `softmax(scale · x + bias)` of one row into `yo`.
#[inline(always)]
fn softmax_row(yo: &mut [f32], xi: &[f32], bias: Option<&[f32]>, scale: f32) {
    match bias {
        Some(b) => yo
            .iter_mut()
            .zip(xi)
            .zip(b)
            .for_each(|((o, &x), &b)| *o = madd::<true>(x, scale, b)),
        None => yo.iter_mut().zip(xi).for_each(|(o, &x)| *o = x * scale),
    }
    let m = max_lanes(yo);
    yo.iter_mut().for_each(|v| *v = exp_poly::<true>(*v - m));
    let inv = 1.0 / sum_lanes(yo);
    yo.iter_mut().for_each(|v| *v *= inv);
}

/// The maximum of `row` in 16 lanes (a fold through `f32::max` is a serial chain the compiler
/// does not vectorize; the maximum is the same whatever the order).
#[inline(always)]
fn max_lanes(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = if x > *l { x } else { *l };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(lanes.iter())
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// The sum of `row` in 16 lanes, then the lanes and the tail in order (a fixed order: the same
/// bits on every run).
#[inline(always)]
fn sum_lanes(row: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().chain(chunks.remainder()).sum()
}

/// `log Σ exp(row)`: the maximum and the exponentials in 16 f32 lanes (vectorized), each block
/// of 256 elements' lane sums added into an f64 total, so a 49,152-wide vocabulary row loses no
/// more precision than a sum in f64 would.
#[inline(always)]
fn log_sum_exp_row(row: &[f32]) -> f64 {
    let max = max_lanes(row);
    let mut total = 0f64;
    for block in row.chunks(256) {
        let mut acc = [0f32; 16];
        let mut cs = block.chunks_exact(16);
        for c in &mut cs {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += exp_poly::<true>(x - max);
            }
        }
        total += acc.iter().map(|&v| v as f64).sum::<f64>();
        total += cs
            .remainder()
            .iter()
            .map(|&x| exp_poly::<true>(x - max) as f64)
            .sum::<f64>();
    }
    max as f64 + total.ln()
}

/// `a · b` in 16 lanes, then the lanes and the tail in order (the same bits on every run).
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y ← y + alpha · x`.
#[inline(always)]
fn axpy_lanes(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o += alpha * v;
    }
}

/// `Σ x²` in 16 f64 lanes, then the lanes and the tail in order (the same bits on every run).
#[inline(always)]
fn sum_squares_lanes(x: &[f32]) -> f64 {
    let mut acc = [0f64; 16];
    let cs = x.chunks_exact(16);
    let tail: f64 = cs.remainder().iter().map(|&v| v as f64 * v as f64).sum();
    for c in cs {
        for i in 0..16 {
            let v = c[i] as f64;
            acc[i] += v * v;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// One AdamW update of a chunk: the gradient read (and zeroed), the moments and the
/// parameters written, element by element in the arithmetic of [`adamw_update`].
#[inline(always)]
fn adamw_lanes(p: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32], s: AdamWStep) {
    let (one_b1, one_b2) = (1.0 - s.beta1, 1.0 - s.beta2);
    let n = p.len().min(g.len()).min(m.len()).min(v.len());
    let (p, g, m, v) = (&mut p[..n], &mut g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let gi = g[i] * s.grad_scale;
        g[i] = 0.0;
        let mi = s.beta1 * m[i] + one_b1 * gi;
        let vi = s.beta2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        let denom = vi.sqrt() / s.bias_correction2_sqrt + s.eps;
        p[i] = p[i] * s.decay - s.step_size * mi / denom;
    }
}

/// `row ← g · exp(row − shift)` (with `shift` a row's log-sum-exp: `g · softmax(row)`).
#[inline(always)]
fn scaled_exp_row(row: &mut [f32], shift: f32, g: f32) {
    row.iter_mut().for_each(|v| *v = g * exp_poly::<true>(*v - shift));
}

/// A module of the kernels above compiled with the target features `$features` enabled (the
/// same source, so the same arithmetic).
macro_rules! simd_variants {
    ($(#[$doc:meta])* $name:ident, $features:literal) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        mod $name {
            #[target_feature(enable = $features)]
            pub(super) unsafe fn gelu_forward(yo: &mut [f32], xi: &[f32]) {
                super::gelu_forward(yo, xi)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn gelu_backward_from(o: &mut [f32], xi: &[f32], yi: &[f32], c: f32) {
                super::gelu_backward_from(o, xi, yi, c)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn dropout_fill(out: &mut [f32], seed: u64, start: u64, p: f32, scale: f32) {
                super::dropout_fill(out, seed, start, p, scale)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn softmax_row(yo: &mut [f32], xi: &[f32], bias: Option<&[f32]>, scale: f32) {
                super::softmax_row(yo, xi, bias, scale)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn log_sum_exp_row(row: &[f32]) -> f64 {
                super::log_sum_exp_row(row)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn scaled_exp_row(row: &mut [f32], shift: f32, g: f32) {
                super::scaled_exp_row(row, shift, g)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
                super::dot_lanes(a, b)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn axpy_lanes(alpha: f32, x: &[f32], y: &mut [f32]) {
                super::axpy_lanes(alpha, x, y)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn sum_squares_lanes(x: &[f32]) -> f64 {
                super::sum_squares_lanes(x)
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn adamw_lanes(
                p: &mut [f32],
                g: &mut [f32],
                m: &mut [f32],
                v: &mut [f32],
                s: super::AdamWStep,
            ) {
                super::adamw_lanes(p, g, m, v, s)
            }
        }
    };
}

simd_variants!(
    /// The kernels compiled with AVX2 and FMA enabled.
    avx2,
    "avx2,fma"
);
simd_variants!(
    /// The kernels compiled with AVX-512F and DQ enabled (DQ: 64-bit multiplies and conversions
    /// for the dropout stream).
    avx512,
    "avx512f,avx512dq,fma"
);

pub mod decoder;
pub mod layer;
pub mod lm_loss;

pub use decoder::FusedDecoderLayer;
pub use layer::{backward, backward_into, FusedLayer, FusedLinear, OutputRows};
pub use lm_loss::linear_cross_entropy_sum;

const ROWS_PER_TASK: usize = 16;

/// LayerNorm of each row of `x` (rows of `w.len()`) into `y`.
pub(crate) fn layer_norm_rows(x: &[f32], w: &[f32], b: &[f32], eps: f32, y: &mut [f32]) {
    let d = w.len();
    y.par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK))
        .for_each(|(yr, xr)| {
            for (yo, xi) in yr.chunks_mut(d).zip(xr.chunks(d)) {
                let mean = xi.iter().sum::<f32>() / d as f32;
                let var = xi.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                let rstd = 1.0 / (var + eps).sqrt();
                for j in 0..d {
                    yo[j] = (xi[j] - mean) * rstd * w[j] + b[j];
                }
            }
        });
}

/// The LayerNorm backward of rows of `x` for the output gradient `g`: the input gradient into
/// `dx` and, when `params_grad`, the weight and bias gradients (empty vectors otherwise). Partial
/// sums of dw and db are collected per task and added in task order: the same bits whatever the
/// thread count or scheduling.
pub(crate) fn layer_norm_rows_backward(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    eps: f32,
    dx: &mut [f32],
    params_grad: bool,
) -> (Vec<f32>, Vec<f32>) {
    let d = w.len();
    let partial: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(d * ROWS_PER_TASK)
        .zip(x.par_chunks(d * ROWS_PER_TASK))
        .zip(g.par_chunks(d * ROWS_PER_TASK))
        .map(|((dxr, xr), gr)| {
            let (mut dw, mut db) = if params_grad {
                (vec![0f32; d], vec![0f32; d])
            } else {
                (Vec::new(), Vec::new())
            };
            let mut xhat = vec![0f32; d];
            for ((dxo, xi), gi) in dxr.chunks_mut(d).zip(xr.chunks(d)).zip(gr.chunks(d)) {
                let mean = xi.iter().sum::<f32>() / d as f32;
                let var = xi.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                let rstd = 1.0 / (var + eps).sqrt();
                let (mut s1, mut s2) = (0f32, 0f32);
                for j in 0..d {
                    xhat[j] = (xi[j] - mean) * rstd;
                    let dxh = gi[j] * w[j];
                    s1 += dxh;
                    s2 += dxh * xhat[j];
                }
                if params_grad {
                    for j in 0..d {
                        dw[j] += gi[j] * xhat[j];
                        db[j] += gi[j];
                    }
                }
                let (m1, m2) = (s1 / d as f32, s2 / d as f32);
                for j in 0..d {
                    dxo[j] = rstd * (gi[j] * w[j] - m1 - xhat[j] * m2);
                }
            }
            (dw, db)
        })
        .collect();
    if !params_grad {
        return (Vec::new(), Vec::new());
    }
    let (mut dw, mut db) = (vec![0f32; d], vec![0f32; d]);
    for (pw, pb) in partial {
        dw.iter_mut().zip(&pw).for_each(|(a, v)| *a += v);
        db.iter_mut().zip(&pb).for_each(|(a, v)| *a += v);
    }
    (dw, db)
}

/// Sum of the rows of `g` (rows of `n`), in a fixed order: per-task partial sums of
/// [`BIAS_GRAD_ROWS`] rows added in task order (the same bits whatever the thread count).
pub(crate) fn column_sum(g: &[f32], n: usize) -> Vec<f32> {
    let partial: Vec<Vec<f32>> = g
        .par_chunks(n * BIAS_GRAD_ROWS)
        .map(|rows| {
            let mut acc = vec![0f32; n];
            for r in rows.chunks(n) {
                acc.iter_mut().zip(r).for_each(|(a, v)| *a += v);
            }
            acc
        })
        .collect();
    let mut total = vec![0f32; n];
    for p in partial {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

/// A matrix operand of [`matmul`]: element (i, j) at `ptr[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

/// A buffer of `n` values the caller overwrites entirely before it reads any (a matrix
/// product without accumulation, a LayerNorm or an activation writing every element): no
/// zero-fill pass, which on the encoder's activations was a tenth of an inference forward.
/// The contract is the caller's, as for candle's own uninitialised outputs.
#[allow(clippy::uninit_vec)]
pub(crate) fn overwritten(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: f32 has no invalid bit patterns and every caller writes all n elements before
    // reading them (see each call).
    unsafe { v.set_len(n) };
    v
}

/// `m` rows each equal to `row`, filled in parallel (the bias a matrix product then adds to).
pub(crate) fn repeat_rows(row: &[f32], m: usize) -> Vec<f32> {
    let n = row.len();
    let mut y = overwritten(m * n);
    // Every chunk is whole rows, each copied from `row`: all elements written.
    y.par_chunks_mut((n * ROWS_PER_TASK).max(1)).for_each(|c| {
        for r in c.chunks_mut(n.max(1)) {
            r.copy_from_slice(row);
        }
    });
    y
}

/// `dst (m×n, row stride dst_rs) = [dst +] scale · a (m×k) · b (k×n)`, on the rayon pool when
/// `parallel` and the product is large enough.
///
/// The pool's threads each compute one block of `dst` (split along its longer side, in
/// multiples of 16) with a single-threaded `gemm`: measured on a 2-core Xeon, `gemm`'s own
/// `Parallelism::Rayon` reached 140–230 GFLOP/s on the encoder's shapes where the split reached
/// 180–300 (`examples/gemm_split.rs`). The split depends only on the shapes and the thread
/// count, so a run is reproducible for a given thread count.
///
/// # Safety
/// Every element the strides address must lie inside its allocation, and `dst` must not
/// overlap `a` or `b` nor be written by another thread meanwhile.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    a: Mat,
    b: Mat,
    accumulate: bool,
    scale: f32,
    parallel: bool,
) {
    let threads = rayon::current_num_threads();
    let long = m.max(n);
    if !(parallel && threads > 1 && m * n * k >= 1 << 15 && long >= 32) {
        // SAFETY: as the caller promised.
        unsafe { gemm_block(m, n, k, dst, dst_rs, a, b, accumulate, scale) };
        return;
    }
    let parts = threads.min(long / 16);
    let bound = |i: usize| (long * i / parts) / 16 * 16;
    let dst_addr = dst as usize;
    let ((a_addr, a_rs, a_cs), (b_addr, b_rs, b_cs)) = ((a.ptr as usize, a.rs, a.cs), (b.ptr as usize, b.rs, b.cs));
    (0..parts).into_par_iter().for_each(|i| {
        let (lo, hi) = (bound(i), if i + 1 == parts { long } else { bound(i + 1) });
        let dst = dst_addr as *mut f32;
        let mut a = Mat {
            ptr: a_addr as *const f32,
            rs: a_rs,
            cs: a_cs,
        };
        let mut b = Mat {
            ptr: b_addr as *const f32,
            rs: b_rs,
            cs: b_cs,
        };
        // SAFETY: each task writes its own rows (or columns) lo..hi of dst; the operand pointers
        // move to the same rows of a (or columns of b), inside the caller's bounds.
        unsafe {
            if n >= m {
                b.ptr = b.ptr.add(lo * b.cs);
                gemm_block(m, hi - lo, k, dst.add(lo), dst_rs, a, b, accumulate, scale);
            } else {
                a.ptr = a.ptr.add(lo * a.rs);
                gemm_block(hi - lo, n, k, dst.add(lo * dst_rs), dst_rs, a, b, accumulate, scale);
            }
        }
    });
}

/// [`matmul`] on the calling thread.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    a: Mat,
    b: Mat,
    accumulate: bool,
    scale: f32,
) {
    // SAFETY: as the caller promised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.ptr,
            a.cs as isize,
            a.rs as isize,
            b.ptr,
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// erf-GELU of `x` into `y`, in parallel chunks.
pub(crate) fn gelu_rows(x: &[f32], y: &mut [f32]) {
    y.par_chunks_mut(4096)
        .zip(x.par_chunks(4096))
        .for_each(|(yo, xi)| simd_dispatch!(gelu_forward(yo, xi)));
}

/// erf-GELU of `u + bias` into `g`, adding the bias to each row of `u` in place (the backward
/// reads the pre-activation from `u`), whole rows per task; plain [`gelu_rows`] without a bias.
pub(crate) fn gelu_bias_rows(u: &mut [f32], bias: Option<&[f32]>, g: &mut [f32]) {
    let Some(bias) = bias.filter(|b| !b.is_empty()) else {
        return gelu_rows(u, g);
    };
    let n = bias.len();
    g.par_chunks_mut(n * ROWS_PER_TASK)
        .zip(u.par_chunks_mut(n * ROWS_PER_TASK))
        .for_each(|(go, ui)| {
            for (gr, ur) in go.chunks_mut(n).zip(ui.chunks_mut(n)) {
                ur.iter_mut().zip(bias).for_each(|(x, &b)| *x += b);
                simd_dispatch!(gelu_forward(gr, ur));
            }
        });
}

/// The erf-GELU backward in place, `g ← g · GELU'(x)`, from the forward's input `x` and output
/// `y` (both kept by the fused layer and the GELU op: no erf recomputed), in parallel chunks.
pub(crate) fn gelu_rows_backward_from(x: &[f32], y: &[f32], g: &mut [f32]) {
    let inv_sqrt_2pi = 0.398_942_3_f32;
    g.par_chunks_mut(4096)
        .zip(x.par_chunks(4096).zip(y.par_chunks(4096)))
        .for_each(|(o, (xi, yi))| simd_dispatch!(gelu_backward_from(o, xi, yi, inv_sqrt_2pi)));
}

/// The multipliers of a dropout with probability `p` (below 1) at positions
/// `start..start + out.len()` of the seeded stream `seed`: 0 for a dropped element, `1 / (1 - p)`
/// for a kept one. The fused layer and the composed [`crate::nn::dropout`] both draw through it.
pub(crate) fn dropout_multipliers(out: &mut [f32], seed: u64, start: u64, p: f64) {
    let scale = (1.0 / (1.0 - p)) as f32;
    let p = p as f32;
    simd_dispatch!(dropout_fill(out, seed, start, p, scale))
}

/// `a · b` over the shorter of the two, vectorized for the CPU at hand (16 lanes summed in a
/// fixed order: the same bits on every CPU kind and run). For small dense problems outside the
/// model (the linear probe, nearest neighbours).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    simd_dispatch!(dot_lanes(a, b))
}

/// `y ← y + alpha · x` (over the shorter of the two), vectorized for the CPU at hand.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    simd_dispatch!(axpy_lanes(alpha, x, y))
}

/// `Σ x²` in f64, vectorized for the CPU at hand; lanes and tail added in a fixed order, so
/// the result depends only on `x` (the optimizer's global gradient norm).
#[inline]
pub fn sum_squares(x: &[f32]) -> f64 {
    simd_dispatch!(sum_squares_lanes(x))
}

/// The constants of one AdamW step (PyTorch's `torch.optim.AdamW` update with decoupled weight
/// decay), as [`adamw_update`] applies them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
    /// Multiplies the raw gradient (1 / examples, times the clipping coefficient).
    pub grad_scale: f32,
    /// First- and second-moment decays.
    pub beta1: f32,
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// `sqrt(1 − beta2^t)`.
    pub bias_correction2_sqrt: f32,
    /// `lr / (1 − beta1^t)`.
    pub step_size: f32,
    /// `1 − lr · weight_decay` for decayed parameters, 1 otherwise.
    pub decay: f32,
}

/// One AdamW step on a chunk, vectorized for the CPU at hand: `ĝ = g · grad_scale` (and `g`
/// zeroed), `m ← β1 m + (1 − β1) ĝ`, `v ← β2 v + (1 − β2) ĝ²`,
/// `p ← p · decay − step_size · m / (√v / bias_correction2_sqrt + eps)`. IEEE square roots and
/// divisions in every lane: the same bits as the element-by-element loop.
#[inline]
pub fn adamw_update(p: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32], step: AdamWStep) {
    simd_dispatch!(adamw_lanes(p, g, m, v, step))
}

/// `log Σ exp(row)` (vectorized; the sum kept in f64 across blocks).
#[inline]
pub(crate) fn log_sum_exp(row: &[f32]) -> f64 {
    simd_dispatch!(log_sum_exp_row(row))
}

/// `row ← g · exp(row − shift)` in place (vectorized).
#[inline]
pub(crate) fn scaled_exp(row: &mut [f32], shift: f32, g: f32) {
    simd_dispatch!(scaled_exp_row(row, shift, g))
}

/// `softmax(scale · x + bias)` of one row into `y` (AVX2 when the CPU has it).
#[inline]
pub(crate) fn softmax_row_into(y: &mut [f32], x: &[f32], bias: &[f32], scale: f32) {
    simd_dispatch!(softmax_row(y, x, Some(bias), scale))
}

struct LayerNormOp {
    eps: f32,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "retune-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let mut y = vec![0f32; x.len()];
        layer_norm_rows(x, w, b, self.eps, &mut y);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        // Frozen LayerNorm parameters (LoRA, top:K, head) need no weight or bias gradient.
        let params_grad = w.track_op() || b.track_op();
        let (dx, dw, db) = with_data(x, |x| {
            with_data(w, |w| {
                with_data(&grad, |g| {
                    let mut dx = vec![0f32; x.len()];
                    let (dw, db) = layer_norm_rows_backward(x, w, g, self.eps, &mut dx, params_grad);
                    (dx, dw, db)
                })
            })
        })???;
        let dev = x.device();
        let dx = Some(Tensor::from_vec(dx, x.shape(), dev)?);
        if !params_grad {
            return Ok((dx, None, None));
        }
        Ok((
            dx,
            w.track_op().then(|| Tensor::from_vec(dw, w.shape(), dev)).transpose()?,
            b.track_op().then(|| Tensor::from_vec(db, w.shape(), dev)).transpose()?,
        ))
    }
}

/// Layer normalization over the last dimension with a fused backward (CPU f32); composed
/// operations elsewhere.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if !unfused("layer_norm") && fusable(x) && fusable(weight) && fusable(bias) {
        return x.apply_op3(weight, bias, LayerNormOp { eps: eps as f32 });
    }
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xn.broadcast_mul(weight)?.broadcast_add(bias)
}

/// The gradient of `y = softmax(scale · x + c)` with respect to x, row by row over the last
/// dimension: `scale · y ⊙ (g − Σ y g)`.
fn softmax_grad(y: &Tensor, grad: &Tensor, scale: f32) -> Result<Tensor> {
    let d = y.dim(D::Minus1)?;
    let grad = grad.contiguous()?;
    let dx = with_data(y, |y| {
        with_data(&grad, |g| {
            let mut dx = vec![0f32; y.len()];
            dx.par_chunks_mut(d * ROWS_PER_TASK)
                .zip(y.par_chunks(d * ROWS_PER_TASK))
                .zip(g.par_chunks(d * ROWS_PER_TASK))
                .for_each(|((dxr, yr), gr)| {
                    for ((o, yi), gi) in dxr.chunks_mut(d).zip(yr.chunks(d)).zip(gr.chunks(d)) {
                        let dot: f32 = yi.iter().zip(gi).map(|(a, b)| a * b).sum();
                        for j in 0..d {
                            o[j] = scale * yi[j] * (gi[j] - dot);
                        }
                    }
                });
            dx
        })
    })??;
    Tensor::from_vec(dx, y.shape(), y.device())
}

struct SoftmaxOp;

impl CustomOp1 for SoftmaxOp {
    fn name(&self) -> &'static str {
        "retune-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let d = *l.dims().last().unwrap_or(&1);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .for_each(|(yr, xr)| {
                for (yo, xi) in yr.chunks_mut(d).zip(xr.chunks(d)) {
                    simd_dispatch!(softmax_row(yo, xi, None, 1.0));
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(softmax_grad(res, grad, 1.0)?))
    }
}

/// Softmax over the last dimension with a fused backward (CPU f32); candle's composed softmax
/// elsewhere.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if !unfused("softmax") && fusable(x) {
        return x.apply_op1(SoftmaxOp);
    }
    candle_nn::ops::softmax(x, D::Minus1)
}

/// `y = x Wᵀ + b` for x (m, k), W (n, k), b (n), all contiguous f32 on the CPU: one gemm into a
/// buffer that already holds the bias. The backward computes `dx = dy W` only when x needs a
/// gradient, `dW = dyᵀ x` only when W does (a frozen weight — LoRA, top:K, head — costs no
/// weight-gradient matmul), and `db` as a parallel column sum in a fixed order (the same bits
/// whatever the thread count). The composed graph (matmul, broadcast add) computes every one of
/// them and reduces the bias gradient with a generic kernel.
struct LinearOp;

/// Rows per task of the bias-gradient column sum (fixed, so the sum's order never changes).
const BIAS_GRAD_ROWS: usize = 64;

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "retune-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 || b.len() != n {
            candle_core::bail!(
                "linear: x {:?}, weight {:?}, bias {:?}",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let mut y = Vec::with_capacity(m * n);
        for _ in 0..m {
            y.extend_from_slice(b);
        }
        // SAFETY: y is m×n (row stride n), x is m×k (row stride k), W is n×k read as Wᵀ (k×n:
        // row stride 1, column stride k); every index stays inside its slice.
        unsafe {
            matmul(
                m,
                n,
                k,
                y.as_mut_ptr(),
                n,
                Mat {
                    ptr: x.as_ptr(),
                    rs: k,
                    cs: 1,
                },
                Mat {
                    ptr: w.as_ptr(),
                    rs: 1,
                    cs: k,
                },
                true,
                1.0,
                true,
            );
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = if x.track_op() { Some(mm(&grad, w)?) } else { None };
        let dw = if w.track_op() { Some(mm(&grad.t()?, x)?) } else { None };
        let db = if b.track_op() {
            let n = b.elem_count();
            let sums = with_data(&grad, |g| column_sum(g, n))?;
            Some(Tensor::from_vec(sums, n, b.device())?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// The product of two 2-D f32 CPU tensors (any strides) by [`matmul`], split over the pool;
/// candle's matmul for anything else.
pub fn mm(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == candle_core::DType::F32 && t.rank() == 2;
    if unfused("linear") || !cpu_f32(a) || !cpu_f32(b) {
        return a.matmul(b);
    }
    let (m, k) = a.dims2()?;
    let (k2, n) = b.dims2()?;
    if k != k2 {
        return a.matmul(b);
    }
    let mut y = vec![0f32; m * n];
    {
        let (sa, la) = a.storage_and_layout();
        let (sb, lb) = b.storage_and_layout();
        let (Storage::Cpu(CpuStorage::F32(va)), Storage::Cpu(CpuStorage::F32(vb))) = (&*sa, &*sb) else {
            return a.matmul(b);
        };
        let (ra, ca) = (la.stride()[0], la.stride()[1]);
        let (rb, cb) = (lb.stride()[0], lb.stride()[1]);
        // Every addressed element must lie in the storage.
        let last = |off: usize, r: usize, c: usize, rs: usize, cs: usize| {
            off + r.saturating_sub(1) * rs + c.saturating_sub(1) * cs
        };
        if m * k > 0 && last(la.start_offset(), m, k, ra, ca) >= va.len()
            || k * n > 0 && last(lb.start_offset(), k, n, rb, cb) >= vb.len()
        {
            return a.matmul(b);
        }
        // SAFETY: the operands' strides address only elements inside their storages (checked
        // above); y is a fresh m×n buffer.
        unsafe {
            matmul(
                m,
                n,
                k,
                y.as_mut_ptr(),
                n,
                Mat {
                    ptr: va.as_ptr().add(la.start_offset()),
                    rs: ra,
                    cs: ca,
                },
                Mat {
                    ptr: vb.as_ptr().add(lb.start_offset()),
                    rs: rb,
                    cs: cb,
                },
                false,
                1.0,
                true,
            );
        }
    }
    Tensor::from_vec(y, (m, n), a.device())
}

/// Negative log-likelihood `logsumexp(row) - row[target]` of each row of `logits` (rows, vocab;
/// f32 on the CPU, any device or dtype through candle otherwise), one pass per row in parallel,
/// the exponentials summed in f64: what perplexity needs without materialising a log-softmax, a
/// copy of the logits or a gather.
pub fn picked_nll(logits: &Tensor, targets: &[u32]) -> Result<Vec<f32>> {
    let (rows, vocab) = logits.dims2()?;
    if rows != targets.len() {
        candle_core::bail!("picked_nll: {} targets for {rows} rows", targets.len());
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= vocab) {
        candle_core::bail!("picked_nll: target {t} outside a vocabulary of {vocab}");
    }
    if !fusable(logits) {
        let lse = logits.to_dtype(candle_core::DType::F32)?.log_sum_exp(D::Minus1)?;
        let idx = Tensor::from_vec(targets.to_vec(), (rows, 1), logits.device())?;
        let picked = logits.to_dtype(candle_core::DType::F32)?.gather(&idx, 1)?.squeeze(1)?;
        return (lse - picked)?.to_vec1();
    }
    with_data(logits, |v| {
        v.par_chunks(vocab)
            .zip(targets.par_iter())
            .map(|(row, &t)| (log_sum_exp(row) - row[t as usize] as f64) as f32)
            .collect()
    })
}

/// `x Wᵀ` for x (rows, in), weight (out, in): [`LinearOp`] with a zero bias that takes no
/// gradient (the projections of decoder LMs have none).
pub fn linear_no_bias(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    if !unfused("linear") && fusable(x) && fusable(weight) && x.rank() == 2 {
        let zero = Tensor::zeros(weight.dim(0)?, candle_core::DType::F32, x.device())?;
        return x.apply_op3(weight, &zero, LinearOp);
    }
    x.matmul(&weight.t()?)
}

/// `x Wᵀ + b` for x (rows, in), weight (out, in), bias (out): fused on CPU f32 (see
/// [`LinearOp`]: no gradient work for frozen arguments), candle's matmul and broadcast add
/// elsewhere.
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if !unfused("linear") && fusable(x) && fusable(weight) && fusable(bias) && x.rank() == 2 {
        return x.apply_op3(weight, bias, LinearOp);
    }
    x.matmul(&weight.t()?)?.broadcast_add(bias)
}

/// Rows of a lookup table: `weight[ids]`. The backward adds each output row's gradient into its
/// table row: into the caller's buffer when [`backward_into`] was given one for the table (only
/// the rows looked up are touched), otherwise into one new dense gradient. candle's
/// `index_select` backward allocates a zero table and then a second one for `index_add`, and the
/// optimizer read both whole — for BERT's 30,522 × 384 word embeddings, most of a short batch's
/// backward.
struct EmbeddingOp {
    ids: Vec<u32>,
    shape: Vec<usize>,
}

impl CustomOp1 for EmbeddingOp {
    fn name(&self) -> &'static str {
        "retune-embedding"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let w = slice(s, l)?;
        let (rows, dim) = l.shape().dims2()?;
        let mut y = Vec::with_capacity(self.ids.len() * dim);
        for &id in &self.ids {
            let id = id as usize;
            if id >= rows {
                candle_core::bail!("embedding: id {id} outside a table of {rows} rows");
            }
            y.extend_from_slice(&w[id * dim..(id + 1) * dim]);
        }
        Ok((CpuStorage::F32(y), Shape::from(self.shape.clone())))
    }

    fn bwd(&self, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (rows, dim) = w.dims2()?;
        let grad = grad.contiguous()?;
        let scatter = |dst: &mut [f32], g: &[f32]| {
            for (&id, gr) in self.ids.iter().zip(g.chunks(dim)) {
                let id = id as usize;
                dst[id * dim..(id + 1) * dim]
                    .iter_mut()
                    .zip(gr)
                    .for_each(|(d, g)| *d += g);
            }
        };
        if let Some(ptr) = layer::sink_of(w) {
            // SAFETY: the sink's buffer has the table's length (checked by `backward_into`) and
            // is borrowed mutably by it while the sink holds it.
            let dst = unsafe { std::slice::from_raw_parts_mut(ptr, rows * dim) };
            with_data(&grad, |g| scatter(dst, g))?;
            return Ok(None);
        }
        let mut dw = vec![0f32; rows * dim];
        with_data(&grad, |g| scatter(&mut dw, g))?;
        Ok(Some(Tensor::from_vec(dw, (rows, dim), w.device())?))
    }
}

/// `weight[ids]` for a table (rows, dim) and u32 ids of any shape (output: the ids' shape plus
/// `dim`): [`EmbeddingOp`] on CPU f32, candle's `index_select` elsewhere or when
/// `RETUNE_UNFUSED` names `embedding`.
pub fn embedding(weight: &Tensor, ids: &Tensor) -> Result<Tensor> {
    let dim = weight.dim(1)?;
    if unfused("embedding") || !fusable(weight) || !ids.device().is_cpu() {
        let flat = weight.index_select(&ids.flatten_all()?, 0)?;
        let mut shape = ids.dims().to_vec();
        shape.push(dim);
        return flat.reshape(shape);
    }
    let ids_v = ids.flatten_all()?.to_dtype(candle_core::DType::U32)?.to_vec1::<u32>()?;
    let mut shape = ids.dims().to_vec();
    shape.push(dim);
    weight.apply_op1(EmbeddingOp { ids: ids_v, shape })
}

/// `softmax(scale · scores + mask_bias)` over the last dimension in one pass, for attention:
/// scores (batch, heads, queries, keys), mask_bias (batch, 1, 1, keys). The backward gives the
/// scores their gradient (`scale · y ⊙ (g − Σ y g)`) and the constant mask none, where the
/// composed graph (scale, broadcast add, softmax) would reduce a gradient for the mask over
/// heads and queries and allocate a buffer per node.
struct MaskedSoftmaxOp {
    scale: f32,
}

impl CustomOp2 for MaskedSoftmaxOp {
    fn name(&self) -> &'static str {
        "retune-masked-softmax"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, bias) = (slice(s1, l1)?, slice(s2, l2)?);
        let dims = l1.dims();
        let d = *dims.last().unwrap_or(&1);
        // Rows per batch item: heads × queries; the bias has one row of `d` per batch item.
        let per_item = dims[1..dims.len() - 1].iter().product::<usize>().max(1);
        if bias.len() != (x.len() / (per_item * d)) * d {
            candle_core::bail!("masked softmax: bias {:?} does not fit scores {:?}", l2.dims(), dims);
        }
        let scale = self.scale;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .enumerate()
            .for_each(|(t, (yr, xr))| {
                for (r, (yo, xi)) in yr.chunks_mut(d).zip(xr.chunks(d)).enumerate() {
                    let row = t * ROWS_PER_TASK + r;
                    let bi = &bias[(row / per_item) * d..(row / per_item + 1) * d];
                    simd_dispatch!(softmax_row(yo, xi, Some(bi), scale));
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(softmax_grad(res, grad, self.scale)?), None))
    }
}

/// Attention probabilities `softmax(scale · scores + mask_bias)`: fused on CPU f32 (forward and
/// backward in one pass each, no gradient for the mask), composed operations elsewhere.
pub fn masked_softmax(scores: &Tensor, mask_bias: &Tensor, scale: f64) -> Result<Tensor> {
    if !unfused("attention") && fusable(scores) && fusable(mask_bias) {
        return scores.apply_op2(mask_bias, MaskedSoftmaxOp { scale: scale as f32 });
    }
    softmax_last(&(scores * scale)?.broadcast_add(&mask_bias.detach())?)
}

/// `a · b + c`: fused (one rounding) when `FUSED` — `vfmadd` in the kernels compiled with FMA,
/// libm's correctly rounded `fmaf` in the baseline build, so every build gives the same bits —
/// else a product and a sum (for callers outside the dispatched kernels, where `fmaf` would be a
/// call per element).
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `e^x` in f32 arithmetic that the compiler vectorizes (libm's `expf` is a scalar call that
/// took an eighth of inference time in the GELU and the softmax): `2^n · p(r)` with
/// `n = round(x log2 e)`, `r = x − n ln 2` in two parts, and Cephes' degree-5 polynomial; within
/// 2 ulp of `expf` on [-87.3, 88.7], exactly 0 below (a masked attention score stays 0), +inf above.
/// The plain-arithmetic version of the kernels' [`exp_poly`].
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    exp_poly::<false>(x)
}

/// [`exp_fast`] with its multiply-adds fused or not (see [`madd`]).
#[inline(always)]
fn exp_poly<const FUSED: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.336_55, 88.722_83);
    // Round to nearest by adding and subtracting 1.5·2^23 (plain SSE2 arithmetic, where
    // `f32::round` is a libm call that stops vectorization).
    const ROUND: f32 = 12_582_912.0;
    let t = madd::<FUSED>(xc, LOG2E, ROUND);
    let n = t - ROUND;
    // The integer `n` sits in the low mantissa bits of `t`: reading it from the bits keeps the
    // loop vectorized (`n as i32` saturates and checks for NaN lane by lane, in scalar code).
    let ni = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = madd::<FUSED>(-n, C2, madd::<FUSED>(-n, C1, xc));
    let r2 = r * r;
    let mut p = 1.987_569_1e-4;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.000_000_1e-1,
    ] {
        p = madd::<FUSED>(p, r, c);
    }
    let y = madd::<FUSED>(p, r2, r) + 1.0;
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    let v = y * scale;
    if x < -87.336_55 {
        0.0
    } else if x > 88.722_83 {
        f32::INFINITY
    } else {
        v
    }
}

/// erf with absolute error below 1.2e-7 (Numerical Recipes' `erfc` Chebyshev fit), branch-free
/// enough to vectorize. The plain-arithmetic version of the GELU kernel's [`erf_poly`].
#[inline]
pub fn erf(x: f32) -> f32 {
    erf_poly::<false>(x)
}

/// [`erf`] with its multiply-adds fused or not (see [`madd`]).
#[inline(always)]
fn erf_poly<const FUSED: bool>(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut h = 0.170_872_77;
    for c in [
        -0.822_152_23,
        1.488_515_87,
        -1.135_203_98,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_68,
    ] {
        h = madd::<FUSED>(h, t, c);
    }
    let poly = madd::<FUSED>(t, h, madd::<FUSED>(-z, z, -1.265_512_23));
    let r = t * exp_poly::<FUSED>(poly);
    let v = 1.0 - r;
    if x >= 0.0 {
        v
    } else {
        -v
    }
}

struct GeluOp;

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "retune-gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        gelu_rows(x, &mut y);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = with_data(arg, |x| {
            with_data(res, |y| {
                with_data(&grad, |g| {
                    let mut dx = g.to_vec();
                    gelu_rows_backward_from(x, y, &mut dx);
                    dx
                })
            })
        })???;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// GELU with the exact erf, fused forward and backward (CPU f32); candle's `gelu_erf` elsewhere.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if !unfused("gelu") && fusable(x) {
        return x.apply_op1(GeluOp);
    }
    x.gelu_erf()
}

#[cfg(test)]
mod tests {
    /// The GELU backward from the saved output agrees with `Φ(x) + x φ(x)` computed with a
    /// second erf, over the whole range a pre-activation takes (tails, zero, tiny values).
    #[test]
    fn gelu_backward_from_output_matches_recomputed_erf() {
        let mut x: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.004).collect();
        x.extend([0.0, -0.0, 1e-30, -1e-30, 1e-10, -1e-10, -20.0, 20.0, -9.5, 9.5]);
        let mut y = vec![0f32; x.len()];
        super::gelu_rows(&x, &mut y);
        let up: Vec<f32> = (0..x.len()).map(|i| ((i * 37 % 19) as f32 - 9.0) * 0.25).collect();
        let mut got = up.clone();
        super::gelu_rows_backward_from(&x, &y, &mut got);
        for i in 0..x.len() {
            let v = x[i] as f64;
            let cdf = 0.5 * (1.0 + super::erf(x[i] * std::f32::consts::FRAC_1_SQRT_2) as f64);
            let pdf = (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let want = up[i] as f64 * (cdf + v * pdf);
            let tol = 2e-6 * up[i].abs().max(1e-3) as f64;
            assert!(
                (got[i] as f64 - want).abs() <= tol,
                "x {}: {} vs {}",
                x[i],
                got[i],
                want
            );
        }
    }
}
