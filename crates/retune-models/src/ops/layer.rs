//! One post-LayerNorm encoder layer (self-attention → dropout → residual + LayerNorm → GELU
//! feed-forward → dropout → residual + LayerNorm) as a single operation on CPU f32, its forward
//! and backward written out in the manner of llm.c.
//!
//! candle's autograd builds a node for every operation of the layer (about thirty), allocates
//! each node's output and each gradient, and adds every gradient into a zero tensor it allocates
//! first. Here the layer is one node: the forward keeps the activations its backward needs (the
//! projections, the attention probabilities, the residual sums before each LayerNorm, the
//! feed-forward activations), the dropout masks are not stored but drawn again from the seeded
//! counter stream (the same numbers the composed layer draws, in the same order), attention runs
//! per (sequence, head) straight on the strided projections (no transposed copies), and the
//! backward computes weight gradients only for parameters that train.
//!
//! candle's custom operations take at most three tensors and return gradients only for them, so
//! the parameters' gradients travel beside the graph: the backward deposits them in a
//! thread-local store that [`backward`] (the replacement of `Tensor::backward` for graphs that
//! may hold fused layers) moves into the [`GradStore`]. A parameter-only layer (frozen input,
//! trained weights) still needs candle to call its backward: the operation then takes a scalar
//! variable as an anchor so that its output is tracked.
//!
//! The composed layer (`layers::EncoderLayer` with [`crate::layers::LayerPath::Composed`]) is
//! the reference; `tests/fused_ops.rs` checks outputs and every gradient against it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, TensorId, Var};
use rayon::prelude::*;

use super::{
    column_sum, dropout_multipliers, fusable, gelu_bias_rows, gelu_rows_backward_from, layer_norm_rows,
    layer_norm_rows_backward, matmul, overwritten, repeat_rows, slice, softmax_row_into, Mat,
};
use crate::nn::{reserve, Mode};

/// A linear map `x Wᵀ + b + scale · (x Aᵀ) Bᵀ` of a fused layer.
#[derive(Clone, Debug)]
pub struct FusedLinear {
    /// Weight (out, in).
    pub weight: Tensor,
    /// Bias (out), when the map has one.
    pub bias: Option<Tensor>,
    /// LoRA adapters A (r, in), B (out, r) and their scale.
    pub lora: Option<(Tensor, Tensor, f32)>,
}

/// Which positions of each sequence a layer computes outputs for.
///
/// Every position's keys and values enter attention, but a sequence-classification head reads
/// only the first token's state of the last layer: computing that layer's query, attention
/// output, LayerNorms and feed-forward for the first position alone leaves out about five
/// sixths of its work (forward and backward), and the result is exactly the first row of the
/// full layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputRows {
    /// Every position: output (batch, length, hidden).
    All,
    /// The first position (`[CLS]`, `<s>`): output (batch, 1, hidden).
    First,
}

impl OutputRows {
    /// Output positions per sequence of length `l`.
    pub fn per_sequence(self, l: usize) -> usize {
        match self {
            OutputRows::All => l,
            OutputRows::First => l.min(1),
        }
    }
}

/// The parameters and settings of one post-LN encoder layer with the erf GELU.
#[derive(Clone, Debug)]
pub struct FusedLayer {
    /// Query, key, value and output projections.
    pub qkvo: [FusedLinear; 4],
    /// LayerNorm after attention (weight, bias).
    pub attn_norm: (Tensor, Tensor),
    /// Feed-forward in.
    pub ffn_in: FusedLinear,
    /// Feed-forward out.
    pub ffn_out: FusedLinear,
    /// LayerNorm after the feed-forward (weight, bias).
    pub ffn_norm: (Tensor, Tensor),
    /// Attention heads.
    pub heads: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
    /// Dropout on the attention probabilities, on the attention output and on the feed-forward
    /// output.
    pub dropout: [f64; 3],
}

impl FusedLinear {
    pub(super) fn tensors(&self) -> Vec<&Tensor> {
        let mut v = vec![&self.weight];
        v.extend(&self.bias);
        if let Some((a, b, _)) = &self.lora {
            v.push(a);
            v.push(b);
        }
        v
    }
}

impl FusedLayer {
    /// The linear maps in a fixed order: query, key, value, output, feed-forward in and out.
    fn linears(&self) -> [&FusedLinear; 6] {
        let [q, k, v, o] = &self.qkvo;
        [q, k, v, o, &self.ffn_in, &self.ffn_out]
    }

    /// Every parameter tensor: the linear maps in [`FusedLayer::linears`] order, then the two
    /// LayerNorms.
    fn tensors(&self) -> Vec<&Tensor> {
        let mut v: Vec<&Tensor> = self.linears().iter().flat_map(|l| l.tensors()).collect();
        v.extend([&self.attn_norm.0, &self.attn_norm.1, &self.ffn_norm.0, &self.ffn_norm.1]);
        v
    }

    /// Whether the fused operation can run `x` (batch, length, hidden) with `mask_bias`
    /// (batch, 1, 1, length): contiguous f32 on the CPU, heads dividing the hidden size.
    pub fn applicable(&self, x: &Tensor, mask_bias: &Tensor) -> bool {
        let Ok((b, l, h)) = x.dims3() else {
            return false;
        };
        fusable(x)
            && fusable(mask_bias)
            && mask_bias.elem_count() == b * l
            && self.heads > 0
            && h % self.heads == 0
            && self.qkvo[0].weight.dims() == [h, h]
            && self.tensors().iter().all(|t| fusable(t))
    }

