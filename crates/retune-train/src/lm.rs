//! Fine-tuning a causal LM on the shared loop, in two forms:
//! - continued pre-training on raw documents: every document tokenized, an EOS after each, all
//!   concatenated and cut into blocks of `block_size` tokens (the last, shorter block kept), the
//!   loss on every next token — as transformers' `run_clm.py` groups texts;
//! - prompt → completion pairs: the prompt (in the model's chat template as a user turn when the
//!   model has one and `chat` is on) and the completion followed by EOS, the loss on the
//!   completion's tokens only; rows longer than `block_size` are cut at the end.
//!
//! Evaluation is perplexity on the eval documents (sliding windows of `block_size`, stride
//! half of it) or on the completions of eval pairs; the selection value is its negative. Strategies: `lora[:r]` on every attention and
//! MLP projection (merged on save, the PEFT adapter beside it), `top:K`, `full`.

use candle_core::{Device, Tensor};
use retune_metrics::perplexity::{Perplexity, PerplexityStats};
use retune_metrics::significance::{paired_bootstrap, PairedResult, DEFAULT_BOOTSTRAP, DEFAULT_SEED};
use retune_models::arch::Head;
use retune_models::causal::chat::{render, template, Message};
use retune_models::causal::perplexity::{document_nll, targets_nll, PerplexityOptions};
use retune_models::causal::CausalLm;
use retune_models::nn::{self, Mode, Params};
use retune_models::save::{save_causal_lm, Adapter};
use std::path::Path;

use crate::error::{io, Result, TrainError};
use crate::loss::IGNORE_INDEX;
use crate::strategy::{apply, merged_tensors, Strategy};
use crate::trainer::{run_loop, LoopConfig, LoopEvent, LoopOutcome, TrainTask};

/// What the model learns from.
#[derive(Clone, Debug)]
pub enum LmData {
    /// Raw documents (continued pre-training).
    Documents(Vec<String>),
    /// Prompt → completion pairs.
    Pairs {
        /// Prompts.
        prompts: Vec<String>,
        /// Completions.
        completions: Vec<String>,
    },
}

/// The recipe of a causal-LM fine-tune.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LmConfig {
    /// `lora[:r]`, `top:K` or `full`. Default `lora:8`.
    pub strategy: Strategy,
    /// The loop (its `lr` is replaced by [`LmConfig::lr`] or the strategy's default).
    pub train: LoopConfig,
    /// Peak learning rate; default 2e-4 (LoRA), 5e-5 (top:K, full).
    pub lr: Option<f64>,
    /// Tokens per training block and per evaluation window. Default 256.
    pub block_size: usize,
    /// Apply the model's chat template to prompts of pairs. Default true.
    pub chat: bool,
    /// Most eval documents (or pairs) scored, the first ones. Default all.
    pub eval_docs: Option<usize>,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            strategy: Strategy::Lora { r: 8, alpha: 16.0 },
            train: LoopConfig {
                batch_size: 8,
                epochs: 1,
                ..LoopConfig::default()
            },
            lr: None,
            block_size: 256,
            chat: true,
            eval_docs: None,
        }
    }
}

/// A training row: ids and the first position whose token is a target.
#[derive(Clone, Debug, PartialEq)]
pub struct LmRow {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Tokens before this position are context only (the prompt).
    pub first_target: usize,
}

