//! Checks on translation pairs (source, target).
//!
//! * **Length-ratio outliers.** The length of a text is counted in *units*: each character of a
//!   script written without spaces (Han, Kana, Thai) is one unit, every other whitespace-separated
//!   token is one unit, so English words and Chinese characters are comparable. For each pair
//!   `x = ln((target units + 1) / (source units + 1))`; a pair is an outlier when
//!   `|x − median(x)| > ratio_z × 1.4826 × MAD(x)` (robust z-score; the scale is at least 0.05)
//!   and its longer side has at least `ratio_min_len` units.
//! * **Untranslated copies.** Source and target have the same normalized key (lower-cased,
//!   whitespace collapsed, trimmed) and are not blank.
//! * **Wrong script.** With an expected target script: the target has letters but none of that
//!   script (e.g. a Chinese target without any Han character).
//! * **Length correlation.** Pearson's r between `ln(source units + 1)` and `ln(target units + 1)`
//!   over the non-blank pairs: parallel text keeps lengths together (Tatoeba en–zh validation
//!   0.74), shuffled pairs do not (0.03 for the same pairs shuffled: `tests/audit_scripts_pairs.rs`): a low value says the sides may
//!   not belong together.
//! * Blank sides, duplicate pairs (same normalized source *and* target), and the scripts of each side.

use super::minhash::U64Map;
use super::script::{char_script, Script, ScriptCounts, ScriptProfile};
use super::text::{is_blank, is_space, key_hash, mix64, same_key};
use super::{AuditConfig, AuditError};
use rayon::prelude::*;
use serde::Serialize;

/// A pair whose target/source length ratio is unusual for the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioOutlier {
    /// The pair's row.
    pub row: usize,
    /// Source length in units.
    pub source_len: usize,
    /// Target length in units.
    pub target_len: usize,
    /// `(target_len + 1) / (source_len + 1)`.
    pub ratio: f64,
    /// Robust z-score of the log ratio.
    pub z: f64,
}

/// The distribution of length ratios, and the bounds beyond which a pair is an outlier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RatioStats {
    /// Median of `(target_len + 1) / (source_len + 1)` over non-blank pairs.
    pub median_ratio: f64,
    /// Smallest ratio that is not an outlier.
    pub lower_bound: f64,
    /// Largest ratio that is not an outlier.
    pub upper_bound: f64,
}

/// Complete counts of a pair audit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PairSummary {
    /// Pairs.
    pub rows: usize,
    /// Pairs with a blank (empty or whitespace-only) source.
    pub blank_source: usize,
    /// Pairs with a blank target.
    pub blank_target: usize,
    /// Untranslated copies.
    pub copies: usize,
    /// Length-ratio outliers.
    pub ratio_outliers: usize,
    /// Targets in the wrong script.
    pub wrong_script: usize,
    /// Groups of ≥ 2 identical pairs.
    pub duplicate_groups: usize,
    /// Pairs beyond the first of each duplicate group.
    pub duplicate_rows: usize,
}

/// Findings about translation pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairAudit {
    /// Complete counts.
    pub summary: PairSummary,
    /// Rows with a blank source.
    pub blank_source: Vec<usize>,
    /// Rows with a blank target.
    pub blank_target: Vec<usize>,
    /// Rows whose target is the source, after normalization.
    pub copies: Vec<usize>,
    /// Length-ratio distribution.
    pub ratio: RatioStats,
    /// Pearson's r of the log lengths of the two sides (None under 3 non-blank pairs or when a
    /// side's lengths do not vary).
    pub length_correlation: Option<f64>,
    /// Standard deviation of the non-blank sources' log lengths: how much room the lengths
    /// leave for a correlation to show (0 when every source has the same length).
    pub source_length_spread: f64,
    /// Length-ratio outliers, by row.
    pub ratio_outliers: Vec<RatioOutlier>,
    /// The expected target script, if one was given.
    pub target_script: Option<Script>,
    /// Rows whose target has letters but none of the expected script.
    pub wrong_script: Vec<usize>,
    /// Groups of rows with the same normalized source and target.
    pub duplicate_groups: Vec<Vec<usize>>,
    /// Scripts of the sources.
    pub source_scripts: ScriptCounts,
    /// Scripts of the targets.
    pub target_scripts: ScriptCounts,
}

/// Length of a text in units (see the module documentation).
pub fn length_units(text: &str) -> usize {
    text.split(is_space)
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.is_ascii() {
                return 1;
            }
            let mut units = 0;
            let mut in_word = false;
            for c in w.chars() {
                if matches!(char_script(c), Some(Script::Han | Script::Kana | Script::Thai)) {
                    units += 1;
                    in_word = false;
                } else if c.is_alphanumeric() {
                    if !in_word {
                        units += 1;
                    }
                    in_word = true;
                }
            }
            units.max(1)
        })
        .sum()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Pearson's correlation of the pairs (None under 3 pairs or without variance on a side).
