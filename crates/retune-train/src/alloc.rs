//! Allocator tuning: one implementation, in `retune_models::alloc` (inference needs it too).

pub use retune_models::alloc::tune_allocator;
