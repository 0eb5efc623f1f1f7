//! The sequence-to-sequence task (translation; summarization with an encoder-decoder): teacher
//! forcing with label smoothing on the shared loop, evaluation by beam search with BLEU
//! (sacrebleu's `zh` tokenizer for Chinese targets) and chrF. Written against
//! `retune_models::seq2seq` (config, network, tokenizer, family facts), not a family: Marian
//! plugs in there, and so will the next encoder-decoder.

use candle_core::{Device, Tensor};
use retune_metrics::bleu::{Bleu, BleuConfig};
use retune_metrics::chrf::{Chrf, ChrfConfig};
use retune_metrics::tokenizers::Tokenizer as BleuTokenizer;
use retune_models::generate::generate;
use retune_models::nn::{self, Mode, Params};
use retune_models::seq2seq::{shift_tokens_right, Seq2SeqConfig, Seq2SeqNet, Seq2SeqTokenizer};
use retune_models::weights::Checkpoint;
use std::path::{Path, PathBuf};

use crate::batching::eval_batches;
use crate::error::{io, Result, TrainError};
use crate::loss::{cross_entropy_sum, IGNORE_INDEX};
use crate::strategy::Strategy;
use crate::trainer::{run_loop, LoopConfig, LoopEvent, LoopOutcome, TrainTask};

/// The recipe of a translation fine-tune or retraining.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TranslateConfig {
    /// `full` (continue from the pretrained weights) or `scratch` (random initialization; a
    /// model folder with only `config.json` and the tokenizer works too). Default `full`.
    pub strategy: Strategy,
    /// The loop (its `lr` is replaced by [`TranslateConfig::lr`] or the strategy's default).
    pub train: LoopConfig,
    /// Peak learning rate; default 5e-5 (full) or 5e-4 (scratch).
    pub lr: Option<f64>,
    /// Label smoothing (Marian's usual 0.1). Default 0.1.
    pub label_smoothing: f64,
    /// Longest source and target in tokens (longer ones are truncated). Default 128.
    pub max_length: usize,
    /// Beams for evaluation. Default 4.
    pub num_beams: usize,
    /// Longest generated translation in tokens. Default 64.
    pub gen_max_length: usize,
    /// Evaluate on at most this many eval rows (the first ones). Default all.
    pub eval_rows: Option<usize>,
    /// Target language code (`zh` selects sacrebleu's `zh` tokenizer for BLEU). Default `zh`.
    pub target_lang: String,
    /// Rows per evaluation batch. Default 32.
    pub eval_batch_size: usize,
}

impl Default for TranslateConfig {
    fn default() -> Self {
        TranslateConfig {
            strategy: Strategy::Full,
            train: LoopConfig::default(),
            lr: None,
            label_smoothing: 0.1,
            max_length: 128,
            num_beams: 4,
            gen_max_length: 64,
            eval_rows: None,
            target_lang: "zh".into(),
            eval_batch_size: 32,
        }
    }
}

/// Source/target text pairs.
#[derive(Clone, Debug, Default)]
pub struct PairTexts {
    /// A name for reports.
    pub name: String,
    /// Source texts.
    pub sources: Vec<String>,
    /// Reference translations.
    pub targets: Vec<String>,
}

/// An encoder-decoder being trained or evaluated.
pub struct TranslatorState {
    /// Parameters.
    pub params: Params,
    /// The network.
    pub model: Seq2SeqNet,
    /// Configuration (the family).
    pub config: Seq2SeqConfig,
    /// Tokenizer.
    pub tokenizer: Seq2SeqTokenizer,
    /// Trainable parameter names.
    pub trainable: Vec<String>,
    /// Source folder (tokenizer files are copied from it).
    pub source: PathBuf,
}

