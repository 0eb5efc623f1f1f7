//! Unigram segmentation: the Viterbi search of SentencePiece's optimized encoder.

use super::*;

impl SentencePieceModel {
    /// Unigram Viterbi over normalized text, as SentencePiece's optimized encoder.
    pub(super) fn encode_unigram<'t>(&self, normalized: &'t str) -> Vec<(&'t str, u32)> {
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
}
