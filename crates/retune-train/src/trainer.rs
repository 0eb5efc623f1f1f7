//! The training loop shared by every task: length-grouped batches, gradient accumulation
//! normalised by real examples or tokens, AdamW with warmup and decay, clipping, periodic
//! evaluation, the best model kept, early stopping, atomic checkpoints and exact resume.

use candle_core::Tensor;
use retune_models::batches::on_pool;
use retune_models::nn::{self, Params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::batching::epoch_batches;
use crate::error::{Result, TrainError};
use crate::optim::{AdamW, AdamWConfig};
use crate::run::{load_checkpoint, save_checkpoint, RunLog, TrainerState};
use crate::schedule::{Schedule, ScheduleKind};

/// What the loop needs from a task (classification, translation). `Sync`: each step's
/// [`TrainTask::batch_loss`] runs on a thread of the rayon pool ([`on_pool`]).
pub trait TrainTask: Sync {
    /// The parameters (trainable and frozen).
    fn params(&self) -> &Params;
    /// Names of the parameters that learn.
    fn trainable(&self) -> &[String];
    /// Token count of every training row (for length grouping).
    fn train_lengths(&self) -> Vec<usize>;
    /// The loss of a batch of training rows as a *sum*, and how many examples or real tokens it
    /// sums over (training mode: dropout on).
    fn batch_loss(&self, rows: &[usize]) -> Result<(Tensor, usize)>;
    /// Evaluates the model: the selection value (higher is better) and a JSON record for the log.
    fn evaluate(&self, step: usize) -> Result<(f64, serde_json::Value)>;
    /// Saves the current model as a Hugging Face checkpoint in `dest`.
    fn save_model(&self, dest: &Path) -> Result<()>;
}

/// Loop settings. Defaults follow the Hugging Face Trainer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct LoopConfig {
    /// Passes over the training data. Default 3.
    pub epochs: usize,
    /// Stop after this many optimizer steps. Default none.
    pub max_steps: Option<usize>,
    /// Rows per micro-batch. Default 32.
    pub batch_size: usize,
    /// Micro-batches per optimizer step. Default 1.
    pub grad_accum: usize,
    /// Peak learning rate. Default 5e-5.
    pub lr: f64,
    /// AdamW settings.
    pub adamw: AdamWConfig,
    /// Fraction of the steps of linear warmup. Default 0.06.
    pub warmup_ratio: f64,
    /// Decay after warmup. Default linear.
    pub schedule: ScheduleKind,
    /// Global gradient-norm clipping. Default 1.0.
    pub max_grad_norm: Option<f64>,
    /// Evaluate every N optimizer steps; default at the end of each epoch.
    pub eval_every: Option<usize>,
    /// Stop after this many evaluations without improvement. Default none.
    pub patience: Option<usize>,
    /// Seed of data order and dropout. Default 42.
    pub seed: u64,
    /// Group rows of similar length into batches. Default true.
    pub group_by_length: bool,
    /// Training checkpoints kept. Default 1.
    pub keep_checkpoints: usize,
    /// Log the loss every N steps. Default 1.
    pub log_every: usize,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            epochs: 3,
            max_steps: None,
            batch_size: 32,
            grad_accum: 1,
            lr: 5e-5,
            adamw: AdamWConfig::default(),
            warmup_ratio: 0.06,
            schedule: ScheduleKind::Linear,
            max_grad_norm: Some(1.0),
            eval_every: None,
            patience: None,
            seed: 42,
            group_by_length: true,
            keep_checkpoints: 1,
            log_every: 1,
        }
    }
}

/// What the loop reports while it runs (for progress bars).
#[derive(Clone, Debug)]
pub enum LoopEvent {
    /// Texts went through the frozen encoder once, before training (the `head` strategy).
    Encoding {
        /// Texts done.
        done: usize,
        /// Texts in all.
        total: usize,
    },
    /// Training begins.
    Start {
        /// Total optimizer steps planned.
        total_steps: usize,
        /// Trainable values.
        trainable: usize,
        /// Step the run starts from (non-zero when resumed).
        from_step: usize,
    },
    /// An optimizer step finished.
    Step {
        /// Step number (1-based).
        step: usize,
        /// Mean loss per example or token.
        loss: f64,
        /// Learning rate used.
        lr: f64,
        /// Training rows per second so far.
        rows_per_s: f64,
    },
    /// An evaluation finished: step, selection value, record.
    Eval {
        /// Step.
        step: usize,
        /// Selection value.
        value: f64,
        /// The task's record.
        record: serde_json::Value,
    },
}

