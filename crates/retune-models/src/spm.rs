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

/// A minimal protobuf wire-format reader over one message.
struct ProtoReader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` within the whole file, for error messages.
    base: usize,
    file: &'a Path,
}

/// One field value as it appears on the wire.
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8], usize),
    Fixed32(u32),
}

impl<'a> ProtoReader<'a> {
    fn new(buf: &'a [u8], base: usize, file: &'a Path) -> Self {
        ProtoReader {
            buf,
            pos: 0,
            base,
            file,
        }
    }

    fn truncated(&self, what: &str) -> SpmError {
        SpmError::Truncated {
            file: self.file.to_path_buf(),
            offset: self.base + self.pos,
            what: what.into(),
        }
    }

    fn malformed(&self, offset: usize, what: impl Into<String>) -> SpmError {
        SpmError::Malformed {
            file: self.file.to_path_buf(),
            offset,
            what: what.into(),
        }
    }

    fn varint(&mut self, what: &str) -> Result<u64, SpmError> {
        let start = self.base + self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated(what));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed(start, format!("varint longer than 10 bytes in {what}")))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SpmError> {
        if self.buf.len() - self.pos < n {
            return Err(self.truncated(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next field as (field number, value); `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, SpmError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key_at = self.base + self.pos;
        let key = self.varint("field key")?;
        let field = key >> 3;
        if field == 0 {
            return Err(self.malformed(key_at, "field number 0"));
        }
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint(&format!("varint field {field}"))?),
            1 => {
                self.take(8, &format!("fixed64 field {field}"))?;
                Wire::Fixed64
            }
            2 => {
                let len = self.varint(&format!("length of field {field}"))?;
                let len = usize::try_from(len).map_err(|_| self.truncated("length"))?;
                let at = self.base + self.pos;
                Wire::Bytes(self.take(len, &format!("{len} bytes of field {field}"))?, at)
            }
            5 => {
                let b = self.take(4, &format!("fixed32 field {field}"))?;
                Wire::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
            }
            t => return Err(self.malformed(key_at, format!("unsupported wire type {t} for field {field}"))),
        };
        Ok(Some((field, wire)))
    }
}

impl Wire<'_> {
    fn as_varint(&self, r: &ProtoReader<'_>, name: &str) -> Result<u64, SpmError> {
        match self {
            Wire::Varint(v) => Ok(*v),
            _ => Err(r.malformed(r.base + r.pos, format!("{name} is not a varint"))),
        }
    }
    fn as_bool(&self, r: &ProtoReader<'_>, name: &str) -> Result<bool, SpmError> {
        Ok(self.as_varint(r, name)? != 0)
    }
    fn as_i32(&self, r: &ProtoReader<'_>, name: &str) -> Result<i64, SpmError> {
        // int32 / enum: negative numbers are sign-extended to 64 bits on the wire.
        Ok(i64::from(self.as_varint(r, name)? as i32))
    }
    fn as_f32(&self, r: &ProtoReader<'_>, name: &str) -> Result<f32, SpmError> {
        match self {
            Wire::Fixed32(v) => Ok(f32::from_bits(*v)),
            _ => Err(r.malformed(r.base + r.pos, format!("{name} is not a fixed32 float"))),
        }
    }
    fn as_bytes(&self, r: &ProtoReader<'_>, name: &str) -> Result<(&[u8], usize), SpmError> {
        match self {
            Wire::Bytes(b, at) => Ok((b, *at)),
            _ => Err(r.malformed(r.base + r.pos, format!("{name} is not length-delimited"))),
        }
    }
    fn as_string(&self, r: &ProtoReader<'_>, name: &str) -> Result<String, SpmError> {
        let (b, at) = self.as_bytes(r, name)?;
        String::from_utf8(b.to_vec()).map_err(|_| r.malformed(at, format!("{name} is not valid UTF-8")))
    }
}

// ---------------------------------------------------------------------------------------------
// Public model description

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

/// One node of a [`ByteTrie`].
#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// Children as (byte, node index), sorted by byte.
    children: Vec<(u8, u32)>,
    /// The id of the key ending here, if any.
    id: Option<u32>,
}

/// A plain byte trie mapping strings to ids (pieces, user-defined symbols).
#[derive(Debug, Clone, Default)]
struct ByteTrie {
    nodes: Vec<TrieNode>,
}

impl ByteTrie {
    fn new() -> Self {
        ByteTrie {
            nodes: vec![TrieNode::default()],
        }
    }

    fn insert(&mut self, key: &[u8], id: u32) {
        let mut node = 0usize;
        for &b in key {
            node = match self.nodes[node].children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[node].children[i].1 as usize,
                Err(i) => {
                    let next = self.nodes.len() as u32;
                    self.nodes[node].children.insert(i, (b, next));
                    self.nodes.push(TrieNode::default());
                    next as usize
                }
            };
        }
        self.nodes[node].id = Some(id);
    }

    fn child(&self, node: usize, b: u8) -> Option<usize> {
        let children = &self.nodes[node].children;
        children
            .binary_search_by_key(&b, |c| c.0)
            .ok()
            .map(|i| children[i].1 as usize)
    }

    /// Calls `f(length, id)` for every stored key that is a prefix of `text`, shortest first.
    fn prefixes(&self, text: &[u8], mut f: impl FnMut(usize, u32)) {
        let mut node = 0usize;
        for (i, &b) in text.iter().enumerate() {
            match self.child(node, b) {
                Some(n) => node = n,
                None => return,
            }
            if let Some(id) = self.nodes[node].id {
                f(i + 1, id);
            }
        }
    }

    /// Length of the longest stored key that is a prefix of `text`.
    fn longest_prefix(&self, text: &[u8]) -> Option<usize> {
        let mut best = None;
        self.prefixes(text, |len, _| best = Some(len));
        best
    }
}

// ---------------------------------------------------------------------------------------------
// Precompiled charsmap (darts-clone double array + NUL-separated replacement strings)

#[derive(Debug, Clone)]
struct CharsMap {
    units: Vec<u32>,
    normalized: Vec<u8>,
}

impl CharsMap {
    fn parse(blob: &[u8], file: &Path) -> Result<Self, SpmError> {
        let bad = |what: &str| SpmError::InvalidModel {
            file: file.to_path_buf(),
            what: format!("normalizer_spec.precompiled_charsmap: {what}"),
        };
        if blob.len() <= 4 {
            return Err(bad("blob is broken (shorter than its header)"));
        }
        let trie_size = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes")) as usize;
        let rest = &blob[4..];
        if trie_size >= blob.len() || trie_size > rest.len() {
            return Err(bad("trie size exceeds the blob size"));
        }
        if !trie_size.is_multiple_of(4) || trie_size == 0 {
            return Err(bad("trie size is not a positive multiple of 4"));
        }
        let units = rest[..trie_size]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect();
        Ok(CharsMap {
            units,
            normalized: rest[trie_size..].to_vec(),
        })
    }

