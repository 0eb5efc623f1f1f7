//! One pre-RMSNorm decoder layer of the Llama family (RMSNorm → grouped-query self-attention with
//! rotary positions → residual → RMSNorm → SwiGLU MLP → residual) as a single operation on CPU
//! f32, forward and backward written out as [`super::layer`] does for the encoder layer.
//!
//! The composed layer (`llama::model` in training mode) builds about forty graph nodes per layer:
//! the RMSNorm as six, the rotary embedding as a dozen per projection, the key and value heads
//! repeated by copies for grouped-query attention, the scores, scale, mask and softmax as
//! separate tensors, each with its gradient. Here the forward keeps what the backward needs (the
//! normalised inputs and their inverse RMS, the rotated queries and keys, the values, the
//! attention probabilities, the context, the MLP's gate and up projections), the rotary
//! embedding is applied in place and undone on the gradients, each query head reads its key and
//! value head where it lies (no repeated copies), and the backward computes weight gradients only
//! for parameters that train. Gradients of a key/value head are summed over the query heads that
//! share it in a fixed order, so a run is reproducible.
//!
//! The composed layer is the reference: `tests/fused_ops.rs` checks outputs and every gradient
//! against it, and `tests/llama_parity.rs` checks the whole model against transformers.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::layer::{
    apply_layer_op, cols, deposit, linear_backward, linear_forward, rows, with_slices, Bias, Dropout, FusedLinear,
    LinView, SavedSlot, SendPtr, Trains,
};
use super::{exp_fast, fusable, matmul, overwritten, softmax_row_into};
use crate::nn::Mode;

/// The parameters and settings of one Llama decoder layer.
#[derive(Clone, Debug)]
pub struct FusedDecoderLayer {
    /// Query, key, value and output projections.
    pub qkvo: [FusedLinear; 4],
    /// The MLP's gate, up and down projections.
    pub mlp: [FusedLinear; 3],
    /// RMSNorm weights before attention and before the MLP.
    pub norms: [Tensor; 2],
    /// Query heads, key/value heads, and the size of a head.
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub eps: f32,
    /// Dropout on the attention probabilities.
    pub attn_dropout: f64,
}

impl FusedDecoderLayer {
    /// The linear maps in a fixed order: query, key, value, output, gate, up, down.
    fn linears(&self) -> [&FusedLinear; 7] {
        let [q, k, v, o] = &self.qkvo;
        let [g, u, d] = &self.mlp;
        [q, k, v, o, g, u, d]
    }

    /// Every parameter tensor: the linear maps in [`FusedDecoderLayer::linears`] order, then the
    /// two RMSNorm weights.
    fn tensors(&self) -> Vec<&Tensor> {
        let mut v: Vec<&Tensor> = self.linears().iter().flat_map(|l| l.tensors()).collect();
        v.extend(self.norms.iter());
        v
    }

    /// Whether the fused operation can run `x` (batch, length, hidden) with `mask`
    /// (batch, 1, length, length) and rotary tables (length, head_dim / 2): contiguous f32 on
    /// the CPU, consistent head sizes.
    pub fn applicable(&self, x: &Tensor, mask: &Tensor, cos: &Tensor) -> bool {
        let Ok((b, l, h)) = x.dims3() else {
            return false;
        };
        let d = self.head_dim;
        fusable(x)
            && fusable(mask)
            && fusable(cos)
            && mask.elem_count() == b * l * l
            && cos.elem_count() == l * d / 2
            && d.is_multiple_of(2)
            && self.kv_heads > 0
            && self.heads.is_multiple_of(self.kv_heads)
            && self.qkvo[0].weight.dims() == [self.heads * d, h]
            && self.qkvo[1].weight.dims() == [self.kv_heads * d, h]
            && self.tensors().iter().all(|t| fusable(t))
    }