/// The outcome of the loop.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LoopOutcome {
    /// Optimizer steps done (including those before a resume).
    pub steps: usize,
    /// Total steps planned.
    pub total_steps: usize,
    /// Trainable values.
    pub trainable: usize,
    /// Best selection value and its step.
    pub best: Option<(f64, usize)>,
    /// Every evaluation record of this process.
    pub evals: Vec<serde_json::Value>,
    /// Seconds of training (without evaluation and checkpoint writing, as the Trainer's epoch
    /// time leaves them out).
    pub train_seconds: f64,
    /// Seconds of evaluation.
    pub eval_seconds: f64,
    /// Seconds spent writing the best model and the training checkpoints.
    pub save_seconds: f64,
    /// Training rows per second.
    pub rows_per_s: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// The step a resumed run started from.
    pub resumed_from: Option<usize>,
    /// Where the best model was saved.
    pub best_dir: Option<PathBuf>,
}

fn all_tensors(params: &Params) -> HashMap<String, Tensor> {
    params
        .names()
        .into_iter()
        .filter_map(|n| params.var(&n).map(|v| (n, v.as_tensor().clone())))
        .collect()
}

fn snapshot(params: &Params, names: &[String]) -> Result<Vec<(String, Tensor)>> {
    names
        .iter()
        .filter_map(|n| params.var(n).map(|v| (n.clone(), v)))
        .map(|(n, v)| Ok((n, v.as_tensor().copy()?)))
        .collect()
}

