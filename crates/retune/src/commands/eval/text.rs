//! `retune eval bleu | chrf | ter | rouge | meteor`: the text metrics' options and runs.

use super::*;

#[derive(Args)]
pub(super) struct BleuOpts {
    /// Tokenizer: 13a (default), zh, intl, char, none.
    #[arg(long, default_value = "13a")]
    pub(super) tokenize: Tokenizer,
    /// Smoothing: exp, floor, add-k, none.
    #[arg(long, default_value = "exp")]
    pub(super) smooth: String,
    /// Smoothing value for floor (0.1) and add-k (1).
    #[arg(long)]
    pub(super) smooth_value: Option<f64>,
    /// Highest n-gram order.
    #[arg(long, default_value_t = 4)]
    pub(super) max_ngram_order: usize,
}

impl BleuOpts {
    pub(super) fn metric(&self, lowercase: bool, effective_order: bool) -> Result<Bleu> {
        if self.max_ngram_order == 0 {
            return Err("--max-ngram-order must be at least 1".into());
        }
        Ok(Bleu::new(BleuConfig {
            lowercase,
            tokenize: self.tokenize,
            smooth: Smooth::from_name(&self.smooth, self.smooth_value)?,
            max_ngram_order: self.max_ngram_order,
            effective_order,
        }))
    }
}

#[derive(Args)]
pub(super) struct BleuArgs {
    #[command(flatten)]
    pub(super) common: Common,
    /// Lower-case before scoring.
    #[arg(long, short = 'l')]
    pub(super) lowercase: bool,
    #[command(flatten)]
    pub(super) opts: BleuOpts,
    /// Score every line on its own (sentence BLEU, effective order), one line of output each.
    #[arg(long)]
    pub(super) sentence: bool,
}

#[derive(Args)]
pub(super) struct ChrfOpts {
    /// Character n-gram order.
    #[arg(long, default_value_t = 6)]
    pub(super) char_order: usize,
    /// Word n-gram order (2 gives chrF++).
    #[arg(long, default_value_t = 0)]
    pub(super) word_order: usize,
    /// Recall weight.
    #[arg(long = "beta", default_value_t = 2)]
    pub(super) chrf_beta: u32,
    /// Keep whitespace in character n-grams.
    #[arg(long)]
    pub(super) whitespace: bool,
    /// chrF++.py epsilon smoothing instead of effective order.
    #[arg(long)]
    pub(super) eps_smoothing: bool,
}

impl ChrfOpts {
    pub(super) fn metric(&self, lowercase: bool) -> Result<Chrf> {
        if self.char_order + self.word_order == 0 {
            return Err("chrF needs --char-order or --word-order above 0".into());
        }
        Ok(Chrf::new(ChrfConfig {
            char_order: self.char_order,
            word_order: self.word_order,
            beta: self.chrf_beta,
            lowercase,
            whitespace: self.whitespace,
            eps_smoothing: self.eps_smoothing,
        }))
    }
}

#[derive(Args)]
pub(super) struct ChrfArgs {
    #[command(flatten)]
    pub(super) common: Common,
    /// Lower-case before scoring.
    #[arg(long, short = 'l')]
    pub(super) lowercase: bool,
    #[command(flatten)]
    pub(super) opts: ChrfOpts,
}

#[derive(Args)]
pub(super) struct TerOpts {
    /// Keep case (TER lower-cases by default).
    #[arg(long)]
    pub(super) case_sensitive: bool,
    /// tercom's normalization (punctuation and number splitting).
    #[arg(long)]
    pub(super) normalized: bool,
    /// Remove punctuation.
    #[arg(long)]
    pub(super) no_punct: bool,
    /// Split Asian characters (with --normalized).
    #[arg(long)]
    pub(super) asian_support: bool,
}

impl TerOpts {
    pub(super) fn metric(&self) -> Ter {
        Ter::new(TerOptions {
            normalized: self.normalized,
            no_punct: self.no_punct,
            asian_support: self.asian_support,
            case_sensitive: self.case_sensitive,
        })
    }
}

#[derive(Args)]
pub(super) struct TerArgs {
    #[command(flatten)]
    pub(super) common: Common,
    #[command(flatten)]
    pub(super) opts: TerOpts,
}

#[derive(Args)]
pub(super) struct RougeOpts {
    /// Porter-stem tokens longer than 3 characters (rouge-score's use_stemmer).
    #[arg(long)]
    pub(super) stem: bool,
    /// Comma-separated ROUGE types.
    #[arg(long, default_value = "rouge1,rouge2,rougeL,rougeLsum", value_delimiter = ',')]
    pub(super) types: Vec<String>,
    /// A marker that stands for a sentence break in the files (e.g. `<n>`), turned into a newline
    /// before scoring so that rougeLsum sees the sentences.
    #[arg(long, value_name = "TEXT")]
    pub(super) newline_marker: Option<String>,
    /// Tokenization: `default` (rouge-score's: ASCII a-z0-9 only, so Chinese scores 0), `zh`
    /// (ASCII words plus every other letter a token: Chinese by character) or `char` (every
    /// letter a token). The signature names it (`tok:`).
    #[arg(long, default_value = "default")]
    pub(super) rouge_tokenize: RougeTokenizer,
}

impl RougeOpts {
    pub(super) fn metric(&self) -> Result<RougeMetric> {
        let types = self
            .types
            .iter()
            .map(|t| t.trim().parse::<RougeType>())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if types.is_empty() {
            return Err("--types needs at least one ROUGE type".into());
        }
        let mut m = RougeMetric::new(types, self.stem);
        m.scorer = m.scorer.with_tokenizer(self.rouge_tokenize);
        m.newline_marker = self.newline_marker.clone();
        Ok(m)
    }
}

