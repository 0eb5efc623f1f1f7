//! Token classification (NER): sentences of words with one tag each, an encoder with a
//! token-classification head, trained in the shared loop ([`crate::trainer`]) and evaluated by
//! entity-level F1 exactly as seqeval computes it.
//!
//! Alignment follows `transformers`' token-classification recipe: a word's tag goes on its first
//! sub-word and the other sub-words are ignored (-100), or, with `label_all_subwords`, every
//! sub-word is labelled (a `B-X` word's continuations as `I-X`). A word the tokenizer turns into
//! no token (a lone U+FE0F, a combining mark alone) gets no label and is predicted `O`. A
//! sentence longer than the model takes is split into overlapping windows (`stride` tokens of
//! overlap) instead of being cut; each word's prediction comes from the window where its first
//! sub-word has the most context on both sides, and predictions are mapped back to words.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use retune_metrics::seqeval::{SeqevalConfig, SeqevalReport};
use retune_models::arch::{EncoderInput, Head};
use retune_models::nn::{self, Mode};
use retune_models::text_tokenizer::{EncodedRow, WordEncoding};

use crate::batching::eval_batches;
use crate::classify::{parameter_count, prepare_model, save_classifier, write_summary, ClassifierState};
use crate::error::{Result, TrainError};
use crate::loss::cross_entropy_sum;
use crate::strategy::Strategy;
use crate::trainer::{run_loop, LoopConfig, LoopEvent, LoopOutcome, TrainTask};

/// Sentences of words and their tags (names, e.g. `B-person`).
#[derive(Clone, Debug, Default)]
pub struct TaggedSentences {
    /// A name for reports (`train`, `eval`, `test`).
    pub name: String,
    /// Words of each sentence.
    pub words: Vec<Vec<String>>,
    /// Tags of each sentence, one per word.
    pub tags: Vec<Vec<String>>,
}

/// The recipe of a token-classification fine-tune. Defaults follow `transformers`' NER example.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TagConfig {
    /// What learns. Default `full`.
    pub strategy: Strategy,
    /// The loop (its `lr` is replaced by [`TagConfig::lr`] or the strategy's default).
    pub train: LoopConfig,
    /// Peak learning rate; default by strategy.
    pub lr: Option<f64>,
    /// Longest window in tokens; longer sentences are split into windows. Default 128.
    pub max_length: usize,
    /// Tokens shared by consecutive windows of a long sentence. Default 32.
    pub stride: usize,
    /// Label every sub-word instead of the first of each word. Default false.
    pub label_all_subwords: bool,
    /// Label smoothing. Default 0.
    pub label_smoothing: f64,
    /// Windows per evaluation batch. Default 64.
    pub eval_batch_size: usize,
}

impl Default for TagConfig {
    fn default() -> Self {
        TagConfig {
            strategy: Strategy::Full,
            train: LoopConfig::default(),
            lr: None,
            max_length: 128,
            stride: 32,
            label_all_subwords: false,
            label_smoothing: 0.0,
            eval_batch_size: 64,
        }
    }
}

/// One window of a sentence: the model's input row, a target per token (-100: none) and, per
/// token, the word whose prediction it gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// The sentence it comes from.
    pub sentence: usize,
    /// Token ids with the special tokens.
    pub row: EncodedRow,
    /// Label id per token, -100 where no loss is taken.
    pub targets: Vec<i64>,
    /// The word each token predicts (its first sub-word, in the window chosen for it).
    pub predicts: Vec<Option<usize>>,
}

/// The label id a `B-X` word's continuation sub-words get with `label_all_subwords`.
fn continuation(labels: &[String], id: u32) -> u32 {
    let name = &labels[id as usize];
    match name.strip_prefix("B-") {
        Some(t) => labels
            .iter()
            .position(|l| *l == format!("I-{t}"))
            .map(|i| i as u32)
            .unwrap_or(id),
        None => id,
    }
}