/// Loads an encoder-decoder folder for `strategy`: `full`, `top:K` and `lora[:r]` need weights;
/// `scratch` re-initializes them (N(0, init_std), LayerNorm 1/0) or builds the model from
/// `config.json` alone.
pub fn prepare_translator(model_dir: &Path, strategy: &Strategy, device: &Device) -> Result<TranslatorState> {
    let config = Seq2SeqConfig::from_dir(model_dir)?;
    let std = config.init_std();
    let params = match (strategy, retune_models::checkpoint_files::has_weights(model_dir)) {
        (Strategy::Full, _) | (Strategy::Scratch, true) => {
            Params::from_checkpoint(Checkpoint::load(model_dir, device)?, device)?
        }
        (Strategy::Scratch, false) => {
            let mut p = Params::empty(device);
            p.source = model_dir.join("config.json");
            p.init_missing = Some(std);
            p
        }
        (Strategy::Top { .. } | Strategy::Lora { .. }, _) => {
            Params::from_checkpoint(Checkpoint::load(model_dir, device)?, device)?
        }
        (other, _) => {
            return Err(TrainError::Invalid(format!(
                "--strategy {other}: translation supports full, scratch, top:K (the last K decoder layers) and lora[:R] (adapters on every attention's q_proj and v_proj)"
            )))
        }
    };
    let mut params = params;
    let model_built_from_config = params.init_missing.is_some();
    let _ = config.build(&params)?; // settles tied names and creates missing tensors
    params.init_missing = None;
    if *strategy == Strategy::Scratch && !model_built_from_config {
        params.reinitialize(std)?;
    }
    // transformers zeroes the padding row of the embeddings at initialization.
    if *strategy == Strategy::Scratch {
        for name in params.names().into_iter().filter(|n| config.is_word_embedding(n)) {
            let v = params.var(&name).expect("listed");
            let pad = config.pad_token_id() as usize;
            if pad < v.dim(0)? {
                let mut rows = v.as_tensor().to_vec2::<f32>()?;
                rows[pad].iter_mut().for_each(|x| *x = 0.0);
                let d = rows[0].len();
                let flat: Vec<f32> = rows.into_iter().flatten().collect();
                v.set(&Tensor::from_vec(flat, (v.dim(0)?, d), device)?)?;
            }
        }
        for name in config.buffers() {
            if let Some(b) = params.var(name) {
                b.set(&b.as_tensor().zeros_like()?)?;
            }
        }
    }
    let mut trainable: Vec<String> = params
        .names()
        .into_iter()
        .filter(|n| !config.buffers().contains(&n.as_str()) && !config.unused_params().contains(&n.as_str()))
        .collect();
    match strategy {
        Strategy::Top { layers: k } => {
            let total = config.decoder_layers();
            if *k == 0 || *k > total {
                return Err(TrainError::Invalid(format!(
                    "--strategy top:{k}: the decoder has {total} layers"
                )));
            }
            let first = total - k;
            trainable.retain(|n| config.decoder_layer_of(n).is_some_and(|i| i >= first));
        }
        Strategy::Lora { r, alpha } => {
            let targets = config.lora_modules(&params.names());
            trainable = crate::strategy::add_lora(&mut params, &targets, *r, *alpha)?;
        }
        _ => {}
    }
    params.frozen = params.names().into_iter().filter(|n| !trainable.contains(n)).collect();
    let model = config.build(&params)?;
    let tokenizer = config.tokenizer(model_dir)?;
    Ok(TranslatorState {
        params,
        model,
        config,
        tokenizer,
        trainable,
        source: model_dir.to_path_buf(),
    })
}

/// Tokenized pairs: source ids and label ids, both truncated (keeping `</s>`).
fn encode_pairs(tok: &Seq2SeqTokenizer, data: &PairTexts, max_len: usize) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let cut = |mut v: Vec<u32>| {
        if v.len() > max_len {
            let eos = *v.last().unwrap_or(&0);
            v.truncate(max_len.max(1));
            if let Some(l) = v.last_mut() {
                *l = eos;
            }
        }
        v
    };
    let src = data.sources.iter().map(|s| cut(tok.encode_source(s))).collect();
    let tgt = data.targets.iter().map(|t| cut(tok.encode_target(t))).collect();
    (src, tgt)
}

fn pad_rows(rows: &[&Vec<u32>], pad: u32, device: &Device) -> Result<(Tensor, Tensor)> {
    let width = rows.iter().map(|r| r.len()).max().unwrap_or(1).max(1);
    let mut ids = Vec::with_capacity(rows.len() * width);
    let mut mask = Vec::with_capacity(rows.len() * width);
    for r in rows {
        ids.extend(r.iter().copied().chain(std::iter::repeat_n(pad, width - r.len())));
        mask.extend((0..width).map(|i| u32::from(i < r.len())));
    }
    Ok((
        Tensor::from_vec(ids, (rows.len(), width), device)?,
        Tensor::from_vec(mask, (rows.len(), width), device)?,
    ))
}