    /// Runs the layer on `x` (batch, length, hidden) with the additive `mask_bias`
    /// (batch, 1, 1, length), for the positions `rows` names (output (batch, positions, hidden)).
    /// In training mode the dropout masks are drawn from the seeded stream in the composed
    /// layer's order (the same multipliers at the same positions whatever `rows` is), and the
    /// result tracks gradients when `x` or a parameter does.
    pub fn forward(&self, x: &Tensor, mask_bias: &Tensor, mode: Mode, rows: OutputRows) -> Result<Tensor> {
        let train = mode == Mode::Train;
        let (b, l, h) = x.dims3()?;
        let params_track = self.tensors().iter().any(|t| t.track_op());
        let save = train && (params_track || x.track_op());
        let mut masks = [None; 3];
        if train {
            let sizes = [b * self.heads * l * l, b * l * h, b * l * h];
            for ((m, &p), n) in masks.iter_mut().zip(&self.dropout).zip(sizes) {
                *m = Dropout::reserve(n, p, "fused layer")?;
            }
        }
        let op = LayerOp {
            layer: self.clone(),
            masks,
            rows,
            save,
            saved: SavedSlot::new(),
        };
        apply_layer_op(x, mask_bias, op, save, params_track)
    }
}

/// Applies a fused layer's operation to `x` with its `mask`: without a backward unless `save`;
/// with one, and when only parameters train (`x` frozen), a scalar variable as the anchor that
/// makes candle track the output and call the backward.
pub(super) fn apply_layer_op(
    x: &Tensor,
    mask: &Tensor,
    op: impl CustomOp3 + Send + Sync + 'static,
    save: bool,
    params_track: bool,
) -> Result<Tensor> {
    if !save {
        return x.apply_op3_no_bwd(mask, &mask.zeros_like()?, &op);
    }
    let anchor = if params_track && !x.track_op() {
        Var::zeros(1, DType::F32, x.device())?.as_tensor().clone()
    } else {
        Tensor::zeros(1, DType::F32, x.device())?
    };
    x.apply_op3(mask, &anchor, op)
}

thread_local! {
    /// Parameter gradients deposited by fused backward passes on this thread, for [`backward`].
    static DEPOSITS: RefCell<Vec<(Tensor, Tensor)>> = const { RefCell::new(Vec::new()) };
    /// While [`backward_into`] runs: the caller's gradient buffers (address, length) by
    /// parameter, which fused backward passes add into instead of depositing.
    static SINK: RefCell<HashMap<TensorId, (usize, usize)>> = RefCell::new(HashMap::new());
}

/// `loss.backward()` for graphs that may hold fused layers: candle's backward, then the
/// gradients the fused layers computed for their parameters, added into the store.
pub fn backward(loss: &Tensor) -> Result<GradStore> {
    backward_into(loss, &mut [])
}

/// [`backward`] that adds the gradients of the parameters in `sink` straight into the given
/// buffers (each the parameter's length, e.g. an optimizer's accumulators) where a fused
/// operation computes them — the matrix products write into them, with no gradient tensor
/// allocated, zeroed, stored and copied — and returns the other gradients in the store. A
/// parameter's gradient is in its buffer or in the store, never in both.
pub fn backward_into(loss: &Tensor, sink: &mut [(&Tensor, &mut [f32])]) -> Result<GradStore> {
    /// This thread's sink and deposits from before this backward, put back when it ends by any
    /// path: a pool thread waiting inside one backward's operation may run another backward
    /// (another caller's step, [`crate::batches::on_pool`]) to its end on the same thread.
    struct Outer(HashMap<TensorId, (usize, usize)>, Vec<(Tensor, Tensor)>);
    impl Drop for Outer {
        fn drop(&mut self) {
            SINK.with(|s| *s.borrow_mut() = std::mem::take(&mut self.0));
            DEPOSITS.with(|d| *d.borrow_mut() = std::mem::take(&mut self.1));
        }
    }
    let _outer = Outer(
        SINK.with(|s| std::mem::take(&mut *s.borrow_mut())),
        DEPOSITS.with(|d| std::mem::take(&mut *d.borrow_mut())),
    );
    for (param, buf) in sink.iter_mut() {
        if buf.len() != param.elem_count() {
            candle_core::bail!(
                "backward_into: a buffer of {} for a parameter of {}",
                buf.len(),
                param.elem_count()
            );
        }
        let entry = (buf.as_mut_ptr() as usize, buf.len());
        SINK.with(|s| s.borrow_mut().insert(param.id(), entry));
    }
    let grads = loss.backward();
    let deposits = DEPOSITS.with(|d| std::mem::take(&mut *d.borrow_mut()));
    let mut grads = grads?;
    for (param, g) in deposits {
        let g = match grads.get(&param) {
            Some(prev) => (prev + &g)?,
            None => g,
        };
        grads.insert(&param, g);
    }
    Ok(grads)
}

/// The caller's buffer for `param`'s gradient, when [`backward_into`] was given one.
pub(super) fn sink_of(param: &Tensor) -> Option<*mut f32> {
    SINK.with(|s| s.borrow().get(&param.id()).map(|&(ptr, _)| ptr as *mut f32))
}