/// Training rows of `data` for `lm` (see the module doc).
pub fn lm_rows(lm: &CausalLm, data: &LmData, block: usize, chat: bool) -> Result<Vec<LmRow>> {
    let eos = *lm
        .eos_ids
        .first()
        .ok_or_else(|| TrainError::Invalid("the model names no EOS token (eos_token_id)".into()))?;
    let block = block.max(2);
    match data {
        LmData::Documents(docs) => {
            let mut stream = Vec::new();
            for d in docs {
                stream.extend(lm.encode(d)?);
                stream.push(eos);
            }
            Ok(stream
                .chunks(block)
                .filter(|c| c.len() >= 2)
                .map(|c| LmRow {
                    ids: c.to_vec(),
                    first_target: 1,
                })
                .collect())
        }
        LmData::Pairs { prompts, completions } => {
            let tpl = if chat { template(lm) } else { None };
            let mut rows = Vec::with_capacity(prompts.len());
            for (p, c) in prompts.iter().zip(completions) {
                let prompt_text = match &tpl {
                    Some(t) => render(
                        t,
                        &[Message {
                            role: "user".into(),
                            content: p.clone(),
                        }],
                        true,
                        lm.special_token("bos_token").as_deref(),
                        lm.special_token("eos_token").as_deref(),
                    )
                    .map_err(|e| TrainError::Invalid(format!("chat_template: {e}")))?,
                    None => p.clone(),
                };
                let mut ids = lm.encode(&prompt_text)?;
                let first_target = ids.len().max(1);
                ids.extend(lm.encode(c)?);
                ids.push(eos);
                ids.truncate(block);
                if ids.len() > first_target {
                    rows.push(LmRow { ids, first_target });
                }
            }
            Ok(rows)
        }
    }
}

/// Sum of next-token cross-entropy over the target positions of `rows`, and their count
/// (training mode).
pub fn rows_loss(lm: &CausalLm, rows: &[&LmRow], pad: u32) -> Result<(Tensor, usize)> {
    let width = rows.iter().map(|r| r.ids.len()).max().unwrap_or(2).max(2);
    let mut flat = Vec::with_capacity(rows.len() * width);
    // The target of each position: the next token where it is a completion token, none at
    // the last position, on padding and on the prompt.
    let mut targets = Vec::with_capacity(rows.len() * width);
    for r in rows {
        flat.extend(
            r.ids
                .iter()
                .copied()
                .chain(std::iter::repeat_n(pad, width - r.ids.len())),
        );
        for j in 1..=width {
            let t = if j >= r.first_target && j < r.ids.len() {
                r.ids[j] as i64
            } else {
                IGNORE_INDEX
            };
            targets.push(t);
        }
    }
    let ids = Tensor::from_vec(flat, (rows.len(), width), &lm.device)?;
    let hidden = lm.model.forward_hidden(&ids, None, Mode::Train)?;
    let h = hidden.dim(2)?;
    Ok(lm
        .model
        .lm_loss_sum(&hidden.reshape((rows.len() * width, h))?, &targets)?)
}

/// Perplexity of eval documents.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LmEval {
    /// exp(Σ NLL / Σ tokens).
    pub perplexity: f64,
    /// Mean NLL per predicted token (nats).
    pub loss: f64,
    /// Tokens predicted.
    pub tokens: usize,
    /// Documents scored.
    pub documents: usize,
    /// Per-document (NLL, tokens), for paired tests.
    #[serde(skip)]
    pub per_document: Vec<(f64, usize)>,
}

/// What evaluation scores: documents (every token, in windows) or pairs (completion tokens).
#[derive(Clone, Debug)]
pub enum EvalSet {
    /// Token ids of documents.
    Documents(Vec<Vec<u32>>),
    /// Prompt + completion rows.
    Rows(Vec<LmRow>),
}

impl EvalSet {
    /// The eval set of `data` for `lm` (at most `limit` documents or pairs).
    pub fn of(lm: &CausalLm, data: &LmData, block: usize, chat: bool, limit: Option<usize>) -> Result<EvalSet> {
        Ok(match data {
            LmData::Documents(docs) => {
                let n = limit.unwrap_or(docs.len()).min(docs.len());
                let mut out = Vec::with_capacity(n);
                for d in &docs[..n] {
                    out.push(lm.encode(d)?);
                }
                EvalSet::Documents(out)
            }
            LmData::Pairs { prompts, completions } => {
                let n = limit.unwrap_or(prompts.len()).min(prompts.len());
                let part = LmData::Pairs {
                    prompts: prompts[..n].to_vec(),
                    completions: completions[..n].to_vec(),
                };
                EvalSet::Rows(lm_rows(lm, &part, block, chat)?)
            }
        })
    }
}

