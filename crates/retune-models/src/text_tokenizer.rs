//! Text tokenizers for encoders: `tokenizer.json` (the `tokenizers` crate), or `vocab.txt` with
//! `tokenizer_config.json` (BERT WordPiece, lower-casing as configured). Batches are padded to
//! their longest row (dynamic padding) and truncated to the model's maximum length.

use crate::error::{ModelError, Result};
use std::path::Path;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{EncodeInput, Tokenizer, TruncationParams};

/// A batch of encoded texts, padded to its longest row.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBatch {
    /// Token ids per row.
    pub input_ids: Vec<Vec<u32>>,
    /// Token types per row.
    pub token_type_ids: Vec<Vec<u32>>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<Vec<u32>>,
}

/// One encoded text, unpadded.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedRow {
    /// Token ids (special tokens included).
    pub ids: Vec<u32>,
    /// Token types.
    pub type_ids: Vec<u32>,
}

/// A sentence of words, encoded: token ids (special tokens included) and the word of each
/// token (None for special tokens).
#[derive(Clone, Debug, PartialEq)]
pub struct WordEncoding {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Index of the word each token comes from.
    pub words: Vec<Option<usize>>,
}

/// Where an encoded row's tokens come from.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSpans {
    /// Token strings.
    pub tokens: Vec<String>,
    /// Byte range of each token in its text ((0, 0) for special tokens).
    pub offsets: Vec<(usize, usize)>,
    /// Whether each token is a special token.
    pub special: Vec<bool>,
    /// The pre-tokenizer's word each token belongs to (None for special tokens).
    pub words: Vec<Option<usize>>,
}

impl EncodedRow {
    fn of(e: &tokenizers::Encoding) -> EncodedRow {
        EncodedRow {
            ids: e.get_ids().to_vec(),
            type_ids: e.get_type_ids().to_vec(),
        }
    }
}

/// A tokenizer error while encoding (not tied to a file).
fn encode_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer {
        path: "<tokenizer>".into(),
        message: e.to_string(),
    }
}

/// A tokenizer for an encoder checkpoint.
pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    unk_id: Option<u32>,
    /// Longest sequence kept (longer inputs are truncated).
    pub max_length: usize,
}

fn tok_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer {
        path: path.into(),
        message: e.to_string(),
    }
}

impl TextTokenizer {
    /// Loads the tokenizer of the model folder `dir`, configured by `config` (the longest input
    /// the model takes, its padding and unknown tokens when the tokenizer files name none);
    /// `max_length` caps sequence length further.
    pub fn for_model(dir: &Path, config: &crate::arch::ModelConfig, max_length: usize) -> Result<TextTokenizer> {
        let arch = config.arch();
        Self::load_with(
            dir,
            max_length.min(arch.max_positions()),
            arch.special_tokens(),
            arch.pad_token_id(),
        )
    }

    /// Loads the tokenizer of the model folder `dir` with BERT's special tokens as fallbacks;
    /// `max_length` caps sequence length.
    pub fn load(dir: &Path, max_length: usize) -> Result<TextTokenizer> {
        let bert = crate::arch::SpecialTokens {
            pad: "[PAD]",
            unk: "[UNK]",
        };
        Self::load_with(dir, max_length, bert, 0)
    }

