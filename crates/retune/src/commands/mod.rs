//! One module per command.

pub mod eval;
pub mod predict;
pub mod translate;
