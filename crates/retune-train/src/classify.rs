//! Fine-tuning a sequence classifier of any supported encoder family: the training loop.

use candle_core::{Device, Tensor};
use retune_metrics::classify::ClassificationReport;
use retune_models::arch::{EncoderInput, EncoderModel, Head, ModelConfig, OutputRows};
use retune_models::nn::{self, Mode, Params};
use retune_models::save::Adapter;
use retune_models::text_tokenizer::{EncodedRow, TextTokenizer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::batching::eval_batches;
use crate::error::{io, Result, TrainError};
use crate::loss::cross_entropy_sum;
use crate::strategy::{self, merged_tensors, Strategy};
use crate::trainer::{run_loop, LoopConfig, LoopEvent, LoopOutcome, TrainTask};
use retune_models::batches::map_batches;

/// The metric that picks the best checkpoint and drives early stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectMetric {
    /// Accuracy.
    Accuracy,
    /// Macro-averaged F1.
    MacroF1,
}

impl std::str::FromStr for SelectMetric {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "accuracy" => Ok(SelectMetric::Accuracy),
            "macro_f1" | "f1" => Ok(SelectMetric::MacroF1),
            o => Err(format!("unknown metric {o:?} (accuracy, macro_f1)")),
        }
    }
}

impl std::fmt::Display for SelectMetric {
    /// The name `FromStr` reads back (`accuracy`, `macro_f1`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SelectMetric::Accuracy => "accuracy",
            SelectMetric::MacroF1 => "macro_f1",
        })
    }
}

/// The recipe of a classification fine-tune. Defaults follow the Hugging Face Trainer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ClassifyConfig {
    /// What learns. Default `full`.
    pub strategy: Strategy,
    /// The loop: epochs, batch size, schedule, clipping, evaluation, seed (its `lr` is replaced
    /// by [`ClassifyConfig::lr`] or the strategy's default).
    pub train: LoopConfig,
    /// Peak learning rate; default by strategy ([`Strategy::default_lr`]).
    pub lr: Option<f64>,
    /// Metric of the best checkpoint. Default accuracy.
    pub metric: SelectMetric,
    /// Longest input in tokens (longer ones are truncated). Default 128.
    pub max_length: usize,
    /// Label smoothing of the cross-entropy. Default 0.
    pub label_smoothing: f64,
    /// Examples per evaluation batch. Default 64.
    pub eval_batch_size: usize,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            strategy: Strategy::Full,
            train: LoopConfig::default(),
            lr: None,
            metric: SelectMetric::Accuracy,
            max_length: 128,
            label_smoothing: 0.0,
            eval_batch_size: 64,
        }
    }
}

/// Texts (optionally paired) with label ids into the run's label list.
#[derive(Clone, Debug, Default)]
pub struct LabeledTexts {
    /// A name for reports (`train`, `eval`, `old`).
    pub name: String,
    /// The texts.
    pub texts: Vec<String>,
    /// Second texts (sentence-pair tasks).
    pub pairs: Option<Vec<String>>,
    /// Label id per text.
    pub labels: Vec<u32>,
}

/// An evaluation's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalResult {
    /// Which split.
    pub split: String,
    /// Optimizer step when it ran.
    pub step: usize,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Macro F1.
    pub macro_f1: f64,
    /// Rows evaluated.
    pub rows: usize,
    /// Confusion matrix (gold rows × predicted columns).
    pub confusion: Vec<Vec<u64>>,
    /// Predicted label id per row (input order), for paired tests.
    #[serde(skip)]
    pub predictions: Vec<u32>,
}

impl EvalResult {
    /// The value of `metric`.
    pub fn value(&self, metric: SelectMetric) -> f64 {
        match metric {
            SelectMetric::Accuracy => self.accuracy,
            SelectMetric::MacroF1 => self.macro_f1,
        }
    }
}