/// Translation quality of a model on pairs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TranslationEval {
    /// Split name.
    pub split: String,
    /// Corpus BLEU (sacrebleu; `zh` tokenizer for Chinese targets).
    pub bleu: f64,
    /// Corpus chrF.
    pub chrf: f64,
    /// Rows translated.
    pub rows: usize,
    /// The BLEU signature.
    pub signature: String,
    /// The hypotheses, in input order.
    #[serde(skip)]
    pub hypotheses: Vec<String>,
}

/// Translates the sources (length-sorted batches, beam search) and scores them.
pub fn evaluate_translation(
    state: &TranslatorState,
    data: &PairTexts,
    cfg: &TranslateConfig,
    device: &Device,
) -> Result<TranslationEval> {
    let n = cfg.eval_rows.unwrap_or(data.sources.len()).min(data.sources.len());
    let (src, _) = encode_pairs(&state.tokenizer, data, cfg.max_length);
    let src = &src[..n];
    let mut gen = state.config.generation_config();
    gen.num_beams = cfg.num_beams.max(1);
    gen.max_length = cfg.gen_max_length;
    let lengths: Vec<usize> = src.iter().map(|r| r.len()).collect();
    let mut hyps = vec![String::new(); n];
    for batch in eval_batches(&lengths, cfg.eval_batch_size) {
        let rows: Vec<&Vec<u32>> = batch.iter().map(|&i| &src[i]).collect();
        let (ids, mask) = pad_rows(&rows, state.tokenizer.pad_id(), device)?;
        let out = generate(&state.model, &ids, &mask, &gen)?;
        for (j, &i) in batch.iter().enumerate() {
            hyps[i] = state.tokenizer.decode(&out.sequences[j], true);
        }
    }
    let tok = if cfg.target_lang.starts_with("zh") {
        BleuTokenizer::Zh
    } else {
        BleuTokenizer::Thirteen
    };
    let bleu = Bleu::new(BleuConfig {
        tokenize: tok,
        ..Default::default()
    });
    let refs = vec![data.targets[..n].to_vec()];
    let b = bleu.corpus_score(&hyps, &refs);
    let c = Chrf::new(ChrfConfig::default()).corpus_score(&hyps, &refs);
    Ok(TranslationEval {
        split: data.name.clone(),
        bleu: b.score,
        chrf: c,
        rows: n,
        signature: bleu.signature(Some(1), Default::default()),
        hypotheses: hyps,
    })
}

/// Saves the model as a Hugging Face checkpoint of its family (atomically); LoRA adapters are
/// merged into their weights, so `transformers` loads it as any checkpoint of the family.
pub fn save_translator(state: &TranslatorState, dest: &Path) -> Result<()> {
    let (plain, _adapters) = crate::strategy::merged_tensors(&state.params)?;
    let tensors: std::collections::HashMap<String, Tensor> = plain.into_iter().collect();
    state.config.save(dest, &tensors, Some(&state.source))?;
    Ok(())
}

struct TranslateTask<'a> {
    state: &'a TranslatorState,
    src: Vec<Vec<u32>>,
    tgt: Vec<Vec<u32>>,
    eval: &'a PairTexts,
    cfg: &'a TranslateConfig,
    device: Device,
    evals: std::sync::Mutex<Vec<TranslationEval>>,
}

