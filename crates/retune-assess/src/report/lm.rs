//! The report of a language-model assessment: terminal, Markdown and a self-contained HTML page
//! with the perplexity of the model as it is and of each pilot (95% intervals) and the learning
//! curve as inline SVG.

use std::fmt::Write;

use super::{esc, head_html, interval_bars_svg, recommendation_html, recommendation_markdown, recommendation_terminal};
use crate::assess::{LmAssessment, LmPilot};

fn pilot_line(p: &LmPilot) -> String {
    let vs = match &p.vs_as_is {
        Some(v) => format!(", p = {:.3} vs as-is", v.p_value),
        None => String::new(),
    };
    format!(
        "{:<8} perplexity {:>9.3} (95% CI {:.3}-{:.3}){}{}",
        p.strategy,
        p.scored.perplexity,
        p.scored.ci.lower,
        p.scored.ci.upper,
        if p.steps > 0 {
            format!(
                ", {} steps on {} blocks, {:.0} tokens/s, {:.0} s",
                p.steps, p.blocks, p.tokens_per_s, p.train_seconds
            )
        } else {
            String::new()
        },
        vs
    )
}

/// The pilot table's columns.
const PILOT_COLUMNS: [&str; 11] = [
    "strategy",
    "perplexity",
    "95% CI",
    "steps",
    "blocks",
    "tokens/s",
    "seconds",
    "full epoch (est.)",
    "trainable",
    "p vs as-is",
    "p vs best",
];

/// One pilot's cells, in [`PILOT_COLUMNS`]' order (unescaped).
fn pilot_cells(p: &LmPilot) -> [String; 11] {
    [
        p.strategy.clone(),
        format!("{:.3}", p.scored.perplexity),
        format!("{:.3}–{:.3}", p.scored.ci.lower, p.scored.ci.upper),
        p.steps.to_string(),
        p.blocks.to_string(),
        format!("{:.0}", p.tokens_per_s),
        format!("{:.0}", p.train_seconds),
        format!("{:.0} s", p.full_epoch_seconds),
        p.trainable.to_string(),
        p.vs_as_is
            .as_ref()
            .map(|v| format!("{:.3}", v.p_value))
            .unwrap_or_else(|| "–".into()),
        p.vs_best
            .as_ref()
            .map(|v| format!("{:.3}", v.p_value))
            .unwrap_or_else(|| "best".into()),
    ]
}