/// The outcome of a classification fine-tune.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    /// The recipe.
    pub config: ClassifyConfig,
    /// Label names in id order.
    pub labels: Vec<String>,
    /// The loop's figures (steps, best, timings, evaluation records).
    pub run: LoopOutcome,
    /// Every evaluation of the eval split.
    pub evals: Vec<EvalResult>,
    /// Trainable values.
    pub trainable: usize,
    /// Total values.
    pub parameters: usize,
    /// Extra splits (`--also-eval`) evaluated before training.
    pub also_eval_before: Vec<EvalResult>,
    /// The same splits evaluated with the best model.
    pub also_eval_after: Vec<EvalResult>,
    /// What the strategy decided that a person should hear about.
    pub notes: Vec<String>,
}

/// A classifier being trained: parameters, model, tokenizer.
pub struct ClassifierState {
    /// Parameters (trainable and frozen).
    pub params: Params,
    /// The model built on them.
    pub model: Box<dyn EncoderModel>,
    /// Configuration with the run's labels.
    pub config: ModelConfig,
    /// The head trained.
    pub head: Head,
    /// Tokenizer.
    pub tokenizer: TextTokenizer,
    /// Names of the trainable parameters.
    pub trainable: Vec<String>,
    /// What the strategy decided that a person should hear about (frozen embeddings, ...).
    pub notes: Vec<String>,
    /// Folder the model came from (tokenizer files are copied from it).
    pub source: PathBuf,
    /// Device.
    pub device: Device,
}

/// Reads a model folder and prepares it for `strategy` with a sequence-classification head for
/// `labels` (see [`prepare_model`]).
pub fn prepare_classifier(
    model_dir: &Path,
    labels: &[String],
    strategy: &Strategy,
    max_length: usize,
    device: &Device,
) -> Result<ClassifierState> {
    prepare_model(
        model_dir,
        Head::SequenceClassification,
        labels,
        strategy,
        max_length,
        device,
    )
}

/// Reads a model folder of any supported family (or only its `config.json`, for `scratch`) and
/// prepares it for `strategy` with `head` for `labels`. A head whose labels differ is resized:
/// rows of labels it knows are kept, new labels get new rows. Parameters the model does not use
/// are dropped, as `from_pretrained` ignores them.
pub fn prepare_model(
    model_dir: &Path,
    head: Head,
    labels: &[String],
    strategy: &Strategy,
    max_length: usize,
    device: &Device,
) -> Result<ClassifierState> {
    let mut config = ModelConfig::from_dir(model_dir)?;
    let std = config.arch().initializer_range();
    let mut params = if retune_models::checkpoint_files::has_weights(model_dir) {
        config.load_params(model_dir, device)?
    } else if *strategy == Strategy::Scratch {
        let mut p = Params::empty(device);
        p.source = config.path.clone();
        p.init_missing = Some(std);
        p
    } else {
        return Err(TrainError::Invalid(format!(
            "{}: no weights (model.safetensors or pytorch_model.bin); only --strategy scratch builds a model from config.json alone",
            model_dir.display()
        )));
    };
    if let Some(out) = config.arch().output_projection(head) {
        resize_output(&params, out, &config.labels.labels(), labels, std)?;
    }
    config.labels.set_labels(labels);
    config.labels.problem_type = Some("single_label_classification".into());
    // Build once to create missing head parameters and to learn which parameters are used.
    params.track_use();
    config.build(&params, head)?;
    params.retain_used();
    params.init_missing = None;
    let applied = strategy::apply(strategy, &mut params, config.arch(), head, std)?;
    let model = config.build(&params, head)?;
    let tokenizer = TextTokenizer::for_model(model_dir, &config, max_length)?;
    Ok(ClassifierState {
        params,
        model,
        config,
        head,
        tokenizer,
        trainable: applied.trainable,
        notes: applied.notes,
        source: model_dir.to_path_buf(),
        device: device.clone(),
    })
}