    /// The longest rule matching a prefix of `key`: (matched length, replacement).
    fn longest_match(&self, key: &[u8]) -> Option<(usize, &[u8])> {
        #[inline]
        fn offset(u: u32) -> usize {
            ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize
        }
        #[inline]
        fn label(u: u32) -> u32 {
            u & ((1 << 31) | 0xff)
        }
        #[inline]
        fn has_leaf(u: u32) -> bool {
            (u >> 8) & 1 == 1
        }
        // SentencePiece looks at no more than this many matches (kMaxTrieResultsSize).
        const MAX_RESULTS: usize = 32;
        let mut best: Option<(usize, usize)> = None;
        let mut found = 0usize;
        let mut pos = offset(*self.units.first()?);
        for (i, &b) in key.iter().enumerate() {
            pos ^= b as usize;
            let Some(&unit) = self.units.get(pos) else {
                break;
            };
            if label(unit) != u32::from(b) {
                break;
            }
            pos ^= offset(unit);
            if has_leaf(unit) {
                let Some(&leaf) = self.units.get(pos) else {
                    break;
                };
                if found < MAX_RESULTS {
                    best = Some((i + 1, (leaf & 0x7fff_ffff) as usize));
                }
                found += 1;
            }
        }
        let (len, value) = best?;
        let tail = self.normalized.get(value..)?;
        let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        Some((len, &tail[..end]))
    }
}

/// Byte length of the UTF-8 character starting with `lead`, as SentencePiece's `OneCharLen`.
fn one_char_len(lead: u8) -> usize {
    const TABLE: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    TABLE[(lead >> 4) as usize]
}

/// Python's `str.isspace` for one character (used by `str.strip`, `lstrip`, `rstrip`).
fn py_isspace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{1c}'..='\u{1f}' | ' ' | '\u{85}' | '\u{a0}'
            | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}'
            | '\u{3000}'
    )
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

// ---------------------------------------------------------------------------------------------
// The SentencePiece model

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

impl SentencePieceModel {
    /// Reads a serialized `ModelProto` from a file (`source.spm`, `spiece.model`, ...).
    pub fn from_file(path: &Path) -> Result<Self, SpmError> {
        let bytes = std::fs::read(path).map_err(|source| SpmError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, path)
    }

