//! One module per command.

pub mod assess;
pub mod audit;
pub mod convert;
pub mod data_args;
pub mod eval;
pub mod finetune;
pub mod finetune_args;
pub mod finetune_lm;
pub mod finetune_ner;
pub mod finetune_translate;
pub mod generate;
pub mod model_args;
pub mod predict;
pub mod rank;
pub mod train_bar;
pub mod translate;
