//! The Llama decoder: token embedding, pre-RMSNorm layers (grouped-query self-attention with
//! rotary positions, SwiGLU MLP), a final RMSNorm and the output projection (the embedding
//! itself when tied), under Hugging Face's names (`model.layers.N.self_attn.q_proj`, ...).
//!
//! Without a KV cache (training, perplexity, features) each layer is one fused CPU operation
//! ([`crate::ops::FusedDecoderLayer`], with its own backward); with a cache, on other devices or
//! when `RETUNE_UNFUSED` names `decoder`, the composed operations run — candle's fused RMSNorm,
//! rotary and softmax kernels in inference, operations with backward passes in training — and
//! are the fused layer's reference ([`LlamaModel::decode_on`]). A [`KvCache`] keeps each layer's
//! keys and values so generation feeds one token per step.
//! Batches are right-padded: with the causal mask a real token never sees a padding token, and
//! a key-padding mask covers left padding too (positions then still count from the row's first
//! slot, so batched left-padded generation is not offered).

use candle_core::{DType, Device, Result as CResult, Tensor, D};

use super::config::LlamaConfig;
use crate::arch::{EncoderInput, EncoderModel, Head};
use crate::error::Result;
use crate::layers::LayerPath;
use crate::nn::{dropout, softmax_last, Embedding, Linear, Mode, Params};
use crate::ops::{FusedDecoderLayer, FusedLinear, OutputRows};

/// Root-mean-square normalisation with a learned scale (no bias, no centring).
#[derive(Clone, Debug)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn load(p: &Params, prefix: &str, dim: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: p.get(&format!("{prefix}.weight"), &[dim])?,
            eps,
        })
    }

    /// `w · x / sqrt(mean(x²) + eps)` over the last dimension.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> CResult<Tensor> {
        match mode {
            Mode::Eval => candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32),
            Mode::Train => {
                let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
                let inv = (ms + self.eps)?.sqrt()?.recip()?;
                x.broadcast_mul(&inv)?.broadcast_mul(&self.weight)
            }
        }
    }
}

/// Rotary tables (cos, sin), each (positions, head_dim / 2), computed in f32 as transformers
/// computes them: `inv_freq = 1 / θ^(2i/d)`, angle = position · inv_freq.
pub fn rope_tables(
    theta: f64,
    head_dim: usize,
    offset: usize,
    len: usize,
    device: &Device,
) -> CResult<(Tensor, Tensor)> {
    let half = head_dim / 2;
    let inv: Vec<f32> = (0..half)
        .map(|i| 1.0f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
        .collect();
    let mut cos = Vec::with_capacity(len * half);
    let mut sin = Vec::with_capacity(len * half);
    for pos in offset..offset + len {
        for f in &inv {
            let a = pos as f32 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (len, half), device)?,
        Tensor::from_vec(sin, (len, half), device)?,
    ))
}

/// Rotates `x` (batch, heads, length, head_dim) by the tables (halves, not interleaved pairs:
/// transformers' `rotate_half`).
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor, mode: Mode) -> CResult<Tensor> {
    match mode {
        Mode::Eval => candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin),
        Mode::Train => candle_nn::rotary_emb::rope_slow(&x.contiguous()?, cos, sin),
    }
}

