//! One module per command.

pub mod eval;
