//! `retune audit`: what is wrong with the data before training on it. The model-free checks of
//! `retune-data` (sizes, balance, duplicates, conflicts, near-duplicates, leakage, empties,
//! scripts, translation-pair checks) plus, with a model, lengths against its maximum positions,
//! unknown-token rate and fertility of its tokenizer, and label noise estimated by confident
//! learning on out-of-fold probabilities of a frozen-feature probe.

use candle_core::Device;
use retune_data::audit::confident::{find_label_issues, label_quality_scores, LabelIssueOptions, RankBy};
use retune_data::audit::tagged::{SurfaceOverlap, TagLeakage, TagSplitAudit};
use retune_data::audit::{
    audit_pairs, audit_split, find_leakage_labeled, AuditConfig, Leakage, PairAudit, Script, SplitAudit,
};
use retune_data::{LabelSet, PairDataset, TextDataset};
use retune_models::text_tokenizer::EncodedRow;
use retune_train::classify::{features_of, prepare_classifier, LabeledTexts};
use retune_train::probe::{argmax_rows, out_of_fold_proba, Features, ProbeConfig};
use retune_train::strategy::Strategy;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Result;

mod tagging;
pub use tagging::{audit_tagging, WordFeatures};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Will distort training or evaluation: fix first.
    High,
    /// Worth fixing.
    Medium,
    /// Worth knowing.
    Low,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        })
    }
}

/// One finding, with the rows behind it (`file:line`, at most a few listed).
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// Short kind: `leakage`, `duplicates`, `label-noise`, ...
    pub kind: String,
    /// One line for people.
    pub message: String,
    /// Example rows.
    pub rows: Vec<String>,
}

/// Options of the audit.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// The model-free checks' settings.
    pub checks: AuditConfig,
    /// Folds of the out-of-fold probe for label noise. Default 5.
    pub folds: usize,
    /// Rows listed per finding. Default 5.
    pub rows_per_finding: usize,
    /// Most-likely-mislabeled rows kept in the report. Default 50.
    pub top_label_issues: usize,
    /// Seed (folds). Default 0.
    pub seed: u64,
    /// Rows per batch for features. Default 64.
    pub batch_size: usize,
    /// Inverse regularization of the label-noise probe. Default 0.01: strong regularization
    /// ranked injected flips best on Rotten Tomatoes (precision at the flip count 0.30 with
    /// C = 0.01, 0.26 with C = 1, scikit-learn on MiniLM features).
    pub noise_probe_c: f64,
    /// Where the model runs. Default the CPU.
    pub device: Device,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            checks: AuditConfig::default(),
            folds: 5,
            rows_per_finding: 5,
            top_label_issues: 50,
            seed: 0,
            batch_size: 64,
            noise_probe_c: 0.01,
            device: retune_models::device::host(),
        }
    }
}

/// One split's model-free audit.
#[derive(Clone, Debug, Serialize)]
pub struct SplitReport {
    /// `train`, `eval` or `test`.
    pub name: String,
    /// Its files.
    pub files: Vec<PathBuf>,
    /// Rows per label name.
    pub class_counts: BTreeMap<String, usize>,
    /// The checks' results (row indices are 0-based into the split).
    pub audit: SplitAudit,
}

/// How the model's tokenizer sees one split.
#[derive(Clone, Debug, Serialize)]
pub struct TokenFit {
    /// Split name.
    pub split: String,
    /// Median tokens per row (special tokens included).
    pub median_tokens: usize,
    /// 95th percentile of tokens per row.
    pub p95_tokens: usize,
    /// Longest row in tokens (before truncation).
    pub max_tokens: usize,
    /// Rows longer than the model's maximum positions (truncated).
    pub truncated_rows: usize,
    /// Share of tokens that are the unknown token.
    pub unk_rate: f64,
    /// Tokens per whitespace word (without special tokens).
    pub fertility: f64,
}

