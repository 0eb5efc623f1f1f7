//! Reading checkpoint weights: `model.safetensors`, sharded safetensors
//! (`model.safetensors.index.json`) and `pytorch_model.bin` (tensor data only: the pickle is
//! parsed, never executed). f16 and bf16 weights are converted to f32.

use crate::error::{ModelError, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Tensors of a checkpoint by Hugging Face parameter name, and the file(s) they came from.
pub struct Checkpoint {
    /// Parameters, in f32 on the requested device.
    pub tensors: HashMap<String, Tensor>,
    /// The file (or index) the tensors were read from, for error messages.
    pub source: PathBuf,
}

impl Checkpoint {
    /// Loads the weights of the model folder `dir`, preferring safetensors.
    pub fn load(dir: &Path, device: &Device) -> Result<Checkpoint> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let bin = dir.join("pytorch_model.bin");
        let (source, raw) = if single.exists() {
            (single.clone(), load_safetensors(&single, device)?)
        } else if index.exists() {
            (index.clone(), load_sharded(&index, device)?)
        } else if bin.exists() {
            (bin.clone(), load_bin(&bin, device)?)
        } else {
            return Err(ModelError::NotFound {
                id: dir.display().to_string(),
                message: "no model.safetensors, model.safetensors.index.json or pytorch_model.bin in the folder".into(),
            });
        };
        let mut tensors = HashMap::with_capacity(raw.len());
        for (name, t) in raw {
            let t = if t.dtype() == DType::F32 {
                t
            } else {
                t.to_dtype(DType::F32)?
            };
            tensors.insert(normalize_name(&name), t);
        }
        Ok(Checkpoint { tensors, source })
    }

    /// The tensor `name`, checked against the shape the config implies.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| ModelError::MissingTensor {
            path: self.source.clone(),
            name: name.into(),
        })?;
        if t.dims() != shape {
            return Err(ModelError::Shape {
                path: self.source.clone(),
                name: name.into(),
                found: t.dims().to_vec(),
                expected: shape.to_vec(),
            });
        }
        Ok(t.clone())
    }

    /// Whether the checkpoint has `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// Old TensorFlow-converted BERT checkpoints name LayerNorm parameters `gamma` / `beta`.
fn normalize_name(name: &str) -> String {
    if let Some(p) = name.strip_suffix(".gamma") {
        if p.ends_with("LayerNorm") {
            return format!("{p}.weight");
        }
    }
    if let Some(p) = name.strip_suffix(".beta") {
        if p.ends_with("LayerNorm") {
            return format!("{p}.bias");
        }
    }
    name.to_string()
}

fn weights_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Weights {
        path: path.into(),
        message: e.to_string(),
    }
}

fn load_safetensors(path: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| weights_err(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = Vec::with_capacity(st.len());
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::F16 => DType::F16,
            safetensors::Dtype::BF16 => DType::BF16,
            safetensors::Dtype::F64 => DType::F64,
            safetensors::Dtype::I64 => DType::I64,
            safetensors::Dtype::U8 => DType::U8,
            safetensors::Dtype::U32 => DType::U32,
            other => {
                return Err(weights_err(
                    path,
                    format!("tensor '{name}' has unsupported dtype {other:?}"),
                ))
            }
        };
        let t = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), device)
            .map_err(|e| weights_err(path, format!("tensor '{name}': {e}")))?;
        out.push((name, t));
    }
    Ok(out)
}

fn load_sharded(index: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let text = std::fs::read_to_string(index).map_err(|source| ModelError::Io {
        path: index.into(),
        source,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| weights_err(index, e))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| weights_err(index, "field 'weight_map' is missing"))?;
    let files: BTreeSet<&str> = map.values().filter_map(|f| f.as_str()).collect();
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for f in files {
        out.extend(load_safetensors(&dir.join(f), device)?);
    }
    for name in map.keys() {
        if !out.iter().any(|(n, _)| n == name) {
            return Err(weights_err(
                index,
                format!("tensor '{name}' is listed in 'weight_map' but absent from its shard"),
            ));
        }
    }
    Ok(out)
}

fn load_bin(path: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let tensors = candle_core::pickle::read_all(path)
        .map_err(|e| weights_err(path, format!("not a readable PyTorch checkpoint: {e}")))?;
    let mut out = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        out.push((name, t.to_device(device)?));
    }
    Ok(out)
}
