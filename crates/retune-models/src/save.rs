//! Saving a model as a Hugging Face checkpoint folder that `transformers`' `from_pretrained`
//! loads unchanged: `config.json`, `model.safetensors`, and the tokenizer files. The folder is
//! written beside its destination and renamed into place, so a crash never leaves half a
//! checkpoint.

use crate::config::BertConfig;
use crate::error::{ModelError, Result};
use crate::nn::Params;
use candle_core::Tensor;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Tokenizer files copied from the source checkpoint when present.
pub const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "source.spm",
    "target.spm",
    "vocab.json",
    "target_vocab.json",
    "generation_config.json",
];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.into(),
        source,
    }
}

/// Writes `files` (name → bytes) and `tensors` into the folder `dest`, atomically: everything
/// goes into a temporary sibling folder that then replaces `dest`.
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
        std::fs::write(&p, bytes).map_err(io(&p))?;
    }
    let weights = tmp.join("model.safetensors");
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    let ordered: BTreeMap<&String, &Tensor> = tensors.iter().collect();
    let views: Vec<(&String, &Tensor)> = ordered.into_iter().collect();
    safetensors::serialize_to_file(views.iter().map(|(k, t)| (k.as_str(), *t)), Some(meta), &weights).map_err(|e| {
        ModelError::Weights {
            path: weights.clone(),
            message: e.to_string(),
        }
    })?;
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

/// The model's parameters (every variable of its var map), contiguous, by name.
fn tensors_of(params: &Params, rename: impl Fn(&str) -> String) -> Result<HashMap<String, Tensor>> {
    let data = params
        .varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Candle(candle_core::Error::Msg("poisoned varmap".into())))?;
    let mut tensors = HashMap::with_capacity(data.len());
    for (name, var) in data.iter() {
        tensors.insert(rename(name), var.as_tensor().contiguous()?);
    }
    Ok(tensors)
}

/// Saves a Marian model as `MarianMTModel` (the transformers 5 layout that
/// [`crate::marian::MarianMTModel::load`] leaves in the var map: one shared embedding when tied,
/// `final_logits_bias` kept), with its tokenizer and generation config.
pub fn save_marian(
    dest: &Path,
    params: &Params,
    config: &crate::marian::MarianConfig,
    tokenizer_dir: Option<&Path>,
) -> Result<()> {
    let tensors = tensors_of(params, |n| n.to_string())?;
    let mut cfg = config.clone();
    cfg.architectures = Some(vec!["MarianMTModel".into()]);
    cfg.model_type = Some("marian".into());
    let json = serde_json::to_vec_pretty(&cfg).map_err(|e| ModelError::Config {
        path: dest.join("config.json"),
        message: e.to_string(),
    })?;
    write_checkpoint_dir(dest, &[("config.json", json)], &tensors, tokenizer_dir)
}

/// Saves a BERT sequence classifier as `BertForSequenceClassification`: parameters of a bare
/// encoder (no `bert.` prefix, e.g. a sentence-transformers checkpoint) are renamed under
/// `bert.`; the config gets the architecture and the label maps.
pub fn save_bert_classifier(
    dest: &Path,
    params: &Params,
    config: &BertConfig,
    labels: &[String],
    tokenizer_dir: Option<&Path>,
) -> Result<()> {
    let tensors = tensors_of(params, |name| {
        if name.starts_with("bert.") || name.starts_with("classifier.") {
            name.to_string()
        } else {
            format!("bert.{name}")
        }
    })?;
    let mut cfg = config.clone();
    cfg.architectures = Some(vec!["BertForSequenceClassification".into()]);
    cfg.model_type = Some("bert".into());
    cfg.id2label = Some(
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.clone()))
            .collect(),
    );
    cfg.label2id = Some(labels.iter().enumerate().map(|(i, l)| (l.clone(), i as i64)).collect());
    cfg.num_labels = None;
    let json = serde_json::to_vec_pretty(&cfg).map_err(|e| ModelError::Config {
        path: dest.join("config.json"),
        message: e.to_string(),
    })?;
    write_checkpoint_dir(dest, &[("config.json", json)], &tensors, tokenizer_dir)
}