    /// Reads a serialized `ModelProto` from memory; errors name the file `<memory>`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SpmError> {
        Self::parse(bytes, Path::new(MEMORY))
    }

    fn parse(bytes: &[u8], file: &Path) -> Result<Self, SpmError> {
        let mut pieces = Vec::new();
        let mut model_type: i64 = 1;
        let mut treat_whitespace_as_suffix = false;
        let mut byte_fallback = false;
        let mut unk_surface = DEFAULT_UNK_SURFACE.to_string();
        let mut normalizer = NormalizerSpec::default();

        let mut top = ProtoReader::new(bytes, 0, file);
        while let Some((field, wire)) = top.next_field()? {
            match field {
                1 => {
                    let (b, at) = wire.as_bytes(&top, "ModelProto.pieces")?;
                    pieces.push(Self::parse_piece(b, at, file, pieces.len())?);
                }
                2 => {
                    let (b, at) = wire.as_bytes(&top, "ModelProto.trainer_spec")?;
                    let mut r = ProtoReader::new(b, at, file);
                    while let Some((f, w)) = r.next_field()? {
                        match f {
                            3 => model_type = w.as_i32(&r, "trainer_spec.model_type")?,
                            24 => {
                                treat_whitespace_as_suffix = w.as_bool(&r, "trainer_spec.treat_whitespace_as_suffix")?
                            }
                            35 => byte_fallback = w.as_bool(&r, "trainer_spec.byte_fallback")?,
                            44 => unk_surface = w.as_string(&r, "trainer_spec.unk_surface")?,
                            _ => {}
                        }
                    }
                }
                3 => {
                    let (b, at) = wire.as_bytes(&top, "ModelProto.normalizer_spec")?;
                    let mut r = ProtoReader::new(b, at, file);
                    while let Some((f, w)) = r.next_field()? {
                        match f {
                            1 => normalizer.name = w.as_string(&r, "normalizer_spec.name")?,
                            2 => {
                                normalizer.precompiled_charsmap =
                                    w.as_bytes(&r, "normalizer_spec.precompiled_charsmap")?.0.to_vec()
                            }
                            3 => normalizer.add_dummy_prefix = w.as_bool(&r, "normalizer_spec.add_dummy_prefix")?,
                            4 => {
                                normalizer.remove_extra_whitespaces =
                                    w.as_bool(&r, "normalizer_spec.remove_extra_whitespaces")?
                            }
                            5 => normalizer.escape_whitespaces = w.as_bool(&r, "normalizer_spec.escape_whitespaces")?,
                            _ => {}
                        }
                    }
                }
                _ => {} // self_test_data, denormalizer_spec and unknown fields are skipped
            }
        }

        let model_type = match model_type {
            1 => ModelType::Unigram,
            2 => ModelType::Bpe,
            t => {
                let name = match t {
                    3 => "WORD",
                    4 => "CHAR",
                    _ => "unknown",
                };
                return Err(SpmError::UnsupportedModelType {
                    file: file.to_path_buf(),
                    model_type: t,
                    name,
                });
            }
        };
        let trainer = TrainerSpec {
            model_type,
            treat_whitespace_as_suffix,
            byte_fallback,
            unk_surface,
        };
        Self::build(pieces, trainer, normalizer, file)
    }

    fn parse_piece(b: &[u8], at: usize, file: &Path, index: usize) -> Result<Piece, SpmError> {
        let mut r = ProtoReader::new(b, at, file);
        let mut piece = Piece {
            piece: String::new(),
            score: 0.0,
            kind: PieceType::Normal,
        };
        while let Some((f, w)) = r.next_field()? {
            match f {
                1 => piece.piece = w.as_string(&r, "SentencePiece.piece")?,
                2 => piece.score = w.as_f32(&r, "SentencePiece.score")?,
                3 => {
                    let t = w.as_i32(&r, "SentencePiece.type")?;
                    piece.kind = PieceType::from_proto(t).ok_or_else(|| SpmError::InvalidModel {
                        file: file.to_path_buf(),
                        what: format!("piece {index} has unknown type {t}"),
                    })?;
                }
                _ => {}
            }
        }
        Ok(piece)
    }

    fn build(
        pieces: Vec<Piece>,
        trainer: TrainerSpec,
        normalizer: NormalizerSpec,
        file: &Path,
    ) -> Result<Self, SpmError> {
        let invalid = |what: String| SpmError::InvalidModel {
            file: file.to_path_buf(),
            what,
        };
        if pieces.is_empty() {
            return Err(invalid("the model has no pieces".into()));
        }
        if u32::try_from(pieces.len()).is_err() {
            return Err(invalid("too many pieces".into()));
        }
        let mut piece_ids = HashMap::new();
        let mut reserved_ids = HashMap::new();
        let mut unk_id = None;
        let mut trie = ByteTrie::new();
        let mut user = ByteTrie::new();
        let mut has_user = false;
        let mut bytes_found = [false; 256];
        let (mut min_score, mut max_score) = (f32::MAX, f32::MIN_POSITIVE);
        for (i, p) in pieces.iter().enumerate() {
            let id = i as u32;
            if p.piece.is_empty() {
                return Err(invalid(format!("piece {i} is empty")));
            }
            let normal = matches!(p.kind, PieceType::Normal | PieceType::UserDefined | PieceType::Unused);
            let map = if normal { &mut piece_ids } else { &mut reserved_ids };
            if map.insert(p.piece.clone(), id).is_some() {
                return Err(invalid(format!("piece {:?} is defined twice", p.piece)));
            }
            if normal {
                trie.insert(p.piece.as_bytes(), id);
            }
            match p.kind {
                PieceType::Normal => {
                    min_score = min_score.min(p.score);
                    max_score = max_score.max(p.score);
                }
                PieceType::UserDefined => {
                    user.insert(p.piece.as_bytes(), id);
                    has_user = true;
                }
                PieceType::Unknown => {
                    if unk_id.is_some() {
                        return Err(invalid("more than one UNKNOWN piece".into()));
                    }
                    unk_id = Some(id);
                }
                PieceType::Byte => {
                    if !trainer.byte_fallback {
                        return Err(invalid(format!(
                            "byte piece {} found although byte_fallback is false",
                            p.piece
                        )));
                    }
                    match piece_to_byte(&p.piece) {
                        Some(b) => bytes_found[b as usize] = true,
                        None => return Err(invalid(format!("byte piece {} is invalid", p.piece))),
                    }
                }
                _ => {}
            }
        }
        let unk_id = unk_id.ok_or_else(|| invalid("no UNKNOWN piece (<unk>) is defined".into()))?;
        if trainer.byte_fallback && bytes_found.iter().any(|f| !f) {
            return Err(invalid("byte_fallback is set but not all 256 byte pieces exist".into()));
        }
        let charsmap = if normalizer.precompiled_charsmap.is_empty() {
            None
        } else {
            Some(CharsMap::parse(&normalizer.precompiled_charsmap, file)?)
        };
        Ok(SentencePieceModel {
            pieces,
            trainer,
            normalizer,
            piece_ids,
            reserved_ids,
            unk_id,
            trie,
            user_trie: has_user.then_some(user),
            charsmap,
            min_score,
            max_score,
        })
    }

    /// All pieces, indexed by SentencePiece id.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the model has no pieces (never true for a loaded model).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The score of each piece, indexed by id.
    pub fn scores(&self) -> Vec<f32> {
        self.pieces.iter().map(|p| p.score).collect()
    }

    /// The type of each piece, indexed by id.
    pub fn types(&self) -> Vec<PieceType> {
        self.pieces.iter().map(|p| p.kind).collect()
    }

    /// The normalizer settings.
    pub fn normalizer_spec(&self) -> &NormalizerSpec {
        &self.normalizer
    }

    /// The trainer settings that matter for encoding.
    pub fn trainer_spec(&self) -> &TrainerSpec {
        &self.trainer
    }

    /// The segmentation algorithm.
    pub fn model_type(&self) -> ModelType {
        self.trainer.model_type
    }

    /// The SentencePiece id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// The SentencePiece id of a piece, or the unknown id (as `PieceToId`).
    pub fn piece_to_id(&self, piece: &str) -> u32 {
        self.reserved_ids
            .get(piece)
            .or_else(|| self.piece_ids.get(piece))
            .copied()
            .unwrap_or(self.unk_id)
    }

    /// The piece with this SentencePiece id, if it exists.
    pub fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(|p| p.piece.as_str())
    }

    fn kind(&self, id: u32) -> PieceType {
        self.pieces[id as usize].kind
    }

    /// One normalization step: (replacement, bytes consumed), as `Normalizer::NormalizePrefix`.
    fn normalize_prefix<'s>(&'s self, input: &'s [u8]) -> (&'s [u8], usize) {
        if let Some(user) = &self.user_trie {
            if let Some(len) = user.longest_prefix(input) {
                return (&input[..len], len);
            }
        }
        if let Some(map) = &self.charsmap {
            if let Some((len, out)) = map.longest_match(input) {
                return (out, len);
            }
        }
        // `input` comes from a &str, so it is valid UTF-8.
        let len = one_char_len(input[0]).min(input.len());
        (&input[..len], len)
    }

    /// Normalizes text as SentencePiece does before segmentation (rules, then whitespace;
    /// spaces become `▁` when `escape_whitespaces` is set).
    pub fn normalize(&self, text: &str) -> String {
        let spec = &self.normalizer;
        let mut input = text.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(input.len() * 3);
        if input.is_empty() {
            return String::new();
        }
        if spec.remove_extra_whitespaces {
            while !input.is_empty() {
                let (sp, n) = self.normalize_prefix(input);
                if sp != b" " {
                    break;
                }
                input = &input[n..];
            }
        }
        if input.is_empty() {
            return String::new();
        }
        let ws: &[u8] = if spec.escape_whitespaces {
            SPACE_SYMBOL.as_bytes()
        } else {
            b" "
        };
        if !self.trainer.treat_whitespace_as_suffix && spec.add_dummy_prefix {
            out.extend_from_slice(ws);
        }
        let mut is_prev_space = spec.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut sp, n) = self.normalize_prefix(input);
            while is_prev_space && sp.first() == Some(&b' ') {
                sp = &sp[1..];
            }
            if !sp.is_empty() {
                for &c in sp {
                    if spec.escape_whitespaces && c == b' ' {
                        out.extend_from_slice(SPACE_SYMBOL.as_bytes());
                    } else {
                        out.push(c);
                    }
                }
                is_prev_space = sp.last() == Some(&b' ');
            }
            input = &input[n..];
            if !spec.remove_extra_whitespaces {
                is_prev_space = false;
            }
        }
        if spec.remove_extra_whitespaces {
            while out.ends_with(ws) {
                out.truncate(out.len() - ws.len());
            }
        }
        if self.trainer.treat_whitespace_as_suffix && spec.add_dummy_prefix {
            out.extend_from_slice(ws);
        }
        match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// Unigram Viterbi over normalized text, as SentencePiece's optimized encoder.
    fn encode_unigram<'t>(&self, normalized: &'t str) -> Vec<(&'t str, u32)> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f32,
            starts_at: Option<usize>,
        }
        let bytes = normalized.as_bytes();
        let size = bytes.len();
        if size == 0 {
            return Vec::new();
        }
        let unk_score = self.min_score - 10.0;
        let mut best = vec![
            Best {
                id: 0,
                score: 0.0,
                starts_at: None
            };
            size + 1
        ];
        let mut start = 0usize;
        while start < size {
            let till_here = best[start].score;
            let mblen = one_char_len(bytes[start]).min(size - start);
            let mut has_single = false;
            self.trie.prefixes(&bytes[start..], |len, id| {
                let kind = self.kind(id);
                if kind == PieceType::Unused {
                    return;
                }
                // The C++ computes this in double (the ternary mixes double and float).
                let score: f64 = if kind == PieceType::UserDefined {
                    f64::from(len as f32 * self.max_score) - 0.1
                } else {
                    f64::from(self.pieces[id as usize].score)
                };
                let candidate = score + f64::from(till_here);
                let target = &mut best[start + len];
                if target.starts_at.is_none() || candidate > f64::from(target.score) {
                    *target = Best {
                        id,
                        score: candidate as f32,
                        starts_at: Some(start),
                    };
                }
                if len == mblen {
                    has_single = true;
                }
            });
            if !has_single {
                let candidate = unk_score + till_here;
                let target = &mut best[start + mblen];
                if target.starts_at.is_none() || candidate > target.score {
                    *target = Best {
                        id: self.unk_id,
                        score: candidate,
                        starts_at: Some(start),
                    };
                }
            }
            start += mblen;
        }
        let mut result = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = best[end];
            let s = node.starts_at.expect("every position is reachable");
            result.push((&normalized[s..end], node.id));
            end = s;
        }
        result.reverse();
        result
    }

    /// BPE merges over normalized text, as SentencePiece's BPE model.
    fn encode_bpe<'t>(&self, normalized: &'t str) -> Vec<(&'t str, u32)> {
        #[derive(Clone, Copy)]
        struct Sym {
            prev: isize,
            next: isize,
            freeze: bool,
            start: usize,
            len: usize,
        }
        #[derive(PartialEq)]
        struct Pair {
            score: f32,
            left: usize,
            right: usize,
            size: usize,
        }
        impl Eq for Pair {}
        impl PartialOrd for Pair {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for Pair {
            // Higher score first; among equal scores, the leftmost pair first.
            fn cmp(&self, o: &Self) -> Ordering {
                self.score
                    .partial_cmp(&o.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| o.left.cmp(&self.left))
            }
        }
        let bytes = normalized.as_bytes();
        if bytes.is_empty() {
            return Vec::new();
        }
        let mut syms: Vec<Sym> = Vec::new();
        let mut pos = 0usize;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let (len, freeze) = match self.user_trie.as_ref().and_then(|t| t.longest_prefix(rest)) {
                Some(len) => (len, true),
                None => (one_char_len(rest[0]).min(rest.len()), false),
            };
            let idx = syms.len() as isize;
            syms.push(Sym {
                prev: idx - 1,
                next: if pos + len < bytes.len() { idx + 1 } else { -1 },
                freeze,
                start: pos,
                len,
            });
            pos += len;
        }
        let mut agenda = BinaryHeap::new();
        let mut rev_merge: HashMap<&str, (&str, &str)> = HashMap::new();
        let add_pair = |syms: &Vec<Sym>,
                        agenda: &mut BinaryHeap<Pair>,
                        rev: &mut HashMap<&'t str, (&'t str, &'t str)>,
                        l: isize,
                        r: isize| {
            if l < 0 || r < 0 {
                return;
            }
            let (a, b) = (syms[l as usize], syms[r as usize]);
            if a.freeze || b.freeze {
                return;
            }
            let piece = &normalized[a.start..a.start + a.len + b.len];
            let Some(&id) = self.piece_ids.get(piece) else {
                return;
            };
            agenda.push(Pair {
                score: self.pieces[id as usize].score,
                left: l as usize,
                right: r as usize,
                size: piece.len(),
            });
            if self.kind(id) == PieceType::Unused {
                rev.insert(
                    piece,
                    (
                        &normalized[a.start..a.start + a.len],
                        &normalized[b.start..b.start + b.len],
                    ),
                );
            }
        };
        for i in 1..syms.len() {
            add_pair(&syms, &mut agenda, &mut rev_merge, i as isize - 1, i as isize);
        }
        while let Some(top) = agenda.pop() {
            let (l, r) = (syms[top.left], syms[top.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != top.size {
                continue;
            }
            syms[top.left].len += r.len;
            syms[top.left].next = r.next;
            if r.next >= 0 {
                syms[r.next as usize].prev = top.left as isize;
            }
            syms[top.right].len = 0;
            let prev = syms[top.left].prev;
            let next = syms[top.left].next;
            add_pair(&syms, &mut agenda, &mut rev_merge, prev, top.left as isize);
            add_pair(&syms, &mut agenda, &mut rev_merge, top.left as isize, next);
        }
        fn resegment<'t>(
            m: &SentencePieceModel,
            rev: &HashMap<&'t str, (&'t str, &'t str)>,
            w: &'t str,
            out: &mut Vec<(&'t str, u32)>,
        ) {
            let id = m.piece_to_id(w);
            if m.kind(id) == PieceType::Unused {
                if let Some(&(a, b)) = rev.get(w) {
                    resegment(m, rev, a, out);
                    resegment(m, rev, b, out);
                    return;
                }
            }
            out.push((w, id));
        }
        let mut out = Vec::new();
        let mut i: isize = 0;
        while i >= 0 && (i as usize) < syms.len() {
            let s = syms[i as usize];
            resegment(self, &rev_merge, &normalized[s.start..s.start + s.len], &mut out);
            i = s.next;
        }
        out
    }

    /// Segments text into (piece, SentencePiece id) pairs exactly as SentencePiece's `Encode`:
    /// a run of unknown pieces becomes one piece holding the unknown text (id = unk id), or,
    /// with byte fallback, one `<0xXX>` piece per byte.
    pub fn encode(&self, text: &str) -> Vec<(String, u32)> {
        let normalized = self.normalize(text);
        let raw = match self.trainer.model_type {
            ModelType::Unigram => self.encode_unigram(&normalized),
            ModelType::Bpe => self.encode_bpe(&normalized),
        };
        let mut out: Vec<(String, u32)> = Vec::with_capacity(raw.len());
        let mut prev_unk = false;
        for (w, id) in raw {
            let is_unk = id == self.unk_id;
            if is_unk && self.trainer.byte_fallback {
                for b in w.bytes() {
                    let piece = byte_to_piece(b);
                    let bid = self.piece_to_id(&piece);
                    out.push((piece, bid));
                }
            } else if is_unk && prev_unk {
                out.last_mut().expect("previous piece").0.push_str(w);
            } else {
                out.push((w.to_string(), id));
            }
            prev_unk = is_unk;
        }
        out
    }

    /// The pieces of `text`, as SentencePiece's `EncodeAsPieces` / `encode(text, out_type=str)`.
    pub fn encode_pieces(&self, text: &str) -> Vec<String> {
        self.encode(text).into_iter().map(|(p, _)| p).collect()
    }

    /// The SentencePiece ids of `text`, as `EncodeAsIds`.
    pub fn encode_ids(&self, text: &str) -> Vec<u32> {
        self.encode(text).into_iter().map(|(_, id)| id).collect()
    }

    /// Joins pieces back into text, as SentencePiece's `DecodePieces`: control pieces vanish,
    /// `<unk>` becomes the unknown surface (` ⁇ `), other unknown pieces are copied as they are,
    /// byte pieces are reassembled into UTF-8 (U+FFFD for invalid bytes), `▁` becomes a space,
    /// and the leading space of the first piece is dropped.
    pub fn decode_pieces<S: AsRef<str>>(&self, pieces: &[S]) -> String {
        let mut text = String::new();
        let mut bytes: Vec<u8> = Vec::new();
        let flush = |bytes: &mut Vec<u8>, text: &mut String| {
            let mut rest: &[u8] = bytes;
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        text.push_str(s);
                        break;
                    }
                    Err(e) => {
                        let good = e.valid_up_to();
                        text.push_str(std::str::from_utf8(&rest[..good]).expect("valid prefix"));
                        // SentencePiece replaces each structurally invalid byte on its own.
                        text.push('\u{fffd}');
                        rest = &rest[good + 1..];
                    }
                }
            }
            bytes.clear();
        };
        let strip_bos = self.normalizer.add_dummy_prefix || self.normalizer.remove_extra_whitespaces;
        let mut is_bos_ws = true;
        let mut bos_ws_seen = false;
        for p in pieces {
            let piece = p.as_ref();
            let id = self.piece_to_id(piece);
            let kind = self.kind(id);
            if kind == PieceType::Byte {
                bytes.push(piece_to_byte(piece).expect("byte piece"));
                continue;
            }
            flush(&mut bytes, &mut text);
            if bos_ws_seen || !text.is_empty() {
                is_bos_ws = false;
            }
            let (decoded, seen) = match kind {
                PieceType::Control => (String::new(), false),
                PieceType::Unknown if piece == self.pieces[id as usize].piece => {
                    (self.trainer.unk_surface.clone(), false)
                }
                PieceType::Unknown => (piece.to_string(), false),
                _ => {
                    let mut w = piece;
                    let mut has = false;
                    if is_bos_ws && strip_bos {
                        if let Some(rest) = w.strip_prefix(SPACE_SYMBOL) {
                            w = rest;
                            has = true;
                        }
                        if self.normalizer.remove_extra_whitespaces {
                            has = false;
                        }
                    }
                    (w.replace(SPACE_SYMBOL, " "), has)
                }
            };
            bos_ws_seen = seen;
            text.push_str(&decoded);
        }
        flush(&mut bytes, &mut text);
        text
    }

    /// Decodes SentencePiece ids (as `DecodeIds`); ids past the vocabulary are skipped.
    pub fn decode_ids(&self, ids: &[u32]) -> String {
        let pieces: Vec<&str> = ids.iter().filter_map(|&id| self.id_to_piece(id)).collect();
        self.decode_pieces(&pieces)
    }
}