/// Label noise estimated by confident learning.
#[derive(Clone, Debug, Serialize)]
pub struct LabelNoise {
    /// Folds of the out-of-fold probe.
    pub folds: usize,
    /// Accuracy of the out-of-fold probe predictions on the given labels.
    pub probe_oof_accuracy: f64,
    /// cleanlab's estimate of the share of mislabeled rows.
    pub noise_rate_estimate: f64,
    /// Rows flagged as label issues (`prune_by_noise_rate`).
    pub issues: usize,
    /// The rows most likely mislabeled, worst first: (row index, location, given label,
    /// predicted label, self-confidence).
    pub ranked: Vec<(usize, String, String, String, f64)>,
    /// Self-confidence (probability of the given label) of every row, for rankings.
    #[serde(skip)]
    pub scores: Vec<f64>,
}

impl LabelNoise {
    /// Confident learning on out-of-fold probabilities `probs` (n × k, from `folds` folds) of the
    /// given labels `y` (cleanlab's `find_label_issues`, self-confidence ranking): the noise estimate, the
    /// flagged rows, the `opts.top_label_issues` most likely mislabeled (labels named by `name`,
    /// rows placed by `locate`) and every row's self-confidence.
    fn estimate(
        y: &[u32],
        probs: &[f32],
        k: usize,
        folds: usize,
        opts: &AuditOptions,
        name: impl Fn(u32) -> String,
        locate: impl Fn(usize) -> String,
    ) -> Result<LabelNoise> {
        let pred = argmax_rows(probs, k);
        let acc = pred.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len().max(1) as f64;
        let issues = find_label_issues(y, probs, k, &LabelIssueOptions::default())?;
        let scores = label_quality_scores(y, probs, k, RankBy::SelfConfidence)?;
        let ranked = issues
            .ranked_rows
            .iter()
            .take(opts.top_label_issues)
            .map(|&r| (r, locate(r), name(y[r]), name(pred[r]), scores[r]))
            .collect();
        Ok(LabelNoise {
            folds,
            probe_oof_accuracy: acc,
            noise_rate_estimate: issues.noise_rate_estimate,
            issues: issues.issue_rows.len(),
            ranked,
            scores,
        })
    }

    /// The first `n` ranked rows as `location (given -> predicted)`, for a finding.
    fn example_rows(&self, n: usize) -> Vec<String> {
        self.ranked
            .iter()
            .take(n)
            .map(|r| format!("{} ({} -> {})", r.1, r.2, r.3))
            .collect()
    }
}

/// Everything the audit found.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// `classify`, `translate` or `ner`.
    pub task: String,
    /// Label names (classification).
    pub labels: Vec<String>,
    /// Per split.
    pub splits: Vec<SplitReport>,
    /// Leakage between splits: (`from->to`, result) for every earlier/later pair of splits.
    pub leakage: Vec<(String, Leakage)>,
    /// Translation-pair checks per split.
    pub pairs: Vec<(String, PairAudit)>,
    /// The model's maximum positions, when a model was given.
    pub max_positions: Option<usize>,
    /// Tokenizer fit per split.
    pub token_fit: Vec<TokenFit>,
    /// Label noise of the training split.
    pub label_noise: Option<LabelNoise>,
    /// Token-tagged (NER) checks per split.
    pub tagged: Vec<(String, TagSplitAudit)>,
    /// Sentences of each later split that occur in train (NER).
    pub tag_leakage: Vec<(String, TagLeakage)>,
    /// Entities of each later split seen in train (NER).
    pub surface_overlap: Vec<(String, SurfaceOverlap)>,
    /// The findings, worst first.
    pub findings: Vec<Finding>,
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

fn locations(ds: &TextDataset, rows: impl IntoIterator<Item = usize>, n: usize) -> Vec<String> {
    rows.into_iter()
        .take(n)
        .map(|r| ds.location(ds.examples[r].row))
        .collect()
}

fn class_counts(ds: &TextDataset, labels: &LabelSet) -> BTreeMap<String, usize> {
    let mut m: BTreeMap<String, usize> = labels.names().iter().map(|n| (n.clone(), 0)).collect();
    for e in &ds.examples {
        if let Some(l) = &e.label {
            *m.entry(l.clone()).or_default() += 1;
        }
    }
    m
}

fn token_fit(split: &str, rows: &[EncodedRow], texts: &[&str], unk: Option<u32>, max_pos: usize) -> TokenFit {
    let lens: Vec<usize> = rows.iter().map(|r| r.ids.len()).collect();
    let total: usize = lens.iter().sum();
    let unks: usize = unk
        .map(|u| rows.iter().map(|r| r.ids.iter().filter(|&&t| t == u).count()).sum())
        .unwrap_or(0);
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let specials = rows.len() * 2;
    fit_of(
        split,
        lens,
        max_pos,
        unks as f64 / total.max(1) as f64,
        total.saturating_sub(specials) as f64 / words.max(1) as f64,
    )
}