/// Re-orders the rows of the output projection `out` (`{out}.weight`, `{out}.bias`) from the
/// checkpoint's labels `old` to `new`: known labels keep their rows, new ones get N(0, std)
/// rows and zero biases. No-op when the labels agree or the checkpoint has no such head.
fn resize_output(params: &Params, out: &str, old: &[String], new: &[String], std: f64) -> Result<()> {
    let Some(w) = params.var(&format!("{out}.weight")) else {
        return Ok(());
    };
    if old == new {
        return Ok(());
    }
    let device = &params.device;
    let w_old = w.as_tensor().clone();
    let (rows_old, h) = w_old.dims2()?;
    let b_old = params
        .var(&format!("{out}.bias"))
        .map(|b| b.as_tensor().clone())
        .unwrap_or(Tensor::zeros(rows_old, candle_core::DType::F32, device)?);
    let w_new = nn::seeded_normal(&[new.len(), h], std, device)?;
    let mut rows = Vec::with_capacity(new.len());
    let mut biases = Vec::with_capacity(new.len());
    for (i, l) in new.iter().enumerate() {
        match old.iter().position(|o| o == l).filter(|&j| j < rows_old) {
            Some(j) => {
                rows.push(w_old.narrow(0, j, 1)?);
                biases.push(b_old.narrow(0, j, 1)?);
            }
            None => {
                rows.push(w_new.narrow(0, i, 1)?);
                biases.push(Tensor::zeros(1, candle_core::DType::F32, device)?);
            }
        }
    }
    params.insert(&format!("{out}.weight"), &Tensor::cat(&rows, 0)?)?;
    params.insert(&format!("{out}.bias"), &Tensor::cat(&biases, 0)?)?;
    Ok(())
}

fn encode(tok: &TextTokenizer, data: &LabeledTexts) -> Result<Vec<EncodedRow>> {
    let texts: Vec<&str> = data.texts.iter().map(|s| s.as_str()).collect();
    let pairs: Option<Vec<&str>> = data.pairs.as_ref().map(|p| p.iter().map(|s| s.as_str()).collect());
    Ok(tok.encode_rows(&texts, pairs.as_deref())?)
}

fn input_of(tok: &TextTokenizer, rows: &[&EncodedRow], device: &Device) -> Result<EncoderInput> {
    Ok(EncoderInput::from_batch(&tok.pad(rows), device)?)
}

/// Evaluates the classifier on encoded rows, streaming: only the confusion matrix and one
/// predicted id per row are kept.
pub fn evaluate(
    state: &ClassifierState,
    rows: &[EncodedRow],
    labels: &[u32],
    batch_size: usize,
    split: &str,
    step: usize,
) -> Result<EvalResult> {
    let lengths: Vec<usize> = rows.iter().map(|r| r.ids.len()).collect();
    evaluate_batches(state, &lengths, labels, batch_size, split, step, |batch| {
        let refs: Vec<&EncodedRow> = batch.iter().map(|&i| &rows[i]).collect();
        let input = input_of(&state.tokenizer, &refs, &state.device)?;
        Ok(state.model.logits(&input, Mode::Eval)?)
    })
}

/// The evaluation loop over length-grouped batches, with `logits_of` giving a batch's logits.
fn evaluate_batches(
    state: &ClassifierState,
    lengths: &[usize],
    labels: &[u32],
    batch_size: usize,
    split: &str,
    step: usize,
    logits_of: impl Fn(&[usize]) -> Result<Tensor> + Sync,
) -> Result<EvalResult> {
    let k = state.config.labels.label_count();
    let mut confusion = vec![vec![0u64; k]; k];
    let mut predictions = vec![0u32; lengths.len()];
    let mut loss_sum = 0.0;
    // Logits of several batches at a time; losses summed in batch order as before.
    let batches = eval_batches(lengths, batch_size);
    let all_logits = map_batches(&batches, |_| {}, |batch| logits_of(batch))?;
    for (batch, logits) in batches.iter().zip(all_logits) {
        let targets: Vec<i64> = batch.iter().map(|&i| labels[i] as i64).collect();
        let (loss, _) = cross_entropy_sum(&logits, &targets, 0.0)?;
        loss_sum += loss.to_scalar::<f32>()? as f64;
        let pred = logits.argmax(1)?.to_vec1::<u32>()?;
        for (j, &i) in batch.iter().enumerate() {
            predictions[i] = pred[j];
            confusion[labels[i] as usize][pred[j] as usize] += 1;
        }
    }
    let names = state.config.labels.labels();
    let report = ClassificationReport::from_confusion(names, confusion.clone());
    Ok(EvalResult {
        split: split.into(),
        step,
        loss: loss_sum / lengths.len().max(1) as f64,
        accuracy: report.accuracy,
        macro_f1: report.macro_avg.f1,
        rows: lengths.len(),
        confusion,
        predictions,
    })
}

