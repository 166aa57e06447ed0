//! The HTML page of `audit report`: one file, nothing fetched.
//!
//! Styles are inline, charts are inline SVG, there is no script, and the page's own
//! Content-Security-Policy forbids loading anything (a page opened from a mail attachment or a
//! ticket cannot call home, whatever a log holds). Log text enters only through
//! [`super::html::text`]; ids and links are built from numbers (`#seq-N`), and every link
//! points at a record the page shows.
//!
//! The colours are part of the interface: the tests find them in a screenshot (the verdict's
//! background is `#d3f9d8` when the chain verifies, `#ffc9c9` when it is damaged). Each chart
//! colour is used for its chart marks and for a legend swatch shown only when that colour is
//! drawn, never for text or decoration.

use std::fmt::Write;

use wasmgov::audit::verify::VerifyReport;

use super::digest::{BUCKETS, Digest, Group, Outcome};
use super::html::text;

/// Fill of each [`Outcome`], in [`Outcome::ALL`] order.
pub const OUTCOME_COLOURS: [&str; 5] = ["#2f9e44", "#e03131", "#f76707", "#7048e8", "#868e96"];
/// Fill of each finding severity.
pub const SEVERITY_COLOURS: [(&str, &str); 4] = [
    ("low", "#339af0"),
    ("medium", "#fcc419"),
    ("high", "#e8590c"),
    ("critical", "#a61e4d"),
];
/// Fill of a severity the page does not know.
const OTHER_SEVERITY: &str = "#495057";

/// Width of a proportion bar.
const BAR_W: u32 = 1000;
/// Timeline geometry: the lane labels' column, one bucket's width, a lane's pitch.
const LABEL_W: u32 = 200;
const STEP: u32 = 5;
const LANE_H: u32 = 40;
const BARS_H: u32 = 24;

macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// The whole page for `digest` of the log named `name`, whose chain verified as `chain` says.
pub fn render(name: &str, d: &Digest, chain: &VerifyReport) -> String {
    let mut o = String::with_capacity(64 * 1024 + d.kept.len() * 400);
    w!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>wasmgov audit report: {}</title>\n<style>{CSS}</style></head><body>\n",
        text(name)
    );
    w!(
        o,
        "<header><h1>wasmgov audit report</h1><p class=\"file\">{}</p><nav>\
         <a href=\"#summary\">Summary</a><a href=\"#timeline\">Timeline</a>\
         <a href=\"#tools\">Tools</a><a href=\"#denials\">Denials</a>\
         <a href=\"#limits\">Limit hits</a><a href=\"#findings\">Findings</a>\
         <a href=\"#quarantines\">Quarantines</a><a href=\"#records\">Records</a></nav></header>\n",
        text(name)
    );
    summary(&mut o, d, chain);
    timeline(&mut o, d);
    tools(&mut o, d);
    denials(&mut o, d);
    limits(&mut o, d);
    findings(&mut o, d);
    quarantines(&mut o, d);
    records(&mut o, d, chain);
    w!(
        o,
        "<footer>wasmgov {} · this page reads the log; run <code>wasmgov audit verify --key PUB</code> \
         to check signed checkpoints too.</footer>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    o
}

