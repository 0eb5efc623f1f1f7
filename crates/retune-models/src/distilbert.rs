//! DistilBERT (`model_type` `distilbert`): its config, the encoder (word + position embeddings,
//! no token types, the shared post-LN layers under `transformer.layer.N` with `q_lin/k_lin/
//! v_lin/out_lin`, `sa_layer_norm`, `ffn.lin1/lin2`, `output_layer_norm`), no pooler, and its
//! heads: `pre_classifier` + ReLU + `classifier` on the first token, or `classifier` per token.

use candle_core::{Result as CResult, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::arch::{no_head, Architecture, EncoderInput, EncoderModel, Head, SpecialTokens, NO_CLASS};
use crate::config::{check_activation, check_heads, LabelConfig};
use crate::error::Result;
use crate::layers::{first_token, run_layers_tapped, EncoderLayer, LayerNames, LayerShape, OutputRows};
use crate::nn::{dropout, Embedding, LayerNorm, Linear, Mode, Params};

fn d_vocab() -> usize {
    30522
}
fn d_maxpos() -> usize {
    512
}
fn d_layers() -> usize {
    6
}
fn d_heads() -> usize {
    12
}
fn d_dim() -> usize {
    768
}
fn d_hidden_dim() -> usize {
    3072
}
fn d_drop() -> f64 {
    0.1
}
fn d_seq_drop() -> f64 {
    0.2
}
fn d_act() -> String {
    "gelu".into()
}
fn d_init() -> f64 {
    0.02
}

/// `DistilBertConfig` as `transformers` reads it; every default is Hugging Face's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistilBertConfig {
    /// Vocabulary size. Default 30522.
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Maximum positions. Default 512.
    #[serde(default = "d_maxpos")]
    pub max_position_embeddings: usize,
    /// Fixed sinusoidal position embeddings (not trained). Default false.
    #[serde(default)]
    pub sinusoidal_pos_embds: bool,
    /// Layers. Default 6.
    #[serde(default = "d_layers")]
    pub n_layers: usize,
    /// Attention heads. Default 12.
    #[serde(default = "d_heads")]
    pub n_heads: usize,
    /// Hidden size. Default 768.
    #[serde(default = "d_dim")]
    pub dim: usize,
    /// Feed-forward size. Default 3072.
    #[serde(default = "d_hidden_dim")]
    pub hidden_dim: usize,
    /// Dropout on embeddings, feed-forward outputs and the token-classification head. Default 0.1.
    #[serde(default = "d_drop")]
    pub dropout: f64,
    /// Dropout on attention probabilities. Default 0.1.
    #[serde(default = "d_drop")]
    pub attention_dropout: f64,
    /// `gelu` or `relu`. Default `gelu`.
    #[serde(default = "d_act")]
    pub activation: String,
    /// Std of the normal initializer. Default 0.02.
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    /// Dropout before the sequence classifier. Default 0.2.
    #[serde(default = "d_seq_drop")]
    pub seq_classif_dropout: f64,
    /// Padding token id. Default 0.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

/// DistilBERT's LayerNorm epsilon (fixed in `transformers`).
const EPS: f64 = 1e-12;

/// DistilBERT's parameter names inside `transformer.layer.N.`.
const DISTILBERT_LAYER: LayerNames = LayerNames {
    qkvo: [
        "attention.q_lin",
        "attention.k_lin",
        "attention.v_lin",
        "attention.out_lin",
    ],
    attn_norm: "sa_layer_norm",
    ffn: ["ffn.lin1", "ffn.lin2"],
    ffn_norm: "output_layer_norm",
};

const POSITIONS: &str = "distilbert.embeddings.position_embeddings.weight";

/// `transformers`' `create_sinusoidal_embeddings`: sin on even, cos on odd columns of
/// `pos / 10000^(2⌊j/2⌋/dim)`.
pub fn sinusoidal_table(rows: usize, dim: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * dim];
    for pos in 0..rows {
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / dim as f64);
            out[pos * dim + j] = if j % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    out
}

