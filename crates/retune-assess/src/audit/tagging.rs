//! `retune audit --task ner`: the tagged-data checks of `retune_data::audit::tagged` per split
//! and between train and the other splits, and, with a model, how its tokenizer splits the words
//! (unknown tokens, fertility, words without a token, sentences longer than the model) and token
//! label noise: cleanlab's token-classification method — every word's out-of-fold probabilities
//! from a probe on the frozen encoder's first-sub-word states (folds by sentence), flattened,
//! through confident learning (`find_label_issues`, self-confidence ranking), mapped back to
//! (sentence, word).

use retune_data::audit::tagged::{audit_tagged_split, find_tagged_leakage, surface_overlap, TagAuditConfig, TaggedRow};
use retune_data::tagged::TaggedCorpus;
use retune_models::arch::{Head, ModelConfig};
use retune_models::text_tokenizer::TextTokenizer;
use retune_train::classify::prepare_model;
use retune_train::probe::{group_folds, out_of_fold_proba_in, Features, ProbeConfig};
use retune_train::strategy::Strategy;
use retune_train::tag::{label_list, word_features, word_targets, TagConfig, TaggedSentences};
use std::path::Path;

use super::{fit_of, pct, AuditOptions, AuditReport, Finding, LabelNoise, Severity};
use crate::error::Result;

fn rows_of(c: &TaggedCorpus) -> Vec<TaggedRow<'_>> {
    c.sentences
        .iter()
        .map(|s| TaggedRow {
            tokens: &s.tokens,
            tags: &s.tags,
        })
        .collect()
}

/// The frozen encoder's features of the training split's words and which words have a token
/// ([`retune_train::tag::word_features`]), when the caller has them already.
pub type WordFeatures<'a> = (&'a Features, &'a [bool]);

