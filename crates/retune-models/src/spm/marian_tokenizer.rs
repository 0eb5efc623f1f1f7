//! [`MarianTokenizer`]: transformers' (slow) Marian tokenizer over two SentencePiece models and
//! `vocab.json`.

use super::*;

pub(super) fn read_json(path: &Path) -> Result<Value, SpmError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpmError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SpmError::Json {
        file: path.to_path_buf(),
        source,
    })
}

pub(super) fn read_vocab(path: &Path) -> Result<HashMap<String, u32>, SpmError> {
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
pub(super) fn token_content(v: &Value) -> Option<String> {
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
    pub(super) fn split_added<'t>(&self, text: &'t str) -> Vec<&'t str> {
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
    pub(super) fn tokenize(&self, text: &str, target: bool) -> Vec<String> {
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

    pub(super) fn token_id(&self, token: &str, target: bool) -> u32 {
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
pub(super) fn split_language_code(text: &str) -> Option<(&str, &str)> {
    if !text.starts_with(">>") {
        return None;
    }
    let end = text.find("<<")? + 2;
    Some((&text[..end], &text[end..]))
}

/// transformers' `clean_up_tokenization`.
pub(super) fn clean_up_tokenization(text: &str) -> String {
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
