//! SentencePiece models and Marian's tokenizer, read straight from the checkpoint files.
//!
//! [`SentencePieceModel`] reads a SentencePiece `ModelProto` (`source.spm`, `target.spm`,
//! `*.model`) with a small protobuf reader of its own and segments text exactly as
//! SentencePiece's `EncodeAsPieces` does:
//!
//! 1. normalization: user-defined symbols are kept whole, the rest goes through the
//!    `precompiled_charsmap` (a darts-clone double-array trie of replacement rules, such as
//!    `nmt_nfkc`), longest rule first; then whitespace handling (`remove_extra_whitespaces`,
//!    `add_dummy_prefix`, `escape_whitespaces` to `▁`, `treat_whitespace_as_suffix`);
//! 2. segmentation: the unigram Viterbi search of SentencePiece's optimized encoder (unknown
//!    characters score `min_score - 10`, user-defined pieces `length * max_score - 0.1`, unused
//!    pieces are skipped, ties go to the earliest start), or the BPE merge loop for BPE models;
//! 3. runs of unknown pieces are merged into one piece (or, with `byte_fallback`, spelled as
//!    `<0xXX>` byte pieces).
//!
//! [`MarianTokenizer`] reproduces transformers' (slow, sentencepiece-based) `MarianTokenizer`:
//! special tokens are split off first, a leading language code such as `>>cmn_Hans<<` becomes
//! its own token, pieces are mapped through `vocab.json` (not through the SentencePiece ids),
//! unknown pieces map to `<unk>`, and `</s>` is appended. Decoding follows
//! `MarianTokenizer.convert_tokens_to_string`, including its handling of special tokens.
//!
//! No Python, no `sentencepiece` C++ library and no protobuf crate are needed.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The space symbol SentencePiece writes for a space (U+2581, LOWER ONE EIGHTH BLOCK).
pub const SPACE_SYMBOL: &str = "\u{2581}";

/// What SentencePiece's decoder writes for the `<unk>` piece when the model names none.
pub const DEFAULT_UNK_SURFACE: &str = " \u{2047} ";

/// The name used in errors for a model read from memory rather than from a file.
const MEMORY: &str = "<memory>";

/// An error while reading SentencePiece or Marian tokenizer files; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SpmError {
    /// A file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file the tokenizer needs is not there.
    #[error("{}: missing ({what})", file.display())]
    Missing {
        /// The file that was looked for.
        file: PathBuf,
        /// Why it is needed.
        what: String,
    },
    /// The protobuf ends in the middle of a value.
    #[error("{}: truncated protobuf at byte {offset}: {what}", file.display())]
    Truncated {
        /// The file.
        file: PathBuf,
        /// Byte offset where more data was expected.
        offset: usize,
        /// What was being read.
        what: String,
    },
    /// The protobuf is not well-formed (bad wire type, bad UTF-8, overlong varint, ...).
    #[error("{}: malformed protobuf at byte {offset}: {what}", file.display())]
    Malformed {
        /// The file.
        file: PathBuf,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        what: String,
    },
    /// `trainer_spec.model_type` names a segmentation this module does not implement.
    #[error("{}: unsupported SentencePiece model type {model_type} ({name}); only UNIGRAM (1) and BPE (2) are supported", file.display())]
    UnsupportedModelType {
        /// The file.
        file: PathBuf,
        /// The numeric `ModelType`.
        model_type: i64,
        /// Its protobuf name, if known.
        name: &'static str,
    },
    /// The model parses but breaks a SentencePiece invariant (no `<unk>`, duplicate piece, ...).
    #[error("{}: invalid SentencePiece model: {what}", file.display())]
    InvalidModel {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A JSON file could not be parsed.
    #[error("{}: invalid JSON: {source}", file.display())]
    Json {
        /// The file.
        file: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A vocabulary or configuration file has the wrong shape.
    #[error("{}: {what}", file.display())]
    InvalidVocab {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        what: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Protobuf reading

mod bpe;
mod marian_tokenizer;
mod model;
mod normalizer;
mod proto;
#[cfg(test)]
mod tests;
mod unigram;

use normalizer::*;
use proto::*;

/// The type of a piece (`ModelProto.SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PieceType {
    /// An ordinary piece found by segmentation.
    Normal,
    /// The unknown piece (`<unk>`).
    Unknown,
    /// A control symbol such as `<s>` or `</s>`; never produced by segmentation.
    Control,
    /// A user-defined symbol: always kept whole, never split by segmentation.
    UserDefined,
    /// A byte piece `<0xXX>` used by byte fallback.
    Byte,
    /// A piece that segmentation must not use.
    Unused,
}

impl PieceType {
    fn from_proto(v: i64) -> Option<Self> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }
}

/// One entry of the model's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The piece text (with `▁` for spaces).
    pub piece: String,
    /// Its log-probability (unigram) or merge priority (BPE).
    pub score: f32,
    /// Its type.
    pub kind: PieceType,
}