fn summary(o: &mut String, d: &Digest, chain: &VerifyReport) {
    o.push_str("<section id=\"summary\"><h2>Summary</h2>\n");
    match &chain.problem {
        None => w!(
            o,
            "<div class=\"verdict ok\"><strong>Chain verifies</strong>: {} records, each \
             hash-chained to the one before. Without the operator's key this proves only that the \
             file is self-consistent ({} checkpoints not checked).</div>\n",
            chain.records,
            chain.unverified_checkpoints
        ),
        Some(p) => {
            let at = if p.line == 0 {
                String::new()
            } else {
                format!(" (line {})", p.line)
            };
            w!(
                o,
                "<div class=\"verdict bad\"><strong>Chain DAMAGED at seq {}</strong>{at}: {}. \
                 The {} records before it verify; records from seq {} on are not vouched for \
                 (marked ⚠ below).</div>\n",
                p.seq,
                text(&p.what),
                chain.records,
                p.seq
            );
        }
    }
    if let Some(s) = &d.stopped {
        w!(
            o,
            "<div class=\"verdict bad\"><strong>Reading stopped at line {}</strong>: {}. The \
             page shows the {} records before it.</div>\n",
            s.line,
            text(&s.what),
            d.records
        );
    }
    let span = match (&d.first, &d.last) {
        (Some((a, at)), Some((b, bt))) => format!(
            "{} – {} ({})",
            text(at),
            text(bt),
            duration(b.saturating_sub(*a))
        ),
        _ => "no timestamps".into(),
    };
    let host_calls: u64 = d.tools.values().map(|t| t.host_calls).sum();
    w!(
        o,
        "<dl class=\"stats\"><div><dt>Records</dt><dd>{}</dd></div>\
         <div><dt>Calls</dt><dd>{}</dd></div><div><dt>Tools</dt><dd>{}</dd></div>\
         <div><dt>Host calls</dt><dd>{host_calls}</dd></div>\
         <div><dt>Denials</dt><dd>{}</dd></div><div><dt>Limit hits</dt><dd>{}</dd></div>\
         <div><dt>Findings</dt><dd>{}</dd></div>\
         <div><dt>Quarantined now</dt><dd>{}</dd></div>\
         <div class=\"wide\"><dt>Time span</dt><dd>{span}</dd></div></dl>\n",
        d.records,
        d.calls,
        d.tools.len(),
        d.denials_total,
        d.limits_total,
        d.findings_total,
        d.quarantines.values().filter(|q| q.quarantined).count(),
    );
    let mut notes = Vec::new();
    if chain.unsigned_loads > 0 {
        notes.push(format!(
            "{} loads ran UNSIGNED manifests (--allow-unsigned)",
            chain.unsigned_loads
        ));
    }
    if !chain.unfinished.is_empty() {
        notes.push(format!(
            "{} calls have a start and no end (killed mid-call, or still running)",
            chain.unfinished.len()
        ));
    }
    if d.unknown > 0 {
        notes.push(format!(
            "{} records of a kind this version does not know",
            d.unknown
        ));
    }
    for n in notes {
        w!(o, "<p class=\"warn\">⚠ {}</p>\n", text(&n));
    }
    let counts: Vec<(u64, &str, String)> = Outcome::ALL
        .iter()
        .map(|c| {
            (
                d.outcomes[c.index()],
                OUTCOME_COLOURS[c.index()],
                c.name().to_owned(),
            )
        })
        .collect();
    o.push_str("<h3>Calls by outcome</h3>\n");
    proportion_bar(o, &counts, "calls");
    if d.findings_total > 0 {
        let counts: Vec<(u64, &str, String)> = d
            .by_severity
            .iter()
            .map(|(s, n)| (*n, severity_colour(s), s.clone()))
            .collect();
        o.push_str("<h3>Findings by severity</h3>\n");
        proportion_bar(o, &counts, "findings");
    }
    o.push_str("</section>\n");
}

/// A bar split in proportion to `counts` (count, fill, label), and a legend of the parts drawn.
fn proportion_bar(o: &mut String, counts: &[(u64, &str, String)], what: &str) {
    let total: u64 = counts.iter().map(|c| c.0).sum();
    if total == 0 {
        w!(o, "<p class=\"none\">No {what}.</p>\n");
        return;
    }
    w!(
        o,
        "<svg class=\"bar\" width=\"{BAR_W}\" height=\"18\" viewBox=\"0 0 {BAR_W} 18\" \
         shape-rendering=\"crispEdges\" role=\"img\">"
    );
    let mut done = 0u64;
    for (n, fill, label) in counts {
        if *n == 0 {
            continue;
        }
        let x0 = scale(done, total, BAR_W);
        done += n;
        let x1 = scale(done, total, BAR_W);
        w!(
            o,
            "<rect x=\"{x0}\" y=\"0\" width=\"{}\" height=\"18\" fill=\"{fill}\"><title>{}: {n}</title></rect>",
            x1 - x0,
            text(label)
        );
    }
    o.push_str("</svg>\n<p class=\"legend\">");
    for (n, fill, label) in counts {
        if *n > 0 {
            o.push_str(&swatch(fill, &format!("{label} {n}")));
        }
    }
    o.push_str("</p>\n");
}

/// `part / total` of `len`, rounded (exact at the ends).
fn scale(part: u64, total: u64, len: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    ((part as u128 * len as u128 + total as u128 / 2) / total as u128) as u32
}

fn severity_colour(s: &str) -> &'static str {
    SEVERITY_COLOURS
        .iter()
        .find(|(n, _)| *n == s)
        .map_or(OTHER_SEVERITY, |(_, c)| c)
}