/// Audits token-tagged data: `splits` are (name, corpus) with `train` first. With `model` (a
/// model folder), also how its tokenizer splits the words and the training split's token label
/// noise, from `features` of train's words when given (computed otherwise). `progress` hears
/// what runs.
pub fn audit_tagging(
    splits: &[(&str, &TaggedCorpus)],
    model: Option<&Path>,
    features: Option<WordFeatures>,
    opts: &AuditOptions,
    mut progress: impl FnMut(&str),
) -> Result<AuditReport> {
    let cfg = TagAuditConfig::default();
    let n_show = opts.rows_per_finding;
    let mut findings = Vec::new();
    let mut tagged = Vec::new();
    let rows: Vec<Vec<TaggedRow>> = splits.iter().map(|(_, c)| rows_of(c)).collect();
    for (i, (name, corpus)) in splits.iter().enumerate() {
        let a = audit_tagged_split(&rows[i], &cfg);
        let at = |r: usize| corpus.location(r);
        if a.violation_count > 0 {
            findings.push(Finding {
                severity: Severity::High,
                kind: "tag-scheme".into(),
                message: format!(
                    "{name}: {} tags break the {} scheme (entities are cut or merged where they stand)",
                    a.violation_count, a.scheme
                ),
                rows: a
                    .violations
                    .iter()
                    .take(n_show)
                    .map(|v| format!("{} token {}: {} — {}", at(v.row), v.token + 1, v.tag, v.why))
                    .collect(),
            });
        }
        if !a.empty.is_empty() {
            findings.push(Finding {
                severity: Severity::Medium,
                kind: "empty".into(),
                message: format!("{name}: {} sentences without a token", a.empty.len()),
                rows: a.empty.iter().take(n_show).map(|&r| at(r)).collect(),
            });
        }
        if !a.conflict_groups.is_empty() {
            let n: usize = a.conflict_groups.iter().map(|g| g.len()).sum();
            findings.push(Finding {
                severity: Severity::High,
                kind: "conflicting-tags".into(),
                message: format!(
                    "{name}: {} groups of identical sentences ({n} sentences) are tagged differently",
                    a.conflict_groups.len()
                ),
                rows: a
                    .conflict_groups
                    .iter()
                    .take(n_show)
                    .map(|g| g.iter().map(|&r| at(r)).collect::<Vec<_>>().join(" = "))
                    .collect(),
            });
        }
        if !a.duplicate_groups.is_empty() {
            let extra: usize = a.duplicate_groups.iter().map(|g| g.len() - 1).sum();
            findings.push(Finding {
                severity: Severity::Low,
                kind: "duplicates".into(),
                message: format!("{name}: {extra} repeated sentences (same tokens and tags)"),
                rows: a
                    .duplicate_groups
                    .iter()
                    .take(n_show)
                    .map(|g| g.iter().map(|&r| at(r)).collect::<Vec<_>>().join(" = "))
                    .collect(),
            });
        }
        if !a.rare_types.is_empty() {
            let list: Vec<String> = a
                .rare_types
                .iter()
                .map(|t| format!("{t} {}", a.types[t].entities))
                .collect();
            findings.push(Finding {
                severity: if i == 0 { Severity::Medium } else { Severity::Low },
                kind: "rare-types".into(),
                message: format!(
                    "{name}: entity types with fewer than {} entities: {}",
                    cfg.rare_entities,
                    list.join(", ")
                ),
                rows: vec![],
            });
        }
        tagged.push((name.to_string(), a));
    }
    let mut tag_leakage = Vec::new();
    let mut overlaps = Vec::new();
    if let Some(((_, train_corpus), rest)) = splits.split_first() {
        let train_types = &tagged[0].1.types;
        for (j, (name, corpus)) in rest.iter().enumerate() {
            let missing: Vec<&String> = tagged[j + 1]
                .1
                .types
                .keys()
                .filter(|t| !train_types.contains_key(*t))
                .collect();
            if !missing.is_empty() {
                findings.push(Finding {
                    severity: Severity::High,
                    kind: "unseen-types".into(),
                    message: format!(
                        "{name}: entity types that train never shows: {}",
                        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    rows: vec![],
                });
            }
            let l = find_tagged_leakage(&rows[0], &rows[j + 1], &cfg);
            if l.exact_count > 0 {
                findings.push(Finding {
                    severity: Severity::High,
                    kind: "leakage".into(),
                    message: format!(
                        "{name}: {} sentences also occur in train ({} of them tagged differently there)",
                        l.exact_count, l.conflicting_count
                    ),
                    rows: l
                        .exact
                        .iter()
                        .take(n_show)
                        .map(|&(r, t)| format!("{} = {}", corpus.location(r), train_corpus.location(t)))
                        .collect(),
                });
            }
            let o = surface_overlap(&rows[0], &rows[j + 1]);
            if o.entities > 0 {
                let per: Vec<String> = o
                    .per_type
                    .iter()
                    .map(|(k, (n, s))| format!("{k} {:.0}%", pct(*s, *n)))
                    .collect();
                findings.push(Finding {
                    severity: Severity::Low,
                    kind: "seen-entities".into(),
                    message: format!(
                        "{name}: {} of {} entities ({:.1}%) occur in train with the same words and type ({:.1}% with any type); by type: {}",
                        o.seen_same_type,
                        o.entities,
                        pct(o.seen_same_type, o.entities),
                        pct(o.seen_any_type, o.entities),
                        per.join(", ")
                    ),
                    rows: vec![],
                });
            }
            tag_leakage.push((name.to_string(), l));
            overlaps.push((name.to_string(), o));
        }
    }
    let mut token_fits = Vec::new();
    let mut max_positions = None;
    let mut label_noise = None;
    if let Some(dir) = model {
        progress("tokenizing");
        let config = ModelConfig::from_dir(dir)?;
        let max_pos = config.arch().max_positions();
        max_positions = Some(max_pos);
        let tok = TextTokenizer::load(dir, usize::MAX)?;
        let unk = tok.unk_id();
        for (name, corpus) in splits {
            let sentences: Vec<Vec<&str>> = corpus
                .sentences
                .iter()
                .map(|s| s.tokens.iter().map(String::as_str).collect())
                .collect();
            let enc = tok.encode_words(&sentences)?;
            let lens: Vec<usize> = enc.iter().map(|e| e.ids.len()).collect();
            let total: usize = lens.iter().sum();
            let pieces: usize = enc.iter().map(|e| e.words.iter().filter(|w| w.is_some()).count()).sum();
            let words: usize = sentences.iter().map(|s| s.len()).sum();
            let unks: usize = unk
                .map(|u| enc.iter().map(|e| e.ids.iter().filter(|&&t| t == u).count()).sum())
                .unwrap_or(0);
            // Words the tokenizer turns into no piece: they get no label in training and `O`
            // at prediction.
            let mut pieceless = Vec::new();
            for (r, e) in enc.iter().enumerate() {
                let mut has = vec![false; sentences[r].len()];
                e.words.iter().flatten().for_each(|&w| has[w] = true);
                for (w, h) in has.iter().enumerate() {
                    if !h {
                        pieceless.push((r, w));
                    }
                }
            }
            let fit = fit_of(
                name,
                lens,
                max_pos,
                unks as f64 / total.max(1) as f64,
                pieces as f64 / words.max(1) as f64,
            );
            let truncated_rows = fit.truncated_rows;
            if fit.unk_rate >= 0.005 {
                findings.push(Finding {
                    severity: if fit.unk_rate >= 0.02 { Severity::High } else { Severity::Medium },
                    kind: "unknown-tokens".into(),
                    message: format!(
                        "{name}: {:.2}% of tokens are unknown to the model's vocabulary (fertility {:.2} pieces/word): the model cannot tell those words apart{}",
                        100.0 * fit.unk_rate,
                        fit.fertility,
                        if fit.unk_rate >= 0.02 {
                            "; choose a model whose vocabulary covers this text's script (a multilingual one such as XLM-R)"
                        } else {
                            ""
                        }
                    ),
                    rows: vec![],
                });
            }
            if !pieceless.is_empty() {
                findings.push(Finding {
                    severity: Severity::Low,
                    kind: "pieceless-words".into(),
                    message: format!(
                        "{name}: {} words become no token (their tags are not learned; predicted O)",
                        pieceless.len()
                    ),
                    rows: pieceless
                        .iter()
                        .take(n_show)
                        .map(|&(r, w)| format!("{} word {}: {:?}", corpus.location(r), w + 1, sentences[r][w]))
                        .collect(),
                });
            }
            if truncated_rows > 0 {
                findings.push(Finding {
                    severity: Severity::Low,
                    kind: "long-sentences".into(),
                    message: format!(
                        "{name}: {truncated_rows} sentences exceed the model's {max_pos} positions (split into overlapping windows)"
                    ),
                    rows: vec![],
                });
            }
            token_fits.push(fit);
        }
        if let Some((_, train)) = splits.first() {
            let (noise, finding) = token_label_noise(train, dir, features, opts, &mut progress)?;
            findings.extend(finding);
            label_noise = noise;
        }
    }
    findings.sort_by_key(|f| f.severity);
    let labels = tagged
        .first()
        .map(|(_, a)| a.tag_counts.keys().cloned().collect())
        .unwrap_or_default();
    Ok(AuditReport {
        task: "ner".into(),
        labels,
        splits: Vec::new(),
        leakage: Vec::new(),
        pairs: Vec::new(),
        max_positions,
        token_fit: token_fits,
        label_noise,
        tagged,
        tag_leakage,
        surface_overlap: overlaps,
        findings,
    })
}

/// Token label noise of `train` by confident learning on out-of-fold probe probabilities (see
/// the module doc); None when the split has fewer than two tags or sentences than folds.
fn token_label_noise(
    train: &TaggedCorpus,
    dir: &Path,
    features: Option<WordFeatures>,
    opts: &AuditOptions,
    progress: &mut impl FnMut(&str),
) -> Result<(Option<LabelNoise>, Option<Finding>)> {
    let data = TaggedSentences {
        name: "train".into(),
        words: train.sentences.iter().map(|s| s.tokens.clone()).collect(),
        tags: train.sentences.iter().map(|s| s.tags.clone()).collect(),
    };
    let labels = label_list(&data.tags);
    let folds = opts.folds.max(2);
    if labels.len() < 2 || data.words.len() < folds {
        return Ok((None, None));
    }
    let computed;
    let (features, has_token) = match features {
        Some(f) => f,
        None => {
            let cfg = TagConfig::default();
            let st = prepare_model(
                dir,
                Head::TokenClassification,
                &labels,
                &Strategy::Probe,
                cfg.max_length,
                &opts.device,
            )?;
            computed = word_features(&st, &data, &cfg, &mut |done, total| {
                progress(&format!("features for label noise: {done}/{total} sentences"))
            })?;
            (&computed.0, computed.1.as_slice())
        }
    };
    // Words without a token have no features: they are left out (the pieceless-words finding
    // names them).
    let t = word_targets(&data, &labels, has_token)?;
    let x = features.select(&t.rows);
    let by_sentence = group_folds(data.words.len(), folds, opts.seed);
    let fold: Vec<usize> = t.place.iter().map(|&(si, _)| by_sentence[si]).collect();
    progress("label noise: out-of-fold token probe");
    let k = labels.len();
    let pc = ProbeConfig {
        c: opts.noise_probe_c,
        ..Default::default()
    };
    let probs = out_of_fold_proba_in(&x, &t.ids, k, &fold, folds, pc);
    let noise = LabelNoise::estimate(
        &t.ids,
        &probs,
        k,
        folds,
        opts,
        |l| labels[l as usize].clone(),
        |r| {
            let (si, wi) = t.place[r];
            format!("{} word {}: {:?}", train.location(si), wi + 1, data.words[si][wi])
        },
    )?;
    let rate = noise.noise_rate_estimate;
    let finding = Finding {
        severity: if rate >= 0.05 { Severity::Medium } else { Severity::Low },
        kind: "label-noise".into(),
        message: format!(
            "train: an estimated {:.1}% of word tags are wrong ({} words flagged by confident learning on an out-of-fold token probe; its accuracy {:.1}%)",
            100.0 * rate,
            noise.issues,
            100.0 * noise.probe_oof_accuracy
        ),
        rows: noise.example_rows(opts.rows_per_finding),
    };
    Ok((Some(noise), Some(finding)))
}
