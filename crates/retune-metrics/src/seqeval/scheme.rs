//! seqeval's strict mode (`seqeval.scheme`): a label is a prefix letter and a type; a scheme
//! says which prefixes it allows and, by three pattern tables over (previous prefix, prefix,
//! same or different type), where an entity starts, continues and ends. Entities are built per
//! sentence; an entity that is not closed as the scheme demands is dropped.

/// A label's prefix letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// Inside.
    I,
    /// Outside.
    O,
    /// Begin.
    B,
    /// End.
    E,
    /// Single.
    S,
    /// Unit (BILOU).
    U,
    /// Last (BILOU).
    L,
}

impl Prefix {
    fn of(c: char) -> Option<Prefix> {
        Some(match c {
            'I' => Prefix::I,
            'O' => Prefix::O,
            'B' => Prefix::B,
            'E' => Prefix::E,
            'S' => Prefix::S,
            'U' => Prefix::U,
            'L' => Prefix::L,
            _ => return None,
        })
    }
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The tagging schemes of `seqeval.scheme`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// IOB1: `I` starts an entity unless it continues one; `B` only between two entities of a type.
    Iob1,
    /// IOE1.
    Ioe1,
    /// IOB2 (`B` starts every entity).
    Iob2,
    /// IOE2 (`E` ends every entity).
    Ioe2,
    /// IOBES (`B`/`I`/`E`, `S` for one token).
    Iobes,
    /// BILOU (`B`/`I`/`L`, `U` for one token).
    Bilou,
}

/// The type condition of a pattern.
#[derive(Clone, Copy)]
enum TypeCond {
    Any,
    Same,
    Diff,
}

/// (previous prefixes, current prefixes, type condition); prefixes as bit sets.
type Pattern = (u8, u8, TypeCond);

const ANY: u8 = 0x7f;

// Prefix bits (`1 << (Prefix as u8)`), as constants so the tables are promoted to statics.
const XI: u8 = 1;
const XO: u8 = 2;
const XB: u8 = 4;
const XE: u8 = 8;
const XS: u8 = 16;
const XU: u8 = 32;
const XL: u8 = 64;

use Prefix::{B as PB, E as PE, I as PI, L as PL, O as PO, S as PS, U as PU};

impl Scheme {
    /// Every scheme, in the order seqeval's `auto_detect` tries the detectable ones first.
    pub const ALL: [Scheme; 6] = [
        Scheme::Iob2,
        Scheme::Ioe2,
        Scheme::Iobes,
        Scheme::Bilou,
        Scheme::Iob1,
        Scheme::Ioe1,
    ];