/// Splits one encoded sentence into windows of at most `max_len` tokens (special tokens
/// included) overlapping by `stride`, with targets from `tags` (label ids per word, an id past
/// the labels for a word without one; None at prediction time).
pub fn windows(
    sentence: usize,
    enc: &WordEncoding,
    tags: Option<&[u32]>,
    labels: &[String],
    max_len: usize,
    stride: usize,
    label_all: bool,
) -> Vec<Window> {
    let n = enc.ids.len();
    let prefix = enc.words.iter().take_while(|w| w.is_none()).count().min(n);
    let suffix = enc.words[prefix..].iter().rev().take_while(|w| w.is_none()).count();
    let content = prefix..n - suffix;
    let len = content.len();
    let span = max_len.saturating_sub(prefix + suffix).max(1);
    // Window starts within the content.
    let mut starts = vec![0usize];
    if len > span {
        let step = span.saturating_sub(stride).max(1);
        let mut s = 0;
        while s + span < len {
            s += step;
            starts.push(s.min(len - span));
        }
        starts.dedup();
    }
    // Each word's first sub-word (content position).
    let mut first: Vec<Option<usize>> = Vec::new();
    for (p, w) in enc.words[content.clone()].iter().enumerate() {
        if let Some(w) = *w {
            if first.len() <= w {
                first.resize(w + 1, None);
            }
            if first[w].is_none() {
                first[w] = Some(p);
            }
        }
    }
    // The window with the most context around each first sub-word.
    let owner = |p: usize| -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (k, &s) in starts.iter().enumerate() {
            let e = (s + span).min(len);
            if p >= s && p < e {
                let margin = (p - s).min(e - 1 - p);
                if best.is_none_or(|(_, m)| margin > m) {
                    best = Some((k, margin));
                }
            }
        }
        best.map(|b| b.0)
    };
    let mut out = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let e = (s + span).min(len);
        let mut ids = Vec::with_capacity(prefix + (e - s) + suffix);
        ids.extend_from_slice(&enc.ids[..prefix]);
        ids.extend_from_slice(&enc.ids[prefix + s..prefix + e]);
        ids.extend_from_slice(&enc.ids[n - suffix..]);
        let mut targets = vec![-100i64; ids.len()];
        let mut predicts = vec![None; ids.len()];
        for p in s..e {
            let Some(w) = enc.words[prefix + p] else {
                continue;
            };
            let is_first = first.get(w).copied().flatten() == Some(p);
            let at = prefix + (p - s);
            if let Some(tags) = tags {
                if let Some(&t) = tags.get(w).filter(|&&t| (t as usize) < labels.len()) {
                    if is_first {
                        targets[at] = t as i64;
                    } else if label_all {
                        targets[at] = continuation(labels, t) as i64;
                    }
                }
            }
            if is_first && owner(p) == Some(k) {
                predicts[at] = Some(w);
            }
        }
        let type_ids = vec![0u32; ids.len()];
        out.push(Window {
            sentence,
            row: EncodedRow { ids, type_ids },
            targets,
            predicts,
        });
    }
    out
}

/// What [`encode`] does with a tag outside the run's labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UnknownTag {
    /// An error naming the sentence (training data).
    Error,
    /// No loss on it (evaluation data: a type never trained on still counts as missed by
    /// seqeval, which compares tag names).
    NoLoss,
}

/// A label id no label has: the word gets no target.
const NO_LABEL: u32 = u32::MAX;

/// Windows of every sentence of `data`, targets from its tags.
fn encode(
    state: &ClassifierState,
    data: &TaggedSentences,
    cfg: &TagConfig,
    unknown: UnknownTag,
) -> Result<Vec<Window>> {
    let labels = state.config.labels.labels();
    let encs = state.tokenizer.encode_words(&data.words)?;
    let max_len = state.tokenizer.max_length;
    if max_len <= cfg.stride + 2 {
        return Err(TrainError::Invalid(format!(
            "--max-length {max_len} must exceed the window overlap ({}) plus the special tokens",
            cfg.stride
        )));
    }
    let mut out = Vec::new();
    for (i, enc) in encs.iter().enumerate() {
        let tags = data.tags.get(i).map(|t| t.as_slice()).unwrap_or(&[]);
        let ids: Vec<u32> = tags
            .iter()
            .map(|t| match (labels.iter().position(|l| l == t), unknown) {
                (Some(p), _) => Ok(p as u32),
                (None, UnknownTag::NoLoss) => Ok(NO_LABEL),
                (None, UnknownTag::Error) => Err(TrainError::Invalid(format!(
                    "{} sentence {}: tag {t:?} is not among the run's labels ({})",
                    data.name,
                    i + 1,
                    labels.join(", ")
                ))),
            })
            .collect::<Result<_>>()?;
        out.extend(windows(
            i,
            enc,
            Some(&ids),
            &labels,
            max_len,
            cfg.stride,
            cfg.label_all_subwords,
        ));
    }
    Ok(out)
}

