//! A ready-to-use text classifier: tokenizer + a sequence-classification model of any supported
//! family, batched by length with dynamic padding, results returned in input order.

use crate::arch::{EncoderInput, EncoderModel, Head, ModelConfig};
use crate::batches::map_batches;
use crate::config::ProblemType;
use crate::error::Result;
use crate::nn::Mode;
use crate::text_tokenizer::TextTokenizer;
use candle_core::{Device, Result as CResult, Tensor, D};
use std::path::{Path, PathBuf};

/// The config, the model with `head` and the tokenizer of the folder `dir`.
fn load_parts(dir: &Path, head: Head, device: &Device) -> Result<(ModelConfig, Box<dyn EncoderModel>, TextTokenizer)> {
    let config = ModelConfig::from_dir(dir)?;
    let (_params, model) = config.load_model(dir, head, device)?;
    let tokenizer = TextTokenizer::for_model(dir, &config, usize::MAX)?;
    Ok((config, model, tokenizer))
}

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
    pub model: Box<dyn EncoderModel>,
    /// Its configuration.
    pub config: ModelConfig,
    /// How outputs are read.
    pub problem: ProblemType,
    /// Label names in id order.
    pub labels: Vec<String>,
    /// The folder it was loaded from.
    pub dir: PathBuf,
    device: Device,
}

impl SequenceClassifier {
    /// Loads `config.json`, the weights and the tokenizer of `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<SequenceClassifier> {
        let (config, model, tokenizer) = load_parts(dir, Head::SequenceClassification, device)?;
        Ok(SequenceClassifier {
            labels: config.labels.labels(),
            problem: config.labels.problem(),
            tokenizer,
            model,
            config,
            dir: dir.into(),
            device: device.clone(),
        })
    }

    /// Predicts every text (optionally with a second text each), `batch_size` rows at a time,
    /// grouping rows of similar length so padding stays small, several batches at a time
    /// ([`map_batches`]). `progress` is called with the number of rows done after each batch.
    /// Results are in input order.
    pub fn predict(
        &self,
        texts: &[&str],
        pairs: Option<&[&str]>,
        batch_size: usize,
        progress: impl FnMut(usize),
    ) -> Result<Vec<Prediction>> {
        // Tokenize once, then sort by token count so each batch pads to a similar length.
        let rows = self.tokenizer.encode_rows(texts, pairs)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| rows[i].ids.len());
        let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let per_batch = map_batches(&batches, progress, |chunk| -> Result<Vec<Prediction>> {
            let enc = self.tokenizer.pad(&chunk.iter().map(|&i| &rows[i]).collect::<Vec<_>>());
            let input = EncoderInput::from_batch(&enc, &self.device)?;
            let logits = self.model.logits(&input, Mode::Eval)?;
            let probs = probabilities(&logits, self.problem)?;
            let logits: Vec<Vec<f32>> = logits.to_vec2()?;
            let probs: Vec<Vec<f32>> = probs.to_vec2()?;
            Ok(logits
                .into_iter()
                .zip(probs)
                .map(|(l, p)| {
                    let label = if self.problem == ProblemType::Regression {
                        0
                    } else {
                        l.iter()
                            .enumerate()
                            .fold(0, |best, (k, &v)| if v > l[best] { k } else { best })
                    };
                    Prediction {
                        label,
                        probabilities: p,
                        logits: l,
                    }
                })
                .collect())
        })?;
        let mut out: Vec<Option<Prediction>> = vec![None; texts.len()];
        for (chunk, preds) in batches.iter().zip(per_batch) {
            for (&i, p) in chunk.iter().zip(preds) {
                out[i] = Some(p);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// One token's predicted tag.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TokenTag {
    /// The token as the tokenizer writes it (`##ing`, `Ġthe`, `▁the`).
    pub token: String,
    /// Byte range in the text.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// Index of the best label.
    pub label: usize,
    /// Its softmax probability.
    pub probability: f32,
    /// The word (of the tokenizer's pre-tokenizer) the token belongs to.
    pub word: Option<usize>,
}

/// A token tagger (a `*ForTokenClassification` checkpoint of any supported family).
pub struct TokenTagger {
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
    /// The model.
    pub model: Box<dyn EncoderModel>,
    /// Its configuration.
    pub config: ModelConfig,
    /// Label names in id order.
    pub labels: Vec<String>,
    device: Device,
}

impl TokenTagger {
    /// Loads `config.json`, the weights and the tokenizer of `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<TokenTagger> {
        let (config, model, tokenizer) = load_parts(dir, Head::TokenClassification, device)?;
        Ok(TokenTagger {
            labels: config.labels.labels(),
            tokenizer,
            model,
            config,
            device: device.clone(),
        })
    }

    /// Tags every token (special tokens left out) of every text, `batch_size` texts at a time
    /// grouped by length, several batches at a time ([`map_batches`]); `progress` gets the texts
    /// done. Results are in input order.
    pub fn predict(
        &self,
        texts: &[&str],
        batch_size: usize,
        progress: impl FnMut(usize),
    ) -> Result<Vec<Vec<TokenTag>>> {
        let rows = self.tokenizer.encode_spans(texts)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| rows[i].0.ids.len());
        let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let per_batch = map_batches(&batches, progress, |chunk| -> Result<Vec<Vec<TokenTag>>> {
            let enc = self
                .tokenizer
                .pad(&chunk.iter().map(|&i| &rows[i].0).collect::<Vec<_>>());
            let input = EncoderInput::from_batch(&enc, &self.device)?;
            let probs = candle_nn::ops::softmax(&self.model.logits(&input, Mode::Eval)?, D::Minus1)?;
            let best: Vec<Vec<u32>> = probs.argmax(D::Minus1)?.to_vec2()?;
            let top: Vec<Vec<f32>> = probs.max(D::Minus1)?.to_vec2()?;
            Ok(chunk
                .iter()
                .enumerate()
                .map(|(j, &i)| {
                    let spans = &rows[i].1;
                    (0..spans.tokens.len())
                        .filter(|&t| !spans.special[t])
                        .map(|t| TokenTag {
                            token: spans.tokens[t].clone(),
                            start: spans.offsets[t].0,
                            end: spans.offsets[t].1,
                            label: best[j][t] as usize,
                            probability: top[j][t],
                            word: spans.words[t],
                        })
                        .collect()
                })
                .collect())
        })?;
        let mut out: Vec<Vec<TokenTag>> = vec![Vec::new(); texts.len()];
        for (chunk, tags) in batches.iter().zip(per_batch) {
            for (&i, t) in chunk.iter().zip(tags) {
                out[i] = t;
            }
        }
        Ok(out)
    }
}

/// Probabilities from logits: softmax (single label), sigmoid (multi-label), identity (regression).
pub fn probabilities(logits: &Tensor, problem: ProblemType) -> CResult<Tensor> {
    match problem {
        ProblemType::SingleLabel => candle_nn::ops::softmax(logits, D::Minus1),
        ProblemType::MultiLabel => candle_nn::ops::sigmoid(logits),
        ProblemType::Regression => Ok(logits.clone()),
    }
}
