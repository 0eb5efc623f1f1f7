//! SentencePiece normalization: the `precompiled_charsmap` (a darts-clone double-array trie of
//! replacement rules), Python-compatible whitespace helpers, and the normalizer pass itself.

use super::*;

/// One node of a [`ByteTrie`].
#[derive(Debug, Clone, Default)]
pub(super) struct TrieNode {
    /// Children as (byte, node index), sorted by byte.
    children: Vec<(u8, u32)>,
    /// The id of the key ending here, if any.
    id: Option<u32>,
}

/// A plain byte trie mapping strings to ids (pieces, user-defined symbols).
#[derive(Debug, Clone, Default)]
pub(super) struct ByteTrie {
    nodes: Vec<TrieNode>,
}

impl ByteTrie {
    pub(super) fn new() -> Self {
        ByteTrie {
            nodes: vec![TrieNode::default()],
        }
    }

    pub(super) fn insert(&mut self, key: &[u8], id: u32) {
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

    pub(super) fn child(&self, node: usize, b: u8) -> Option<usize> {
        let children = &self.nodes[node].children;
        children
            .binary_search_by_key(&b, |c| c.0)
            .ok()
            .map(|i| children[i].1 as usize)
    }

    /// Calls `f(length, id)` for every stored key that is a prefix of `text`, shortest first.
    pub(super) fn prefixes(&self, text: &[u8], mut f: impl FnMut(usize, u32)) {
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
    pub(super) fn longest_prefix(&self, text: &[u8]) -> Option<usize> {
        let mut best = None;
        self.prefixes(text, |len, _| best = Some(len));
        best
    }
}

// ---------------------------------------------------------------------------------------------
// Precompiled charsmap (darts-clone double array + NUL-separated replacement strings)

#[derive(Debug, Clone)]
pub(super) struct CharsMap {
    units: Vec<u32>,
    normalized: Vec<u8>,
}

impl CharsMap {
    pub(super) fn parse(blob: &[u8], file: &Path) -> Result<Self, SpmError> {
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
    pub(super) fn longest_match(&self, key: &[u8]) -> Option<(usize, &[u8])> {
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
pub(super) fn one_char_len(lead: u8) -> usize {
    const TABLE: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    TABLE[(lead >> 4) as usize]
}

/// Python's `str.isspace` for one character (used by `str.strip`, `lstrip`, `rstrip`).
pub(super) fn py_isspace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{1c}'..='\u{1f}' | ' ' | '\u{85}' | '\u{a0}'
            | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}'
            | '\u{3000}'
    )
}

pub(super) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

// ---------------------------------------------------------------------------------------------
// The SentencePiece model

impl SentencePieceModel {
    /// One normalization step: (replacement, bytes consumed), as `Normalizer::NormalizePrefix`.
    pub(super) fn normalize_prefix<'s>(&'s self, input: &'s [u8]) -> (&'s [u8], usize) {
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
}
