//! The run folder: JSONL log, atomic checkpoints with the full training state, resume.

use candle_core::Tensor;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{io, Result, TrainError};

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: usize,
    /// Current epoch (0-based).
    pub epoch: usize,
    /// Micro-batches of this epoch already consumed.
    pub batch_in_epoch: usize,
    /// The random stream (dropout, initialization) after the last step: (seed, counter).
    pub rng: (u64, u64),
    /// Best evaluation metric so far and its step.
    pub best: Option<(f64, usize)>,
    /// Evaluations since the best one (early stopping).
    pub evals_since_best: usize,
    /// Lines of `log.jsonl` written up to this checkpoint.
    pub log_lines: usize,
    /// The run's recipe, to check that a resume uses the same one.
    pub recipe: serde_json::Value,
}

/// Appends JSON lines to `log.jsonl` and counts them.
pub struct RunLog {
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
    /// Lines written so far.
    pub lines: usize,
}

impl RunLog {
    /// A log in `dir/log.jsonl` (none when `dir` is None). With `keep_lines`, an existing log is
    /// cut to its first `keep_lines` lines (resume); otherwise it is started afresh.
    pub fn open(dir: Option<&Path>, keep_lines: Option<usize>) -> Result<RunLog> {
        let Some(dir) = dir else {
            return Ok(RunLog {
                path: None,
                file: None,
                lines: 0,
            });
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("log.jsonl");
        let mut kept = String::new();
        let mut lines = 0;
        if let Some(keep) = keep_lines {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines().take(keep) {
                kept.push_str(line);
                kept.push('\n');
                lines += 1;
            }
        }
        std::fs::write(&path, kept).map_err(io(&path))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(RunLog {
            path: Some(path),
            file: Some(file),
            lines,
        })
    }

    /// Writes one record.
    pub fn write(&mut self, value: &serde_json::Value) -> Result<()> {
        if let (Some(f), Some(p)) = (&mut self.file, &self.path) {
            writeln!(f, "{value}").map_err(io(p))?;
            self.lines += 1;
        }
        Ok(())
    }
}

/// Writes a training checkpoint `dir/checkpoint-{step}` atomically (temporary folder, then
/// rename): `model.safetensors` (every variable, adapters included), `optimizer.safetensors`,
/// `trainer_state.json`. Keeps the newest `keep` checkpoints.
pub fn save_checkpoint(
    dir: &Path,
    state: &TrainerState,
    model: &HashMap<String, Tensor>,
    optimizer: &HashMap<String, Tensor>,
    keep: usize,
) -> Result<PathBuf> {
    let dest = dir.join(format!("checkpoint-{}", state.step));
    let json = serde_json::to_vec_pretty(state).map_err(|e| TrainError::Invalid(e.to_string()))?;
    let tmp = dir.join(format!(".checkpoint-{}.tmp-{}", state.step, std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    candle_core::safetensors::save(model, tmp.join("model.safetensors"))?;
    candle_core::safetensors::save(optimizer, tmp.join("optimizer.safetensors"))?;
    let sp = tmp.join("trainer_state.json");
    std::fs::write(&sp, json).map_err(io(&sp))?;
    for f in ["model.safetensors", "optimizer.safetensors", "trainer_state.json"] {
        let p = tmp.join(f);
        if let Ok(file) = std::fs::File::open(&p) {
            file.sync_all().map_err(io(&p))?;
        }
    }
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
    // Prune older checkpoints.
    let mut all = list_checkpoints(dir);
    all.sort();
    while all.len() > keep.max(1) {
        let (_, p) = all.remove(0);
        let _ = std::fs::remove_dir_all(p);
    }
    Ok(dest)
}

/// `checkpoint-N` folders of a run, as (N, path).
pub fn list_checkpoints(dir: &Path) -> Vec<(usize, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name.strip_prefix("checkpoint-")?.parse::<usize>().ok()?;
            e.path().join("trainer_state.json").exists().then_some((n, e.path()))
        })
        .collect()
}

/// A checkpoint read back for resuming.
pub struct Resumed {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// Its state.
    pub state: TrainerState,
    /// Model variables.
    pub model: HashMap<String, Tensor>,
    /// Optimizer moments.
    pub optimizer: HashMap<String, Tensor>,
}

/// Loads a checkpoint folder, or the newest `checkpoint-N` inside a run folder.
pub fn load_checkpoint(path: &Path) -> Result<Resumed> {
    let dir = if path.join("trainer_state.json").exists() {
        path.to_path_buf()
    } else {
        let mut all = list_checkpoints(path);
        all.sort();
        all.pop().map(|(_, p)| p).ok_or_else(|| TrainError::Checkpoint {
            path: path.into(),
            message: "no checkpoint-N folder with trainer_state.json to resume from".into(),
        })?
    };
    let sp = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&sp).map_err(io(&sp))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: sp.clone(),
        message: e.to_string(),
    })?;
    let dev = retune_models::device::host();
    let load = |f: &str| -> Result<HashMap<String, Tensor>> {
        let p = dir.join(f);
        candle_core::safetensors::load(&p, &dev).map_err(|e| TrainError::Checkpoint {
            path: p,
            message: e.to_string(),
        })
    };
    Ok(Resumed {
        model: load("model.safetensors")?,
        optimizer: load("optimizer.safetensors")?,
        state,
        dir,
    })
}
