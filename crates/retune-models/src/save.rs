//! Saving a model as a Hugging Face checkpoint folder that `transformers`' `from_pretrained`
//! loads unchanged: `config.json`, `model.safetensors`, and the tokenizer files. The folder is
//! written beside its destination and renamed into place, so a crash never leaves half a
//! checkpoint.

use crate::arch::{Head, ModelConfig};
use crate::checkpoint_files::TOKENIZER_FILES;
use crate::error::{ModelError, Result};
use crate::nn::Params;
use candle_core::Tensor;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.into(),
        source,
    }
}

/// Writes `files` (relative path → bytes; `adapter/…` makes the sub-folder) and `tensors` into
/// the folder `dest`, atomically: everything goes into a temporary sibling folder that then
/// replaces `dest`. The one checkpoint writer.
pub fn write_checkpoint_dir(
    dest: &Path,
    files: &[(&str, Vec<u8>)],
    tensors: &HashMap<String, Tensor>,
    copy_from: Option<&Path>,
) -> Result<()> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    for (f, bytes) in files {
        let p = tmp.join(f);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::write(&p, bytes).map_err(io(&p))?;
    }
    let weights = tmp.join("model.safetensors");
    let bytes = safetensors_bytes(tensors, &weights)?;
    std::fs::write(&weights, bytes).map_err(io(&weights))?;
    if let Some(src) = copy_from {
        for f in TOKENIZER_FILES {
            let s = src.join(f);
            if s.exists() {
                let d = tmp.join(f);
                std::fs::copy(&s, &d).map_err(io(&d))?;
            }
        }
    }
    // Swap into place: the old folder (if any) is moved aside first, then removed.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if dest.exists() {
        std::fs::rename(dest, &old).map_err(io(dest))?;
    }
    std::fs::rename(&tmp, dest).map_err(io(dest))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// Saves a Marian model as `MarianMTModel` (the transformers 5 layout that
/// [`crate::marian::MarianMTModel::load`] leaves in the var map: one shared embedding only when
/// shared and tied,
/// `final_logits_bias` kept), with its tokenizer and generation config.
pub fn save_marian(
    dest: &Path,
    params: &Params,
    config: &crate::marian::MarianConfig,
    tokenizer_dir: Option<&Path>,
) -> Result<()> {
    save_marian_tensors(dest, &params.tensors()?, config, tokenizer_dir)
}

/// [`save_marian`] from named tensors (a LoRA run's merged weights).
pub fn save_marian_tensors(
    dest: &Path,
    tensors: &HashMap<String, Tensor>,
    config: &crate::marian::MarianConfig,
    tokenizer_dir: Option<&Path>,
) -> Result<()> {
    let mut cfg = config.clone();
    cfg.architectures = Some(vec!["MarianMTModel".into()]);
    cfg.model_type = Some("marian".into());
    let json = serde_json::to_vec_pretty(&cfg).map_err(|e| ModelError::Config {
        path: dest.join("config.json"),
        message: e.to_string(),
    })?;
    write_checkpoint_dir(dest, &[("config.json", json)], tensors, tokenizer_dir)
}

/// `tensors` as a safetensors file's bytes, names sorted, with `{"format": "pt"}` metadata as
/// `save_pretrained` writes it (`path` names the file in errors).
pub fn safetensors_bytes(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<Vec<u8>> {
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    let ordered: BTreeMap<&String, &Tensor> = tensors.iter().collect();
    safetensors::serialize(ordered.into_iter().map(|(k, t)| (k.as_str(), t)), Some(meta)).map_err(|e| {
        ModelError::Weights {
            path: path.into(),
            message: e.to_string(),
        }
    })
}

/// A LoRA adapter in PEFT's layout, written to `adapter/` of a saved checkpoint.
pub struct Adapter {
    /// Tensors under PEFT names: `base_model.model.{module}.lora_A.weight` / `lora_B`, and the
    /// trained head (`modules_to_save`) as `base_model.model.{name}`.
    pub tensors: HashMap<String, Tensor>,
    /// Rank.
    pub r: usize,
    /// Scaling numerator (`alpha / r` multiplies the update).
    pub alpha: f64,
}

/// `adapter/adapter_config.json` and `adapter/adapter_model.safetensors` of a PEFT adapter for
/// `config`'s family under `head`.
fn adapter_files(
    dest: &Path,
    config: &ModelConfig,
    head: Head,
    a: &Adapter,
    base: Option<&Path>,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let arch = config.arch();
    let modules_to_save = arch.head_modules(head);
    let cfg = serde_json::json!({
        "peft_type": "LORA", "task_type": head.peft_task_type(), "r": a.r, "lora_alpha": a.alpha,
        "lora_dropout": 0.0, "target_modules": arch.peft_target_modules(),
        "modules_to_save": modules_to_save, "bias": "none",
        "base_model_name_or_path": base.map(|d| d.display().to_string()),
    });
    let path = dest.join("adapter/adapter_model.safetensors");
    Ok(vec![
        (
            "adapter/adapter_model.safetensors",
            safetensors_bytes(&a.tensors, &path)?,
        ),
        (
            "adapter/adapter_config.json",
            serde_json::to_vec_pretty(&cfg).map_err(|e| crate::config::invalid(&path, e.to_string()))?,
        ),
    ])
}

/// Saves an encoder with its head as the family's `*For…` class (`config.json` from `config`
/// with the head's class and labels), with the tokenizer files of `tokenizer_dir`; `tensors`
/// carry canonical names (LoRA already merged). An adapter goes to `dest/adapter/` in PEFT's
/// layout (`adapter_config.json`, `adapter_model.safetensors`), in the same atomic write.
pub fn save_encoder(
    dest: &Path,
    config: &ModelConfig,
    head: Head,
    tensors: &HashMap<String, Tensor>,
    adapter: Option<&Adapter>,
    tokenizer_dir: Option<&Path>,
) -> Result<()> {
    let mut files: Vec<(&str, Vec<u8>)> = vec![("config.json", config.to_json(head)?)];
    if let Some(a) = adapter {
        files.extend(adapter_files(dest, config, head, a, tokenizer_dir)?);
    }
    write_checkpoint_dir(dest, &files, tensors, tokenizer_dir)
}

/// Saves a causal LM as the family's `*ForCausalLM` with the given tokenizer files (written from
/// memory: a model read from a GGUF file has none on disk), and its PEFT adapter, atomically.
pub fn save_causal_lm(
    dest: &Path,
    config: &ModelConfig,
    tensors: &HashMap<String, Tensor>,
    adapter: Option<&Adapter>,
    tokenizer_files: Vec<(&'static str, Vec<u8>)>,
    base: &Path,
) -> Result<()> {
    let mut files: Vec<(&str, Vec<u8>)> = vec![("config.json", config.to_json(Head::CausalLm)?)];
    files.extend(tokenizer_files);
    if let Some(a) = adapter {
        files.extend(adapter_files(dest, config, Head::CausalLm, a, Some(base))?);
    }
    write_checkpoint_dir(dest, &files, tensors, None)
}