/// `<0xXX>` for a byte, as SentencePiece's `ByteToPiece`.
fn byte_to_piece(b: u8) -> String {
    format!("<0x{b:02X}>")
}

/// The byte a `<0xXX>` piece stands for.
fn piece_to_byte(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

// ---------------------------------------------------------------------------------------------
// Marian

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

fn read_json(path: &Path) -> Result<Value, SpmError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpmError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SpmError::Json {
        file: path.to_path_buf(),
        source,
    })
}

fn read_vocab(path: &Path) -> Result<HashMap<String, u32>, SpmError> {
    let bad = |what: String| SpmError::InvalidVocab {
        file: path.to_path_buf(),
        what,
    };
    let Value::Object(map) = read_json(path)? else {
        return Err(bad("expected a JSON object of token → id".into()));
    };
    map.into_iter()
        .map(|(k, v)| {
            let id = v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("token {k:?} has id {v}, not an integer id")))?;
            Ok((k, id))
        })
        .collect()
}

/// A token setting in tokenizer_config.json: a string or an AddedToken object.
fn token_content(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl MarianTokenizer {
    /// Loads `source.spm`, `target.spm`, `vocab.json`, `target_vocab.json` (when
    /// `separate_vocabs` is set) and the optional `tokenizer_config.json` from a checkpoint folder.
    pub fn from_dir(dir: &Path) -> Result<Self, SpmError> {
        let need = |name: &str, what: &str| -> Result<PathBuf, SpmError> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(SpmError::Missing {
                    file: p,
                    what: what.into(),
                })
            }
        };
        let config_path = dir.join("tokenizer_config.json");
        let config = if config_path.is_file() {
            read_json(&config_path)?
        } else {
            Value::Object(Default::default())
        };
        let cfg_bad = |what: String| SpmError::InvalidVocab {
            file: config_path.clone(),
            what,
        };
        if !config.is_object() {
            return Err(cfg_bad("expected a JSON object".into()));
        }
        let separate_vocabs = config.get("separate_vocabs").and_then(Value::as_bool).unwrap_or(false);
        let source = SentencePieceModel::from_file(&need("source.spm", "the source SentencePiece model")?)?;
        let target = SentencePieceModel::from_file(&need("target.spm", "the target SentencePiece model")?)?;
        let vocab_path = need("vocab.json", "the Marian vocabulary that maps pieces to model ids")?;
        let encoder = read_vocab(&vocab_path)?;
        let target_encoder = if separate_vocabs {
            Some(read_vocab(&need(
                "target_vocab.json",
                "separate_vocabs is set in tokenizer_config.json",
            )?)?)
        } else {
            None
        };
        Self::from_parts(source, target, encoder, target_encoder, &config).map_err(|e| match e {
            SpmError::InvalidVocab { file, what } if file == Path::new("vocab.json") => SpmError::InvalidVocab {
                file: vocab_path.clone(),
                what,
            },
            e => e,
        })
    }

    /// Builds a tokenizer from loaded parts; `config` is the content of `tokenizer_config.json`
    /// (`unk_token`, `eos_token`, `pad_token`, `added_tokens_decoder`,
    /// `additional_special_tokens`, `clean_up_tokenization_spaces` are read from it).
    pub fn from_parts(
        source: SentencePieceModel,
        target: SentencePieceModel,
        encoder: HashMap<String, u32>,
        target_encoder: Option<HashMap<String, u32>>,
        config: &Value,
    ) -> Result<Self, SpmError> {
        let get_tok = |key: &str, default: &str| {
            config
                .get(key)
                .and_then(token_content)
                .unwrap_or_else(|| default.to_string())
        };
        let unk_token = get_tok("unk_token", "<unk>");
        let eos_token = get_tok("eos_token", "</s>");
        let pad_token = get_tok("pad_token", "<pad>");
        if !encoder.contains_key(&unk_token) {
            return Err(SpmError::InvalidVocab {
                file: PathBuf::from("vocab.json"),
                what: format!("the unknown token {unk_token:?} must be in the vocabulary"),
            });
        }
        let clean_up_tokenization_spaces = config
            .get("clean_up_tokenization_spaces")
            .and_then(Value::as_bool)
            .unwrap_or(false);

        // Tokens saved in added_tokens_decoder keep their ids and flags.
        let mut added: Vec<AddedToken> = Vec::new();
        if let Some(Value::Object(map)) = config.get("added_tokens_decoder") {
            let mut entries: Vec<(u32, &Value)> = map
                .iter()
                .filter_map(|(k, v)| k.parse::<u32>().ok().map(|id| (id, v)))
                .collect();
            entries.sort_by_key(|e| e.0);
            for (id, v) in entries {
                let Some(content) = token_content(v) else {
                    continue;
                };
                let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
                added.push(AddedToken {
                    content,
                    id,
                    lstrip: flag("lstrip"),
                    rstrip: flag("rstrip"),
                    single_word: flag("single_word"),
                });
            }
        }
        let mut special_tokens: Vec<String> = Vec::new();
        for t in [&unk_token, &eos_token, &pad_token] {
            if !special_tokens.contains(t) {
                special_tokens.push(t.clone());
            }
        }
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            if let Some(Value::Array(list)) = config.get(key) {
                for t in list.iter().filter_map(token_content) {
                    if !special_tokens.contains(&t) {
                        special_tokens.push(t);
                    }
                }
            }
        }
        // Special tokens not yet added get their vocabulary id, or a new id after the vocabulary.
        for t in &special_tokens {
            if added.iter().any(|a| &a.content == t) {
                continue;
            }
            let id = match encoder.get(t) {
                Some(&id) => id,
                None => {
                    let mut known: HashSet<&str> = encoder.keys().map(String::as_str).collect();
                    known.extend(added.iter().map(|a| a.content.as_str()));
                    known.len() as u32
                }
            };
            added.push(AddedToken {
                content: t.clone(),
                id,
                lstrip: false,
                rstrip: false,
                single_word: false,
            });
        }
        let added_by_id = added.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        let added_by_content: HashMap<String, usize> =
            added.iter().enumerate().map(|(i, a)| (a.content.clone(), i)).collect();
        let special_ids = special_tokens
            .iter()
            .map(|t| {
                added_by_content
                    .get(t)
                    .map(|&i| added[i].id)
                    .or_else(|| encoder.get(t).copied())
                    .unwrap_or(encoder[&unk_token])
            })
            .collect();

        let (decoder, language_codes) = match &target_encoder {
            Some(t) => (t.iter().map(|(k, &v)| (v, k.clone())).collect(), Vec::new()),
            None => {
                let mut codes: Vec<(u32, String)> = encoder
                    .iter()
                    .filter(|(k, _)| k.starts_with(">>") && k.ends_with("<<"))
                    .map(|(k, &v)| (v, k.clone()))
                    .collect();
                codes.sort();
                (
                    encoder.iter().map(|(k, &v)| (v, k.clone())).collect(),
                    codes.into_iter().map(|c| c.1).collect(),
                )
            }
        };
        Ok(MarianTokenizer {
            source,
            target,
            encoder,
            target_encoder,
            decoder,
            added,
            added_by_id,
            added_by_content,
            special_tokens,
            special_ids,
            language_codes,
            unk_token,
            eos_token,
            pad_token,
            clean_up_tokenization_spaces,
        })
    }

    /// The source-side SentencePiece model.
    pub fn source_spm(&self) -> &SentencePieceModel {
        &self.source
    }

    /// The target-side SentencePiece model.
    pub fn target_spm(&self) -> &SentencePieceModel {
        &self.target
    }

    /// Whether source and target have their own vocabularies (`separate_vocabs`).
    pub fn separate_vocabs(&self) -> bool {
        self.target_encoder.is_some()
    }

    /// Language-code tokens of the vocabulary (`>>xxx<<`), in id order; empty with separate
    /// vocabularies, as in transformers.
    pub fn supported_language_codes(&self) -> &[String] {
        &self.language_codes
    }

    /// Size of the (source) vocabulary, `len(vocab.json)`, as transformers' `vocab_size`.
    pub fn vocab_size(&self) -> usize {
        self.encoder.len()
    }

    /// Size of the target vocabulary (the source vocabulary unless `separate_vocabs`).
    pub fn target_vocab_size(&self) -> usize {
        self.target_encoder.as_ref().map_or(self.encoder.len(), HashMap::len)
    }

    /// Id of a token: added/special tokens first, then the source vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added_by_content
            .get(token)
            .map(|&i| self.added[i].id)
            .or_else(|| self.encoder.get(token).copied())
    }

    /// Token of an id as the decoder sees it (added tokens, then the decoding vocabulary).
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        match self.added_by_id.get(&id) {
            Some(&i) => Some(self.added[i].content.as_str()),
            None => self.decoder.get(&id).map(String::as_str),
        }
    }

    /// Id of `<pad>` (Marian's `decoder_start_token_id` too).
    pub fn pad_id(&self) -> u32 {
        self.token_to_id(&self.pad_token).expect("pad token is added")
    }

    /// Id of `</s>`.
    pub fn eos_id(&self) -> u32 {
        self.token_to_id(&self.eos_token).expect("eos token is added")
    }

    /// Id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.token_to_id(&self.unk_token).expect("unk token is added")
    }

    /// The special tokens (`<unk>`, `</s>`, `<pad>`, then any additional ones).
    pub fn special_tokens(&self) -> &[String] {
        &self.special_tokens
    }

    /// Splits text on added tokens (leftmost, longest first), as transformers' `Trie.split`.
    fn split_added<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut out = Vec::new();
        let mut last = 0usize;
        let mut i = 0usize;
        while i < text.len() {
            if !text.is_char_boundary(i) {
                i += 1;
                continue;
            }
            let rest = &text[i..];
            let best = self
                .added
                .iter()
                .filter(|a| !a.content.is_empty() && rest.starts_with(&a.content))
                .map(|a| a.content.len())
                .max();
            match best {
                Some(len) => {
                    if i > last {
                        out.push(&text[last..i]);
                    }
                    out.push(&text[i..i + len]);
                    i += len;
                    last = i;
                }
                None => i += 1,
            }
        }
        if last < text.len() {
            out.push(&text[last..]);
        }
        out
    }

    /// transformers' `tokenize`: added tokens split off, the rest through `_tokenize`.
    fn tokenize(&self, text: &str, target: bool) -> Vec<String> {
        let mut chunks: Vec<String> = self.split_added(text).into_iter().map(str::to_string).collect();
        for i in 0..chunks.len() {
            let Some(&ai) = self.added_by_content.get(&chunks[i]) else {
                continue;
            };
            let tok = self.added[ai].clone();
            let has_left = i > 0 && !chunks[i - 1].is_empty();
            let has_right = i + 1 < chunks.len() && !chunks[i + 1].is_empty();
            if tok.rstrip && has_right {
                chunks[i + 1] = chunks[i + 1].trim_start_matches(py_isspace).to_string();
            }
            if tok.lstrip && has_left {
                chunks[i - 1] = chunks[i - 1].trim_end_matches(py_isspace).to_string();
            }
            if tok.single_word {
                if has_left && !chunks[i - 1].ends_with(' ') {
                    chunks[i - 1].push_str(&tok.content);
                    chunks[i].clear();
                } else if has_right && !chunks[i + 1].starts_with(' ') {
                    chunks[i + 1] = format!("{}{}", tok.content, chunks[i + 1]);
                    chunks[i].clear();
                }
            }
        }
        let spm = if target { &self.target } else { &self.source };
        let mut out = Vec::new();
        for chunk in chunks {
            if chunk.is_empty() {
                continue;
            }
            if self.added_by_content.contains_key(&chunk) || self.special_tokens.contains(&chunk) {
                out.push(chunk);
                continue;
            }
            let mut rest = chunk.as_str();
            if let Some((code, tail)) = split_language_code(rest) {
                out.push(code.to_string());
                rest = tail;
            }
            out.extend(spm.encode_pieces(rest));
        }
        out
    }

    fn token_id(&self, token: &str, target: bool) -> u32 {
        if let Some(&i) = self.added_by_content.get(token) {
            return self.added[i].id;
        }
        let enc = if target {
            self.target_encoder.as_ref().unwrap_or(&self.encoder)
        } else {
            &self.encoder
        };
        enc.get(token)
            .or_else(|| enc.get(&self.unk_token))
            .copied()
            .unwrap_or_else(|| self.unk_id())
    }

    /// The tokens (before id lookup, without `</s>`) of a source text.
    pub fn tokenize_source(&self, text: &str) -> Vec<String> {
        self.tokenize(text, false)
    }

    /// The tokens (before id lookup, without `</s>`) of a target text.
    pub fn tokenize_target(&self, text: &str) -> Vec<String> {
        self.tokenize(text, true)
    }

    /// Model input ids of a source text, as `tokenizer(text)["input_ids"]`: a leading language
    /// code (`>>cmn_Hans<<`) becomes one token, pieces come from `source.spm` and map through
    /// `vocab.json` (unknown pieces to `<unk>`), and `</s>` is appended.
    pub fn encode_source(&self, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .tokenize(text, false)
            .iter()
            .map(|t| self.token_id(t, false))
            .collect();
        ids.push(self.eos_id());
        ids
    }

    /// Label ids of a target text, as `tokenizer(text_target=text)["input_ids"]`: pieces from
    /// `target.spm`, mapped through `target_vocab.json` when vocabularies are separate.
    pub fn encode_target(&self, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .tokenize(text, true)
            .iter()
            .map(|t| self.token_id(t, true))
            .collect();
        ids.push(self.eos_id());
        ids
    }

    /// Text of ids, as `tokenizer.decode(ids, skip_special_tokens=...)`. Special tokens
    /// (`<unk>` included) are dropped when `skip_special_tokens`, otherwise written as they
    /// are followed by a space; the runs of pieces between them are joined by the SentencePiece
    /// decoder of the source model (shared vocabulary, transformers' default) or of the target
    /// model (`separate_vocabs`); `▁` becomes a space and the result is stripped.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        let spm = if self.separate_vocabs() {
            &self.target
        } else {
            &self.source
        };
        let mut tokens: Vec<&str> = Vec::with_capacity(ids.len());
        for &id in ids {
            if skip_special_tokens && self.special_ids.contains(&id) {
                continue;
            }
            let tok = match self.added_by_id.get(&id) {
                Some(&i) => self.added[i].content.as_str(),
                None => match self.decoder.get(&id) {
                    Some(t) => t.as_str(),
                    None => spm.id_to_piece(id).unwrap_or(self.unk_token.as_str()),
                },
            };
            tokens.push(tok);
        }
        let mut out = String::new();
        let mut run: Vec<&str> = Vec::new();
        for tok in tokens {
            if self.special_tokens.iter().any(|s| s == tok) {
                out.push_str(&spm.decode_pieces(&run));
                out.push_str(tok);
                out.push(' ');
                run.clear();
            } else {
                run.push(tok);
            }
        }
        out.push_str(&spm.decode_pieces(&run));
        let out = out.replace(SPACE_SYMBOL, " ");
        let out = py_strip(&out).to_string();
        if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&out)
        } else {
            out
        }
    }
}