fn angles(a: &LmAssessment) -> [String; 4] {
    let x = &a.as_is;
    let c = &a.complexity;
    let q = &a.quantity;
    let l = &a.quality;
    [
        format!(
            "perplexity {:.3} on the {} eval documents (95% CI {:.3}-{:.3}, windows of {} tokens), {:.3} on {} everyday English sentences: {:.2}x",
            x.eval.perplexity,
            x.eval.documents,
            x.eval.ci.lower,
            x.eval.ci.upper,
            a.block_size,
            x.reference.perplexity,
            x.reference.documents,
            x.ratio
        ),
        format!(
            "{:.2} tokens per word, {:.2}% bare-byte tokens, documents {:.0} tokens on average (longest {}), {} longer than the {}-token context, {} longer than a block",
            c.tokens_per_word,
            100.0 * c.byte_token_rate,
            c.mean_doc_tokens,
            c.max_doc_tokens,
            c.docs_over_context,
            c.context,
            c.docs_over_block
        ),
        format!(
            "{} training documents, {} tokens, {} blocks of {}; pilots train on {} blocks{}{}",
            q.train_documents,
            q.train_tokens,
            q.train_blocks,
            a.block_size,
            q.pilot_blocks,
            if q.curve.is_empty() {
                String::new()
            } else {
                format!(
                    "; learning curve (same steps): {}",
                    q.curve
                        .iter()
                        .map(|(n, p)| format!("{n} blocks → {p:.3}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            q.curve_note.as_ref().map(|n| format!("; {n}")).unwrap_or_default()
        ),
        format!(
            "{} duplicate and {} near-duplicate training documents; {} eval documents in train ({} exact, {} near)",
            l.duplicate_docs,
            l.near_duplicate_docs,
            l.leaked_rows.len(),
            l.leaked_exact,
            l.leaked_near
        ),
    ]
}

/// The terminal report.
pub fn terminal(a: &LmAssessment) -> String {
    let mut s = format!("retune assess --task lm: {}\n\n", a.model.display());
    s.push_str(&recommendation_terminal(&a.recommendation));
    let [one, two, three, four] = angles(a);
    let _ = writeln!(
        s,
        "\n1. as-is: {one}\n2. complexity: {two}\n3. quantity: {three}\n4. quality: {four}"
    );
    let _ = writeln!(s, "\npilots on the same {} eval documents:", a.eval_documents);
    for p in &a.pilots {
        let _ = writeln!(s, "  {}", pilot_line(p));
    }
    for w in &a.weighed {
        let _ = writeln!(
            s,
            "  finding: {} ({})",
            w.effect,
            if w.material { "material" } else { "too small to matter" }
        );
    }
    let _ = writeln!(s, "({:.0} s)", a.seconds);
    s
}

/// The Markdown report.
pub fn markdown(a: &LmAssessment) -> String {
    let mut s = format!("# Does `{}` need continued pre-training?\n\n", a.model.display());
    s.push_str(&recommendation_markdown("Recommendation", &a.recommendation));
    let names = ["Performance as-is", "Task complexity", "Data quantity", "Data quality"];
    for (i, (n, t)) in names.iter().zip(angles(a)).enumerate() {
        let _ = writeln!(s, "\n## {}. {n}\n\n{t}", i + 1);
    }
    let _ = writeln!(
        s,
        "\n## Pilots\n\n| {} |\n|{}",
        PILOT_COLUMNS.join(" | "),
        "---|".repeat(PILOT_COLUMNS.len())
    );
    for p in &a.pilots {
        let _ = writeln!(s, "| {} |", pilot_cells(p).join(" | "));
    }
    s
}

/// Horizontal bars of perplexity with 95% intervals, one per pilot (log scale).
fn pilots_svg(pilots: &[LmPilot]) -> String {
    let hi = pilots
        .iter()
        .map(|p| p.scored.ci.upper.max(p.scored.perplexity))
        .fold(1.0, f64::max)
        * 1.1;
    let lo = pilots
        .iter()
        .map(|p| p.scored.ci.lower.min(p.scored.perplexity))
        .fold(f64::MAX, f64::min)
        .max(1.0)
        / 1.1;
    let rows: Vec<(String, f64, f64, f64)> = pilots
        .iter()
        .map(|p| {
            (
                p.strategy.clone(),
                p.scored.perplexity,
                p.scored.ci.lower,
                p.scored.ci.upper,
            )
        })
        .collect();
    interval_bars_svg(
        &rows,
        |v| (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln()).max(1e-9),
        "perplexity (log scale; lower is better)",
    )
}

/// The HTML report.
pub fn html(a: &LmAssessment) -> String {
    let mut s = head_html(&a.model.display().to_string());
    s.push_str(&recommendation_html(&a.recommendation));
    let _ = write!(
        s,
        "<h2>Pilots on the same {} eval documents</h2><figure>{}<figcaption>Perplexity of the model as it is (grey) and after each pilot, with 95% bootstrap intervals over documents.</figcaption></figure><table><tr>",
        a.eval_documents,
        pilots_svg(&a.pilots)
    );
    for c in PILOT_COLUMNS {
        let _ = write!(s, "<th>{c}</th>");
    }
    s.push_str("</tr>");
    for p in &a.pilots {
        s.push_str("<tr>");
        for c in pilot_cells(p) {
            let _ = write!(s, "<td>{}</td>", esc(&c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    let names = ["Performance as-is", "Task complexity", "Data quantity", "Data quality"];
    for (i, (n, t)) in names.iter().zip(angles(a)).enumerate() {
        let _ = write!(s, "<h2>{}. {n}</h2><p>{}</p>", i + 1, esc(&t));
    }
    if !a.weighed.is_empty() {
        let _ = write!(s, "<ul>");
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
    let _ = writeln!(
        s,
        "<p style=\"font-size:.8em;color:#777\">retune assess --task lm, {:.0} s.</p></body></html>",
        a.seconds
    );
    s
}
