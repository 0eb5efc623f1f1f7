//! The model-free audit of token-tagged data (NER): tag-scheme violations, tag and entity-type
//! counts with rare types, empty sentences, repeated sentences and conflicting ones (the same
//! tokens with other tags), sentences of an evaluation split that also occur in train (with the
//! same or other tags), and entity-surface overlap — how many of an evaluation split's entities
//! occur in train with the same words and type (WNUT17's "emerging entities" are the ones that
//! do not).
//!
//! Inputs are sentences as token and tag slices; row indices are 0-based into them. Entities are
//! seqeval's default-mode chunks (`retune_metrics::seqeval::chunks::get_entities`), the ones the
//! entity F1 counts.

use retune_metrics::seqeval::chunks::{get_entities, split_label};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One sentence: its tokens and one tag per token.
#[derive(Clone, Copy, Debug)]
pub struct TaggedRow<'a> {
    /// Tokens.
    pub tokens: &'a [String],
    /// Tags.
    pub tags: &'a [String],
}

/// Settings of the tagged-data audit.
#[derive(Clone, Debug, Serialize)]
pub struct TagAuditConfig {
    /// A type with fewer entities than this in a split is rare. Default 50.
    pub rare_entities: usize,
    /// Violations, conflicts and leaks listed in full (the counts are always complete).
    /// Default 200.
    pub max_listed: usize,
}

impl Default for TagAuditConfig {
    fn default() -> Self {
        TagAuditConfig {
            rare_entities: 50,
            max_listed: 200,
        }
    }
}

/// A tag that the BIO/IOB2 or BIOES scheme does not allow where it stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    /// Sentence (0-based).
    pub row: usize,
    /// Token (0-based).
    pub token: usize,
    /// The tag.
    pub tag: String,
    /// The tag before it (`None` at the start of the sentence).
    pub previous: Option<String>,
    /// What is wrong, in words.
    pub why: String,
}

/// Counts of one entity type.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TypeStats {
    /// Entities.
    pub entities: usize,
    /// Tokens inside them.
    pub tokens: usize,
    /// Sentences with at least one.
    pub sentences: usize,
    /// Longest entity, in tokens.
    pub max_tokens: usize,
}

/// The audit of one split.
#[derive(Clone, Debug, Serialize)]
pub struct TagSplitAudit {
    /// Sentences.
    pub sentences: usize,
    /// Tokens.
    pub tokens: usize,
    /// Sentences without an entity.
    pub sentences_without_entities: usize,
    /// Sentences without a token.
    pub empty: Vec<usize>,
    /// Tokens per tag.
    pub tag_counts: BTreeMap<String, usize>,
    /// Per entity type.
    pub types: BTreeMap<String, TypeStats>,
    /// Types with fewer entities than [`TagAuditConfig::rare_entities`].
    pub rare_types: Vec<String>,
    /// The scheme the tags follow: `BIOES` when any tag starts with `E-` or `S-`, else `BIO`.
    pub scheme: String,
    /// How many tags break the scheme.
    pub violation_count: usize,
    /// The first of them.
    pub violations: Vec<Violation>,
    /// Groups of sentences with the same tokens and tags (first occurrence first).
    pub duplicate_groups: Vec<Vec<usize>>,
    /// Groups of sentences with the same tokens and different tags.
    pub conflict_groups: Vec<Vec<usize>>,
}

/// Sentences of an evaluation split whose tokens occur in train.
#[derive(Clone, Debug, Serialize)]
pub struct TagLeakage {
    /// Leaked sentences: (row in the evaluation split, a train row with the same tokens).
    pub exact: Vec<(usize, usize)>,
    /// How many leaked.
    pub exact_count: usize,
    /// How many of those carry other tags in train.
    pub conflicting_count: usize,
    /// The first of them: (evaluation row, train row).
    pub conflicting: Vec<(usize, usize)>,
}

/// How many of an evaluation split's entities occur in train.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SurfaceOverlap {
    /// Entities of the evaluation split.
    pub entities: usize,
    /// Those whose words occur as an entity of the same type in train.
    pub seen_same_type: usize,
    /// Those whose words occur as an entity of any type in train.
    pub seen_any_type: usize,
    /// Per type: (entities, seen with the same type).
    pub per_type: BTreeMap<String, (usize, usize)>,
}

/// Why a tag cannot stand where it is; None when it can. `prev` is the tag before (None at the
/// start), `next` the tag after (None at the end).
fn violation(tag: &str, prev: Option<&str>, next: Option<&str>, bioes: bool) -> Option<String> {
    let Some((t, kind)) = split_label(tag, false) else {
        return Some("empty tag".into());
    };
    if tag == "O" {
        return None;
    }
    let allowed: &[char] = if bioes { &['B', 'I', 'E', 'S'] } else { &['B', 'I'] };
    if !allowed.contains(&t) || tag.as_bytes().get(1) != Some(&b'-') {
        return Some(format!(
            "not O nor {} followed by '-' and a type",
            allowed.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("/")
        ));
    }
    let same = |other: Option<&str>, prefixes: &[char]| -> bool {
        other
            .and_then(|o| split_label(o, false).filter(|_| o.as_bytes().get(1) == Some(&b'-')))
            .is_some_and(|(p, k)| prefixes.contains(&p) && k == kind)
    };
    if matches!(t, 'I' | 'E') && !same(prev, &['B', 'I']) {
        return Some(format!(
            "{t}-{kind} does not continue a {kind} entity (after B-{kind} or I-{kind})"
        ));
    }
    if bioes && matches!(t, 'B' | 'I') && !same(next, &['I', 'E']) {
        return Some(format!("{t}-{kind} is not followed by I-{kind} or E-{kind}"));
    }
    None
}