/// The frozen encoder's last hidden state at each word's first sub-word (in the window that
/// predicts the word), one row per word of every sentence in order — the features of a token
/// probe — and whether the word has a token at all (a word without one gets a zero row).
/// `progress(done, total)` hears how many sentences are encoded.
pub fn word_features(
    state: &ClassifierState,
    data: &TaggedSentences,
    cfg: &TagConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(crate::probe::Features, Vec<bool>)> {
    let (mut f, has) = word_states(state, data, cfg, 1, progress, |input| {
        Ok(vec![state.model.hidden(input, Mode::Eval)?])
    })?;
    Ok((f.remove(0), has))
}

/// [`word_features`] for every layer's output, first layer first (what ranking averages).
pub fn word_layer_features(
    state: &ClassifierState,
    data: &TaggedSentences,
    cfg: &TagConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<crate::probe::Features>, Vec<bool>)> {
    let layers = state.config.arch().num_layers();
    word_states(state, data, cfg, layers, progress, |input| {
        Ok(state.model.layer_states(input, Mode::Eval)?)
    })
}

/// Each word's first-sub-word row of the `count` hidden-state tensors `states` gives a batch.
fn word_states(
    state: &ClassifierState,
    data: &TaggedSentences,
    cfg: &TagConfig,
    count: usize,
    progress: &mut dyn FnMut(usize, usize),
    states: impl Fn(&EncoderInput) -> Result<Vec<Tensor>>,
) -> Result<(Vec<crate::probe::Features>, Vec<bool>)> {
    let windows = encode(state, data, cfg, UnknownTag::NoLoss)?;
    let offsets: Vec<usize> = data
        .words
        .iter()
        .scan(0usize, |acc, w| {
            let o = *acc;
            *acc += w.len();
            Some(o)
        })
        .collect();
    let n: usize = data.words.iter().map(|w| w.len()).sum();
    let d = state.config.arch().hidden_size();
    let mut xs = vec![vec![0f32; n * d]; count];
    let mut has = vec![false; n];
    let lengths: Vec<usize> = windows.iter().map(|w| w.row.ids.len()).collect();
    let mut encoded = 0;
    for batch in eval_batches(&lengths, cfg.eval_batch_size) {
        let ws: Vec<&Window> = batch.iter().map(|&i| &windows[i]).collect();
        encoded += ws.len();
        // Windows stand in for sentences (a long sentence has several).
        progress(encoded * data.words.len() / windows.len().max(1), data.words.len());
        let input = input_of(state, &ws)?;
        for (x, hidden) in xs.iter_mut().zip(states(&input)?.iter().take(count)) {
            let hidden: Vec<Vec<Vec<f32>>> = hidden.to_dtype(candle_core::DType::F32)?.to_vec3()?;
            for (w, h) in ws.iter().zip(&hidden) {
                for (p, word) in w.predicts.iter().enumerate() {
                    if let Some(word) = word {
                        let row = offsets[w.sentence] + word;
                        x[row * d..(row + 1) * d].copy_from_slice(&h[p]);
                        has[row] = true;
                    }
                }
            }
        }
    }
    Ok((
        xs.into_iter().map(|x| crate::probe::Features { x, n, d }).collect(),
        has,
    ))
}

/// The words a token probe learns from: those with a token (rows into [`word_features`]'s
/// output), where each sits (sentence, word) and its tag's id in `labels`.
#[derive(Clone, Debug, Default)]
pub struct WordTargets {
    /// Rows of the word features.
    pub rows: Vec<usize>,
    /// (sentence, word) of each.
    pub place: Vec<(usize, usize)>,
    /// Tag ids.
    pub ids: Vec<u32>,
}

/// [`WordTargets`] of `data` for the words `has_token` marks; a tag outside `labels` is an
/// error naming it.
pub fn word_targets(data: &TaggedSentences, labels: &[String], has_token: &[bool]) -> Result<WordTargets> {
    let mut t = WordTargets::default();
    let mut row = 0usize;
    for (si, tags) in data.tags.iter().enumerate() {
        for (wi, tag) in tags.iter().enumerate() {
            let id = labels.iter().position(|l| l == tag).ok_or_else(|| {
                TrainError::Invalid(format!(
                    "{}: tag {tag:?} is not among the run's labels ({})",
                    data.name,
                    labels.join(", ")
                ))
            })?;
            if has_token.get(row).copied().unwrap_or(false) {
                t.rows.push(row);
                t.place.push((si, wi));
                t.ids.push(id as u32);
            }
            row += 1;
        }
    }
    Ok(t)
}

fn input_of(state: &ClassifierState, windows: &[&Window]) -> Result<EncoderInput> {
    let rows: Vec<&EncodedRow> = windows.iter().map(|w| &w.row).collect();
    Ok(EncoderInput::from_batch(&state.tokenizer.pad(&rows), &state.device)?)
}

/// The summed cross-entropy over the labelled tokens of a batch's logits (batch, len, labels)
/// and their count.
fn token_loss(logits: &Tensor, windows: &[&Window], smoothing: f64) -> Result<(Tensor, usize)> {
    let (b, len, k) = logits.dims3()?;
    let mut idx = Vec::new();
    let mut targets = Vec::new();
    for (r, w) in windows.iter().enumerate() {
        for (p, &t) in w.targets.iter().enumerate() {
            if t >= 0 {
                idx.push((r * len + p) as u32);
                targets.push(t);
            }
        }
    }
    if idx.is_empty() {
        return Ok(((logits.sum_all()? * 0.0)?, 0));
    }
    let flat = logits.reshape((b * len, k))?;
    let n = idx.len();
    let picked = flat.index_select(&Tensor::from_vec(idx, n, logits.device())?, 0)?;
    Ok(cross_entropy_sum(&picked, &targets, smoothing)?)
}

/// An evaluation: entity scores (seqeval default mode) and the mean token loss.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TagEval {
    /// Which split.
    pub split: String,
    /// Optimizer step when it ran.
    pub step: usize,
    /// Mean cross-entropy over labelled tokens.
    pub loss: f64,
    /// seqeval's report.
    pub report: SeqevalReport,
    /// Predicted tags per sentence (word level).
    #[serde(skip)]
    pub predictions: Vec<Vec<String>>,
}

