//! The model families a generation assessment ([`super::generation`]) runs on, behind one
//! trait: an encoder-decoder translating (or summarizing) directly (Marian), and a causal LM
//! prompted with an instruction (Llama family). The assessment asks each for its outputs as it
//! is, for a pilot's outputs after a short training run, and for the token figures of angle 2.

use retune_data::audit::pairs::length_units;
use retune_models::causal::chat::{template, user_prompt};
use retune_models::causal::sample::{generate, SamplingOptions};
use retune_models::causal::CausalLm;
use retune_models::nn;
use retune_train::classify::values_of;
use retune_train::lm::{fit_lm, lm_rows, prepare_lm, EvalSet, LmConfig, LmData};
use retune_train::strategy::Strategy;
use retune_train::trainer::LoopConfig;
use retune_train::translate::{evaluate_translation, fit_translator, prepare_translator, PairTexts, TranslateConfig};
use std::path::{Path, PathBuf};

use super::AssessConfig;
use crate::error::{AssessError, Result};

/// A pilot's run: its outputs for the eval sources and its figures.
pub struct PilotRun {
    /// Outputs, in eval order.
    pub hypotheses: Vec<String>,
    /// Optimizer steps.
    pub steps: usize,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Trainable values.
    pub trainable: usize,
}

/// Angle 2's token figures of a model on pairs.
pub struct TokenFigures {
    /// Mean source (prompt) length in tokens.
    pub source_tokens_mean: f64,
    /// Mean target length in tokens.
    pub target_tokens_mean: f64,
    /// Longest source and target in tokens.
    pub longest: (usize, usize),
    /// The longest source kept, in tokens (longer ones are cut).
    pub max_length: usize,
    /// Pairs whose source or target exceeds `max_length`.
    pub rows_over_max: usize,
    /// The model's position table (context window).
    pub max_positions: usize,
    /// Share of source tokens the vocabulary cannot spell (`<unk>`; for byte-level BPE,
    /// tokens that are bare bytes of a character).
    pub source_unk_rate: f64,
    /// The same for targets.
    pub target_unk_rate: f64,
    /// Source tokens per length unit (a word; a Han, Kana or Thai character).
    pub source_fertility: f64,
    /// Target tokens per length unit.
    pub target_fertility: f64,
}

/// What a generation assessment needs from a model family.
pub trait GenSubject {
    /// The model (folder or file).
    fn path(&self) -> &Path;
    /// How the model is used, for the report (`Marian encoder-decoder, direct`).
    fn describe(&self) -> String;
    /// Layers a `top:K` pilot counts from (the decoder's).
    fn layers(&self) -> usize;
    /// The model as it is: outputs for `sources`.
    fn outputs(&self, sources: &[String]) -> Result<Vec<String>>;
    /// A pilot: `strategy` trained on `train` for `epochs` (at most `max_steps` steps), then its
    /// outputs for the sources of `eval`.
    fn pilot(
        &self,
        strategy: &Strategy,
        train: &PairTexts,
        eval: &PairTexts,
        max_steps: Option<usize>,
        epochs: usize,
    ) -> Result<PilotRun>;
    /// Token figures of the pairs.
    fn tokens(&self, sources: &[&String], targets: &[&String]) -> Result<TokenFigures>;
}

fn loop_config(cfg: &AssessConfig, max_steps: Option<usize>, epochs: usize) -> LoopConfig {
    LoopConfig {
        batch_size: cfg.batch_size.max(1),
        epochs,
        max_steps,
        // One evaluation, after the last step.
        eval_every: Some(usize::MAX),
        seed: cfg.seed,
        keep_checkpoints: 0,
        ..LoopConfig::default()
    }
}