/// The head's inputs of every row (n, hidden), computed once by the frozen encoder in inference
/// mode, for the `head` strategy: the encoder's outputs never change, so each text goes through
/// it once instead of once per epoch (its dropout is off: it acts as a feature extractor).
/// None for heads that read every token.
/// `progress` gets the rows done.
fn cached_head_inputs(
    state: &ClassifierState,
    rows: &[EncodedRow],
    batch_size: usize,
    progress: impl FnMut(usize),
) -> Result<Option<Tensor>> {
    if state.model.head_rows() == OutputRows::All {
        return Ok(None);
    }
    let lengths: Vec<usize> = rows.iter().map(|r| r.ids.len()).collect();
    let batches = eval_batches(&lengths, batch_size);
    let parts = map_batches(&batches, progress, |batch| -> Result<Tensor> {
        let refs: Vec<&EncodedRow> = batch.iter().map(|&i| &rows[i]).collect();
        let input = input_of(&state.tokenizer, &refs, &state.device)?;
        Ok(state.model.head_input_of(&input, Mode::Eval)?)
    })?;
    if parts.iter().any(|x| x.rank() != 2) {
        return Ok(None);
    }
    let d = state.config.arch().hidden_size();
    let mut flat = vec![0f32; rows.len() * d];
    for (batch, x) in batches.iter().zip(parts) {
        let x: Vec<Vec<f32>> = x.to_device(&retune_models::device::host())?.to_vec2()?;
        for (j, &i) in batch.iter().enumerate() {
            flat[i * d..(i + 1) * d].copy_from_slice(&x[j]);
        }
    }
    Ok(Some(Tensor::from_vec(flat, (rows.len(), d), &state.device)?))
}

/// The rows `idx` of cached head inputs.
fn rows_of(cache: &Tensor, idx: &[usize]) -> Result<Tensor> {
    let ids: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
    Ok(cache.index_select(&Tensor::from_vec(ids, idx.len(), cache.device())?, 0)?)
}

/// Saves the classifier as a Hugging Face checkpoint of its family's class for its head
/// (`BertForSequenceClassification`, `DistilBertForTokenClassification`, ...) in `dest`
/// (atomically), with the tokenizer files of the source model; LoRA updates are merged, and the
/// adapter is also written to `dest/adapter/` in PEFT's layout.
pub fn save_classifier(state: &ClassifierState, dest: &Path) -> Result<()> {
    let (plain, mut adapters) = merged_tensors(&state.params)?;
    let tensors: HashMap<String, Tensor> = plain.into_iter().collect();
    if !adapters.is_empty() {
        // PEFT saves the trained head (`modules_to_save`) with the adapter.
        for name in state.trainable.iter().filter(|n| !n.contains(".lora_")) {
            if let Some(t) = tensors.get(name) {
                adapters.push((format!("base_model.model.{name}"), t.clone()));
            }
        }
    }
    let adapter = (!adapters.is_empty()).then(|| {
        // The rank: rows of any `lora_A` (r, in).
        let r = adapters
            .iter()
            .find(|(n, _)| n.contains(".lora_A."))
            .and_then(|(_, t)| t.dim(0).ok())
            .unwrap_or(0);
        Adapter {
            tensors: adapters.into_iter().collect(),
            r,
            alpha: state.params.lora_scaling * r as f64,
        }
    });
    retune_models::save::save_encoder(
        dest,
        &state.config,
        state.head,
        &tensors,
        adapter.as_ref(),
        Some(&state.source),
    )?;
    Ok(())
}

