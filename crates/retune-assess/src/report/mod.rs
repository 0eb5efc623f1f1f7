//! Assessments as a terminal summary, Markdown (for a pull request) and a self-contained HTML
//! page with inline SVG charts: strategy comparison with confidence intervals, the learning
//! curve with its fitted extrapolation, the confusion matrix, the data-quality table, and the
//! recommendation with its evidence. The pieces every task shares live here; `classify` and
//! `ner` lay out their own angles.

pub mod candidates;
mod classify;
pub mod generation;
pub mod lm;
pub mod ner;

pub use classify::{html, markdown, terminal};

use crate::assess::{Judged, Pilot, Recommendation, Verdict};
use crate::audit::{Finding, Severity};
use crate::curve::PowerLaw;
use std::fmt::Write;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn pct(x: f64) -> f64 {
    100.0 * x
}

/// One pilot as a line of the terminal summary.
pub(crate) fn pilot_line<S: Judged>(p: &Pilot<S>, metric: &str) -> String {
    let sig = match &p.vs_best {
        None => "best".to_string(),
        Some(v) => format!("p = {:.3} vs best", v.p_value),
    };
    format!(
        "{:<8} {:.1}% {metric} (95% CI {:.1}-{:.1}), macro F1 {:.1}%, {} rows x {} epoch(s), {:.0} s, {} trainable, {sig}",
        p.strategy,
        pct(p.scored.value()),
        p.scored.ci().lower,
        p.scored.ci().upper,
        pct(p.scored.macro_f1()),
        p.rows,
        p.epochs,
        p.train_seconds,
        p.trainable
    )
}

/// Bars with 95% intervals, one per pilot (and the majority baseline as a line).
/// `baseline` is (name, fraction).
pub(crate) fn strategy_svg<S: Judged>(pilots: &[Pilot<S>], baseline: (&str, f64)) -> String {
    let (w, h, left, top, bar_h, gap) = (640.0, 40.0 + 34.0 * pilots.len() as f64, 90.0, 20.0, 22.0, 12.0);
    let x = |v: f64| left + (w - left - 20.0) * v / 100.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="strategy comparison">"#
    );
    for t in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="{top}" x2="{0}" y2="{1}" stroke="#ddd"/><text x="{0}" y="{2}" font-size="11" text-anchor="middle">{t}%</text>"##,
            x(t),
            h - 18.0,
            h - 4.0
        );
    }
    for (i, p) in pilots.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let acc = pct(p.scored.value());
        let color = if p.vs_best.is_none() { "#2b7bb9" } else { "#8fb9da" };
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="12" text-anchor="end">{2}</text><rect x="{3}" y="{y}" width="{4}" height="{bar_h}" fill="{color}"/><line x1="{5}" y1="{6}" x2="{7}" y2="{6}" stroke="#000" stroke-width="2"/><text x="{8}" y="{1}" font-size="11">{acc:.1}%</text>"##,
            left - 6.0,
            y + 15.0,
            esc(&p.strategy),
            x(0.0),
            x(acc) - x(0.0),
            x(p.scored.ci().lower),
            y + bar_h / 2.0,
            x(p.scored.ci().upper),
            x(p.scored.ci().upper) + 4.0
        );
    }
    let m = pct(baseline.1);
    let _ = write!(
        s,
        r##"<line x1="{0}" y1="{top}" x2="{0}" y2="{1}" stroke="#c33" stroke-dasharray="4 3"/><text x="{0}" y="{2}" font-size="10" fill="#c33">{3}</text></svg>"##,
        x(m),
        h - 18.0,
        top - 6.0,
        esc(baseline.0)
    );
    s
}