/// Figures of `ids` (one token list per text, `eos` tokens not counted as content) against
/// the texts' length units.
fn side(
    texts: &[&String],
    ids: &[Vec<u32>],
    unknown: impl Fn(u32) -> bool,
    trailing: usize,
) -> (f64, Vec<usize>, f64, f64) {
    let tokens: usize = ids.iter().map(Vec::len).sum();
    let content: usize = ids.iter().map(|v| v.len().saturating_sub(trailing)).sum();
    let unks = ids.iter().flatten().filter(|&&t| unknown(t)).count();
    let units: usize = texts.iter().map(|t| length_units(t)).sum();
    (
        tokens as f64 / ids.len().max(1) as f64,
        ids.iter().map(Vec::len).collect(),
        unks as f64 / content.max(1) as f64,
        content as f64 / units.max(1) as f64,
    )
}

type SideFigures = (f64, Vec<usize>, f64, f64);

/// [`TokenFigures`] from the two sides' figures; `over` says which (source, target) lengths
/// exceed what the model keeps.
fn figures(
    src: SideFigures,
    tgt: SideFigures,
    max_length: usize,
    max_positions: usize,
    over: impl Fn(usize, usize) -> bool,
) -> TokenFigures {
    let (sm, sl, su, sf) = src;
    let (tm, tl, tu, tf) = tgt;
    TokenFigures {
        source_tokens_mean: sm,
        target_tokens_mean: tm,
        longest: (
            sl.iter().copied().max().unwrap_or(0),
            tl.iter().copied().max().unwrap_or(0),
        ),
        max_length,
        rows_over_max: sl.iter().zip(&tl).filter(|(s, t)| over(**s, **t)).count(),
        max_positions,
        source_unk_rate: su,
        target_unk_rate: tu,
        source_fertility: sf,
        target_fertility: tf,
    }
}

/// A Marian encoder-decoder: sources in, translations (or summaries) out, beam search with the
/// model's settings; pilots through `retune-train`'s translate task.
pub struct MarianSubject<'a> {
    /// The model folder.
    pub model: PathBuf,
    /// The settings (device, lengths, seed, learning rate).
    pub cfg: &'a AssessConfig,
    /// The target language code (BLEU's tokenizer in the loop's evaluations).
    pub target_lang: String,
    /// Decoder layers.
    pub decoder_layers: usize,
    state: retune_train::translate::TranslatorState,
}

impl<'a> MarianSubject<'a> {
    /// Loads the model as it is.
    pub fn load(model: &Path, target_lang: &str, cfg: &'a AssessConfig) -> Result<MarianSubject<'a>> {
        nn::set_seed(cfg.seed);
        let state = prepare_translator(model, &Strategy::Full, &cfg.device)?;
        Ok(MarianSubject {
            model: model.to_path_buf(),
            cfg,
            target_lang: target_lang.into(),
            decoder_layers: state.config.decoder_layers(),
            state,
        })
    }

    fn translate_config(&self, strategy: Strategy, max_steps: Option<usize>, epochs: usize) -> TranslateConfig {
        TranslateConfig {
            strategy,
            train: loop_config(self.cfg, max_steps, epochs),
            lr: self.cfg.lr,
            max_length: self.cfg.max_length,
            target_lang: self.target_lang.clone(),
            ..TranslateConfig::default()
        }
    }
}

impl GenSubject for MarianSubject<'_> {
    fn path(&self) -> &Path {
        &self.model
    }
    fn describe(&self) -> String {
        "Marian encoder-decoder, sources translated directly (beam search, the model's settings)".into()
    }
    fn layers(&self) -> usize {
        self.decoder_layers
    }
    fn outputs(&self, sources: &[String]) -> Result<Vec<String>> {
        let pairs = PairTexts {
            name: "eval".into(),
            sources: sources.to_vec(),
            targets: vec![String::new(); sources.len()],
        };
        let c = self.translate_config(Strategy::Full, None, 1);
        Ok(evaluate_translation(&self.state, &pairs, &c, &self.cfg.device)?.hypotheses)
    }
    fn pilot(
        &self,
        strategy: &Strategy,
        train: &PairTexts,
        eval: &PairTexts,
        max_steps: Option<usize>,
        epochs: usize,
    ) -> Result<PilotRun> {
        nn::set_seed(self.cfg.seed);
        let state = prepare_translator(&self.model, strategy, &self.cfg.device)?;
        let trainable = values_of(&state.params, &state.trainable);
        let c = self.translate_config(strategy.clone(), max_steps, epochs);
        let recipe = serde_json::json!({"task": "translate", "pilot": strategy.to_string()});
        let (run, evals) = fit_translator(&state, train, eval, &c, recipe, None, None, &self.cfg.device, |_| {})?;
        let last = evals
            .into_iter()
            .last()
            .ok_or_else(|| AssessError::Invalid("the pilot ran no evaluation".into()))?;
        Ok(PilotRun {
            hypotheses: last.hypotheses,
            steps: run.steps,
            train_seconds: run.train_seconds,
            trainable,
        })
    }
    fn tokens(&self, sources: &[&String], targets: &[&String]) -> Result<TokenFigures> {
        let tok = &self.state.tokenizer;
        let unk = tok.unk_id();
        let s_ids: Vec<Vec<u32>> = sources.iter().map(|t| tok.encode_source(t)).collect();
        let t_ids: Vec<Vec<u32>> = targets.iter().map(|t| tok.encode_target(t)).collect();
        let max = self.cfg.max_length;
        Ok(figures(
            side(sources, &s_ids, |t| t == unk, 1),
            side(targets, &t_ids, |t| t == unk, 1),
            max,
            self.state.config.max_positions(),
            |s, t| s > max || t > max,
        ))
    }
}

