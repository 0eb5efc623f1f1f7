//! Training strategies, from cheapest to dearest: which parameters learn, and how.

use candle_core::{DType, Tensor};
use retune_models::arch::{Architecture, Head};
use retune_models::nn::{seeded_uniform, Params};

use crate::error::{Result, TrainError};

/// What a fine-tune trains.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Strategy {
    /// Frozen encoder, logistic regression on pooled features (no back-propagation).
    Probe,
    /// Only the head learns (BERT: pooler + classifier; DistilBERT: pre-classifier + classifier;
    /// RoBERTa: the classification head); the encoder is frozen.
    Head,
    /// The top `layers` encoder layers, the pooler and the head learn.
    Top {
        /// How many of the last layers.
        layers: usize,
    },
    /// Low-rank adapters on the attention query/value projections (plus the head); merged into
    /// the weights on save.
    Lora {
        /// Rank. Default 8.
        r: usize,
        /// Scaling numerator (`alpha / r` multiplies the update). Default 2r.
        alpha: f64,
    },
    /// Every parameter learns.
    Full,
    /// Same architecture, random initialization: what pretraining is worth.
    Scratch,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    /// `probe`, `head`, `top:K`, `lora`, `lora:R`, `full`, `scratch`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let num = |a: Option<&str>, what: &str| -> std::result::Result<Option<usize>, String> {
            a.map(|a| {
                a.parse::<usize>()
                    .ok()
                    .filter(|&v| v > 0)
                    .ok_or_else(|| format!("--strategy {s}: {what} must be a positive integer"))
            })
            .transpose()
        };
        match name {
            "probe" if arg.is_none() => Ok(Strategy::Probe),
            "head" if arg.is_none() => Ok(Strategy::Head),
            "full" if arg.is_none() => Ok(Strategy::Full),
            "scratch" if arg.is_none() => Ok(Strategy::Scratch),
            "top" => Ok(Strategy::Top {
                layers: num(arg, "K")?.ok_or_else(|| format!("--strategy {s}: write top:K, e.g. top:2"))?,
            }),
            "lora" => {
                let r = num(arg, "r")?.unwrap_or(8);
                Ok(Strategy::Lora {
                    r,
                    alpha: 2.0 * r as f64,
                })
            }
            _ => Err(format!(
                "unknown strategy {s:?}: use probe, head, top:K, lora[:r], full or scratch"
            )),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Probe => write!(f, "probe"),
            Strategy::Head => write!(f, "head"),
            Strategy::Top { layers } => write!(f, "top:{layers}"),
            Strategy::Lora { r, .. } => write!(f, "lora:{r}"),
            Strategy::Full => write!(f, "full"),
            Strategy::Scratch => write!(f, "scratch"),
        }
    }
}

impl Strategy {
    /// The usual learning rate for the strategy (what works for BERT-base-sized models).
    pub fn default_lr(&self) -> f64 {
        match self {
            Strategy::Probe | Strategy::Head => 1e-3,
            Strategy::Lora { .. } => 5e-4,
            Strategy::Top { .. } => 1e-4,
            Strategy::Full => 5e-5,
            Strategy::Scratch => 1e-4,
        }
    }
}

/// Vocabularies at least this large (XLM-R's 250,002 rows) keep their word embeddings frozen
/// under `full`: the table would be most of the model's values, its AdamW moments twice that
/// again, and a fine-tune updates only the rows its data uses. `scratch` trains them.
pub const LARGE_VOCABULARY: usize = 100_000;

/// What [`apply`] decided.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Names of the parameters that learn.
    pub trainable: Vec<String>,
    /// Decisions a person should hear about (e.g. frozen embeddings), one line each.
    pub notes: Vec<String>,
}

