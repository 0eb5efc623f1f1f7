//! GGUF files (llama.cpp's format) as Hugging Face checkpoints: the metadata becomes a
//! `config.json`, the tensors are dequantised to f32 under Hugging Face's names (llama.cpp's
//! rotary permutation of `q_proj` / `k_proj` undone), and the vocabulary and merges become a
//! `tokenizer.json` ([`tokenizer`]) with the chat template in `tokenizer_config.json`.
//! [`GgufModel::write_hf_folder`] writes the folder `transformers` loads (`retune convert
//! gguf`); [`GgufModel::into_checkpoint`] hands the same tensors to the model code directly.
//!
//! Supported: `general.architecture` `llama` with unscaled rotary embeddings; every tensor type
//! candle dequantises (F32, F16, BF16, Q4_0 … Q8_0, the K-quants); the byte-level BPE
//! vocabularies (`tokenizer.ggml.model` `gpt2`) with the `gpt-2` or `smollm` pre-tokenizer.
//! Anything else is refused with the file and the key at fault.

pub mod tokenizer;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};
use crate::generate::TokenIds;
use crate::llama::LlamaConfig;
use crate::weights::Checkpoint;

/// Architectures this reader converts.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

/// A GGUF model read into Hugging Face form.
pub struct GgufModel {
    /// The file read.
    pub path: PathBuf,
    /// `config.json` (a `LlamaForCausalLM` config).
    pub config_json: serde_json::Value,
    /// The typed config.
    pub config: LlamaConfig,
    /// Parameters in f32 under Hugging Face names (no `lm_head.weight` when tied).
    pub tensors: HashMap<String, Tensor>,
    /// `tokenizer.json`.
    pub tokenizer_json: serde_json::Value,
    /// `tokenizer_config.json` (special tokens, chat template, context length).
    pub tokenizer_config: serde_json::Value,
    /// `generation_config.json`.
    pub generation_config: serde_json::Value,
}

/// An error about the file `path`.
pub(crate) fn bad(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::Weights {
        path: path.into(),
        message: message.into(),
    }
}

/// Metadata lookups that name the key in errors.
pub(crate) struct Meta<'a> {
    pub path: &'a Path,
    pub content: &'a Content,
}

impl<'a> Meta<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.content.metadata.get(key)
    }
    pub fn required(&self, key: &str) -> Result<&'a Value> {
        self.get(key)
            .ok_or_else(|| bad(self.path, format!("GGUF metadata has no '{key}'")))
    }
    pub fn usize(&self, key: &str) -> Result<usize> {
        let v = self.required(key)?;
        v.to_u64()
            .map(|x| x as usize)
            .or_else(|_| v.to_u32().map(|x| x as usize))
            .or_else(|_| v.to_i32().map(|x| x as usize))
            .map_err(|_| bad(self.path, format!("GGUF metadata '{key}' is not an integer ({v:?})")))
    }
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        if self.get(key).is_some() {
            self.usize(key).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .to_f32()
                .map(|x| x as f64)
                .or_else(|_| v.to_f64())
                .map(Some)
                .map_err(|_| bad(self.path, format!("GGUF metadata '{key}' is not a number ({v:?})"))),
        }
    }
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .to_string()
                .map(|s| Some(s.as_str()))
                .map_err(|_| bad(self.path, format!("GGUF metadata '{key}' is not a string"))),
        }
    }
    pub fn opt_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| v.to_bool().ok())
    }
}