    /// The scheme's name as seqeval spells its class.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Iob1 => "IOB1",
            Scheme::Ioe1 => "IOE1",
            Scheme::Iob2 => "IOB2",
            Scheme::Ioe2 => "IOE2",
            Scheme::Iobes => "IOBES",
            Scheme::Bilou => "BILOU",
        }
    }

    /// The scheme named `name` (case-insensitive; `BIOES` is IOBES, `BIO` is IOB2).
    pub fn parse(name: &str) -> Option<Scheme> {
        Some(match name.to_ascii_uppercase().as_str() {
            "IOB1" => Scheme::Iob1,
            "IOE1" => Scheme::Ioe1,
            "IOB2" | "BIO" => Scheme::Iob2,
            "IOE2" => Scheme::Ioe2,
            "IOBES" | "BIOES" => Scheme::Iobes,
            "BILOU" => Scheme::Bilou,
            _ => return None,
        })
    }

    fn allowed(self) -> &'static [Prefix] {
        match self {
            Scheme::Iob1 | Scheme::Iob2 => &[PI, PO, PB],
            Scheme::Ioe1 | Scheme::Ioe2 => &[PI, PO, PE],
            Scheme::Iobes => &[PI, PO, PB, PE, PS],
            Scheme::Bilou => &[PB, PI, PL, PO, PU],
        }
    }

    fn start(self) -> &'static [Pattern] {
        use TypeCond::*;
        match self {
            Scheme::Iob1 => &[
                (XO, XI, Any),
                (XI, XI, Diff),
                (XB, XI, Any),
                (XI, XB, Same),
                (XB, XB, Same),
            ],
            Scheme::Ioe1 => &[(XO, XI, Any), (XI, XI, Diff), (XE, XI, Any), (XE, XE, Same)],
            Scheme::Iob2 => &[(ANY, XB, Any)],
            Scheme::Ioe2 => &[
                (XO, XI, Any),
                (XO, XE, Any),
                (XE, XI, Any),
                (XE, XE, Any),
                (XI, XI, Diff),
                (XI, XE, Diff),
            ],
            Scheme::Iobes => &[(ANY, XB, Any), (ANY, XS, Any)],
            Scheme::Bilou => &[(ANY, XB, Any), (ANY, XU, Any)],
        }
    }

    fn inside(self) -> &'static [Pattern] {
        use TypeCond::*;
        match self {
            Scheme::Iob1 => &[(XB, XI, Same), (XI, XI, Same)],
            Scheme::Ioe1 => &[(XI, XI, Same), (XI, XE, Same)],
            Scheme::Iob2 => &[(XB, XI, Same), (XI, XI, Same)],
            Scheme::Ioe2 => &[(XI, XE, Same), (XI, XI, Same)],
            Scheme::Iobes => &[(XB, XI, Same), (XB, XE, Same), (XI, XI, Same), (XI, XE, Same)],
            Scheme::Bilou => &[(XB, XI, Same), (XB, XL, Same), (XI, XI, Same), (XI, XL, Same)],
        }
    }

    fn end(self) -> &'static [Pattern] {
        use TypeCond::*;
        match self {
            Scheme::Iob1 => &[
                (XI, XI, Diff),
                (XI, XO, Any),
                (XI, XB, Any),
                (XB, XO, Any),
                (XB, XI, Diff),
                (XB, XB, Same),
            ],
            Scheme::Ioe1 => &[
                (XI, XI, Diff),
                (XI, XO, Any),
                (XI, XE, Diff),
                (XE, XI, Same),
                (XE, XE, Same),
            ],
            Scheme::Iob2 => &[
                (XI, XO, Any),
                (XI, XI, Diff),
                (XI, XB, Any),
                (XB, XO, Any),
                (XB, XI, Diff),
                (XB, XB, Any),
            ],
            Scheme::Ioe2 => &[(XE, ANY, Any)],
            Scheme::Iobes => &[(XS, ANY, Any), (XE, ANY, Any)],
            Scheme::Bilou => &[(XU, ANY, Any), (XL, ANY, Any)],
        }
    }
}

/// A parsed label: prefix and type (`_` when empty).
#[derive(Clone, Debug)]
struct Token<'a> {
    prefix: Prefix,
    kind: &'a str,
}

impl Token<'_> {
    fn matches(&self, prev: &Token, patterns: &[Pattern]) -> bool {
        patterns.iter().any(|&(p, c, same)| {
            prev.prefix.bit() & p != 0
                && self.prefix.bit() & c != 0
                && match same {
                    TypeCond::Any => true,
                    TypeCond::Same => prev.kind == self.kind,
                    TypeCond::Diff => prev.kind != self.kind,
                }
        })
    }
}

/// Why strict mode rejects a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrictLabelError {
    /// An empty label.
    Empty,
    /// A first (last, with `suffix`) character that is no prefix letter (seqeval: `KeyError`).
    UnknownPrefix,
    /// A prefix the scheme does not allow (seqeval: `ValueError: Invalid token is found`).
    NotAllowed,
}

fn parse(label: &str, suffix: bool) -> Result<Token<'_>, StrictLabelError> {
    let (c, rest) = if suffix {
        let c = label.chars().next_back().ok_or(StrictLabelError::Empty)?;
        (c, &label[..label.len() - c.len_utf8()])
    } else {
        let c = label.chars().next().ok_or(StrictLabelError::Empty)?;
        (c, &label[c.len_utf8()..])
    };
    let prefix = Prefix::of(c).ok_or(StrictLabelError::UnknownPrefix)?;
    let kind = rest.trim_matches('-');
    Ok(Token {
        prefix,
        kind: if kind.is_empty() { "_" } else { kind },
    })
}