/// Everything a classification fine-tune needs.
pub struct ClassifyJob<'a> {
    /// The model folder (Hugging Face layout).
    pub model_dir: &'a Path,
    /// Label names in id order.
    pub labels: Vec<String>,
    /// Training data.
    pub train: LabeledTexts,
    /// Evaluation data (picks the best checkpoint).
    pub eval: LabeledTexts,
    /// More splits evaluated before training and with the best model (forgetting).
    pub also_eval: Vec<LabeledTexts>,
    /// Run folder (checkpoints, log, best model); None keeps everything in memory.
    pub out: Option<PathBuf>,
    /// A checkpoint (or run folder) to resume from.
    pub resume: Option<PathBuf>,
    /// The recipe.
    pub config: ClassifyConfig,
    /// Compute device.
    pub device: Device,
}

struct ClassifyTask<'a> {
    state: &'a ClassifierState,
    train_rows: &'a [EncodedRow],
    train_labels: &'a [u32],
    eval_rows: &'a [EncodedRow],
    eval: &'a LabeledTexts,
    config: &'a ClassifyConfig,
    evals: std::sync::Mutex<Vec<EvalResult>>,
    /// Head inputs of the train and eval rows when the encoder is frozen (`head`).
    cache: Option<(Tensor, Tensor)>,
}

impl TrainTask for ClassifyTask<'_> {
    fn params(&self) -> &Params {
        &self.state.params
    }
    fn trainable(&self) -> &[String] {
        &self.state.trainable
    }
    fn train_lengths(&self) -> Vec<usize> {
        self.train_rows.iter().map(|r| r.ids.len()).collect()
    }
    fn batch_loss(&self, rows: &[usize]) -> Result<(Tensor, usize)> {
        let targets: Vec<i64> = rows.iter().map(|&i| self.train_labels[i] as i64).collect();
        let logits = match &self.cache {
            Some((train, _)) => self.state.model.head_on(&rows_of(train, rows)?, Mode::Train)?,
            None => {
                let refs: Vec<&EncodedRow> = rows.iter().map(|&i| &self.train_rows[i]).collect();
                let input = input_of(&self.state.tokenizer, &refs, &self.state.device)?;
                self.state.model.logits(&input, Mode::Train)?
            }
        };
        Ok(cross_entropy_sum(&logits, &targets, self.config.label_smoothing)?)
    }
    fn evaluate(&self, step: usize) -> Result<(f64, serde_json::Value)> {
        let (state, cfg) = (self.state, self.config);
        let e = match &self.cache {
            Some((_, eval)) => {
                let lengths: Vec<usize> = self.eval_rows.iter().map(|r| r.ids.len()).collect();
                evaluate_batches(
                    state,
                    &lengths,
                    &self.eval.labels,
                    cfg.eval_batch_size,
                    &self.eval.name,
                    step,
                    |b| Ok(state.model.head_on(&rows_of(eval, b)?, Mode::Eval)?),
                )?
            }
            None => evaluate(
                state,
                self.eval_rows,
                &self.eval.labels,
                cfg.eval_batch_size,
                &self.eval.name,
                step,
            )?,
        };
        let record = serde_json::json!({"split": e.split, "accuracy": e.accuracy, "macro_f1": e.macro_f1,
            "loss": e.loss});
        let v = e.value(self.config.metric);
        self.evals.lock().unwrap_or_else(|p| p.into_inner()).push(e);
        Ok((v, record))
    }
    fn save_model(&self, dest: &Path) -> Result<()> {
        save_classifier(self.state, dest)
    }
}