/// Reads the header (metadata and tensor table) of a GGUF file.
fn read_content(path: &Path) -> Result<(Content, std::fs::File)> {
    let mut file = std::fs::File::open(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    let content = Content::read(&mut file).map_err(|e| bad(path, format!("not a readable GGUF file: {e}")))?;
    Ok((content, file))
}

/// llama.cpp's name of each Hugging Face parameter inside layer `N` (`blk.N.`).
const LAYER_NAMES: &[(&str, &str)] = &[
    ("attn_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("attn_q.bias", "self_attn.q_proj.bias"),
    ("attn_k.bias", "self_attn.k_proj.bias"),
    ("attn_v.bias", "self_attn.v_proj.bias"),
    ("attn_output.bias", "self_attn.o_proj.bias"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// The Hugging Face name of a llama.cpp tensor name, None for one this reader does not know.
pub fn hf_name(gguf: &str) -> Option<String> {
    match gguf {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, name) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    LAYER_NAMES
        .iter()
        .find(|(g, _)| *g == name)
        .map(|(_, h)| format!("model.layers.{layer}.{h}"))
}

/// Undoes llama.cpp's permutation of a query or key projection (`heads` = the query heads for
/// `q_proj`, the key/value heads for `k_proj`): its converter interleaves the two rotary halves
/// of each head's rows, `reshape(heads, 2, d/2, in).swapaxes(1, 2)`; this is the inverse,
/// `reshape(heads, d/2, 2, in).swapaxes(1, 2)`. Works on weights (out, in) and biases (out).
pub fn unpermute_rotary(t: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let dims = t.dims().to_vec();
    let out = dims[0];
    let half = out / heads / 2;
    let rest: usize = dims[1..].iter().product();
    t.reshape((heads, half, 2, rest))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)
}

impl GgufModel {
    /// Reads and dequantises the GGUF file `path` (tensors on `device`).
    pub fn read(path: &Path, device: &Device) -> Result<GgufModel> {
        let (content, mut file) = read_content(path)?;
        let meta = Meta {
            path,
            content: &content,
        };
        let arch = meta.opt_str("general.architecture")?.unwrap_or("(none)");
        if !SUPPORTED_ARCHITECTURES.contains(&arch) {
            return Err(ModelError::Architecture {
                path: path.into(),
                found: format!("GGUF general.architecture {arch}"),
                supported: SUPPORTED_ARCHITECTURES.join(", "),
            });
        }
        let tok = tokenizer::read(&meta)?;
        let config_json = llama_config(&meta, &tok, content.tensor_infos.contains_key("output.weight"))?;
        let config: LlamaConfig = serde_json::from_value(config_json.clone())
            .map_err(|e| bad(path, format!("GGUF metadata gives an invalid config: {e}")))?;
        config.validate(path)?;
        let mut tensors = HashMap::with_capacity(content.tensor_infos.len());
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        for name in names {
            if name == "rope_freqs.weight" {
                return Err(bad(
                    path,
                    "tensor 'rope_freqs.weight': scaled rotary frequencies (Llama 3.1 style) are not supported",
                ));
            }
            let hf = hf_name(name).ok_or_else(|| {
                bad(
                    path,
                    format!("tensor '{name}' has no Hugging Face counterpart this reader knows"),
                )
            })?;
            let q = content
                .tensor(&mut file, name, &Device::Cpu)
                .map_err(|e| bad(path, format!("tensor '{name}': {e}")))?;
            let mut t = q
                .dequantize(&Device::Cpu)
                .map_err(|e| bad(path, format!("tensor '{name}': {e}")))?;
            if hf.contains("self_attn.q_proj") {
                t = unpermute_rotary(&t, config.num_attention_heads)?;
            } else if hf.contains("self_attn.k_proj") {
                t = unpermute_rotary(&t, config.kv_heads())?;
            }
            tensors.insert(hf, t.to_device(device)?);
        }
        let model = GgufModel {
            path: path.into(),
            config_json,
            config,
            tokenizer_json: tok.tokenizer_json,
            tokenizer_config: tok.tokenizer_config,
            generation_config: tok.generation_config,
            tensors,
        };
        Ok(model)
    }

    /// The tensors as a checkpoint for the model code.
    pub fn into_checkpoint(self) -> Checkpoint {
        Checkpoint {
            tensors: self.tensors,
            source: self.path,
        }
    }

    /// Writes the Hugging Face folder `dest` (atomically, by the one checkpoint writer):
    /// `config.json`, `model.safetensors`, `tokenizer.json`, `tokenizer_config.json`,
    /// `generation_config.json`.
    pub fn write_hf_folder(&self, dest: &Path) -> Result<()> {
        let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).map_err(|e| bad(dest, e.to_string()));
        let files = [
            ("config.json", json(&self.config_json)?),
            ("tokenizer.json", json(&self.tokenizer_json)?),
            ("tokenizer_config.json", json(&self.tokenizer_config)?),
            ("generation_config.json", json(&self.generation_config)?),
        ];
        crate::save::write_checkpoint_dir(dest, &files, &self.tensors, None)
    }
}

/// The `config.json` of a `LlamaForCausalLM` from the GGUF metadata.
fn llama_config(meta: &Meta, tok: &tokenizer::GgufTokenizer, has_output: bool) -> Result<serde_json::Value> {
    let a = "llama";
    let hidden = meta.usize(&format!("{a}.embedding_length"))?;
    let heads = meta.usize(&format!("{a}.attention.head_count"))?;
    let kv = meta
        .opt_usize(&format!("{a}.attention.head_count_kv"))?
        .unwrap_or(heads);
    let head_dim = match meta.opt_usize(&format!("{a}.attention.key_length"))? {
        Some(d) => d,
        None => meta
            .opt_usize(&format!("{a}.rope.dimension_count"))?
            .unwrap_or(hidden / heads.max(1)),
    };
    if let Some(kind) = meta.opt_str(&format!("{a}.rope.scaling.type"))? {
        if kind != "none" {
            return Err(bad(
                meta.path,
                format!(
                    "GGUF metadata '{a}.rope.scaling.type' is '{kind}': scaled rotary embeddings are not supported"
                ),
            ));
        }
    }
    let theta = meta.opt_f64(&format!("{a}.rope.freq_base"))?.unwrap_or(10000.0);
    let eps = meta
        .opt_f64(&format!("{a}.attention.layer_norm_rms_epsilon"))?
        .unwrap_or(1e-6);
    let vocab = match meta.opt_usize(&format!("{a}.vocab_size"))? {
        Some(v) => v,
        None => tok.vocab_size,
    };
    let eos = tok.eos.map(TokenIds::One);
    let name = meta.opt_str("general.name")?.unwrap_or("");
    Ok(serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "_name_or_path": name,
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": meta.usize(&format!("{a}.feed_forward_length"))?,
        "num_hidden_layers": meta.usize(&format!("{a}.block_count"))?,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": meta.usize(&format!("{a}.context_length"))?,
        "initializer_range": 0.02,
        "rms_norm_eps": eps,
        "rope_theta": theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": theta},
        "rope_scaling": null,
        "attention_bias": meta.content.tensor_infos.contains_key("blk.0.attn_q.bias"),
        "attention_dropout": 0.0,
        "mlp_bias": false,
        "tie_word_embeddings": !has_output,
        "bos_token_id": tok.bos,
        "eos_token_id": eos,
        "pad_token_id": tok.pad,
        "torch_dtype": "float32",
        "use_cache": true,
    }))
}