/// An entity of one sentence: type and token range `start..end` (end exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StrictEntity {
    /// Entity type.
    pub kind: String,
    /// First token.
    pub start: usize,
    /// One past the last token.
    pub end: usize,
}

/// The entities of one sentence under `scheme`, as `seqeval.scheme.Tokens.entities` builds
/// them; the error names the offending token.
pub fn sentence_entities<S: AsRef<str>>(
    labels: &[S],
    scheme: Scheme,
    suffix: bool,
) -> Result<Vec<StrictEntity>, (usize, StrictLabelError)> {
    let mut tokens = Vec::with_capacity(labels.len() + 1);
    for (i, l) in labels.iter().enumerate() {
        tokens.push(parse(l.as_ref(), suffix).map_err(|e| (i, e))?);
    }
    let outside = Token {
        prefix: Prefix::O,
        kind: "_",
    };
    tokens.push(outside.clone());
    let allowed = scheme.allowed();
    let n = labels.len();
    let mut entities = Vec::new();
    let mut i = 0usize;
    let mut prev = outside;
    while i < n + 1 {
        let token = &tokens[i];
        if !allowed.contains(&token.prefix) {
            return Err((i, StrictLabelError::NotAllowed));
        }
        if token.matches(&prev, scheme.start()) {
            // _forward: the first token after the start that does not continue the entity.
            let mut end = i + 1;
            while end < tokens.len() && tokens[end].matches(&tokens[end - 1], scheme.inside()) {
                end += 1;
            }
            let end = end.min(n);
            if tokens[end].matches(&tokens[end - 1], scheme.end()) {
                entities.push(StrictEntity {
                    kind: token.kind.to_string(),
                    start: i,
                    end,
                });
            }
            i = end;
        } else {
            i += 1;
        }
        prev = tokens[i - 1].clone();
    }
    Ok(entities)
}

