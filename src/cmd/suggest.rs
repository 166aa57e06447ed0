//! `wasmgov suggest`: the minimal grant from an observed run, as a diff a human reviews. Reads
//! the audit log (and the tool's manifest); writes nothing and grants nothing.

use wasmgov_assess::Usage;
use wasmgov_assess::suggest::{Suggestion, suggest};

use crate::flags::SuggestArgs;
use crate::report::usage;

pub fn run(a: SuggestArgs) -> anyhow::Result<i32> {
    let log = Usage::read(&a.audit).map_err(|e| {
        usage(
            e.to_string(),
            Some(
                "pass the audit log of the tool's calls (`wasmgov run --observe --audit LOG`)"
                    .into(),
            ),
        )
    })?;
    let text = match &a.manifest {
        Some(p) => Some(
            String::from_utf8(super::read_file(p, "manifest")?)
                .map_err(|_| usage("the manifest is not UTF-8", None))?,
        ),
        None => None,
    };
    let s = suggest(&log, &a.tool, text.as_deref()).map_err(|e| {
        usage(
            e.to_string(),
            Some("name the tool as its manifest does, and a log with its calls".into()),
        )
    })?;
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        v["policy_additions"] = serde_json::Value::String(s.policy_additions());
        if let Some(p) = &a.manifest {
            v["diff"] = serde_json::json!(s.diff(p));
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    // Paths and hosts in it are what a tool asked for: shown with control characters escaped,
    // line by line, so a hostile path cannot rewrite the terminal a reviewer reads it on.
    for line in render(&s, &a).lines() {
        println!("{}", wasmgov::audit::show::printable(line));
    }
    Ok(0)
}

fn render(s: &Suggestion, a: &SuggestArgs) -> String {
    let mut out = format!(
        "# wasmgov suggest: {} from {} ({} call(s), {} in observe mode)\n\
         # Nothing has been granted. Review it; the publisher pins, bumps the sequence and\n\
         # re-signs the manifest, and the operator merges the policy additions.\n",
        s.tool,
        a.audit.display(),
        s.calls,
        s.observed_calls
    );
    for n in &s.notes {
        out.push_str(&format!("# note: {n}\n"));
    }
    out.push_str("\n## manifest\n");
    match a.manifest.as_ref().and_then(|p| s.diff(p)) {
        Some(d) if d.is_empty() => out.push_str("(no change)\n"),
        Some(d) => out.push_str(&d),
        None => {
            for e in &s.fs {
                out.push_str(&format!(
                    "[[fs]]\nguest = \"{}\"\naccess = \"{}\"\n\n",
                    e.guest, e.access
                ));
            }
            if !s.net.is_empty() {
                let list: Vec<String> = s.net.iter().map(|p| format!("\"{p}\"")).collect();
                out.push_str(&format!("[net]\nallow = [{}]\n\n", list.join(", ")));
            }
            if !s.env.is_empty() {
                let list: Vec<String> = s.env.iter().map(|v| format!("\"{v}\"")).collect();
                out.push_str(&format!("[env]\nvars = [{}]\n\n", list.join(", ")));
            }
            if s.fs.is_empty() && s.net.is_empty() && s.env.is_empty() {
                out.push_str("(no capability: pure compute)\n");
            }
        }
    }
    out.push_str("\n## policy additions\n");
    let p = s.policy_additions();
    out.push_str(if p.is_empty() { "(none)\n" } else { &p });
    out
}
