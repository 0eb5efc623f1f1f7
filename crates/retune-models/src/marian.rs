//! Marian encoder-decoder (`MarianMTModel`, the opus-mt translation models) with Hugging Face
//! parameter names, padding masks in every attention, a causal mask in the decoder, real
//! dropout in training mode, and a key/value cache for step-by-step decoding.
//!
//! What transformers does, and this module copies: static sinusoidal positions (sin of the even
//! angles in the first half of each row, cos of the odd ones in the second half, positions from
//! 0 for every sequence, the decoder continuing from its cache length); token embeddings scaled
//! by `sqrt(d_model)` when `scale_embedding`; post-LayerNorm layers (eps 1e-5) with no final or
//! embedding LayerNorm; `logits = lm_head(h) + final_logits_bias`, the bias being a buffer (it
//! is saved, but not trained).

use candle_core::{DType, Device, Result as CResult, Tensor, D};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{ModelError, Result};
use crate::generate::{Decoder, EarlyStopping, GenerationConfig, Seq2Seq, TokenIds};
use crate::nn::{activation, dropout, softmax_last, Embedding, LayerNorm, Linear, Mode, Params};

/// LayerNorm epsilon of every Marian layer (PyTorch's `nn.LayerNorm` default).
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// Parameters that are buffers in transformers: saved with the checkpoint but never trained. They
/// stay in the [`Params`] var map (so saving writes them) and are detached in the forward pass.
pub const BUFFERS: &[&str] = &["final_logits_bias"];

/// Parameters a checkpoint with this configuration carries that the model does not use:
/// `model.shared.weight` when the tables are shared but the word embeddings untied (transformers
/// then reads the encoder's and decoder's own tables and only saves the shared one). They are
/// kept so that a saved model has transformers' layout, and never trained.
pub fn unused_params(c: &MarianConfig) -> &'static [&'static str] {
    if c.share_encoder_decoder_embeddings && !c.tie_word_embeddings {
        &["model.shared.weight"]
    } else {
        &[]
    }
}

fn d_vocab() -> usize {
    58101
}
fn d_maxpos() -> usize {
    1024
}
fn d_layers() -> usize {
    12
}
fn d_ffn() -> usize {
    4096
}
fn d_heads() -> usize {
    16
}
fn d_act() -> String {
    "gelu".into()
}
fn d_model() -> usize {
    1024
}
fn d_dropout() -> f64 {
    0.1
}
fn d_init() -> f64 {
    0.02
}
fn d_pad() -> u32 {
    58100
}
fn d_eos() -> TokenIds {
    TokenIds::One(0)
}
fn d_forced_eos() -> Option<TokenIds> {
    Some(TokenIds::One(0))
}
fn d_true() -> bool {
    true
}