#[derive(Args)]
pub(super) struct RougeArgs {
    #[command(flatten)]
    pub(super) common: Common,
    #[command(flatten)]
    pub(super) opts: RougeOpts,
}

#[derive(Args)]
pub(super) struct MeteorOpts {
    /// WordNet 3.0 database folder (Debian's wordnet-base); default $WORDNET_DIR or /usr/share/wordnet.
    #[arg(long, value_name = "DIR")]
    pub(super) wordnet: Option<PathBuf>,
    /// Weight of precision against recall in the harmonic mean.
    #[arg(long, default_value_t = 0.9)]
    pub(super) alpha: f64,
    /// Shape of the fragmentation penalty.
    #[arg(long = "meteor-beta", default_value_t = 3.0)]
    pub(super) meteor_beta: f64,
    /// Weight of the fragmentation penalty.
    #[arg(long, default_value_t = 0.5)]
    pub(super) gamma: f64,
}

impl MeteorOpts {
    pub(super) fn metric(&self) -> Result<MeteorMetric> {
        let dir = self.wordnet.clone().unwrap_or_else(wordnet::default_dir);
        let wn =
            WordNet::load(&dir).map_err(|e| format!("{e} (install Debian's wordnet-base or pass --wordnet DIR)"))?;
        let params = MeteorParams {
            alpha: self.alpha,
            beta: self.meteor_beta,
            gamma: self.gamma,
        };
        Ok(MeteorMetric {
            meteor: Meteor::with_params(Arc::new(wn), params),
        })
    }
}

#[derive(Args)]
pub(super) struct MeteorArgs {
    #[command(flatten)]
    pub(super) common: Common,
    #[command(flatten)]
    pub(super) opts: MeteorOpts,
}

pub(super) fn run_bleu(a: BleuArgs) -> Result<()> {
    let corpus = Corpus::read(&a.common.hyp, &a.common.refs)?;
    let (hyps, refs) = corpus.lines()?;
    let w = a.common.width;
    if a.sentence {
        if a.common.ci {
            return Err("--ci is not available with --sentence".into());
        }
        let m = a.opts.metric(a.lowercase, true)?;
        let mut out = Vec::new();
        for (i, h) in hyps.iter().enumerate() {
            let r: Vec<&str> = refs.iter().map(|s| s[i]).collect();
            let s = m.sentence_score(h, &r);
            if a.common.json {
                out.push(json!({"line": i + 1, "score": s.score, "verbose_score": s.verbose()}));
            } else {
                println!("{}", score_line("BLEU", s.score, None, &s.verbose(), w));
            }
        }
        if a.common.json {
            print_json(
                &json!({"name": "BLEU", "signature": m.signature(Some(refs.len()), Resampling::default()), "sentences": out}),
            )?;
        }
        return Ok(());
    }
    let m = a.opts.metric(a.lowercase, false)?;
    let stats = corpus_stats(&m, &hyps, &refs);
    let s = m.compute(&stats.sum());
    let ci = ci_of(&m, &stats, &a.common)?;
    let sig = m.signature(Some(refs.len()), resampling(&a.common));
    if a.common.json {
        print_json(&json!({
            "name": "BLEU", "score": s.score, "signature": sig, "verbose_score": s.verbose(),
            "counts": s.counts, "totals": s.totals, "precisions": s.precisions, "bp": s.bp,
            "ratio": s.ratio(), "sys_len": s.sys_len, "ref_len": s.ref_len,
            "segments": hyps.len(), "ci": ci_json(&ci),
        }))
    } else {
        println!("{}", score_line("BLEU", s.score, ci.as_ref(), &s.verbose(), w));
        println!("signature: {sig}");
        Ok(())
    }
}

pub(super) fn run_rouge(a: RougeArgs) -> Result<()> {
    let m = a.opts.metric()?;
    let corpus = Corpus::read(&a.common.hyp, &a.common.refs)?;
    let (hyps, refs) = corpus.lines()?;
    let stats = corpus_stats(&m, &hyps, &refs);
    let means = m.means(&stats.sum());
    let w = a.common.width;
    let mut rows = Vec::new();
    for (t, (ty, s)) in m.scorer.types().iter().zip(&means).enumerate() {
        // The interval in the units printed beside it: fractions in JSON (as rouge-score's
        // scores), percent in text.
        let col = MeanColumn {
            base: &m,
            column: 3 * t + 2,
            scale: if a.common.json { 1.0 } else { 100.0 },
            label: ty.to_string(),
        };
        let ci = ci_of(&col, &stats, &a.common)?;
        if a.common.json {
            rows.push(json!({"type": ty.to_string(), "precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure, "ci_fmeasure": ci_json(&ci)}));
        } else {
            let verbose = format!("(P = {:.w$} R = {:.w$})", 100.0 * s.precision, 100.0 * s.recall);
            println!(
                "{}",
                score_line(&ty.to_string(), 100.0 * s.fmeasure, ci.as_ref(), &verbose, w)
            );
        }
    }
    let sig = m.signature(refs.len());
    if a.common.json {
        print_json(
            &json!({"name": "ROUGE", "units": "fraction", "scores": rows, "signature": sig, "segments": hyps.len()}),
        )
    } else {
        println!("signature: {sig}");
        Ok(())
    }
}
