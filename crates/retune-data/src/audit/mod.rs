//! The data audit: model-free checks on texts, labels and translation pairs.
//!
//! Everything here works on plain slices (texts as `&[&str]`, label ids as `&[u32]`) and reports
//! 0-based row indices into those slices; the caller maps them back to file lines.
//!
//! * [`audit_split`]: sizes, lengths, class balance, empty and whitespace-only texts, exact
//!   duplicates (normalized key: lower-cased, whitespace collapsed, trimmed — the data README's
//!   split key), conflicting labels for the same key, near-duplicates (MinHash + LSH, verified by
//!   exact Jaccard similarity, see [`minhash`]), and the scripts present.
//! * [`find_leakage`] / [`find_leakage_labeled`]: rows of an evaluation split whose key occurs in
//!   train (exact) or that are near-duplicates of a train row, and leaked texts whose labels differ.
//! * [`audit_pairs`]: translation pairs — length-ratio outliers, untranslated copies, targets in
//!   the wrong script, duplicate pairs.
//! * [`confident`]: confident learning (cleanlab's label-issue finder) on out-of-fold probabilities.
//! * [`tagged`]: token-tagged (NER) data — scheme violations, entity types and rare ones,
//!   repeated and conflicting sentences, leakage, entity-surface overlap between splits.
//!
//! Scale: one pass of hashing, per-row MinHash signatures of `2 × num_perm` bytes and one
//! band-bucket table at a time, computed with rayon; a million short texts take seconds.

// `rust-version` is 1.80: keep code that newer clippy would rewrite with later std APIs.
#![allow(clippy::manual_is_multiple_of, clippy::manual_repeat_n, clippy::unnecessary_map_or)]
#![allow(clippy::needless_range_loop)]

pub mod confident;
pub mod minhash;
pub mod pairs;
pub mod script;
pub mod tagged;
pub mod text;

pub use minhash::{jaccard, Shingle};
pub use pairs::{audit_pairs, PairAudit, PairSummary, RatioOutlier, RatioStats};
pub use script::{dominant_script, Script, ScriptCounts, ScriptProfile};

use minhash::{Lsh, U64Map};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use text::{is_blank, is_space, key_hash, mix64, same_key};

/// Invalid input to an audit function.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuditError {
    /// Inconsistent or out-of-range input (lengths that differ, a label id out of range, …).
    #[error("{0}")]
    Invalid(String),
}

/// Settings of the audit. `AuditConfig::default()` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditConfig {
    /// Jaccard similarity of shingle sets at or above which two texts are near-duplicates
    /// (default 0.8).
    pub near_dup_threshold: f64,
    /// Number of MinHash functions (default 64). Must be a multiple of `bands`.
    pub num_perm: usize,
    /// Number of LSH bands (default 16, so 4 values per band: a pair with similarity 0.8 becomes a
    /// candidate with probability 0.9998, 0.7: 0.988, 0.5: 0.64).
    pub bands: usize,
    /// How texts are cut into shingles (default [`Shingle::Auto`]: word unigrams, CJK character
    /// bigrams).
    pub shingle: Shingle,
    /// At most this many rows of each LSH bucket serve as comparison partners (default 4); bounds
    /// the work for huge buckets.
    pub bucket_reps: usize,
    /// Run the near-duplicate checks at all (default true).
    pub near_duplicates: bool,
    /// Seed of the MinHash functions (default 0x5EED).
    pub seed: u64,
    /// Lists in the results hold at most this many entries (default 1000); counts in the
    /// summaries are always complete. Within a list the entries are the first by row.
    pub max_examples_per_finding: usize,
    /// Translation pairs: a pair is a length-ratio outlier when its log length ratio is more than
    /// this many robust standard deviations (1.4826 × MAD) from the median (default 4.0).
    pub ratio_z: f64,
    /// Translation pairs: pairs whose longer side has fewer length units than this are never
    /// length-ratio outliers (default 4).
    pub ratio_min_len: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            near_dup_threshold: 0.8,
            num_perm: 64,
            bands: 16,
            shingle: Shingle::Auto,
            bucket_reps: 4,
            near_duplicates: true,
            seed: 0x5EED,
            max_examples_per_finding: 1000,
            ratio_z: 4.0,
            ratio_min_len: 4,
        }
    }
}