/// `MarianConfig` as transformers reads it; every default is Hugging Face's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarianConfig {
    /// Source (and, when shared, target) vocabulary size. Default 58101.
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Target vocabulary size; `None` means `vocab_size`. Default None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_vocab_size: Option<usize>,
    /// Model width. Default 1024.
    #[serde(default = "d_model")]
    pub d_model: usize,
    /// Encoder layers. Default 12.
    #[serde(default = "d_layers")]
    pub encoder_layers: usize,
    /// Decoder layers. Default 12.
    #[serde(default = "d_layers")]
    pub decoder_layers: usize,
    /// Encoder attention heads. Default 16.
    #[serde(default = "d_heads")]
    pub encoder_attention_heads: usize,
    /// Decoder attention heads. Default 16.
    #[serde(default = "d_heads")]
    pub decoder_attention_heads: usize,
    /// Encoder feed-forward size. Default 4096.
    #[serde(default = "d_ffn")]
    pub encoder_ffn_dim: usize,
    /// Decoder feed-forward size. Default 4096.
    #[serde(default = "d_ffn")]
    pub decoder_ffn_dim: usize,
    /// Activation: `swish`/`silu`, `gelu` (erf), `gelu_new`/`gelu_pytorch_tanh`, `relu`.
    /// Default `gelu` (opus-mt checkpoints say `swish`).
    #[serde(default = "d_act")]
    pub activation_function: String,
    /// Longest sequence (size of the sinusoid tables). Default 1024.
    #[serde(default = "d_maxpos")]
    pub max_position_embeddings: usize,
    /// Multiply token embeddings by `sqrt(d_model)`. Default false (opus-mt: true).
    #[serde(default)]
    pub scale_embedding: bool,
    /// Padding id. Default 58100.
    #[serde(default = "d_pad")]
    pub pad_token_id: u32,
    /// End-of-sequence id(s). Default 0.
    #[serde(default = "d_eos")]
    pub eos_token_id: TokenIds,
    /// Beginning-of-sequence id (unused by Marian). Default None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    /// First decoder token. Default 58100 (= pad).
    #[serde(default = "d_pad")]
    pub decoder_start_token_id: u32,
    /// `</s>` forced at `max_length - 1` in generation. Default 0.
    #[serde(default = "d_forced_eos")]
    pub forced_eos_token_id: Option<TokenIds>,
    /// One embedding matrix (`model.shared`) for encoder and decoder. Default true.
    #[serde(default = "d_true")]
    pub share_encoder_decoder_embeddings: bool,
    /// `lm_head` is the decoder embedding matrix. Default true.
    #[serde(default = "d_true")]
    pub tie_word_embeddings: bool,
    /// Dropout on hidden states. Default 0.1.
    #[serde(default = "d_dropout")]
    pub dropout: f64,
    /// Dropout on attention probabilities. Default 0.0.
    #[serde(default)]
    pub attention_dropout: f64,
    /// Dropout after the feed-forward activation. Default 0.0.
    #[serde(default)]
    pub activation_dropout: f64,
    /// Probability of skipping an encoder layer in training. Default 0.0.
    #[serde(default)]
    pub encoder_layerdrop: f64,
    /// Probability of skipping a decoder layer in training. Default 0.0.
    #[serde(default)]
    pub decoder_layerdrop: f64,
    /// Std of the normal initializer. Default 0.02.
    #[serde(default = "d_init")]
    pub init_std: f64,
    /// Whether generation uses the key/value cache. Default true.
    #[serde(default = "d_true")]
    pub use_cache: bool,
    /// Legacy generation setting (now in `generation_config.json`): banned token sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_words_ids: Option<Vec<Vec<u32>>>,
    /// Legacy generation setting: beam count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_beams: Option<usize>,
    /// Legacy generation setting: longest output, start token included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Legacy generation setting: beam length penalty exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_penalty: Option<f64>,
    /// Legacy generation setting: beam early stopping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// `marian`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// Architectures named by the checkpoint (`MarianMTModel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Every other field, kept so a saved config round-trips.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl MarianConfig {
    /// transformers' `GenerationConfig` defaults, with special tokens and the legacy generation
    /// fields (`bad_words_ids`, `num_beams`, `max_length`, `length_penalty`, `early_stopping`)
    /// taken from the model's `config.json`.
    pub fn generation_config(&self) -> GenerationConfig {
        let c = self;
        GenerationConfig {
            max_length: c.max_length.unwrap_or(20),
            num_beams: c.num_beams.unwrap_or(1),
            length_penalty: c.length_penalty.unwrap_or(1.0),
            early_stopping: c.early_stopping.unwrap_or_default(),
            bad_words_ids: c.bad_words_ids.clone().unwrap_or_default(),
            forced_eos_token_id: c.forced_eos_token_id.as_ref().map(TokenIds::to_vec).unwrap_or_default(),
            eos_token_ids: c.eos_ids(),
            pad_token_id: c.pad_token_id,
            decoder_start_token_id: c.decoder_start_token_id,
            ..GenerationConfig::default()
        }
    }

    /// Reads and validates `config.json`; errors name the field at fault.
    pub fn from_file(path: &Path) -> Result<Self> {
        let cfg: MarianConfig = crate::config::read_json_file(path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks the fields the model code relies on.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |m: String| {
            Err(ModelError::Config {
                path: path.into(),
                message: m,
            })
        };
        crate::config::check_model_type(path, self.model_type.as_deref(), "marian")?;
        for (field, heads) in [
            ("encoder_attention_heads", self.encoder_attention_heads),
            ("decoder_attention_heads", self.decoder_attention_heads),
        ] {
            if heads == 0 || !self.d_model.is_multiple_of(heads) {
                return bad(format!(
                    "field '{field}' ({heads}) must divide 'd_model' ({})",
                    self.d_model
                ));
            }
        }
        if !matches!(
            self.activation_function.as_str(),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu" | "swish" | "silu"
        ) {
            return bad(format!(
                "field 'activation_function': '{}' is not supported (swish, silu, gelu, gelu_new, gelu_pytorch_tanh, relu)",
                self.activation_function
            ));
        }
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return bad(format!("field '{field}' must be positive"));
            }
        }
        if self.pad_token_id as usize >= self.vocab_size {
            return bad(format!(
                "field 'pad_token_id' ({}) is outside the vocabulary ('vocab_size' {})",
                self.pad_token_id, self.vocab_size
            ));
        }
        if self.decoder_start_token_id as usize >= self.target_vocab_size() {
            return bad(format!(
                "field 'decoder_start_token_id' ({}) is outside the target vocabulary ({})",
                self.decoder_start_token_id,
                self.target_vocab_size()
            ));
        }
        for (field, p) in [
            ("dropout", self.dropout),
            ("attention_dropout", self.attention_dropout),
            ("activation_dropout", self.activation_dropout),
            ("encoder_layerdrop", self.encoder_layerdrop),
            ("decoder_layerdrop", self.decoder_layerdrop),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("field '{field}' ({p}) must be in [0, 1)"));
            }
        }
        Ok(())
    }

    /// `decoder_vocab_size`, or `vocab_size` when unset.
    pub fn decoder_vocab(&self) -> usize {
        self.decoder_vocab_size.unwrap_or(self.vocab_size)
    }

    /// Size of the output layer: `vocab_size` with shared embeddings, `decoder_vocab_size`
    /// otherwise (as transformers sizes `lm_head` and `final_logits_bias`).
    pub fn target_vocab_size(&self) -> usize {
        if self.share_encoder_decoder_embeddings {
            self.vocab_size
        } else {
            self.decoder_vocab()
        }
    }

    /// End-of-sequence ids.
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id.to_vec()
    }
}

