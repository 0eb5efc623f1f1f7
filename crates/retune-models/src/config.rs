//! Reading `config.json`: JSON with errors that name the file and the field, and the label
//! fields every head shares (`id2label`, `label2id`, `num_labels`, `problem_type`). Each family's
//! typed config lives in its own file (`bert.rs`, `distilbert.rs`, `roberta.rs`); the
//! `model_type`-tagged [`crate::arch::ModelConfig`] picks one.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The label fields of `config.json`, as `transformers`' `PretrainedConfig` reads them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelConfig {
    /// `single_label_classification`, `multi_label_classification` or `regression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// Label names by id (as strings of integers, as in `config.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Label ids by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, i64>>,
    /// Explicit label count (when `id2label` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
}

impl LabelConfig {
    /// Number of labels: from `id2label`, else `num_labels`, else 2 (Hugging Face's default).
    pub fn label_count(&self) -> usize {
        self.id2label
            .as_ref()
            .map(|m| m.len())
            .filter(|&n| n > 0)
            .or(self.num_labels)
            .unwrap_or(2)
    }

    /// Label names in id order (`LABEL_i` where the config names none).
    pub fn labels(&self) -> Vec<String> {
        (0..self.label_count())
            .map(|i| {
                self.id2label
                    .as_ref()
                    .and_then(|m| m.get(&i.to_string()).cloned())
                    .unwrap_or_else(|| format!("LABEL_{i}"))
            })
            .collect()
    }

    /// Sets the label list (both maps; `num_labels` dropped as `save_pretrained` does).
    pub fn set_labels(&mut self, labels: &[String]) {
        self.id2label = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.clone()))
                .collect(),
        );
        self.label2id = Some(labels.iter().enumerate().map(|(i, l)| (l.clone(), i as i64)).collect());
        self.num_labels = None;
    }

    /// How outputs are read: from `problem_type`, or as transformers infers it (1 label = regression).
    pub fn problem(&self) -> ProblemType {
        match self.problem_type.as_deref() {
            Some("multi_label_classification") => ProblemType::MultiLabel,
            Some("regression") => ProblemType::Regression,
            Some(_) => ProblemType::SingleLabel,
            None if self.label_count() == 1 => ProblemType::Regression,
            None => ProblemType::SingleLabel,
        }
    }

    /// Checks `problem_type`.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if let Some(p) = &self.problem_type {
            if !matches!(
                p.as_str(),
                "single_label_classification" | "multi_label_classification" | "regression"
            ) {
                return Err(ModelError::Config {
                    path: path.into(),
                    message: format!("field 'problem_type': unknown value '{p}'"),
                });
            }
        }
        Ok(())
    }
}

/// The kind of problem a sequence-classification head solves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    /// One label per text (softmax, cross-entropy).
    SingleLabel,
    /// Any number of labels per text (sigmoid, binary cross-entropy).
    MultiLabel,
    /// A real value (mean squared error).
    Regression,
}

/// A config error naming `path` and the message.
pub fn invalid(path: &Path, message: String) -> ModelError {
    ModelError::Config {
        path: path.into(),
        message,
    }
}

/// Checks `hidden_act` / `activation` against what [`crate::nn::activation`] computes.
pub fn check_activation(path: &Path, field: &str, act: &str) -> Result<()> {
    if matches!(act, "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu") {
        return Ok(());
    }
    Err(invalid(
        path,
        format!("field '{field}': '{act}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"),
    ))
}

/// Checks that `hidden` splits into `heads` heads.
pub fn check_heads(path: &Path, hidden: (&str, usize), heads: (&str, usize)) -> Result<()> {
    if heads.1 == 0 || hidden.1 % heads.1 != 0 {
        return Err(invalid(
            path,
            format!(
                "field '{}' ({}) must be a multiple of '{}' ({})",
                hidden.0, hidden.1, heads.0, heads.1
            ),
        ));
    }
    Ok(())
}

/// Parses a config, naming the field at fault in errors (`field 'hidden_size': invalid type ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let message = if field.is_empty() || field == "." {
            e.inner().to_string()
        } else {
            format!("field '{field}': {}", e.inner())
        };
        ModelError::Config {
            path: path.into(),
            message,
        }
    })
}

/// Reads a JSON config file, naming the file and the field at fault in errors.
pub fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.into(),
        source,
    })?;
    parse_json(&text, path)
}

/// Fails with [`ModelError::Architecture`] when `config.json` names another `model_type`.
pub fn check_model_type(path: &Path, found: Option<&str>, expected: &str) -> Result<()> {
    match found {
        Some(t) if t != expected => Err(ModelError::Architecture {
            path: path.into(),
            found: format!("model_type {t}"),
            supported: expected.into(),
        }),
        _ => Ok(()),
    }
}