/// What a fused operation's forward keeps for its backward: filled once by the forward, taken
/// once by the backward (a second backward of the same forward is an error, not a silent
/// recomputation).
pub(super) struct SavedSlot<T>(Mutex<Option<T>>);

impl<T> SavedSlot<T> {
    /// An empty slot.
    pub(super) fn new() -> SavedSlot<T> {
        SavedSlot(Mutex::new(None))
    }

    /// Keeps `value` for the backward of the operation `op`.
    pub(super) fn put(&self, op: &str, value: T) -> Result<()> {
        *self
            .0
            .lock()
            .map_err(|_| candle_core::Error::Msg(format!("{op}: poisoned")))? = Some(value);
        Ok(())
    }

    /// Takes what the forward of `op` kept.
    pub(super) fn take(&self, op: &str) -> Result<T> {
        self.0
            .lock()
            .map_err(|_| candle_core::Error::Msg(format!("{op}: poisoned")))?
            .take()
            .ok_or_else(|| candle_core::Error::Msg(format!("{op}: backward without a saved forward")))
    }
}

/// Hands over `param`'s gradient: added into the sink's buffer, or deposited for the store.
pub(super) fn deposit(param: &Tensor, grad: Vec<f32>) -> Result<()> {
    if let Some(ptr) = sink_of(param) {
        // SAFETY: the sink's buffer has the parameter's length (checked in `backward_into`) and
        // is borrowed mutably by `backward_into` for as long as the sink holds it.
        let buf = unsafe { std::slice::from_raw_parts_mut(ptr, grad.len()) };
        buf.iter_mut().zip(&grad).for_each(|(b, g)| *b += g);
        return Ok(());
    }
    let g = Tensor::from_vec(grad, param.shape(), param.device())?;
    DEPOSITS.with(|d| d.borrow_mut().push((param.clone(), g)));
    Ok(())
}

/// Computes a weight gradient with the matrix product `product(dst, accumulate)`: straight into
/// the sink's buffer (accumulating) when there is one, into a new buffer that is deposited
/// otherwise.
pub(super) fn weight_grad(param: &Tensor, product: impl FnOnce(*mut f32, bool)) -> Result<()> {
    if let Some(ptr) = sink_of(param) {
        product(ptr, true);
        return Ok(());
    }
    let mut g = vec![0f32; param.elem_count()];
    product(g.as_mut_ptr(), false);
    let g = Tensor::from_vec(g, param.shape(), param.device())?;
    DEPOSITS.with(|d| d.borrow_mut().push((param.clone(), g)));
    Ok(())
}

/// Runs `f` on the contiguous f32 CPU data of each tensor.
pub(super) fn with_slices<R>(ts: &[&Tensor], f: impl FnOnce(&[&[f32]]) -> R) -> Result<R> {
    let guards: Vec<_> = ts.iter().map(|t| t.storage_and_layout()).collect();
    let mut slices = Vec::with_capacity(ts.len());
    for (g, l) in &guards {
        match &**g {
            Storage::Cpu(s) => slices.push(slice(s, l)?),
            _ => candle_core::bail!("fused layer: every tensor must be on the CPU"),
        }
    }
    Ok(f(&slices))
}

/// A linear map's data.
#[derive(Clone, Copy)]
pub(super) struct LinView<'a> {
    w: &'a [f32],
    b: Option<&'a [f32]>,
    /// A, B, scale, rank.
    lora: Option<(&'a [f32], &'a [f32], f32, usize)>,
    n_out: usize,
    n_in: usize,
}

/// The layer's data, from the slices of [`FusedLayer::tensors`].
struct View<'a> {
    lin: [LinView<'a>; 6],
    ln1: (&'a [f32], &'a [f32]),
    ln2: (&'a [f32], &'a [f32]),
}

impl<'a> LinView<'a> {
    /// The view of `fl` from the slices of [`FusedLinear::tensors`] starting at `s[*i]`; moves
    /// `*i` past them.
    pub(super) fn of(fl: &FusedLinear, s: &[&'a [f32]], i: &mut usize) -> Result<LinView<'a>> {
        let (n_out, n_in) = fl.weight.dims2()?;
        let w = s[*i];
        *i += 1;
        let b = fl.bias.as_ref().map(|_| {
            *i += 1;
            s[*i - 1]
        });
        let lora = match &fl.lora {
            Some((a, _, scale)) => {
                let r = a.dim(0)?;
                *i += 2;
                Some((s[*i - 2], s[*i - 1], *scale, r))
            }
            None => None,
        };
        Ok(LinView {
            w,
            b,
            lora,
            n_out,
            n_in,
        })
    }
}

fn view<'a>(layer: &FusedLayer, s: &[&'a [f32]]) -> Result<View<'a>> {
    let mut i = 0;
    let mut lin = Vec::with_capacity(6);
    for fl in layer.linears() {
        lin.push(LinView::of(fl, s, &mut i)?);
    }
    let lin: [LinView<'a>; 6] = lin
        .try_into()
        .map_err(|_| candle_core::Error::Msg("fused layer: six linear maps".into()))?;
    Ok(View {
        lin,
        ln1: (s[i], s[i + 1]),
        ln2: (s[i + 2], s[i + 3]),
    })
}