/// Keys and values of every layer for the positions seen so far.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> KvCache {
        KvCache::default()
    }
    /// Positions cached.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .and_then(|(k, _)| k.dim(2).ok())
            .unwrap_or(0)
    }
    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Keeps (repeats, reorders) the cached rows: row i of the result is row `rows[i]` (u32).
    pub fn select_rows(&mut self, rows: &Tensor) -> CResult<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(rows, 0)?;
            *v = v.index_select(rows, 0)?;
        }
        Ok(())
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    dropout: f64,
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        mask: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        mode: Mode,
    ) -> CResult<Tensor> {
        let (b, t, _) = x.dims3()?;
        let d = self.head_dim;
        let split = |y: Tensor, h: usize| y.reshape((b, t, h, d))?.transpose(1, 2)?.contiguous();
        let q = apply_rope(&split(self.q.forward(x)?, self.heads)?, &rope.0, &rope.1, mode)?;
        let mut k = apply_rope(&split(self.k.forward(x)?, self.kv_heads)?, &rope.0, &rope.1, mode)?;
        let mut v = split(self.v.forward(x)?, self.kv_heads)?;
        if let Some(slot) = cache {
            if let Some((pk, pv)) = slot.as_ref() {
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            *slot = Some((k.clone(), v.clone()));
        }
        let rep = self.heads / self.kv_heads;
        let (k, v) = (repeat_kv(&k, rep)?, repeat_kv(&v, rep)?);
        let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?.broadcast_add(mask)?;
        let probs = dropout(&softmax_last(&scores, mode)?, self.dropout, mode)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, self.heads * d))?;
        self.o.forward(&ctx)
    }
}

/// (batch, kv_heads, length, d) → (batch, kv_heads · rep, length, d), each key/value head
/// serving `rep` query heads in turn (transformers' `repeat_kv`).
fn repeat_kv(x: &Tensor, rep: usize) -> CResult<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (b, h, t, d) = x.dims4()?;
    x.unsqueeze(2)?.expand((b, h, rep, t, d))?.reshape((b, h * rep, t, d))
}

struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        self.down
            .forward(&(self.gate.forward(x)?.silu()? * self.up.forward(x)?)?)
    }
}

struct DecoderLayer {
    input_norm: RmsNorm,
    attn: Attention,
    post_norm: RmsNorm,
    mlp: Mlp,
}

impl DecoderLayer {
    /// The layer's parameters for the fused operation.
    fn fused(&self) -> FusedDecoderLayer {
        let lin = |l: &Linear| FusedLinear {
            weight: l.weight.clone(),
            bias: l.bias.clone(),
            lora: l.lora.as_ref().map(|(a, b, s)| (a.clone(), b.clone(), *s as f32)),
        };
        let at = &self.attn;
        FusedDecoderLayer {
            qkvo: [lin(&at.q), lin(&at.k), lin(&at.v), lin(&at.o)],
            mlp: [lin(&self.mlp.gate), lin(&self.mlp.up), lin(&self.mlp.down)],
            norms: [self.input_norm.weight.clone(), self.post_norm.weight.clone()],
            heads: at.heads,
            kv_heads: at.kv_heads,
            head_dim: at.head_dim,
            eps: self.input_norm.eps as f32,
            attn_dropout: at.dropout,
        }
    }

    /// The layer on `x` without a cache: the fused operation where it applies (CPU f32,
    /// unless `RETUNE_UNFUSED` names `decoder`), the composed operations otherwise.
    fn forward(
        &self,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        mask: &Tensor,
        mode: Mode,
        path: LayerPath,
    ) -> CResult<Tensor> {
        if path == LayerPath::Fused && !crate::ops::unfused("decoder") && self.input_norm.eps == self.post_norm.eps {
            let fused = self.fused();
            if fused.applicable(x, mask, &rope.0) {
                return fused.forward(x, mask, rope, mode);
            }
        }
        self.forward_composed(x, rope, mask, None, mode)
    }

    /// The layer from its composed operations (the reference of the fused one), extending
    /// `cache` when given.
    fn forward_composed(
        &self,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        mask: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        mode: Mode,
    ) -> CResult<Tensor> {
        let a = self
            .attn
            .forward(&self.input_norm.forward(x, mode)?, rope, mask, cache, mode)?;
        let hmid = (x + a)?;
        &hmid + self.mlp.forward(&self.post_norm.forward(&hmid, mode)?)?
    }
}