fn timeline(o: &mut String, d: &Digest) {
    o.push_str("<section id=\"timeline\"><h2>Timeline of calls per tool</h2>\n");
    let t = &d.timeline;
    if t.lanes.is_empty() {
        o.push_str("<p class=\"none\">No calls.</p></section>\n");
        return;
    }
    // The buckets the log reaches (calls and findings), which the axis spans.
    let used = t
        .lanes
        .iter()
        .filter_map(|l| l.counts.iter().rposition(|c| c.iter().any(|&n| n > 0)))
        .chain(
            d.findings
                .iter()
                .filter_map(|f| f.at.map(|at| t.position(at))),
        )
        .max()
        .unwrap_or(0)
        + 1;
    w!(
        o,
        "<p class=\"help\">One lane per tool; each mark is a call at the time it started \
         (calls close together share a mark, split by outcome), coloured by outcome. Marks above \
         a lane are findings, coloured by severity. A mark links to its records when the page \
         shows them. Each step is {}.</p>\n",
        duration(t.width)
    );
    let width = LABEL_W + BUCKETS as u32 * STEP + 20;
    let height = t.lanes.len() as u32 * LANE_H + 30;
    w!(
        o,
        "<svg class=\"timeline\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         shape-rendering=\"crispEdges\" role=\"img\">"
    );
    for (i, lane) in t.lanes.iter().enumerate() {
        let y = i as u32 * LANE_H;
        w!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"lane\">{}</text>\
             <rect x=\"{LABEL_W}\" y=\"{}\" width=\"{}\" height=\"{BARS_H}\" fill=\"#f1f3f5\"/>",
            LABEL_W - 8,
            y + 10 + BARS_H / 2 + 4,
            text(&short(&lane.label, 26)),
            y + 10,
            BUCKETS as u32 * STEP
        );
        for (b, counts) in lane.counts.iter().enumerate() {
            let total: u64 = counts.iter().map(|&n| n as u64).sum();
            if total == 0 {
                continue;
            }
            let x = LABEL_W + b as u32 * STEP;
            let mut tip = format!(
                "{} {} at +{}:",
                total,
                if total == 1 { "call" } else { "calls" },
                duration(b as i64 * t.width)
            );
            for c in Outcome::ALL {
                let n = counts[c.index()];
                if n > 0 {
                    w!(tip, " {n} {}", c.name());
                }
            }
            if let Some(seq) = lane.link[b] {
                w!(o, "<a href=\"#seq-{seq}\">");
            }
            w!(o, "<g><title>{}</title>", text(&tip));
            let mut done = 0u64;
            for c in Outcome::ALL {
                let n = counts[c.index()] as u64;
                if n == 0 {
                    continue;
                }
                let top = scale(done, total, BARS_H);
                done += n;
                let bottom = scale(done, total, BARS_H);
                w!(
                    o,
                    "<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
                    y + 10 + top,
                    STEP - 1,
                    bottom - top,
                    OUTCOME_COLOURS[c.index()]
                );
            }
            o.push_str("</g>");
            if lane.link[b].is_some() {
                o.push_str("</a>");
            }
        }
    }
    for f in &d.findings {
        let (Some(at), Some(seq)) = (f.at, f.seq) else {
            continue;
        };
        let x = LABEL_W + t.position(at) as u32 * STEP;
        let y = f.lane as u32 * LANE_H;
        let link = d.kept.contains_key(&seq);
        if link {
            w!(o, "<a href=\"#seq-{seq}\">");
        }
        w!(
            o,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"8\" fill=\"{}\"><title>{} {}: {}</title></rect>",
            STEP - 1,
            severity_colour(&f.severity),
            text(&f.severity),
            text(&f.rule),
            text(&f.message)
        );
        if link {
            o.push_str("</a>");
        }
    }
    let axis_y = t.lanes.len() as u32 * LANE_H + 14;
    let mut last_tick = None;
    for k in 0..=4u32 {
        let b = (used as u32 * k).div_ceil(4);
        // A short log has fewer distinct ticks than five.
        if last_tick.replace(b) == Some(b) {
            continue;
        }
        let x = LABEL_W + b * STEP;
        w!(
            o,
            "<text x=\"{x}\" y=\"{axis_y}\" class=\"axis\" text-anchor=\"{}\">+{}</text>",
            if k == 0 { "start" } else { "middle" },
            duration(b as i64 * t.width)
        );
    }
    o.push_str("</svg>\n");
    o.push_str("<p class=\"legend\">");
    for c in Outcome::ALL {
        let n = d.outcomes[c.index()];
        if n > 0 {
            o.push_str(&swatch(
                OUTCOME_COLOURS[c.index()],
                &format!("{} {n}", c.name()),
            ));
        }
    }
    if let Some((_, first)) = &d.first {
        w!(o, " · + is the time since {}", text(first));
    }
    o.push_str("</p>\n</section>\n");
}