/// A pointer that parallel tasks write through, each into its own disjoint block.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
// SAFETY: the tasks that share it write disjoint elements (one (sequence, head) block each).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer `off` elements in (a method, so closures capture the whole `SendPtr`).
    pub(super) fn at(&self, off: usize) -> *mut f32 {
        self.0.wrapping_add(off)
    }
}

pub(super) fn rows(x: &[f32], rs: usize) -> Mat {
    Mat {
        ptr: x.as_ptr(),
        rs,
        cs: 1,
    }
}

pub(super) fn cols(x: &[f32], cs: usize) -> Mat {
    Mat {
        ptr: x.as_ptr(),
        rs: 1,
        cs,
    }
}

/// Where a linear map's bias goes in [`linear_forward`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Bias {
    /// Into the output rows, which the product then accumulates onto.
    Rows,
    /// Left out: the caller adds it in its next pass over the output (the GELU, the dropout and
    /// residual), saving the pass that fills the rows and the product's read of them.
    Deferred,
}

/// `x Wᵀ + b (+ scale · (x Aᵀ) Bᵀ)` for x (m, in), the `+ b` left to the caller when `bias` is
/// [`Bias::Deferred`]; also returns `x Aᵀ` for the backward.
pub(super) fn linear_forward(v: &LinView, x: &[f32], m: usize, bias: Bias) -> (Vec<f32>, Option<Vec<f32>>) {
    let (n, k) = (v.n_out, v.n_in);
    let b = v.b.filter(|_| bias == Bias::Rows);
    let mut y = match b {
        Some(b) => repeat_rows(b, m),
        // Written whole by the product below (no accumulation without a bias).
        None => overwritten(m * n),
    };
    // SAFETY: y is m×n, x is m×k, W is n×k read as Wᵀ; A is r×k, B is n×r.
    unsafe {
        matmul(
            m,
            n,
            k,
            y.as_mut_ptr(),
            n,
            rows(x, k),
            cols(v.w, k),
            b.is_some(),
            1.0,
            true,
        );
    }
    let xa = v.lora.map(|(a, bm, scale, r)| {
        let mut xa = vec![0f32; m * r];
        unsafe {
            matmul(m, r, k, xa.as_mut_ptr(), r, rows(x, k), cols(a, k), false, 1.0, true);
            matmul(m, n, r, y.as_mut_ptr(), n, rows(&xa, r), cols(bm, r), true, scale, true);
        }
        xa
    });
    (y, xa)
}

/// Which of a linear map's parameters train: weight, bias, LoRA A, LoRA B.
#[derive(Clone, Copy)]
pub(super) struct Trains([bool; 4]);

impl Trains {
    pub(super) fn of(l: &FusedLinear) -> Trains {
        let (a, b) = l
            .lora
            .as_ref()
            .map(|(a, b, _)| (a.track_op(), b.track_op()))
            .unwrap_or((false, false));
        Trains([l.weight.track_op(), l.bias.as_ref().is_some_and(|b| b.track_op()), a, b])
    }
    pub(super) fn any(&self) -> bool {
        self.0.iter().any(|&t| t)
    }
}

/// The backward of [`linear_forward`] for the output gradient `dy` (m, out): deposits the
/// gradients of the parameters that train and, when `dx` is given, writes (or, with
/// `accumulate`, adds) the input gradient into it.
#[allow(clippy::too_many_arguments)]
pub(super) fn linear_backward(
    fl: &FusedLinear,
    v: &LinView,
    trains: Trains,
    x: &[f32],
    xa: Option<&[f32]>,
    dy: &[f32],
    m: usize,
    dx: Option<&mut [f32]>,
    accumulate: bool,
) -> Result<()> {
    let (n, k) = (v.n_out, v.n_in);
    let [tw, tb, ta, tbm] = trains.0;
    if tw {
        // SAFETY: dW (n×k) = dyᵀ (n×m) · x (m×k), into a buffer of the weight's size.
        weight_grad(&fl.weight, |dw, acc| unsafe {
            matmul(n, k, m, dw, k, cols(dy, n), rows(x, k), acc, 1.0, true)
        })?;
    }
    if let (true, Some(bias)) = (tb, &fl.bias) {
        deposit(bias, column_sum(dy, n))?;
    }
    let dx_ptr = dx.map(|d| d.as_mut_ptr());
    if let Some(p) = dx_ptr {
        // SAFETY: dx (m×k) = dy (m×n) · W (n×k).
        unsafe { matmul(m, k, n, p, k, rows(dy, n), rows(v.w, k), accumulate, 1.0, true) };
    }
    if let (Some((a, bm, scale, r)), Some((ta_t, tb_t, _))) = (v.lora, fl.lora.as_ref()) {
        let xa = xa.ok_or_else(|| candle_core::Error::Msg("fused layer: LoRA input not saved".into()))?;
        if tbm {
            // SAFETY: dB (n×r) = scale · dyᵀ (n×m) · xa (m×r), into a buffer of B's size.
            weight_grad(tb_t, |db, acc| unsafe {
                matmul(n, r, m, db, r, cols(dy, n), rows(xa, r), acc, scale, true)
            })?;
        }
        if ta || dx_ptr.is_some() {
            let mut t = vec![0f32; m * r];
            // SAFETY: t (m×r) = dy (m×n) · B (n×r).
            unsafe { matmul(m, r, n, t.as_mut_ptr(), r, rows(dy, n), rows(bm, r), false, 1.0, true) };
            if ta {
                // SAFETY: dA (r×k) = scale · tᵀ (r×m) · x (m×k), into a buffer of A's size.
                weight_grad(ta_t, |da, acc| unsafe {
                    matmul(r, k, m, da, k, cols(&t, r), rows(x, k), acc, scale, true)
                })?;
            }
            if let Some(p) = dx_ptr {
                // SAFETY: dx (m×k) += scale · t (m×r) · A (r×k).
                unsafe { matmul(m, k, r, p, k, rows(&t, r), rows(a, k), true, scale, true) };
            }
        }
    }
    Ok(())
}