/// Predicted tags per word for every sentence, and the mean token loss when targets exist.
/// With `known`, only the labels it marks can be predicted (a checkpoint's own tags, before
/// continued fine-tuning has trained the rows of the new ones).
fn predict_windows(
    state: &ClassifierState,
    data: &TaggedSentences,
    windows: &[Window],
    batch_size: usize,
    known: Option<&[bool]>,
) -> Result<(Vec<Vec<String>>, f64)> {
    let labels = state.config.labels.labels();
    let outside = labels.iter().find(|l| *l == "O").cloned().unwrap_or_else(|| "O".into());
    let mut pred: Vec<Vec<String>> = data.words.iter().map(|w| vec![outside.clone(); w.len()]).collect();
    let lengths: Vec<usize> = windows.iter().map(|w| w.row.ids.len()).collect();
    let (mut loss_sum, mut count) = (0.0, 0usize);
    for batch in eval_batches(&lengths, batch_size) {
        let ws: Vec<&Window> = batch.iter().map(|&i| &windows[i]).collect();
        let mut logits = state.model.logits(&input_of(state, &ws)?, Mode::Eval)?;
        if let Some(known) = known {
            let mask: Vec<f32> = known.iter().map(|&k| if k { 0.0 } else { -1e4 }).collect();
            let n = mask.len();
            logits = logits.broadcast_add(&Tensor::from_vec(mask, n, logits.device())?)?;
        }
        let (loss, n) = token_loss(&logits, &ws, 0.0)?;
        loss_sum += loss.to_scalar::<f32>()? as f64;
        count += n;
        let best: Vec<Vec<u32>> = logits.argmax(2)?.to_vec2()?;
        for (w, row) in ws.iter().zip(&best) {
            for (p, word) in w.predicts.iter().enumerate() {
                if let Some(word) = word {
                    pred[w.sentence][*word] = labels[row[p] as usize].clone();
                }
            }
        }
    }
    Ok((pred, loss_sum / count.max(1) as f64))
}

