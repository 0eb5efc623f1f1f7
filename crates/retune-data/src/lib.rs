//! Datasets for retune: read any common format into rows with typed columns, map labels, slice and
//! split deterministically, and audit the data (duplicates, leakage, lengths, scripts, label noise)
//! before training on it.
//!
//! Reading: [`read_text_dataset`] (classification) and [`read_pair_dataset`] (translation) take a
//! spec such as `data/x/train.tsv[:6000]` or `a.jsonl,b.jsonl[10%:20%]` ([`DataSpec`], [`Slice`]),
//! the columns to use ([`Columns`], [`PairColumns`]) and [`ReadOptions`]. Every bad row is an
//! error naming `file:line`, or, with `skip_bad_rows`, a [`SkippedRow`] in the result.

pub mod audit;
pub mod error;
pub mod guard;
pub mod labels;
pub mod read;
mod readers;
pub mod slice;
pub mod split;
pub mod tagged;

pub use error::DataError;
pub use labels::LabelSet;
pub use read::{
    read_pair_dataset, read_pair_spec, read_text_dataset, read_text_spec, Columns, Example, Format, PairColumns,
    PairDataset, PairExample, ReadOptions, RowRef, SkippedRow, TextDataset,
};
pub use slice::{DataSpec, Rounding, Slice};
pub use split::{hash_bucket, split_by_hash, split_key, split_stratified, Split};
