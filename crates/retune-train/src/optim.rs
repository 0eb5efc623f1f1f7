//! AdamW with decoupled weight decay, gradient accumulation and global-norm clipping.
//!
//! Gradients of each micro-batch are summed into one buffer per parameter; at the optimizer
//! step they are divided by the number of examples (or real tokens) they came from, clipped by
//! their global norm, and applied — the same update as one big batch. On the CPU the update runs
//! in place on the parameters' storage (no allocation per step), in parallel over chunks.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, Layout, Storage, Tensor, Var};
use rayon::prelude::*;
use retune_models::ops::{adamw_update, AdamWStep};
use std::collections::HashMap;

use crate::error::{Result, TrainError};

/// AdamW hyper-parameters (PyTorch's `torch.optim.AdamW` defaults except `weight_decay`, which
/// is the Hugging Face Trainer's usual 0.01 rather than PyTorch's 0.01 — the same).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    /// First-moment decay. Default 0.9.
    pub beta1: f64,
    /// Second-moment decay. Default 0.999.
    pub beta2: f64,
    /// Added to the denominator. Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay for weight matrices (not biases or LayerNorm). Default 0.01.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Whether a parameter gets weight decay, as the Hugging Face Trainer decides: not biases and
/// not LayerNorm parameters.
pub fn decays(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !(name.ends_with("bias") || lower.contains("layernorm") || lower.contains("layer_norm"))
}

/// One trained parameter with its optimizer state.
struct Slot {
    name: String,
    var: Var,
    decay: bool,
    grad: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

/// AdamW over a set of named variables, with gradient accumulation buffers.
pub struct AdamW {
    slots: Vec<Slot>,
    /// Hyper-parameters.
    pub config: AdamWConfig,
    /// Optimizer steps taken (PyTorch's `state["step"]`).
    pub steps: u64,
    /// Examples or tokens whose gradients are in the buffers.
    pub accumulated: f64,
}

fn cpu_slice(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Runs `f` on the tensor's contiguous f32 CPU data without copying, or on a copy elsewhere.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    if let (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
        return Ok(f(&data[start..end]));
    }
    drop(storage);
    let v = cpu_slice(t)?;
    Ok(f(&v))
}

struct InPlace<'a, F: Fn(&mut [f32], usize) + Sync> {
    apply: F,
    _p: std::marker::PhantomData<&'a ()>,
}

impl<F: Fn(&mut [f32], usize) + Sync> candle_core::InplaceOp1 for InPlace<'_, F> {
    fn name(&self) -> &'static str {
        "retune-adamw"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("AdamW needs f32 parameters");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("AdamW needs contiguous parameters");
        };
        const CHUNK: usize = 1 << 15;
        data[start..end]
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, c)| (self.apply)(c, k * CHUNK));
        Ok(())
    }
}