/// Token-fit figures from each row's token count (special tokens included), the unknown-token
/// rate and the fertility.
fn fit_of(split: &str, mut lens: Vec<usize>, max_pos: usize, unk_rate: f64, fertility: f64) -> TokenFit {
    let truncated_rows = lens.iter().filter(|&&l| l > max_pos).count();
    lens.sort_unstable();
    let at = |q: f64| {
        lens.get(((lens.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    TokenFit {
        split: split.into(),
        median_tokens: at(0.5),
        p95_tokens: at(0.95),
        max_tokens: lens.last().copied().unwrap_or(0),
        truncated_rows,
        unk_rate,
        fertility,
    }
}

/// Audits classification data: `splits` are (name, dataset) with `train` first. With a model,
/// also checks tokens and estimates label noise on the training split (from `train_features`
/// when the caller already computed the frozen features of the training rows).
pub fn audit_classification(
    splits: &[(&str, &TextDataset)],
    labels: &LabelSet,
    model: Option<&Path>,
    train_features: Option<&Features>,
    opts: &AuditOptions,
    mut progress: impl FnMut(&str),
) -> Result<AuditReport> {
    let mut reports = Vec::new();
    let mut findings = Vec::new();
    let n_show = opts.rows_per_finding;
    let ids: Vec<Vec<u32>> = splits
        .iter()
        .map(|(_, ds)| labels.encode(ds))
        .collect::<std::result::Result<_, _>>()?;
    let texts: Vec<Vec<&str>> = splits
        .iter()
        .map(|(_, ds)| ds.examples.iter().map(|e| e.text.as_str()).collect())
        .collect();
    for (i, (name, ds)) in splits.iter().enumerate() {
        progress(&format!("checking {name}"));
        let a = audit_split(&texts[i], Some(&ids[i]), &opts.checks)?;
        let s = &a.summary;
        if s.empty + s.whitespace_only > 0 {
            let rows: Vec<usize> = a.empty_rows.iter().chain(&a.whitespace_only_rows).copied().collect();
            findings.push(Finding {
                severity: Severity::High,
                kind: "empty-texts".into(),
                message: format!(
                    "{name}: {} empty and {} whitespace-only texts",
                    s.empty, s.whitespace_only
                ),
                rows: locations(ds, rows, n_show),
            });
        }
        if s.conflicting_texts > 0 {
            let rows = a
                .conflicts
                .iter()
                .flat_map(|c| c.rows_by_label.iter().map(|(_, r)| r[0]));
            findings.push(Finding {
                severity: Severity::High,
                kind: "conflicting-labels".into(),
                message: format!(
                    "{name}: {} texts occur with different labels ({} rows)",
                    s.conflicting_texts, s.conflicting_rows
                ),
                rows: locations(ds, rows, n_show),
            });
        }
        if s.duplicate_rows > 0 {
            let share = pct(s.duplicate_rows, s.rows);
            findings.push(Finding {
                severity: if share >= 5.0 { Severity::Medium } else { Severity::Low },
                kind: "duplicates".into(),
                message: format!(
                    "{name}: {} rows ({share:.1}%) repeat an earlier text ({} groups)",
                    s.duplicate_rows, s.duplicate_groups
                ),
                rows: locations(
                    ds,
                    a.duplicate_groups.iter().flat_map(|g| g.iter().skip(1).copied()),
                    n_show,
                ),
            });
        }
        if s.near_duplicate_pairs > 0 {
            let share = pct(s.near_duplicate_rows, s.rows);
            findings.push(Finding {
                severity: if share >= 5.0 { Severity::Medium } else { Severity::Low },
                kind: "near-duplicates".into(),
                message: format!(
                    "{name}: {} near-duplicate pairs (Jaccard >= {}) in {} groups",
                    s.near_duplicate_pairs, opts.checks.near_dup_threshold, s.near_duplicate_groups
                ),
                rows: locations(ds, a.near_duplicates.iter().map(|p| p.b), n_show),
            });
        }
        let counts = class_counts(ds, labels);
        if *name == "train" && labels.len() > 1 {
            let max = counts.values().copied().max().unwrap_or(0);
            let min = counts.values().copied().min().unwrap_or(0);
            if min == 0 {
                let missing: Vec<&str> = counts
                    .iter()
                    .filter(|(_, &c)| c == 0)
                    .map(|(k, _)| k.as_str())
                    .collect();
                findings.push(Finding {
                    severity: Severity::High,
                    kind: "missing-class".into(),
                    message: format!("train has no rows of label(s) {}", missing.join(", ")),
                    rows: vec![],
                });
            } else if max as f64 / min as f64 >= 3.0 {
                findings.push(Finding {
                    severity: Severity::Medium,
                    kind: "class-imbalance".into(),
                    message: format!(
                        "train: largest class has {:.1}x the rows of the smallest ({max} vs {min})",
                        max as f64 / min as f64
                    ),
                    rows: vec![],
                });
            }
        }
        let sc = &a.scripts;
        if sc.dominant.len() > 1 {
            let total: usize = sc.dominant.values().sum();
            let minor: Vec<String> = sc
                .dominant
                .iter()
                .filter(|(s, &c)| Some(**s) != sc.majority && c > 0)
                .map(|(s, c)| format!("{} {c}", s.name()))
                .collect();
            let minor_rows: usize = sc
                .dominant
                .iter()
                .filter(|(s, _)| Some(**s) != sc.majority)
                .map(|(_, c)| c)
                .sum();
            findings.push(Finding {
                severity: if pct(minor_rows, total) >= 1.0 {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                kind: "scripts".into(),
                message: format!(
                    "{name}: mostly {}, also rows in {}",
                    sc.majority.map_or("no letters", |s| s.name()),
                    minor.join(", ")
                ),
                rows: vec![],
            });
        }
        reports.push(SplitReport {
            name: name.to_string(),
            files: ds.files.clone(),
            class_counts: counts,
            audit: a,
        });
    }
    // Leakage from train into the other splits.
    let mut leakage = Vec::new();
    for i in 0..splits.len() {
        for j in i + 1..splits.len() {
            let (src_name, train) = splits[i];
            let (name, ds) = splits[j];
            progress(&format!("leakage {src_name} -> {name}"));
            let l = find_leakage_labeled(&texts[i], &ids[i], &texts[j], &ids[j], &opts.checks)?;
            if l.summary.exact_rows > 0 {
                findings.push(Finding {
                    severity: Severity::High,
                    kind: "leakage".into(),
                    message: format!(
                        "{name}: {} rows ({:.1}%) also occur in {src_name} ({} distinct texts)",
                        l.summary.exact_rows,
                        pct(l.summary.exact_rows, ds.examples.len()),
                        l.summary.exact_distinct_texts
                    ),
                    rows: l
                        .exact
                        .iter()
                        .take(n_show)
                        .map(|r| {
                            format!(
                                "{} = {}",
                                ds.location(ds.examples[r.row].row),
                                train.location(train.examples[r.train_row].row)
                            )
                        })
                        .collect(),
                });
            }
            if l.summary.label_conflicts > 0 {
                findings.push(Finding {
                    severity: Severity::High,
                    kind: "conflicting-labels".into(),
                    message: format!(
                        "{name}: {} rows have a different label than the same text in {src_name}",
                        l.summary.label_conflicts
                    ),
                    rows: l
                        .label_conflicts
                        .iter()
                        .take(n_show)
                        .map(|c| {
                            format!(
                                "{} ({}) vs {} ({})",
                                ds.location(ds.examples[c.row].row),
                                labels.name(c.label as usize).unwrap_or("?"),
                                train.location(train.examples[c.train_row].row),
                                labels.name(c.train_label as usize).unwrap_or("?")
                            )
                        })
                        .collect(),
                });
            }
            if l.summary.near_rows > 0 {
                findings.push(Finding {
                    severity: if pct(l.summary.near_rows, ds.examples.len()) >= 2.0 {
                        Severity::Medium
                    } else {
                        Severity::Low
                    },
                    kind: "near-leakage".into(),
                    message: format!(
                        "{name}: {} rows are near-duplicates of {src_name} rows",
                        l.summary.near_rows
                    ),
                    rows: l
                        .near
                        .iter()
                        .take(n_show)
                        .map(|r| {
                            format!(
                                "{} ~ {} ({:.2})",
                                ds.location(ds.examples[r.row].row),
                                train.location(train.examples[r.train_row].row),
                                r.similarity
                            )
                        })
                        .collect(),
                });
            }
            leakage.push((format!("{src_name}->{name}"), l));
        }
    }
    let mut token_fits = Vec::new();
    let mut label_noise = None;
    let mut max_positions = None;
    if let Some(model) = model {
        progress("loading the model");
        let st = prepare_classifier(model, labels.names(), &Strategy::Probe, usize::MAX, &opts.device)?;
        let max_pos = st.config.arch().max_positions();
        // Lengths are counted without truncation (the model's tokenizer truncates at max_pos).
        let counting = st.tokenizer.untruncated()?;
        max_positions = Some(max_pos);
        let unk = counting.unk_id();
        let mut own_features = None;
        for (i, (name, _)) in splits.iter().enumerate() {
            progress(&format!("tokenizing {name}"));
            let rows = counting.encode_rows(&texts[i], None)?;
            let fit = token_fit(name, &rows, &texts[i], unk, max_pos);
            if fit.truncated_rows > 0 {
                findings.push(Finding {
                    severity: if pct(fit.truncated_rows, rows.len()) >= 1.0 {
                        Severity::Medium
                    } else {
                        Severity::Low
                    },
                    kind: "truncation".into(),
                    message: format!(
                        "{name}: {} rows ({:.1}%) exceed the model's {max_pos} positions and will be truncated",
                        fit.truncated_rows,
                        pct(fit.truncated_rows, rows.len())
                    ),
                    rows: vec![],
                });
            }
            if fit.unk_rate >= 0.005 {
                findings.push(Finding {
                    severity: if fit.unk_rate >= 0.02 {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    kind: "unknown-tokens".into(),
                    message: format!(
                        "{name}: {:.2}% of tokens are unknown to the model's vocabulary (fertility {:.2} tokens/word)",
                        100.0 * fit.unk_rate,
                        fit.fertility
                    ),
                    rows: vec![],
                });
            }
            token_fits.push(fit);
            if i == 0 && train_features.is_none() {
                progress("features for label noise");
                let data = LabeledTexts {
                    name: name.to_string(),
                    texts: texts[0].iter().map(|s| s.to_string()).collect(),
                    pairs: None,
                    labels: ids[0].clone(),
                };
                own_features = Some(features_of(&st, &data, opts.batch_size)?);
            }
        }
        if let Some(f) = train_features.or(own_features.as_ref()) {
            progress("label noise: out-of-fold probe");
            let k = labels.len();
            let y = &ids[0];
            let pc = ProbeConfig {
                c: opts.noise_probe_c,
                ..Default::default()
            };
            let probs = out_of_fold_proba(f, y, k, opts.folds, opts.seed, pc);
            let (_, train) = splits[0];
            let noise = LabelNoise::estimate(
                y,
                &probs,
                k,
                opts.folds,
                opts,
                |l| labels.name(l as usize).unwrap_or("?").to_string(),
                |r| train.location(train.examples[r].row),
            )?;
            let (rate, acc) = (noise.noise_rate_estimate, noise.probe_oof_accuracy);
            // Confident learning counts the probe's own mistakes as noise: the estimate is only
            // credible when the probe is strong (its error rate well above the estimate means
            // the labels, not the features, disagree with each other).
            let credible = acc >= 0.85;
            findings.push(Finding {
                severity: if rate >= 0.10 && credible {
                    Severity::High
                } else if rate >= 0.03 {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                kind: "label-noise".into(),
                message: format!(
                    "train: an estimated {:.1}% of labels are wrong ({} rows flagged by confident learning; out-of-fold probe accuracy {:.1}%{})",
                    100.0 * rate,
                    noise.issues,
                    100.0 * acc,
                    if credible { "" } else { "; with a probe this weak the estimate is an upper bound" }
                ),
                rows: noise.example_rows(n_show),
            });
            label_noise = Some(noise);
        }
    }
    findings.sort_by_key(|f| f.severity);
    Ok(AuditReport {
        task: "classify".into(),
        labels: labels.names().to_vec(),
        splits: reports,
        leakage,
        pairs: Vec::new(),
        max_positions,
        token_fit: token_fits,
        label_noise,
        tagged: Vec::new(),
        tag_leakage: Vec::new(),
        surface_overlap: Vec::new(),
        findings,
    })
}

/// Audits translation pairs: per split the pair checks (copies, length-ratio outliers, targets
/// in the wrong script, duplicates) and source leakage from train into the other splits.
pub fn audit_translation(
    splits: &[(&str, &PairDataset)],
    target_lang: &str,
    opts: &AuditOptions,
) -> Result<AuditReport> {
    let script = Script::parse(target_lang);
    let mut findings = Vec::new();
    let mut pairs = Vec::new();
    let n_show = opts.rows_per_finding;
    let srcs: Vec<Vec<&str>> = splits
        .iter()
        .map(|(_, d)| d.examples.iter().map(|e| e.source.as_str()).collect())
        .collect();
    for (i, (name, ds)) in splits.iter().enumerate() {
        let tg: Vec<&str> = ds.examples.iter().map(|e| e.target.as_str()).collect();
        let a = audit_pairs(&srcs[i], &tg, script, &opts.checks)?;
        let loc = |rows: &[usize]| -> Vec<String> {
            rows.iter()
                .take(n_show)
                .map(|&r| ds.location(ds.examples[r].row))
                .collect()
        };
        for (kind, rows, sev, what) in [
            ("blank-source", &a.blank_source, Severity::High, "blank sources"),
            ("blank-target", &a.blank_target, Severity::High, "blank targets"),
            (
                "untranslated",
                &a.copies,
                Severity::High,
                "targets equal to their source (untranslated)",
            ),
            (
                "wrong-script",
                &a.wrong_script,
                Severity::High,
                "targets not in the target language's script",
            ),
        ] {
            if !rows.is_empty() {
                findings.push(Finding {
                    severity: sev,
                    kind: kind.into(),
                    message: format!("{name}: {} {what}", rows.len()),
                    rows: loc(rows),
                });
            }
        }
        if !a.ratio_outliers.is_empty() {
            let rows: Vec<usize> = a.ratio_outliers.iter().map(|o| o.row).collect();
            findings.push(Finding {
                severity: Severity::Medium,
                kind: "length-ratio".into(),
                message: format!("{name}: {} pairs with an outlying length ratio", rows.len()),
                rows: loc(&rows),
            });
        }
        if !a.duplicate_groups.is_empty() {
            let rows: Vec<usize> = a
                .duplicate_groups
                .iter()
                .flat_map(|g| g.iter().skip(1).copied())
                .collect();
            findings.push(Finding {
                severity: Severity::Low,
                kind: "duplicates".into(),
                message: format!("{name}: {} repeated pairs", rows.len()),
                rows: loc(&rows),
            });
        }
        pairs.push((name.to_string(), a));
    }
    let mut leakage = Vec::new();
    if let Some(((_, _train), rest)) = splits.split_first() {
        for (j, (name, ds)) in rest.iter().enumerate() {
            let zeros_a = vec![0u32; srcs[0].len()];
            let zeros_b = vec![0u32; srcs[j + 1].len()];
            let l = find_leakage_labeled(&srcs[0], &zeros_a, &srcs[j + 1], &zeros_b, &opts.checks)?;
            if l.summary.exact_rows > 0 {
                findings.push(Finding {
                    severity: Severity::High,
                    kind: "leakage".into(),
                    message: format!("{name}: {} sources also occur in train", l.summary.exact_rows),
                    rows: l
                        .exact
                        .iter()
                        .take(n_show)
                        .map(|r| ds.location(ds.examples[r.row].row))
                        .collect(),
                });
            }
            leakage.push((name.to_string(), l));
        }
    }
    findings.sort_by_key(|f| f.severity);
    Ok(AuditReport {
        task: "translate".into(),
        labels: Vec::new(),
        splits: Vec::new(),
        leakage,
        pairs,
        max_positions: None,
        token_fit: Vec::new(),
        label_noise: None,
        tagged: Vec::new(),
        tag_leakage: Vec::new(),
        surface_overlap: Vec::new(),
        findings,
    })
}