/// The sinusoid table transformers builds for Marian: angle(p, j) = p / 10000^(2⌊j/2⌋/dim);
/// columns `[0, ⌈dim/2⌉)` hold sin of the even-j angles, the rest cos of the odd-j angles.
/// Computed in f64, stored in f32.
pub fn sinusoidal_positions(n_pos: usize, dim: usize, device: &Device) -> CResult<Tensor> {
    let sentinel = dim.div_ceil(2);
    let mut out = vec![0f32; n_pos * dim];
    for p in 0..n_pos {
        let row = &mut out[p * dim..(p + 1) * dim];
        for j in 0..dim {
            let angle = p as f64 / 10000f64.powf((2 * (j / 2)) as f64 / dim as f64);
            if j % 2 == 0 {
                row[j / 2] = angle.sin() as f32;
            } else {
                row[sentinel + j / 2] = angle.cos() as f32;
            }
        }
    }
    Tensor::from_vec(out, (n_pos, dim), device)
}

/// `(1 - mask) * f32::MIN` of a (batch, len) 0/1 mask, shaped (batch, 1, 1, len): an additive
/// bias over keys.
pub fn padding_bias(mask: &Tensor) -> CResult<Tensor> {
    let (b, len) = mask.dims2()?;
    let m = mask.to_dtype(DType::F32)?;
    ((m.ones_like()? - m)? * f32::MIN as f64)?.reshape((b, 1, 1, len))
}

/// Causal bias (1, 1, new, past + new): query i (absolute position past + i) sees keys 0..=past+i.
fn causal_bias(past: usize, new: usize, device: &Device) -> CResult<Tensor> {
    let total = past + new;
    let mut v = vec![0f32; new * total];
    for i in 0..new {
        for j in (past + i + 1)..total {
            v[i * total + j] = f32::MIN;
        }
    }
    Tensor::from_vec(v, (1, 1, new, total), device)
}

/// Embedding lookup with PyTorch's `padding_idx` semantics in training: the rows of padding
/// tokens get no gradient (their values are used, detached).
fn embed(table: &Embedding, ids: &Tensor, pad: u32, mode: Mode) -> CResult<Tensor> {
    let e = table.forward(ids)?;
    if mode != Mode::Train {
        return Ok(e);
    }
    let keep = ids.ne(pad)?.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let frozen = keep.ones_like()?.sub(&keep)?;
    e.broadcast_mul(&keep)?.add(&e.detach().broadcast_mul(&frozen)?)
}

