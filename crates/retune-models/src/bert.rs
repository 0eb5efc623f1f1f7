//! BERT encoder (embeddings, encoder, pooler) and its heads, with Hugging Face parameter names,
//! attention masks in every attention, and real dropout in training mode.

use candle_core::{DType, Device, Result as CResult, Tensor, D};

use crate::config::BertConfig;
use crate::error::Result;
use crate::nn::{activation, dropout, softmax_last, Embedding, LayerNorm, Linear, Mode, Params};

/// A batch of tokenized inputs: ids, token types and attention mask, each (batch, length) u32.
#[derive(Clone, Debug)]
pub struct BertInput {
    /// Token ids.
    pub input_ids: Tensor,
    /// Segment ids (0 for the first text, 1 for the pair).
    pub token_type_ids: Tensor,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    dropout: f64,
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    norm: LayerNorm,
    heads: usize,
    head_dim: usize,
    attn_dropout: f64,
    hidden_dropout: f64,
}

struct Layer {
    attention: SelfAttention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
    act: String,
    dropout: f64,
}

/// The BERT encoder with its pooler (Hugging Face's `BertModel`).
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pooler: Option<Linear>,
    /// The configuration.
    pub config: BertConfig,
}

impl BertModel {
    /// Builds the encoder from parameters named `{prefix}embeddings...` (prefix `bert.` for
    /// checkpoints with a head, empty for a bare `BertModel`).
    pub fn load(p: &Params, prefix: &str, config: &BertConfig) -> Result<BertModel> {
        let c = config;
        let h = c.hidden_size;
        let e = |n: &str| format!("{prefix}embeddings.{n}");
        let embeddings = Embeddings {
            word: Embedding::load(p, &e("word_embeddings"), c.vocab_size, h)?,
            position: Embedding::load(p, &e("position_embeddings"), c.max_position_embeddings, h)?,
            token_type: Embedding::load(p, &e("token_type_embeddings"), c.type_vocab_size, h)?,
            norm: LayerNorm::load(p, &e("LayerNorm"), h, c.layer_norm_eps)?,
            dropout: c.hidden_dropout_prob,
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = |n: &str| format!("{prefix}encoder.layer.{i}.{n}");
            layers.push(Layer {
                attention: SelfAttention {
                    query: Linear::load(p, &l("attention.self.query"), h, h)?,
                    key: Linear::load(p, &l("attention.self.key"), h, h)?,
                    value: Linear::load(p, &l("attention.self.value"), h, h)?,
                    output: Linear::load(p, &l("attention.output.dense"), h, h)?,
                    norm: LayerNorm::load(p, &l("attention.output.LayerNorm"), h, c.layer_norm_eps)?,
                    heads: c.num_attention_heads,
                    head_dim: c.head_dim(),
                    attn_dropout: c.attention_probs_dropout_prob,
                    hidden_dropout: c.hidden_dropout_prob,
                },
                intermediate: Linear::load(p, &l("intermediate.dense"), h, c.intermediate_size)?,
                output: Linear::load(p, &l("output.dense"), c.intermediate_size, h)?,
                norm: LayerNorm::load(p, &l("output.LayerNorm"), h, c.layer_norm_eps)?,
                act: c.hidden_act.clone(),
                dropout: c.hidden_dropout_prob,
            });
        }
        let pooler_name = format!("{prefix}pooler.dense");
        let pooler = if p.contains(&format!("{pooler_name}.weight")) {
            Some(Linear::load(p, &pooler_name, h, h)?)
        } else {
            None
        };
        Ok(BertModel {
            embeddings,
            layers,
            pooler,
            config: config.clone(),
        })
    }

    /// The last hidden states, shape (batch, length, hidden).
    pub fn forward(&self, input: &BertInput, mode: Mode) -> CResult<Tensor> {
        let (b, len) = input.input_ids.dims2()?;
        let device = input.input_ids.device();
        let positions = Tensor::arange(0u32, len as u32, device)?
            .unsqueeze(0)?
            .broadcast_as((b, len))?
            .contiguous()?;
        let emb = &self.embeddings;
        let x = emb.word.forward(&input.input_ids)?;
        let x = (x + emb.position.forward(&positions)?)?;
        let x = (x + emb.token_type.forward(&input.token_type_ids)?)?;
        let x = emb.norm.forward(&x, mode)?;
        let mut x = dropout(&x, emb.dropout, mode)?;
        // (1 - mask) * finfo(f32).min, broadcast over heads and query positions, as transformers does.
        let mask = input.attention_mask.to_dtype(DType::F32)?;
        let bias = ((mask.ones_like()? - mask)? * f32::MIN as f64)?.reshape((b, 1, 1, len))?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias, mode)?;
        }
        Ok(x)
    }

    /// `tanh(W h_[CLS] + b)`, Hugging Face's pooler output (None when the checkpoint has no pooler).
    pub fn pool(&self, hidden: &Tensor) -> CResult<Option<Tensor>> {
        match &self.pooler {
            Some(p) => Ok(Some(p.forward(&hidden.narrow(1, 0, 1)?.squeeze(1)?)?.tanh()?)),
            None => Ok(None),
        }
    }
}

/// Mean of the hidden states over real tokens (sentence-transformers' mean pooling).
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> CResult<Tensor> {
    let m = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
    let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    sum.broadcast_div(&count)
}