impl AuditConfig {
    /// A configuration whose lists are never truncated.
    pub fn unlimited() -> Self {
        Self {
            max_examples_per_finding: usize::MAX,
            ..Self::default()
        }
    }

    fn lsh(&self) -> Result<Lsh, AuditError> {
        if self.bands == 0 || self.num_perm == 0 || self.num_perm % self.bands != 0 {
            return Err(AuditError::Invalid(format!(
                "num_perm ({}) must be a positive multiple of bands ({})",
                self.num_perm, self.bands
            )));
        }
        if !(self.near_dup_threshold > 0.0 && self.near_dup_threshold <= 1.0) {
            return Err(AuditError::Invalid(format!(
                "near_dup_threshold must be in (0, 1], got {}",
                self.near_dup_threshold
            )));
        }
        Ok(Lsh {
            num_perm: self.num_perm,
            bands: self.bands,
            rows: self.num_perm / self.bands,
            reps: self.bucket_reps.max(1),
            threshold: self.near_dup_threshold,
            shingle: self.shingle,
            seed: self.seed,
        })
    }

    fn cap<T>(&self, mut v: Vec<T>) -> Vec<T> {
        v.truncate(self.max_examples_per_finding);
        v
    }
}

/// Distribution of a length measure over the rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LengthSummary {
    /// Smallest value.
    pub min: usize,
    /// Median (lower median for an even count).
    pub median: usize,
    /// 95th percentile (nearest rank).
    pub p95: usize,
    /// Largest value.
    pub max: usize,
    /// Mean.
    pub mean: f64,
}

impl LengthSummary {
    fn of(mut v: Vec<u32>) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        let n = v.len();
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let min = *v.iter().min().unwrap() as usize;
        let max = *v.iter().max().unwrap() as usize;
        let median = *v.select_nth_unstable((n - 1) / 2).1 as usize;
        let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1;
        let p95 = *v.select_nth_unstable(rank).1 as usize;
        Self {
            min,
            median,
            p95,
            max,
            mean,
        }
    }
}

/// Text lengths of a split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Lengths {
    /// Characters (Unicode scalar values) per text.
    pub chars: LengthSummary,
    /// Whitespace-separated words per text.
    pub words: LengthSummary,
}

/// Rows that share one normalized text but carry different labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// The first row with the text.
    pub first_row: usize,
    /// Each label (ascending) with its rows (ascending).
    pub rows_by_label: Vec<(u32, Vec<usize>)>,
}

/// Two near-duplicate rows (`a < b`) and the exact Jaccard similarity of their shingle sets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NearDup {
    /// The earlier row.
    pub a: usize,
    /// The later row.
    pub b: usize,
    /// Jaccard similarity, at least the threshold.
    pub similarity: f64,
}

/// Complete counts of a split audit (lists in [`SplitAudit`] may be truncated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SplitSummary {
    /// Rows.
    pub rows: usize,
    /// Rows that are the empty string.
    pub empty: usize,
    /// Rows that are not empty but only whitespace.
    pub whitespace_only: usize,
    /// Distinct normalized texts among non-blank rows.
    pub distinct_texts: usize,
    /// Groups of ≥ 2 non-blank rows with the same normalized text.
    pub duplicate_groups: usize,
    /// Rows beyond the first of each duplicate group (rows − distinct texts, non-blank rows).
    pub duplicate_rows: usize,
    /// Normalized texts that occur with more than one label.
    pub conflicting_texts: usize,
    /// Rows in those texts.
    pub conflicting_rows: usize,
    /// Near-duplicate pairs reported (a spanning forest of each group: group size − 1 pairs).
    pub near_duplicate_pairs: usize,
    /// Groups of near-duplicate rows (distinct normalized texts, connected by similarity).
    pub near_duplicate_groups: usize,
    /// Rows in near-duplicate groups beyond the first of each group.
    pub near_duplicate_rows: usize,
}