/// Perplexity of `set`: documents in windows of `block` with stride `block / 2`, pairs on their
/// completion tokens.
pub fn evaluate_lm(lm: &CausalLm, set: &EvalSet, block: usize) -> Result<LmEval> {
    let per_document: Vec<(f64, usize)> = match set {
        EvalSet::Documents(docs) => {
            let max_length = block.min(lm.context()).max(2);
            let opts = PerplexityOptions {
                max_length,
                stride: Some((max_length / 2).max(1)),
                batch_tokens: 2048,
            };
            document_nll(lm, docs, &opts, |_| {})?
                .iter()
                .map(|d| (d.nll, d.predicted))
                .collect()
        }
        EvalSet::Rows(rows) => {
            let seqs: Vec<(&[u32], usize)> = rows.iter().map(|r| (r.ids.as_slice(), r.first_target)).collect();
            targets_nll(lm, &seqs, 2048, |_| {})?
        }
    };
    let nll: f64 = per_document.iter().map(|d| d.0).sum();
    let n: usize = per_document.iter().map(|d| d.1).sum();
    if n == 0 {
        return Err(TrainError::Invalid("the eval data has no token to predict".into()));
    }
    Ok(LmEval {
        perplexity: (nll / n as f64).exp(),
        loss: nll / n as f64,
        tokens: n,
        documents: per_document.len(),
        per_document,
    })
}

/// Saves the model as `*ForCausalLM` (LoRA merged; the PEFT adapter in `adapter/`).
pub fn save_lm(lm: &CausalLm, strategy: &Strategy, dest: &Path) -> Result<()> {
    let (plain, adapters) = merged_tensors(&lm.params)?;
    let tensors = plain.into_iter().collect();
    let adapter = match strategy {
        Strategy::Lora { r, alpha } => Some(Adapter {
            tensors: adapters.into_iter().collect(),
            r: *r,
            alpha: *alpha,
        }),
        _ => None,
    };
    save_causal_lm(
        dest,
        &lm.config,
        &tensors,
        adapter.as_ref(),
        lm.tokenizer_files()?,
        &lm.source,
    )?;
    Ok(())
}

/// Loads `model` (folder or GGUF) and prepares it for `strategy`.
pub fn prepare_lm(model: &Path, strategy: &Strategy, device: &Device) -> Result<(CausalLm, Vec<String>)> {
    if !matches!(strategy, Strategy::Lora { .. } | Strategy::Top { .. } | Strategy::Full) {
        return Err(TrainError::Invalid(format!(
            "--strategy {strategy}: language models train with lora[:r], top:K or full"
        )));
    }
    let mut lm = CausalLm::load(model, device)?;
    let std = lm.config.arch().initializer_range();
    let applied = apply(strategy, &mut lm.params, lm.config.arch(), Head::CausalLm, std)?;
    lm.rebuild()?;
    Ok((lm, applied.trainable))
}

struct LmTask<'a> {
    lm: &'a CausalLm,
    trainable: Vec<String>,
    rows: Vec<LmRow>,
    eval_set: &'a EvalSet,
    cfg: &'a LmConfig,
    pad: u32,
    evals: std::sync::Mutex<Vec<LmEval>>,
}

impl TrainTask for LmTask<'_> {
    fn params(&self) -> &Params {
        &self.lm.params
    }
    fn trainable(&self) -> &[String] {
        &self.trainable
    }
    fn train_lengths(&self) -> Vec<usize> {
        self.rows.iter().map(|r| r.ids.len()).collect()
    }
    fn batch_loss(&self, rows: &[usize]) -> Result<(Tensor, usize)> {
        let rows: Vec<&LmRow> = rows.iter().map(|&i| &self.rows[i]).collect();
        rows_loss(self.lm, &rows, self.pad)
    }
    fn evaluate(&self, _step: usize) -> Result<(f64, serde_json::Value)> {
        let e = evaluate_lm(self.lm, self.eval_set, self.cfg.block_size)?;
        let record = serde_json::json!({"perplexity": e.perplexity, "eval_loss": e.loss, "tokens": e.tokens});
        let v = -e.perplexity;
        self.evals.lock().unwrap_or_else(|p| p.into_inner()).push(e);
        Ok((v, record))
    }
    fn save_model(&self, dest: &Path) -> Result<()> {
        save_lm(self.lm, &self.cfg.strategy, dest)
    }
}