/// The entities of one sentence: (type, first token, last token).
fn entities(tags: &[String]) -> Vec<(String, usize, usize)> {
    match get_entities(&[tags.iter().map(String::as_str).collect::<Vec<&str>>()], false) {
        Ok(chunks) => chunks.into_iter().map(|c| (c.kind, c.start, c.end)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Audits one split.
pub fn audit_tagged_split(rows: &[TaggedRow], cfg: &TagAuditConfig) -> TagSplitAudit {
    let bioes = rows
        .iter()
        .flat_map(|r| r.tags.iter())
        .any(|t| t.starts_with("E-") || t.starts_with("S-"));
    let mut tag_counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut types: BTreeMap<String, TypeStats> = BTreeMap::new();
    let (mut violations, mut violation_count) = (Vec::new(), 0usize);
    let (mut empty, mut without) = (Vec::new(), 0usize);
    let mut by_tokens: HashMap<&[String], Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.tokens.is_empty() {
            empty.push(i);
        }
        for (j, tag) in r.tags.iter().enumerate() {
            *tag_counts.entry(tag.clone()).or_default() += 1;
            let prev = j.checked_sub(1).map(|p| r.tags[p].as_str());
            let next = r.tags.get(j + 1).map(|s| s.as_str());
            if let Some(why) = violation(tag, prev, next, bioes) {
                violation_count += 1;
                if violations.len() < cfg.max_listed {
                    violations.push(Violation {
                        row: i,
                        token: j,
                        tag: tag.clone(),
                        previous: prev.map(str::to_string),
                        why,
                    });
                }
            }
        }
        let ents = entities(r.tags);
        if ents.is_empty() {
            without += 1;
        }
        let mut seen_here = std::collections::BTreeSet::new();
        for (kind, a, b) in ents {
            let s = types.entry(kind.clone()).or_default();
            s.entities += 1;
            s.tokens += b - a + 1;
            s.max_tokens = s.max_tokens.max(b - a + 1);
            if seen_here.insert(kind) {
                s.sentences += 1;
            }
        }
        if !r.tokens.is_empty() {
            by_tokens.entry(r.tokens).or_default().push(i);
        }
    }
    let mut duplicate_groups = Vec::new();
    let mut conflict_groups = Vec::new();
    let mut groups: Vec<&Vec<usize>> = by_tokens.values().filter(|g| g.len() > 1).collect();
    groups.sort();
    for g in groups {
        // Split the group by tags: rows with the first row's tags are duplicates; any other
        // tagging makes the whole group a conflict.
        let first = rows[g[0]].tags;
        if g.iter().all(|&i| rows[i].tags == first) {
            duplicate_groups.push(g.clone());
        } else {
            conflict_groups.push(g.clone());
        }
    }
    let rare_types = types
        .iter()
        .filter(|(_, s)| s.entities < cfg.rare_entities)
        .map(|(k, _)| k.clone())
        .collect();
    TagSplitAudit {
        sentences: rows.len(),
        tokens: rows.iter().map(|r| r.tokens.len()).sum(),
        sentences_without_entities: without,
        empty,
        tag_counts,
        types,
        rare_types,
        scheme: if bioes { "BIOES" } else { "BIO" }.into(),
        violation_count,
        violations,
        duplicate_groups,
        conflict_groups,
    }
}

/// Sentences of `other` whose tokens are those of a train sentence, and the ones among them
/// tagged differently there.
pub fn find_tagged_leakage(train: &[TaggedRow], other: &[TaggedRow], cfg: &TagAuditConfig) -> TagLeakage {
    let mut index: HashMap<&[String], Vec<usize>> = HashMap::new();
    for (i, r) in train.iter().enumerate() {
        if !r.tokens.is_empty() {
            index.entry(r.tokens).or_default().push(i);
        }
    }
    let mut out = TagLeakage {
        exact: Vec::new(),
        exact_count: 0,
        conflicting_count: 0,
        conflicting: Vec::new(),
    };
    for (i, r) in other.iter().enumerate() {
        let Some(hits) = index.get(r.tokens) else {
            continue;
        };
        out.exact_count += 1;
        if out.exact.len() < cfg.max_listed {
            out.exact.push((i, hits[0]));
        }
        if let Some(&t) = hits.iter().find(|&&t| train[t].tags != r.tags) {
            out.conflicting_count += 1;
            if out.conflicting.len() < cfg.max_listed {
                out.conflicting.push((i, t));
            }
        }
    }
    out
}

/// How many entities of `other` occur in `train` with the same words (exact, case-sensitive)
/// and type, or with any type.
pub fn surface_overlap(train: &[TaggedRow], other: &[TaggedRow]) -> SurfaceOverlap {
    let surface = |r: &TaggedRow, a: usize, b: usize| r.tokens[a..=b].join(" ");
    let mut known: HashMap<String, Vec<String>> = HashMap::new();
    for r in train {
        for (kind, a, b) in entities(r.tags) {
            let kinds = known.entry(surface(r, a, b)).or_default();
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    let mut out = SurfaceOverlap::default();
    for r in other {
        for (kind, a, b) in entities(r.tags) {
            if b >= r.tokens.len() {
                continue;
            }
            let kinds = known.get(&surface(r, a, b));
            let same = kinds.is_some_and(|k| k.contains(&kind));
            out.entities += 1;
            out.seen_same_type += usize::from(same);
            out.seen_any_type += usize::from(kinds.is_some());
            let e = out.per_type.entry(kind).or_default();
            e.0 += 1;
            e.1 += usize::from(same);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn bio_violations_are_i_tags_that_continue_nothing() {
        let toks = s(&["a", "b", "c", "d", "e"]);
        let tags = s(&["I-PER", "O", "B-LOC", "I-ORG", "X-LOC"]);
        let a = audit_tagged_split(
            &[TaggedRow {
                tokens: &toks,
                tags: &tags,
            }],
            &TagAuditConfig::default(),
        );
        assert_eq!(a.scheme, "BIO");
        let at: Vec<(usize, &str)> = a.violations.iter().map(|v| (v.token, v.tag.as_str())).collect();
        assert_eq!(at, vec![(0, "I-PER"), (3, "I-ORG"), (4, "X-LOC")]);
        assert_eq!(a.violation_count, 3);
    }

    #[test]
    fn bioes_needs_closed_entities() {
        let toks = s(&["a", "b", "c", "d", "e", "f"]);
        // B-PER E-PER is fine; B-LOC followed by O is open; S-ORG is fine; E-ORG alone is not.
        let tags = s(&["B-PER", "E-PER", "B-LOC", "O", "S-ORG", "E-ORG"]);
        let a = audit_tagged_split(
            &[TaggedRow {
                tokens: &toks,
                tags: &tags,
            }],
            &TagAuditConfig::default(),
        );
        assert_eq!(a.scheme, "BIOES");
        let at: Vec<usize> = a.violations.iter().map(|v| v.token).collect();
        assert_eq!(at, vec![2, 5]);
    }

    #[test]
    fn counts_types_duplicates_conflicts_leaks_and_seen_entities() {
        let t1 = s(&["John", "lives", "in", "New", "York"]);
        let g1 = s(&["B-PER", "O", "O", "B-LOC", "I-LOC"]);
        let g1b = s(&["B-PER", "O", "O", "B-ORG", "I-ORG"]);
        let t2 = s(&["Mary", "left"]);
        let g2 = s(&["B-PER", "O"]);
        let train = [
            TaggedRow { tokens: &t1, tags: &g1 },
            TaggedRow { tokens: &t2, tags: &g2 },
            TaggedRow {
                tokens: &t1,
                tags: &g1b,
            },
            TaggedRow { tokens: &t2, tags: &g2 },
        ];
        let cfg = TagAuditConfig {
            rare_entities: 2,
            max_listed: 10,
        };
        let a = audit_tagged_split(&train, &cfg);
        assert_eq!(a.types["PER"].entities, 4);
        assert_eq!(a.types["LOC"].tokens, 2);
        assert_eq!(a.rare_types, vec!["LOC".to_string(), "ORG".to_string()]);
        assert_eq!(a.duplicate_groups, vec![vec![1, 3]]);
        assert_eq!(a.conflict_groups, vec![vec![0, 2]]);

        let t3 = s(&["Mary", "visited", "New", "York", "and", "Paris"]);
        let g3 = s(&["B-PER", "O", "B-ORG", "I-ORG", "O", "B-LOC"]);
        let test = [
            TaggedRow { tokens: &t3, tags: &g3 },
            TaggedRow { tokens: &t2, tags: &g2 },
            TaggedRow {
                tokens: &t1,
                tags: &g1b,
            },
        ];
        let l = find_tagged_leakage(&train, &test, &cfg);
        assert_eq!(l.exact_count, 2);
        assert_eq!(l.exact, vec![(1, 1), (2, 0)]);
        // Test row 2 equals train row 2 but train row 0 has other tags.
        assert_eq!(l.conflicting_count, 1);
        let o = surface_overlap(&train, &test);
        // Entities: Mary/PER, New York/ORG, Paris/LOC, Mary/PER, John/PER, New York/ORG.
        assert_eq!(o.entities, 6);
        assert_eq!(o.seen_same_type, 5);
        assert_eq!(o.seen_any_type, 5);
        assert_eq!(o.per_type["LOC"], (1, 0));
    }
}