fn layer_skipped(p: f64, mode: Mode, device: &Device) -> CResult<bool> {
    if mode != Mode::Train || p <= 0.0 {
        return Ok(false);
    }
    let r = Tensor::rand(0f32, 1f32, (), device)?
        .to_dtype(DType::F32)?
        .to_device(&crate::device::host())?
        .to_scalar::<f32>()?;
    Ok((r as f64) < p)
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
    dropout: f64,
}

impl Attention {
    fn load(p: &Params, prefix: &str, d: usize, heads: usize, dropout: f64) -> Result<Attention> {
        Ok(Attention {
            q: Linear::load(p, &format!("{prefix}.q_proj"), d, d)?,
            k: Linear::load(p, &format!("{prefix}.k_proj"), d, d)?,
            v: Linear::load(p, &format!("{prefix}.v_proj"), d, d)?,
            out: Linear::load(p, &format!("{prefix}.out_proj"), d, d)?,
            heads,
            head_dim: d / heads,
            dropout,
        })
    }

    /// (batch, len, d) → (batch, heads, len, head_dim).
    fn split(&self, x: Tensor) -> CResult<Tensor> {
        let (b, len, _) = x.dims3()?;
        x.reshape((b, len, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of `x`, each (batch, heads, len, head_dim).
    fn key_values(&self, x: &Tensor) -> CResult<(Tensor, Tensor)> {
        Ok((self.split(self.k.forward(x)?)?, self.split(self.v.forward(x)?)?))
    }

    /// Attention of the queries from `x` over `k`/`v`, with an additive `bias` over keys.
    fn attend(&self, x: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>, mode: Mode) -> CResult<Tensor> {
        let (b, len, d) = x.dims3()?;
        let q = self.split((self.q.forward(x)? * (self.head_dim as f64).powf(-0.5))?)?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(bias) = bias {
            scores = scores.broadcast_add(bias)?;
        }
        let probs = dropout(&softmax_last(&scores, mode)?, self.dropout, mode)?;
        let ctx = probs.matmul(v)?.transpose(1, 2)?.reshape((b, len, d))?;
        self.out.forward(&ctx)
    }
}

struct FeedForward {
    fc1: Linear,
    fc2: Linear,
    norm: LayerNorm,
    act: String,
    act_dropout: f64,
    dropout: f64,
}

impl FeedForward {
    fn load(p: &Params, prefix: &str, d: usize, ffn: usize, c: &MarianConfig) -> Result<FeedForward> {
        Ok(FeedForward {
            fc1: Linear::load(p, &format!("{prefix}.fc1"), d, ffn)?,
            fc2: Linear::load(p, &format!("{prefix}.fc2"), ffn, d)?,
            norm: LayerNorm::load(p, &format!("{prefix}.final_layer_norm"), d, LAYER_NORM_EPS)?,
            act: c.activation_function.clone(),
            act_dropout: c.activation_dropout,
            dropout: c.dropout,
        })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> CResult<Tensor> {
        let h = activation(&self.act, &self.fc1.forward(x)?)?;
        let h = dropout(&h, self.act_dropout, mode)?;
        let h = dropout(&self.fc2.forward(&h)?, self.dropout, mode)?;
        self.norm.forward(&(x + h)?, mode)
    }
}

struct EncoderLayer {
    attn: Attention,
    attn_norm: LayerNorm,
    ffn: FeedForward,
    dropout: f64,
}

impl EncoderLayer {
    fn forward(&self, x: &Tensor, bias: &Tensor, mode: Mode) -> CResult<Tensor> {
        let (k, v) = self.attn.key_values(x)?;
        let a = dropout(&self.attn.attend(x, &k, &v, Some(bias), mode)?, self.dropout, mode)?;
        let x = self.attn_norm.forward(&(x + a)?, mode)?;
        self.ffn.forward(&x, mode)
    }
}

struct DecoderLayer {
    self_attn: Attention,
    self_norm: LayerNorm,
    cross_attn: Attention,
    cross_norm: LayerNorm,
    ffn: FeedForward,
    dropout: f64,
}

impl DecoderLayer {
    fn forward(
        &self,
        x: &Tensor,
        self_bias: Option<&Tensor>,
        cross_kv: &(Tensor, Tensor),
        cross_bias: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        mode: Mode,
    ) -> CResult<Tensor> {
        let (mut k, mut v) = self.self_attn.key_values(x)?;
        if let Some(slot) = cache {
            if let Some((pk, pv)) = slot.as_ref() {
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            *slot = Some((k.clone(), v.clone()));
        }
        let a = dropout(&self.self_attn.attend(x, &k, &v, self_bias, mode)?, self.dropout, mode)?;
        let x = self.self_norm.forward(&(x + a)?, mode)?;
        let c = self
            .cross_attn
            .attend(&x, &cross_kv.0, &cross_kv.1, Some(cross_bias), mode)?;
        let c = dropout(&c, self.dropout, mode)?;
        let x = self.cross_norm.forward(&(x + c)?, mode)?;
        self.ffn.forward(&x, mode)
    }
}

/// The encoder output as the decoder's cross-attention needs it: keys and values of every
/// decoder layer, computed once per input sequence, and the padding bias of the source.
#[derive(Clone, Debug)]
pub struct CrossAttentionState {
    /// Per decoder layer, (keys, values), each (batch, heads, source len, head_dim).
    pub layers: Vec<(Tensor, Tensor)>,
    /// Additive bias over source positions, (batch, 1, 1, source len).
    pub bias: Tensor,
}

impl CrossAttentionState {
    /// Keeps (and repeats) the rows `rows` (u32 indices into the batch): beam search uses it to
    /// give every beam its input's state.
    pub fn select_rows(&self, rows: &Tensor) -> CResult<CrossAttentionState> {
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.index_select(rows, 0)?, v.index_select(rows, 0)?)))
            .collect::<CResult<Vec<_>>>()?;
        Ok(CrossAttentionState {
            layers,
            bias: self.bias.index_select(rows, 0)?,
        })
    }

    /// Number of rows.
    pub fn batch(&self) -> CResult<usize> {
        self.bias.dim(0)
    }
}

/// Keys and values of the decoder self-attention for the tokens decoded so far.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> KvCache {
        KvCache::default()
    }