/// The instruction a causal LM is given for summarization.
pub const SUMMARIZE_INSTRUCTION: &str = "Summarize the following article in one sentence.";

/// A causal LM prompted with an instruction (the model's chat template when it has one): the
/// first line of its greedy continuation is the output; pilots fine-tune it on prompt →
/// target pairs (loss on the target tokens only) through `retune-train`'s LM task.
pub struct PromptedLm<'a> {
    /// The model folder or GGUF file.
    pub model: PathBuf,
    /// The instruction put before each source.
    pub instruction: String,
    /// Most tokens generated per output.
    pub max_new_tokens: usize,
    /// The settings.
    pub cfg: &'a AssessConfig,
    lm: CausalLm,
    chat: bool,
}

impl<'a> PromptedLm<'a> {
    /// Loads the model as it is.
    pub fn load(
        model: &Path,
        instruction: &str,
        max_new_tokens: usize,
        cfg: &'a AssessConfig,
    ) -> Result<PromptedLm<'a>> {
        let lm = CausalLm::load(model, &cfg.device)?;
        let chat = template(&lm).is_some();
        Ok(PromptedLm {
            model: model.to_path_buf(),
            instruction: instruction.into(),
            max_new_tokens,
            cfg,
            lm,
            chat,
        })
    }

    /// The user message for `source`.
    fn message(&self, source: &str) -> String {
        format!("{}\n\n{source}", self.instruction)
    }

    /// The prompt text for `source` (chat-formatted when the model has a template).
    fn prompt(&self, lm: &CausalLm, source: &str) -> Result<String> {
        let m = self.message(source);
        Ok(if self.chat {
            user_prompt(lm, &m)?
        } else {
            format!("{m}\n\nSummary:")
        })
    }

    /// Source tokens kept so that prompt and output fit the context: the source is cut to
    /// what leaves `max_new_tokens` (and at most `cfg.max_length` tokens of source).
    fn fit_source(&self, lm: &CausalLm, source: &str) -> Result<String> {
        let budget = lm
            .context()
            .saturating_sub(self.max_new_tokens + 64)
            .min(self.cfg.max_length.max(16));
        let ids = lm.encode(source)?;
        if ids.len() <= budget {
            return Ok(source.to_string());
        }
        Ok(lm.decode(&ids[..budget])?)
    }

    fn generate_all(&self, lm: &CausalLm, sources: &[String]) -> Result<Vec<String>> {
        let opts = SamplingOptions {
            max_new_tokens: self.max_new_tokens,
            ..SamplingOptions::default()
        };
        sources
            .iter()
            .map(|s| {
                let prompt = self.prompt(lm, &self.fit_source(lm, s)?)?;
                let ids = lm.encode(&prompt)?;
                let out = generate(lm, &ids, &opts)?;
                Ok(out.text.trim().lines().next().unwrap_or("").trim().to_string())
            })
            .collect()
    }
}