/// Findings about one split (or any list of texts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitAudit {
    /// Complete counts.
    pub summary: SplitSummary,
    /// Rows per label id, if labels were given.
    pub class_counts: Option<BTreeMap<u32, usize>>,
    /// Text lengths.
    pub lengths: Lengths,
    /// Rows that are the empty string.
    pub empty_rows: Vec<usize>,
    /// Rows that contain only whitespace (and are not empty).
    pub whitespace_only_rows: Vec<usize>,
    /// Groups of rows with the same normalized text (all members, ascending; groups by first row).
    /// Blank rows are not grouped (they are listed above).
    pub duplicate_groups: Vec<Vec<usize>>,
    /// Same normalized text, different labels.
    pub conflicts: Vec<Conflict>,
    /// Near-duplicate pairs among rows of distinct normalized texts (first row of each exact group).
    pub near_duplicates: Vec<NearDup>,
    /// Connected groups of near-duplicate rows (ascending members).
    pub near_duplicate_groups: Vec<Vec<usize>>,
    /// Scripts of the texts.
    pub scripts: ScriptCounts,
}

/// Per-row normalized-key hashes, computed in parallel.
fn key_hashes(texts: &[&str]) -> Vec<u64> {
    texts
        .par_iter()
        .with_min_len(1024)
        .map_init(String::new, |buf, t| key_hash(t, buf))
        .collect()
}

/// Maps normalized keys to the first row that has them; hash collisions are resolved by comparing
/// the texts (probing to a rehashed slot), so equality is exact.
struct KeyIndex {
    map: U64Map<u32>,
}

impl KeyIndex {
    fn with_capacity(n: usize) -> Self {
        let mut map = U64Map::default();
        map.reserve(n);
        Self { map }
    }

    /// Inserts `row` (whose key hash is `h`); returns the first row with the same key.
    fn insert(&mut self, texts: &[&str], row: usize, mut h: u64) -> usize {
        use std::collections::hash_map::Entry;
        loop {
            match self.map.entry(h) {
                Entry::Vacant(e) => {
                    e.insert(row as u32);
                    return row;
                }
                Entry::Occupied(e) => {
                    let first = *e.get() as usize;
                    if same_key(texts[first], texts[row]) {
                        return first;
                    }
                    h = mix64(h.wrapping_add(1));
                }
            }
        }
    }

    /// The first row of `texts` (the indexed texts) with the key of `text`, if any.
    fn get(&self, texts: &[&str], text: &str, mut h: u64) -> Option<usize> {
        loop {
            let first = *self.map.get(&h)? as usize;
            if same_key(texts[first], text) {
                return Some(first);
            }
            h = mix64(h.wrapping_add(1));
        }
    }
}

/// For each row, the first row with the same normalized key (`usize::MAX` for blank rows), and
/// the index of the non-blank keys.
fn first_rows(texts: &[&str], blank: &[bool]) -> (Vec<usize>, KeyIndex) {
    let hashes = key_hashes(texts);
    let mut index = KeyIndex::with_capacity(texts.len());
    let first = (0..texts.len())
        .map(|r| {
            if blank[r] {
                usize::MAX
            } else {
                index.insert(texts, r, hashes[r])
            }
        })
        .collect();
    (first, index)
}