/// The segmentation algorithm of a model (`TrainerSpec.model_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    /// Unigram language model, Viterbi segmentation.
    Unigram,
    /// Byte-pair encoding.
    Bpe,
}

/// The normalization settings of a model (`NormalizerSpec`).
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizerSpec {
    /// Rule name, such as `nmt_nfkc` or `identity`.
    pub name: String,
    /// The compiled replacement rules (empty for `identity`).
    pub precompiled_charsmap: Vec<u8>,
    /// Whether a `▁` is put in front of the text.
    pub add_dummy_prefix: bool,
    /// Whether leading, trailing and repeated spaces are removed.
    pub remove_extra_whitespaces: bool,
    /// Whether spaces are written as `▁`.
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        NormalizerSpec {
            name: String::new(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

/// The fields of `TrainerSpec` that affect encoding and decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerSpec {
    /// Segmentation algorithm.
    pub model_type: ModelType,
    /// Whether `▁` goes at the end of words instead of the start.
    pub treat_whitespace_as_suffix: bool,
    /// Whether unknown characters are spelled as `<0xXX>` byte pieces.
    pub byte_fallback: bool,
    /// What the decoder writes for `<unk>`.
    pub unk_surface: String,
}

// ---------------------------------------------------------------------------------------------
// Byte trie over pieces

/// A SentencePiece model (`ModelProto`), able to normalize, segment and decode like
/// SentencePiece's `SentencePieceProcessor` (unigram and BPE models).
#[derive(Debug, Clone)]
pub struct SentencePieceModel {
    pieces: Vec<Piece>,
    trainer: TrainerSpec,
    normalizer: NormalizerSpec,
    /// NORMAL, USER_DEFINED and UNUSED pieces.
    piece_ids: HashMap<String, u32>,
    /// UNKNOWN, CONTROL and BYTE pieces.
    reserved_ids: HashMap<String, u32>,
    unk_id: u32,
    /// Trie over `piece_ids` for segmentation.
    trie: ByteTrie,
    /// Trie over user-defined symbols for normalization and BPE.
    user_trie: Option<ByteTrie>,
    charsmap: Option<CharsMap>,
    /// Lowest and highest score among NORMAL pieces.
    min_score: f32,
    max_score: f32,
}

/// An added (special) token as transformers keeps it: split off before SentencePiece runs.
#[derive(Debug, Clone, PartialEq)]
struct AddedToken {
    content: String,
    id: u32,
    lstrip: bool,
    rstrip: bool,
    single_word: bool,
}

/// Marian's tokenizer (transformers' `MarianTokenizer`): SentencePiece pieces mapped through
/// `vocab.json`, with `</s>` appended.
#[derive(Debug, Clone)]
pub struct MarianTokenizer {
    source: SentencePieceModel,
    target: SentencePieceModel,
    encoder: HashMap<String, u32>,
    target_encoder: Option<HashMap<String, u32>>,
    /// id → token, from the target vocabulary when vocabularies are separate.
    decoder: HashMap<u32, String>,
    added: Vec<AddedToken>,
    added_by_id: HashMap<u32, usize>,
    added_by_content: HashMap<String, usize>,
    special_tokens: Vec<String>,
    special_ids: HashSet<u32>,
    language_codes: Vec<String>,
    unk_token: String,
    eos_token: String,
    pad_token: String,
    clean_up_tokenization_spaces: bool,
}
