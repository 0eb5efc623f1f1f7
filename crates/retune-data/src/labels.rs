//! A stable list of class labels (id ↔ name), saved with a model as `id2label` and reused.

use std::collections::{BTreeMap, HashMap};

use crate::{DataError, TextDataset};

/// How many label names an error message lists at most.
const LIST_IN_ERRORS: usize = 20;

/// The class labels of a task, in a fixed order: label id `i` is `names[i]`.
///
/// The order is the given list when there is one (for example a model config's `id2label`);
/// otherwise [`LabelSet::infer`] sorts the labels found in the data: numerically when all of
/// them are integers, else as strings.
///
/// ```
/// use retune_data::LabelSet;
/// let labels = LabelSet::infer(&["10", "2", "1", "2"]);
/// assert_eq!(labels.names(), ["1", "2", "10"]);
/// assert_eq!(labels.id("10"), Some(2));
/// let words = LabelSet::infer(&["pos", "neg"]);
/// assert_eq!(words.name(0), Some("neg"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    names: Vec<String>,
    ids: HashMap<String, usize>,
}

impl LabelSet {
    /// The distinct labels of `labels`, sorted numerically if all parse as integers, else as strings.
    pub fn infer<S: AsRef<str>>(labels: &[S]) -> LabelSet {
        let mut names: Vec<String> = labels.iter().map(|s| s.as_ref().to_string()).collect();
        names.sort();
        names.dedup();
        let numbers: Option<Vec<i128>> = names.iter().map(|s| s.trim().parse::<i128>().ok()).collect();
        if let Some(numbers) = numbers {
            let mut pairs: Vec<(i128, String)> = numbers.into_iter().zip(names).collect();
            pairs.sort();
            names = pairs.into_iter().map(|(_, s)| s).collect();
        }
        let ids = names.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect();
        LabelSet { names, ids }
    }

    /// The labels in the given order (id `i` = `names[i]`). Fails on an empty or duplicate name.
    pub fn from_names(names: Vec<String>) -> Result<LabelSet, DataError> {
        let mut ids = HashMap::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(DataError::Invalid(format!("label list: label {i} is empty")));
            }
            if let Some(prev) = ids.insert(name.clone(), i) {
                return Err(DataError::Invalid(format!(
                    "label list: '{name}' is given twice (ids {prev} and {i})"
                )));
            }
        }
        Ok(LabelSet { names, ids })
    }

    /// From a model config's `id2label` (ids must be exactly `0..n`).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use retune_data::LabelSet;
    /// let cfg: BTreeMap<usize, String> = serde_json::from_str(r#"{"1": "POSITIVE", "0": "NEGATIVE"}"#).unwrap();
    /// let labels = LabelSet::from_id2label(&cfg).unwrap();
    /// assert_eq!(labels.names(), ["NEGATIVE", "POSITIVE"]);
    /// assert_eq!(serde_json::to_string(&labels.id2label()).unwrap(), r#"{"0":"NEGATIVE","1":"POSITIVE"}"#);
    /// ```
    pub fn from_id2label(id2label: &BTreeMap<usize, String>) -> Result<LabelSet, DataError> {
        for (expected, &id) in id2label.keys().enumerate() {
            if id != expected {
                return Err(DataError::Invalid(format!(
                    "id2label: the ids must be 0..{} without gaps, id {expected} is missing",
                    id2label.len()
                )));
            }
        }
        LabelSet::from_names(id2label.values().cloned().collect())
    }

    /// The `id2label` map to save in a model config.
    pub fn id2label(&self) -> BTreeMap<usize, String> {
        self.names.iter().cloned().enumerate().collect()
    }

    /// The id of a label name.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    /// The name of a label id.
    pub fn name(&self, id: usize) -> Option<&str> {
        self.names.get(id).map(String::as_str)
    }

    /// All names, in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names for an error message: `a, b, c` (at most 20, then `...`).
    pub(crate) fn describe(&self) -> String {
        let mut s = self
            .names
            .iter()
            .take(LIST_IN_ERRORS)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if self.names.len() > LIST_IN_ERRORS {
            s.push_str(&format!(", ... ({} labels)", self.names.len()));
        }
        s
    }

    /// The label id of every example, failing with `file:line` on an unknown or missing label.
    pub fn encode(&self, dataset: &TextDataset) -> Result<Vec<u32>, DataError> {
        dataset
            .examples
            .iter()
            .map(|ex| {
                let err = |message: String| DataError::Row {
                    path: dataset.files[ex.row.file].clone(),
                    line: ex.row.line,
                    message,
                };
                let label = ex
                    .label
                    .as_deref()
                    .ok_or_else(|| err("the example has no label".into()))?;
                self.id(label)
                    .map(|id| id as u32)
                    .ok_or_else(|| err(format!("unknown label '{label}' (the labels are: {})", self.describe())))
            })
            .collect()
    }
}