/// A legend entry: a square of `fill` and `label` (escaped here).
fn swatch(fill: &str, label: &str) -> String {
    format!(
        "<span><svg width=\"10\" height=\"10\" shape-rendering=\"crispEdges\"><rect width=\"10\" \
         height=\"10\" fill=\"{fill}\"/></svg> {}</span>",
        text(label)
    )
}

fn tools(o: &mut String, d: &Digest) {
    o.push_str("<section id=\"tools\"><h2>Tools</h2>\n");
    if d.tools.is_empty() {
        o.push_str("<p class=\"none\">No tools.</p></section>\n");
        return;
    }
    o.push_str(
        "<table><thead><tr><th>Tool</th><th>Calls</th><th>ok</th><th>denied</th><th>limit</th>\
         <th>failed</th><th>unfinished</th><th>Host calls</th><th>Denials</th><th>Limit hits</th>\
         <th>Findings</th></tr></thead><tbody>\n",
    );
    let mut rows: Vec<_> = d.tools.iter().collect();
    rows.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
    for (name, t) in rows {
        w!(
            o,
            "<tr><td class=\"tool\">{}</td><td>{}</td>",
            text(name),
            t.calls
        );
        for n in t.outcomes {
            w!(o, "<td>{n}</td>");
        }
        w!(
            o,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            t.host_calls,
            t.denials,
            t.limits,
            t.findings
        );
    }
    o.push_str("</tbody></table></section>\n");
}

fn denials(o: &mut String, d: &Digest) {
    o.push_str("<section id=\"denials\"><h2>Denials by capability</h2>\n");
    groups(
        o,
        d,
        &d.denials,
        d.denials_total,
        ["Capability (interface)", "Tool", "Denials", "Functions"],
        "No host call was denied.",
    );
    o.push_str("</section>\n");
}

fn limits(o: &mut String, d: &Digest) {
    o.push_str("<section id=\"limits\"><h2>Limit hits</h2>\n");
    groups(
        o,
        d,
        &d.limits,
        d.limits_total,
        ["Limit", "Tool", "Hits", "Values"],
        "No call hit a limit.",
    );
    o.push_str("</section>\n");
}

/// A table of (what, tool) groups, biggest first, each linking to its first records.
fn groups(
    o: &mut String,
    d: &Digest,
    map: &std::collections::BTreeMap<(String, String), Group>,
    total: u64,
    titles: [&str; 4],
    none: &str,
) {
    if map.is_empty() && total == 0 {
        w!(o, "<p class=\"none\">{none}</p>\n");
        return;
    }
    w!(
        o,
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>Records</th></tr></thead><tbody>\n",
        titles[0],
        titles[1],
        titles[2],
        titles[3]
    );
    let mut rows: Vec<_> = map.iter().collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    let listed: u64 = map.values().map(|g| g.count).sum();
    for ((what, tool), g) in rows {
        let details: Vec<String> = g.details.iter().map(|s| text(s)).collect();
        w!(
            o,
            "<tr><td>{}</td><td class=\"tool\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>\n",
            text(what),
            text(tool),
            g.count,
            details.join(", "),
            links(d, &g.seqs, g.count as usize)
        );
    }
    o.push_str("</tbody></table>\n");
    if total > listed {
        w!(
            o,
            "<p class=\"more\">{} more in pairs not listed (the table lists {} pairs).</p>\n",
            total - listed,
            super::digest::MAX_GROUPS
        );
    }
}

/// Links to the records `seqs` of `total`, and how many more there are.
fn links(d: &Digest, seqs: &[u64], total: usize) -> String {
    let mut out: Vec<String> = seqs.iter().map(|&s| link(d, s)).collect();
    if total > seqs.len() {
        out.push(format!("+{} more", total - seqs.len()));
    }
    out.join(" ")
}