/// A dropout of probability `p` whose stream starts at `(seed, first counter)`.
#[derive(Clone, Copy)]
pub(super) struct Dropout {
    pub(super) seed: u64,
    pub(super) start: u64,
    pub(super) p: f64,
}

impl Dropout {
    /// A dropout of probability `p` over `n` elements, its stream reserved now (in the composed
    /// layer's order); none when `p` is 0, an error (naming `op`) when it is 1 or more.
    pub(super) fn reserve(n: usize, p: f64, op: &str) -> Result<Option<Dropout>> {
        if p >= 1.0 {
            candle_core::bail!("{op}: dropout {p} must be below 1");
        }
        if p <= 0.0 {
            return Ok(None);
        }
        let (seed, start) = reserve(n);
        Ok(Some(Dropout { seed, start, p }))
    }

    /// The multipliers of elements `from..from + out.len()`.
    pub(super) fn fill(&self, out: &mut [f32], from: usize) {
        dropout_multipliers(out, self.seed, self.start + from as u64, self.p);
    }
}

const CHUNK: usize = 1 << 14;

/// Where the output positions' activations (batch · positions, hidden) sit in the
/// (batch, length, hidden) stream of a dropout mask: in chunks, each with the stream offset of
/// its first element.
#[derive(Clone, Copy)]
struct RowMap {
    /// Sequence length, output positions per sequence, hidden size.
    l: usize,
    lq: usize,
    h: usize,
}

impl RowMap {
    /// Elements per chunk: fixed blocks when every position is computed, one sequence's
    /// positions otherwise.
    fn chunk(&self) -> usize {
        if self.lq == self.l {
            CHUNK
        } else {
            (self.lq * self.h).max(1)
        }
    }

    /// The stream offset of chunk `c`'s first element.
    fn from(&self, c: usize) -> usize {
        if self.lq == self.l {
            c * CHUNK
        } else {
            c * self.l * self.h
        }
    }
}

/// `y = (a + bias) · mask + r` (a product's deferred bias, dropout, then the residual), or
/// `(a + bias) + r` without dropout; without a bias, `a · mask + r` or `a + r`.
fn dropout_add(a: &[f32], bias: Option<&[f32]>, r: &[f32], drop: Option<Dropout>, map: RowMap) -> Vec<f32> {
    // Every chunk is written whole (the multipliers, then the sum; or the sum).
    let mut y = overwritten(a.len());
    let (chunk, h) = (map.chunk(), map.h.max(1));
    y.par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk).zip(r.par_chunks(chunk)))
        .enumerate()
        .for_each(|(c, (yo, (ai, ri)))| {
            if let Some(dr) = drop {
                dr.fill(yo, map.from(c));
            }
            // The chunk by row segments, each with its columns of the bias.
            let (mut j, mut col) = (0, (c * chunk) % h);
            while j < yo.len() {
                let w = (h - col).min(yo.len() - j);
                let (o, a, r) = (&mut yo[j..j + w], &ai[j..j + w], &ri[j..j + w]);
                match (bias.map(|b| &b[col..col + w]), drop) {
                    (Some(b), Some(_)) => {
                        for (((o, &a), &r), &b) in o.iter_mut().zip(a).zip(r).zip(b) {
                            *o = (a + b) * *o + r;
                        }
                    }
                    (Some(b), None) => {
                        for (((o, &a), &r), &b) in o.iter_mut().zip(a).zip(r).zip(b) {
                            *o = (a + b) + r;
                        }
                    }
                    (None, Some(_)) => {
                        for ((o, &a), &r) in o.iter_mut().zip(a).zip(r) {
                            *o = a * *o + r;
                        }
                    }
                    (None, None) => {
                        for ((o, &a), &r) in o.iter_mut().zip(a).zip(r) {
                            *o = a + r;
                        }
                    }
                }
                j += w;
                col = 0;
            }
        });
    y
}

/// The gradient through a dropout: `g · mask` (a copy without dropout).
fn dropout_grad(g: &[f32], drop: Option<Dropout>, map: RowMap) -> Vec<f32> {
    let Some(dr) = drop else {
        return g.to_vec();
    };
    // Every chunk is written whole by the fill.
    let mut y = overwritten(g.len());
    let chunk = map.chunk();
    y.par_chunks_mut(chunk)
        .zip(g.par_chunks(chunk))
        .enumerate()
        .for_each(|(c, (yo, gi))| {
            dr.fill(yo, map.from(c));
            yo.iter_mut().zip(gi).for_each(|(o, &g)| *o *= g);
        });
    y
}