impl AdamW {
    /// An optimizer for `params` (name, variable); decay is decided by [`decays`].
    pub fn new(params: Vec<(String, Var)>, config: AdamWConfig) -> AdamW {
        let slots = params
            .into_iter()
            .map(|(name, var)| {
                let n = var.elem_count();
                Slot {
                    decay: decays(&name),
                    name,
                    var,
                    grad: vec![0.0; n],
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            })
            .collect();
        AdamW {
            slots,
            config,
            steps: 0,
            accumulated: 0.0,
        }
    }

    /// Names of the trained parameters.
    pub fn names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.name.as_str()).collect()
    }

    /// Number of trained values.
    pub fn trainable_count(&self) -> usize {
        self.slots.iter().map(|s| s.grad.len()).sum()
    }

    /// Back-propagates `loss` (a sum over `count` examples or tokens) and adds its gradients
    /// into the accumulators: the fused layers' matrix products write their parameters'
    /// gradients straight into them (`retune_models::ops::backward_into`), the rest come
    /// through candle's gradient store.
    pub fn backward(&mut self, loss: &Tensor, count: f64) -> Result<()> {
        let grads = {
            let params: Vec<Tensor> = self.slots.iter().map(|s| s.var.as_tensor().clone()).collect();
            let mut sink: Vec<(&Tensor, &mut [f32])> = params
                .iter()
                .zip(self.slots.iter_mut())
                .map(|(p, s)| (p, s.grad.as_mut_slice()))
                .collect();
            retune_models::ops::backward_into(loss, &mut sink)?
        };
        self.accumulate(&grads, count)
    }

    /// Adds the gradients of a micro-batch whose loss was a *sum* over `count` examples or
    /// tokens. A parameter without a gradient (unused in this batch) adds zero.
    pub fn accumulate(&mut self, grads: &GradStore, count: f64) -> Result<()> {
        for s in &mut self.slots {
            if let Some(g) = grads.get(s.var.as_tensor()) {
                let dst = &mut s.grad;
                with_f32(g, |src| {
                    dst.par_chunks_mut(1 << 15)
                        .zip(src.par_chunks(1 << 15))
                        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += *s));
                })?;
            }
        }
        self.accumulated += count;
        Ok(())
    }

    /// Sets the accumulated gradient of parameter `index` directly (tests, custom losses).
    pub fn set_grad(&mut self, index: usize, grad: &[f32]) {
        self.slots[index].grad.copy_from_slice(grad);
    }

    /// Global L2 norm of the accumulated gradients after dividing by the accumulated count.
    pub fn grad_norm(&self) -> f64 {
        let scale = if self.accumulated > 0.0 {
            1.0 / self.accumulated
        } else {
            1.0
        };
        let sq: f64 = self
            .slots
            .iter()
            .map(|s| {
                // Partial sums over fixed chunks, added in order: the same bits whatever the
                // threads' timing.
                let partial: Vec<f64> = s
                    .grad
                    .par_chunks(1 << 15)
                    .map(retune_models::ops::sum_squares)
                    .collect();
                partial.iter().sum::<f64>()
            })
            .sum();
        sq.sqrt() * scale
    }

    /// Divides the accumulated gradients by the accumulated count, clips them to `max_norm`
    /// (global norm; `None` = no clipping, as `clip_grad_norm_` computes it), applies one AdamW
    /// step with learning rate `lr`, and clears the buffers. Returns the gradient norm before
    /// clipping. A non-finite norm is an error and leaves the parameters untouched.
    pub fn step(&mut self, lr: f64, max_norm: Option<f64>) -> Result<f64> {
        let norm = self.grad_norm();
        if !norm.is_finite() {
            self.zero_grad();
            return Err(TrainError::NonFinite {
                what: "gradient norm",
                value: norm,
                step: self.steps as usize + 1,
            });
        }
        let mut scale = if self.accumulated > 0.0 {
            1.0 / self.accumulated
        } else {
            1.0
        };
        if let Some(max) = max_norm {
            let coef = max / (norm + 1e-6);
            if coef < 1.0 {
                scale *= coef;
            }
        }
        self.steps += 1;
        let c = self.config;
        let t = self.steps as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        let base = AdamWStep {
            grad_scale: scale as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            eps: c.eps as f32,
            bias_correction2_sqrt: bc2.sqrt() as f32,
            step_size: (lr / bc1) as f32,
            decay: 1.0,
        };
        let decayed = (1.0 - lr * c.weight_decay) as f32;
        for s in &mut self.slots {
            let step = AdamWStep {
                decay: if s.decay { decayed } else { 1.0 },
                ..base
            };
            // The update of element i only touches g[i], m[i], v[i], p[i]: split g, m and v by
            // the same chunks as the parameter storage. The gradient is zeroed as it is used.
            let g_ptr = SendPtr(s.grad.as_mut_ptr());
            let m_ptr = SendPtr(s.m.as_mut_ptr());
            let v_ptr = SendPtr(s.v.as_mut_ptr());
            let op = InPlace {
                apply: |p: &mut [f32], off: usize| {
                    let n = p.len();
                    // SAFETY: chunks [off, off + n) are disjoint between calls and within the
                    // buffers, which have the parameter's length and outlive the operation.
                    let (g, m, v) = unsafe {
                        (
                            std::slice::from_raw_parts_mut(g_ptr.get().add(off), n),
                            std::slice::from_raw_parts_mut(m_ptr.get().add(off), n),
                            std::slice::from_raw_parts_mut(v_ptr.get().add(off), n),
                        )
                    };
                    adamw_update(p, g, m, v, step);
                },
                _p: std::marker::PhantomData,
            };
            if s.var.device().is_cpu() {
                s.var.as_tensor().inplace_op1(&op)?;
            } else {
                let mut host = cpu_slice(s.var.as_tensor())?;
                host.par_chunks_mut(1 << 15)
                    .enumerate()
                    .for_each(|(k, ch)| (op.apply)(ch, k << 15));
                let t = Tensor::from_vec(host, s.var.shape(), s.var.device())?;
                s.var.set(&t)?;
            }
        }
        self.accumulated = 0.0;
        Ok(norm)
    }

    /// The accumulated (not yet divided) gradient of parameter `name`.
    pub fn grad_of(&self, name: &str) -> Option<&[f32]> {
        self.slots.iter().find(|s| s.name == name).map(|s| s.grad.as_slice())
    }

    /// Clears the accumulation buffers.
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            s.grad.par_iter_mut().for_each(|g| *g = 0.0);
        }
        self.accumulated = 0.0;
    }

    /// The optimizer state as tensors `exp_avg.{name}` and `exp_avg_sq.{name}` (for checkpoints).
    pub fn state_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        let dev = retune_models::device::host();
        for s in &self.slots {
            let shape = s.var.shape().clone();
            out.insert(
                format!("exp_avg.{}", s.name),
                Tensor::from_slice(&s.m, shape.clone(), &dev)?,
            );
            out.insert(format!("exp_avg_sq.{}", s.name), Tensor::from_slice(&s.v, shape, &dev)?);
        }
        Ok(out)
    }

    /// Restores a state saved by [`AdamW::state_tensors`].
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        for s in &mut self.slots {
            for (key, dst) in [("exp_avg", &mut s.m), ("exp_avg_sq", &mut s.v)] {
                let name = format!("{key}.{}", s.name);
                let t = tensors
                    .get(&name)
                    .ok_or_else(|| TrainError::Invalid(format!("optimizer state lacks {name}")))?;
                let v = cpu_slice(t)?;
                if v.len() != dst.len() {
                    return Err(TrainError::Invalid(format!(
                        "optimizer state {name} has the wrong size"
                    )));
                }
                dst.copy_from_slice(&v);
            }
        }
        self.steps = steps;
        Ok(())
    }

    /// First and second moments of parameter `index` (tests).
    pub fn moments(&self, index: usize) -> (&[f32], &[f32]) {
        (&self.slots[index].m, &self.slots[index].v)
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint chunks of one buffer to rayon workers.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}