/// Horizontal bars with 95% intervals, one row per system (`name`, value, lower, upper), the
/// first in grey: `x` maps a value to a fraction of the plot's width (0..=1), `axis` labels it.
pub(crate) fn interval_bars_svg(rows: &[(String, f64, f64, f64)], x: impl Fn(f64) -> f64, axis: &str) -> String {
    let (w, row, l, r) = (640.0, 28.0, 90.0, 70.0);
    let h = 30.0 + row * rows.len() as f64;
    let px = |v: f64| l + (w - l - r) * x(v).clamp(0.0, 1.0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(axis)
    );
    for (i, (name, v, lo, hi)) in rows.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="12" text-anchor="end">{2}</text><rect x="{l}" y="{3}" width="{4:.1}" height="16" fill="{5}"/><line x1="{6:.1}" y1="{7}" x2="{8:.1}" y2="{7}" stroke="#222"/><text x="{9:.1}" y="{1}" font-size="11">{10:.2}</text>"##,
            l - 6.0,
            y + 13.0,
            esc(name),
            y,
            (px(*v) - l).max(1.0),
            if i == 0 { "#999" } else { "#2b7bb9" },
            px(*lo),
            y + 8.0,
            px(*hi),
            px(*hi) + 6.0,
            v
        );
    }
    let _ = write!(
        s,
        r##"<text x="{0}" y="{1}" font-size="11" text-anchor="middle">{2}</text></svg>"##,
        (w + l) / 2.0,
        h - 4.0,
        esc(axis)
    );
    s
}

/// The probe learning curve with the fitted power law extended to 4x the data.
/// `curve` is (training rows, score as a fraction); `unit` names the rows.
pub(crate) fn curve_svg(curve: &[(usize, f64)], fit: Option<&PowerLaw>, unit: &str) -> String {
    let (w, h, l, r, t, b) = (640.0, 300.0, 60.0, 20.0, 20.0, 40.0);
    let max_n = curve.last().map(|c| c.0 as f64 * 4.0).unwrap_or(1.0);
    let mut ys: Vec<f64> = curve.iter().map(|c| c.1).collect();
    if let Some(f) = fit {
        ys.push(f.at(max_n));
    }
    let lo = (ys.iter().cloned().fold(1.0, f64::min) - 0.05).max(0.0);
    let hi = (ys.iter().cloned().fold(0.0, f64::max) + 0.05).min(1.0);
    let min_n = curve.first().map(|c| c.0 as f64).unwrap_or(1.0).max(1.0);
    let px = |n: f64| l + (w - l - r) * (n.ln() - min_n.ln()) / (max_n.ln() - min_n.ln()).max(1e-9);
    let py = |v: f64| t + (h - t - b) * (1.0 - (v - lo) / (hi - lo).max(1e-9));
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="learning curve">"#
    );
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{0}" x2="{1}" y2="{0}" stroke="#999"/><line x1="{l}" y1="{t}" x2="{l}" y2="{0}" stroke="#999"/>"##,
        h - b,
        w - r
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="11" text-anchor="end">{2:.0}%</text>"##,
            l - 6.0,
            py(v) + 4.0,
            100.0 * v
        );
    }
    for &(n, _) in curve {
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="10" text-anchor="middle">{n}</text>"##,
            px(n as f64),
            h - b + 16.0
        );
    }
    let _ = write!(
        s,
        r##"<text x="{0}" y="{1}" font-size="11" text-anchor="middle">training {unit} (log scale)</text>"##,
        (w + l) / 2.0,
        h - 6.0
    );
    if let Some(f) = fit {
        let first = curve.first().map(|c| c.0 as f64).unwrap_or(1.0);
        let pts: Vec<String> = (0..=60)
            .map(|i| {
                let n = first * (max_n / first).powf(i as f64 / 60.0);
                format!("{:.1},{:.1}", px(n), py(f.at(n)))
            })
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#e08a00" stroke-dasharray="5 3"/>"##,
            pts.join(" ")
        );
    }
    let pts: Vec<String> = curve
        .iter()
        .map(|&(n, v)| format!("{:.1},{:.1}", px(n as f64), py(v)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#2b7bb9" stroke-width="2"/>"##,
        pts.join(" ")
    );
    for &(n, v) in curve {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#2b7bb9"/>"##,
            px(n as f64),
            py(v)
        );
    }
    s.push_str("</svg>");
    s
}