/// The gradient of the output positions' rows (batch · positions, hidden) placed in the
/// input's (batch · length, hidden), zero elsewhere (itself when every position is an output).
fn scatter_rows(g: Vec<f32>, map: RowMap, b: usize) -> Vec<f32> {
    let RowMap { l, lq, h } = map;
    if lq == l {
        return g;
    }
    let mut dx = vec![0f32; b * l * h];
    for bi in 0..b {
        dx[bi * l * h..bi * l * h + lq * h].copy_from_slice(&g[bi * lq * h..(bi + 1) * lq * h]);
    }
    dx
}

/// The first position's row of every sequence of `x` (batch · length, hidden).
fn first_rows(x: &[f32], b: usize, l: usize, h: usize) -> Vec<f32> {
    (0..b).flat_map(|bi| &x[bi * l * h..bi * l * h + h]).copied().collect()
}

/// Activations kept for the backward.
struct Saved {
    /// The input rows of the output positions when they are not all of them.
    xq: Option<Vec<f32>>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// `x Aᵀ` of each linear map with LoRA, in [`FusedLayer::linears`] order.
    xa: [Option<Vec<f32>>; 6],
    /// Attention probabilities before dropout, (batch, heads, positions, length).
    probs: Vec<f32>,
    ctx: Vec<f32>,
    /// Residual sum before the first LayerNorm, and its output.
    s1: Vec<f32>,
    h1: Vec<f32>,
    /// Feed-forward pre-activation and activation.
    u: Vec<f32>,
    g: Vec<f32>,
    /// Residual sum before the second LayerNorm.
    s2: Vec<f32>,
}

struct LayerOp {
    layer: FusedLayer,
    /// Dropouts of the attention probabilities, the attention output and the feed-forward
    /// output.
    masks: [Option<Dropout>; 3],
    rows: OutputRows,
    save: bool,
    saved: SavedSlot<Saved>,
}

impl LayerOp {
    fn run(&self, x: &[f32], mask_bias: &[f32], (b, l, h): (usize, usize, usize)) -> Result<Vec<f32>> {
        let layer = &self.layer;
        let tensors = layer.tensors();
        with_slices(&tensors, |s| -> Result<Vec<f32>> {
            let v = view(layer, s)?;
            let m = b * l;
            // Output positions: every one, or the first of each sequence (queries, attention
            // output, LayerNorms and feed-forward only for those; keys and values for all).
            let lq = self.rows.per_sequence(l);
            let mq = b * lq;
            let map = RowMap { l, lq, h };
            let xq: Cow<[f32]> = if lq == l {
                Cow::Borrowed(x)
            } else {
                Cow::Owned(first_rows(x, b, l, h))
            };
            let nh = layer.heads;
            let d = h / nh;
            let scale = (1.0 / (d as f64).sqrt()) as f32;
            let (q, xa_q) = linear_forward(&v.lin[0], &xq, mq, Bias::Rows);
            let (k, xa_k) = linear_forward(&v.lin[1], x, m, Bias::Rows);
            let (vv, xa_v) = linear_forward(&v.lin[2], x, m, Bias::Rows);
            // Attention probabilities of every (sequence, head), kept for the backward when
            // saving; otherwise each task reuses one block of scratch.
            // Every probability is written by the softmax, every block of ctx by its product.
            let mut probs = if self.save {
                overwritten(b * nh * lq * l)
            } else {
                Vec::new()
            };
            let mut ctx = overwritten(mq * h);
            let ctx_ptr = SendPtr(ctx.as_mut_ptr());
            let pmask = self.masks[0];
            let block = (lq * l).max(1);
            let attend = |bh: usize, scores: &mut Vec<f32>, pr: &mut [f32]| {
                let (bi, hi) = (bh / nh, bh % nh);
                let off = bi * l * h + hi * d;
                let qoff = bi * lq * h + hi * d;
                scores.resize(lq * l, 0.0);
                // SAFETY: q blocks are lq×d and k blocks l×d, with row stride h; scores is lq×l.
                unsafe {
                    matmul(
                        lq,
                        l,
                        d,
                        scores.as_mut_ptr(),
                        l,
                        rows(&q[qoff..], h),
                        cols(&k[off..], h),
                        false,
                        1.0,
                        false,
                    )
                };
                let mb = &mask_bias[bi * l..(bi + 1) * l];
                for (po, si) in pr.chunks_mut(l).zip(scores.chunks(l)) {
                    softmax_row_into(po, si, mb, scale);
                }
                let mut dropped: Vec<f32>;
                let pd: &[f32] = match pmask {
                    Some(dr) => {
                        // The first lq rows of the (l×l) block of (sequence, head) in the stream.
                        // Written whole by the fill.
                        dropped = overwritten(lq * l);
                        dr.fill(&mut dropped, bh * l * l);
                        dropped.iter_mut().zip(pr.iter()).for_each(|(o, &p)| *o *= p);
                        &dropped
                    }
                    None => pr,
                };
                // SAFETY: this task alone writes the ctx block of (bi, hi): lq×d, row stride h.
                unsafe {
                    matmul(
                        lq,
                        d,
                        l,
                        ctx_ptr.at(qoff),
                        h,
                        rows(pd, l),
                        rows(&vv[off..], h),
                        false,
                        1.0,
                        false,
                    )
                };
            };
            if self.save {
                probs
                    .par_chunks_mut(block)
                    .enumerate()
                    .for_each_init(Vec::new, |scores, (bh, pr)| attend(bh, scores, pr));
            } else {
                (0..b * nh).into_par_iter().for_each_init(
                    || (Vec::new(), vec![0f32; block]),
                    |(scores, pr), bh| attend(bh, scores, &mut pr[..lq * l]),
                );
            }
            // The output projection's, the FFN's biases go in with the next pass over their
            // outputs (dropout and residual, GELU).
            let (ao, xa_o) = linear_forward(&v.lin[3], &ctx, mq, Bias::Deferred);
            let s1 = dropout_add(&ao, v.lin[3].b, &xq, self.masks[1], map);
            drop(ao);
            // h1, g and y are written whole by the LayerNorms and the GELU.
            let mut h1 = overwritten(mq * h);
            layer_norm_rows(&s1, v.ln1.0, v.ln1.1, layer.eps, &mut h1);
            let (mut u, xa_i) = linear_forward(&v.lin[4], &h1, mq, Bias::Deferred);
            let mut g = overwritten(u.len());
            // u gets its bias in place: the backward reads the pre-activation.
            gelu_bias_rows(&mut u, v.lin[4].b, &mut g);
            let (f, xa_f) = linear_forward(&v.lin[5], &g, mq, Bias::Deferred);
            let s2 = dropout_add(&f, v.lin[5].b, &h1, self.masks[2], map);
            drop(f);
            let mut y = overwritten(mq * h);
            layer_norm_rows(&s2, v.ln2.0, v.ln2.1, layer.eps, &mut y);
            if self.save {
                let saved = Saved {
                    xq: match xq {
                        Cow::Owned(v) => Some(v),
                        Cow::Borrowed(_) => None,
                    },
                    q,
                    k,
                    v: vv,
                    xa: [xa_q, xa_k, xa_v, xa_o, xa_i, xa_f],
                    probs,
                    ctx,
                    s1,
                    h1,
                    u,
                    g,
                    s2,
                };
                self.saved.put("fused layer", saved)?;
            }
            Ok(y)
        })?
    }