/// Splits a leading language code off, as `MarianTokenizer.remove_language_code`: text that
/// starts with `>>` up to and including the first `<<`.
fn split_language_code(text: &str) -> Option<(&str, &str)> {
    if !text.starts_with(">>") {
        return None;
    }
    let end = text.find("<<")? + 2;
    Some((&text[..end], &text[end..]))
}

/// transformers' `clean_up_tokenization`.
fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
    }

    fn golden() -> Value {
        let p = fixtures().join("spm_golden.json");
        serde_json::from_str(&std::fs::read_to_string(&p).expect("spm_golden.json")).expect("golden JSON")
    }

    fn strings(v: &Value) -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().expect("string").to_string())
            .collect()
    }

    fn ids(v: &Value) -> Vec<u32> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_u64().expect("id") as u32)
            .collect()
    }

    #[test]
    fn spm_pieces_and_decoding_match_sentencepiece() {
        let g = golden();
        let mut total = 0;
        let mut failures = Vec::new();
        for (name, model) in g["spm"].as_object().expect("spm") {
            let m = SentencePieceModel::from_file(&fixtures().join("spm-tiny").join(name)).expect("model loads");
            for case in model["cases"].as_array().expect("cases") {
                let text = case["text"].as_str().expect("text");
                let want = strings(&case["pieces"]);
                let got = m.encode_pieces(text);
                total += 1;
                if got != want {
                    failures.push(format!("{name} encode {text:?}: got {got:?}, want {want:?}"));
                }
                let dec = m.decode_pieces(&want);
                if dec != case["decoded"].as_str().expect("decoded") {
                    failures.push(format!(
                        "{name} decode {want:?}: got {dec:?}, want {:?}",
                        case["decoded"]
                    ));
                }
            }
            for case in model["decode"].as_array().expect("decode") {
                let pieces = strings(&case["pieces"]);
                let dec = m.decode_pieces(&pieces);
                if dec != case["decoded"].as_str().expect("decoded") {
                    failures.push(format!(
                        "{name} decode {pieces:?}: got {dec:?}, want {:?}",
                        case["decoded"]
                    ));
                }
            }
        }
        assert!(total > 400, "only {total} cases");
        assert!(
            failures.is_empty(),
            "{} of {total} differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn marian_ids_and_decoding_match_transformers() {
        let g = golden();
        let mut total = 0;
        let mut failures = Vec::new();
        for (name, fx) in g["marian"].as_object().expect("marian") {
            let tok = MarianTokenizer::from_dir(&fixtures().join(name)).expect("tokenizer loads");
            assert_eq!(
                tok.vocab_size() as u64,
                fx["vocab_size"].as_u64().unwrap(),
                "{name} vocab_size"
            );
            assert_eq!(u64::from(tok.pad_id()), fx["pad_id"].as_u64().unwrap(), "{name} pad");
            assert_eq!(u64::from(tok.eos_id()), fx["eos_id"].as_u64().unwrap(), "{name} eos");
            assert_eq!(u64::from(tok.unk_id()), fx["unk_id"].as_u64().unwrap(), "{name} unk");
            for case in fx["cases"].as_array().expect("cases") {
                let text = case["text"].as_str().expect("text");
                total += 1;
                let (src, tgt) = (tok.encode_source(text), tok.encode_target(text));
                if src != ids(&case["input_ids"]) {
                    failures.push(format!(
                        "{name} source {text:?}: got {src:?}, want {}",
                        case["input_ids"]
                    ));
                }
                if tgt != ids(&case["labels"]) {
                    failures.push(format!("{name} target {text:?}: got {tgt:?}, want {}", case["labels"]));
                }
                for (key, idv, skip) in [
                    ("decode_input_skip", &case["input_ids"], true),
                    ("decode_input_keep", &case["input_ids"], false),
                    ("decode_labels_skip", &case["labels"], true),
                    ("decode_labels_keep", &case["labels"], false),
                ] {
                    let got = tok.decode(&ids(idv), skip);
                    if got != case[key].as_str().expect("decoded") {
                        failures.push(format!("{name} {key} {text:?}: got {got:?}, want {}", case[key]));
                    }
                }
            }
            for case in fx["decode"].as_array().expect("decode") {
                let i = ids(&case["ids"]);
                for (key, skip) in [("skip", true), ("keep", false)] {
                    let got = tok.decode(&i, skip);
                    if got != case[key].as_str().expect("decoded") {
                        failures.push(format!(
                            "{name} decode {i:?} skip={skip}: got {got:?}, want {}",
                            case[key]
                        ));
                    }
                }
            }
        }
        assert!(total > 300, "only {total} cases");
        assert!(
            failures.is_empty(),
            "{} differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn model_exposes_pieces_and_spec() {
        let m = SentencePieceModel::from_file(&fixtures().join("spm-tiny/unigram-nfkc.model")).unwrap();
        assert_eq!(m.model_type(), ModelType::Unigram);
        assert_eq!(m.len(), 1000);
        assert_eq!(m.pieces()[0].piece, "<unk>");
        assert_eq!(m.types()[0], PieceType::Unknown);
        assert_eq!(m.types()[1], PieceType::Control);
        assert_eq!(m.normalizer_spec().name, "nmt_nfkc");
        assert!(m.normalizer_spec().add_dummy_prefix && m.normalizer_spec().remove_extra_whitespaces);
        assert_eq!(m.normalize("  ｆｕｌｌ   ①  "), "▁full▁1");
        assert_eq!(m.piece_to_id("</s>"), 2);
        assert_eq!(m.piece_to_id("no such piece"), m.unk_id());
        assert_eq!(m.scores().len(), 1000);
        let bpe = SentencePieceModel::from_file(&fixtures().join("spm-tiny/bpe.model")).unwrap();
        assert_eq!(bpe.model_type(), ModelType::Bpe);
        assert_eq!(bpe.normalizer_spec().name, "identity");
        let user = SentencePieceModel::from_file(&fixtures().join("spm-tiny/unigram-user.model")).unwrap();
        assert!(user.trainer_spec().byte_fallback);
        assert!(user.types().contains(&PieceType::UserDefined) && user.types().contains(&PieceType::Byte));
    }

    #[test]
    fn protobuf_errors_name_the_problem() {
        let path = fixtures().join("spm-tiny/bpe.model");
        let bytes = std::fs::read(&path).unwrap();
        let err = SentencePieceModel::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(matches!(err, SpmError::Truncated { .. }), "{err}");
        assert!(
            err.to_string().contains("<memory>") && err.to_string().contains("truncated"),
            "{err}"
        );
        // A lone key with wire type 3 (start group).
        let err = SentencePieceModel::from_bytes(&[0x0b]).unwrap_err();
        assert!(matches!(err, SpmError::Malformed { .. }), "{err}");
        // No pieces at all.
        let err = SentencePieceModel::from_bytes(&[]).unwrap_err();
        assert!(matches!(err, SpmError::InvalidModel { .. }), "{err}");
        // One NORMAL piece "a" but no <unk>.
        let err = SentencePieceModel::from_bytes(&[0x0a, 0x03, 0x0a, 0x01, b'a']).unwrap_err();
        assert!(err.to_string().contains("UNKNOWN"), "{err}");
        // model_type WORD in trainer_spec.
        let mut m = vec![0x0a, 0x09, 0x0a, 0x05];
        m.extend_from_slice(b"<unk>");
        m.extend_from_slice(&[0x18, 0x02]);
        m.extend_from_slice(&[0x12, 0x02, 0x18, 0x03]);
        let err = SentencePieceModel::from_bytes(&m).unwrap_err();
        assert!(
            matches!(err, SpmError::UnsupportedModelType { model_type: 3, .. }),
            "{err}"
        );
        // The same with UNIGRAM loads, and an unknown character becomes <unk>.
        let n = m.len();
        m[n - 1] = 0x01;
        let model = SentencePieceModel::from_bytes(&m).unwrap();
        assert_eq!(model.encode("xy z"), vec![("▁xy▁z".to_string(), 0)]);
        let err = SentencePieceModel::from_file(Path::new("/nonexistent/source.spm")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/source.spm"), "{err}");
    }

    #[test]
    fn marian_missing_files_are_named() {
        let dir = std::env::temp_dir().join(format!("retune-spm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = fixtures().join("marian-tiny-tied");
        for f in ["source.spm", "target.spm", "tokenizer_config.json"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let err = MarianTokenizer::from_dir(&dir).unwrap_err();
        assert!(
            matches!(err, SpmError::Missing { .. }) && err.to_string().contains("vocab.json"),
            "{err}"
        );
        std::fs::write(dir.join("vocab.json"), "{\"a\": 1}").unwrap();
        let err = MarianTokenizer::from_dir(&dir).unwrap_err();
        assert!(
            err.to_string().contains("vocab.json") && err.to_string().contains("<unk>"),
            "{err}"
        );
        std::fs::write(dir.join("vocab.json"), "[1, 2").unwrap();
        let err = MarianTokenizer::from_dir(&dir).unwrap_err();
        assert!(
            matches!(err, SpmError::Json { .. }) && err.to_string().contains("vocab.json"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn marian_language_codes_and_specials() {
        let tok = MarianTokenizer::from_dir(&fixtures().join("marian-tiny-tied")).unwrap();
        assert_eq!(
            tok.supported_language_codes(),
            [">>cmn_Hans<<", ">>cmn_Hant<<", ">>yue_Hans<<"]
        );
        let ids = tok.encode_source(">>cmn_Hans<< I love you.");
        assert_eq!(ids[0], tok.token_to_id(">>cmn_Hans<<").unwrap());
        assert_eq!(*ids.last().unwrap(), tok.eos_id());
        assert_eq!(tok.tokenize_source(">>cmn_Hans<< Hi")[0], ">>cmn_Hans<<");
        assert_eq!(tok.decode(&ids, true), tok.decode(&ids[..ids.len() - 1], true));
        assert_eq!(split_language_code(">>fr<<x"), Some((">>fr<<", "x")));
        assert_eq!(split_language_code(">>fr"), None);
        assert_eq!(split_language_code("a>>fr<<"), None);
        let untied = MarianTokenizer::from_dir(&fixtures().join("marian-tiny-untied")).unwrap();
        assert!(untied.separate_vocabs() && untied.supported_language_codes().is_empty());
    }
}
