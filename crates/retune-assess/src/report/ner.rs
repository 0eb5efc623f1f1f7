//! The NER assessment as a terminal summary, Markdown and HTML: entity F1 per strategy with its
//! interval, F1 per type, the probe's learning curve over sentences, the type confusion matrix of
//! the best pilot, the audit's findings and what each would change.

use super::{
    confusion_svg, curve_svg, esc, findings_html, findings_markdown, findings_terminal, head_html, pct, pilot_line,
    recommendation_html, recommendation_markdown, recommendation_terminal, strategy_svg,
};
use crate::assess::{NerAssessment, NerScored};
use std::fmt::Write;

fn best(a: &NerAssessment) -> &NerScored {
    &a.pilots
        .iter()
        .find(|p| p.vs_best.is_none())
        .unwrap_or(&a.pilots[0])
        .scored
}

fn per_type_line(s: &NerScored) -> String {
    s.per_type
        .iter()
        .map(|(t, f, n)| format!("{t} {:.1} ({n})", pct(*f)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn complexity_text(a: &NerAssessment) -> String {
    let c = &a.complexity;
    let mut s = format!(
        "{} entity types (balance {:.2}), {:.2} entities per sentence, {:.2} words per entity ({:.1}% longer than one word), {:.1}% of words tagged O; {:.1}% of eval entities occur in train with the same words and type; token probe entity F1 {:.1}%.",
        c.types,
        c.type_balance,
        c.entities_per_sentence,
        c.mean_entity_words,
        pct(c.multi_word_share),
        pct(c.outside_share),
        pct(c.eval_entities_seen),
        pct(c.probe_f1)
    );
    if let Some(t) = &c.token_fit {
        let _ = write!(
            s,
            " Tokens per sentence: median {}, 95th percentile {}, longest {} (model maximum {}); {:.2}% unknown tokens; {:.2} tokens per word.",
            t.median_tokens,
            t.p95_tokens,
            t.max_tokens,
            c.max_positions,
            100.0 * t.unk_rate,
            t.fertility
        );
    }
    s
}

fn quantity_text(a: &NerAssessment) -> String {
    let q = &a.quantity;
    let per: Vec<String> = q.entities_per_type.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!(
        "{} training sentences; entities per type: {}.",
        q.train_sentences,
        per.join(", ")
    )
}

/// The terminal summary.
pub fn terminal(a: &NerAssessment) -> String {
    let mut s = recommendation_terminal(&a.recommendation);
    let _ = writeln!(s, "\n1. performance as-is");
    if let Some(h) = &a.as_is.existing_head {
        let _ = writeln!(
            s,
            "   own token head: entity F1 {:.1}% (95% CI {:.1}-{:.1})",
            pct(h.f1),
            h.ci.lower,
            h.ci.upper
        );
    }
    let p = &a.as_is.probe;
    let _ = writeln!(
        s,
        "   token probe on frozen features: entity F1 {:.1}% (95% CI {:.1}-{:.1}), P {:.1}%, R {:.1}%",
        pct(p.f1),
        p.ci.lower,
        p.ci.upper,
        pct(p.precision),
        pct(p.recall)
    );
    let _ = writeln!(s, "2. task complexity: {}", complexity_text(a));
    let _ = writeln!(s, "3. data quantity: {}", quantity_text(a));
    let curve: Vec<String> = a
        .quantity
        .curve
        .iter()
        .map(|(n, f)| format!("{n}: {:.1}%", pct(*f)))
        .collect();
    let _ = writeln!(
        s,
        "   probe learning curve (sentences: entity F1): {}",
        curve.join(", ")
    );
    s.push_str(&findings_terminal(&a.quality.findings));
    let _ = writeln!(s, "\npilots ({} eval sentences):", a.eval_rows);
    for p in &a.pilots {
        let _ = writeln!(s, "   {}", pilot_line(p, "entity F1"));
    }
    let _ = writeln!(s, "best pilot per type (F1, gold entities): {}", per_type_line(best(a)));
    let _ = writeln!(s, "assessed in {:.0} s", a.seconds);
    s
}

/// Markdown for a pull request or an issue.
pub fn markdown(a: &NerAssessment) -> String {
    let mut s = recommendation_markdown(
        &format!("retune assess --task ner: {}", a.model.display()),
        &a.recommendation,
    );
    let _ = writeln!(s, "\n### Strategies ({} eval sentences)\n", a.eval_rows);
    let _ = writeln!(
        s,
        "| strategy | entity F1 | 95% CI | P | R | macro F1 | train sentences | epochs | seconds | trainable | p vs best |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &a.pilots {
        let _ = writeln!(
            s,
            "| {} | {:.1}% | {:.1}–{:.1} | {:.1}% | {:.1}% | {:.1}% | {} | {} | {:.0} | {} | {} |",
            p.strategy,
            pct(p.scored.f1),
            p.scored.ci.lower,
            p.scored.ci.upper,
            pct(p.scored.precision),
            pct(p.scored.recall),
            pct(p.scored.macro_f1),
            p.rows,
            p.epochs,
            p.train_seconds,
            p.trainable,
            p.vs_best
                .as_ref()
                .map(|v| format!("{:.3}", v.p_value))
                .unwrap_or_else(|| "best".into())
        );
    }
    let _ = writeln!(
        s,
        "\nBest pilot per type (F1, gold entities): {}",
        per_type_line(best(a))
    );
    let _ = writeln!(s, "\n### Task complexity\n\n{}", complexity_text(a));
    let _ = writeln!(s, "\n### Data quantity\n\n{}\n", quantity_text(a));
    let _ = writeln!(s, "| training sentences | probe entity F1 |\n|---|---|");
    for (n, f) in &a.quantity.curve {
        let _ = writeln!(s, "| {n} | {:.1}% |", pct(*f));
    }
    s.push_str(&findings_markdown(&a.quality.findings));
    if !a.weighed.is_empty() {
        let _ = writeln!(s, "\nWhat the findings would change:\n");
        for w in &a.weighed {
            let _ = writeln!(
                s,
                "- {} ({})",
                w.effect,
                if w.material { "material" } else { "too small to matter" }
            );
        }
    }
    s
}

/// A self-contained HTML report (inline CSS and SVG, no scripts, no external resources).
pub fn html(a: &NerAssessment) -> String {
    let mut s = head_html(&a.model.display().to_string());
    s.push_str(&recommendation_html(&a.recommendation));
    let _ = write!(
        s,
        "<h2>Strategies on the same {} eval sentences</h2><figure>{}<figcaption>Entity micro-F1 (seqeval) with 95% bootstrap intervals over sentences; dark bar = best; dashed line = tagging every word O.</figcaption></figure>",
        a.eval_rows,
        strategy_svg(&a.pilots, ("all-O", 0.0))
    );
    let _ = write!(s, "<table><tr><th>strategy</th><th>entity F1</th><th>95% CI</th><th>precision</th><th>recall</th><th>macro F1</th><th>sentences</th><th>epochs</th><th>seconds</th><th>full epoch (est.)</th><th>trainable</th><th>p vs best</th></tr>");
    for p in &a.pilots {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{:.1}%</td><td>{:.1}–{:.1}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0} s</td><td>{}</td><td>{}</td></tr>",
            esc(&p.strategy),
            pct(p.scored.f1),
            p.scored.ci.lower,
            p.scored.ci.upper,
            pct(p.scored.precision),
            pct(p.scored.recall),
            pct(p.scored.macro_f1),
            p.rows,
            p.epochs,
            p.train_seconds,
            p.full_epoch_seconds,
            p.trainable,
            p.vs_best.as_ref().map(|v| format!("{:.3}", v.p_value)).unwrap_or_else(|| "best".into())
        );
    }
    let _ = write!(s, "</table><h3>F1 per entity type</h3><table><tr><th>type</th>");
    for p in &a.pilots {
        let _ = write!(s, "<th>{}</th>", esc(&p.strategy));
    }
    let _ = write!(s, "<th>gold entities</th></tr>");
    for t in &a.types {
        let _ = write!(s, "<tr><td>{}</td>", esc(t));
        let mut support = 0;
        for p in &a.pilots {
            match p.scored.per_type.iter().find(|x| &x.0 == t) {
                Some((_, f, n)) => {
                    support = *n;
                    let _ = write!(s, "<td>{:.1}%</td>", pct(*f));
                }
                None => {
                    let _ = write!(s, "<td>–</td>");
                }
            }
        }
        let _ = write!(s, "<td>{support}</td></tr>");
    }
    let _ = write!(s, "</table>");
    let p = &a.as_is.probe;
    let _ = write!(s, "<h2>1. Performance as-is</h2><p>");
    if let Some(h) = &a.as_is.existing_head {
        let _ = write!(
            s,
            "The model's own token head: entity F1 {:.1}% (95% CI {:.1}–{:.1}). ",
            pct(h.f1),
            h.ci.lower,
            h.ci.upper
        );
    }
    let _ = write!(
        s,
        "A token probe on the frozen encoder's first-sub-word states: entity F1 {:.1}% (95% CI {:.1}–{:.1}), precision {:.1}%, recall {:.1}%, token accuracy {:.1}%.</p>",
        pct(p.f1),
        p.ci.lower,
        p.ci.upper,
        pct(p.precision),
        pct(p.recall),
        pct(p.token_accuracy)
    );
    let _ = write!(s, "<h2>2. Task complexity</h2><p>{}</p>", esc(&complexity_text(a)));
    let q = &a.quantity;
    let _ = write!(
        s,
        "<h2>3. Data quantity</h2><p>{}</p><figure>{}<figcaption>Probe entity F1 on growing samples of the training sentences (solid) and the fitted inverse power law extended to 4× the data (dashed).</figcaption></figure>",
        esc(&quantity_text(a)),
        curve_svg(&q.curve, q.fit.as_ref(), "sentences")
    );
    s.push_str(&findings_html(&a.quality.findings));
    if !a.weighed.is_empty() {
        let _ = write!(s, "<p>What the findings would change:</p><ul>");
        for w in &a.weighed {
            let _ = write!(
                s,
                "<li>{} ({})</li>",
                esc(&w.effect),
                if w.material { "material" } else { "too small to matter" }
            );
        }
        let _ = write!(s, "</ul>");
    }
    let mut names = a.types.clone();
    names.push("none".into());
    let _ = write!(
        s,
        "<h2>Entity types confused by the best pilot</h2><figure>{}<figcaption>Rows: gold type; columns: predicted type at the same span; \"none\": no entity there (a missed gold entity, or a spurious prediction).</figcaption></figure>",
        confusion_svg(&best(a).confusion, &names)
    );
    let _ = writeln!(
        s,
        "<p style=\"font-size:.8em;color:#777\">retune assess --task ner, {:.0} s.</p></body></html>",
        a.seconds
    );
    s
}