/// Audits one list of texts (with optional label ids, one per text).
pub fn audit_split(texts: &[&str], labels: Option<&[u32]>, cfg: &AuditConfig) -> Result<SplitAudit, AuditError> {
    if let Some(l) = labels {
        if l.len() != texts.len() {
            return Err(AuditError::Invalid(format!(
                "{} texts but {} labels",
                texts.len(),
                l.len()
            )));
        }
    }
    let lsh = cfg.lsh()?;
    let n = texts.len();
    let blank: Vec<bool> = texts.par_iter().with_min_len(4096).map(|t| is_blank(t)).collect();
    let empty_rows: Vec<usize> = (0..n).filter(|&r| texts[r].is_empty()).collect();
    let whitespace_only_rows: Vec<usize> = (0..n).filter(|&r| blank[r] && !texts[r].is_empty()).collect();

    let (first, _) = first_rows(texts, &blank);
    let mut members: U64Map<Vec<usize>> = U64Map::default();
    for r in 0..n {
        if first[r] != usize::MAX && first[r] != r {
            members
                .entry(mix64(first[r] as u64))
                .or_insert_with(|| vec![first[r]])
                .push(r);
        }
    }
    let mut duplicate_groups: Vec<Vec<usize>> = members.into_values().collect();
    duplicate_groups.sort_unstable_by_key(|g| g[0]);
    let distinct_texts = (0..n).filter(|&r| first[r] == r).count();

    let mut conflicts = Vec::new();
    let mut conflicting_rows = 0;
    if let Some(labels) = labels {
        for g in &duplicate_groups {
            let mut by: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for &r in g {
                by.entry(labels[r]).or_default().push(r);
            }
            if by.len() > 1 {
                conflicting_rows += g.len();
                conflicts.push(Conflict {
                    first_row: g[0],
                    rows_by_label: by.into_iter().collect(),
                });
            }
        }
    }

    let (near_pairs, near_groups) = if cfg.near_duplicates {
        let active: Vec<bool> = (0..n).map(|r| first[r] == r).collect();
        lsh.self_join(texts, &active)
    } else {
        (Vec::new(), Vec::new())
    };

    let class_counts = labels.map(|l| {
        let mut m = BTreeMap::new();
        for &x in l {
            *m.entry(x).or_insert(0usize) += 1;
        }
        m
    });
    let (chars, words): (Vec<u32>, Vec<u32>) = texts
        .par_iter()
        .with_min_len(4096)
        .map(|t| {
            (
                t.chars().count() as u32,
                t.split(is_space).filter(|w| !w.is_empty()).count() as u32,
            )
        })
        .unzip();

    let summary = SplitSummary {
        rows: n,
        empty: empty_rows.len(),
        whitespace_only: whitespace_only_rows.len(),
        distinct_texts,
        duplicate_groups: duplicate_groups.len(),
        duplicate_rows: duplicate_groups.iter().map(|g| g.len() - 1).sum(),
        conflicting_texts: conflicts.len(),
        conflicting_rows,
        near_duplicate_pairs: near_pairs.len(),
        near_duplicate_groups: near_groups.len(),
        near_duplicate_rows: near_groups.iter().map(|g| g.len() - 1).sum(),
    };
    Ok(SplitAudit {
        summary,
        class_counts,
        lengths: Lengths {
            chars: LengthSummary::of(chars),
            words: LengthSummary::of(words),
        },
        empty_rows: cfg.cap(empty_rows),
        whitespace_only_rows: cfg.cap(whitespace_only_rows),
        duplicate_groups: cfg.cap(duplicate_groups),
        conflicts: cfg.cap(conflicts),
        near_duplicates: cfg.cap(
            near_pairs
                .into_iter()
                .map(|(a, b, similarity)| NearDup { a, b, similarity })
                .collect(),
        ),
        near_duplicate_groups: cfg.cap(near_groups),
        scripts: ScriptCounts::of_texts(texts, cfg.max_examples_per_finding),
    })
}

/// A row of the other split whose normalized text occurs in train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LeakedRow {
    /// Row in the other split.
    pub row: usize,
    /// First train row with the same normalized text.
    pub train_row: usize,
}

/// A row of the other split that is a near-duplicate of a train row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NearLeak {
    /// Row in the other split.
    pub row: usize,
    /// A train row with Jaccard similarity ≥ the threshold (the first one LSH verified, not
    /// necessarily the most similar).
    pub train_row: usize,
    /// Exact Jaccard similarity of the shingle sets.
    pub similarity: f64,
}

/// A leaked text whose label in the other split differs from a label it has in train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LeakConflict {
    /// Row in the other split.
    pub row: usize,
    /// Its label.
    pub label: u32,
    /// The first train row with the same text and a different label.
    pub train_row: usize,
    /// That row's label.
    pub train_label: u32,
}

/// Complete counts of a leakage check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LeakageSummary {
    /// Rows of the train side.
    pub train_rows: usize,
    /// Rows of the other side.
    pub other_rows: usize,
    /// Other rows whose normalized text occurs in train.
    pub exact_rows: usize,
    /// Distinct normalized texts among them.
    pub exact_distinct_texts: usize,
    /// Other rows (not exact leaks, not blank) with a near-duplicate in train.
    pub near_rows: usize,
    /// Exact leaks whose label differs from a train label of the same text.
    pub label_conflicts: usize,
}

/// Leakage of an evaluation split into train.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leakage {
    /// Complete counts.
    pub summary: LeakageSummary,
    /// Exact leaks, by row.
    pub exact: Vec<LeakedRow>,
    /// Near leaks, by row.
    pub near: Vec<NearLeak>,
    /// Leaked texts with a different label in train (only from [`find_leakage_labeled`]).
    pub label_conflicts: Vec<LeakConflict>,
}