/// Runs a fine-tune; returns its summary and the trained classifier (holding the best
/// evaluated parameters).
pub fn train_classifier(
    job: ClassifyJob,
    mut on_event: impl FnMut(&LoopEvent),
) -> Result<(RunSummary, ClassifierState)> {
    let cfg = job.config.clone();
    if cfg.strategy == Strategy::Probe {
        return Err(TrainError::Invalid(
            "the probe strategy is trained by train_probe".into(),
        ));
    }
    nn::set_seed(cfg.train.seed);
    let state = prepare_classifier(job.model_dir, &job.labels, &cfg.strategy, cfg.max_length, &job.device)?;
    let train_rows = encode(&state.tokenizer, &job.train)?;
    let eval_rows = encode(&state.tokenizer, &job.eval)?;
    let extra_rows: Vec<Vec<EncodedRow>> = job
        .also_eval
        .iter()
        .map(|d| encode(&state.tokenizer, d))
        .collect::<Result<_>>()?;
    let mut loop_cfg = cfg.train.clone();
    loop_cfg.lr = cfg.lr.unwrap_or_else(|| cfg.strategy.default_lr());
    let mut also_before = Vec::new();
    if job.resume.is_none() {
        for (d, rows) in job.also_eval.iter().zip(&extra_rows) {
            also_before.push(evaluate(&state, rows, &d.labels, cfg.eval_batch_size, &d.name, 0)?);
        }
    }
    let cache = match cfg.strategy {
        Strategy::Head => {
            let (n, total) = (train_rows.len(), train_rows.len() + eval_rows.len());
            on_event(&LoopEvent::Encoding { done: 0, total });
            let train = cached_head_inputs(&state, &train_rows, cfg.eval_batch_size, |done| {
                on_event(&LoopEvent::Encoding { done, total })
            })?;
            let eval = cached_head_inputs(&state, &eval_rows, cfg.eval_batch_size, |done| {
                on_event(&LoopEvent::Encoding { done: n + done, total })
            })?;
            train.zip(eval)
        }
        _ => None,
    };
    // Draws made so far (new head, adapters) are part of the recipe; the loop's stream starts here.
    let recipe = serde_json::json!({"task": "classify", "config": cfg, "labels": job.labels,
        "model": job.model_dir});
    let task = ClassifyTask {
        state: &state,
        train_rows: &train_rows,
        train_labels: &job.train.labels,
        eval_rows: &eval_rows,
        eval: &job.eval,
        config: &cfg,
        evals: Default::default(),
        cache,
    };
    let outcome = run_loop(
        &task,
        &loop_cfg,
        recipe,
        job.out.as_deref(),
        job.resume.as_deref(),
        &mut on_event,
    )?;
    let evals = task.evals.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut also_after = Vec::new();
    for (d, rows) in job.also_eval.iter().zip(&extra_rows) {
        also_after.push(evaluate(
            &state,
            rows,
            &d.labels,
            cfg.eval_batch_size,
            &d.name,
            outcome.steps,
        )?);
    }
    let summary = RunSummary {
        config: cfg,
        labels: job.labels.clone(),
        trainable: outcome.trainable,
        parameters: parameter_count(&state.params),
        run: outcome,
        evals,
        also_eval_before: also_before,
        also_eval_after: also_after,
        notes: state.notes.clone(),
    };
    if let Some(out) = &job.out {
        write_summary(out, &summary)?;
    }
    Ok((summary, state))
}

/// Values in all parameters (trainable and frozen).
pub fn parameter_count(params: &Params) -> usize {
    values_of(params, &params.names())
}

/// Values held by the parameters `names` of `params` (a strategy's trainable ones, say).
pub fn values_of(params: &Params, names: &[String]) -> usize {
    names.iter().filter_map(|n| params.var(n)).map(|v| v.elem_count()).sum()
}

/// Writes `summary.json` into the run folder `out`.
pub fn write_summary(out: &Path, summary: &impl serde::Serialize) -> Result<()> {
    let p = out.join("summary.json");
    std::fs::write(&p, serde_json::to_vec_pretty(summary).unwrap_or_default()).map_err(io(&p))
}

