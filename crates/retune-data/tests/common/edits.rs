//! Byte edits for the readers' property tests (`tests/readers_fuzz.rs` here and in
//! retune-models, which includes this file): flips, insertions, deletions and cuts of a real
//! file's bytes.

use proptest::prelude::*;

/// One edit of a byte string.
#[derive(Clone, Debug)]
pub enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Cut(usize),
}

/// One to seven edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<usize>().prop_map(Edit::Delete),
            any::<usize>().prop_map(Edit::Cut),
        ],
        1..8,
    )
}

/// Applies the edits, flips, insertions and deletions within the first `head` bytes (where a
/// binary file's header is; `usize::MAX` for anywhere).
pub fn apply(mut b: Vec<u8>, edits: &[Edit], head: usize) -> Vec<u8> {
    for e in edits {
        let n = b.len().min(head).max(1);
        match *e {
            Edit::Flip(i, v) if !b.is_empty() => b[i % n] ^= v | 1,
            Edit::Insert(i, v) => b.insert(i % (n + 1).min(b.len() + 1), v),
            Edit::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            Edit::Cut(i) => b.truncate(i % (b.len() + 1)),
            _ => {}
        }
    }
    b
}