    /// Number of decoder positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reorders (and repeats or drops) the cached rows: row i of the result is row `rows[i]`.
    /// Beam search calls it with each surviving beam's parent.
    pub fn reorder(&mut self, rows: &Tensor) -> CResult<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(rows, 0)?;
            *v = v.index_select(rows, 0)?;
        }
        Ok(())
    }
}

/// `MarianMTModel`: encoder, decoder and the language-model head.
pub struct MarianMTModel {
    enc_embed: Embedding,
    dec_embed: Embedding,
    lm_head: Tensor,
    final_logits_bias: Tensor,
    positions: Tensor,
    embed_scale: f64,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    /// The configuration.
    pub config: MarianConfig,
}

/// Removes a parameter from the var map (an alias of a tied one, or a sinusoid table).
fn drop_param(p: &Params, name: &str) -> Result<()> {
    p.varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?
        .remove(name);
    Ok(())
}

/// Renames `from` to `to` in the var map.
fn rename_param(p: &Params, from: &str, to: &str) -> Result<()> {
    let mut data = p
        .varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?;
    if let Some(v) = data.remove(from) {
        data.insert(to.to_string(), v);
    }
    Ok(())
}

impl MarianMTModel {
    /// Builds the model from parameters with Hugging Face names.
    ///
    /// Layouts: transformers 5 saves a tied model with `model.shared.weight` only; older
    /// checkpoints also carry `model.encoder.embed_tokens.weight`,
    /// `model.decoder.embed_tokens.weight`, maybe `lm_head.weight` and the position tables.
    /// Tied aliases and the position tables are removed from `p` (so each parameter is one
    /// variable, trained once and saved once under its transformers 5 name; a checkpoint with
    /// the encoder/decoder copies only gets them renamed to `model.shared.weight`). With
    /// `share_encoder_decoder_embeddings: false`, or with `tie_word_embeddings: false` (as
    /// transformers ties nothing then), the encoder and decoder tables are separate; with
    /// `tie_word_embeddings: false` `lm_head.weight` is its own. A missing
    /// `final_logits_bias` is created as zeros, as transformers does.
    pub fn load(p: &Params, config: &MarianConfig) -> Result<MarianMTModel> {
        let c = config;
        let d = c.d_model;
        let v_src = c.vocab_size;
        let v_tgt = c.target_vocab_size();
        for n in [
            "model.encoder.embed_positions.weight",
            "model.decoder.embed_positions.weight",
        ] {
            drop_param(p, n)?;
        }
        const SHARED: &str = "model.shared.weight";
        const ENC: &str = "model.encoder.embed_tokens.weight";
        const DEC: &str = "model.decoder.embed_tokens.weight";
        const HEAD: &str = "lm_head.weight";
        // transformers ties the encoder and decoder tables to `model.shared` only when the word
        // embeddings are tied too: with `tie_word_embeddings: false` every `_tied_weights_keys`
        // pair is skipped, each side reads its own `embed_tokens` and `model.shared` is saved
        // but never used.
        let (enc_embed, dec_embed) = if c.share_encoder_decoder_embeddings && c.tie_word_embeddings {
            if !p.contains(SHARED) {
                if let Some(alias) = [ENC, DEC].into_iter().find(|n| p.contains(n)) {
                    rename_param(p, alias, SHARED)?;
                } else if p.contains(HEAD) {
                    rename_param(p, HEAD, SHARED)?;
                }
            }
            drop_param(p, ENC)?;
            drop_param(p, DEC)?;
            let shared = Embedding {
                weight: p.get(SHARED, &[v_src, d])?,
            };
            (shared.clone(), shared)
        } else {
            if c.share_encoder_decoder_embeddings && p.contains(SHARED) {
                // A file with only the shared table (older writers): each side starts from a
                // copy of it. The shared table itself is kept, unused, so a save round-trips.
                let shared = p.get(SHARED, &[v_src, d])?;
                for n in [ENC, DEC] {
                    if !p.contains(n) {
                        p.insert(n, &shared.copy()?)?;
                    }
                }
            }
            (
                Embedding::load(p, "model.encoder.embed_tokens", v_src, d)?,
                Embedding::load(p, "model.decoder.embed_tokens", c.decoder_vocab(), d)?,
            )
        };
        let lm_head = if c.tie_word_embeddings {
            drop_param(p, HEAD)?;
            dec_embed.weight.clone()
        } else {
            p.get(HEAD, &[v_tgt, d])?
        };
        if lm_head.dim(0)? != v_tgt {
            return Err(ModelError::Shape {
                path: p.source.clone(),
                name: if c.tie_word_embeddings { DEC.into() } else { HEAD.into() },
                found: lm_head.dims().to_vec(),
                expected: vec![v_tgt, d],
            });
        }
        let final_logits_bias = p.get_or_init("final_logits_bias", &[1, v_tgt], 0.0)?;
        let mut encoder = Vec::with_capacity(c.encoder_layers);
        for i in 0..c.encoder_layers {
            let l = format!("model.encoder.layers.{i}");
            encoder.push(EncoderLayer {
                attn: Attention::load(
                    p,
                    &format!("{l}.self_attn"),
                    d,
                    c.encoder_attention_heads,
                    c.attention_dropout,
                )?,
                attn_norm: LayerNorm::load(p, &format!("{l}.self_attn_layer_norm"), d, LAYER_NORM_EPS)?,
                ffn: FeedForward::load(p, &l, d, c.encoder_ffn_dim, c)?,
                dropout: c.dropout,
            });
        }
        let mut decoder = Vec::with_capacity(c.decoder_layers);
        for i in 0..c.decoder_layers {
            let l = format!("model.decoder.layers.{i}");
            decoder.push(DecoderLayer {
                self_attn: Attention::load(
                    p,
                    &format!("{l}.self_attn"),
                    d,
                    c.decoder_attention_heads,
                    c.attention_dropout,
                )?,
                self_norm: LayerNorm::load(p, &format!("{l}.self_attn_layer_norm"), d, LAYER_NORM_EPS)?,
                cross_attn: Attention::load(
                    p,
                    &format!("{l}.encoder_attn"),
                    d,
                    c.decoder_attention_heads,
                    c.attention_dropout,
                )?,
                cross_norm: LayerNorm::load(p, &format!("{l}.encoder_attn_layer_norm"), d, LAYER_NORM_EPS)?,
                ffn: FeedForward::load(p, &l, d, c.decoder_ffn_dim, c)?,
                dropout: c.dropout,
            });
        }
        Ok(MarianMTModel {
            enc_embed,
            dec_embed,
            lm_head,
            final_logits_bias,
            positions: sinusoidal_positions(c.max_position_embeddings, d, &p.device)?,
            embed_scale: if c.scale_embedding { (d as f64).sqrt() } else { 1.0 },
            encoder,
            decoder,
            config: config.clone(),
        })
    }