    /// Runs the layer on `x` (batch, length, hidden) with the additive `mask`
    /// (batch, 1, length, length) and the rotary tables `rope` = (cos, sin), each
    /// (length, head_dim / 2). In training mode the attention dropout is drawn from the seeded
    /// stream as the composed layer draws it, and the result tracks gradients when `x` or a
    /// parameter does.
    pub fn forward(&self, x: &Tensor, mask: &Tensor, rope: &(Tensor, Tensor), mode: Mode) -> Result<Tensor> {
        let train = mode == Mode::Train;
        let (b, l, _) = x.dims3()?;
        let params_track = self.tensors().iter().any(|t| t.track_op());
        let save = train && (params_track || x.track_op());
        let drop = if train {
            Dropout::reserve(b * self.heads * l * l, self.attn_dropout, "fused decoder layer")?
        } else {
            None
        };
        let op = DecoderOp {
            layer: self.clone(),
            cos: rope.0.flatten_all()?.to_vec1()?,
            sin: rope.1.flatten_all()?.to_vec1()?,
            drop,
            save,
            saved: SavedSlot::new(),
        };
        apply_layer_op(x, mask, op, save, params_track)
    }
}

/// Rows per parallel task of the row-wise kernels.
const ROWS: usize = 32;

/// RMSNorm of each row of `x` into `y` (rows of `w.len()`); returns each row's inverse RMS.
fn rms_rows(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) -> Vec<f32> {
    let h = w.len();
    let mut inv = vec![0f32; x.len() / h];
    y.par_chunks_mut(h * ROWS)
        .zip(x.par_chunks(h * ROWS))
        .zip(inv.par_chunks_mut(ROWS))
        .for_each(|((yo, xi), ri)| {
            for ((yr, xr), r) in yo.chunks_mut(h).zip(xi.chunks(h)).zip(ri.iter_mut()) {
                let ms = xr.iter().map(|v| v * v).sum::<f32>() / h as f32;
                *r = 1.0 / (ms + eps).sqrt();
                for ((o, &v), &wv) in yr.iter_mut().zip(xr).zip(w) {
                    *o = v * *r * wv;
                }
            }
        });
    inv
}

/// The RMSNorm backward: adds `dx` for the output gradient `g` (rows of `w.len()`) into `dx`,
/// and returns the weight's gradient when `weight_grad` (per-task partial sums added in task
/// order: the same bits whatever the thread count).
fn rms_rows_backward(
    x: &[f32],
    inv: &[f32],
    w: &[f32],
    g: &[f32],
    dx: &mut [f32],
    weight_grad: bool,
) -> Option<Vec<f32>> {
    let h = w.len();
    let partial: Vec<Vec<f32>> = dx
        .par_chunks_mut(h * ROWS)
        .zip(x.par_chunks(h * ROWS))
        .zip(g.par_chunks(h * ROWS))
        .zip(inv.par_chunks(ROWS))
        .map(|(((dxo, xi), gi), ri)| {
            let mut dw = if weight_grad { vec![0f32; h] } else { Vec::new() };
            for (((dr, xr), gr), &r) in dxo.chunks_mut(h).zip(xi.chunks(h)).zip(gi.chunks(h)).zip(ri) {
                let dot: f32 = gr.iter().zip(w).zip(xr).map(|((g, w), x)| g * w * x).sum();
                let c = r * r * r * dot / h as f32;
                for (((o, &gv), &wv), &xv) in dr.iter_mut().zip(gr).zip(w).zip(xr) {
                    *o += r * wv * gv - c * xv;
                }
                if weight_grad {
                    for ((a, &gv), &xv) in dw.iter_mut().zip(gr).zip(xr) {
                        *a += gv * xv * r;
                    }
                }
            }
            dw
        })
        .collect();
    weight_grad.then(|| {
        let mut total = vec![0f32; h];
        for p in partial {
            total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
        }
        total
    })
}