    fn load_with(
        dir: &Path,
        max_length: usize,
        special: crate::arch::SpecialTokens,
        pad_fallback: u32,
    ) -> Result<TextTokenizer> {
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: serde_json::Value = match std::fs::read_to_string(&cfg_path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| tok_err(&cfg_path, e))?,
            Err(_) => serde_json::Value::Null,
        };
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        let mut inner = if json.exists() {
            // `tokenizers` panics on some malformed files: one error naming the file instead.
            retune_data::guard::catch_quietly(|| Tokenizer::from_file(&json))
                .map_err(|why| tok_err(&json, format!("malformed tokenizer.json ({why})")))?
                .map_err(|e| tok_err(&json, e))?
        } else if vocab.exists() {
            Self::wordpiece(&vocab, &cfg, special.unk)?
        } else {
            return Err(ModelError::Tokenizer {
                path: dir.into(),
                message: "no tokenizer.json or vocab.txt".into(),
            });
        };
        let model_max = cfg
            .get("model_max_length")
            .and_then(|v| v.as_u64())
            .map(|v| v as usize)
            .unwrap_or(usize::MAX);
        let max_length = max_length.min(model_max);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| tok_err(dir, e))?;
        inner.with_padding(None);
        // tokenizer_config.json names special tokens as strings or as {"content": ...} objects.
        let named = |key: &str| {
            cfg.get(key)
                .and_then(|v| v.as_str().or_else(|| v.get("content").and_then(|c| c.as_str())))
                .and_then(|t| inner.token_to_id(t))
        };
        let pad_id = named("pad_token")
            .or_else(|| inner.token_to_id(special.pad))
            .unwrap_or(pad_fallback);
        let unk_id = named("unk_token").or_else(|| inner.token_to_id(special.unk));
        // A post-processor template naming a token the vocabulary lacks makes `tokenizers` panic
        // at the first encoding: try one now, so such a file is one error at load.
        let probe = retune_data::guard::catch_quietly(|| {
            inner
                .encode("a", true)
                .and_then(|_| inner.encode(("a", "b"), true))
                .map(|_| ())
        });
        if let Err(why) = probe {
            return Err(tok_err(
                if json.exists() { &json } else { &vocab },
                format!("malformed tokenizer (encoding a test input failed: {why})"),
            ));
        }
        Ok(TextTokenizer {
            inner,
            pad_id,
            unk_id,
            max_length,
        })
    }

    fn wordpiece(vocab: &Path, cfg: &serde_json::Value, unk: &str) -> Result<Tokenizer> {
        let lower = cfg.get("do_lower_case").and_then(|v| v.as_bool()).unwrap_or(true);
        let strip_accents = cfg.get("strip_accents").and_then(|v| v.as_bool());
        let chinese = cfg
            .get("tokenize_chinese_chars")
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        let wp = WordPiece::from_file(&vocab.to_string_lossy())
            .unk_token(unk.into())
            .build()
            .map_err(|e| tok_err(vocab, e))?;
        let mut t = Tokenizer::new(wp);
        t.with_normalizer(Some(BertNormalizer::new(true, chinese, strip_accents, lower)))
            .map_err(|e| tok_err(vocab, e))?;
        t.with_pre_tokenizer(Some(BertPreTokenizer));
        let id = |s: &str| {
            t.token_to_id(s)
                .ok_or_else(|| tok_err(vocab, format!("special token {s} is not in the vocabulary")))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        let post = TemplateProcessing::builder()
            .try_single("[CLS] $A [SEP]")
            .and_then(|b| b.try_pair("[CLS] $A [SEP] $B:1 [SEP]:1"))
            .map_err(|e| tok_err(vocab, e))?
            .special_tokens(vec![("[CLS]", cls), ("[SEP]", sep)])
            .build()
            .map_err(|e| tok_err(vocab, e))?;
        t.with_post_processor(Some(post));
        t.with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
        Ok(t)
    }

    /// Encodes texts (with optional second texts) without padding: one row of
    /// `(ids, token types)` each, truncated to `max_length`.
    pub fn encode_rows(&self, texts: &[&str], pairs: Option<&[&str]>) -> Result<Vec<EncodedRow>> {
        let inputs: Vec<EncodeInput> = match pairs {
            Some(p) => texts
                .iter()
                .zip(p)
                .map(|(a, b)| EncodeInput::Dual((*a).into(), (*b).into()))
                .collect(),
            None => texts.iter().map(|a| EncodeInput::Single((*a).into())).collect(),
        };
        let enc = self.inner.encode_batch(inputs, true).map_err(encode_err)?;
        Ok(enc.iter().map(EncodedRow::of).collect())
    }

    /// Encodes texts like [`TextTokenizer::encode_rows`], also returning each token's text,
    /// byte offsets in its text, and whether it is a special token (`[CLS]`, `</s>`, ...).
    pub fn encode_spans(&self, texts: &[&str]) -> Result<Vec<(EncodedRow, TokenSpans)>> {
        let inputs: Vec<EncodeInput> = texts.iter().map(|a| EncodeInput::Single((*a).into())).collect();
        let enc = self.inner.encode_batch_char_offsets(inputs, true).map_err(encode_err)?;
        Ok(enc
            .iter()
            .zip(texts)
            .map(|(e, text)| {
                // Character offsets to byte offsets of `text`.
                let bytes: Vec<usize> = text.char_indices().map(|(b, _)| b).chain([text.len()]).collect();
                let at = |c: usize| bytes.get(c).copied().unwrap_or(text.len());
                (
                    EncodedRow::of(e),
                    TokenSpans {
                        tokens: e.get_tokens().to_vec(),
                        offsets: e.get_offsets().iter().map(|&(s, t)| (at(s), at(t))).collect(),
                        special: e.get_special_tokens_mask().iter().map(|&m| m == 1).collect(),
                        words: e
                            .get_word_ids()
                            .iter()
                            .zip(e.get_special_tokens_mask())
                            .map(|(w, &m)| if m == 1 { None } else { w.map(|w| w as usize) })
                            .collect(),
                    },
                )
            })
            .collect())
    }

    /// Encodes sentences already split into words (token classification), without truncation,
    /// with special tokens: each token's id and the index of the word it comes from (None for
    /// special tokens). A word the tokenizer turns into no token (a lone U+FE0F, a combining
    /// mark alone) has no token at all. A byte-level BPE (RoBERTa) encodes each word as if a
    /// space preceded it, as `transformers` does for split words (`add_prefix_space=True`, which
    /// it requires there), whatever `tokenizer.json` says.
    pub fn encode_words<S: AsRef<str>>(&self, sentences: &[Vec<S>]) -> Result<Vec<WordEncoding>> {
        let mut inner = self.inner.clone();
        inner.with_truncation(None).map_err(encode_err)?;
        if let Some(tokenizers::PreTokenizerWrapper::ByteLevel(b)) = inner.get_pre_tokenizer() {
            if !b.add_prefix_space {
                let b = b.add_prefix_space(true);
                inner.with_pre_tokenizer(Some(b));
            }
        }
        let inputs: Vec<EncodeInput> = sentences
            .iter()
            .map(|w| EncodeInput::Single(w.iter().map(|x| x.as_ref()).collect::<Vec<&str>>().into()))
            .collect();
        let enc = inner.encode_batch(inputs, true).map_err(encode_err)?;
        Ok(enc
            .iter()
            .map(|e| WordEncoding {
                ids: e.get_ids().to_vec(),
                words: e
                    .get_word_ids()
                    .iter()
                    .zip(e.get_special_tokens_mask())
                    .map(|(w, &special)| if special == 1 { None } else { w.map(|w| w as usize) })
                    .collect(),
            })
            .collect())
    }

    /// The same tokenizer without truncation (to measure how long texts really are).
    pub fn untruncated(&self) -> Result<TextTokenizer> {
        let mut inner = self.inner.clone();
        inner.with_truncation(None).map_err(|e| ModelError::Tokenizer {
            path: "<tokenizer>".into(),
            message: e.to_string(),
        })?;
        Ok(TextTokenizer {
            inner,
            pad_id: self.pad_id,
            unk_id: self.unk_id,
            max_length: usize::MAX,
        })
    }

    /// Pads rows to the longest of them (dynamic padding).
    pub fn pad(&self, rows: &[&EncodedRow]) -> EncodedBatch {
        let len = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let mut out = EncodedBatch {
            input_ids: vec![],
            token_type_ids: vec![],
            attention_mask: vec![],
        };
        for r in rows {
            let n = r.ids.len();
            let pad = |v: &[u32], fill: u32| -> Vec<u32> {
                v.iter().copied().chain(std::iter::repeat_n(fill, len - n)).collect()
            };
            out.input_ids.push(pad(&r.ids, self.pad_id));
            out.token_type_ids.push(pad(&r.type_ids, 0));
            out.attention_mask.push(pad(&vec![1; n], 0));
        }
        out
    }

    /// Encodes texts (with optional second texts) and pads to the longest row.
    pub fn encode_batch(&self, texts: &[&str], pairs: Option<&[&str]>) -> Result<EncodedBatch> {
        let rows = self.encode_rows(texts, pairs)?;
        Ok(self.pad(&rows.iter().collect::<Vec<_>>()))
    }

    /// The unknown token's id, if the vocabulary has one.
    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }

    /// The padding token's id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