    /// Token embeddings × scale + positions `start..start+len`, then dropout.
    fn embed_input(&self, table: &Embedding, ids: &Tensor, start: usize, mode: Mode) -> CResult<Tensor> {
        let (_, len) = ids.dims2()?;
        if start + len > self.config.max_position_embeddings {
            candle_core::bail!(
                "sequence of {} positions is longer than max_position_embeddings ({})",
                start + len,
                self.config.max_position_embeddings
            );
        }
        let x = (embed(table, ids, self.config.pad_token_id, mode)? * self.embed_scale)?;
        let x = x.broadcast_add(&self.positions.narrow(0, start, len)?)?;
        dropout(&x, self.config.dropout, mode)
    }

    /// The encoder's last hidden states, (batch, source len, d_model). `input_ids` u32
    /// (batch, len); `attention_mask` (batch, len) 1 for tokens, 0 for padding.
    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor, mode: Mode) -> CResult<Tensor> {
        let mut x = self.embed_input(&self.enc_embed, input_ids, 0, mode)?;
        let bias = padding_bias(attention_mask)?;
        for layer in &self.encoder {
            if layer_skipped(self.config.encoder_layerdrop, mode, x.device())? {
                continue;
            }
            x = layer.forward(&x, &bias, mode)?;
        }
        Ok(x)
    }

    /// Cross-attention keys and values of every decoder layer for `encoder_hidden`, computed
    /// once and reused for every decoding step.
    pub fn cross_attention_state(
        &self,
        encoder_hidden: &Tensor,
        encoder_attention_mask: &Tensor,
    ) -> CResult<CrossAttentionState> {
        let layers = self
            .decoder
            .iter()
            .map(|l| l.cross_attn.key_values(encoder_hidden))
            .collect::<CResult<Vec<_>>>()?;
        Ok(CrossAttentionState {
            layers,
            bias: padding_bias(encoder_attention_mask)?,
        })
    }

    /// The decoder's last hidden states for `decoder_input_ids` (u32, (batch, len)).
    ///
    /// With a `cache`, the ids are the tokens after those already cached (positions continue
    /// from `cache.len()`) and their keys/values are appended to it; without one, they are the
    /// whole target prefix. `decoder_attention_mask` (batch, cached + len), when given, masks
    /// padded keys on top of the causal mask.
    pub fn decode_hidden(
        &self,
        decoder_input_ids: &Tensor,
        decoder_attention_mask: Option<&Tensor>,
        cross: &CrossAttentionState,
        mut cache: Option<&mut KvCache>,
        mode: Mode,
    ) -> CResult<Tensor> {
        let (_, len) = decoder_input_ids.dims2()?;
        let past = cache.as_ref().map(|c| c.len).unwrap_or(0);
        let mut x = self.embed_input(&self.dec_embed, decoder_input_ids, past, mode)?;
        let causal = if len > 1 {
            Some(causal_bias(past, len, x.device())?)
        } else {
            None
        };
        let self_bias = match (causal, decoder_attention_mask) {
            (Some(c), Some(m)) => Some(c.broadcast_minimum(&padding_bias(m)?)?),
            (None, Some(m)) => Some(padding_bias(m)?),
            (c, None) => c,
        };
        if let Some(c) = cache.as_deref_mut() {
            if c.layers.len() != self.decoder.len() {
                c.layers = vec![None; self.decoder.len()];
            }
        }
        for (i, layer) in self.decoder.iter().enumerate() {
            if layer_skipped(self.config.decoder_layerdrop, mode, x.device())? {
                continue;
            }
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = layer.forward(&x, self_bias.as_ref(), &cross.layers[i], &cross.bias, slot, mode)?;
        }
        if let Some(c) = cache {
            c.len += len;
        }
        Ok(x)
    }

    /// `lm_head(hidden) + final_logits_bias`, (batch, len, target vocab).
    pub fn logits(&self, hidden: &Tensor) -> CResult<Tensor> {
        let (b, len, d) = hidden.dims3()?;
        let l = hidden
            .reshape((b * len, d))?
            .matmul(&self.lm_head.t()?)?
            .reshape((b, len, ()))?;
        l.broadcast_add(&self.final_logits_bias.detach())
    }

    /// Logits for `decoder_input_ids` (see [`decode_hidden`](Self::decode_hidden)).
    pub fn decode(
        &self,
        decoder_input_ids: &Tensor,
        decoder_attention_mask: Option<&Tensor>,
        cross: &CrossAttentionState,
        cache: Option<&mut KvCache>,
        mode: Mode,
    ) -> CResult<Tensor> {
        self.logits(&self.decode_hidden(decoder_input_ids, decoder_attention_mask, cross, cache, mode)?)
    }

    /// The full teacher-forced pass (training, scoring): logits (batch, target len, target vocab).
    /// `decoder_input_ids` are the labels shifted right ([`shift_tokens_right`]); the decoder
    /// sees the causal mask only, as transformers does without a `decoder_attention_mask`.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        decoder_input_ids: &Tensor,
        mode: Mode,
    ) -> CResult<Tensor> {
        let hidden = self.encode(input_ids, attention_mask, mode)?;
        let cross = self.cross_attention_state(&hidden, attention_mask)?;
        self.decode(decoder_input_ids, None, &cross, None, mode)
    }

    /// Device of the parameters.
    pub fn device(&self) -> &Device {
        self.lm_head.device()
    }
}