/// Figures of a prediction run against gold labels (for the probe and other non-loop models).
pub fn eval_from_predictions(
    labels: &[String],
    gold: &[u32],
    predictions: Vec<u32>,
    proba: Option<&[f32]>,
    split: &str,
) -> EvalResult {
    let k = labels.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (&g, &p) in gold.iter().zip(&predictions) {
        confusion[g as usize][p as usize] += 1;
    }
    let loss = proba
        .map(|p| {
            gold.iter()
                .enumerate()
                .map(|(i, &g)| -(p[i * k + g as usize].max(1e-12) as f64).ln())
                .sum::<f64>()
                / gold.len().max(1) as f64
        })
        .unwrap_or(f64::NAN);
    let report = ClassificationReport::from_confusion(labels.to_vec(), confusion.clone());
    EvalResult {
        split: split.into(),
        step: 0,
        loss,
        accuracy: report.accuracy,
        macro_f1: report.macro_avg.f1,
        rows: gold.len(),
        confusion,
        predictions,
    }
}

/// The outcome of a linear probe.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProbeRun {
    /// Evaluation on the eval split.
    pub eval: EvalResult,
    /// Evaluations of the extra splits.
    pub also_eval: Vec<EvalResult>,
    /// Seconds to compute the features of all splits.
    pub feature_seconds: f64,
    /// Seconds to fit the regression.
    pub fit_seconds: f64,
    /// The fitted model.
    #[serde(skip)]
    pub model: crate::probe::LogisticRegression,
}

/// Features of labeled texts from a prepared classifier's encoder.
pub fn features_of(state: &ClassifierState, data: &LabeledTexts, batch_size: usize) -> Result<crate::probe::Features> {
    let rows = encode(&state.tokenizer, data)?;
    crate::probe::extract_features(
        state.model.as_ref(),
        state.config.arch().hidden_size(),
        &state.tokenizer,
        &rows,
        batch_size,
        &state.device,
        |_| {},
    )
}

/// Trains the linear probe of `job` (frozen encoder, logistic regression on mean-pooled
/// features) and evaluates it. With a run folder, writes `probe.json` (the regression) and
/// `summary.json`.
pub fn train_probe(job: &ClassifyJob, cfg: crate::probe::ProbeConfig) -> Result<ProbeRun> {
    nn::set_seed(job.config.train.seed);
    let state = prepare_classifier(
        job.model_dir,
        &job.labels,
        &Strategy::Probe,
        job.config.max_length,
        &job.device,
    )?;
    let t0 = Instant::now();
    let bs = job.config.eval_batch_size;
    let ftrain = features_of(&state, &job.train, bs)?;
    let feval = features_of(&state, &job.eval, bs)?;
    let fextra: Vec<crate::probe::Features> = job
        .also_eval
        .iter()
        .map(|d| features_of(&state, d, bs))
        .collect::<Result<_>>()?;
    let feature_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let k = job.labels.len();
    let model = crate::probe::LogisticRegression::fit(&ftrain, &job.train.labels, k, cfg);
    let fit_seconds = t1.elapsed().as_secs_f64();
    let run_on = |f: &crate::probe::Features, d: &LabeledTexts| {
        let p = model.predict_proba(f);
        eval_from_predictions(
            &job.labels,
            &d.labels,
            crate::probe::argmax_rows(&p, k),
            Some(&p),
            &d.name,
        )
    };
    let eval = run_on(&feval, &job.eval);
    let also_eval = fextra.iter().zip(&job.also_eval).map(|(f, d)| run_on(f, d)).collect();
    let run = ProbeRun {
        eval,
        also_eval,
        feature_seconds,
        fit_seconds,
        model,
    };
    if let Some(out) = &job.out {
        std::fs::create_dir_all(out).map_err(io(out))?;
        let p = out.join("probe.json");
        let body = serde_json::json!({"pooling": "mean", "labels": job.labels, "model": run.model,
            "encoder": job.model_dir});
        std::fs::write(&p, serde_json::to_vec(&body).unwrap_or_default()).map_err(io(&p))?;
        let p = out.join("summary.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&run).unwrap_or_default()).map_err(io(&p))?;
    }
    Ok(run)
}

/// Evaluates labeled texts with the classifier.
pub fn evaluate_texts(state: &ClassifierState, data: &LabeledTexts, batch_size: usize) -> Result<EvalResult> {
    let rows = encode(&state.tokenizer, data)?;
    evaluate(state, &rows, &data.labels, batch_size, &data.name, 0)
}
