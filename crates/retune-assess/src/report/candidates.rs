//! The assessment of several candidates: the ranking table with each estimate beside the
//! pilots' accuracy, a plot of layer-averaged LogME against the best pilot's accuracy, and each
//! assessed model's strategy chart.

use super::{esc, head_html, pct, recommendation_html, recommendation_markdown, recommendation_terminal, strategy_svg};
use crate::assess::{Assessed, Assessment, CandidatesAssessment, NerAssessment};
use std::fmt::Write;

/// How one candidate's own assessment appears inside the candidates' report.
pub trait Rendered: Assessed {
    /// Its terminal report.
    fn terminal(&self) -> String;
    /// Its Markdown report.
    fn markdown(&self) -> String;
    /// Its strategy chart (inline SVG).
    fn strategy_chart(&self) -> String;
}

impl Rendered for Assessment {
    fn terminal(&self) -> String {
        super::terminal(self)
    }
    fn markdown(&self) -> String {
        super::markdown(self)
    }
    fn strategy_chart(&self) -> String {
        strategy_svg(&self.pilots, ("majority", self.complexity.majority_accuracy))
    }
}

impl Rendered for NerAssessment {
    fn terminal(&self) -> String {
        super::ner::terminal(self)
    }
    fn markdown(&self) -> String {
        super::ner::markdown(self)
    }
    fn strategy_chart(&self) -> String {
        strategy_svg(&self.pilots, ("all-O", 0.0))
    }
}

/// The terminal summary.
pub fn terminal<A: Rendered>(a: &CandidatesAssessment<A>) -> String {
    let mut s = recommendation_terminal(&a.recommendation);
    let _ = writeln!(s, "\n{}", crate::rank::table(&a.ranking));
    for x in &a.assessed {
        let _ = writeln!(s, "--- {} ---\n{}", x.model().display(), x.terminal());
    }
    s
}

/// Markdown for a pull request or an issue.
pub fn markdown<A: Rendered>(a: &CandidatesAssessment<A>) -> String {
    let mut s = recommendation_markdown("retune assess: which model?", &a.recommendation);
    let _ = writeln!(
        s,
        "\n| rank | model | LogME (layer avg) | H-score | 10-NN | probe | best layer | best pilot |\n|---|---|---|---|---|---|---|---|"
    );
    for (i, c) in a.ranking.candidates.iter().enumerate() {
        let p = a
            .best_pilot_of(&c.model)
            .map(|(st, v)| format!("{st} {:.1}%", pct(v)))
            .unwrap_or_else(|| "–".into());
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.3} | {:.1}% | {:.1}% | {} | {p} |",
            i + 1,
            c.model.display(),
            c.average.logme,
            c.average.hscore,
            pct(c.average.knn_accuracy),
            pct(c.average.probe_accuracy),
            c.best_layer
        );
    }
    let _ = writeln!(s, "\n10-NN and probe: {}.", crate::rank::accuracy_source(&a.ranking));
    for x in &a.assessed {
        let _ = writeln!(s, "\n{}", x.markdown());
    }
    s
}

/// Layer-averaged LogME (x) against the best pilot's accuracy (y), one point per assessed model.
fn scatter_svg<A: Rendered>(a: &CandidatesAssessment<A>) -> String {
    let pts: Vec<(f64, f64, String)> = a
        .ranking
        .candidates
        .iter()
        .filter_map(|c| {
            a.best_pilot_of(&c.model)
                .map(|(_, v)| (c.average.logme, v, c.model.display().to_string()))
        })
        .collect();
    let (w, h, l, b) = (520.0, 300.0, 60.0, 40.0);
    let (x0, x1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (y0, y1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let pad = |lo: f64, hi: f64| {
        let d = (hi - lo).abs().max(1e-3) * 0.15;
        (lo - d, hi + d)
    };
    let ((x0, x1), (y0, y1)) = (pad(x0, x1), pad(y0, y1));
    let px = |x: f64| l + (w - l - 20.0) * (x - x0) / (x1 - x0);
    let py = |y: f64| 20.0 + (h - 20.0 - b) * (1.0 - (y - y0) / (y1 - y0));
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="estimate against pilot accuracy">"#
    );
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{0}" x2="{1}" y2="{0}" stroke="#999"/><line x1="{l}" y1="20" x2="{l}" y2="{0}" stroke="#999"/><text x="{2}" y="{3}" font-size="11" text-anchor="middle">layer-averaged LogME</text><text x="14" y="{4}" font-size="11" transform="rotate(-90 14 {4})" text-anchor="middle">best pilot accuracy</text>"##,
        h - b,
        w - 20.0,
        (w + l) / 2.0,
        h - 8.0,
        h / 2.0
    );
    for (x, y, name) in &pts {
        let _ = write!(
            s,
            r##"<circle cx="{0:.1}" cy="{1:.1}" r="5" fill="#2b7bb9"/><text x="{2:.1}" y="{3:.1}" font-size="10">{4} ({5:.1}%)</text>"##,
            px(*x),
            py(*y),
            px(*x) + 7.0,
            py(*y) - 6.0,
            esc(name.rsplit('/').next().unwrap_or(name)),
            pct(*y)
        );
    }
    s.push_str("</svg>");
    s
}

/// A self-contained HTML report.
pub fn html<A: Rendered>(a: &CandidatesAssessment<A>) -> String {
    let mut s = head_html("several candidates");
    s.push_str(&recommendation_html(&a.recommendation));
    let _ = write!(s, "<h2>Ranking from frozen features</h2><table><tr><th>rank</th><th>model</th><th>LogME</th><th>H-score</th><th>10-NN</th><th>probe</th><th>best layer</th><th>seconds</th><th>best pilot</th></tr>");
    for (i, c) in a.ranking.candidates.iter().enumerate() {
        let p = a
            .best_pilot_of(&c.model)
            .map(|(st, v)| format!("{} {:.1}%", esc(st), pct(v)))
            .unwrap_or_else(|| "–".into());
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.3}</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{:.0}</td><td>{p}</td></tr>",
            i + 1,
            esc(&c.model.display().to_string()),
            c.average.logme,
            c.average.hscore,
            pct(c.average.knn_accuracy),
            pct(c.average.probe_accuracy),
            c.best_layer,
            c.feature_seconds + c.estimate_seconds
        );
    }
    let _ = write!(
        s,
        "</table><p>10-NN and probe: {}. Ranking {:.0} s; full assessments with pilots {:.0} s.</p><figure>{}<figcaption>Each assessed candidate's layer-averaged LogME against its best pilot's eval accuracy.</figcaption></figure>",
        esc(&crate::rank::accuracy_source(&a.ranking)),
        a.rank_seconds,
        a.assess_seconds,
        scatter_svg(a)
    );
    for x in &a.assessed {
        let _ = write!(
            s,
            "<h2>{}</h2><p>{}</p><figure>{}</figure>",
            esc(&x.model().display().to_string()),
            esc(&x.recommendation().headline),
            x.strategy_chart()
        );
    }
    s.push_str("</body></html>\n");
    s
}
