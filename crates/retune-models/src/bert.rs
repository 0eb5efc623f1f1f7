//! BERT (`model_type` `bert`): its config, the encoder (embeddings, shared post-LN layers,
//! pooler) and its heads, with Hugging Face parameter names. RoBERTa reuses the encoder with
//! its own position ids ([`Positions`]).

use candle_core::{Result as CResult, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::arch::{no_head, Architecture, EncoderInput, EncoderModel, Head, SpecialTokens, NO_CLASS};
use crate::config::{check_activation, check_heads, invalid, LabelConfig};
use crate::error::Result;
use crate::layers::{first_token, run_layers_tapped, EncoderLayer, LayerNames, LayerShape, OutputRows};
use crate::nn::{dropout, Embedding, LayerNorm, Linear, Mode, Params};

fn d_vocab() -> usize {
    30522
}
fn d_hidden() -> usize {
    768
}
fn d_layers() -> usize {
    12
}
fn d_heads() -> usize {
    12
}
fn d_inter() -> usize {
    3072
}
fn d_act() -> String {
    "gelu".into()
}
fn d_drop() -> f64 {
    0.1
}
fn d_maxpos() -> usize {
    512
}
fn d_types() -> usize {
    2
}
fn d_init() -> f64 {
    0.02
}
fn d_eps() -> f64 {
    1e-12
}
fn d_pos_type() -> String {
    "absolute".into()
}

/// `BertConfig` as `transformers` reads it; every default is Hugging Face's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size. Default 30522.
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Hidden size. Default 768.
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    /// Transformer layers. Default 12.
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads. Default 12.
    #[serde(default = "d_heads")]
    pub num_attention_heads: usize,
    /// Feed-forward size. Default 3072.
    #[serde(default = "d_inter")]
    pub intermediate_size: usize,
    /// Activation: `gelu` (erf), `gelu_new` / `gelu_pytorch_tanh` (tanh), `relu`. Default `gelu`.
    #[serde(default = "d_act")]
    pub hidden_act: String,
    /// Dropout on hidden states. Default 0.1.
    #[serde(default = "d_drop")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities. Default 0.1.
    #[serde(default = "d_drop")]
    pub attention_probs_dropout_prob: f64,
    /// Maximum positions. Default 512.
    #[serde(default = "d_maxpos")]
    pub max_position_embeddings: usize,
    /// Token types. Default 2.
    #[serde(default = "d_types")]
    pub type_vocab_size: usize,
    /// Std of the normal initializer. Default 0.02.
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    /// LayerNorm epsilon. Default 1e-12.
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id (null in some configs). Default 0 (1 for RoBERTa).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// Only `absolute` is supported. Default `absolute`.
    #[serde(default = "d_pos_type")]
    pub position_embedding_type: String,
    /// Dropout before the classifier; `None` uses `hidden_dropout_prob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
}

impl BertConfig {
    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The padding id (0 when the config has none).
    pub fn pad_id(&self) -> u32 {
        self.pad_token_id.unwrap_or(0)
    }

    /// Checks the fields the model code relies on.
    pub fn check(&self, path: &Path) -> Result<()> {
        check_heads(
            path,
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
        )?;
        if self.position_embedding_type != "absolute" {
            return Err(invalid(
                path,
                format!(
                    "field 'position_embedding_type': '{}' is not supported (only 'absolute')",
                    self.position_embedding_type
                ),
            ));
        }
        check_activation(path, "hidden_act", &self.hidden_act)
    }

    fn layer_shape(&self) -> LayerShape {
        LayerShape {
            hidden: self.hidden_size,
            intermediate: self.intermediate_size,
            heads: self.num_attention_heads,
            eps: self.layer_norm_eps,
            act: self.hidden_act.clone(),
            attn_dropout: self.attention_probs_dropout_prob,
            attn_out_dropout: self.hidden_dropout_prob,
            ffn_dropout: self.hidden_dropout_prob,
        }
    }

    /// Dropout before a classifier.
    pub fn classifier_dropout_p(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }
}

/// BERT's parameter names inside `encoder.layer.N.`.
const BERT_LAYER: LayerNames = LayerNames {
    qkvo: [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
    ],
    attn_norm: "attention.output.LayerNorm",
    ffn: ["intermediate.dense", "output.dense"],
    ffn_norm: "output.LayerNorm",
};

/// How position ids are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    /// 0, 1, 2, ... for every row (BERT).
    Absolute,
    /// `padding_idx + 1 + k` for the k-th non-pad token, `padding_idx` for pads (RoBERTa's
    /// `create_position_ids_from_input_ids`).
    AfterPadding(u32),
}