/// The DistilBERT encoder (`DistilBertModel`).
pub struct DistilBertModel {
    word: Embedding,
    position: Embedding,
    norm: LayerNorm,
    dropout: f64,
    layers: Vec<EncoderLayer>,
}

impl DistilBertModel {
    /// Builds the encoder from parameters under `distilbert.`; a sinusoidal position table
    /// missing from the checkpoint is computed.
    pub fn load(p: &Params, c: &DistilBertConfig) -> Result<DistilBertModel> {
        let (h, rows) = (c.dim, c.max_position_embeddings);
        if c.sinusoidal_pos_embds && !p.contains(POSITIONS) {
            p.insert(
                POSITIONS,
                &Tensor::from_vec(sinusoidal_table(rows, h), (rows, h), &p.device)?,
            )?;
        }
        let shape = LayerShape {
            hidden: h,
            intermediate: c.hidden_dim,
            heads: c.n_heads,
            eps: EPS,
            act: c.activation.clone(),
            attn_dropout: c.attention_dropout,
            attn_out_dropout: 0.0,
            ffn_dropout: c.dropout,
        };
        let layers = (0..c.n_layers)
            .map(|i| {
                EncoderLayer::load(
                    p,
                    &format!("distilbert.transformer.layer.{i}."),
                    &DISTILBERT_LAYER,
                    &shape,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let mut position = Embedding::load(p, "distilbert.embeddings.position_embeddings", rows, h)?;
        if c.sinusoidal_pos_embds {
            // requires_grad=False in transformers: a fixed table.
            position.weight = position.weight.detach();
        }
        Ok(DistilBertModel {
            word: Embedding::load(p, "distilbert.embeddings.word_embeddings", c.vocab_size, h)?,
            position,
            norm: LayerNorm::load(p, "distilbert.embeddings.LayerNorm", h, EPS)?,
            dropout: c.dropout,
            layers,
        })
    }

    /// The last hidden states of the positions `rows` names, shape (batch, positions, dim).
    pub fn forward(&self, input: &EncoderInput, mode: Mode, rows: OutputRows) -> CResult<Tensor> {
        self.forward_tapped(input, mode, rows, &mut |_| {})
    }

    /// [`DistilBertModel::forward`], handing each layer's output to `tap`.
    pub fn forward_tapped(
        &self,
        input: &EncoderInput,
        mode: Mode,
        rows: OutputRows,
        tap: &mut dyn FnMut(&Tensor),
    ) -> CResult<Tensor> {
        let (b, len) = input.input_ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, input.input_ids.device())?
            .unsqueeze(0)?
            .broadcast_as((b, len))?
            .contiguous()?;
        let x = (self.word.forward(&input.input_ids)? + self.position.forward(&positions)?)?;
        let x = dropout(&self.norm.forward(&x, mode)?, self.dropout, mode)?;
        run_layers_tapped(&self.layers, x, &input.attention_mask, mode, rows, tap)
    }
}

enum DistilBertHead {
    Base,
    Sequence { pre_classifier: Linear, classifier: Linear },
    Token { classifier: Linear },
}

/// DistilBERT with a head.
pub struct DistilBertWithHead {
    /// The encoder.
    pub distilbert: DistilBertModel,
    head: DistilBertHead,
    dropout: f64,
}

impl EncoderModel for DistilBertWithHead {
    fn hidden_rows(&self, input: &EncoderInput, mode: Mode, rows: OutputRows) -> CResult<Tensor> {
        self.distilbert.forward(input, mode, rows)
    }

    fn layer_states(&self, input: &EncoderInput, mode: Mode) -> CResult<Vec<Tensor>> {
        let mut out = Vec::new();
        self.distilbert
            .forward_tapped(input, mode, OutputRows::All, &mut |t| out.push(t.clone()))?;
        Ok(out)
    }

    fn head_rows(&self) -> OutputRows {
        match self.head {
            DistilBertHead::Sequence { .. } => OutputRows::First,
            _ => OutputRows::All,
        }
    }

    fn head_input(&self, hidden: &Tensor) -> CResult<Tensor> {
        match &self.head {
            DistilBertHead::Sequence { .. } => first_token(hidden),
            _ => Ok(hidden.clone()),
        }
    }

    fn head_on(&self, x: &Tensor, mode: Mode) -> CResult<Tensor> {
        let hidden = x;
        match &self.head {
            DistilBertHead::Base => Ok(hidden.clone()),
            DistilBertHead::Sequence {
                pre_classifier,
                classifier,
            } => {
                let x = pre_classifier.forward(x)?.relu()?;
                classifier.forward(&dropout(&x, self.dropout, mode)?)
            }
            DistilBertHead::Token { classifier } => classifier.forward(&dropout(hidden, self.dropout, mode)?),
        }
    }
}

impl Architecture for DistilBertConfig {
    fn model_type(&self) -> &'static str {
        "distilbert"
    }
    fn hf_class(&self, head: Head) -> &'static str {
        match head {
            Head::Base => "DistilBertModel",
            Head::SequenceClassification => "DistilBertForSequenceClassification",
            Head::TokenClassification => "DistilBertForTokenClassification",
            Head::CausalLm => NO_CLASS,
        }
    }
    fn prefix(&self) -> &'static str {
        "distilbert."
    }
    fn outside_encoder(&self) -> &'static [&'static str] {
        &[
            "pre_classifier",
            "classifier",
            "vocab_transform",
            "vocab_layer_norm",
            "vocab_projector",
            "qa_outputs",
        ]
    }
    fn layers_path(&self) -> &'static str {
        "transformer.layer"
    }
    fn num_layers(&self) -> usize {
        self.n_layers
    }
    fn hidden_size(&self) -> usize {
        self.dim
    }
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    fn max_positions(&self) -> usize {
        self.max_position_embeddings
    }
    fn initializer_range(&self) -> f64 {
        self.initializer_range
    }
    fn pad_token_id(&self) -> u32 {
        self.pad_token_id.unwrap_or(0)
    }
    fn special_tokens(&self) -> SpecialTokens {
        SpecialTokens {
            pad: "[PAD]",
            unk: "[UNK]",
        }
    }
    fn lora_targets(&self) -> &'static [&'static str] {
        &["attention.q_lin", "attention.v_lin"]
    }
    fn head_modules(&self, head: Head) -> &'static [&'static str] {
        match head {
            Head::Base => &[],
            Head::SequenceClassification => &["pre_classifier", "classifier"],
            Head::TokenClassification => &["classifier"],
            Head::CausalLm => &[],
        }
    }
    fn output_projection(&self, head: Head) -> Option<&'static str> {
        matches!(head, Head::SequenceClassification | Head::TokenClassification).then_some("classifier")
    }
    fn fixed_params(&self) -> Vec<String> {
        if self.sinusoidal_pos_embds {
            vec![POSITIONS.to_string()]
        } else {
            Vec::new()
        }
    }
    fn build(&self, p: &Params, head: Head, labels: &LabelConfig) -> Result<Box<dyn EncoderModel>> {
        let (h, k, std) = (self.dim, labels.label_count(), self.initializer_range);
        let distilbert = DistilBertModel::load(p, self)?;
        let (head, dropout) = match head {
            Head::CausalLm => return Err(no_head(p, "distilbert", head)),
            Head::Base => (DistilBertHead::Base, 0.0),
            Head::SequenceClassification => (
                DistilBertHead::Sequence {
                    pre_classifier: Linear::load_or_init(p, "pre_classifier", h, h, std)?,
                    classifier: Linear::load_or_init(p, "classifier", h, k, std)?,
                },
                self.seq_classif_dropout,
            ),
            Head::TokenClassification => (
                DistilBertHead::Token {
                    classifier: Linear::load_or_init(p, "classifier", h, k, std)?,
                },
                self.dropout,
            ),
        };
        Ok(Box::new(DistilBertWithHead {
            distilbert,
            head,
            dropout,
        }))
    }
    fn validate(&self, path: &Path) -> Result<()> {
        check_heads(path, ("dim", self.dim), ("n_heads", self.n_heads))?;
        check_activation(path, "activation", &self.activation)
    }
}
