//! Building blocks with a backward pass: linear, embedding, LayerNorm, activations, dropout.
//!
//! candle-nn's fused `layer_norm` and `softmax_last_dim` have no backward: gradients stop there.
//! In training mode these blocks use composed operations (each with a backward); in inference
//! mode the fused kernels, which are faster and give the same values to float precision.

use candle_core::{DType, Device, Module, Result as CResult, Tensor, Var, D};
use candle_nn::VarMap;
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
        })
    }

    /// The parameter `name`, which must exist with `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
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
            Tensor::randn(0f32, std as f32, shape, &self.device)?
        };
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        self.varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?
            .insert(name.to_string(), var);
        Ok(out)
    }
}

/// `y = x W^T + b` with Hugging Face's `weight` (out, in) and `bias` (out).
#[derive(Clone, Debug)]
pub struct Linear {
    /// Weight, shape (out, in).
    pub weight: Tensor,
    /// Bias, shape (out).
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Loads `{prefix}.weight` and `{prefix}.bias`.
    pub fn load(p: &Params, prefix: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
        Ok(Linear {
            weight: p.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?,
            bias: Some(p.get(&format!("{prefix}.bias"), &[out_dim])?),
        })
    }

    /// Loads or, when absent, creates `{prefix}.weight` ~ N(0, std) and a zero bias.
    pub fn load_or_init(p: &Params, prefix: &str, in_dim: usize, out_dim: usize, std: f64) -> Result<Linear> {
        Ok(Linear {
            weight: p.get_or_init(&format!("{prefix}.weight"), &[out_dim, in_dim], std)?,
            bias: Some(p.get_or_init(&format!("{prefix}.bias"), &[out_dim], 0.0)?),
        })
    }

    /// Applies the layer to `x` of shape (..., in).
    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let y = match x.dims() {
            [b, l, i] => x
                .reshape((b * l, *i))?
                .matmul(&self.weight.t()?)?
                .reshape((*b, *l, ()))?,
            _ => x.broadcast_matmul(&self.weight.t()?)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
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
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xc.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        xn.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

/// Softmax over the last dimension (fused in inference, composed in training).
pub fn softmax_last(x: &Tensor, mode: Mode) -> CResult<Tensor> {
    match mode {
        Mode::Eval => candle_nn::ops::softmax_last_dim(x),
        Mode::Train => candle_nn::ops::softmax(x, D::Minus1),
    }
}

/// Dropout with probability `p` in training mode; the identity otherwise.
pub fn dropout(x: &Tensor, p: f64, mode: Mode) -> CResult<Tensor> {
    if mode == Mode::Train && p > 0.0 {
        candle_nn::ops::dropout(x, p as f32)
    } else {
        Ok(x.clone())
    }
}

/// The activations Hugging Face names in `hidden_act`.
pub fn activation(name: &str, x: &Tensor) -> CResult<Tensor> {
    match name {
        "gelu" => x.gelu_erf(),
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
        let dim = self.weight.dim(1)?;
        candle_nn::Embedding::new(self.weight.clone(), dim).forward(ids)
    }
}
