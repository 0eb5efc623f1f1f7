//! The report of a translation assessment: terminal, Markdown and a self-contained HTML page with
//! the metric table of the model as it is and of each pilot (95% intervals), chrF per pilot as
//! an SVG chart, the learning curve, and the rows the best pilot gained or lost most on.

use std::fmt::Write;

use super::{
    curve_svg, esc, head_html, interval_bars_svg, recommendation_html, recommendation_markdown, recommendation_terminal,
};
use crate::assess::{GenAssessment, GenPilot};

/// The metric columns: every score the as-is row has, in its order.
fn metric_names(a: &GenAssessment) -> Vec<String> {
    a.pilots[0]
        .scored
        .metrics
        .scores
        .iter()
        .map(|m| m.name.clone())
        .collect()
}

/// One pilot's cells: strategy, each metric with its interval, steps, pairs/s, seconds, p values.
fn pilot_cells(p: &GenPilot, names: &[String]) -> Vec<String> {
    let mut c = vec![p.strategy.clone()];
    for n in names {
        c.push(match p.scored.metrics.get(n) {
            Some(m) => format!("{:.2} ({:.2}–{:.2})", m.score, m.ci.lower, m.ci.upper),
            None => "–".into(),
        });
    }
    c.push(if p.steps > 0 { p.steps.to_string() } else { "–".into() });
    c.push(if p.steps > 0 {
        format!("{:.1}", p.pairs_per_s)
    } else {
        "–".into()
    });
    c.push(if p.steps > 0 {
        format!("{:.0}", p.train_seconds)
    } else {
        "–".into()
    });
    c.push(
        p.vs_as_is
            .as_ref()
            .map(|v| format!("{:.3}", v.p_value))
            .unwrap_or_else(|| "–".into()),
    );
    c.push(
        p.vs_best
            .as_ref()
            .map(|v| format!("{:.3}", v.p_value))
            .unwrap_or_else(|| "best".into()),
    );
    c
}

fn columns(names: &[String]) -> Vec<String> {
    let mut c = vec!["strategy".to_string()];
    c.extend(names.iter().map(|n| format!("{n} (95% CI)")));
    c.extend(["steps", "pairs/s", "seconds", "p vs as-is (chrF)", "p vs best"].map(String::from));
    c
}

fn angles(a: &GenAssessment) -> [String; 4] {
    let x = &a.pilots[0].scored;
    let c = &a.complexity;
    let q = &a.quantity;
    let l = &a.quality;
    let table: Vec<String> = x
        .metrics
        .scores
        .iter()
        .map(|m| format!("{} {:.2} (95% CI {:.2}-{:.2})", m.name, m.score, m.ci.lower, m.ci.upper))
        .collect();
    let mut one = format!(
        "{} ({} → {}) on {} eval rows, {}: {}",
        a.task.name(),
        a.languages.0,
        a.languages.1,
        a.eval_rows,
        a.how,
        table.join(", ")
    );
    for l in &x.metrics.left_out {
        let _ = write!(one, "; left out: {l}");
    }
    if let Some(t) = &a.target {
        let _ = write!(one, "; target {}>={:.1}: {}", t.metric, t.threshold, t.outcome);
    }
    let two = format!(
        "sources {:.1} tokens on average (longest {}), targets {:.1} (longest {}); {} pairs longer than {} tokens (the model's positions: {}); tokens the vocabulary cannot spell (unknown or bare bytes) {:.2}% of source, {:.2}% of target; {:.2} source and {:.2} target tokens per word; as-is outputs: {} of {} not in the {} script, {} copies of their source",
        c.source_tokens_mean,
        c.longest.0,
        c.target_tokens_mean,
        c.longest.1,
        c.rows_over_max,
        c.max_length,
        c.max_positions,
        100.0 * c.source_unk_rate,
        100.0 * c.target_unk_rate,
        c.source_fertility,
        c.target_fertility,
        c.outputs_wrong_script,
        c.outputs,
        c.target_script.as_deref().unwrap_or("target"),
        c.outputs_copied
    );
    let curve: Vec<String> = q.curve.iter().map(|(n, v)| format!("{n} pairs {v:.2}")).collect();
    let three = format!(
        "{} training pairs, {} per pilot; learning curve of {} (chrF after the same steps): {}",
        q.train_pairs,
        q.pilot_pairs,
        q.curve_strategy,
        if curve.is_empty() {
            "not run".into()
        } else {
            curve.join(", ")
        }
    );
    let align = match &l.alignment {
        Some(al) => format!(
            "; {}'s outputs against their own references chrF {:.2}, against the next row's {:.2} (paired p = {:.3})",
            al.system, al.chrf_own, al.chrf_rotated, al.test.p_value
        ),
        None => String::new(),
    };
    let four = format!(
        "{} untranslated copies, {} length-ratio outliers, {} targets in the wrong script, {} duplicate pairs, {} blank sides; source/target length correlation {}; {} eval sources in train ({} exact, {} near){}",
        l.copies,
        l.ratio_outliers,
        l.wrong_script,
        l.duplicate_pairs,
        l.blank,
        l.length_correlation.map_or("n/a".into(), |r| format!("r = {r:.2}")),
        l.leaked_rows.len(),
        l.leaked_exact,
        l.leaked_near,
        align
    );
    [one, two, three, four]
}