/// The outcome of a causal-LM fine-tune.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LmSummary {
    /// The recipe.
    pub config: LmConfig,
    /// Training rows (blocks or pairs) and their target tokens.
    pub rows: usize,
    /// Target tokens in one epoch.
    pub target_tokens: usize,
    /// The loop's figures.
    pub run: LoopOutcome,
    /// Eval perplexity before training.
    pub before: LmEval,
    /// Every evaluation during training.
    pub evals: Vec<LmEval>,
    /// The kept (best) model on the eval data.
    pub after: LmEval,
    /// Paired bootstrap of the kept model's perplexity against the model before training, over
    /// eval documents (or pairs): sacrebleu's test on `[NLL, tokens]` statistics.
    pub paired: PairedResult,
}

/// Paired bootstrap (1000 resamples, sacrebleu's seed) of `after` against `before`.
pub fn paired_perplexity(before: &LmEval, after: &LmEval) -> PairedResult {
    let b = PerplexityStats::from_documents(&before.per_document);
    let a = PerplexityStats::from_documents(&after.per_document);
    paired_bootstrap(&Perplexity, &b, &a, DEFAULT_BOOTSTRAP, DEFAULT_SEED)
}

/// Trains a prepared model ([`prepare_lm`]) on `rows`, evaluating on `eval` as the loop says
/// (without an evaluation before training): the loop's figures and every evaluation. The model
/// holds the best evaluated parameters afterwards.
#[allow(clippy::too_many_arguments)]
pub fn fit_lm(
    lm: &CausalLm,
    trainable: Vec<String>,
    rows: Vec<LmRow>,
    eval: &EvalSet,
    cfg: &LmConfig,
    out: Option<&Path>,
    resume: Option<&Path>,
    on_event: impl FnMut(&LoopEvent),
) -> Result<(LoopOutcome, Vec<LmEval>)> {
    let mut loop_cfg = cfg.train.clone();
    loop_cfg.lr = cfg.lr.unwrap_or(match cfg.strategy {
        Strategy::Lora { .. } => 2e-4,
        _ => 5e-5,
    });
    let pad = lm.config.arch().pad_token_id();
    let recipe = serde_json::json!({"task": "lm", "config": cfg, "model": lm.source});
    let task = LmTask {
        lm,
        trainable,
        rows,
        eval_set: eval,
        cfg,
        pad,
        evals: Default::default(),
    };
    let run = run_loop(&task, &loop_cfg, recipe, out, resume, on_event)?;
    let evals = task.evals.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((run, evals))
}

/// Fine-tunes a causal LM; the returned model holds the best evaluated parameters.
#[allow(clippy::too_many_arguments)]
pub fn train_lm(
    model: &Path,
    train: &LmData,
    eval: &LmData,
    cfg: &LmConfig,
    out: Option<&Path>,
    resume: Option<&Path>,
    device: &Device,
    on_event: impl FnMut(&LoopEvent),
) -> Result<(LmSummary, CausalLm)> {
    nn::set_seed(cfg.train.seed);
    let (lm, trainable) = prepare_lm(model, &cfg.strategy, device)?;
    let rows = lm_rows(&lm, train, cfg.block_size, cfg.chat)?;
    if rows.is_empty() {
        return Err(TrainError::Invalid(
            "the training data gives no row with a token to predict".into(),
        ));
    }
    let target_tokens = rows.iter().map(|r| r.ids.len() - r.first_target).sum();
    let eval_set = EvalSet::of(&lm, eval, cfg.block_size, cfg.chat, cfg.eval_docs)?;
    let before = evaluate_lm(&lm, &eval_set, cfg.block_size)?;
    let n_rows = rows.len();
    let (run, evals) = fit_lm(&lm, trainable, rows, &eval_set, cfg, out, resume, on_event)?;
    let after = evaluate_lm(&lm, &eval_set, cfg.block_size)?;
    let paired = paired_perplexity(&before, &after);
    let summary = LmSummary {
        config: cfg.clone(),
        rows: n_rows,
        target_tokens,
        run,
        before,
        evals,
        after,
        paired,
    };
    if let Some(o) = out {
        let p = o.join("summary.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&summary).unwrap_or_default()).map_err(io(&p))?;
    }
    Ok((summary, lm))
}