/// Evaluates the tagger on `data` (windows from [`encode`]).
fn evaluate_windows(
    state: &ClassifierState,
    data: &TaggedSentences,
    windows: &[Window],
    batch_size: usize,
    step: usize,
    known: Option<&[bool]>,
) -> Result<TagEval> {
    let (predictions, loss) = predict_windows(state, data, windows, batch_size, known)?;
    let report = SeqevalReport::compute(&predictions, &data.tags, &SeqevalConfig::default())
        .map_err(|e| TrainError::Invalid(format!("{}: {e}", data.name)))?;
    Ok(TagEval {
        split: data.name.clone(),
        step,
        loss,
        report,
        predictions,
    })
}

/// Evaluates a trained tagger on sentences with gold tags.
pub fn evaluate_tagger(
    state: &ClassifierState,
    data: &TaggedSentences,
    cfg: &TagConfig,
    step: usize,
) -> Result<TagEval> {
    let w = encode(state, data, cfg, UnknownTag::NoLoss)?;
    evaluate_windows(state, data, &w, cfg.eval_batch_size, step, None)
}

/// Which of the run's `labels` a token-classification checkpoint at `dir` already has (None:
/// the checkpoint has no token head, every label is new).
fn checkpoint_tags(dir: &Path, labels: &[String]) -> Result<Option<Vec<bool>>> {
    let config = retune_models::arch::ModelConfig::from_dir(dir)?;
    if config.checkpoint_head() != Some(Head::TokenClassification) {
        return Ok(None);
    }
    let own = config.labels.labels();
    Ok(Some(labels.iter().map(|l| own.contains(l)).collect()))
}

/// Everything a token-classification fine-tune needs.
pub struct TagJob<'a> {
    /// The model folder (Hugging Face layout).
    pub model_dir: &'a Path,
    /// Tag names in id order.
    pub labels: Vec<String>,
    /// Training sentences.
    pub train: TaggedSentences,
    /// Evaluation sentences (pick the best checkpoint by entity micro-F1).
    pub eval: TaggedSentences,
    /// More splits evaluated before training and with the best model (forgetting of an old
    /// tag set when continuing from a fine-tuned tagger).
    pub also_eval: Vec<TaggedSentences>,
    /// Run folder; None keeps everything in memory.
    pub out: Option<PathBuf>,
    /// A checkpoint (or run folder) to resume from.
    pub resume: Option<PathBuf>,
    /// The recipe.
    pub config: TagConfig,
    /// Compute device.
    pub device: Device,
}

/// The outcome of a token-classification fine-tune.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TagSummary {
    /// The recipe.
    pub config: TagConfig,
    /// Tag names in id order.
    pub labels: Vec<String>,
    /// The loop's figures.
    pub run: LoopOutcome,
    /// Every evaluation of the eval split.
    pub evals: Vec<TagEval>,
    /// The `also_eval` splits before training (empty on resume).
    pub also_eval_before: Vec<TagEval>,
    /// The `also_eval` splits with the best model.
    pub also_eval_after: Vec<TagEval>,
    /// Trainable values.
    pub trainable: usize,
    /// Total values.
    pub parameters: usize,
    /// Sentences split into several windows (train, eval).
    pub windowed_sentences: (usize, usize),
    /// What the strategy decided that a person should hear about.
    pub notes: Vec<String>,
}

struct TagTask<'a> {
    state: &'a ClassifierState,
    train: &'a [Window],
    eval: &'a [Window],
    eval_data: &'a TaggedSentences,
    config: &'a TagConfig,
    evals: std::sync::Mutex<Vec<TagEval>>,
}

impl TrainTask for TagTask<'_> {
    fn params(&self) -> &retune_models::nn::Params {
        &self.state.params
    }
    fn trainable(&self) -> &[String] {
        &self.state.trainable
    }
    fn train_lengths(&self) -> Vec<usize> {
        self.train.iter().map(|w| w.row.ids.len()).collect()
    }
    fn batch_loss(&self, rows: &[usize]) -> Result<(Tensor, usize)> {
        let ws: Vec<&Window> = rows.iter().map(|&i| &self.train[i]).collect();
        let logits = self.state.model.logits(&input_of(self.state, &ws)?, Mode::Train)?;
        token_loss(&logits, &ws, self.config.label_smoothing)
    }
    fn evaluate(&self, step: usize) -> Result<(f64, serde_json::Value)> {
        let e = evaluate_windows(
            self.state,
            self.eval_data,
            self.eval,
            self.config.eval_batch_size,
            step,
            None,
        )?;
        let r = &e.report;
        let record = serde_json::json!({"split": e.split, "f1": r.micro.f1, "precision": r.micro.precision,
            "recall": r.micro.recall, "accuracy": r.accuracy, "loss": e.loss});
        let v = r.micro.f1;
        self.evals.lock().unwrap_or_else(|p| p.into_inner()).push(e);
        Ok((v, record))
    }
    fn save_model(&self, dest: &Path) -> Result<()> {
        save_classifier(self.state, dest)
    }
}

