//! Reading a SentencePiece `ModelProto` into a [`SentencePieceModel`], its accessors, and encoding
//! / decoding on top of the normalizer and the unigram or BPE segmenter.

use super::*;

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

    pub(super) fn parse(bytes: &[u8], file: &Path) -> Result<Self, SpmError> {
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

    pub(super) fn parse_piece(b: &[u8], at: usize, file: &Path, index: usize) -> Result<Piece, SpmError> {
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

    pub(super) fn build(
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

    pub(super) fn kind(&self, id: u32) -> PieceType {
        self.pieces[id as usize].kind
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
pub(super) fn byte_to_piece(b: u8) -> String {
    format!("<0x{b:02X}>")
}

/// The byte a `<0xXX>` piece stands for.
pub(super) fn piece_to_byte(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

// ---------------------------------------------------------------------------------------------
// Marian
