//! `wasmgov audit report FILE --html OUT`: one self-contained HTML page about an audit log.
//!
//! The log is read once, in bounded memory: the chain verifier reads it, and every byte it
//! reads is handed to the digest as well ([`Tee`]), so the verdict and the page come from the
//! same bytes (a log growing meanwhile cannot make them disagree). The verifier stops at the
//! first bad record; the rest of the file is still read for the page, which marks those
//! records as not vouched for.

mod digest;
mod html;
mod page;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::Context;
use wasmgov::audit::verify::{self as chain, VerifyOptions};

use crate::flags::AuditReportArgs;

/// Run `wasmgov audit report`. Exit 0 when the log verifies and was read to its end, 1 when
/// the page reports it damaged (the page is written either way).
pub fn run(a: AuditReportArgs) -> anyhow::Result<i32> {
    let io = |path: &Path, source: std::io::Error| wasmgov::Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(&a.file)
        .map_err(|e| io(&a.file, e))
        .context("cannot read the audit log")?;
    let bar = crate::progress::for_file(&a.file, "reading");
    let mut digest = digest::Digest::default();
    let read = {
        let mut tee = Tee {
            inner: BufReader::new(bar.wrap_read(file)),
            seen: |b: &[u8]| digest.feed(b),
        };
        chain::verify(&mut tee, &VerifyOptions::default()).and_then(|rep| {
            std::io::copy(&mut tee, &mut std::io::sink())?;
            Ok(rep)
        })
    };
    bar.finish_and_clear();
    let verdict = read
        .map_err(|e| io(&a.file, e))
        .context("cannot read the audit log")?;
    digest.finish();

    let page = page::render(&a.file.display().to_string(), &digest, &verdict);
    if a.html.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        match out.write_all(page.as_bytes()).and_then(|()| out.flush()) {
            // The reader went away (`| head`): done.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
            _ => {}
        }
    } else {
        std::fs::write(&a.html, page)
            .map_err(|e| io(&a.html, e))
            .context("cannot write the report")?;
    }

    let mut damaged = false;
    let mut err = std::io::stderr().lock();
    if let Some(p) = &verdict.problem {
        damaged = true;
        let _ = writeln!(
            err,
            "warning: the chain does not verify at {p}; the page says so and marks the records after it"
        );
    }
    if let Some(s) = &digest.stopped {
        damaged = true;
        let _ = writeln!(
            err,
            "warning: reading stopped at line {}: {}; the page shows the {} records before it",
            s.line, s.what, digest.records
        );
    }
    Ok(if damaged { 1 } else { 0 })
}

/// A reader that hands every byte its consumer reads to `seen` as well.
struct Tee<R, F> {
    inner: R,
    seen: F,
}

impl<R: BufRead, F: FnMut(&[u8])> Read for Tee<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let avail = self.inner.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead, F: FnMut(&[u8])> BufRead for Tee<R, F> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        // What is consumed was handed out by the last `fill_buf`, which is still buffered: this
        // call does no I/O.
        if let Ok(buf) = self.inner.fill_buf() {
            (self.seen)(&buf[..n.min(buf.len())]);
        }
        self.inner.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, Read};

    #[test]
    fn the_tee_sees_exactly_what_its_reader_consumed() {
        let data = b"one\ntwo\nthree\nfour";
        let mut seen = Vec::new();
        {
            let mut t = super::Tee {
                inner: std::io::BufReader::with_capacity(3, &data[..]),
                seen: |b: &[u8]| seen.extend_from_slice(b),
            };
            let mut line = Vec::new();
            t.read_until(b'\n', &mut line).ok();
            assert_eq!(line, b"one\n");
            let mut rest = Vec::new();
            t.read_to_end(&mut rest).ok();
            assert_eq!(rest, b"two\nthree\nfour");
        }
        assert_eq!(seen, data);
    }
}