/// Rows of `other` (an evaluation split) whose normalized text occurs in `train` (exact) or that
/// are near-duplicates of a `train` row. Blank texts are never leaks. To check against several
/// splits (e.g. train + validation), concatenate them; the returned train rows index the
/// concatenation.
pub fn find_leakage(train: &[&str], other: &[&str], cfg: &AuditConfig) -> Result<Leakage, AuditError> {
    leakage(train, other, None, cfg)
}

/// [`find_leakage`], also reporting leaked texts whose label differs between the splits (label
/// ids must come from the same label map).
pub fn find_leakage_labeled(
    train: &[&str],
    train_labels: &[u32],
    other: &[&str],
    other_labels: &[u32],
    cfg: &AuditConfig,
) -> Result<Leakage, AuditError> {
    if train.len() != train_labels.len() || other.len() != other_labels.len() {
        return Err(AuditError::Invalid(format!(
            "texts and labels differ in length: train {} / {}, other {} / {}",
            train.len(),
            train_labels.len(),
            other.len(),
            other_labels.len()
        )));
    }
    leakage(train, other, Some((train_labels, other_labels)), cfg)
}

fn leakage(
    train: &[&str],
    other: &[&str],
    labels: Option<(&[u32], &[u32])>,
    cfg: &AuditConfig,
) -> Result<Leakage, AuditError> {
    let lsh = cfg.lsh()?;
    let train_blank: Vec<bool> = train.par_iter().with_min_len(4096).map(|t| is_blank(t)).collect();
    let other_blank: Vec<bool> = other.par_iter().with_min_len(4096).map(|t| is_blank(t)).collect();
    let (train_first, index) = first_rows(train, &train_blank);
    let other_hashes = key_hashes(other);
    let exact: Vec<LeakedRow> = (0..other.len())
        .filter(|&r| !other_blank[r])
        .filter_map(|r| {
            index
                .get(train, other[r], other_hashes[r])
                .map(|t| LeakedRow { row: r, train_row: t })
        })
        .collect();
    let exact_distinct_texts = {
        let mut seen = BTreeSet::new();
        exact.iter().filter(|l| seen.insert(l.train_row)).count()
    };

    let mut label_conflicts = Vec::new();
    if let Some((tl, ol)) = labels {
        // Train labels of each leaked key, with the first row per label.
        let leaked: BTreeSet<usize> = exact.iter().map(|l| l.train_row).collect();
        let mut labels_of: BTreeMap<usize, BTreeMap<u32, usize>> = BTreeMap::new();
        for r in 0..train.len() {
            if train_first[r] != usize::MAX && leaked.contains(&train_first[r]) {
                labels_of.entry(train_first[r]).or_default().entry(tl[r]).or_insert(r);
            }
        }
        for l in &exact {
            let label = ol[l.row];
            if let Some((&train_label, &train_row)) = labels_of[&l.train_row].iter().find(|(&x, _)| x != label) {
                label_conflicts.push(LeakConflict {
                    row: l.row,
                    label,
                    train_row,
                    train_label,
                });
            }
        }
    }

    let near: Vec<NearLeak> = if cfg.near_duplicates {
        let is_exact: BTreeSet<usize> = exact.iter().map(|l| l.row).collect();
        let train_active: Vec<bool> = (0..train.len()).map(|r| train_first[r] == r).collect();
        let other_active: Vec<bool> = (0..other.len())
            .map(|r| !other_blank[r] && !is_exact.contains(&r))
            .collect();
        lsh.cross_join(train, &train_active, other, &other_active)
            .into_iter()
            .map(|(row, train_row, similarity)| NearLeak {
                row,
                train_row,
                similarity,
            })
            .collect()
    } else {
        Vec::new()
    };

    let summary = LeakageSummary {
        train_rows: train.len(),
        other_rows: other.len(),
        exact_rows: exact.len(),
        exact_distinct_texts,
        near_rows: near.len(),
        label_conflicts: label_conflicts.len(),
    };
    Ok(Leakage {
        summary,
        exact: cfg.cap(exact),
        near: cfg.cap(near),
        label_conflicts: cfg.cap(label_conflicts),
    })
}