/// Rotates each head (size `d`) of each row of `x` (rows of `width`, the row's position
/// `row % l`) by the tables (each (l, d / 2)), in place, in transformers' `rotate_half`
/// convention; `inverse` rotates back (the backward: a rotation's transpose).
#[allow(clippy::too_many_arguments)]
fn rope_rows(x: &mut [f32], width: usize, l: usize, d: usize, cos: &[f32], sin: &[f32], inverse: bool) {
    let half = d / 2;
    x.par_chunks_mut(width * ROWS).enumerate().for_each(|(c, chunk)| {
        for (i, row) in chunk.chunks_mut(width).enumerate() {
            let pos = (c * ROWS + i) % l;
            let (cr, sr) = (&cos[pos * half..(pos + 1) * half], &sin[pos * half..(pos + 1) * half]);
            for hd in row.chunks_mut(d) {
                let (a, b) = hd.split_at_mut(half);
                for j in 0..half {
                    let (x1, x2) = (a[j], b[j]);
                    if inverse {
                        a[j] = x1 * cr[j] + x2 * sr[j];
                        b[j] = x2 * cr[j] - x1 * sr[j];
                    } else {
                        a[j] = x1 * cr[j] - x2 * sr[j];
                        b[j] = x2 * cr[j] + x1 * sr[j];
                    }
                }
            }
        }
    });
}

/// `silu(gate) · up` into `out`.
fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(4096)
        .zip(gate.par_chunks(4096).zip(up.par_chunks(4096)))
        .for_each(|(o, (g, u))| {
            for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                *o = g / (1.0 + exp_fast(-g)) * u;
            }
        });
}

/// The SwiGLU backward: from `da` (the gradient of `silu(gate) · up`), the gradients of the
/// gate (written into `da`) and of up (returned).
fn swiglu_backward(gate: &[f32], up: &[f32], da: &mut [f32]) -> Vec<f32> {
    let mut dup = vec![0f32; da.len()];
    da.par_chunks_mut(4096)
        .zip(dup.par_chunks_mut(4096))
        .zip(gate.par_chunks(4096).zip(up.par_chunks(4096)))
        .for_each(|((dg, du), (g, u))| {
            for (((dg, du), &g), &u) in dg.iter_mut().zip(du.iter_mut()).zip(g).zip(u) {
                let s = 1.0 / (1.0 + exp_fast(-g));
                *du = *dg * g * s;
                *dg *= u * s * (1.0 + g * (1.0 - s));
            }
        });
    dup
}

/// Activations kept for the backward.
struct Saved {
    /// Inverse RMS of each row before attention and before the MLP.
    inv1: Vec<f32>,
    inv2: Vec<f32>,
    /// Normalised inputs of the attention and of the MLP.
    n1: Vec<f32>,
    n2: Vec<f32>,
    /// Queries and keys after the rotation, values.
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// `x Aᵀ` of each linear map with LoRA, in [`FusedDecoderLayer::linears`] order.
    xa: [Option<Vec<f32>>; 7],
    /// Attention probabilities before dropout, (batch, heads, length, length).
    probs: Vec<f32>,
    ctx: Vec<f32>,
    /// The residual sum after attention.
    s1: Vec<f32>,
    /// The MLP's gate and up projections.
    gate: Vec<f32>,
    up: Vec<f32>,
    /// Each sequence's blocks of query rows ([`query_blocks`]).
    blocks: Vec<Vec<(usize, usize, usize)>>,
}

struct DecoderOp {
    layer: FusedDecoderLayer,
    cos: Vec<f32>,
    sin: Vec<f32>,
    drop: Option<Dropout>,
    save: bool,
    saved: SavedSlot<Saved>,
}

/// Shapes of one call: batch, length, hidden, query heads, key/value heads, head size.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    l: usize,
    h: usize,
    nh: usize,
    nkv: usize,
    d: usize,
}

