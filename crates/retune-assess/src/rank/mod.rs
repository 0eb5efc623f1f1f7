//! `retune rank`: which of these encoders to fine-tune, estimated before training from frozen
//! features. For each candidate, on a stratified sample of the training rows, the mean-pooled
//! features of every layer and their average over layers; on each, LogME and the H-score
//! ([`estimators`]), the accuracy of 10 nearest neighbours and of the linear probe. Candidates
//! are ranked by the layer-averaged LogME (averaging layers agrees better with the fine-tuned
//! ranking than the last layer: Garbas, Ploner, Akbik, Findings of ACL 2024).
//!
//! The ranking is meant to cost at most 5% of one epoch of fine-tuning every candidate. Its
//! cost is the candidates' forward passes over the rows it reads (a forward pass costs about a
//! third of a training step) plus loading and estimates, so the default sample is 6% of the
//! training rows (at least 100, at most 1,000 — [`RankConfig::sample_size`]);
//! `scripts/bench_rank.py` measures the share against real fine-tunes. For
//! classification the accuracies are therefore cross-validated on the sample (the probe on 3
//! stratified folds, the neighbours leave-one-out) unless an eval file is given, whose sample
//! then adds a quarter of the training sample's rows.

pub mod estimators;

use candle_core::Device;
use rayon::prelude::*;
use retune_data::tagged::TaggedCorpus;
use retune_data::{LabelSet, TextDataset};
use retune_models::arch::{Head, ModelConfig};
use retune_models::text_tokenizer::TextTokenizer;
use retune_train::batching::SplitMix;
use retune_train::classify::{parameter_count, prepare_model};
use retune_train::probe::{
    argmax_rows, extract_layer_features, knn_predict, knn_predict_loo, out_of_fold_proba, stratified_folds, Features,
    LogisticRegression, ProbeConfig,
};
use retune_train::strategy::Strategy;
use retune_train::tag::{label_list, word_layer_features, word_targets, TagConfig, TaggedSentences};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{AssessError, Result};

/// Settings of a ranking.
#[derive(Clone, Debug, Serialize)]
pub struct RankConfig {
    /// Training rows (sentences for tagging) sampled for the estimates. Default (None):
    /// [`RankConfig::sample_size`], 6% of the training rows, at least 100, at most 1,000.
    pub rows: Option<usize>,
    /// Longest input in tokens. Default 128.
    pub max_length: usize,
    /// Rows per forward batch. Default 64.
    pub batch_size: usize,
    /// Neighbours of the kNN accuracy. Default 10.
    pub neighbours: usize,
    /// Seed of the sample. Default 42.
    pub seed: u64,
    /// Where models run. Default the CPU.
    #[serde(skip)]
    pub device: Device,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            rows: None,
            max_length: 128,
            batch_size: 64,
            neighbours: 10,
            seed: 42,
            device: retune_models::device::host(),
        }
    }
}

/// Share of the training rows the default sample takes.
pub const SAMPLE_SHARE: f64 = 0.06;
/// Fewest rows of the default sample (all of them when there are fewer).
pub const SAMPLE_MIN: usize = 100;
/// Most rows of the default sample.
pub const SAMPLE_MAX: usize = 1000;
/// Folds of the cross-validated probe accuracy.
pub const PROBE_FOLDS: usize = 3;

impl RankConfig {
    /// Rows to sample of `available` training rows: `rows` when set, else [`SAMPLE_SHARE`] of
    /// them within [`SAMPLE_MIN`]..=[`SAMPLE_MAX`]; never more than there are.
    ///
    /// ```
    /// use retune_assess::rank::RankConfig;
    /// let auto = RankConfig::default();
    /// assert_eq!(auto.sample_size(8530), 512);
    /// assert_eq!(auto.sample_size(50_000), 1000);
    /// assert_eq!(auto.sample_size(1564), 100);
    /// assert_eq!(auto.sample_size(40), 40);
    /// let fixed = RankConfig { rows: Some(300), ..Default::default() };
    /// assert_eq!(fixed.sample_size(1564), 300);
    /// ```
    pub fn sample_size(&self, available: usize) -> usize {
        self.rows
            .unwrap_or_else(|| ((available as f64 * SAMPLE_SHARE).round() as usize).clamp(SAMPLE_MIN, SAMPLE_MAX))
            .min(available)
    }
}

