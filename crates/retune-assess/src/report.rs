//! The assessment as a terminal summary, Markdown (for a pull request) and a self-contained HTML
//! page with inline SVG charts: strategy comparison with confidence intervals, the learning
//! curve with its fitted extrapolation, the confusion matrix, the data-quality table, and the
//! recommendation with its evidence.

use crate::assess::{Assessment, Pilot};
use crate::audit::Severity;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(x: f64) -> f64 {
    100.0 * x
}

/// The terminal summary.
pub fn terminal(a: &Assessment) -> String {
    let mut s = String::new();
    let r = &a.recommendation;
    let _ = writeln!(s, "RECOMMENDATION: {}", r.headline);
    for reason in &r.reasons {
        let _ = writeln!(s, "  - {reason}");
    }
    let _ = writeln!(s, "\n1. performance as-is");
    if let Some(h) = &a.as_is.existing_head {
        let _ = writeln!(
            s,
            "   own head: {:.1}% accuracy (95% CI {:.1}-{:.1})",
            pct(h.accuracy),
            h.ci.lower,
            h.ci.upper
        );
    }
    let p = &a.as_is.probe;
    let _ = writeln!(
        s,
        "   frozen-feature probe: {:.1}% (95% CI {:.1}-{:.1})",
        pct(p.accuracy),
        p.ci.lower,
        p.ci.upper
    );
    let c = &a.complexity;
    let _ = writeln!(
        s,
        "2. task complexity: {} classes, balance {:.2}, majority {:.1}%, 10-NN {:.1}%, probe {:.1}%",
        c.classes,
        c.label_balance,
        pct(c.majority_accuracy),
        pct(c.knn_accuracy),
        pct(c.probe_accuracy)
    );
    if let Some(t) = &c.token_fit {
        let _ = writeln!(
            s,
            "   tokens: median {}, p95 {}, max {} of {}; unknown {:.2}%; {:.2} tokens/word",
            t.median_tokens,
            t.p95_tokens,
            t.max_tokens,
            c.max_positions,
            100.0 * t.unk_rate,
            t.fertility
        );
    }
    let q = &a.quantity;
    let per: Vec<String> = q.per_class.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(
        s,
        "3. data quantity: {} training rows ({})",
        q.train_rows,
        per.join(", ")
    );
    let curve: Vec<String> = q
        .curve
        .iter()
        .map(|(n, acc)| format!("{n}: {:.1}%", pct(*acc)))
        .collect();
    let _ = writeln!(s, "   probe learning curve: {}", curve.join(", "));
    let _ = writeln!(s, "4. data quality:");
    if a.quality.findings.is_empty() {
        let _ = writeln!(s, "   no findings");
    }
    for f in a.quality.findings.iter().take(8) {
        let _ = writeln!(s, "   [{:?}] {}", f.severity, f.message);
    }
    let _ = writeln!(s, "\npilots ({} eval rows):", a.eval_rows);
    for p in &a.pilots {
        let _ = writeln!(s, "   {}", pilot_line(p));
    }
    let _ = writeln!(s, "assessed in {:.0} s", a.seconds);
    s
}

fn pilot_line(p: &Pilot) -> String {
    let sig = match &p.vs_best {
        None => "best".to_string(),
        Some(v) => format!("p = {:.3} vs best", v.p_value),
    };
    format!(
        "{:<8} {:.1}% (95% CI {:.1}-{:.1}), macro F1 {:.1}%, {} rows x {} epoch(s), {:.0} s, {} trainable, {sig}",
        p.strategy,
        pct(p.scored.accuracy),
        p.scored.ci.lower,
        p.scored.ci.upper,
        pct(p.scored.macro_f1),
        p.rows,
        p.epochs,
        p.train_seconds,
        p.trainable
    )
}

/// Markdown for a pull request or an issue.
pub fn markdown(a: &Assessment) -> String {
    let mut s = String::new();
    let r = &a.recommendation;
    let _ = writeln!(s, "## retune assess: {}\n", a.model.display());
    let _ = writeln!(s, "**{}**\n", r.headline);
    for reason in &r.reasons {
        let _ = writeln!(s, "- {reason}");
    }
    let _ = writeln!(s, "\n### Strategies ({} eval rows)\n", a.eval_rows);
    let _ = writeln!(
        s,
        "| strategy | accuracy | 95% CI | macro F1 | train rows | seconds | trainable | p vs best |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for p in &a.pilots {
        let _ = writeln!(
            s,
            "| {} | {:.1}% | {:.1}–{:.1} | {:.1}% | {} | {:.0} | {} | {} |",
            p.strategy,
            pct(p.scored.accuracy),
            p.scored.ci.lower,
            p.scored.ci.upper,
            pct(p.scored.macro_f1),
            p.rows,
            p.train_seconds,
            p.trainable,
            p.vs_best
                .as_ref()
                .map(|v| format!("{:.3}", v.p_value))
                .unwrap_or_else(|| "best".into())
        );
    }
    let c = &a.complexity;
    let _ = writeln!(s, "\n### Task complexity\n");
    let _ = writeln!(
        s,
        "{} classes (balance {:.2}); majority baseline {:.1}%, 10-NN {:.1}%, linear probe {:.1}%.",
        c.classes,
        c.label_balance,
        pct(c.majority_accuracy),
        pct(c.knn_accuracy),
        pct(c.probe_accuracy)
    );
    let q = &a.quantity;
    let _ = writeln!(s, "\n### Data quantity\n");
    let _ = writeln!(s, "| training rows | probe accuracy |\n|---|---|");
    for (n, acc) in &q.curve {
        let _ = writeln!(s, "| {n} | {:.1}% |", pct(*acc));
    }
    if let Some(f) = &q.fit {
        let _ = writeln!(
            s,
            "\nFitted: accuracy(n) = {:.3} − {:.3}·n^−{:.3} (RMSE {:.4}).",
            f.a, f.b, f.c, f.rmse
        );
    }
    let _ = writeln!(s, "\n### Data quality\n");
    let _ = writeln!(s, "| severity | finding | example rows |\n|---|---|---|");
    for f in &a.quality.findings {
        let _ = writeln!(
            s,
            "| {:?} | {} | {} |",
            f.severity,
            f.message,
            f.rows.iter().take(3).cloned().collect::<Vec<_>>().join("<br>")
        );
    }
    s
}

