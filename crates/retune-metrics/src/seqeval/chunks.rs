//! seqeval's default (conlleval-compatible) chunking: `get_entities` with its `end_of_chunk` and
//! `start_of_chunk` rules, applied literally — sentences flattened with one `O` after each, one
//! more `O` as a sentinel, the tag the first (or, with `suffix`, last) character of a label and
//! the type what follows the first `-` (before the last `-` with `suffix`), `_` when empty.

/// A chunk: its type and inclusive token offsets in the flattened sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chunk {
    /// Entity type (`_` for labels without one).
    pub kind: String,
    /// First offset.
    pub start: usize,
    /// Last offset (inclusive).
    pub end: usize,
}

/// The tag character and the type of a label, as `get_entities` splits it; None for an empty
/// label (seqeval raises `IndexError`).
pub fn split_label(label: &str, suffix: bool) -> Option<(char, &str)> {
    let (tag, kind) = if suffix {
        let tag = label.chars().next_back()?;
        let rest = &label[..label.len() - tag.len_utf8()];
        (tag, rest.rsplit_once('-').map(|(a, _)| a).unwrap_or(rest))
    } else {
        let tag = label.chars().next()?;
        let rest = &label[tag.len_utf8()..];
        (tag, rest.split_once('-').map(|(_, b)| b).unwrap_or(rest))
    };
    Some((tag, if kind.is_empty() { "_" } else { kind }))
}

fn end_of_chunk(prev_tag: char, tag: char, prev_type: &str, kind: &str) -> bool {
    matches!(prev_tag, 'E' | 'S')
        || (matches!(prev_tag, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev_tag != 'O' && prev_tag != '.' && prev_type != kind)
}

fn start_of_chunk(prev_tag: char, tag: char, prev_type: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev_tag, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_type != kind)
}

/// Where an empty label sits: (sentence, token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmptyLabel {
    /// 0-based sentence.
    pub sentence: usize,
    /// 0-based token.
    pub token: usize,
}

/// `get_entities` over sentences: chunks with offsets in the flattened sequence (sentence `k`'s
/// token `j` at `Σ_{m<k} (len_m + 1) + j`).
pub fn get_entities<S: AsRef<str>>(sentences: &[Vec<S>], suffix: bool) -> Result<Vec<Chunk>, EmptyLabel> {
    let mut chunks = Vec::new();
    let (mut prev_tag, mut prev_type) = ('O', String::new());
    let mut begin = 0usize;
    let mut i = 0usize;
    let mut step = |tag: char, kind: &str, i: usize, chunks: &mut Vec<Chunk>| {
        if end_of_chunk(prev_tag, tag, &prev_type, kind) {
            chunks.push(Chunk {
                kind: prev_type.clone(),
                start: begin,
                end: i - 1,
            });
        }
        if start_of_chunk(prev_tag, tag, &prev_type, kind) {
            begin = i;
        }
        prev_tag = tag;
        if prev_type != kind {
            prev_type = kind.to_string();
        }
    };
    for (s, sentence) in sentences.iter().enumerate() {
        for (t, label) in sentence.iter().enumerate() {
            let (tag, kind) = split_label(label.as_ref(), suffix).ok_or(EmptyLabel { sentence: s, token: t })?;
            step(tag, kind, i, &mut chunks);
            i += 1;
        }
        // The `O` after every sentence.
        step('O', "_", i, &mut chunks);
        i += 1;
    }
    // The sentinel.
    step('O', "_", i, &mut chunks);
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ents(sents: &[&[&str]], suffix: bool) -> Vec<(String, usize, usize)> {
        let s: Vec<Vec<&str>> = sents.iter().map(|x| x.to_vec()).collect();
        get_entities(&s, suffix)
            .unwrap()
            .into_iter()
            .map(|c| (c.kind, c.start, c.end))
            .collect()
    }

    fn e(v: &[(&str, usize, usize)]) -> Vec<(String, usize, usize)> {
        v.iter().map(|(k, a, b)| (k.to_string(), *a, *b)).collect()
    }

    // Cases verified with seqeval 1.2.2 (`get_entities` on a flat list; a flat list is one
    // sentence here, whose trailing separator `O` changes no offset of a chunk before it).
    #[test]
    fn seqeval_examples() {
        assert_eq!(
            ents(&[&["B-PER", "I-PER", "O", "B-LOC"]], false),
            e(&[("PER", 0, 1), ("LOC", 3, 3)])
        );
        assert_eq!(
            ents(&[&["B-PER", "I-PER"], &["B-LOC"], &["I-LOC", "I-LOC"]], false),
            e(&[("PER", 0, 1), ("LOC", 3, 3), ("LOC", 5, 6)])
        );
        assert_eq!(
            ents(&[&["B", "I", "O", "I", "B", "B", "E", "S"]], false),
            e(&[("_", 0, 1), ("_", 3, 3), ("_", 4, 4), ("_", 5, 6), ("_", 7, 7)])
        );
        assert_eq!(
            ents(&[&["PER", "PER", "O", "LOC"]], false),
            e(&[("ER", 0, 1), ("OC", 3, 3)])
        );
        assert_eq!(
            ents(&[&["b-per", "i-per", "o", "B-X", "o", "O"]], false),
            e(&[("per", 0, 1), ("_", 2, 2), ("X", 3, 3)])
        );
        assert_eq!(
            ents(&[&["B-PER-X", "I-PER-X", "B--A", "B-", "B_C", "BPER", "IPER"]], false),
            e(&[("PER-X", 0, 1), ("-A", 2, 2), ("_", 3, 3), ("_C", 4, 4), ("PER", 5, 6)])
        );
        assert_eq!(
            ents(&[&["B-LOC", "O-PER", "X-PER", "O"]], false),
            e(&[("LOC", 0, 0), ("PER", 0, 2)])
        );
        assert_eq!(ents(&[&[".-PER", "I-PER", ".", "O"]], false), e(&[("PER", 0, 1)]));
        assert_eq!(
            ents(&[&["S-A", "B-A", "E-A", "E-A", "I-A", "S-A", "I-A"]], false),
            e(&[
                ("A", 0, 0),
                ("A", 1, 2),
                ("A", 3, 3),
                ("A", 4, 4),
                ("A", 5, 5),
                ("A", 6, 6)
            ])
        );
        assert_eq!(
            ents(&[&["U-A", "B-A", "I-A", "L-A", "O", "U-A", "U-A"]], false),
            e(&[("A", 1, 3), ("A", 5, 6)])
        );
        assert_eq!(
            ents(&[&["PER-B", "PER-I", "O", "LOC-B", "X-Y-I", "-B", "B", "A--I"]], true),
            e(&[
                ("PER", 0, 1),
                ("LOC", 3, 3),
                ("X-Y", 4, 4),
                ("_", 5, 5),
                ("_", 6, 6),
                ("A-", 7, 7)
            ])
        );
        assert_eq!(
            ents(&[&["PER_B", "PER", "O"]], true),
            e(&[("PER_", 0, 0), ("PE", 1, 1)])
        );
        assert!(ents(&[], false).is_empty());
        assert!(ents(&[&[], &[]], false).is_empty());
        let s = vec![vec!["B-A", ""]];
        assert_eq!(get_entities(&s, false), Err(EmptyLabel { sentence: 0, token: 1 }));
    }
}