/// Runs a token-classification fine-tune; returns its summary and the tagger (holding the best
/// evaluated parameters).
pub fn train_tagger(job: TagJob, mut on_event: impl FnMut(&LoopEvent)) -> Result<(TagSummary, ClassifierState)> {
    let cfg = job.config.clone();
    if cfg.strategy == Strategy::Probe {
        return train_token_probe(job, &mut on_event);
    }
    nn::set_seed(cfg.train.seed);
    let state = prepare_model(
        job.model_dir,
        Head::TokenClassification,
        &job.labels,
        &cfg.strategy,
        cfg.max_length,
        &job.device,
    )?;
    let train = encode(&state, &job.train, &cfg, UnknownTag::Error)?;
    let eval = encode(&state, &job.eval, &cfg, UnknownTag::NoLoss)?;
    let windowed = |w: &[Window], n: usize| w.len().saturating_sub(n);
    let windowed_sentences = (
        windowed(&train, job.train.words.len()),
        windowed(&eval, job.eval.words.len()),
    );
    let extra: Vec<Vec<Window>> = job
        .also_eval
        .iter()
        .map(|d| encode(&state, d, &cfg, UnknownTag::NoLoss))
        .collect::<Result<_>>()?;
    let mut also_eval_before = Vec::new();
    if job.resume.is_none() {
        let known = checkpoint_tags(job.model_dir, &job.labels)?;
        for (d, w) in job.also_eval.iter().zip(&extra) {
            also_eval_before.push(evaluate_windows(
                &state,
                d,
                w,
                cfg.eval_batch_size,
                0,
                known.as_deref(),
            )?);
        }
    }
    let mut loop_cfg = cfg.train.clone();
    loop_cfg.lr = cfg.lr.unwrap_or_else(|| cfg.strategy.default_lr());
    let recipe = serde_json::json!({"task": "ner", "config": cfg, "labels": job.labels, "model": job.model_dir});
    let task = TagTask {
        state: &state,
        train: &train,
        eval: &eval,
        eval_data: &job.eval,
        config: &cfg,
        evals: Default::default(),
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
    let also_eval_after = job
        .also_eval
        .iter()
        .zip(&extra)
        .map(|(d, w)| evaluate_windows(&state, d, w, cfg.eval_batch_size, outcome.steps, None))
        .collect::<Result<Vec<_>>>()?;
    let summary = TagSummary {
        config: cfg,
        labels: job.labels.clone(),
        trainable: outcome.trainable,
        parameters: parameter_count(&state.params),
        run: outcome,
        evals,
        also_eval_before,
        also_eval_after,
        windowed_sentences,
        notes: state.notes.clone(),
    };
    if let Some(out) = &job.out {
        write_summary(out, &summary)?;
    }
    Ok((summary, state))
}

/// `--strategy probe`: a logistic regression (`probe::LogisticRegression`, standardized
/// features, L2) on the frozen encoder's first-sub-word states of the training words, folded
/// into the token-classification head — `classifier.weight = W / std`, `classifier.bias =
/// b − W (mean / std)` — so the saved checkpoint is a plain `*ForTokenClassification` whose
/// logits are the probe's, and evaluation and `predict` run it like any tagger.
fn train_token_probe(job: TagJob, on_event: &mut impl FnMut(&LoopEvent)) -> Result<(TagSummary, ClassifierState)> {
    let cfg = job.config.clone();
    if job.resume.is_some() {
        return Err(TrainError::Invalid(
            "--resume: a probe is fitted in one go and has no training checkpoints".into(),
        ));
    }
    let t0 = std::time::Instant::now();
    let mut state = prepare_model(
        job.model_dir,
        Head::TokenClassification,
        &job.labels,
        &Strategy::Probe,
        cfg.max_length,
        &job.device,
    )?;
    let known = checkpoint_tags(job.model_dir, &job.labels)?;
    let also_eval_before = job
        .also_eval
        .iter()
        .map(|d| {
            let w = encode(&state, d, &cfg, UnknownTag::NoLoss)?;
            evaluate_windows(&state, d, &w, cfg.eval_batch_size, 0, known.as_deref())
        })
        .collect::<Result<Vec<_>>>()?;
    let (features, has_token) = word_features(&state, &job.train, &cfg, &mut |done, total| {
        on_event(&LoopEvent::Encoding { done, total })
    })?;
    let targets = word_targets(&job.train, &job.labels, &has_token)?;
    let (x, y) = (features.select(&targets.rows), targets.ids);
    let k = job.labels.len();
    let probe = crate::probe::LogisticRegression::fit(&x, &y, k, crate::probe::ProbeConfig::default());
    let d = x.d;
    let mut w = vec![0f32; k * d];
    let mut b = probe.b.clone();
    for c in 0..k {
        for j in 0..d {
            let wj = probe.w[c * d + j] / probe.std[j];
            w[c * d + j] = wj;
            b[c] -= wj * probe.mean[j];
        }
    }
    let out = state
        .config
        .arch()
        .output_projection(Head::TokenClassification)
        .ok_or_else(|| TrainError::Invalid("the model has no token-classification head".into()))?;
    for (name, values, shape) in [
        (format!("{out}.weight"), w, vec![k, d]),
        (format!("{out}.bias"), b, vec![k]),
    ] {
        let var = state
            .params
            .var(&name)
            .ok_or_else(|| TrainError::Invalid(format!("no parameter {name}")))?;
        var.set(&Tensor::from_vec(values, shape, &state.device)?)?;
    }
    state.model = state.config.build(&state.params, Head::TokenClassification)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let eval = evaluate_tagger(&state, &job.eval, &cfg, 0)?;
    let also_eval_after = job
        .also_eval
        .iter()
        .map(|d| evaluate_tagger(&state, d, &cfg, 0))
        .collect::<Result<Vec<_>>>()?;
    let eval_seconds = t1.elapsed().as_secs_f64();
    let f1 = eval.report.micro.f1;
    let record = serde_json::json!({"type": "eval", "step": 0, "f1": f1, "loss": eval.loss});
    let t2 = std::time::Instant::now();
    let best_dir = job.out.as_ref().map(|o| o.join("best"));
    if let Some(dir) = &best_dir {
        save_classifier(&state, dir)?;
    }
    let run = LoopOutcome {
        steps: 0,
        total_steps: 0,
        trainable: k * d + k,
        best: Some((f1, 0)),
        evals: vec![record],
        train_seconds,
        eval_seconds,
        save_seconds: t2.elapsed().as_secs_f64(),
        rows_per_s: job.train.words.len() as f64 / train_seconds.max(1e-9),
        stopped_early: false,
        resumed_from: None,
        best_dir,
    };
    let summary = TagSummary {
        config: cfg,
        labels: job.labels.clone(),
        trainable: k * d + k,
        parameters: parameter_count(&state.params),
        run,
        evals: vec![eval],
        also_eval_before,
        also_eval_after,
        windowed_sentences: (0, 0),
        notes: state.notes.clone(),
    };
    if let Some(out) = &job.out {
        write_summary(out, &summary)?;
    }
    Ok((summary, state))
}

/// An entity found in a text.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EntitySpan {
    /// Entity type (`person`, `LOC`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Byte range in the text.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// The text of the span.
    pub text: String,
    /// Mean probability of the tags of its words.
    pub score: f32,
}