/// Where the kNN and probe accuracies were measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccuracyOn {
    /// Rows of the eval file (fitted on the training sample).
    Eval,
    /// The training sample itself: the probe on [`PROBE_FOLDS`] stratified folds, the
    /// neighbours leave-one-out.
    CrossValidated,
}

/// The estimates on one layer's features (or their average over layers).
#[derive(Clone, Debug, Serialize)]
pub struct LayerScores {
    /// 1-based layer; 0 for the average over layers.
    pub layer: usize,
    /// LogME (higher is better).
    pub logme: f64,
    /// H-score with shrinkage (higher is better).
    pub hscore: f64,
    /// Accuracy of k nearest neighbours (cosine) among the sampled training rows
    /// ([`Ranking::accuracy_on`]).
    pub knn_accuracy: f64,
    /// Accuracy of the logistic-regression probe fitted on the sampled training rows
    /// ([`Ranking::accuracy_on`]).
    pub probe_accuracy: f64,
}

/// One candidate model.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    /// Model folder.
    pub model: PathBuf,
    /// `model_type`.
    pub model_type: String,
    /// Values of the encoder.
    pub parameters: usize,
    /// Per layer, first layer first.
    pub layers: Vec<LayerScores>,
    /// On the features averaged over layers: what the ranking uses.
    pub average: LayerScores,
    /// The layer with the highest LogME.
    pub best_layer: usize,
    /// Seconds for this candidate's features.
    pub feature_seconds: f64,
    /// Seconds for its estimates.
    pub estimate_seconds: f64,
}

/// The ranking.
#[derive(Clone, Debug, Serialize)]
pub struct Ranking {
    /// Candidates, best (highest layer-averaged LogME) first.
    pub candidates: Vec<Candidate>,
    /// Label names.
    pub labels: Vec<String>,
    /// What a row is: `rows` (texts) or `words` (`--task ner`).
    pub unit: String,
    /// Training rows sampled.
    pub train_rows: usize,
    /// Eval rows (0 when the accuracies are cross-validated).
    pub eval_rows: usize,
    /// Where the kNN and probe accuracies were measured.
    pub accuracy_on: AccuracyOn,
    /// The settings.
    pub config: RankConfig,
    /// Seconds of the whole ranking.
    pub seconds: f64,
}

/// A stratified sample of `n` of the rows labelled `y` (all when `n` is larger), sorted.
pub fn stratified_sample(y: &[u32], n: usize, seed: u64) -> Vec<usize> {
    if n >= y.len() {
        return (0..y.len()).collect();
    }
    let folds = (y.len() / n.max(1)).max(1);
    let f = stratified_folds(y, folds, seed);
    let mut idx: Vec<usize> = (0..y.len()).filter(|&i| f[i] == 0).collect();
    idx.truncate(n);
    idx
}

fn average(layers: &[Features]) -> Features {
    let mut x = layers[0].x.clone();
    for f in &layers[1..] {
        x.iter_mut().zip(&f.x).for_each(|(a, b)| *a += b);
    }
    let k = layers.len() as f32;
    x.iter_mut().for_each(|v| *v /= k);
    Features {
        x,
        n: layers[0].n,
        d: layers[0].d,
    }
}

fn accuracy(pred: &[u32], gold: &[u32]) -> f64 {
    pred.iter().zip(gold).filter(|(a, b)| a == b).count() as f64 / gold.len().max(1) as f64
}

