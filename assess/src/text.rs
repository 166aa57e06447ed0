//! A report for people: per tool, its reach in plain words, then its findings worst first.
//! Messages quote publisher text (names, paths): they are printed with control characters
//! escaped, so a hostile manifest cannot move the cursor or fake lines.

use std::fmt;

use wasmgov_runtime::audit::show::printable;

use crate::{Finding, Report};

fn finding(f: &mut fmt::Formatter<'_>, x: &Finding) -> fmt::Result {
    write!(
        f,
        "  {:<8} {}: {}",
        x.severity.as_str(),
        x.rule,
        printable(&x.message)
    )?;
    if let Some(file) = &x.file {
        write!(f, "\n           at {}", file.display())?;
        if let Some(l) = x.line {
            write!(f, ":{l}")?;
        }
    }
    writeln!(f, "\n           fix: {}", printable(&x.hint))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wasmgov {} (wasmtime {}), policy: {}",
            self.wasmgov, self.wasmtime, self.policy
        )?;
        if self.runtime.is_empty() {
            writeln!(
                f,
                "runtime: no bundled advisory affects wasmtime {}",
                self.wasmtime
            )?;
        } else {
            writeln!(f, "runtime:")?;
            for x in &self.runtime {
                finding(f, x)?;
            }
        }
        for t in &self.tools {
            let state = if t.accepted {
                ""
            } else {
                " [would be refused]"
            };
            writeln!(
                f,
                "\n{}{state} — {}",
                printable(&t.tool),
                t.component.display()
            )?;
            if let Some(s) = &t.signer {
                writeln!(
                    f,
                    "  signed by {} ({s})",
                    printable(t.publisher.as_deref().unwrap_or("?"))
                )?;
            }
            writeln!(f, "  reach:")?;
            for r in &t.reach {
                writeln!(f, "    {}", printable(r))?;
            }
            if t.findings.is_empty() {
                writeln!(f, "  findings: none")?;
            } else {
                writeln!(f, "  findings:")?;
                for x in &t.findings {
                    finding(f, x)?;
                }
            }
        }
        let total = self.findings().count();
        let worst = self.worst().map_or("none", |s| s.as_str());
        write!(
            f,
            "\n{} package(s), {total} finding(s), worst: {worst}",
            self.tools.len()
        )
    }
}