/// The scheme of gold tags as seqeval's `auto_detect` finds it (strict `classification_report`):
/// the set of prefixes used must be one that IOB2, IOE2, IOBES or BILOU lists; None otherwise
/// (an all-`O` corpus, IOB1-style data without `B`, unknown prefix letters).
pub fn detect<S: AsRef<str>>(sentences: &[Vec<S>], suffix: bool) -> Option<Scheme> {
    let mut set = 0u8;
    for s in sentences {
        for l in s {
            set |= parse(l.as_ref(), suffix).ok()?.prefix.bit();
        }
    }
    let sets = |ps: &[&[Prefix]]| ps.iter().any(|p| p.iter().fold(0u8, |a, x| a | x.bit()) == set);
    if sets(&[&[PI, PO, PB], &[PI, PB], &[PB, PO], &[PB]]) {
        Some(Scheme::Iob2)
    } else if sets(&[&[PI, PO, PE], &[PI, PE], &[PE, PO], &[PE]]) {
        Some(Scheme::Ioe2)
    } else if sets(&[
        &[PI, PO, PB, PE, PS],
        &[PI, PB, PE, PS],
        &[PI, PO, PB, PE],
        &[PO, PB, PE, PS],
        &[PI, PB, PE],
        &[PB, PE, PS],
        &[PO, PB, PE],
        &[PB, PE],
        &[PS],
    ]) {
        Some(Scheme::Iobes)
    } else if sets(&[
        &[PI, PO, PB, PL, PU],
        &[PI, PB, PL, PU],
        &[PI, PO, PB, PL],
        &[PO, PB, PL, PU],
        &[PI, PB, PL],
        &[PB, PL, PU],
        &[PO, PB, PL],
        &[PB, PL],
        &[PU],
    ]) {
        Some(Scheme::Bilou)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ents(scheme: Scheme, s: &str, suffix: bool) -> Vec<(String, usize, usize)> {
        let labels: Vec<&str> = s.split_whitespace().collect();
        sentence_entities(&labels, scheme, suffix)
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, e.start, e.end))
            .collect()
    }

    fn e(v: &[(&str, usize, usize)]) -> Vec<(String, usize, usize)> {
        v.iter().map(|(k, a, b)| (k.to_string(), *a, *b)).collect()
    }

    // Cases verified with seqeval 1.2.2 (`Tokens(seq, scheme).entities`).
    #[test]
    fn seqeval_examples() {
        use Scheme::*;
        assert_eq!(
            ents(Iob2, "B-PER I-PER O B-LOC", false),
            e(&[("PER", 0, 2), ("LOC", 3, 4)])
        );
        assert!(ents(Iob2, "I-PER I-PER O I-LOC", false).is_empty());
        assert_eq!(ents(Iob2, "B-PER I-LOC O", false), e(&[("PER", 0, 1)]));
        assert_eq!(
            ents(Iob2, "B-PER B-PER I-PER", false),
            e(&[("PER", 0, 1), ("PER", 1, 3)])
        );
        assert_eq!(ents(Iob2, "I-PER B-PER I-PER", false), e(&[("PER", 1, 3)]));
        assert_eq!(ents(Iob2, "B I O B", false), e(&[("_", 0, 2), ("_", 3, 4)]));
        assert_eq!(ents(Iob2, "B--A- I-A", false), e(&[("A", 0, 2)]));
        assert_eq!(
            ents(Iob2, "PER-B PER-I O LOC-B B", true),
            e(&[("PER", 0, 2), ("LOC", 3, 4), ("_", 4, 5)])
        );
        assert_eq!(ents(Iob1, "B-PER I-PER O B-LOC", false), e(&[("PER", 1, 2)]));
        assert_eq!(
            ents(Iob1, "I-PER I-PER O I-LOC", false),
            e(&[("PER", 0, 2), ("LOC", 3, 4)])
        );
        assert_eq!(ents(Iob1, "B-PER B-PER I-PER", false), e(&[("PER", 1, 3)]));
        assert_eq!(
            ents(Iob1, "I-PER B-PER I-PER", false),
            e(&[("PER", 0, 1), ("PER", 1, 3)])
        );
        assert_eq!(ents(Iob1, "I-PER I-LOC", false), e(&[("PER", 0, 1), ("LOC", 1, 2)]));
        assert_eq!(
            ents(Ioe1, "I-PER E-PER E-PER O E-A I-B E-B", false),
            e(&[("PER", 0, 2)])
        );
        assert_eq!(
            ents(Ioe2, "I-PER E-PER E-PER O E-A I-B E-B", false),
            e(&[("PER", 0, 2), ("PER", 2, 3), ("A", 4, 5), ("B", 5, 7)])
        );
        assert!(ents(Ioe2, "I-PER I-PER O I-LOC", false).is_empty());
        assert_eq!(
            ents(Iobes, "B-PER E-PER S-LOC B-A I-A E-A E-A", false),
            e(&[("PER", 0, 2), ("LOC", 2, 3), ("A", 3, 6)])
        );
        assert_eq!(ents(Iobes, "B-PER I-PER O S-A B-A", false), e(&[("A", 3, 4)]));
        assert!(ents(Iobes, "B-A I-A O", false).is_empty());
        assert_eq!(
            ents(Bilou, "B-A I-A L-A U-B B-C O", false),
            e(&[("A", 0, 3), ("B", 3, 4)])
        );
        assert_eq!(
            sentence_entities(&["B-PER", "E-PER"], Iob2, false),
            Err((1, StrictLabelError::NotAllowed))
        );
        assert_eq!(
            sentence_entities(&["b-per"], Iob2, false),
            Err((0, StrictLabelError::UnknownPrefix))
        );
        assert_eq!(sentence_entities(&[""], Iob2, false), Err((0, StrictLabelError::Empty)));
        assert!(ents(Iob2, "O O", false).is_empty());
    }

    #[test]
    fn detects_schemes_as_seqeval() {
        let d = |s: &[&str]| detect(&[s.to_vec()], false);
        assert_eq!(d(&["B-A", "I-A", "O"]), Some(Scheme::Iob2));
        assert_eq!(d(&["S-A", "B-A", "E-A", "O"]), Some(Scheme::Iobes));
        assert_eq!(d(&["U-A", "B-A", "L-A"]), Some(Scheme::Bilou));
        assert_eq!(d(&["I-A", "E-A", "O"]), Some(Scheme::Ioe2));
        assert_eq!(d(&["O", "O"]), None);
        assert_eq!(d(&["S-A", "O"]), None);
        assert_eq!(d(&["I-A", "O"]), None);
    }
}
