//! The post-LayerNorm transformer encoder layer that BERT, RoBERTa/XLM-R and DistilBERT share
//! (self-attention → residual + LayerNorm → feed-forward → residual + LayerNorm). Each family
//! loads it under its own parameter names ([`LayerNames`]) and dropout placement; the attention
//! is computed here once for all of them.

use candle_core::{DType, Result as CResult, Tensor};

use crate::error::Result;
use crate::nn::{activation, dropout, LayerNorm, Linear, Mode, Params};
pub use crate::ops::OutputRows;
use crate::ops::{FusedLayer, FusedLinear};

/// Where a family keeps a layer's parameters, relative to the layer's prefix.
pub struct LayerNames {
    /// Query, key, value and output projections.
    pub qkvo: [&'static str; 4],
    /// LayerNorm after attention.
    pub attn_norm: &'static str,
    /// Feed-forward in and out.
    pub ffn: [&'static str; 2],
    /// LayerNorm after the feed-forward.
    pub ffn_norm: &'static str,
}

/// Sizes, activation and dropout of a layer.
pub struct LayerShape {
    /// Hidden size.
    pub hidden: usize,
    /// Feed-forward size.
    pub intermediate: usize,
    /// Attention heads.
    pub heads: usize,
    /// LayerNorm epsilon.
    pub eps: f64,
    /// `hidden_act` name.
    pub act: String,
    /// Dropout on attention probabilities.
    pub attn_dropout: f64,
    /// Dropout on the attention output before the residual (0 for DistilBERT).
    pub attn_out_dropout: f64,
    /// Dropout on the feed-forward output before the residual.
    pub ffn_dropout: f64,
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    heads: usize,
    head_dim: usize,
    attn_dropout: f64,
    out_dropout: f64,
}

/// One post-LN encoder layer.
pub struct EncoderLayer {
    attention: SelfAttention,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_norm: LayerNorm,
    act: String,
    ffn_dropout: f64,
}

impl EncoderLayer {
    /// Loads the layer whose parameters are `{prefix}{name}.weight` / `.bias`.
    pub fn load(p: &Params, prefix: &str, names: &LayerNames, s: &LayerShape) -> Result<EncoderLayer> {
        let h = s.hidden;
        let n = |x: &str| format!("{prefix}{x}");
        let [q, k, v, o] = names.qkvo;
        Ok(EncoderLayer {
            attention: SelfAttention {
                query: Linear::load(p, &n(q), h, h)?,
                key: Linear::load(p, &n(k), h, h)?,
                value: Linear::load(p, &n(v), h, h)?,
                output: Linear::load(p, &n(o), h, h)?,
                heads: s.heads,
                head_dim: h / s.heads,
                attn_dropout: s.attn_dropout,
                out_dropout: s.attn_out_dropout,
            },
            attn_norm: LayerNorm::load(p, &n(names.attn_norm), h, s.eps)?,
            ffn_in: Linear::load(p, &n(names.ffn[0]), h, s.intermediate)?,
            ffn_out: Linear::load(p, &n(names.ffn[1]), s.intermediate, h)?,
            ffn_norm: LayerNorm::load(p, &n(names.ffn_norm), h, s.eps)?,
            act: s.act.clone(),
            ffn_dropout: s.ffn_dropout,
        })
    }

    /// Applies the layer to `x` (batch, length, hidden) with an additive mask bias
    /// (batch, 1, 1, length): as one fused operation where it applies (CPU f32, erf GELU; see
    /// [`crate::ops::layer`]), composed otherwise.
    pub fn forward(&self, x: &Tensor, mask_bias: &Tensor, mode: Mode) -> CResult<Tensor> {
        self.forward_on(x, mask_bias, mode, LayerPath::Fused, OutputRows::All)
    }

    /// [`EncoderLayer::forward`] on a chosen path, for the positions `rows` names (output
    /// (batch, positions, hidden)); [`LayerPath::Fused`] falls back to the composed operations
    /// where the fused layer does not apply. The composed path computes every position and
    /// keeps those asked for.
    pub fn forward_on(
        &self,
        x: &Tensor,
        mask_bias: &Tensor,
        mode: Mode,
        path: LayerPath,
        rows: OutputRows,
    ) -> CResult<Tensor> {
        if path == LayerPath::Fused && !crate::ops::unfused("layer") {
            if let Some(fused) = self.fused() {
                if fused.applicable(x, mask_bias) {
                    return fused.forward(x, mask_bias, mode, rows);
                }
            }
        }
        let a = self.attention.forward(x, mask_bias, mode)?;
        let a = self.attn_norm.forward(&(a + x)?, mode)?;
        let i = activation(&self.act, &self.ffn_in.forward(&a)?)?;
        let o = dropout(&self.ffn_out.forward(&i)?, self.ffn_dropout, mode)?;
        let y = self.ffn_norm.forward(&(o + a)?, mode)?;
        match rows {
            OutputRows::All => Ok(y),
            OutputRows::First => y.narrow(1, 0, 1),
        }
    }
}

impl EncoderLayer {
    /// The layer's parameters for the fused operation (None for activations other than the
    /// erf GELU, or linear maps without a bias).
    fn fused(&self) -> Option<FusedLayer> {
        if self.act != "gelu" {
            return None;
        }
        let lin = |l: &Linear| -> Option<FusedLinear> {
            Some(FusedLinear {
                weight: l.weight.clone(),
                bias: Some(l.bias.clone()?),
                lora: l.lora.as_ref().map(|(a, b, s)| (a.clone(), b.clone(), *s as f32)),
            })
        };
        let at = &self.attention;
        Some(FusedLayer {
            qkvo: [lin(&at.query)?, lin(&at.key)?, lin(&at.value)?, lin(&at.output)?],
            attn_norm: (self.attn_norm.weight.clone(), self.attn_norm.bias.clone()),
            ffn_in: lin(&self.ffn_in)?,
            ffn_out: lin(&self.ffn_out)?,
            ffn_norm: (self.ffn_norm.weight.clone(), self.ffn_norm.bias.clone()),
            heads: at.heads,
            eps: self.attn_norm.eps as f32,
            dropout: [at.attn_dropout, at.out_dropout, self.ffn_dropout],
        })
    }
}

/// How [`EncoderLayer::forward_on`] computes the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerPath {
    /// One fused operation where it applies (the default).
    Fused,
    /// candle's operations, one node each (the reference).
    Composed,
}

impl SelfAttention {
    /// The attention output (after the output projection and its dropout, before the residual).
    fn forward(&self, x: &Tensor, mask_bias: &Tensor, mode: Mode) -> CResult<Tensor> {
        let (b, len, h) = x.dims3()?;
        let split = |t: Tensor| -> CResult<Tensor> {
            t.reshape((b, len, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let probs = crate::ops::masked_softmax(&q.matmul(&k.t()?)?, mask_bias, scale)?;
        let probs = dropout(&probs, self.attn_dropout, mode)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, len, h))?;
        dropout(&self.output.forward(&ctx)?, self.out_dropout, mode)
    }
}

/// `(1 - mask) * finfo(f32).min` shaped (batch, 1, 1, length), as transformers builds the
/// additive attention mask.
pub fn mask_bias(attention_mask: &Tensor) -> CResult<Tensor> {
    let (b, len) = attention_mask.dims2()?;
    let mask = attention_mask.to_dtype(DType::F32)?;
    ((mask.ones_like()? - mask)? * f32::MIN as f64)?.reshape((b, 1, 1, len))
}

/// Runs `x` through `layers`; the last layer computes the positions `rows` names (output
/// (batch, positions, hidden)).
pub fn run_layers(
    layers: &[EncoderLayer],
    x: Tensor,
    attention_mask: &Tensor,
    mode: Mode,
    rows: OutputRows,
) -> CResult<Tensor> {
    run_layers_tapped(layers, x, attention_mask, mode, rows, &mut |_| {})
}

/// [`run_layers`], handing each layer's output to `tap` as it is made (first layer first).
pub fn run_layers_tapped(
    layers: &[EncoderLayer],
    x: Tensor,
    attention_mask: &Tensor,
    mode: Mode,
    rows: OutputRows,
    tap: &mut dyn FnMut(&Tensor),
) -> CResult<Tensor> {
    let bias = mask_bias(attention_mask)?;
    let mut x = x;
    for (i, layer) in layers.iter().enumerate() {
        let rows = if i + 1 == layers.len() { rows } else { OutputRows::All };
        x = layer.forward_on(&x, &bias, mode, LayerPath::Fused, rows)?;
        tap(&x);
    }
    match (layers.is_empty(), rows) {
        (true, OutputRows::First) => x.narrow(1, 0, 1),
        _ => Ok(x),
    }
}

/// The hidden state of the first token (`[CLS]`, `<s>`), shape (batch, hidden).
pub fn first_token(hidden: &Tensor) -> CResult<Tensor> {
    hidden.narrow(1, 0, 1)?.squeeze(1)
}

/// Mean of the hidden states over real tokens (sentence-transformers' mean pooling).
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> CResult<Tensor> {
    let m = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
    let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    sum.broadcast_div(&count)
}