    fn backward(&self, x: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let saved = self.saved.take("fused layer")?;
        let layer = &self.layer;
        let (b, l, h) = x.dims3()?;
        let (m, nh) = (b * l, layer.heads);
        let lq = self.rows.per_sequence(l);
        let mq = b * lq;
        let map = RowMap { l, lq, h };
        let d = h / nh;
        let scale = (1.0 / (d as f64).sqrt()) as f32;
        let need_x = x.track_op();
        let lins = layer.linears();
        let trains: Vec<Trains> = lins.iter().map(|l| Trains::of(l)).collect();
        let ln1_t = layer.attn_norm.0.track_op() || layer.attn_norm.1.track_op();
        let ln2_t = layer.ffn_norm.0.track_op() || layer.ffn_norm.1.track_op();
        let qkv_t = trains[..3].iter().any(|t| t.any());
        let attn_t = qkv_t || trains[3].any();
        let below_ffn = ln1_t || attn_t || need_x;
        let mut tensors = layer.tensors();
        tensors.push(x);
        tensors.push(dy);
        let dx = with_slices(&tensors, |s| -> Result<Option<Vec<f32>>> {
            let n = s.len();
            let (xs, dys) = (s[n - 2], s[n - 1]);
            let v = view(layer, &s[..n - 2])?;
            let xq: &[f32] = saved.xq.as_deref().unwrap_or(xs);
            // Second LayerNorm and the feed-forward, on the output positions. The gradient
            // buffers below are written whole before they are read: the LayerNorm backward
            // writes every row, products without accumulation every element, the attention
            // tasks every (sequence, head) block.
            let mut ds2 = overwritten(mq * h);
            let (dw, db) = layer_norm_rows_backward(&saved.s2, v.ln2.0, dys, layer.eps, &mut ds2, ln2_t);
            if layer.ffn_norm.0.track_op() {
                deposit(&layer.ffn_norm.0, dw)?;
            }
            if layer.ffn_norm.1.track_op() {
                deposit(&layer.ffn_norm.1, db)?;
            }
            let df = dropout_grad(&ds2, self.masks[2], map);
            let need_dg = trains[4].any() || below_ffn;
            let mut dg = if need_dg {
                overwritten(saved.g.len())
            } else {
                Vec::new()
            };
            linear_backward(
                lins[5],
                &v.lin[5],
                trains[5],
                &saved.g,
                saved.xa[5].as_deref(),
                &df,
                mq,
                need_dg.then_some(dg.as_mut_slice()),
                false,
            )?;
            drop(df);
            if !need_dg {
                return Ok(None);
            }
            gelu_rows_backward_from(&saved.u, &saved.g, &mut dg);
            let du = dg;
            let mut dh1 = ds2;
            linear_backward(
                lins[4],
                &v.lin[4],
                trains[4],
                &saved.h1,
                saved.xa[4].as_deref(),
                &du,
                mq,
                below_ffn.then_some(dh1.as_mut_slice()),
                true,
            )?;
            drop(du);
            if !below_ffn {
                return Ok(None);
            }
            // First LayerNorm and the attention output.
            let mut ds1 = overwritten(mq * h);
            let (dw, db) = layer_norm_rows_backward(&saved.s1, v.ln1.0, &dh1, layer.eps, &mut ds1, ln1_t);
            drop(dh1);
            if layer.attn_norm.0.track_op() {
                deposit(&layer.attn_norm.0, dw)?;
            }
            if layer.attn_norm.1.track_op() {
                deposit(&layer.attn_norm.1, db)?;
            }
            if !(attn_t || need_x) {
                return Ok(None);
            }
            let dao = dropout_grad(&ds1, self.masks[1], map);
            // The input gradient of the output positions' rows (the residual's first).
            let mut dxq = if need_x { Some(ds1) } else { None };
            let need_ctx = qkv_t || need_x;
            let mut dctx = if need_ctx { overwritten(mq * h) } else { Vec::new() };
            linear_backward(
                lins[3],
                &v.lin[3],
                trains[3],
                &saved.ctx,
                saved.xa[3].as_deref(),
                &dao,
                mq,
                need_ctx.then_some(dctx.as_mut_slice()),
                false,
            )?;
            drop(dao);
            if !need_ctx {
                return Ok(dxq.map(|g| scatter_rows(g, map, b)));
            }
            // Attention, per (sequence, head).
            let (mut dq, mut dk, mut dv) = (overwritten(mq * h), overwritten(m * h), overwritten(m * h));
            let (pq, pk, pv) = (
                SendPtr(dq.as_mut_ptr()),
                SendPtr(dk.as_mut_ptr()),
                SendPtr(dv.as_mut_ptr()),
            );
            let pmask = self.masks[0];
            let (q, k, vv, probs) = (&saved.q, &saved.k, &saved.v, &saved.probs);
            (0..b * nh).into_par_iter().for_each(|bh| {
                let (bi, hi) = (bh / nh, bh % nh);
                let off = bi * l * h + hi * d;
                let qoff = bi * lq * h + hi * d;
                let pr = &probs[bh * lq * l..(bh + 1) * lq * l];
                // The dropout multipliers, drawn again, and the dropped probabilities.
                let mut mult = Vec::new();
                let dropped: Vec<f32>;
                let pd: &[f32] = match pmask {
                    Some(dr) => {
                        mult = overwritten(lq * l);
                        dr.fill(&mut mult, bh * l * l);
                        dropped = mult.iter().zip(pr.iter()).map(|(m, p)| m * p).collect();
                        &dropped
                    }
                    None => pr,
                };
                let mut dp = overwritten(lq * l);
                // SAFETY: blocks of dctx and q are lq×d, of k and v l×d, with row stride h; dp
                // is lq×l; this task alone writes the (bi, hi) blocks of dq, dk, dv.
                unsafe {
                    matmul(
                        lq,
                        l,
                        d,
                        dp.as_mut_ptr(),
                        l,
                        rows(&dctx[qoff..], h),
                        cols(&vv[off..], h),
                        false,
                        1.0,
                        false,
                    );
                    matmul(
                        l,
                        d,
                        lq,
                        pv.at(off),
                        h,
                        cols(pd, l),
                        rows(&dctx[qoff..], h),
                        false,
                        1.0,
                        false,
                    );
                }
                if pmask.is_some() {
                    dp.iter_mut().zip(&mult).for_each(|(g, m)| *g *= m);
                }
                for (gr, yr) in dp.chunks_mut(l).zip(pr.chunks(l)) {
                    let dot: f32 = yr.iter().zip(gr.iter()).map(|(a, b)| a * b).sum();
                    for j in 0..l {
                        gr[j] = scale * yr[j] * (gr[j] - dot);
                    }
                }
                unsafe {
                    matmul(
                        lq,
                        d,
                        l,
                        pq.at(qoff),
                        h,
                        rows(&dp, l),
                        rows(&k[off..], h),
                        false,
                        1.0,
                        false,
                    );
                    matmul(
                        l,
                        d,
                        lq,
                        pk.at(off),
                        h,
                        cols(&dp, l),
                        rows(&q[qoff..], h),
                        false,
                        1.0,
                        false,
                    );
                }
            });
            linear_backward(
                lins[0],
                &v.lin[0],
                trains[0],
                xq,
                saved.xa[0].as_deref(),
                &dq,
                mq,
                dxq.as_deref_mut(),
                true,
            )?;
            let mut dx = dxq.map(|g| scatter_rows(g, map, b));
            for (i, grad) in [(1usize, &dk), (2, &dv)] {
                linear_backward(
                    lins[i],
                    &v.lin[i],
                    trains[i],
                    xs,
                    saved.xa[i].as_deref(),
                    grad,
                    m,
                    dx.as_deref_mut(),
                    true,
                )?;
            }
            Ok(dx)
        })??;
        dx.map(|dx| Tensor::from_vec(dx, x.shape(), x.device())).transpose()
    }
}

impl CustomOp3 for LayerOp {
    fn name(&self) -> &'static str {
        "retune-encoder-layer"
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
        let (x, mask) = (slice(s1, l1)?, slice(s2, l2)?);
        let (b, l, h) = l1.shape().dims3()?;
        let y = self.run(x, mask, (b, l, h))?;
        Ok((CpuStorage::F32(y), Shape::from((b, self.rows.per_sequence(l), h))))
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