/// A confusion matrix (gold rows × predicted columns, both named by `names`) as a heat map.
pub(crate) fn confusion_svg(m: &[Vec<u64>], names: &[String]) -> String {
    let k = m.len().max(1);
    let cell = (320.0 / k as f64).clamp(24.0, 70.0);
    let (l, t) = (110.0, 60.0);
    let w = l + cell * k as f64 + 20.0;
    let h = t + cell * k as f64 + 20.0;
    let max = m.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="confusion matrix">"#
    );
    let _ = write!(
        s,
        r##"<text x="{0}" y="14" font-size="11" text-anchor="middle">predicted</text>"##,
        l + cell * k as f64 / 2.0
    );
    for (j, name) in names.iter().enumerate() {
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="11" text-anchor="middle">{2}</text>"##,
            l + cell * (j as f64 + 0.5),
            t - 8.0,
            esc(name)
        );
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="11" text-anchor="end">{2}</text>"##,
            l - 6.0,
            t + cell * (j as f64 + 0.5) + 4.0,
            esc(name)
        );
    }
    for (g, row) in m.iter().enumerate() {
        for (p, &v) in row.iter().enumerate() {
            let shade = 255.0 - 200.0 * v as f64 / max;
            let fg = if shade < 140.0 { "#fff" } else { "#000" };
            let _ = write!(
                s,
                r##"<rect x="{0}" y="{1}" width="{cell}" height="{cell}" fill="rgb({2:.0},{3:.0},255)" stroke="#fff"/><text x="{4}" y="{5}" font-size="12" text-anchor="middle" fill="{fg}">{v}</text>"##,
                l + cell * p as f64,
                t + cell * g as f64,
                shade,
                shade,
                l + cell * (p as f64 + 0.5),
                t + cell * (g as f64 + 0.5) + 4.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The recommendation as terminal lines.
pub(crate) fn recommendation_terminal(r: &Recommendation) -> String {
    let mut s = format!("RECOMMENDATION: {}\n", r.headline);
    for reason in &r.reasons {
        let _ = writeln!(s, "  - {reason}");
    }
    s
}

/// The first eight findings as terminal lines.
pub(crate) fn findings_terminal(findings: &[Finding]) -> String {
    let mut s = String::from("4. data quality:\n");
    if findings.is_empty() {
        s.push_str("   no findings\n");
    }
    for f in findings.iter().take(8) {
        let _ = writeln!(s, "   [{}] {}", f.severity, f.message);
    }
    s
}

/// The recommendation in Markdown under a `## title`.
pub(crate) fn recommendation_markdown(title: &str, r: &Recommendation) -> String {
    let mut s = format!("## {title}\n\n**{}**\n\n", r.headline);
    for reason in &r.reasons {
        let _ = writeln!(s, "- {reason}");
    }
    s
}

/// The data-quality table in Markdown.
pub(crate) fn findings_markdown(findings: &[Finding]) -> String {
    let mut s = String::from("\n### Data quality\n\n| severity | finding | example rows |\n|---|---|---|\n");
    for f in findings {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            f.severity,
            f.message,
            f.rows.iter().take(3).cloned().collect::<Vec<_>>().join("<br>")
        );
    }
    s
}

/// The head of the HTML page and its title.
pub(crate) fn head_html(model: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>retune assess — {model}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}}
h1{{font-size:1.5em}} .rec{{background:#eef6ee;border-left:6px solid #2e8b57;padding:.8em 1.2em}}
.rec.fix{{background:#fbeeee;border-color:#c33}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.92em}} .high{{color:#b00;font-weight:600}}
.medium{{color:#a60}} figure{{margin:1em 0}} figcaption{{font-size:.85em;color:#555}}</style></head><body>
<h1>Does <code>{model}</code> need fine-tuning?</h1>"#,
        model = esc(model)
    )
}

/// The recommendation box.
pub(crate) fn recommendation_html(r: &Recommendation) -> String {
    let cls = if matches!(r.verdict, Verdict::FixDataFirst) {
        "rec fix"
    } else {
        "rec"
    };
    let mut s = format!(
        r#"<div class="{cls}" id="recommendation"><h2>{}</h2><ul>"#,
        esc(&r.headline)
    );
    for reason in &r.reasons {
        let _ = write!(s, "<li>{}</li>", esc(reason));
    }
    s.push_str("</ul></div>");
    s
}

/// The data-quality table.
pub(crate) fn findings_html(findings: &[Finding]) -> String {
    let mut s =
        String::from("<h2>4. Data quality</h2><table><tr><th>severity</th><th>finding</th><th>example rows</th></tr>");
    for f in findings {
        let class = match f.severity {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        };
        let _ = write!(
            s,
            r#"<tr><td class="{class}">{class}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&f.message),
            f.rows.iter().take(3).map(|r| esc(r)).collect::<Vec<_>>().join("<br>")
        );
    }
    if findings.is_empty() {
        let _ = write!(s, "<tr><td></td><td>no findings</td><td></td></tr>");
    }
    s.push_str("</table>");
    s
}