/// Entities of one text from its tokens' predicted tags: each word (as the tokenizer's
/// pre-tokenizer splits the text) takes the tag of its first sub-word (`transformers`'
/// aggregation "first"), and words are chunked as seqeval's default mode does.
pub fn entities(text: &str, tokens: &[retune_models::classifier::TokenTag], labels: &[String]) -> Vec<EntitySpan> {
    // (tag, start, end, probability) per word, in order.
    let mut words: Vec<(String, usize, usize, f32)> = Vec::new();
    let mut last: Option<usize> = None;
    for t in tokens {
        let Some(w) = t.word else {
            continue;
        };
        if last == Some(w) {
            if let Some(cur) = words.last_mut() {
                cur.2 = t.end;
            }
        } else {
            let tag = labels.get(t.label).cloned().unwrap_or_else(|| "O".into());
            words.push((tag, t.start, t.end, t.probability));
            last = Some(w);
        }
    }
    let tags = vec![words.iter().map(|w| w.0.clone()).collect::<Vec<String>>()];
    let Ok(chunks) = retune_metrics::seqeval::chunks::get_entities(&tags, false) else {
        return Vec::new();
    };
    chunks
        .into_iter()
        .filter(|c| c.end < words.len())
        .map(|c| {
            let (start, end) = (words[c.start].1, words[c.end].2);
            let score = words[c.start..=c.end].iter().map(|w| w.3).sum::<f32>() / (c.end - c.start + 1) as f32;
            EntitySpan {
                kind: c.kind,
                start,
                end,
                text: text.get(start..end).unwrap_or_default().to_string(),
                score,
            }
        })
        .collect()
}