/// A link to record `seq` when the page shows it, else its number.
fn link(d: &Digest, seq: u64) -> String {
    if d.kept.contains_key(&seq) {
        format!("<a href=\"#seq-{seq}\">{seq}</a>")
    } else {
        format!("<span class=\"gone\" title=\"not shown on this page\">{seq}</span>")
    }
}

fn findings(o: &mut String, d: &Digest) {
    o.push_str("<section id=\"findings\"><h2>Findings</h2>\n");
    if d.findings_total == 0 {
        o.push_str("<p class=\"none\">No findings.</p></section>\n");
        return;
    }
    let rules: Vec<String> = d
        .by_rule
        .iter()
        .map(|(r, n)| format!("{} {n}", text(r)))
        .collect();
    w!(o, "<p>By rule: {}</p>\n", rules.join(", "));
    o.push_str(
        "<table><thead><tr><th>Record</th><th>Time</th><th>Severity</th><th>Rule</th>\
         <th>Action</th><th>Tool</th><th>Message</th><th>Evidence</th></tr></thead><tbody>\n",
    );
    for f in &d.findings {
        let mut message = text(&f.message);
        if let Some(s) = &f.subject {
            w!(
                message,
                "<br><span class=\"subject\">subject: {}</span>",
                text(s)
            );
        }
        if let Some(q) = &f.quarantined {
            w!(
                message,
                "<br><span class=\"subject\">quarantined: {}</span>",
                text(q)
            );
        }
        w!(
            o,
            "<tr><td>{}</td><td>{}</td><td><span class=\"sev\" style=\"background:{}\">{}</span></td>\
             <td>{}</td><td>{}</td><td class=\"tool\">{}<br><span class=\"subject\">call {}</span></td><td>{message}</td><td>{}</td></tr>\n",
            f.seq.map_or("?".into(), |s| link(d, s)),
            text(&f.ts),
            severity_colour(&f.severity),
            text(&f.severity),
            text(&f.rule),
            text(&f.action),
            text(&f.tool),
            text(&f.call),
            links(d, &f.evidence, f.evidence_total)
        );
    }
    o.push_str("</tbody></table>\n");
    let listed = d.findings.len() as u64;
    if d.findings_total > listed {
        w!(
            o,
            "<p class=\"more\">{} more findings not listed (the first {listed} are).</p>\n",
            d.findings_total - listed
        );
    }
    o.push_str("</section>\n");
}

fn quarantines(o: &mut String, d: &Digest) {
    o.push_str("<section id=\"quarantines\"><h2>Quarantines</h2>\n");
    if d.quarantines.is_empty() {
        o.push_str("<p class=\"none\">No tool was quarantined.</p></section>\n");
        return;
    }
    o.push_str(
        "<table><thead><tr><th>Quarantine key</th><th>State at the end of the log</th>\
         <th>History</th></tr></thead><tbody>\n",
    );
    for (key, q) in &d.quarantines {
        let state = if q.quarantined {
            "<span class=\"state q\">quarantined</span>"
        } else {
            "<span class=\"state r\">released</span>"
        };
        let mut history = Vec::new();
        for e in &q.events {
            let at = e.seq.map_or("?".into(), |s| link(d, s));
            history.push(if e.quarantined {
                format!(
                    "{at} {}: quarantined by rule {}",
                    text(&e.ts),
                    text(&e.rule)
                )
            } else {
                format!(
                    "{at} {}: released by {} (rule {})",
                    text(&e.ts),
                    text(e.by.as_deref().unwrap_or("")),
                    text(&e.rule)
                )
            });
        }
        if q.more > 0 {
            history.push(format!("and {} more", q.more));
        }
        w!(
            o,
            "<tr><td class=\"tool\">{}</td><td>{state}</td><td>{}</td></tr>\n",
            text(key),
            history.join("<br>")
        );
    }
    o.push_str("</tbody></table>\n");
    if d.quarantines_over > 0 {
        w!(
            o,
            "<p class=\"more\">{} more quarantine events of keys not listed.</p>\n",
            d.quarantines_over
        );
    }
    o.push_str("</section>\n");
}