impl TrainTask for TranslateTask<'_> {
    fn params(&self) -> &Params {
        &self.state.params
    }
    fn trainable(&self) -> &[String] {
        &self.state.trainable
    }
    fn train_lengths(&self) -> Vec<usize> {
        self.src
            .iter()
            .zip(&self.tgt)
            .map(|(s, t)| s.len().max(t.len()))
            .collect()
    }
    fn batch_loss(&self, rows: &[usize]) -> Result<(Tensor, usize)> {
        let pad = self.state.tokenizer.pad_id();
        let srcs: Vec<&Vec<u32>> = rows.iter().map(|&i| &self.src[i]).collect();
        let (ids, mask) = pad_rows(&srcs, pad, &self.device)?;
        let width = rows.iter().map(|&i| self.tgt[i].len()).max().unwrap_or(1);
        let labels: Vec<Vec<i64>> = rows
            .iter()
            .map(|&i| {
                let t = &self.tgt[i];
                (0..width)
                    .map(|j| t.get(j).map(|&v| v as i64).unwrap_or(IGNORE_INDEX))
                    .collect()
            })
            .collect();
        let start = self.state.config.decoder_start_token_id();
        let dec = shift_tokens_right(&labels, pad, start);
        let dec = Tensor::from_vec(
            dec.into_iter().flatten().collect::<Vec<u32>>(),
            (rows.len(), width),
            &self.device,
        )?;
        let logits = self.state.model.forward(&ids, &mask, &dec, Mode::Train)?;
        let v = logits.dim(2)?;
        let flat: Vec<i64> = labels.into_iter().flatten().collect();
        Ok(cross_entropy_sum(
            &logits.reshape((rows.len() * width, v))?,
            &flat,
            self.cfg.label_smoothing,
        )?)
    }
    fn evaluate(&self, _step: usize) -> Result<(f64, serde_json::Value)> {
        let e = evaluate_translation(self.state, self.eval, self.cfg, &self.device)?;
        let record = serde_json::json!({"split": e.split, "bleu": e.bleu, "chrf": e.chrf, "rows": e.rows});
        let v = e.bleu;
        self.evals.lock().unwrap_or_else(|p| p.into_inner()).push(e);
        Ok((v, record))
    }
    fn save_model(&self, dest: &Path) -> Result<()> {
        save_translator(self.state, dest)
    }
}

/// The outcome of a translation run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TranslateSummary {
    /// The recipe.
    pub config: TranslateConfig,
    /// The loop's figures.
    pub run: LoopOutcome,
    /// The eval split before training.
    pub before: TranslationEval,
    /// Every evaluation during training.
    pub evals: Vec<TranslationEval>,
}

/// The learning rate a strategy starts from when the recipe names none: 5e-4 from scratch and
/// for LoRA adapters, 1e-4 for the top decoder layers, 5e-5 for a full fine-tune.
pub fn default_translate_lr(strategy: &Strategy) -> f64 {
    match strategy {
        Strategy::Scratch | Strategy::Lora { .. } => 5e-4,
        Strategy::Top { .. } => 1e-4,
        _ => 5e-5,
    }
}

/// Trains a prepared translator on `train` with the shared loop, evaluating on `eval` as
/// `cfg.train` says (the loop keeps the best evaluated parameters in `state`); returns the
/// loop's figures and every evaluation, hypotheses included.
#[allow(clippy::too_many_arguments)]
pub fn fit_translator(
    state: &TranslatorState,
    train: &PairTexts,
    eval: &PairTexts,
    cfg: &TranslateConfig,
    recipe: serde_json::Value,
    out: Option<&Path>,
    resume: Option<&Path>,
    device: &Device,
    on_event: impl FnMut(&LoopEvent),
) -> Result<(LoopOutcome, Vec<TranslationEval>)> {
    let (src, tgt) = encode_pairs(&state.tokenizer, train, cfg.max_length);
    let mut loop_cfg = cfg.train.clone();
    loop_cfg.lr = cfg.lr.unwrap_or_else(|| default_translate_lr(&cfg.strategy));
    let task = TranslateTask {
        state,
        src,
        tgt,
        eval,
        cfg,
        device: device.clone(),
        evals: Default::default(),
    };
    let run = run_loop(&task, &loop_cfg, recipe, out, resume, on_event)?;
    let evals = task.evals.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((run, evals))
}

/// Trains a translator; the returned state holds the best evaluated parameters.
#[allow(clippy::too_many_arguments)]
pub fn train_translator(
    model_dir: &Path,
    train: &PairTexts,
    eval: &PairTexts,
    cfg: &TranslateConfig,
    out: Option<&Path>,
    resume: Option<&Path>,
    device: &Device,
    on_event: impl FnMut(&LoopEvent),
) -> Result<(TranslateSummary, TranslatorState)> {
    nn::set_seed(cfg.train.seed);
    let state = prepare_translator(model_dir, &cfg.strategy, device)?;
    let before = evaluate_translation(&state, eval, cfg, device)?;
    let recipe = serde_json::json!({"task": "translate", "config": cfg, "model": model_dir});
    let (run, evals) = fit_translator(&state, train, eval, cfg, recipe, out, resume, device, on_event)?;
    let summary = TranslateSummary {
        config: cfg.clone(),
        run,
        before,
        evals,
    };
    if let Some(o) = out {
        let p = o.join("summary.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&summary).unwrap_or_default()).map_err(io(&p))?;
    }
    Ok((summary, state))
}