/// Trains `task`. `recipe` identifies the run (a resume must match it). With `out`, writes
/// `log.jsonl`, checkpoints and the best model (`out/best`). At the end the task's parameters
/// hold the best evaluated model.
pub fn run_loop<T: TrainTask>(
    task: &T,
    cfg: &LoopConfig,
    recipe: serde_json::Value,
    out: Option<&Path>,
    resume: Option<&Path>,
    mut on_event: impl FnMut(&LoopEvent),
) -> Result<LoopOutcome> {
    crate::alloc::tune_allocator();
    let params = task.params();
    let lengths = task.train_lengths();
    if lengths.is_empty() {
        return Err(TrainError::Invalid("the training data has no rows".into()));
    }
    let micro_per_epoch = lengths.len().div_ceil(cfg.batch_size.max(1));
    let steps_per_epoch = micro_per_epoch.div_ceil(cfg.grad_accum.max(1));
    let mut total_steps = steps_per_epoch * cfg.epochs.max(1);
    if let Some(m) = cfg.max_steps {
        total_steps = total_steps.min(m);
    }
    let schedule = Schedule {
        kind: cfg.schedule,
        warmup_steps: (cfg.warmup_ratio * total_steps as f64).ceil() as usize,
        total_steps,
    };
    let vars: Vec<(String, candle_core::Var)> = task
        .trainable()
        .iter()
        .filter_map(|n| params.var(n).map(|v| (n.clone(), v)))
        .collect();
    let mut opt = AdamW::new(vars, cfg.adamw);
    let recipe = serde_json::json!({"recipe": recipe, "loop": cfg, "rows": lengths.len()});
    let mut st = TrainerState {
        step: 0,
        epoch: 0,
        batch_in_epoch: 0,
        rng: nn::rng_state(),
        best: None,
        evals_since_best: 0,
        log_lines: 0,
        recipe: recipe.clone(),
    };
    let mut resumed_from = None;
    if let Some(path) = resume {
        let r = load_checkpoint(path)?;
        if r.state.recipe != recipe {
            return Err(TrainError::Checkpoint {
                path: r.dir.clone(),
                message: "the checkpoint was made with a different recipe or training data".into(),
            });
        }
        for (name, t) in &r.model {
            if let Some(v) = params.var(name) {
                v.set(&t.to_device(&params.device)?)?;
            }
        }
        opt.load_state(&r.optimizer, r.state.step as u64)?;
        st = r.state;
        nn::set_rng_state(st.rng);
        resumed_from = Some(st.step);
    }
    let mut log = RunLog::open(out, resume.map(|_| st.log_lines))?;
    if resume.is_none() {
        log.write(
            &serde_json::json!({"type": "start", "recipe": recipe, "total_steps": total_steps,
            "trainable": opt.trainable_count()}),
        )?;
    }
    on_event(&LoopEvent::Start {
        total_steps,
        trainable: opt.trainable_count(),
        from_step: st.step,
    });
    let best_dir = out.map(|o| o.join("best"));
    let mut best_snapshot: Option<Vec<(String, Tensor)>> = None;
    let mut evals = Vec::new();
    let t_start = Instant::now();
    let mut eval_seconds = 0.0;
    let mut save_seconds = 0.0;
    let mut rows_done = 0usize;
    let mut stopped_early = false;
    let mut loss_acc = 0.0f64;
    let mut micro = 0usize;
    'outer: while st.step < total_steps && st.epoch < cfg.epochs.max(1) {
        let batches = epoch_batches(&lengths, cfg.batch_size, cfg.seed, st.epoch, cfg.group_by_length);
        while st.batch_in_epoch < batches.len() {
            let batch = &batches[st.batch_in_epoch];
            let step = st.step + 1;
            // The forward and backward on the pool, as the optimizer step below.
            let lv = on_pool(|| -> Result<f64> {
                let (loss, count) = task.batch_loss(batch)?;
                let lv = loss.to_scalar::<f32>()? as f64;
                if !lv.is_finite() {
                    return Err(TrainError::NonFinite {
                        what: "loss",
                        value: lv,
                        step,
                    });
                }
                opt.backward(&loss, count as f64)?;
                Ok(lv)
            })?;
            loss_acc += lv;
            rows_done += batch.len();
            micro += 1;
            st.batch_in_epoch += 1;
            let epoch_end = st.batch_in_epoch == batches.len();
            if micro < cfg.grad_accum.max(1) && !epoch_end {
                continue;
            }
            let lr = cfg.lr * schedule.factor(st.step);
            let count_total = opt.accumulated;
            let norm = on_pool(|| opt.step(lr, cfg.max_grad_norm))?;
            st.step += 1;
            let step_loss = loss_acc / count_total.max(1.0);
            loss_acc = 0.0;
            micro = 0;
            if st.step % cfg.log_every.max(1) == 0 || st.step == total_steps {
                log.write(&serde_json::json!({"type": "step", "step": st.step, "epoch": st.epoch,
                    "loss": step_loss, "lr": lr, "grad_norm": norm}))?;
            }
            let elapsed = (t_start.elapsed().as_secs_f64() - eval_seconds - save_seconds).max(1e-9);
            on_event(&LoopEvent::Step {
                step: st.step,
                loss: step_loss,
                lr,
                rows_per_s: rows_done as f64 / elapsed,
            });
            let due = match cfg.eval_every {
                Some(n) => st.step % n.max(1) == 0 || st.step == total_steps,
                None => epoch_end || st.step == total_steps,
            };
            if epoch_end {
                st.epoch += 1;
                st.batch_in_epoch = 0;
            }
            if due {
                let t0 = Instant::now();
                let (value, mut record) = task.evaluate(st.step)?;
                eval_seconds += t0.elapsed().as_secs_f64();
                record["type"] = "eval".into();
                record["step"] = st.step.into();
                log.write(&record)?;
                on_event(&LoopEvent::Eval {
                    step: st.step,
                    value,
                    record: record.clone(),
                });
                evals.push(record);
                let t_save = Instant::now();
                if st.best.is_none_or(|(b, _)| value > b) {
                    st.best = Some((value, st.step));
                    st.evals_since_best = 0;
                    best_snapshot = Some(snapshot(params, task.trainable())?);
                    if let Some(d) = &best_dir {
                        task.save_model(d)?;
                    }
                } else {
                    st.evals_since_best += 1;
                }
                if let Some(o) = out {
                    st.rng = nn::rng_state();
                    st.log_lines = log.lines;
                    save_checkpoint(
                        o,
                        &st,
                        &all_tensors(params),
                        &opt.state_tensors()?,
                        cfg.keep_checkpoints,
                    )?;
                }
                save_seconds += t_save.elapsed().as_secs_f64();
                if cfg.patience.is_some_and(|p| st.evals_since_best >= p) {
                    stopped_early = true;
                    break 'outer;
                }
            }
            if st.step >= total_steps {
                break 'outer;
            }
        }
        if st.batch_in_epoch >= batches.len() {
            st.epoch += 1;
            st.batch_in_epoch = 0;
        }
    }
    let train_seconds = (t_start.elapsed().as_secs_f64() - eval_seconds - save_seconds).max(0.0);
    // Leave the best evaluated model in the parameters. After a resume whose best came before
    // the checkpoint, it is read back from the run folder.
    if let Some((_, best_step)) = st.best {
        if best_step != st.step {
            match (&best_snapshot, &best_dir) {
                (Some(snap), _) => {
                    for (name, t) in snap {
                        if let Some(v) = params.var(name) {
                            v.set(t)?;
                        }
                    }
                }
                (None, Some(d)) if d.join("model.safetensors").exists() => {
                    restore_from_saved(params, &d.join("model.safetensors"))?;
                }
                _ => {}
            }
        }
    }
    Ok(LoopOutcome {
        steps: st.step,
        total_steps,
        trainable: opt.trainable_count(),
        best: st.best,
        evals,
        train_seconds,
        eval_seconds,
        save_seconds,
        rows_per_s: rows_done as f64 / train_seconds.max(1e-9),
        stopped_early,
        resumed_from,
        best_dir: best_dir.filter(|d| d.exists()),
    })
}

/// Sets parameters from a saved Hugging Face checkpoint (saved with the same canonical names).
/// Only for checkpoints without LoRA adapters (merged weights cannot be split back).
fn restore_from_saved(params: &Params, file: &Path) -> Result<()> {
    if params.names().iter().any(|n| n.contains(".lora_")) {
        return Ok(());
    }
    let saved = candle_core::safetensors::load(file, &params.device)?;
    for (name, t) in saved {
        if let Some(v) = params.var(&name) {
            if v.dims() == t.dims() {
                v.set(&t)?;
            }
        }
    }
    Ok(())
}