/// Every layer's mean-pooled features of `texts` under the model in `dir`.
fn layer_features(dir: &Path, texts: &[&str], cfg: &RankConfig) -> Result<(Vec<Features>, ModelConfig, usize)> {
    let config = ModelConfig::from_dir(dir)?;
    let (params, model) = config.load_model(dir, Head::Base, &cfg.device)?;
    let tok = TextTokenizer::load(dir, cfg.max_length)?;
    let rows = tok.encode_rows(texts, None)?;
    let arch = config.arch();
    let f = extract_layer_features(
        model.as_ref(),
        arch.num_layers(),
        arch.hidden_size(),
        &tok,
        &rows,
        cfg.batch_size,
        &cfg.device,
        |_| {},
    )?;
    Ok((f, config.clone(), parameter_count(&params)))
}

/// Ranks the encoders in `models` for classifying `train`'s labels, on a stratified sample of
/// its rows ([`RankConfig::sample_size`]). With `eval`, the accuracies are measured on a
/// stratified sample of its rows a quarter the size of the training sample; without, they are
/// cross-validated on the training sample.
pub fn rank_classification(
    models: &[PathBuf],
    train: &TextDataset,
    eval: Option<&TextDataset>,
    labels: &LabelSet,
    cfg: &RankConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Ranking> {
    let t0 = Instant::now();
    if models.is_empty() {
        return Err(AssessError::Invalid("rank needs at least one --model".into()));
    }
    let ytrain_all = labels.encode(train)?;
    let idx = stratified_sample(&ytrain_all, cfg.sample_size(ytrain_all.len()), cfg.seed);
    let ytrain: Vec<u32> = idx.iter().map(|&i| ytrain_all[i]).collect();
    let n = idx.len();
    let mut texts: Vec<&str> = idx.iter().map(|&i| train.examples[i].text.as_str()).collect();
    let yeval = match eval {
        Some(eval) => {
            let yall = labels.encode(eval)?;
            let pick = stratified_sample(&yall, n.div_ceil(4).max(1), cfg.seed);
            texts.extend(pick.iter().map(|&i| eval.examples[i].text.as_str()));
            Some(pick.iter().map(|&i| yall[i]).collect::<Vec<u32>>())
        }
        None => None,
    };
    let k = labels.names().len();
    let mut candidates = Vec::new();
    for dir in models {
        progress(&format!("{}: features of every layer", dir.display()));
        let t1 = Instant::now();
        let (all, config, parameters) = layer_features(dir, &texts, cfg)?;
        let feature_seconds = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        let (layers, avg, best_layer) = score_layers(&all, n, &ytrain, yeval.as_deref(), k, cfg, &mut |i| {
            progress(&format!("{}: estimates on {i} layers and their average", dir.display()))
        });
        candidates.push(Candidate {
            model: dir.clone(),
            model_type: config.arch().model_type().to_string(),
            parameters,
            layers,
            average: avg,
            best_layer,
            feature_seconds,
            estimate_seconds: t2.elapsed().as_secs_f64(),
        });
    }
    candidates.sort_by(|a, b| b.average.logme.total_cmp(&a.average.logme));
    Ok(Ranking {
        candidates,
        labels: labels.names().to_vec(),
        unit: "rows".into(),
        train_rows: n,
        eval_rows: yeval.as_ref().map_or(0, |y| y.len()),
        accuracy_on: if yeval.is_some() {
            AccuracyOn::Eval
        } else {
            AccuracyOn::CrossValidated
        },
        config: cfg.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The estimates on every layer of `all` (rows `..n` train, the rest eval when `yeval` is
/// given) and on their average, and the layer with the highest LogME. Without `yeval` the
/// accuracies are cross-validated on the training rows.
fn score_layers(
    all: &[Features],
    n: usize,
    ytrain: &[u32],
    yeval: Option<&[u32]>,
    k: usize,
    cfg: &RankConfig,
    progress: &mut dyn FnMut(usize),
) -> (Vec<LayerScores>, LayerScores, usize) {
    let score = |layer: usize, f: &Features| -> LayerScores {
        let tr = f.select(&(0..n).collect::<Vec<_>>());
        let (knn, probe) = match yeval {
            Some(yeval) => {
                let ev = f.select(&(n..f.n).collect::<Vec<_>>());
                let probe = LogisticRegression::fit(&tr, ytrain, k, ProbeConfig::default());
                (
                    accuracy(&knn_predict(&tr, ytrain, &ev, cfg.neighbours, k), yeval),
                    accuracy(&argmax_rows(&probe.predict_proba(&ev), k), yeval),
                )
            }
            None => {
                let oof = out_of_fold_proba(&tr, ytrain, k, PROBE_FOLDS, cfg.seed, ProbeConfig::default());
                (
                    accuracy(&knn_predict_loo(&tr, ytrain, cfg.neighbours, k), ytrain),
                    accuracy(&argmax_rows(&oof, k), ytrain),
                )
            }
        };
        LayerScores {
            layer,
            logme: estimators::logme(&tr.x, tr.n, tr.d, ytrain),
            hscore: estimators::hscore(&tr.x, tr.n, tr.d, ytrain),
            knn_accuracy: knn,
            probe_accuracy: probe,
        }
    };
    // The layers' estimates are independent and mostly single-threaded (eigendecompositions,
    // small probes): score them side by side, the average among them.
    progress(all.len());
    let avg_features = average(all);
    let sets: Vec<(usize, &Features)> = all
        .iter()
        .enumerate()
        .map(|(i, f)| (i + 1, f))
        .chain(std::iter::once((0, &avg_features)))
        .collect();
    let mut layers: Vec<LayerScores> = sets.par_iter().map(|&(layer, f)| score(layer, f)).collect();
    let avg = layers.pop().expect("the average is scored last");
    let best_layer = layers
        .iter()
        .max_by(|a, b| a.logme.total_cmp(&b.logme))
        .map(|l| l.layer)
        .unwrap_or(0);
    (layers, avg, best_layer)
}

/// Ranks the encoders in `models` for tagging `train`'s words (token classification): the
/// features are each word's first sub-word on every layer (as the token probe of `assess --task
/// ner` reads them), of `cfg.rows` training sentences (a seeded sample) and at most as many eval
/// sentences (spread evenly); the labels are the words' tags, so LogME and H-score are per tag
/// and the accuracies are word accuracies. Words without a token are left out.
pub fn rank_tagging(
    models: &[PathBuf],
    train: &TaggedCorpus,
    eval: &TaggedCorpus,
    cfg: &RankConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Ranking> {
    let t0 = Instant::now();
    if models.is_empty() {
        return Err(AssessError::Invalid("rank needs at least one --model".into()));
    }
    let pick = |c: &TaggedCorpus, idx: &[usize], name: &str| TaggedSentences {
        name: name.into(),
        words: idx.iter().map(|&i| c.sentences[i].tokens.clone()).collect(),
        tags: idx.iter().map(|&i| c.sentences[i].tags.clone()).collect(),
    };
    let mut tr_idx: Vec<usize> = (0..train.sentences.len()).collect();
    let rows = cfg.sample_size(tr_idx.len());
    if rows < tr_idx.len() {
        SplitMix(cfg.seed).shuffle(&mut tr_idx);
        tr_idx.truncate(rows);
        tr_idx.sort_unstable();
    }
    let m = eval.sentences.len().min(rows.max(1));
    let ev_idx: Vec<usize> = (0..m).map(|i| i * eval.sentences.len() / m).collect();
    let (tr, ev) = (pick(train, &tr_idx, "train"), pick(eval, &ev_idx, "eval"));
    if tr.words.is_empty() || ev.words.is_empty() {
        return Err(AssessError::Invalid(
            "rank --task ner needs training and eval sentences".into(),
        ));
    }
    let labels = label_list(tr.tags.iter().chain(&ev.tags));
    let k = labels.len();
    let tag_cfg = TagConfig {
        max_length: cfg.max_length,
        ..Default::default()
    };
    let mut candidates = Vec::new();
    let (mut train_words, mut eval_words) = (0, 0);
    for dir in models {
        progress(&format!("{}: word features of every layer", dir.display()));
        let t1 = Instant::now();
        let state = prepare_model(
            dir,
            Head::TokenClassification,
            &labels,
            &Strategy::Probe,
            cfg.max_length,
            &cfg.device,
        )?;
        let (ftr, has_tr) = word_layer_features(&state, &tr, &tag_cfg, &mut |_, _| {})?;
        let (fev, has_ev) = word_layer_features(&state, &ev, &tag_cfg, &mut |_, _| {})?;
        let (ttr, tev) = (
            word_targets(&tr, &labels, &has_tr)?,
            word_targets(&ev, &labels, &has_ev)?,
        );
        let n = ttr.rows.len();
        let all: Vec<Features> = ftr
            .iter()
            .zip(&fev)
            .map(|(a, b)| {
                let (a, b) = (a.select(&ttr.rows), b.select(&tev.rows));
                let mut x = a.x;
                x.extend(b.x);
                Features {
                    x,
                    n: a.n + b.n,
                    d: a.d,
                }
            })
            .collect();
        let feature_seconds = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        let (layers, avg, best_layer) = score_layers(&all, n, &ttr.ids, Some(&tev.ids), k, cfg, &mut |i| {
            progress(&format!("{}: estimates on {i} layers and their average", dir.display()))
        });
        (train_words, eval_words) = (n, tev.ids.len());
        candidates.push(Candidate {
            model: dir.clone(),
            model_type: state.config.arch().model_type().to_string(),
            parameters: parameter_count(&state.params),
            layers,
            average: avg,
            best_layer,
            feature_seconds,
            estimate_seconds: t2.elapsed().as_secs_f64(),
        });
    }
    candidates.sort_by(|a, b| b.average.logme.total_cmp(&a.average.logme));
    Ok(Ranking {
        candidates,
        labels,
        unit: "words".into(),
        train_rows: train_words,
        eval_rows: eval_words,
        accuracy_on: AccuracyOn::Eval,
        config: cfg.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Where the ranking's kNN and probe accuracies come from, in words.
pub fn accuracy_source(r: &Ranking) -> String {
    match r.accuracy_on {
        AccuracyOn::Eval => format!("accuracies on {} eval {}", r.eval_rows, r.unit),
        AccuracyOn::CrossValidated => {
            format!("accuracies on the sample: probe {PROBE_FOLDS}-fold cross-validated, 10-NN leave-one-out")
        }
    }
}

/// The ranking as a terminal table.
pub fn table(r: &Ranking) -> String {
    let mut s = format!(
        "rank  model  (layer-averaged features of {} training {}; {})\n",
        r.train_rows,
        r.unit,
        accuracy_source(r)
    );
    s.push_str("      LogME     H-score  10-NN acc  probe acc  best layer  params  seconds\n");
    for (i, c) in r.candidates.iter().enumerate() {
        let a = &c.average;
        s.push_str(&format!(
            "{:>3}.  {}\n      {:>8.4}  {:>8.4}  {:>8.1}%  {:>8.1}%  {:>10}  {:>5.1}M  {:>6.1}\n",
            i + 1,
            c.model.display(),
            a.logme,
            a.hscore,
            100.0 * a.knn_accuracy,
            100.0 * a.probe_accuracy,
            c.best_layer,
            c.parameters as f64 / 1e6,
            c.feature_seconds + c.estimate_seconds
        ));
    }
    s.push_str(&format!("ranked in {:.0} s\n", r.seconds));
    s
}
