//! Building blocks with a backward pass: linear, embedding, LayerNorm, activations, dropout.
//!
//! candle-nn's fused `layer_norm` and `softmax_last_dim` have no backward: gradients stop there.
//! In training mode these blocks use composed operations (each with a backward); in inference
//! mode the fused kernels, which are faster and give the same values to float precision.

use candle_core::{DType, Device, Result as CResult, Tensor, Var};
use candle_nn::VarMap;
use rayon::prelude::*;
use std::cell::Cell;
use std::collections::HashSet;
use std::path::PathBuf;

use crate::error::{ModelError, Result};
use crate::weights::Checkpoint;

/// Whether dropout is active and gradients must flow through every operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Inference: no dropout, fused kernels.
    #[default]
    Eval,
    /// Training: dropout on, composed operations with backward passes.
    Train,
}

/// The model's parameters as trainable variables, named as Hugging Face names them.
pub struct Params {
    /// Every parameter, by name.
    pub varmap: VarMap,
    /// The checkpoint the parameters came from (for error messages).
    pub source: PathBuf,
    /// Where the parameters live.
    pub device: Device,
    /// Names of parameters that are not trained: [`Params::get`] hands them out detached, so no
    /// gradient is computed for them (or through layers that only depend on them).
    pub frozen: HashSet<String>,
    /// LoRA scaling `alpha / r` applied to `{name}.lora_B @ {name}.lora_A` updates.
    pub lora_scaling: f64,
    /// When set, [`Params::get`] creates a missing parameter instead of failing (a model built
    /// from its config alone): LayerNorm weights 1, biases 0, others N(0, this std).
    pub init_missing: Option<f64>,
    /// Names handed out by [`Params::get`] since [`Params::track_use`] (None: not tracking).
    used: std::sync::Mutex<Option<HashSet<String>>>,
}

impl Params {
    /// Turns a checkpoint's tensors into variables.
    pub fn from_checkpoint(ckpt: Checkpoint, device: &Device) -> Result<Params> {
        let varmap = VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?;
            for (name, t) in ckpt.tensors {
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        Ok(Params {
            varmap,
            source: ckpt.source,
            device: device.clone(),
            frozen: HashSet::new(),
            lora_scaling: 1.0,
            init_missing: None,
            used: Default::default(),
        })
    }

    /// Empty parameters (for a model built from scratch with [`Params::get_or_init`]).
    pub fn empty(device: &Device) -> Params {
        Params {
            varmap: VarMap::new(),
            source: PathBuf::from("<new>"),
            device: device.clone(),
            frozen: HashSet::new(),
            lora_scaling: 1.0,
            init_missing: None,
            used: Default::default(),
        }
    }

    /// Starts recording which parameters a model build asks for.
    pub fn track_use(&self) {
        if let Ok(mut u) = self.used.lock() {
            *u = Some(HashSet::new());
        }
    }

    /// Removes every parameter not asked for since [`Params::track_use`] and stops recording.
    pub fn retain_used(&self) {
        let used = self.used.lock().ok().and_then(|mut u| u.take());
        if let Some(used) = used {
            for name in self.names() {
                if !used.contains(&name) {
                    self.remove(&name);
                }
            }
        }
    }

    /// Re-initializes every parameter as transformers' `_init_weights` does: LayerNorm weight 1,
    /// biases 0, everything else N(0, std).
    pub fn reinitialize(&self, std: f64) -> Result<()> {
        for name in self.names() {
            if let Some(var) = self.var(&name) {
                var.set(&initial_value(&name, var.dims(), std, &self.device)?)?;
            }
        }
        Ok(())
    }

    /// Every parameter's current value (contiguous), by name.
    pub fn tensors(&self) -> Result<std::collections::HashMap<String, Tensor>> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?;
        let mut out = std::collections::HashMap::with_capacity(data.len());
        for (name, var) in data.iter() {
            out.insert(name.clone(), var.as_tensor().contiguous()?);
        }
        Ok(out)
    }