/// Bars with 95% intervals, one per pilot (and the majority baseline as a line).
fn strategy_svg(a: &Assessment) -> String {
    let (w, h, left, top, bar_h, gap) = (640.0, 40.0 + 34.0 * a.pilots.len() as f64, 90.0, 20.0, 22.0, 12.0);
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
    for (i, p) in a.pilots.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let acc = pct(p.scored.accuracy);
        let color = if p.vs_best.is_none() { "#2b7bb9" } else { "#8fb9da" };
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="12" text-anchor="end">{2}</text><rect x="{3}" y="{y}" width="{4}" height="{bar_h}" fill="{color}"/><line x1="{5}" y1="{6}" x2="{7}" y2="{6}" stroke="#000" stroke-width="2"/><text x="{8}" y="{1}" font-size="11">{acc:.1}%</text>"##,
            left - 6.0,
            y + 15.0,
            esc(&p.strategy),
            x(0.0),
            x(acc) - x(0.0),
            x(p.scored.ci.lower),
            y + bar_h / 2.0,
            x(p.scored.ci.upper),
            x(p.scored.ci.upper) + 4.0
        );
    }
    let m = pct(a.complexity.majority_accuracy);
    let _ = write!(
        s,
        r##"<line x1="{0}" y1="{top}" x2="{0}" y2="{1}" stroke="#c33" stroke-dasharray="4 3"/><text x="{0}" y="{2}" font-size="10" fill="#c33">majority</text></svg>"##,
        x(m),
        h - 18.0,
        top - 6.0
    );
    s
}

