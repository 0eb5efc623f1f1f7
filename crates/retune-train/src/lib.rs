//! The training engine of retune: strategies from a linear probe to training from scratch,
//! AdamW with decoupled weight decay, warmup schedules, clipping, gradient accumulation,
//! length-grouped batches, streaming evaluation, atomic checkpoints with exact resume.

pub mod alloc;
pub mod batching;
pub mod classify;
pub mod continued;
pub mod error;
pub mod lm;
pub mod loss;
pub mod optim;
pub mod probe;
pub mod run;
pub mod schedule;
pub mod strategy;
pub mod tag;
pub mod trainer;
pub mod translate;

pub use error::{Result, TrainError};
