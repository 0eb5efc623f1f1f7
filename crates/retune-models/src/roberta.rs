//! RoBERTa and XLM-R (`model_type` `roberta`, `xlm-roberta`): BERT's encoder with position ids
//! counted from `padding_idx + 1` over non-pad tokens, one token type, no pooler under its
//! heads, and the classification head `classifier.dense` + tanh + `classifier.out_proj` on `<s>`.

use candle_core::{Result as CResult, Tensor};
use std::path::Path;

use crate::arch::{no_head, Architecture, EncoderInput, EncoderModel, Head, SpecialTokens, NO_CLASS};
use crate::bert::{BertConfig, BertModel, Pooler, Positions};
use crate::config::{invalid, LabelConfig};
use crate::error::Result;
use crate::layers::{first_token, OutputRows};
use crate::nn::{dropout, Linear, Mode, Params};

/// Which of the two families shares this config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RobertaKind {
    /// `roberta` (byte-level BPE tokenizers).
    Roberta,
    /// `xlm-roberta` (SentencePiece-Unigram tokenizers, 250k vocabularies).
    XlmRoberta,
}

/// A RoBERTa/XLM-R config: BERT's fields (read with RoBERTa's padding id default, 1).
#[derive(Clone, Debug, PartialEq)]
pub struct RobertaConfig {
    /// The encoder's fields.
    pub encoder: BertConfig,
    /// RoBERTa or XLM-R.
    pub kind: RobertaKind,
}

impl RobertaConfig {
    /// From the BERT fields of a config whose `model_type` is `model_type`.
    pub fn new(encoder: BertConfig, model_type: &str) -> RobertaConfig {
        let kind = if model_type == "xlm-roberta" {
            RobertaKind::XlmRoberta
        } else {
            RobertaKind::Roberta
        };
        RobertaConfig { encoder, kind }
    }

    /// The padding id (RoBERTa's default 1).
    pub fn pad_id(&self) -> u32 {
        self.encoder.pad_token_id.unwrap_or(1)
    }
}

enum RobertaHead {
    Base,
    Sequence { dense: Linear, out_proj: Linear },
    Token { classifier: Linear },
}

/// RoBERTa with a head (`RobertaModel`, `*ForSequenceClassification`, `*ForTokenClassification`).
pub struct RobertaWithHead {
    /// The encoder.
    pub roberta: BertModel,
    head: RobertaHead,
    dropout: f64,
}

impl EncoderModel for RobertaWithHead {
    fn hidden_rows(&self, input: &EncoderInput, mode: Mode, rows: OutputRows) -> CResult<Tensor> {
        self.roberta.forward(input, mode, rows)
    }

    fn layer_states(&self, input: &EncoderInput, mode: Mode) -> CResult<Vec<Tensor>> {
        let mut out = Vec::new();
        self.roberta
            .forward_tapped(input, mode, OutputRows::All, &mut |t| out.push(t.clone()))?;
        Ok(out)
    }

    fn head_rows(&self) -> OutputRows {
        match self.head {
            RobertaHead::Sequence { .. } => OutputRows::First,
            _ => OutputRows::All,
        }
    }

    fn head_input(&self, hidden: &Tensor) -> CResult<Tensor> {
        match &self.head {
            RobertaHead::Sequence { .. } => first_token(hidden),
            _ => Ok(hidden.clone()),
        }
    }

    fn head_on(&self, x: &Tensor, mode: Mode) -> CResult<Tensor> {
        let hidden = x;
        match &self.head {
            RobertaHead::Base => Ok(hidden.clone()),
            RobertaHead::Sequence { dense, out_proj } => {
                let x = dropout(x, self.dropout, mode)?;
                let x = dense.forward(&x)?.tanh()?;
                out_proj.forward(&dropout(&x, self.dropout, mode)?)
            }
            RobertaHead::Token { classifier } => classifier.forward(&dropout(hidden, self.dropout, mode)?),
        }
    }
}

