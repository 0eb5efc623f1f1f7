//! The classification assessment as a terminal summary, Markdown and HTML.

use super::{
    confusion_svg, curve_svg, esc, findings_html, findings_markdown, findings_terminal, head_html, pct, pilot_line,
    recommendation_html, recommendation_markdown, recommendation_terminal, strategy_svg,
};
use crate::assess::Assessment;
use std::fmt::Write;

/// The terminal summary.
pub fn terminal(a: &Assessment) -> String {
    let mut s = recommendation_terminal(&a.recommendation);
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
    s.push_str(&findings_terminal(&a.quality.findings));
    let _ = writeln!(s, "\npilots ({} eval rows):", a.eval_rows);
    for p in &a.pilots {
        let _ = writeln!(s, "   {}", pilot_line(p, "accuracy"));
    }
    let _ = writeln!(s, "assessed in {:.0} s", a.seconds);
    s
}

/// Markdown for a pull request or an issue.
pub fn markdown(a: &Assessment) -> String {
    let mut s = recommendation_markdown(&format!("retune assess: {}", a.model.display()), &a.recommendation);
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
    s.push_str(&findings_markdown(&a.quality.findings));
    s
}

/// A self-contained HTML report (inline CSS and SVG, no scripts, no external resources).
pub fn html(a: &Assessment) -> String {
    let r = &a.recommendation;
    let mut s = String::new();
    s.push_str(&head_html(&a.model.display().to_string()));
    s.push_str(&recommendation_html(r));
    let _ = write!(s, "<h2>Strategies on the same {} eval rows</h2><figure>{}<figcaption>Accuracy with 95% bootstrap intervals; dark bar = best; dashed line = majority baseline.</figcaption></figure>", a.eval_rows, strategy_svg(&a.pilots, ("majority", a.complexity.majority_accuracy)));
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
    let _ = write!(s, "<h2>3. Data quantity</h2><p>{} training rows ({}).</p><figure>{}<figcaption>Probe accuracy on growing samples of the training data (solid) and the fitted inverse power law extended to 4× the data (dashed).</figcaption></figure>", q.train_rows, per.join(", "), curve_svg(&q.curve, q.fit.as_ref(), "rows"));
    if let Some(f) = &q.fit {
        let _ = write!(
            s,
            "<p>Fit: accuracy(n) = {:.3} − {:.3}·n<sup>−{:.3}</sup> (RMSE {:.4}).</p>",
            f.a, f.b, f.c, f.rmse
        );
    }
    s.push_str(&findings_html(&a.quality.findings));
    let _ = write!(s, "<h2>Confusion matrix of the best pilot</h2><figure>{}<figcaption>Rows: gold label; columns: predicted.</figcaption></figure>", {
        let best = a.pilots.iter().find(|p| p.vs_best.is_none()).unwrap_or(&a.pilots[0]);
        confusion_svg(&best.scored.confusion, &a.labels)
    });
    let _ = writeln!(
        s,
        "<p style=\"font-size:.8em;color:#777\">retune assess, {:.0} s.</p></body></html>",
        a.seconds
    );
    s
}