    /// Every parameter name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .varmap
            .data()
            .lock()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The variable `name`, if present.
    pub fn var(&self, name: &str) -> Option<Var> {
        self.varmap.data().lock().ok().and_then(|d| d.get(name).cloned())
    }

    /// Adds (or replaces) the variable `name` holding `t`.
    pub fn insert(&self, name: &str, t: &Tensor) -> Result<()> {
        let var = Var::from_tensor(t)?;
        self.varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?
            .insert(name.to_string(), var);
        Ok(())
    }

    /// Removes the variable `name` (no-op when absent).
    pub fn remove(&self, name: &str) {
        if let Ok(mut d) = self.varmap.data().lock() {
            d.remove(name);
        }
    }

    /// The parameter `name`, which must exist with `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        if let Some(std) = self.init_missing {
            if !self.contains(name) {
                self.insert(name, &initial_value(name, shape, std, &self.device)?)?;
            }
        }
        if let Ok(mut u) = self.used.lock() {
            if let Some(u) = u.as_mut() {
                u.insert(name.to_string());
            }
        }
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?;
        let v = data.get(name).ok_or_else(|| ModelError::MissingTensor {
            path: self.source.clone(),
            name: name.into(),
        })?;
        if v.dims() != shape {
            return Err(ModelError::Shape {
                path: self.source.clone(),
                name: name.into(),
                found: v.dims().to_vec(),
                expected: shape.to_vec(),
            });
        }
        if self.frozen.contains(name) {
            return Ok(v.as_tensor().detach());
        }
        Ok(v.as_tensor().clone())
    }

    /// Whether the parameter `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.varmap.data().lock().map(|d| d.contains_key(name)).unwrap_or(false)
    }

    /// The parameter `name` if present with `shape`; otherwise a new one drawn from
    /// N(0, std) (weights) or zeros (`std == 0`, biases), as Hugging Face initializes new heads.
    pub fn get_or_init(&self, name: &str, shape: &[usize], std: f64) -> Result<Tensor> {
        if self.contains(name) {
            return self.get(name, shape);
        }
        let t = if std == 0.0 {
            Tensor::zeros(shape, DType::F32, &self.device)?
        } else {
            seeded_normal(shape, std, &self.device)?
        };
        self.insert(name, &t)?;
        self.get(name, shape)
    }
}

/// A new parameter's value as transformers' `_init_weights` sets it: biases 0, LayerNorm
/// weights 1 (every family's norms are named `LayerNorm` or `*layer_norm`), others N(0, std).
fn initial_value(name: &str, shape: &[usize], std: f64, device: &Device) -> CResult<Tensor> {
    let lower = name.to_ascii_lowercase();
    if name.ends_with("bias") {
        Tensor::zeros(shape, DType::F32, device)
    } else if lower.contains("layernorm") || lower.contains("layer_norm") {
        Tensor::ones(shape, DType::F32, device)
    } else {
        seeded_normal(shape, std, device)
    }
}

thread_local! {
    /// (seed, counter) of this thread's random stream for dropout masks and initialization.
    static RNG: Cell<(u64, u64)> = const { Cell::new((0x5eed, 0)) };
}

/// Seeds this thread's random stream (dropout masks, new parameters), for reproducible training.
pub fn set_seed(seed: u64) {
    RNG.with(|r| r.set((seed, 0)));
}

/// The random stream's state `(seed, counter)`, saved in checkpoints so a resumed run draws the
/// same numbers as an uninterrupted one.
pub fn rng_state() -> (u64, u64) {
    RNG.with(|r| r.get())
}

/// Restores a state returned by [`rng_state`].
pub fn set_rng_state(state: (u64, u64)) {
    RNG.with(|r| r.set(state));
}