impl GenSubject for PromptedLm<'_> {
    fn path(&self) -> &Path {
        &self.model
    }
    fn describe(&self) -> String {
        format!(
            "causal LM prompted with \"{}\"{} (greedy, at most {} new tokens, first line)",
            self.instruction,
            if self.chat { " in its chat template" } else { "" },
            self.max_new_tokens
        )
    }
    fn layers(&self) -> usize {
        self.lm.config.arch().num_layers()
    }
    fn outputs(&self, sources: &[String]) -> Result<Vec<String>> {
        self.generate_all(&self.lm, sources)
    }
    fn pilot(
        &self,
        strategy: &Strategy,
        train: &PairTexts,
        eval: &PairTexts,
        max_steps: Option<usize>,
        epochs: usize,
    ) -> Result<PilotRun> {
        nn::set_seed(self.cfg.seed);
        let (lm, trainable) = prepare_lm(&self.model, strategy, &self.cfg.device)?;
        let n_trainable = values_of(&lm.params, &trainable);
        let fitted: Vec<String> = train
            .sources
            .iter()
            .map(|s| Ok(self.message(&self.fit_source(&lm, s)?)))
            .collect::<Result<_>>()?;
        let data = LmData::Pairs {
            prompts: fitted,
            completions: train.targets.clone(),
        };
        let block = lm.context().min(self.cfg.max_length + self.max_new_tokens + 128);
        let rows = lm_rows(&lm, &data, block, self.chat)?;
        // The loop wants an evaluation; the pilot is judged on its generated outputs, so one
        // training row stands in (its loss is logged, nothing is chosen by it).
        let eval_rows = rows.iter().take(1).cloned().collect();
        let lcfg = LmConfig {
            strategy: strategy.clone(),
            train: loop_config(self.cfg, max_steps, epochs),
            lr: self.cfg.lr,
            block_size: block,
            chat: self.chat,
            eval_docs: None,
        };
        let (run, _) = fit_lm(
            &lm,
            trainable,
            rows,
            &EvalSet::Rows(eval_rows),
            &lcfg,
            None,
            None,
            |_| {},
        )?;
        Ok(PilotRun {
            hypotheses: self.generate_all(&lm, &eval.sources)?,
            steps: run.steps,
            train_seconds: run.train_seconds,
            trainable: n_trainable,
        })
    }
    fn tokens(&self, sources: &[&String], targets: &[&String]) -> Result<TokenFigures> {
        let lm = &self.lm;
        let enc = |texts: &[&String]| -> Result<Vec<Vec<u32>>> { texts.iter().map(|t| Ok(lm.encode(t)?)).collect() };
        let (s_ids, t_ids) = (enc(sources)?, enc(targets)?);
        let mut is_byte = std::collections::HashMap::new();
        for &t in s_ids.iter().chain(&t_ids).flatten() {
            if let std::collections::hash_map::Entry::Vacant(e) = is_byte.entry(t) {
                e.insert(lm.decode(&[t])?.contains('\u{FFFD}'));
            }
        }
        let byte = |t: u32| is_byte.get(&t).copied().unwrap_or(false);
        let context = lm.context();
        let budget = context
            .saturating_sub(self.max_new_tokens + 64)
            .min(self.cfg.max_length.max(16));
        Ok(figures(
            side(sources, &s_ids, byte, 0),
            side(targets, &t_ids, byte, 0),
            budget,
            context,
            |s, _| s > budget,
        ))
    }
}