impl Architecture for RobertaConfig {
    fn model_type(&self) -> &'static str {
        match self.kind {
            RobertaKind::Roberta => "roberta",
            RobertaKind::XlmRoberta => "xlm-roberta",
        }
    }
    fn hf_class(&self, head: Head) -> &'static str {
        match (self.kind, head) {
            (RobertaKind::Roberta, Head::Base) => "RobertaModel",
            (RobertaKind::Roberta, Head::SequenceClassification) => "RobertaForSequenceClassification",
            (RobertaKind::Roberta, Head::TokenClassification) => "RobertaForTokenClassification",
            (RobertaKind::XlmRoberta, Head::Base) => "XLMRobertaModel",
            (RobertaKind::XlmRoberta, Head::SequenceClassification) => "XLMRobertaForSequenceClassification",
            (RobertaKind::XlmRoberta, Head::TokenClassification) => "XLMRobertaForTokenClassification",
            (_, Head::CausalLm) => NO_CLASS,
        }
    }
    fn prefix(&self) -> &'static str {
        "roberta."
    }
    fn outside_encoder(&self) -> &'static [&'static str] {
        &["classifier", "lm_head", "qa_outputs"]
    }
    fn layers_path(&self) -> &'static str {
        "encoder.layer"
    }
    fn num_layers(&self) -> usize {
        self.encoder.num_hidden_layers
    }
    fn hidden_size(&self) -> usize {
        self.encoder.hidden_size
    }
    fn vocab_size(&self) -> usize {
        self.encoder.vocab_size
    }
    fn max_positions(&self) -> usize {
        self.encoder
            .max_position_embeddings
            .saturating_sub(self.pad_id() as usize + 1)
    }
    fn initializer_range(&self) -> f64 {
        self.encoder.initializer_range
    }
    fn pad_token_id(&self) -> u32 {
        self.pad_id()
    }
    fn special_tokens(&self) -> SpecialTokens {
        SpecialTokens {
            pad: "<pad>",
            unk: "<unk>",
        }
    }
    fn lora_targets(&self) -> &'static [&'static str] {
        &["attention.self.query", "attention.self.value"]
    }
    fn head_modules(&self, head: Head) -> &'static [&'static str] {
        match head {
            Head::Base | Head::CausalLm => &[],
            _ => &["classifier"],
        }
    }
    fn output_projection(&self, head: Head) -> Option<&'static str> {
        match head {
            Head::Base | Head::CausalLm => None,
            Head::SequenceClassification => Some("classifier.out_proj"),
            Head::TokenClassification => Some("classifier"),
        }
    }
    fn build(&self, p: &Params, head: Head, labels: &LabelConfig) -> Result<Box<dyn EncoderModel>> {
        let c = &self.encoder;
        let (h, k, std) = (c.hidden_size, labels.label_count(), c.initializer_range);
        let roberta = BertModel::load(p, "roberta.", c, Positions::AfterPadding(self.pad_id()), Pooler::Unused)?;
        let head = match head {
            Head::CausalLm => return Err(no_head(p, "roberta", head)),
            Head::Base => RobertaHead::Base,
            Head::SequenceClassification => RobertaHead::Sequence {
                dense: Linear::load_or_init(p, "classifier.dense", h, h, std)?,
                out_proj: Linear::load_or_init(p, "classifier.out_proj", h, k, std)?,
            },
            Head::TokenClassification => RobertaHead::Token {
                classifier: Linear::load_or_init(p, "classifier", h, k, std)?,
            },
        };
        Ok(Box::new(RobertaWithHead {
            roberta,
            head,
            dropout: c.classifier_dropout_p(),
        }))
    }
    fn validate(&self, path: &Path) -> Result<()> {
        self.encoder.check(path)?;
        if self.encoder.max_position_embeddings <= self.pad_id() as usize + 1 {
            return Err(invalid(
                path,
                format!(
                    "field 'max_position_embeddings' ({}) must exceed pad_token_id + 1 (positions start after the padding id)",
                    self.encoder.max_position_embeddings
                ),
            ));
        }
        Ok(())
    }
}
