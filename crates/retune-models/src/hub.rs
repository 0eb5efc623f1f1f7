//! Resolving `--model`: a local folder, or a Hugging Face hub id (`org/name[@revision]`) read
//! from the hub cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`) and, unless
//! `HF_HUB_OFFLINE=1`, downloaded into it through `hf-hub`.

use crate::error::{ModelError, Result};
use hf_hub::{Repo, RepoType};
use std::path::{Path, PathBuf};

/// The hub cache folder, as `huggingface_hub` chooses it.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return PathBuf::from(p).join("hub");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/huggingface/hub")
}

/// Whether the hub must not be contacted (`HF_HUB_OFFLINE` or `TRANSFORMERS_OFFLINE` set to 1).
pub fn offline() -> bool {
    ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"].iter().any(|k| {
        std::env::var(k)
            .map(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"))
            .unwrap_or(false)
    })
}

/// Splits `org/name@revision` into id and revision (`main` by default).
pub fn parse_id(model: &str) -> (String, String) {
    match model.rsplit_once('@') {
        Some((id, rev)) if !rev.is_empty() => (id.to_string(), rev.to_string()),
        _ => (model.to_string(), "main".to_string()),
    }
}

/// Resolves `model` to a local folder holding `config.json`.
pub fn resolve(model: &str) -> Result<PathBuf> {
    let p = Path::new(model);
    if p.is_dir() {
        if !p.join("config.json").exists() {
            return Err(ModelError::NotFound {
                id: model.into(),
                message: format!("{} has no config.json", p.display()),
            });
        }
        return Ok(p.to_path_buf());
    }
    if p.is_file() && crate::causal::is_gguf(p) {
        return Ok(p.to_path_buf());
    }
    if p.exists() || model.starts_with('.') || model.starts_with('/') {
        return Err(ModelError::NotFound {
            id: model.into(),
            message: "not a model folder".into(),
        });
    }
    let (id, rev) = parse_id(model);
    let cache = cache_dir();
    let repo = Repo::with_revision(id.clone(), RepoType::Model, rev.clone());
    if offline() {
        let cached = hf_hub::Cache::new(cache.clone()).repo(repo).get("config.json");
        return match cached {
            Some(cfg) => Ok(cfg.parent().map(Path::to_path_buf).unwrap_or_default()),
            None => Err(ModelError::NotFound {
                id: model.into(),
                message: format!(
                    "HF_HUB_OFFLINE=1 and it is not in the hub cache {} (revision {rev})",
                    cache.display()
                ),
            }),
        };
    }
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_cache_dir(cache.clone())
        .with_progress(true)
        .build()
        .map_err(|e| ModelError::NotFound {
            id: model.into(),
            message: format!("hub client: {e}"),
        })?;
    let r = api.repo(repo);
    let cfg = r.get("config.json").map_err(|e| ModelError::NotFound {
        id: model.into(),
        message: format!("downloading config.json: {e}"),
    })?;
    for f in crate::checkpoint_files::optional_files() {
        // Absent files are normal (a checkpoint has one weights format); a sharded index pulls its shards.
        if let Ok(local) = r.get(f) {
            if f == "model.safetensors.index.json" {
                if let Ok(text) = std::fs::read_to_string(&local) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                        let mut shards: Vec<&str> = v["weight_map"]
                            .as_object()
                            .map(|m| m.values().filter_map(|s| s.as_str()).collect())
                            .unwrap_or_default();
                        shards.sort();
                        shards.dedup();
                        for s in shards {
                            r.get(s).map_err(|e| ModelError::NotFound {
                                id: model.into(),
                                message: format!("downloading {s}: {e}"),
                            })?;
                        }
                    }
                }
            }
        }
    }
    Ok(cfg.parent().map(Path::to_path_buf).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_revisions() {
        assert_eq!(
            parse_id("Helsinki-NLP/opus-mt-en-zh"),
            ("Helsinki-NLP/opus-mt-en-zh".into(), "main".into())
        );
        assert_eq!(parse_id("org/name@v1.0"), ("org/name".into(), "v1.0".into()));
    }

    #[test]
    fn offline_reads_the_cache_layout() {
        // A hub cache laid out as huggingface_hub writes it: refs/main -> snapshot folder.
        let root = std::env::temp_dir().join(format!("retune-hub-test-{}", std::process::id()));
        let repo = root.join("models--org--tiny");
        let snap = repo.join("snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::env::set_var("HF_HUB_CACHE", &root);
        std::env::set_var("HF_HUB_OFFLINE", "1");
        assert_eq!(resolve("org/tiny").unwrap(), snap);
        let e = resolve("org/absent").unwrap_err().to_string();
        assert!(e.contains("HF_HUB_OFFLINE=1") && e.contains("org/absent"), "{e}");
        std::env::remove_var("HF_HUB_OFFLINE");
        std::env::remove_var("HF_HUB_CACHE");
    }
}