fn views<'a>(layer: &FusedDecoderLayer, s: &[&'a [f32]]) -> Result<([LinView<'a>; 7], [&'a [f32]; 2])> {
    let mut i = 0;
    let mut lin = Vec::with_capacity(7);
    for fl in layer.linears() {
        lin.push(LinView::of(fl, s, &mut i)?);
    }
    let lin: [LinView<'a>; 7] = lin
        .try_into()
        .map_err(|_| candle_core::Error::Msg("fused decoder layer: seven linear maps".into()))?;
    Ok((lin, [s[i], s[i + 1]]))
}

impl DecoderOp {
    fn dims(&self, b: usize, l: usize, h: usize) -> Dims {
        let layer = &self.layer;
        Dims {
            b,
            l,
            h,
            nh: layer.heads,
            nkv: layer.kv_heads,
            d: layer.head_dim,
        }
    }

    fn run(&self, x: &[f32], mask: &[f32], dm: Dims) -> Result<Vec<f32>> {
        let layer = &self.layer;
        let tensors = layer.tensors();
        with_slices(&tensors, |s| -> Result<Vec<f32>> {
            let (lin, norms) = views(layer, s)?;
            let Dims { b, l, h, nh, nkv, d } = dm;
            let m = b * l;
            let (wq, wkv) = (nh * d, nkv * d);
            let rep = nh / nkv;
            let scale = (1.0 / (d as f64).sqrt()) as f32;
            // n1, ctx, n2 and act are written whole (the RMS norms, every query block of every
            // head, the SwiGLU) before they are read.
            let mut n1 = overwritten(m * h);
            let inv1 = rms_rows(x, norms[0], layer.eps, &mut n1);
            let (mut q, xa_q) = linear_forward(&lin[0], &n1, m, Bias::Rows);
            let (mut k, xa_k) = linear_forward(&lin[1], &n1, m, Bias::Rows);
            let (v, xa_v) = linear_forward(&lin[2], &n1, m, Bias::Rows);
            rope_rows(&mut q, wq, l, d, &self.cos, &self.sin, false);
            rope_rows(&mut k, wkv, l, d, &self.cos, &self.sin, false);
            // Training keeps every head's probabilities for the backward; inference needs one
            // block per task at a time.
            let mut probs = if self.save {
                vec![0f32; b * nh * l * l]
            } else {
                Vec::new()
            };
            let mut ctx = overwritten(m * wq);
            let ctx_ptr = SendPtr(ctx.as_mut_ptr());
            let attn_drop = self.drop;
            let blocks = query_blocks(mask, b, l);
            let attend = |bh: usize, pr: &mut [f32], scores: &mut [f32]| {
                let (bi, hi) = (bh / nh, bh % nh);
                let qoff = bi * l * wq + hi * d;
                let kvoff = bi * l * wkv + (hi / rep) * d;
                let mb = &mask[bi * l * l..(bi + 1) * l * l];
                for &(r0, r1, kn) in &blocks[bi] {
                    // SAFETY: the query rows r0..r1 (row stride wq) against keys 0..kn (row
                    // stride wkv, read as the transpose) into scores rows r0..r1 (stride l).
                    unsafe {
                        matmul(
                            r1 - r0,
                            kn,
                            d,
                            scores.as_mut_ptr().add(r0 * l),
                            l,
                            rows(&q[qoff + r0 * wq..], wq),
                            cols(&k[kvoff..], wkv),
                            false,
                            1.0,
                            false,
                        )
                    };
                    for i in r0..r1 {
                        let (row, at) = (&mut pr[i * l..(i + 1) * l], i * l);
                        softmax_row_into(&mut row[..kn], &scores[at..at + kn], &mb[at..at + kn], scale);
                        row[kn..].fill(0.0);
                    }
                }
                let dropped: Vec<f32>;
                let pd: &[f32] = match attn_drop {
                    Some(dr) => {
                        let mut mult = vec![0f32; l * l];
                        dr.fill(&mut mult, bh * l * l);
                        dropped = mult.iter().zip(pr.iter()).map(|(m, p)| m * p).collect();
                        &dropped
                    }
                    None => pr,
                };
                for &(r0, r1, kn) in &blocks[bi] {
                    // SAFETY: this task alone writes the context block of (bi, hi), rows
                    // r0..r1 (row stride wq), from probabilities rows r0..r1, keys 0..kn.
                    unsafe {
                        matmul(
                            r1 - r0,
                            d,
                            kn,
                            ctx_ptr.at(qoff + r0 * wq),
                            wq,
                            rows(&pd[r0 * l..], l),
                            rows(&v[kvoff..], wkv),
                            false,
                            1.0,
                            false,
                        )
                    };
                }
            };
            let lsq = (l * l).max(1);
            if self.save {
                probs
                    .par_chunks_mut(lsq)
                    .enumerate()
                    .for_each_init(|| vec![0f32; lsq], |scores, (bh, pr)| attend(bh, pr, scores));
            } else {
                (0..b * nh).into_par_iter().for_each_init(
                    || (vec![0f32; lsq], vec![0f32; lsq]),
                    |(pr, scores), bh| attend(bh, pr, scores),
                );
            }
            let (ao, xa_o) = linear_forward(&lin[3], &ctx, m, Bias::Rows);
            let mut s1 = ao;
            s1.par_chunks_mut(4096)
                .zip(x.par_chunks(4096))
                .for_each(|(o, xi)| o.iter_mut().zip(xi).for_each(|(o, &x)| *o += x));
            let mut n2 = overwritten(m * h);
            let inv2 = rms_rows(&s1, norms[1], layer.eps, &mut n2);
            let (gate, xa_g) = linear_forward(&lin[4], &n2, m, Bias::Rows);
            let (up, xa_u) = linear_forward(&lin[5], &n2, m, Bias::Rows);
            let mut act = overwritten(gate.len());
            swiglu(&gate, &up, &mut act);
            let (mut y, xa_d) = linear_forward(&lin[6], &act, m, Bias::Rows);
            drop(act);
            y.par_chunks_mut(4096)
                .zip(s1.par_chunks(4096))
                .for_each(|(o, si)| o.iter_mut().zip(si).for_each(|(o, &s)| *o += s));
            if self.save {
                let saved = Saved {
                    inv1,
                    inv2,
                    n1,
                    n2,
                    q,
                    k,
                    v,
                    xa: [xa_q, xa_k, xa_v, xa_o, xa_g, xa_u, xa_d],
                    probs,
                    ctx,
                    s1,
                    gate,
                    up,
                    blocks,
                };
                self.saved.put("fused decoder layer", saved)?;
            }
            Ok(y)
        })?
    }

    fn backward(&self, x: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let saved = self.saved.take("fused decoder layer")?;
        let layer = &self.layer;
        let (b, l, h) = x.dims3()?;
        let Dims { nh, nkv, d, .. } = self.dims(b, l, h);
        let m = b * l;
        let (wq, wkv) = (nh * d, nkv * d);
        let rep = nh / nkv;
        let scale = (1.0 / (d as f64).sqrt()) as f32;
        let need_x = x.track_op();
        let lins = layer.linears();
        let trains: Vec<Trains> = lins.iter().map(|l| Trains::of(l)).collect();
        let norm_t = [layer.norms[0].track_op(), layer.norms[1].track_op()];
        let attn_t = trains[..4].iter().any(|t| t.any()) || norm_t[0];
        let below_mlp = attn_t || need_x;
        let mut tensors = layer.tensors();
        tensors.push(x);
        tensors.push(dy);
        let dx = with_slices(&tensors, |s| -> Result<Option<Vec<f32>>> {
            let n = s.len();
            let (xs, dys) = (s[n - 2], s[n - 1]);
            let (lin, norms) = views(layer, &s[..n - 2])?;
            // The MLP.
            let mlp_t = trains[4].any() || trains[5].any() || norm_t[1];
            let need_dact = mlp_t || below_mlp;
            let mut act = vec![0f32; saved.gate.len()];
            swiglu(&saved.gate, &saved.up, &mut act);
            let mut dact = if need_dact { vec![0f32; act.len()] } else { Vec::new() };
            linear_backward(
                lins[6],
                &lin[6],
                trains[6],
                &act,
                saved.xa[6].as_deref(),
                dys,
                m,
                need_dact.then_some(dact.as_mut_slice()),
                false,
            )?;
            drop(act);
            if !need_dact {
                return Ok(None);
            }
            let dup = swiglu_backward(&saved.gate, &saved.up, &mut dact);
            let dgate = dact;
            let mut dn2 = if below_mlp || norm_t[1] {
                vec![0f32; m * h]
            } else {
                Vec::new()
            };
            let dn2_out = (below_mlp || norm_t[1]).then_some(dn2.as_mut_slice());
            linear_backward(
                lins[4],
                &lin[4],
                trains[4],
                &saved.n2,
                saved.xa[4].as_deref(),
                &dgate,
                m,
                dn2_out,
                false,
            )?;
            let dn2_out = (below_mlp || norm_t[1]).then_some(dn2.as_mut_slice());
            linear_backward(
                lins[5],
                &lin[5],
                trains[5],
                &saved.n2,
                saved.xa[5].as_deref(),
                &dup,
                m,
                dn2_out,
                true,
            )?;
            drop(dgate);
            drop(dup);
            if !(below_mlp || norm_t[1]) {
                return Ok(None);
            }
            // The residual: ds1 = dy + RMSNorm backward of dn2.
            let mut ds1 = dys.to_vec();
            let dw2 = rms_rows_backward(&saved.s1, &saved.inv2, norms[1], &dn2, &mut ds1, norm_t[1]);
            drop(dn2);
            if let Some(g) = dw2 {
                deposit(&layer.norms[1], g)?;
            }
            if !below_mlp {
                return Ok(None);
            }
            // The attention output.
            let mut dctx = vec![0f32; m * wq];
            linear_backward(
                lins[3],
                &lin[3],
                trains[3],
                &saved.ctx,
                saved.xa[3].as_deref(),
                &ds1,
                m,
                Some(dctx.as_mut_slice()),
                false,
            )?;
            // Attention, per (sequence, key/value head): its query heads in order, so that the
            // key and value gradients add up in a fixed order.
            let (mut dq, mut dk, mut dv) = (vec![0f32; m * wq], vec![0f32; m * wkv], vec![0f32; m * wkv]);
            let (pq, pk, pv) = (
                SendPtr(dq.as_mut_ptr()),
                SendPtr(dk.as_mut_ptr()),
                SendPtr(dv.as_mut_ptr()),
            );
            let attn_drop = self.drop;
            let (q, k, vv, probs) = (&saved.q, &saved.k, &saved.v, &saved.probs);
            let blocks = &saved.blocks;
            (0..b * nkv).into_par_iter().for_each(|bk| {
                let (bi, ki) = (bk / nkv, bk % nkv);
                let kvoff = bi * l * wkv + ki * d;
                let mut dp = vec![0f32; l * l];
                let mut mult = Vec::new();
                let mut dropped = Vec::new();
                for r in 0..rep {
                    let hi = ki * rep + r;
                    let bh = bi * nh + hi;
                    let qoff = bi * l * wq + hi * d;
                    let pr = &probs[bh * l * l..(bh + 1) * l * l];
                    let pd: &[f32] = match attn_drop {
                        Some(dr) => {
                            mult.resize(l * l, 0.0);
                            dr.fill(&mut mult, bh * l * l);
                            dropped.clear();
                            dropped.extend(mult.iter().zip(pr.iter()).map(|(m, p)| m * p));
                            &dropped
                        }
                        None => pr,
                    };
                    for &(r0, r1, kn) in &blocks[bi] {
                        // SAFETY: dctx and q rows r0..r1 (row stride wq), k and v rows 0..kn
                        // (row stride wkv); dp rows r0..r1 (stride l); this task alone writes
                        // the (bi, hi) block of dq and the (bi, ki) blocks of dk and dv, which
                        // start at zero and add up over the query heads and row blocks.
                        unsafe {
                            matmul(
                                r1 - r0,
                                kn,
                                d,
                                dp.as_mut_ptr().add(r0 * l),
                                l,
                                rows(&dctx[qoff + r0 * wq..], wq),
                                cols(&vv[kvoff..], wkv),
                                false,
                                1.0,
                                false,
                            );
                            matmul(
                                kn,
                                d,
                                r1 - r0,
                                pv.at(kvoff),
                                wkv,
                                cols(&pd[r0 * l..], l),
                                rows(&dctx[qoff + r0 * wq..], wq),
                                true,
                                1.0,
                                false,
                            );
                        }
                        for i in r0..r1 {
                            let gr = &mut dp[i * l..i * l + kn];
                            let yr = &pr[i * l..i * l + kn];
                            if attn_drop.is_some() {
                                gr.iter_mut().zip(&mult[i * l..i * l + kn]).for_each(|(g, m)| *g *= m);
                            }
                            let dot: f32 = yr.iter().zip(gr.iter()).map(|(a, b)| a * b).sum();
                            for j in 0..kn {
                                gr[j] = scale * yr[j] * (gr[j] - dot);
                            }
                        }
                        unsafe {
                            matmul(
                                r1 - r0,
                                d,
                                kn,
                                pq.at(qoff + r0 * wq),
                                wq,
                                rows(&dp[r0 * l..], l),
                                rows(&k[kvoff..], wkv),
                                false,
                                1.0,
                                false,
                            );
                            matmul(
                                kn,
                                d,
                                r1 - r0,
                                pk.at(kvoff),
                                wkv,
                                cols(&dp[r0 * l..], l),
                                rows(&q[qoff + r0 * wq..], wq),
                                true,
                                1.0,
                                false,
                            );
                        }
                    }
                }
            });
            drop(dctx);
            rope_rows(&mut dq, wq, l, d, &self.cos, &self.sin, true);
            rope_rows(&mut dk, wkv, l, d, &self.cos, &self.sin, true);
            let need_dn1 = need_x || norm_t[0];
            let mut dn1 = if need_dn1 { vec![0f32; m * h] } else { Vec::new() };
            for (i, grad) in [(0usize, &dq), (1, &dk), (2, &dv)] {
                let out = need_dn1.then_some(dn1.as_mut_slice());
                linear_backward(
                    lins[i],
                    &lin[i],
                    trains[i],
                    &saved.n1,
                    saved.xa[i].as_deref(),
                    grad,
                    m,
                    out,
                    i > 0,
                )?;
            }
            if !need_dn1 {
                return Ok(None);
            }
            // The residual: dx = ds1 + RMSNorm backward of dn1.
            let mut dx = ds1;
            let dw1 = rms_rows_backward(xs, &saved.inv1, norms[0], &dn1, &mut dx, norm_t[0]);
            if let Some(g) = dw1 {
                deposit(&layer.norms[0], g)?;
            }
            Ok(need_x.then_some(dx))
        })??;
        dx.map(|dx| Tensor::from_vec(dx, x.shape(), x.device())).transpose()
    }
}

/// Query rows per block of a causal sequence.
const QUERY_BLOCK: usize = 64;

/// A bias at or below this masks its key: its probability is exactly 0 (`exp` of anything
/// below −87.3 is 0 in [`super::exp_fast`]).
const MASKED: f32 = -1e30;

/// For each sequence, its blocks of query rows `(r0, r1, keys)`: rows `r0..r1` attend to keys
/// `0..keys` only. When the sequence's mask is causal (every key after a query masked, and at
/// least one key up to it visible — the decoder's mask without left padding), the rows of
/// block `r0..r1` see keys `0..r1` and the probabilities of later keys, exactly 0 in the full
/// computation, are neither computed nor read: about 40% of the attention's work at 256
/// tokens. Any other mask gets one block of every row and key.
fn query_blocks(mask: &[f32], b: usize, l: usize) -> Vec<Vec<(usize, usize, usize)>> {
    (0..b)
        .map(|bi| {
            let m = &mask[bi * l * l..(bi + 1) * l * l];
            let causal = (0..l).all(|i| {
                let row = &m[i * l..(i + 1) * l];
                row[i + 1..].iter().all(|&v| v <= MASKED) && row[..=i].iter().any(|&v| v > MASKED)
            });
            if causal {
                (0..l)
                    .step_by(QUERY_BLOCK)
                    .map(|r0| {
                        let r1 = (r0 + QUERY_BLOCK).min(l);
                        (r0, r1, r1)
                    })
                    .collect()
            } else {
                vec![(0, l, l)]
            }
        })
        .collect()
}

impl CustomOp3 for DecoderOp {
    fn name(&self) -> &'static str {
        "retune-decoder-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        _s3: &CpuStorage,
        _l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, mask) = (super::slice(s1, l1)?, super::slice(s2, l2)?);
        let (b, l, h) = l1.shape().dims3()?;
        let y = self.run(x, mask, self.dims(b, l, h))?;
        Ok((CpuStorage::F32(y), Shape::from((b, l, h))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _mask: &Tensor,
        _anchor: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        Ok((self.backward(x, &grad)?, None, None))
    }
}