impl SelfAttention {
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
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask_bias)?;
        let probs = softmax_last(&scores, mode)?;
        let probs = dropout(&probs, self.attn_dropout, mode)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, len, h))?;
        let out = dropout(&self.output.forward(&ctx)?, self.hidden_dropout, mode)?;
        self.norm.forward(&(out + x)?, mode)
    }
}

impl Layer {
    fn forward(&self, x: &Tensor, mask_bias: &Tensor, mode: Mode) -> CResult<Tensor> {
        let a = self.attention.forward(x, mask_bias, mode)?;
        let i = activation(&self.act, &self.intermediate.forward(&a)?)?;
        let o = dropout(&self.output.forward(&i)?, self.dropout, mode)?;
        self.norm.forward(&(o + a)?, mode)
    }
}

/// The kind of problem a sequence-classification head solves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    /// One label per text (softmax, cross-entropy).
    SingleLabel,
    /// Any number of labels per text (sigmoid, binary cross-entropy).
    MultiLabel,
    /// A real value (mean squared error).
    Regression,
}

impl ProblemType {
    /// From `config.problem_type`, or as transformers infers it (1 label = regression).
    pub fn of(config: &BertConfig) -> ProblemType {
        match config.problem_type.as_deref() {
            Some("multi_label_classification") => ProblemType::MultiLabel,
            Some("regression") => ProblemType::Regression,
            Some(_) => ProblemType::SingleLabel,
            None if config.label_count() == 1 => ProblemType::Regression,
            None => ProblemType::SingleLabel,
        }
    }
}

/// `BertForSequenceClassification`: pooled output, dropout, linear classifier.
pub struct BertForSequenceClassification {
    /// The encoder.
    pub bert: BertModel,
    classifier: Linear,
    dropout: f64,
    /// How outputs are read.
    pub problem: ProblemType,
}

impl BertForSequenceClassification {
    /// Loads the model; a missing classifier is created (N(0, initializer_range), zero bias), as
    /// `from_pretrained` does for a new head.
    pub fn load(p: &Params, config: &BertConfig) -> Result<Self> {
        let (bert, classifier, dropout) = load_with_classifier(p, config)?;
        Ok(BertForSequenceClassification {
            bert,
            classifier,
            dropout,
            problem: ProblemType::of(config),
        })
    }

    /// Logits, shape (batch, labels).
    pub fn forward(&self, input: &BertInput, mode: Mode) -> CResult<Tensor> {
        let hidden = self.bert.forward(input, mode)?;
        let pooled = match self.bert.pool(&hidden)? {
            Some(p) => p,
            None => candle_core::bail!("BertForSequenceClassification needs pooler weights (bert.pooler.dense)"),
        };
        self.classifier.forward(&dropout(&pooled, self.dropout, mode)?)
    }
}

/// `BertForTokenClassification`: dropout and a linear classifier on every token.
pub struct BertForTokenClassification {
    /// The encoder.
    pub bert: BertModel,
    classifier: Linear,
    dropout: f64,
}

impl BertForTokenClassification {
    /// Loads the model (creating a missing classifier as for sequence classification).
    pub fn load(p: &Params, config: &BertConfig) -> Result<Self> {
        let (bert, classifier, dropout) = load_with_classifier(p, config)?;
        Ok(BertForTokenClassification {
            bert,
            classifier,
            dropout,
        })
    }

    /// Logits, shape (batch, length, labels).
    pub fn forward(&self, input: &BertInput, mode: Mode) -> CResult<Tensor> {
        let hidden = self.bert.forward(input, mode)?;
        self.classifier.forward(&dropout(&hidden, self.dropout, mode)?)
    }
}

/// The encoder (under `bert.` when the checkpoint has a head, at the root for a bare
/// `BertModel`), the classifier (created N(0, initializer_range) with a zero bias when absent,
/// as `from_pretrained` does for a new head) and the classifier's dropout.
fn load_with_classifier(p: &Params, config: &BertConfig) -> Result<(BertModel, Linear, f64)> {
    let prefix = if p.contains("bert.embeddings.word_embeddings.weight") {
        "bert."
    } else {
        ""
    };
    let bert = BertModel::load(p, prefix, config)?;
    let classifier = Linear::load_or_init(
        p,
        "classifier",
        config.hidden_size,
        config.label_count(),
        config.initializer_range,
    )?;
    let dropout = config.classifier_dropout.unwrap_or(config.hidden_dropout_prob);
    Ok((bert, classifier, dropout))
}

/// Probabilities from logits: softmax (single label), sigmoid (multi-label), identity (regression).
pub fn probabilities(logits: &Tensor, problem: ProblemType) -> CResult<Tensor> {
    match problem {
        ProblemType::SingleLabel => candle_nn::ops::softmax(logits, D::Minus1),
        ProblemType::MultiLabel => candle_nn::ops::sigmoid(logits),
        ProblemType::Regression => Ok(logits.clone()),
    }
}

/// A batch tensor (batch, length) of u32 from rows of ids.
pub fn batch_tensor(rows: &[Vec<u32>], device: &Device) -> CResult<Tensor> {
    let len = rows.first().map(|r| r.len()).unwrap_or(0);
    let flat: Vec<u32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), len), device)
}
