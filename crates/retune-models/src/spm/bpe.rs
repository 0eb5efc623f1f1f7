//! BPE segmentation: SentencePiece's merge loop for BPE models.

use super::*;

impl SentencePieceModel {
    /// BPE merges over normalized text, as SentencePiece's BPE model.
    pub(super) fn encode_bpe<'t>(&self, normalized: &'t str) -> Vec<(&'t str, u32)> {
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
}
