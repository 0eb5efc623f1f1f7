//! Work on rayon's pool: inference over many batches, several at a time; training steps.
//!
//! One batch's operations split across the cores only where they are large enough, and every
//! operation ends in a join: on short sentences much of a second core's time goes to waiting.
//! Whole batches side by side (rayon hands them out, one per idle thread; the operations inside
//! a batch still split when a core is free) keep both cores busy. Each batch is computed as it
//! would be alone, so the results do not depend on which batches ran together.
//!
//! Training runs one batch at a time; [`on_pool`] runs each step on a pool thread, so its
//! operations split in place instead of being handed in from outside the pool.

use rayon::prelude::*;
use std::sync::mpsc;

/// Runs `f` on a thread of rayon's pool (in place when the caller is one), carrying the
/// caller's random stream ([`crate::nn::rng_state`]: dropout masks, new parameters) there and
/// back, so `f` draws what it would have drawn on the caller's thread.
///
/// An operation started from outside the pool hands its work in and sleeps on a lock until a
/// pool thread has finished it; started from a pool thread, it splits in place (the other
/// threads steal). A training step is thousands of operations: measured on a 2-core Xeon
/// (`bench_train_step`, batch 32 × 28 tokens, alternated 13 times) the step took a median 3.6%
/// less time on the pool (less in 11 of the 13). Which operations split how depends only on
/// the pool's size, the same either way, so results are identical (a fine-tune's log, weights
/// and optimizer state compare equal byte for byte).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let stream = crate::nn::rng_state();
    let (out, stream) = rayon::scope(move |_| {
        // The pool thread's own stream is put back afterwards: waiting inside an operation of
        // another `on_pool` call, it may be running this one nested in that one.
        let outer = crate::nn::rng_state();
        crate::nn::set_rng_state(stream);
        let out = f();
        let stream = crate::nn::rng_state();
        crate::nn::set_rng_state(outer);
        (out, stream)
    });
    crate::nn::set_rng_state(stream);
    out
}

/// `f` of every batch, batches run concurrently on rayon's global pool, the results in batch
/// order; `progress` gets the number of rows (batch items) done so far, increasing, after each
/// batch, on the calling thread (so it need not be shareable: a progress bar, a trainer's event
/// callback). Stops at an error (the first in batch order among those computed); a panic in
/// `f` reaches the caller.
pub fn map_batches<B, T, E>(
    batches: &[B],
    mut progress: impl FnMut(usize),
    f: impl Fn(&B) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    B: AsRef<[usize]> + Sync,
    T: Send,
    E: Send,
{
    if rayon::current_thread_index().is_some() {
        // On a pool thread already: waiting here on the channel would take this thread from
        // the pool (all of them, if every one did). The batches run as they are, the progress
        // is reported when all are done.
        let out = batches.par_iter().map(&f).collect::<Result<Vec<T>, E>>()?;
        let mut done = 0;
        for batch in batches {
            done += batch.as_ref().len();
            progress(done);
        }
        return Ok(out);
    }
    let (tx, rx) = mpsc::channel::<usize>();
    let f = &f;
    std::thread::scope(|s| {
        // The batches run from a helper thread while this one reports their progress; the
        // channel closes when the last batch is done (or an error or panic ends the run).
        let run = s.spawn(move || {
            batches
                .par_iter()
                .map_with(tx, |tx, batch| {
                    let out = f(batch)?;
                    // The receiver lives until every sender is gone.
                    let _ = tx.send(batch.as_ref().len());
                    Ok(out)
                })
                .collect::<Result<Vec<T>, E>>()
        });
        let mut done = 0;
        for rows in rx {
            done += rows;
            progress(done);
        }
        run.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_batch_order_and_progress_counts_every_row() {
        let batches: Vec<Vec<usize>> = (0..50).map(|b| (b * 3..b * 3 + 1 + b % 4).collect()).collect();
        let mut seen = Vec::new();
        let out: Result<Vec<usize>, ()> = map_batches(&batches, |d| seen.push(d), |b| Ok(b.iter().sum::<usize>()));
        let want: Vec<usize> = batches.iter().map(|b| b.iter().sum()).collect();
        assert_eq!(out.unwrap(), want);
        let rows: usize = batches.iter().map(Vec::len).sum();
        assert_eq!(seen.len(), batches.len());
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(*seen.last().unwrap(), rows);
        let err: Result<Vec<usize>, usize> =
            map_batches(&batches, |_| {}, |b| if b[0] == 30 { Err(b[0]) } else { Ok(0) });
        assert_eq!(err, Err(30));
        // From inside the pool (each of its threads in a map of its own): the same results.
        let nested: Vec<Vec<usize>> = (0..8)
            .into_par_iter()
            .map(|_| map_batches(&batches, |_| {}, |b| Ok::<_, ()>(b.iter().sum::<usize>())).unwrap())
            .collect();
        assert!(nested.iter().all(|n| *n == want));
    }

    #[test]
    fn on_pool_runs_on_the_pool_with_the_callers_stream() {
        use crate::nn::{dropout, rng_state, set_seed, Mode};
        use candle_core::{Device, Tensor};
        let x = Tensor::ones(4096, candle_core::DType::F32, &Device::Cpu).unwrap();
        let draw = || dropout(&x, 0.5, Mode::Train).unwrap().to_vec1::<f32>().unwrap();
        set_seed(11);
        let here = (draw(), draw());
        let state_here = rng_state();
        set_seed(11);
        let (on_pool_thread, there) = on_pool(|| (rayon::current_thread_index().is_some(), (draw(), draw())));
        assert!(on_pool_thread);
        // The same masks as on this thread, and this thread's stream moved on past them.
        assert_eq!(there, here);
        assert_eq!(rng_state(), state_here);
        assert_ne!(here.0, here.1);
    }
}
