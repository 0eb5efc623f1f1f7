//! Third-party decoders that panic on corrupt input are run under [`catch_quietly`], so a
//! corrupt file is one error naming it, not a crash or a backtrace on standard error: the
//! `parquet` crate (an unwrap inside its thrift decoder on some truncated or flipped files) and
//! the `tokenizers` crate (a panic while deserializing some malformed `tokenizer.json`), both
//! found by the `readers_fuzz` property tests.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

thread_local! {
    /// Whether a panic on this thread is being caught by [`catch_quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it becomes `Err(its message)`. While `f` runs, the process's panic
/// hook stays silent for this thread only (other threads' panics print as before).
pub fn catch_quietly<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}