/// Tag names of a corpus in the order `transformers`' NER example gives string tags: sorted.
pub fn label_list<'a>(tags: impl IntoIterator<Item = &'a Vec<String>>) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = tags.into_iter().flatten().collect();
    set.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(words: &[Option<usize>]) -> WordEncoding {
        WordEncoding {
            ids: (0..words.len() as u32).map(|i| 100 + i).collect(),
            words: words.to_vec(),
        }
    }

    #[test]
    fn first_subword_gets_the_label_others_are_ignored() {
        // [CLS] w0 w1a w1b (w2: no piece) w3 [SEP]
        let e = enc(&[None, Some(0), Some(1), Some(1), Some(3), None]);
        let labels: Vec<String> = ["B-X", "I-X", "O"].iter().map(|s| s.to_string()).collect();
        let w = windows(0, &e, Some(&[2, 0, 2, 1]), &labels, 128, 32, false);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].targets, [-100, 2, 0, -100, 1, -100]);
        assert_eq!(w[0].predicts, [None, Some(0), Some(1), None, Some(3), None]);
        // Every sub-word: B-X's continuation is I-X.
        let w = windows(0, &e, Some(&[2, 0, 2, 1]), &labels, 128, 32, true);
        assert_eq!(w[0].targets, [-100, 2, 0, 1, 1, -100]);
    }

    #[test]
    fn entities_take_each_words_first_subword_tag() {
        use retune_models::classifier::TokenTag;
        let labels: Vec<String> = ["B-LOC", "I-LOC", "B-PER", "O"].iter().map(|s| s.to_string()).collect();
        let tok = |token: &str, start, end, label, p, word| TokenTag {
            token: token.into(),
            start,
            end,
            label,
            probability: p,
            word: Some(word),
        };
        // "New Yorkers met Ann": York|##ers is one word tagged by its first piece.
        let text = "New Yorkers met Ann";
        let tags = [
            tok("new", 0, 3, 0, 0.9, 0),
            tok("york", 4, 8, 1, 0.7, 1),
            tok("##ers", 8, 11, 2, 0.1, 1),
            tok("met", 12, 15, 3, 0.99, 2),
            tok("ann", 16, 19, 2, 0.8, 3),
        ];
        let e = entities(text, &tags, &labels);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].kind.as_str(), e[0].text.as_str()), ("LOC", "New Yorkers"));
        assert!((e[0].score - 0.8).abs() < 1e-6);
        assert_eq!((e[1].kind.as_str(), e[1].start, e[1].end), ("PER", 16, 19));
    }

    #[test]
    fn long_sentences_become_overlapping_windows_each_word_predicted_once() {
        // 20 one-piece words, windows of 8 tokens (6 content) overlapping by 2.
        let words: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..20).map(Some))
            .chain(std::iter::once(None))
            .collect();
        let e = enc(&words);
        let labels: Vec<String> = ["O"].iter().map(|s| s.to_string()).collect();
        let tags = vec![0u32; 20];
        let w = windows(3, &e, Some(&tags), &labels, 8, 2, false);
        assert!(w.len() > 1);
        let mut seen = vec![0; 20];
        for win in &w {
            assert!(win.row.ids.len() <= 8);
            assert_eq!(win.row.ids[0], 100);
            assert_eq!(*win.row.ids.last().unwrap(), 121);
            assert_eq!(win.sentence, 3);
            for p in win.predicts.iter().flatten() {
                seen[*p] += 1;
            }
        }
        assert_eq!(seen, vec![1; 20], "every word predicted by exactly one window");
        // Every word is labelled in each window that holds it.
        let labelled: usize = w.iter().map(|x| x.targets.iter().filter(|&&t| t >= 0).count()).sum();
        assert!(labelled >= 20);
    }
}