impl Positions {
    /// Position ids (batch, length) for `input_ids`.
    pub fn ids(self, input_ids: &Tensor) -> CResult<Tensor> {
        let (b, len) = input_ids.dims2()?;
        match self {
            Positions::Absolute => Tensor::arange(0u32, len as u32, input_ids.device())?
                .unsqueeze(0)?
                .broadcast_as((b, len))?
                .contiguous(),
            Positions::AfterPadding(pad) => {
                let ids = input_ids.to_vec2::<u32>()?;
                let mut out = Vec::with_capacity(b * len);
                for row in ids {
                    let mut k = 0;
                    for id in row {
                        if id == pad {
                            out.push(pad);
                        } else {
                            k += 1;
                            out.push(pad + k);
                        }
                    }
                }
                Tensor::from_vec(out, (b, len), input_ids.device())
            }
        }
    }
}

/// Whether the encoder has its pooler (`pooler.dense` + tanh on the first token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooler {
    /// Needed (BERT's sequence classification): created when the checkpoint has none, as
    /// `from_pretrained` does.
    Required,
    /// Kept when the checkpoint has one (a bare `BertModel`).
    IfPresent,
    /// Not used (token classification, RoBERTa's heads): dropped from the parameters.
    Unused,
}

/// The BERT encoder with its optional pooler (Hugging Face's `BertModel`, and RoBERTa's).
pub struct BertModel {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    dropout: f64,
    positions: Positions,
    layers: Vec<EncoderLayer>,
    pub(crate) pooler: Option<Linear>,
    /// The configuration.
    pub config: BertConfig,
}

impl BertModel {
    /// Builds the encoder from parameters named `{prefix}embeddings...` (`bert.`, `roberta.`).
    pub fn load(p: &Params, prefix: &str, c: &BertConfig, positions: Positions, pooler: Pooler) -> Result<BertModel> {
        let h = c.hidden_size;
        let e = |n: &str| format!("{prefix}embeddings.{n}");
        let shape = c.layer_shape();
        let layers = (0..c.num_hidden_layers)
            .map(|i| EncoderLayer::load(p, &format!("{prefix}encoder.layer.{i}."), &BERT_LAYER, &shape))
            .collect::<Result<Vec<_>>>()?;
        let pooler_name = format!("{prefix}pooler.dense");
        // A classification checkpoint without a pooler gets a new one, as from_pretrained does.
        let pooler = match pooler {
            Pooler::Required => Some(Linear::load_or_init(p, &pooler_name, h, h, c.initializer_range)?),
            Pooler::IfPresent if p.contains(&format!("{pooler_name}.weight")) => {
                Some(Linear::load(p, &pooler_name, h, h)?)
            }
            _ => None,
        };
        Ok(BertModel {
            word: Embedding::load(p, &e("word_embeddings"), c.vocab_size, h)?,
            position: Embedding::load(p, &e("position_embeddings"), c.max_position_embeddings, h)?,
            token_type: Embedding::load(p, &e("token_type_embeddings"), c.type_vocab_size, h)?,
            norm: LayerNorm::load(p, &e("LayerNorm"), h, c.layer_norm_eps)?,
            dropout: c.hidden_dropout_prob,
            positions,
            layers,
            pooler,
            config: c.clone(),
        })
    }

    /// The last hidden states of the positions `rows` names, shape (batch, positions, hidden).
    pub fn forward(&self, input: &EncoderInput, mode: Mode, rows: OutputRows) -> CResult<Tensor> {
        self.forward_tapped(input, mode, rows, &mut |_| {})
    }

    /// [`BertModel::forward`], handing each layer's output to `tap`.
    pub fn forward_tapped(
        &self,
        input: &EncoderInput,
        mode: Mode,
        rows: OutputRows,
        tap: &mut dyn FnMut(&Tensor),
    ) -> CResult<Tensor> {
        let positions = self.positions.ids(&input.input_ids)?;
        let x = self.word.forward(&input.input_ids)?;
        let x = (x + self.position.forward(&positions)?)?;
        let x = (x + self.token_type.forward(&input.token_type_ids)?)?;
        let x = self.norm.forward(&x, mode)?;
        let x = dropout(&x, self.dropout, mode)?;
        run_layers_tapped(&self.layers, x, &input.attention_mask, mode, rows, tap)
    }

    /// `tanh(W h_[CLS] + b)`, Hugging Face's pooler output (None when the model has no pooler).
    pub fn pool(&self, hidden: &Tensor) -> CResult<Option<Tensor>> {
        match &self.pooler {
            Some(p) => Ok(Some(p.forward(&first_token(hidden)?)?.tanh()?)),
            None => Ok(None),
        }
    }
}