pub fn pearson(xy: &[(f64, f64)]) -> Option<f64> {
    if xy.len() < 3 {
        return None;
    }
    let n = xy.len() as f64;
    let (mx, my) = (
        xy.iter().map(|p| p.0).sum::<f64>() / n,
        xy.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in xy {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Audits translation pairs; `target_script` is the script targets should be written in.
pub fn audit_pairs(
    sources: &[&str],
    targets: &[&str],
    target_script: Option<Script>,
    cfg: &AuditConfig,
) -> Result<PairAudit, AuditError> {
    if sources.len() != targets.len() {
        return Err(AuditError::Invalid(format!(
            "{} sources but {} targets",
            sources.len(),
            targets.len()
        )));
    }
    let n = sources.len();
    struct Row {
        sblank: bool,
        tblank: bool,
        copy: bool,
        slen: usize,
        tlen: usize,
        sprof: ScriptProfile,
        tprof: ScriptProfile,
        key: u64,
    }
    let rows: Vec<Row> = (0..n)
        .into_par_iter()
        .with_min_len(1024)
        .map_init(String::new, |buf, r| {
            let (s, t) = (sources[r], targets[r]);
            let (sblank, tblank) = (is_blank(s), is_blank(t));
            let key = mix64(key_hash(s, buf) ^ key_hash(t, buf).rotate_left(17));
            Row {
                sblank,
                tblank,
                copy: !sblank && !tblank && same_key(s, t),
                slen: length_units(s),
                tlen: length_units(t),
                sprof: ScriptProfile::of(s),
                tprof: ScriptProfile::of(t),
                key,
            }
        })
        .collect();

    let blank_source: Vec<usize> = (0..n).filter(|&r| rows[r].sblank).collect();
    let blank_target: Vec<usize> = (0..n).filter(|&r| rows[r].tblank).collect();
    let copies: Vec<usize> = (0..n).filter(|&r| rows[r].copy).collect();

    // Length ratios over pairs with both sides non-blank.
    let lr = |r: &Row| ((r.tlen as f64 + 1.0) / (r.slen as f64 + 1.0)).ln();
    let mut logs: Vec<f64> = rows.iter().filter(|r| !r.sblank && !r.tblank).map(lr).collect();
    let med = median(&mut logs);
    let mut dev: Vec<f64> = logs.iter().map(|x| (x - med).abs()).collect();
    let scale = (1.4826 * median(&mut dev)).max(0.05);
    let ratio_outliers: Vec<RatioOutlier> = (0..n)
        .filter(|&r| !rows[r].sblank && !rows[r].tblank && rows[r].slen.max(rows[r].tlen) >= cfg.ratio_min_len)
        .filter_map(|r| {
            let z = (lr(&rows[r]) - med) / scale;
            (z.abs() > cfg.ratio_z).then(|| RatioOutlier {
                row: r,
                source_len: rows[r].slen,
                target_len: rows[r].tlen,
                ratio: lr(&rows[r]).exp(),
                z,
            })
        })
        .collect();
    let ratio = RatioStats {
        median_ratio: med.exp(),
        lower_bound: (med - cfg.ratio_z * scale).exp(),
        upper_bound: (med + cfg.ratio_z * scale).exp(),
    };

    let sides: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| !r.sblank && !r.tblank)
        .map(|r| ((r.slen as f64 + 1.0).ln(), (r.tlen as f64 + 1.0).ln()))
        .collect();
    let length_correlation = pearson(&sides);
    let source_length_spread = {
        let m = sides.iter().map(|p| p.0).sum::<f64>() / sides.len().max(1) as f64;
        (sides.iter().map(|p| (p.0 - m) * (p.0 - m)).sum::<f64>() / sides.len().max(1) as f64).sqrt()
    };

    let wrong_script: Vec<usize> = match target_script {
        Some(s) => (0..n)
            .filter(|&r| rows[r].tprof.letters() > 0 && !rows[r].tprof.contains(s))
            .collect(),
        None => Vec::new(),
    };

    // Duplicate pairs: key on both normalized sides, verified.
    let mut first_of: U64Map<u32> = U64Map::default();
    let mut groups: U64Map<Vec<usize>> = U64Map::default();
    for r in 0..n {
        let mut h = rows[r].key;
        loop {
            match first_of.get(&h) {
                None => {
                    first_of.insert(h, r as u32);
                    break;
                }
                Some(&f) => {
                    let f = f as usize;
                    if same_key(sources[f], sources[r]) && same_key(targets[f], targets[r]) {
                        groups.entry(mix64(f as u64)).or_insert_with(|| vec![f]).push(r);
                        break;
                    }
                    h = mix64(h.wrapping_add(1));
                }
            }
        }
    }
    let mut duplicate_groups: Vec<Vec<usize>> = groups.into_values().collect();
    duplicate_groups.sort_unstable_by_key(|g| g[0]);

    let sprofs: Vec<ScriptProfile> = rows.iter().map(|r| r.sprof).collect();
    let tprofs: Vec<ScriptProfile> = rows.iter().map(|r| r.tprof).collect();
    let summary = PairSummary {
        rows: n,
        blank_source: blank_source.len(),
        blank_target: blank_target.len(),
        copies: copies.len(),
        ratio_outliers: ratio_outliers.len(),
        wrong_script: wrong_script.len(),
        duplicate_groups: duplicate_groups.len(),
        duplicate_rows: duplicate_groups.iter().map(|g| g.len() - 1).sum(),
    };
    Ok(PairAudit {
        summary,
        blank_source: cfg.cap(blank_source),
        blank_target: cfg.cap(blank_target),
        copies: cfg.cap(copies),
        ratio,
        length_correlation,
        source_length_spread,
        ratio_outliers: cfg.cap(ratio_outliers),
        target_script,
        wrong_script: cfg.cap(wrong_script),
        duplicate_groups: cfg.cap(duplicate_groups),
        source_scripts: ScriptCounts::from_profiles(&sprofs, cfg.max_examples_per_finding),
        target_scripts: ScriptCounts::from_profiles(&tprofs, cfg.max_examples_per_finding),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(length_units("Hello there, world!"), 3);
        assert_eq!(length_units("我爱北京。"), 4);
        assert_eq!(length_units("iPhone手机 好"), 4);
        assert_eq!(length_units("   "), 0);
    }
}