/// The terminal report.
pub fn terminal(a: &GenAssessment) -> String {
    let mut s = format!("retune assess --task {}: {}\n\n", a.task.name(), a.model.display());
    s.push_str(&recommendation_terminal(&a.recommendation));
    let [one, two, three, four] = angles(a);
    let _ = writeln!(
        s,
        "\n1. as-is: {one}\n2. complexity: {two}\n3. quantity: {three}\n4. quality: {four}"
    );
    let _ = writeln!(s, "\npilots on the same {} eval rows:", a.eval_rows);
    for p in &a.pilots {
        let ci = chrf_interval(p);
        let _ = writeln!(
            s,
            "  {:<8} chrF {:>6.2} (95% CI {:.2}-{:.2}) BLEU {:>6.2}{}{}",
            p.strategy,
            p.scored.chrf,
            ci.0,
            ci.1,
            p.scored.metrics.bleu(),
            if p.steps > 0 {
                format!(", {} steps on {} pairs, {:.0} s", p.steps, p.pairs, p.train_seconds)
            } else {
                String::new()
            },
            p.vs_as_is
                .as_ref()
                .map(|v| format!(", p = {:.3} vs as-is", v.p_value))
                .unwrap_or_default()
        );
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
pub fn markdown(a: &GenAssessment) -> String {
    let mut s = format!("# Does `{}` need fine-tuning or retraining?\n\n", a.model.display());
    s.push_str(&recommendation_markdown("Recommendation", &a.recommendation));
    let names = ["Performance as-is", "Task complexity", "Data quantity", "Data quality"];
    for (i, (n, t)) in names.iter().zip(angles(a)).enumerate() {
        let _ = writeln!(s, "\n## {}. {n}\n\n{t}", i + 1);
    }
    let metrics = metric_names(a);
    let cols = columns(&metrics);
    let _ = writeln!(
        s,
        "\n## Pilots\n\n| {} |\n|{}",
        cols.join(" | "),
        "---|".repeat(cols.len())
    );
    for p in &a.pilots {
        let _ = writeln!(s, "| {} |", pilot_cells(p, &metrics).join(" | "));
    }
    if !a.examples.is_empty() {
        let _ = writeln!(s, "\n## Where the best pilot gained or lost most\n");
        for e in &a.examples {
            let _ = writeln!(
                s,
                "- row {}: `{}` → as-is `{}` (chrF {:.1}), pilot `{}` (chrF {:.1}); reference `{}`",
                e.row + 1,
                e.source,
                e.as_is,
                e.chrf.0,
                e.pilot,
                e.chrf.1,
                e.reference
            );
        }
    }
    s
}

/// A pilot's chrF 95% interval ((0, 0) when the table has no chrF).
fn chrf_interval(p: &GenPilot) -> (f64, f64) {
    p.scored
        .metrics
        .get("chrF2")
        .map(|m| (m.ci.lower, m.ci.upper))
        .unwrap_or((0.0, 0.0))
}

/// Horizontal bars of chrF with 95% intervals, one per system (as-is grey).
fn pilots_svg(pilots: &[GenPilot]) -> String {
    let rows: Vec<(String, f64, f64, f64)> = pilots
        .iter()
        .map(|p| {
            let ci = chrf_interval(p);
            (p.strategy.clone(), p.scored.chrf, ci.0, ci.1)
        })
        .collect();
    interval_bars_svg(&rows, |v| v / 100.0, "chrF (0-100; higher is better)")
}

/// The HTML report.
pub fn html(a: &GenAssessment) -> String {
    let mut s = head_html(&a.model.display().to_string());
    s.push_str(&recommendation_html(&a.recommendation));
    let metrics = metric_names(a);
    let _ = write!(
        s,
        "<h2>Pilots on the same {} eval rows</h2><figure id=\"pilots\">{}<figcaption>chrF of the model as it is (grey) and after each pilot, with 95% bootstrap intervals over rows.</figcaption></figure><table id=\"metrics\"><tr>",
        a.eval_rows,
        pilots_svg(&a.pilots)
    );
    for c in columns(&metrics) {
        let _ = write!(s, "<th>{}</th>", esc(&c));
    }
    s.push_str("</tr>");
    for p in &a.pilots {
        s.push_str("<tr>");
        for c in pilot_cells(p, &metrics) {
            let _ = write!(s, "<td>{}</td>", esc(&c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    let sigs: Vec<String> = a.pilots[0]
        .scored
        .metrics
        .scores
        .iter()
        .map(|m| format!("{}: {}", m.name, m.signature))
        .collect();
    let _ = write!(
        s,
        "<p style=\"font-size:.8em;color:#555\">{}</p>",
        esc(&sigs.join(" · "))
    );
    let names = ["Performance as-is", "Task complexity", "Data quantity", "Data quality"];
    for (i, (n, t)) in names.iter().zip(angles(a)).enumerate() {
        let _ = write!(s, "<h2>{}. {n}</h2><p>{}</p>", i + 1, esc(&t));
        if i == 2 && a.quantity.curve.len() >= 2 {
            let frac: Vec<(usize, f64)> = a.quantity.curve.iter().map(|&(n, c)| (n, c / 100.0)).collect();
            let _ = write!(
                s,
                "<figure id=\"curve\">{}<figcaption>chrF/100 of {} after the same number of steps on growing shares of the pilot pairs.</figcaption></figure>",
                curve_svg(&frac, None, "pairs"),
                esc(&a.quantity.curve_strategy)
            );
        }
    }
    if !a.weighed.is_empty() || !a.advice.is_empty() {
        s.push_str("<ul id=\"findings\">");
        for w in &a.weighed {
            let _ = write!(
                s,
                "<li>{} ({})</li>",
                esc(&w.effect),
                if w.material { "material" } else { "too small to matter" }
            );
        }
        for x in &a.advice {
            let _ = write!(s, "<li>{}</li>", esc(x));
        }
        s.push_str("</ul>");
    }
    if !a.examples.is_empty() {
        s.push_str("<h2>Where the best pilot gained or lost most</h2><table id=\"examples\"><tr><th>row</th><th>source</th><th>reference</th><th>as-is</th><th>pilot</th><th>chrF as-is → pilot</th></tr>");
        for e in &a.examples {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} → {:.1}</td></tr>",
                e.row + 1,
                esc(&e.source),
                esc(&e.reference),
                esc(&e.as_is),
                esc(&e.pilot),
                e.chrf.0,
                e.chrf.1
            );
        }
        s.push_str("</table>");
    }
    let _ = writeln!(
        s,
        "<p style=\"font-size:.8em;color:#777\">retune assess --task {}, {:.0} s.</p></body></html>",
        a.task.name(),
        a.seconds
    );
    s
}
