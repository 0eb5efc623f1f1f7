//! A ready-to-use text classifier: tokenizer + `BertForSequenceClassification`, batched by
//! length with dynamic padding, results returned in input order.

use crate::bert::{batch_tensor, probabilities, BertForSequenceClassification, BertInput, ProblemType};
use crate::config::BertConfig;
use crate::error::Result;
use crate::nn::{Mode, Params};
use crate::text_tokenizer::TextTokenizer;
use crate::weights::Checkpoint;
use candle_core::Device;
use std::path::{Path, PathBuf};

/// One row's prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Index of the best label (highest logit).
    pub label: usize,
    /// Probabilities per label (softmax; sigmoid for multi-label; the value for regression).
    pub probabilities: Vec<f32>,
    /// Raw logits per label.
    pub logits: Vec<f32>,
}

/// A sequence classifier loaded from a Hugging Face checkpoint folder.
pub struct SequenceClassifier {
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
    /// The model.
    pub model: BertForSequenceClassification,
    /// Its configuration.
    pub config: BertConfig,
    /// Label names in id order.
    pub labels: Vec<String>,
    /// The folder it was loaded from.
    pub dir: PathBuf,
    device: Device,
}

impl SequenceClassifier {
    /// Loads `config.json`, the weights and the tokenizer of `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<SequenceClassifier> {
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let params = Params::from_checkpoint(Checkpoint::load(dir, device)?, device)?;
        let model = BertForSequenceClassification::load(&params, &config)?;
        let tokenizer = TextTokenizer::load(dir, config.max_position_embeddings)?;
        Ok(SequenceClassifier {
            labels: config.labels(),
            tokenizer,
            model,
            config,
            dir: dir.into(),
            device: device.clone(),
        })
    }

    /// Predicts every text (optionally with a second text each), `batch_size` rows at a time,
    /// grouping rows of similar length so padding stays small. `progress` is called with the
    /// number of rows done after each batch. Results are in input order.
    pub fn predict(
        &self,
        texts: &[&str],
        pairs: Option<&[&str]>,
        batch_size: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Prediction>> {
        let batch_size = batch_size.max(1);
        // Tokenize once, then sort by token count so each batch pads to a similar length.
        let rows = self.tokenizer.encode_rows(texts, pairs)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| rows[i].ids.len());
        let mut out: Vec<Option<Prediction>> = vec![None; texts.len()];
        let mut done = 0;
        for chunk in order.chunks(batch_size) {
            let enc = self.tokenizer.pad(&chunk.iter().map(|&i| &rows[i]).collect::<Vec<_>>());
            let input = BertInput {
                input_ids: batch_tensor(&enc.input_ids, &self.device)?,
                token_type_ids: batch_tensor(&enc.token_type_ids, &self.device)?,
                attention_mask: batch_tensor(&enc.attention_mask, &self.device)?,
            };
            let logits = self.model.forward(&input, Mode::Eval)?;
            let probs = probabilities(&logits, self.model.problem)?;
            let logits: Vec<Vec<f32>> = logits.to_vec2()?;
            let probs: Vec<Vec<f32>> = probs.to_vec2()?;
            for ((&i, l), p) in chunk.iter().zip(logits).zip(probs) {
                let label = if self.model.problem == ProblemType::Regression {
                    0
                } else {
                    l.iter()
                        .enumerate()
                        .fold(0, |best, (k, &v)| if v > l[best] { k } else { best })
                };
                out[i] = Some(Prediction {
                    label,
                    probabilities: p,
                    logits: l,
                });
            }
            done += chunk.len();
            progress(done);
        }
        Ok(out.into_iter().flatten().collect())
    }
}