/// Prepares `params` for `strategy`: marks every parameter that does not learn as frozen and
/// returns the ones that do. Call before building the model. `arch` answers which parameters
/// form the head, which layer each belongs to and which projections LoRA adapts.
pub fn apply(
    strategy: &Strategy,
    params: &mut Params,
    arch: &dyn Architecture,
    head: Head,
    init_std: f64,
) -> Result<Applied> {
    let names = params.names();
    let layers = arch.num_layers();
    let is_head = |n: &str| arch.is_head_param(n, head);
    let mut trainable: Vec<String> = match strategy {
        Strategy::Probe => Vec::new(),
        Strategy::Head => names.iter().filter(|n| is_head(n)).cloned().collect(),
        Strategy::Top { layers: k } => {
            if *k > layers {
                return Err(TrainError::Invalid(format!(
                    "--strategy top:{k}: the model has {layers} layers"
                )));
            }
            let first = layers - k;
            names
                .iter()
                .filter(|n| is_head(n) || arch.layer_of(n).is_some_and(|i| i >= first))
                .cloned()
                .collect()
        }
        Strategy::Lora { r, alpha } => {
            let mut t: Vec<String> = names.iter().filter(|n| is_head(n)).cloned().collect();
            let targets = arch.lora_modules(&names);
            if targets.is_empty() {
                return Err(TrainError::Invalid(format!(
                    "--strategy lora: no attention projections ({}) found in the checkpoint",
                    arch.lora_targets().join(", ")
                )));
            }
            t.extend(add_lora(params, &targets, *r, *alpha)?);
            t
        }
        Strategy::Full => names.clone(),
        Strategy::Scratch => {
            params.reinitialize(init_std)?;
            names.clone()
        }
    };
    let mut fixed = arch.fixed_params();
    let mut notes = Vec::new();
    let embeddings = arch.word_embeddings();
    if *strategy == Strategy::Full && arch.vocab_size() >= LARGE_VOCABULARY && trainable.contains(&embeddings) {
        notes.push(format!(
            "word embeddings frozen: the vocabulary has {} rows (≥ {LARGE_VOCABULARY}); every other parameter trains",
            arch.vocab_size()
        ));
        fixed.push(embeddings);
    }
    trainable.retain(|n| !fixed.contains(n));
    let all = params.names();
    params.frozen = all.iter().filter(|n| !trainable.contains(n)).cloned().collect();
    Ok(Applied { trainable, notes })
}

/// Attaches rank-`r` adapters to each module of `targets` (full module paths without
/// `.weight`), initialized as PEFT does — A ~ kaiming_uniform(a = √5) = U(−1/√in, 1/√in), B = 0 —
/// sets the scaling `alpha / r`, and returns the adapters' names (what trains). Every family's
/// LoRA goes through here.
pub fn add_lora(params: &mut Params, targets: &[String], r: usize, alpha: f64) -> Result<Vec<String>> {
    let mut t = Vec::with_capacity(2 * targets.len());
    for target in targets {
        let w = params
            .var(&format!("{target}.weight"))
            .ok_or_else(|| TrainError::Invalid(format!("--strategy lora: no parameter {target}.weight")))?;
        let (out, inp) = w.dims2()?;
        let a = seeded_uniform(&[r, inp], 1.0 / (inp as f64).sqrt(), &params.device)?;
        let b = Tensor::zeros((out, r), DType::F32, &params.device)?;
        params.insert(&format!("{target}.lora_A.weight"), &a)?;
        params.insert(&format!("{target}.lora_B.weight"), &b)?;
        t.push(format!("{target}.lora_A.weight"));
        t.push(format!("{target}.lora_B.weight"));
    }
    params.lora_scaling = alpha / r as f64;
    Ok(t)
}

/// The checkpoint tensors with LoRA updates folded into their base weights (`W + scale * B A`)
/// and without the adapter variables — a plain checkpoint that `transformers` loads — plus the
/// adapter tensors under PEFT names (`base_model.model.{target}.lora_A.weight`). `params` is not
/// changed, so training can go on.
pub fn merged_tensors(params: &Params) -> Result<(Vec<(String, Tensor)>, Vec<(String, Tensor)>)> {
    let mut plain = Vec::new();
    let mut adapters = Vec::new();
    for name in params.names() {
        if name.contains(".lora_A.") || name.contains(".lora_B.") {
            adapters.push((
                format!("base_model.model.{name}"),
                params.var(&name).expect("listed").as_tensor().copy()?,
            ));
            continue;
        }
        let w = params.var(&name).expect("listed");
        let target = name.strip_suffix(".weight").unwrap_or("");
        let t = match (
            params.var(&format!("{target}.lora_A.weight")),
            params.var(&format!("{target}.lora_B.weight")),
        ) {
            (Some(a), Some(b)) => (w.as_tensor() + (b.as_tensor().matmul(a.as_tensor())? * params.lora_scaling)?)?,
            _ => w.as_tensor().copy()?,
        };
        plain.push((name, t));
    }
    Ok((plain, adapters))
}