pub use crate::seq2seq::shift_tokens_right;

/// Mean cross-entropy of `logits` (batch, len, vocab) against `labels` (batch, len), i64,
/// ignoring positions labelled -100 (transformers' seq2seq loss). Has a backward pass.
pub fn seq2seq_loss(logits: &Tensor, labels: &Tensor) -> CResult<Tensor> {
    let (b, len, v) = logits.dims3()?;
    let labels = labels.to_dtype(DType::I64)?.reshape(b * len)?;
    let keep = labels.ge(0i64)?;
    let safe = keep.where_cond(&labels, &labels.zeros_like()?)?;
    let logp = candle_nn::ops::log_softmax(&logits.reshape((b * len, v))?, D::Minus1)?;
    let picked = logp.gather(&safe.unsqueeze(1)?, 1)?.squeeze(1)?;
    let keep = keep.to_dtype(DType::F32)?;
    let n = keep.sum_all()?.to_dtype(DType::F32)?;
    (picked * &keep)?.sum_all()?.neg()?.div(&n)
}

/// What generation keeps between steps: the encoded source and the decoder's cache.
pub struct MarianState {
    /// Cross-attention keys and values of the source.
    pub cross: CrossAttentionState,
    /// Decoder self-attention keys and values.
    pub cache: KvCache,
}

impl Decoder for MarianMTModel {
    type State = MarianState;
    fn device(&self) -> &Device {
        MarianMTModel::device(self)
    }
    fn feed(&self, tokens: &Tensor, state: &mut MarianState) -> CResult<Tensor> {
        let logits = self.decode(tokens, None, &state.cross, Some(&mut state.cache), Mode::Eval)?;
        let n = logits.dim(1)?;
        logits.narrow(1, n - 1, 1)?.squeeze(1)
    }
    fn select_rows(&self, state: &mut MarianState, rows: &Tensor) -> CResult<()> {
        state.cross = state.cross.select_rows(rows)?;
        state.cache.reorder(rows)
    }
}

impl Seq2Seq for MarianMTModel {
    fn start(&self, input_ids: &Tensor, attention_mask: &Tensor) -> CResult<MarianState> {
        let hidden = self.encode(input_ids, attention_mask, Mode::Eval)?;
        Ok(MarianState {
            cross: self.cross_attention_state(&hidden, attention_mask)?,
            cache: KvCache::new(),
        })
    }
}
