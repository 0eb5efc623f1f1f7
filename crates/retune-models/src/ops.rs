//! Fused CPU kernels with a backward pass for training: LayerNorm, softmax over the last
//! dimension, and the erf GELU. candle composes these from many small operations in training
//! mode (each allocating its output and its gradient); these compute forward and backward in one
//! parallel pass per row. On other devices, or for non-contiguous f32 inputs, the composed
//! operations are used.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Storage, Tensor, D};
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

const ROWS_PER_TASK: usize = 16;

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
        let d = w.len();
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .for_each(|(yr, xr)| {
                for (yo, xi) in yr.chunks_mut(d).zip(xr.chunks(d)) {
                    let mean = xi.iter().sum::<f32>() / d as f32;
                    let var = xi.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                    let rstd = 1.0 / (var + self.eps).sqrt();
                    for j in 0..d {
                        yo[j] = (xi[j] - mean) * rstd * w[j] + b[j];
                    }
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = w.elem_count();
        let grad = grad.contiguous()?;
        let (dx, dw, db) = with_data(x, |x| {
            with_data(w, |w| {
                with_data(&grad, |g| {
                    let mut dx = vec![0f32; x.len()];
                    let (dw, db) = dx
                        .par_chunks_mut(d * ROWS_PER_TASK)
                        .zip(x.par_chunks(d * ROWS_PER_TASK))
                        .zip(g.par_chunks(d * ROWS_PER_TASK))
                        .fold(
                            || (vec![0f32; d], vec![0f32; d]),
                            |(mut dw, mut db), ((dxr, xr), gr)| {
                                let mut xhat = vec![0f32; d];
                                for ((dxo, xi), gi) in dxr.chunks_mut(d).zip(xr.chunks(d)).zip(gr.chunks(d)) {
                                    let mean = xi.iter().sum::<f32>() / d as f32;
                                    let var = xi.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                                    let rstd = 1.0 / (var + self.eps).sqrt();
                                    let (mut s1, mut s2) = (0f32, 0f32);
                                    for j in 0..d {
                                        xhat[j] = (xi[j] - mean) * rstd;
                                        let dxh = gi[j] * w[j];
                                        s1 += dxh;
                                        s2 += dxh * xhat[j];
                                        dw[j] += gi[j] * xhat[j];
                                        db[j] += gi[j];
                                    }
                                    let (m1, m2) = (s1 / d as f32, s2 / d as f32);
                                    for j in 0..d {
                                        dxo[j] = rstd * (gi[j] * w[j] - m1 - xhat[j] * m2);
                                    }
                                }
                                (dw, db)
                            },
                        )
                        .reduce(
                            || (vec![0f32; d], vec![0f32; d]),
                            |(mut a, mut b), (c, e)| {
                                a.iter_mut().zip(&c).for_each(|(x, y)| *x += y);
                                b.iter_mut().zip(&e).for_each(|(x, y)| *x += y);
                                (a, b)
                            },
                        );
                    (dx, dw, db)
                })
            })
        })???;
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, w.shape(), dev)?),
        ))
    }
}

/// Layer normalization over the last dimension with a fused backward (CPU f32); composed
/// operations elsewhere.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if fusable(x) && fusable(weight) && fusable(bias) {
        return x.apply_op3(weight, bias, LayerNormOp { eps: eps as f32 });
    }
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xn.broadcast_mul(weight)?.broadcast_add(bias)
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
                    let m = xi.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let mut s = 0f32;
                    for j in 0..d {
                        yo[j] = (xi[j] - m).exp();
                        s += yo[j];
                    }
                    let inv = 1.0 / s;
                    yo.iter_mut().for_each(|v| *v *= inv);
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let d = res.dim(D::Minus1)?;
        let grad = grad.contiguous()?;
        let dx = with_data(res, |y| {
            with_data(&grad, |g| {
                let mut dx = vec![0f32; y.len()];
                dx.par_chunks_mut(d * ROWS_PER_TASK)
                    .zip(y.par_chunks(d * ROWS_PER_TASK))
                    .zip(g.par_chunks(d * ROWS_PER_TASK))
                    .for_each(|((dxr, yr), gr)| {
                        for ((o, yi), gi) in dxr.chunks_mut(d).zip(yr.chunks(d)).zip(gr.chunks(d)) {
                            let dot: f32 = yi.iter().zip(gi).map(|(a, b)| a * b).sum();
                            for j in 0..d {
                                o[j] = yi[j] * (gi[j] - dot);
                            }
                        }
                    });
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, res.shape(), res.device())?))
    }
}

/// Softmax over the last dimension with a fused backward (CPU f32); candle's composed softmax
/// elsewhere.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if fusable(x) {
        return x.apply_op1(SoftmaxOp);
    }
    candle_nn::ops::softmax(x, D::Minus1)
}

/// erf with absolute error below 1.2e-7 (Numerical Recipes' `erfc` Chebyshev fit), branch-free
/// enough to vectorize.
#[inline]
pub fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
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
        y.par_chunks_mut(4096).zip(x.par_chunks(4096)).for_each(|(yo, xi)| {
            for (o, &v) in yo.iter_mut().zip(xi) {
                *o = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let inv_sqrt_2pi = 0.398_942_3_f32;
        let dx = with_data(arg, |x| {
            with_data(&grad, |g| {
                let mut dx = vec![0f32; x.len()];
                dx.par_chunks_mut(4096)
                    .zip(x.par_chunks(4096))
                    .zip(g.par_chunks(4096))
                    .for_each(|((o, xi), gi)| {
                        for ((o, &v), &gv) in o.iter_mut().zip(xi).zip(gi) {
                            let cdf = 0.5 * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
                            *o = gv * (cdf + v * inv_sqrt_2pi * (-0.5 * v * v).exp());
                        }
                    });
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// GELU with the exact erf, fused forward and backward (CPU f32); candle's `gelu_erf` elsewhere.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if fusable(x) {
        return x.apply_op1(GeluOp);
    }
    x.gelu_erf()
}