/// The probe learning curve with the fitted power law extended to 4x the data.
fn curve_svg(a: &Assessment) -> String {
    let q = &a.quantity;
    let (w, h, l, r, t, b) = (640.0, 300.0, 60.0, 20.0, 20.0, 40.0);
    let max_n = q.curve.last().map(|c| c.0 as f64 * 4.0).unwrap_or(1.0);
    let mut ys: Vec<f64> = q.curve.iter().map(|c| c.1).collect();
    if let Some(f) = &q.fit {
        ys.push(f.at(max_n));
    }
    let lo = (ys.iter().cloned().fold(1.0, f64::min) - 0.05).max(0.0);
    let hi = (ys.iter().cloned().fold(0.0, f64::max) + 0.05).min(1.0);
    let min_n = q.curve.first().map(|c| c.0 as f64).unwrap_or(1.0).max(1.0);
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
    for &(n, _) in &q.curve {
        let _ = write!(
            s,
            r##"<text x="{0}" y="{1}" font-size="10" text-anchor="middle">{n}</text>"##,
            px(n as f64),
            h - b + 16.0
        );
    }
    let _ = write!(
        s,
        r##"<text x="{0}" y="{1}" font-size="11" text-anchor="middle">training rows (log scale)</text>"##,
        (w + l) / 2.0,
        h - 6.0
    );
    if let Some(f) = &q.fit {
        let first = q.curve.first().map(|c| c.0 as f64).unwrap_or(1.0);
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
    let pts: Vec<String> = q
        .curve
        .iter()
        .map(|&(n, v)| format!("{:.1},{:.1}", px(n as f64), py(v)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#2b7bb9" stroke-width="2"/>"##,
        pts.join(" ")
    );
    for &(n, v) in &q.curve {
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

/// The best pilot's confusion matrix as a heat map.
fn confusion_svg(a: &Assessment) -> String {
    let best = a.pilots.iter().find(|p| p.vs_best.is_none()).unwrap_or(&a.pilots[0]);
    let m = &best.scored.confusion;
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
    for (j, name) in a.labels.iter().enumerate() {
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

/// A self-contained HTML report (inline CSS and SVG, no scripts, no external resources).
pub fn html(a: &Assessment) -> String {
    let r = &a.recommendation;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>retune assess — {model}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}}
h1{{font-size:1.5em}} .rec{{background:#eef6ee;border-left:6px solid #2e8b57;padding:.8em 1.2em}}
.rec.fix{{background:#fbeeee;border-color:#c33}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.92em}} .high{{color:#b00;font-weight:600}}
.medium{{color:#a60}} figure{{margin:1em 0}} figcaption{{font-size:.85em;color:#555}}</style></head><body>
<h1>Does <code>{model}</code> need fine-tuning?</h1>"#,
        model = esc(&a.model.display().to_string())
    );
    let cls = if matches!(r.verdict, crate::assess::Verdict::FixDataFirst) {
        "rec fix"
    } else {
        "rec"
    };
    let _ = write!(
        s,
        r#"<div class="{cls}" id="recommendation"><h2>{}</h2><ul>"#,
        esc(&r.headline)
    );
    for reason in &r.reasons {
        let _ = write!(s, "<li>{}</li>", esc(reason));
    }
    let _ = write!(s, "</ul></div>");
    let _ = write!(s, "<h2>Strategies on the same {} eval rows</h2><figure>{}<figcaption>Accuracy with 95% bootstrap intervals; dark bar = best; dashed line = majority baseline.</figcaption></figure>", a.eval_rows, strategy_svg(a));
    let _ = write!(s, "<table><tr><th>strategy</th><th>accuracy</th><th>95% CI</th><th>macro F1</th><th>rows</th><th>seconds</th><th>full epoch (est.)</th><th>trainable</th><th>p vs best</th></tr>");
    for p in &a.pilots {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{:.1}%</td><td>{:.1}–{:.1}</td><td>{:.1}%</td><td>{}</td><td>{:.0}</td><td>{:.0} s</td><td>{}</td><td>{}</td></tr>",
            esc(&p.strategy),
            pct(p.scored.accuracy),
            p.scored.ci.lower,
            p.scored.ci.upper,
            pct(p.scored.macro_f1),
            p.rows,
            p.train_seconds,
            p.full_epoch_seconds,
            p.trainable,
            p.vs_best.as_ref().map(|v| format!("{:.3}", v.p_value)).unwrap_or_else(|| "best".into())
        );
    }
    let _ = write!(s, "</table>");
    let c = &a.complexity;
    let _ = write!(s, "<h2>1. Performance as-is</h2><p>");
    if let Some(h) = &a.as_is.existing_head {
        let _ = write!(
            s,
            "The model's own head: {:.1}% (95% CI {:.1}–{:.1}). ",
            pct(h.accuracy),
            h.ci.lower,
            h.ci.upper
        );
    }
    let p = &a.as_is.probe;
    let _ = write!(
        s,
        "Frozen-feature linear probe: {:.1}% (95% CI {:.1}–{:.1}).</p>",
        pct(p.accuracy),
        p.ci.lower,
        p.ci.upper
    );
    let _ = write!(s, "<h2>2. Task complexity</h2><p>{} classes, label balance {:.2} (entropy {:.2} bits). Majority baseline {:.1}%, 10-nearest-neighbours on frozen features {:.1}%, linear probe {:.1}%.", c.classes, c.label_balance, c.label_entropy_bits, pct(c.majority_accuracy), pct(c.knn_accuracy), pct(c.probe_accuracy));
    if let Some(t) = &c.token_fit {
        let _ = write!(s, " Tokens per text: median {}, 95th percentile {}, longest {} (model maximum {}); {:.2}% unknown tokens; {:.2} tokens per word.", t.median_tokens, t.p95_tokens, t.max_tokens, c.max_positions, 100.0 * t.unk_rate, t.fertility);
    }
    let _ = write!(s, "</p>");
    let q = &a.quantity;
    let per: Vec<String> = q.per_class.iter().map(|(k, v)| format!("{}: {v}", esc(k))).collect();
    let _ = write!(s, "<h2>3. Data quantity</h2><p>{} training rows ({}).</p><figure>{}<figcaption>Probe accuracy on growing samples of the training data (solid) and the fitted inverse power law extended to 4× the data (dashed).</figcaption></figure>", q.train_rows, per.join(", "), curve_svg(a));
    if let Some(f) = &q.fit {
        let _ = write!(
            s,
            "<p>Fit: accuracy(n) = {:.3} − {:.3}·n<sup>−{:.3}</sup> (RMSE {:.4}).</p>",
            f.a, f.b, f.c, f.rmse
        );
    }
    let _ = write!(
        s,
        "<h2>4. Data quality</h2><table><tr><th>severity</th><th>finding</th><th>example rows</th></tr>"
    );
    for f in &a.quality.findings {
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
    if a.quality.findings.is_empty() {
        let _ = write!(s, "<tr><td></td><td>no findings</td><td></td></tr>");
    }
    let _ = write!(s, "</table>");
    let _ = write!(s, "<h2>Confusion matrix of the best pilot</h2><figure>{}<figcaption>Rows: gold label; columns: predicted.</figcaption></figure>", confusion_svg(a));
    let _ = write!(
        s,
        "<p style=\"font-size:.8em;color:#777\">retune assess, {:.0} s.</p></body></html>\n",
        a.seconds
    );
    s
}