/// BERT with a head: `BertModel`, `BertForSequenceClassification` (pooler, dropout, linear) or
/// `BertForTokenClassification` (dropout, linear on every token).
pub struct BertWithHead {
    /// The encoder.
    pub bert: BertModel,
    classifier: Option<Linear>,
    dropout: f64,
    head: Head,
}

impl EncoderModel for BertWithHead {
    fn hidden_rows(&self, input: &EncoderInput, mode: Mode, rows: OutputRows) -> CResult<Tensor> {
        self.bert.forward(input, mode, rows)
    }

    fn layer_states(&self, input: &EncoderInput, mode: Mode) -> CResult<Vec<Tensor>> {
        let mut out = Vec::new();
        self.bert
            .forward_tapped(input, mode, OutputRows::All, &mut |t| out.push(t.clone()))?;
        Ok(out)
    }

    fn head_rows(&self) -> OutputRows {
        match self.head {
            Head::SequenceClassification => OutputRows::First,
            _ => OutputRows::All,
        }
    }

    fn pooler_output(&self, hidden: &Tensor) -> CResult<Option<Tensor>> {
        self.bert.pool(hidden)
    }

    fn head_input(&self, hidden: &Tensor) -> CResult<Tensor> {
        match self.head {
            Head::SequenceClassification => first_token(hidden),
            _ => Ok(hidden.clone()),
        }
    }

    fn head_on(&self, x: &Tensor, mode: Mode) -> CResult<Tensor> {
        let Some(classifier) = &self.classifier else {
            return Ok(x.clone());
        };
        match (self.head, &self.bert.pooler) {
            (Head::SequenceClassification, Some(pooler)) => {
                let pooled = pooler.forward(x)?.tanh()?;
                classifier.forward(&dropout(&pooled, self.dropout, mode)?)
            }
            (Head::SequenceClassification, None) => {
                candle_core::bail!("BertForSequenceClassification needs pooler weights (bert.pooler.dense)")
            }
            _ => classifier.forward(&dropout(x, self.dropout, mode)?),
        }
    }
}

impl Architecture for BertConfig {
    fn model_type(&self) -> &'static str {
        "bert"
    }
    fn hf_class(&self, head: Head) -> &'static str {
        match head {
            Head::Base => "BertModel",
            Head::SequenceClassification => "BertForSequenceClassification",
            Head::TokenClassification => "BertForTokenClassification",
            Head::CausalLm => NO_CLASS,
        }
    }
    fn prefix(&self) -> &'static str {
        "bert."
    }
    fn outside_encoder(&self) -> &'static [&'static str] {
        &["classifier", "cls", "qa_outputs"]
    }
    fn layers_path(&self) -> &'static str {
        "encoder.layer"
    }
    fn num_layers(&self) -> usize {
        self.num_hidden_layers
    }
    fn hidden_size(&self) -> usize {
        self.hidden_size
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
        self.pad_id()
    }
    fn special_tokens(&self) -> SpecialTokens {
        SpecialTokens {
            pad: "[PAD]",
            unk: "[UNK]",
        }
    }
    fn lora_targets(&self) -> &'static [&'static str] {
        &["attention.self.query", "attention.self.value"]
    }
    fn head_modules(&self, head: Head) -> &'static [&'static str] {
        match head {
            Head::Base => &[],
            Head::SequenceClassification => &["pooler.dense", "classifier"],
            Head::TokenClassification => &["classifier"],
            Head::CausalLm => &[],
        }
    }
    fn output_projection(&self, head: Head) -> Option<&'static str> {
        matches!(head, Head::SequenceClassification | Head::TokenClassification).then_some("classifier")
    }
    fn build(&self, p: &Params, head: Head, labels: &LabelConfig) -> Result<Box<dyn EncoderModel>> {
        let pooler = match head {
            Head::CausalLm => return Err(no_head(p, "bert", head)),
            Head::Base => Pooler::IfPresent,
            Head::SequenceClassification => Pooler::Required,
            Head::TokenClassification => Pooler::Unused,
        };
        let bert = BertModel::load(p, "bert.", self, Positions::Absolute, pooler)?;
        let classifier = match head {
            Head::Base => None,
            _ => Some(Linear::load_or_init(
                p,
                "classifier",
                self.hidden_size,
                labels.label_count(),
                self.initializer_range,
            )?),
        };
        Ok(Box::new(BertWithHead {
            bert,
            classifier,
            dropout: self.classifier_dropout_p(),
            head,
        }))
    }
    fn validate(&self, path: &Path) -> Result<()> {
        self.check(path)
    }
}