/// A Llama-family decoder with its head ([`Head::Base`]: the final hidden states;
/// [`Head::CausalLm`]: next-token logits over the vocabulary).
pub struct LlamaModel {
    embed: Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Option<Linear>,
    head: Head,
    rope_theta: f64,
    head_dim: usize,
}

/// Loads a projection with or without its bias.
fn linear(p: &Params, prefix: &str, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
    if bias {
        Linear::load(p, prefix, in_dim, out_dim)
    } else {
        Linear::load_no_bias(p, prefix, in_dim, out_dim)
    }
}

impl LlamaModel {
    /// Builds the model from `params` (Hugging Face names) for `head`.
    pub fn load(cfg: &LlamaConfig, p: &Params, head: Head) -> Result<LlamaModel> {
        let (hid, d) = (cfg.hidden_size, cfg.head_size());
        let (h, kv) = (cfg.num_attention_heads, cfg.kv_heads());
        let embed = Embedding::load(p, "model.embed_tokens", cfg.vocab_size, hid)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let pre = format!("model.layers.{i}");
            let ab = cfg.attention_bias;
            let mb = cfg.mlp_bias;
            layers.push(DecoderLayer {
                input_norm: RmsNorm::load(p, &format!("{pre}.input_layernorm"), hid, cfg.rms_norm_eps)?,
                attn: Attention {
                    q: linear(p, &format!("{pre}.self_attn.q_proj"), hid, h * d, ab)?,
                    k: linear(p, &format!("{pre}.self_attn.k_proj"), hid, kv * d, ab)?,
                    v: linear(p, &format!("{pre}.self_attn.v_proj"), hid, kv * d, ab)?,
                    o: linear(p, &format!("{pre}.self_attn.o_proj"), h * d, hid, ab)?,
                    heads: h,
                    kv_heads: kv,
                    head_dim: d,
                    dropout: cfg.attention_dropout,
                },
                post_norm: RmsNorm::load(p, &format!("{pre}.post_attention_layernorm"), hid, cfg.rms_norm_eps)?,
                mlp: Mlp {
                    gate: linear(p, &format!("{pre}.mlp.gate_proj"), hid, cfg.intermediate_size, mb)?,
                    up: linear(p, &format!("{pre}.mlp.up_proj"), hid, cfg.intermediate_size, mb)?,
                    down: linear(p, &format!("{pre}.mlp.down_proj"), cfg.intermediate_size, hid, mb)?,
                },
            });
        }
        let norm = RmsNorm::load(p, "model.norm", hid, cfg.rms_norm_eps)?;
        let lm_head = match head {
            Head::CausalLm if cfg.tie_word_embeddings => Some(Linear {
                weight: embed.weight.clone(),
                bias: None,
                lora: None,
            }),
            Head::CausalLm => Some(Linear::load_no_bias(p, "lm_head", hid, cfg.vocab_size)?),
            _ => None,
        };
        Ok(LlamaModel {
            embed,
            layers,
            norm,
            lm_head,
            head,
            rope_theta: cfg.rope_base(),
            head_dim: d,
        })
    }

    /// The additive mask (batch, 1, length, past + length): 0 where query `i` (at position
    /// `past + i`) may see key `j` — `j ≤ past + i` and key `j` is not padding — the lowest
    /// float elsewhere (transformers' `finfo.min`).
    fn mask(&self, key_mask: Option<&Tensor>, b: usize, t: usize, past: usize, device: &Device) -> CResult<Tensor> {
        let total = past + t;
        let keys: Option<Vec<Vec<u32>>> = match key_mask {
            Some(m) => Some(m.to_dtype(DType::U32)?.to_vec2()?),
            None => None,
        };
        let mut v = vec![0f32; b * t * total];
        for r in 0..b {
            for i in 0..t {
                for j in 0..total {
                    let pad = keys.as_ref().is_some_and(|k| k[r].get(j).is_some_and(|&x| x == 0));
                    if j > past + i || pad {
                        v[(r * t + i) * total + j] = f32::MIN;
                    }
                }
            }
        }
        Tensor::from_vec(v, (b, 1, t, total), device)
    }

    /// The decoder over `ids` (batch, length) placed after the `cache`'s positions, which it
    /// extends; `key_mask` (batch, past + length) marks padding with 0. Returns the final
    /// normalised states (batch, length, hidden), and, when `tap` is set, each layer's output.
    pub fn decode(
        &self,
        ids: &Tensor,
        key_mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        mode: Mode,
        tap: Option<&mut Vec<Tensor>>,
    ) -> CResult<Tensor> {
        self.decode_path(ids, key_mask, cache, mode, tap, LayerPath::Fused)
    }

    /// [`LlamaModel::decode`] without a cache, each layer computed the way `path` says (the
    /// composed operations are the fused layer's reference).
    pub fn decode_on(&self, ids: &Tensor, key_mask: Option<&Tensor>, mode: Mode, path: LayerPath) -> CResult<Tensor> {
        self.decode_path(ids, key_mask, None, mode, None, path)
    }

    fn decode_path(
        &self,
        ids: &Tensor,
        key_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        mode: Mode,
        mut tap: Option<&mut Vec<Tensor>>,
        path: LayerPath,
    ) -> CResult<Tensor> {
        let (b, t) = ids.dims2()?;
        let past = cache.as_ref().map(|c| c.len()).unwrap_or(0);
        let device = ids.device();
        let rope = rope_tables(self.rope_theta, self.head_dim, past, t, device)?;
        let mask = self.mask(key_mask, b, t, past, device)?;
        if let Some(c) = cache.as_mut() {
            if c.layers.len() != self.layers.len() {
                c.layers = vec![None; self.layers.len()];
            }
        }
        let mut x = self.embed.forward(ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = match cache.as_mut() {
                Some(c) => layer.forward_composed(&x, &rope, &mask, Some(&mut c.layers[i]), mode)?,
                None => layer.forward(&x, &rope, &mask, mode, path)?,
            };
            if let Some(t) = tap.as_mut() {
                t.push(x.clone());
            }
        }
        self.norm.forward(&x, mode)
    }

    /// The output projection's weight when it is a plain matrix (no bias, no LoRA).
    pub fn plain_lm_head(&self) -> Option<&Tensor> {
        self.lm_head
            .as_ref()
            .filter(|l| l.bias.is_none() && l.lora.is_none())
            .map(|l| &l.weight)
    }

    /// Next-token logits (batch, length, vocab) from final states.
    pub fn lm_logits(&self, hidden: &Tensor) -> CResult<Tensor> {
        match &self.lm_head {
            Some(l) => l.forward(hidden),
            None => candle_core::bail!("this model was built without its language-model head"),
        }
    }
}

impl EncoderModel for LlamaModel {
    fn hidden_rows(&self, input: &EncoderInput, mode: Mode, rows: OutputRows) -> CResult<Tensor> {
        let h = self.decode(&input.input_ids, Some(&input.attention_mask), None, mode, None)?;
        match rows {
            OutputRows::All => Ok(h),
            OutputRows::First => h.narrow(1, 0, 1),
        }
    }

    fn layer_states(&self, input: &EncoderInput, mode: Mode) -> CResult<Vec<Tensor>> {
        let mut states = Vec::with_capacity(self.layers.len());
        self.decode(
            &input.input_ids,
            Some(&input.attention_mask),
            None,
            mode,
            Some(&mut states),
        )?;
        Ok(states)
    }

    fn head_rows(&self) -> OutputRows {
        OutputRows::All
    }

    fn head_input(&self, hidden: &Tensor) -> CResult<Tensor> {
        Ok(hidden.clone())
    }

    fn head_on(&self, input: &Tensor, _mode: Mode) -> CResult<Tensor> {
        match self.head {
            Head::CausalLm => self.lm_logits(input),
            _ => Ok(input.clone()),
        }
    }
}