fn records(o: &mut String, d: &Digest, chain: &VerifyReport) {
    o.push_str("<section id=\"records\"><h2>Records</h2>\n");
    w!(
        o,
        "<p class=\"help\">The records the sections above link to: denials, limit hits, findings, \
         releases, their calls' start and end, and a finding's evidence when it was among the \
         last records before it. {} of {} records; <code>wasmgov audit show</code> prints them \
         all.</p>\n",
        d.kept.len(),
        d.records
    );
    if d.kept_over > 0 {
        w!(
            o,
            "<p class=\"more\">{} more records to link to are not shown (the page holds {}).</p>\n",
            d.kept_over,
            super::digest::MAX_KEPT
        );
    }
    if d.kept.is_empty() {
        o.push_str("</section>\n");
        return;
    }
    let damaged_from = chain.problem.as_ref().map(|p| p.seq);
    o.push_str(
        "<table class=\"records\"><thead><tr><th>Seq</th><th>Time</th><th>Call</th><th>Tool</th>\
         <th>Event</th><th>Decision</th><th>Detail</th></tr></thead><tbody>\n",
    );
    for (seq, r) in &d.kept {
        let unvouched = damaged_from.is_some_and(|f| *seq >= f);
        let mut class = match r.kind.as_str() {
            "finding" => "finding",
            "release" => "release",
            "limit" => "limit",
            _ if r.deny => "deny",
            _ => "",
        }
        .to_owned();
        if unvouched {
            class.push_str(" unvouched");
        }
        w!(
            o,
            "<tr id=\"seq-{seq}\" class=\"{}\"><td>{}{seq}</td>",
            class.trim(),
            if unvouched { "⚠ " } else { "" }
        );
        for c in &r.cells[1..] {
            w!(o, "<td>{}</td>", text(c));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table></section>\n");
}

/// `s` cut to `n` characters.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(n - 1).collect();
    t.push('…');
    t
}

/// A duration in µs for people: `850 µs`, `12.5 ms`, `3.2 s`, `4 min 3 s`, `2 h 5 min`, `3 d 4 h`.
fn duration(us: i64) -> String {
    let us = us.max(0);
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        1_000_000..60_000_000 => format!("{:.1} s", us as f64 / 1e6),
        _ => {
            let s = us / 1_000_000;
            match s {
                0..3600 => format!("{} min {} s", s / 60, s % 60),
                3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
                _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
            }
        }
    }
}

const CSS: &str = "
:root{color:#1f2328;background:#fff;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}
body{margin:0 24px 40px}
header{border-bottom:1px solid #dee2e6;margin-bottom:8px}
h1{font-size:22px;margin:16px 0 2px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e9ecef;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}
.file{font-family:ui-monospace,monospace;margin:0 0 6px;color:#495057;word-break:break-all}
nav a{margin-right:14px}
a{color:#1864ab}
.verdict{padding:10px 14px;margin:8px 0;border-radius:4px}
.verdict.ok{background:#d3f9d8}
.verdict.bad{background:#ffc9c9}
.stats{display:flex;flex-wrap:wrap;gap:8px 28px;margin:12px 0}
.stats div{min-width:90px}.stats .wide{flex-basis:100%}
.stats dt{color:#495057;font-size:12px}.stats dd{margin:0;font-size:18px;font-weight:600}
.stats .wide dd{font-size:14px;font-weight:400}
.warn{color:#862e00;margin:4px 0}
.none{color:#495057;font-style:italic}
.more,.help{color:#495057;font-size:13px}
.legend span{margin-right:16px;white-space:nowrap}
.legend svg{vertical-align:-1px}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
svg text.axis{fill:#495057;font-size:11px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border-bottom:1px solid #e9ecef;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{color:#495057;font-weight:600}
td.num{text-align:right}
td.tool{font-family:ui-monospace,monospace;word-break:break-all}
.sev{color:#fff;padding:1px 8px;border-radius:3px;font-weight:600}
.subject{color:#495057;font-size:12px}
.state{padding:1px 8px;border-radius:3px;font-weight:600}
.state.q{background:#ffe8cc;color:#862e00}.state.r{background:#e9ecef;color:#343a40}
.gone{color:#868e96;border-bottom:1px dotted #868e96}
table.records{width:100%}
table.records td:nth-child(-n+2){white-space:nowrap}
table.records td{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
tr.deny td{color:#c92a2a}
tr.limit td{color:#a34700}
tr.finding td{background:#fff9db}
tr.release td{background:#f3f0ff}
tr.unvouched td{background:#fff0f0}
tr:target td{outline:2px solid #1971c2;outline-offset:-2px}
footer{margin-top:32px;color:#868e96;font-size:12px}
";