/// Reserves `n` numbers of the stream; returns `(seed, first counter)`.
pub(crate) fn reserve(n: usize) -> (u64, u64) {
    RNG.with(|r| {
        let (seed, c) = r.get();
        r.set((seed, c.wrapping_add(n as u64)));
        (seed, c)
    })
}

/// SplitMix64 of `seed` and position `i`: a counter-based generator, so masks are drawn in
/// parallel and stay identical whatever the thread count.
#[inline]
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) with 24 bits.
#[inline]
pub(crate) fn unit(seed: u64, i: u64) -> f32 {
    (mix(seed, i) >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// A tensor of N(0, std) numbers from the seeded stream (Box–Muller).
pub fn seeded_normal(shape: &[usize], std: f64, device: &Device) -> CResult<Tensor> {
    let n: usize = shape.iter().product();
    let (seed, c) = reserve(2 * n);
    let v: Vec<f32> = (0..n as u64)
        .into_par_iter()
        .map(|i| {
            let u1 = (mix(seed, c + 2 * i) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let u2 = (mix(seed, c + 2 * i + 1) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let r = (-2.0 * (1.0 - u1).ln()).sqrt();
            (r * (std::f64::consts::TAU * u2).cos() * std) as f32
        })
        .collect();
    Tensor::from_vec(v, shape, device)
}

/// A tensor of U(-bound, bound) numbers from the seeded stream.
pub fn seeded_uniform(shape: &[usize], bound: f64, device: &Device) -> CResult<Tensor> {
    let n: usize = shape.iter().product();
    let (seed, c) = reserve(n);
    let v: Vec<f32> = (0..n as u64)
        .into_par_iter()
        .map(|i| ((unit(seed, c + i) as f64 * 2.0 - 1.0) * bound) as f32)
        .collect();
    Tensor::from_vec(v, shape, device)
}

/// `y = x W^T + b` with Hugging Face's `weight` (out, in) and `bias` (out).
#[derive(Clone, Debug)]
pub struct Linear {
    /// Weight, shape (out, in).
    pub weight: Tensor,
    /// Bias, shape (out).
    pub bias: Option<Tensor>,
    /// LoRA update `scale * B A`: A (r, in), B (out, r), scale.
    pub lora: Option<(Tensor, Tensor, f64)>,
}

impl Linear {
    /// Loads `{prefix}.weight` and `{prefix}.bias`.
    /// When `{prefix}.lora_A.weight` and `{prefix}.lora_B.weight` exist (added by a LoRA
    /// strategy), the layer adds their low-rank update.
    pub fn load(p: &Params, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
        Ok(Linear {
            weight: p.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?,
            bias: Some(p.get(&format!("{prefix}.bias"), &[out_dim])?),
            lora: Self::lora_of(p, prefix, in_dim, out_dim)?,
        })
    }

    /// Loads `{prefix}.weight` of a projection without bias (and its LoRA adapters, if any).
    pub fn load_no_bias(p: &Params, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
        Ok(Linear {
            weight: p.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?,
            bias: None,
            lora: Self::lora_of(p, prefix, in_dim, out_dim)?,
        })
    }

    fn lora_of(p: &Params, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Option<(Tensor, Tensor, f64)>> {
        let a_name = format!("{prefix}.lora_A.weight");
        let Some(a) = p.var(&a_name) else {
            return Ok(None);
        };
        let r = a.dim(0)?;
        let a = p.get(&a_name, &[r, in_dim])?;
        let b = p.get(&format!("{prefix}.lora_B.weight"), &[out_dim, r])?;
        Ok(Some((a, b, p.lora_scaling)))
    }

    /// Loads or, when absent, creates `{prefix}.weight` ~ N(0, std) and a zero bias.
    pub fn load_or_init(p: &Params, prefix: &str, in_dim: usize, out_dim: usize, std: f64) -> Result<Linear> {
        Ok(Linear {
            weight: p.get_or_init(&format!("{prefix}.weight"), &[out_dim, in_dim], std)?,
            bias: Some(p.get_or_init(&format!("{prefix}.bias"), &[out_dim], 0.0)?),
            lora: Self::lora_of(p, prefix, in_dim, out_dim)?,
        })
    }

    /// Applies the layer to `x` of shape (..., in): the fused linear op (`ops::linear`), plus the
    /// LoRA update `scale · (x Aᵀ) Bᵀ` when adapters are attached.
    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let mut dims = x.dims().to_vec();
        let inner = *dims.last().unwrap_or(&0);
        let rows = x.elem_count() / inner.max(1);
        let x2 = x.reshape((rows, inner))?;
        let mut y = match &self.bias {
            Some(b) => crate::ops::linear(&x2, &self.weight, b)?,
            None => crate::ops::linear_no_bias(&x2, &self.weight)?,
        };
        if let Some((a, b, scale)) = &self.lora {
            y = (y + (x2.matmul(&a.t()?)?.matmul(&b.t()?)? * *scale)?)?;
        }
        if let Some(last) = dims.last_mut() {
            *last = self.weight.dim(0)?;
        }
        y.reshape(dims)
    }
}

/// Layer normalization over the last dimension.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// Scale.
    pub weight: Tensor,
    /// Shift.
    pub bias: Tensor,
    /// Epsilon added to the variance.
    pub eps: f64,
}

impl LayerNorm {
    /// Loads `{prefix}.weight` and `{prefix}.bias`.
    pub fn load(p: &Params, prefix: &str, dim: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: p.get(&format!("{prefix}.weight"), &[dim])?,
            bias: p.get(&format!("{prefix}.bias"), &[dim])?,
            eps,
        })
    }

    /// Normalizes `x`; composed operations in training mode (so gradients flow), the fused
    /// kernel otherwise.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> CResult<Tensor> {
        if mode == Mode::Eval && x.is_contiguous() {
            return candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps as f32);
        }
        crate::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// Softmax over the last dimension (fused in inference, composed in training).
pub fn softmax_last(x: &Tensor, mode: Mode) -> CResult<Tensor> {
    match mode {
        Mode::Eval => candle_nn::ops::softmax_last_dim(x),
        Mode::Train => crate::ops::softmax_last(x),
    }
}

/// Dropout with probability `p` in training mode; the identity otherwise.
pub fn dropout(x: &Tensor, p: f64, mode: Mode) -> CResult<Tensor> {
    if mode == Mode::Train && p > 0.0 {
        if p >= 1.0 {
            return x.zeros_like();
        }
        let n = x.elem_count();
        let (seed, c) = reserve(n);
        let mut mask = vec![0f32; n];
        mask.par_chunks_mut(1 << 14).enumerate().for_each(|(k, chunk)| {
            crate::ops::dropout_multipliers(chunk, seed, c + (k << 14) as u64, p);
        });
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        x.mul(&mask)
    } else {
        Ok(x.clone())
    }
}

/// The activations Hugging Face names in `hidden_act`.
pub fn activation(name: &str, x: &Tensor) -> CResult<Tensor> {
    match name {
        "gelu" => crate::ops::gelu_erf(x),
        "gelu_new" | "gelu_pytorch_tanh" => x.gelu(),
        "relu" => x.relu(),
        "swish" | "silu" => x.silu(),
        other => candle_core::bail!("unsupported activation {other}"),
    }
}

/// A lookup table.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// Table, shape (rows, dim).
    pub weight: Tensor,
}

impl Embedding {
    /// Loads `{prefix}.weight` of shape (rows, dim).
    pub fn load(p: &Params, prefix: &str, rows: usize, dim: usize) -> Result<Embedding> {
        Ok(Embedding {
            weight: p.get(&format!("{prefix}.weight"), &[rows, dim])?,
        })
    }

    /// Rows for `ids` (any shape of u32).
    pub fn forward(&self, ids: &Tensor) -> CResult<Tensor> {
        crate::ops::embedding(&self.weight, ids)
    }
}
