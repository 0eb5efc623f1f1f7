//! The `tokenizer.json` of a GGUF vocabulary, as the Hugging Face tokenizer it was converted
//! from: byte-level BPE (`tokenizer.ggml.model` `gpt2`) with the vocabulary in id order, the
//! merges in rank order, the control tokens (`token_type` 3) as special added tokens and the
//! user-defined ones (4) as plain added tokens, the pre-tokenizer llama.cpp names in
//! `tokenizer.ggml.pre` (`smollm`: every digit alone, then GPT-2's byte-level split; `gpt-2`),
//! and a BOS token prepended only when `tokenizer.ggml.add_bos_token` says so.

use serde_json::{json, Value as Json};

use super::{bad, Meta};
use crate::error::Result;

/// Pre-tokenizers (`tokenizer.ggml.pre`) this converter rebuilds.
pub const SUPPORTED_PRE: &[&str] = &["default", "gpt-2", "smollm"];

/// The tokenizer files and special ids of a GGUF file.
pub struct GgufTokenizer {
    /// `tokenizer.json`.
    pub tokenizer_json: Json,
    /// `tokenizer_config.json`.
    pub tokenizer_config: Json,
    /// `generation_config.json`.
    pub generation_config: Json,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Beginning-of-sequence id.
    pub bos: Option<u32>,
    /// End-of-sequence id.
    pub eos: Option<u32>,
    /// Padding id.
    pub pad: Option<u32>,
}

fn strings(meta: &Meta, key: &str) -> Result<Vec<String>> {
    let v = meta.required(key)?;
    let arr = v
        .to_vec()
        .map_err(|_| bad(meta.path, format!("GGUF metadata '{key}' is not an array")))?;
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            x.to_string()
                .cloned()
                .map_err(|_| bad(meta.path, format!("GGUF metadata '{key}'[{i}] is not a string")))
        })
        .collect()
}

fn token_types(meta: &Meta, n: usize) -> Result<Vec<i64>> {
    let Some(v) = meta.get("tokenizer.ggml.token_type") else {
        return Ok(vec![1; n]);
    };
    let arr = v
        .to_vec()
        .map_err(|_| bad(meta.path, "GGUF metadata 'tokenizer.ggml.token_type' is not an array"))?;
    if arr.len() != n {
        return Err(bad(
            meta.path,
            format!(
                "GGUF metadata 'tokenizer.ggml.token_type' has {} entries for {n} tokens",
                arr.len()
            ),
        ));
    }
    arr.iter()
        .map(|x| {
            x.to_i32()
                .map(i64::from)
                .or_else(|_| x.to_u32().map(i64::from))
                .map_err(|_| {
                    bad(
                        meta.path,
                        "GGUF metadata 'tokenizer.ggml.token_type' holds a non-integer",
                    )
                })
        })
        .collect()
}

fn byte_level(use_regex: bool) -> Json {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

/// Reads the vocabulary of a GGUF file into tokenizer files.
pub(crate) fn read(meta: &Meta) -> Result<GgufTokenizer> {
    let model = meta.opt_str("tokenizer.ggml.model")?.unwrap_or("(none)");
    if model != "gpt2" {
        return Err(bad(
            meta.path,
            format!("GGUF metadata 'tokenizer.ggml.model' is '{model}': only byte-level BPE vocabularies ('gpt2') are converted"),
        ));
    }
    let pre = meta.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
    let pre_tokenizer = match pre {
        "default" | "gpt-2" => byte_level(true),
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level(true),
        ]}),
        other => {
            return Err(bad(
                meta.path,
                format!(
                    "GGUF metadata 'tokenizer.ggml.pre' is '{other}': supported pre-tokenizers are {}",
                    SUPPORTED_PRE.join(", ")
                ),
            ))
        }
    };
    let tokens = strings(meta, "tokenizer.ggml.tokens")?;
    let types = token_types(meta, tokens.len())?;
    let merges = strings(meta, "tokenizer.ggml.merges")?;
    let id = |key: &str| -> Result<Option<u32>> {
        let v = meta.opt_usize(key)?;
        if let Some(i) = v {
            if i >= tokens.len() {
                return Err(bad(
                    meta.path,
                    format!(
                        "GGUF metadata '{key}' = {i} is outside the vocabulary ({})",
                        tokens.len()
                    ),
                ));
            }
        }
        Ok(v.map(|i| i as u32))
    };
    let (bos, eos, unk, pad) = (
        id("tokenizer.ggml.bos_token_id")?,
        id("tokenizer.ggml.eos_token_id")?,
        id("tokenizer.ggml.unknown_token_id")?,
        id("tokenizer.ggml.padding_token_id")?,
    );
    let add_bos = meta.opt_bool("tokenizer.ggml.add_bos_token").unwrap_or(false);
    let mut vocab = serde_json::Map::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        vocab.insert(t.clone(), json!(i));
    }
    let mut pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        let (a, b) = m.split_once(' ').ok_or_else(|| {
            bad(
                meta.path,
                format!("GGUF metadata 'tokenizer.ggml.merges'[{i}] ('{m}') is not two tokens"),
            )
        })?;
        pairs.push(json!([a, b]));
    }
    let added: Vec<Json> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, &ty))| ty == 3 || ty == 4)
        .map(|(i, (t, &ty))| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": ty == 3})
        })
        .collect();
    let name = |i: Option<u32>| i.map(|i| tokens[i as usize].clone());
    let post_processor = match (add_bos, name(bos)) {
        (true, Some(b)) => json!({"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": b, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {b.clone(): {"id": b, "ids": [bos], "tokens": [b]}}}),
        _ => json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}),
    };
    let tokenizer_json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": pairs},
    });
    let context = meta.opt_usize("llama.context_length")?;
    let mut tokenizer_config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": add_bos,
        "add_prefix_space": false,
        "clean_up_tokenization_spaces": false,
        "model_max_length": context,
        "bos_token": name(bos),
        "eos_token": name(eos),
        "unk_token": name(unk),
        "pad_token": name(pad),
    });
    if let Some(t) = meta.opt_str("tokenizer.chat_template")? {
        tokenizer_config["chat_template"] = json!(t);
    }
    let generation_config = json!({"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad});
    Ok(GgufTokenizer {
        tokenizer_json,
        tokenizer_config,
        generation_config,
        vocab_size: tokens.len(),
        bos,
        eos,
        pad,
    })
}
