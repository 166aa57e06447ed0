//! Redaction of secrets a server echoes back in its response.
//!
//! A secret is injected host-side ([`crate::secrets`]), so the tool never holds it — unless the
//! server hands it back: an endpoint that echoes request headers (httpbin's `/headers`, a
//! debugging route, an error page that quotes the request) would give the tool its own
//! credential in the response. What this module guards against:
//!
//! - **Echo in the body** (E02): every occurrence of an injected secret's value is replaced
//!   byte for byte with [`MASK`] before the guest can read it, so `Content-Length` stays true.
//!   An occurrence split over two frames (two chunks of a chunked body, two reads of a socket)
//!   is masked too: the longest tail of a frame that could be the start of a value is held back
//!   until the next frame shows whether it is, and released at the end of the body.
//! - **Echo in the head** (E02): response header values and names, and trailers, are masked the
//!   same way before the response reaches the guest.
//! - **Unbounded host memory** (R05): what a masked response holds beyond an ordinary one (one
//!   copy of the frame being masked, the held-back tail, a scratch window at the frame boundary)
//!   is bounded by [`mask_host_bytes`] and reserved from the call's host-memory budget, with the
//!   rest of the request's buffers, when the request is admitted ([`crate::http`]). A body with no secret in it is passed through without
//!   a copy: only a frame that holds an occurrence, or follows a held-back tail, is copied.
//!
//! Which bytes count as "the value": the formatted header value (`Bearer TOKEN`), the raw value
//! (`TOKEN`), its percent-encoding (as a server that reflects it into a URL writes it) and its
//! JSON string escapings (`"` and `\` escaped, and also `/` as `\/`), whichever differ. Values
//! shorter than [`MIN_SECRET_LEN`] are refused at load ([`crate::secrets::SecretBinding::new`]):
//! they cannot be masked without corrupting ordinary bodies, where such short strings occur by
//! chance, and a credential that short can be guessed anyway.
//!
//! Not covered: any other transformation a server might apply (base64, hashing, case changes,
//! compression with `Content-Encoding`, a value cut into pieces or interleaved with other bytes).
//! This defends against servers that reflect the request as it is; a hostile server can always
//! re-encode what it was sent, which is why a secret goes only to the destination the operator
//! bound it to.
//!
//! What was masked is recorded per call (names only, [`EchoLog`]) and emitted as a decision
//! event (`echoed`, target [`crate::http::DECISION_TARGET`]) inside the host call that pulled the
//! frame or head, so the audit capture files it under that call.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use memchr::memmem::Finder;

use crate::secrets::SecretBinding;

/// The byte an echoed secret's bytes are replaced with.
pub const MASK: u8 = b'*';

/// Shortest raw secret value accepted, bytes (see the module docs).
pub const MIN_SECRET_LEN: usize = 8;

/// Longest formatted secret value accepted, bytes: bounds what a masked response holds back.
pub const MAX_SECRET_LEN: usize = 8 * 1024;

/// Host bytes a masked response may hold beyond an ordinary one, for forms up to `max_form`
/// bytes long: a copy of one frame (at most [`crate::http::RESPONSE_BUFFER`]), the held-back
/// tail as received and as it will be released, and the boundary window.
pub fn mask_host_bytes(max_form: usize) -> u64 {
    crate::http::RESPONSE_BUFFER as u64 + 4 * max_form as u64
}

/// One form of a secret's value, with what finding it needs.
struct Form {
    finder: Finder<'static>,
    /// `border[i]`: length of the longest proper prefix of the form that is also a suffix of
    /// its first `i + 1` bytes (KMP's failure function).
    border: Box<[usize]>,
}

impl Form {
    fn new(bytes: &[u8]) -> Self {
        let mut border = vec![0; bytes.len()];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = border[k - 1];
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            border[i] = k;
        }
        Self {
            finder: Finder::new(bytes).into_owned(),
            border: border.into(),
        }
    }

    fn bytes(&self) -> &[u8] {
        self.finder.needle()
    }

    fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Length of the longest suffix of `hay` that is a proper prefix of the form: how much of
    /// `hay` may be the start of an occurrence that continues after it.
    fn partial_at_end(&self, hay: &[u8]) -> usize {
        let p = self.bytes();
        let m = p.len();
        // A partial occurrence is shorter than the form, so it starts within the last m - 1.
        let tail = &hay[hay.len() - hay.len().min(m.saturating_sub(1))..];
        let mut q = 0;
        for &b in tail {
            while q > 0 && p[q] != b {
                q = self.border[q - 1];
            }
            if p[q] == b {
                q += 1;
            }
            if q == m {
                q = self.border[m - 1];
            }
        }
        q
    }

    /// Every occurrence in `hay`, overlapping ones included, starting before `limit`.
    fn each(&self, hay: &[u8], limit: usize, mut f: impl FnMut(usize, usize)) {
        let mut at = 0;
        while at < limit.min(hay.len()) {
            let Some(i) = self.finder.find(&hay[at..]) else {
                return;
            };
            let start = at + i;
            if start >= limit {
                return;
            }
            f(start, start + self.len());
            at = start + 1;
        }
    }
}

/// The forms of one secret's value that are masked where a server echoes them. Never shows
/// the value (no `Debug` of the bytes).
pub(crate) struct EchoForms {
    forms: Vec<Form>,
}

impl fmt::Debug for EchoForms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EchoForms({} forms, <redacted>)", self.forms.len())
    }
}

impl EchoForms {
    /// The forms of `raw`, sent as `formatted` (see the module docs for which).
    pub(crate) fn new(raw: &str, formatted: &[u8]) -> Self {
        let mut all: Vec<Vec<u8>> = vec![formatted.to_vec(), raw.as_bytes().to_vec()];
        all.push(percent_encode(raw.as_bytes()));
        all.push(json_escape(raw, false).into_bytes());
        all.push(json_escape(raw, true).into_bytes());
        let mut forms: Vec<Form> = Vec::with_capacity(all.len());
        for bytes in all {
            if !bytes.is_empty() && !forms.iter().any(|f| f.bytes() == bytes.as_slice()) {
                forms.push(Form::new(&bytes));
            }
        }
        Self { forms }
    }

    /// The longest form, bytes.
    pub(crate) fn max_len(&self) -> usize {
        self.forms.iter().map(Form::len).max().unwrap_or(0)
    }
}

/// `%XX` (upper-case) for every byte outside RFC 3986's unreserved set.
fn percent_encode(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out
}

/// The text of `s` inside a JSON string: `"` and `\` escaped, and `/` too if `solidus`.
/// Control characters cannot be in a header value, so they need no case.
fn json_escape(s: &str, solidus: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if solidus => out.push_str("\\/"),
            c => out.push(c),
        }
    }
    out
}

/// Which of a call's secrets a server echoed (and the host masked). Shared by the call's
/// responses, which may be read on other tasks.
#[derive(Debug)]
pub(crate) struct EchoLog {
    names: Box<[String]>,
    hit: Box<[AtomicBool]>,
}

impl EchoLog {
    /// A record for `secrets`, by index.
    pub(crate) fn new(secrets: &[SecretBinding]) -> Self {
        Self {
            names: secrets.iter().map(|s| s.name().to_string()).collect(),
            hit: secrets.iter().map(|_| AtomicBool::new(false)).collect(),
        }
    }

    fn mark(&self, secret: usize) {
        if let Some(h) = self.hit.get(secret) {
            h.store(true, Ordering::Relaxed);
        }
    }

    /// The names of the secrets echoed so far, sorted and deduplicated.
    pub(crate) fn echoed(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .names
            .iter()
            .zip(self.hit.iter())
            .filter(|(_, h)| h.load(Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn name(&self, secret: usize) -> &str {
        self.names.get(secret).map_or("", String::as_str)
    }
}

/// Masks the secrets injected into one request wherever its response echoes them.
pub(crate) struct Masker {
    /// (index of the secret in the call's bindings, its forms).
    secrets: Vec<(usize, Arc<EchoForms>)>,
    /// The longest form of any of them.
    max_len: usize,
    /// The held-back tail as received (what the next frame's matches are looked for in).
    carry_in: Vec<u8>,
    /// The same tail as it will be released (with what is already known to be masked).
    carry_out: Vec<u8>,
    /// The held-back tail followed by the start of the next frame.
    window: Vec<u8>,
    log: Arc<EchoLog>,
    /// Per entry of `secrets`: whether this response echoed it.
    seen: Vec<bool>,
    /// Secrets first seen since the last [`Masker::take_fresh`].
    fresh: bool,
    /// Reused per frame: which entries of `secrets` occurred in it.
    scratch: Vec<bool>,
}

impl Masker {
    /// A masker for the secrets at `injected` (indices into `secrets`), recording into `log`.
    pub(crate) fn new(secrets: &[SecretBinding], injected: &[usize], log: Arc<EchoLog>) -> Self {
        let secrets: Vec<(usize, Arc<EchoForms>)> = injected
            .iter()
            .filter_map(|&i| secrets.get(i).map(|s| (i, s.echo_forms().clone())))
            .collect();
        let max_len = secrets.iter().map(|(_, f)| f.max_len()).max().unwrap_or(0);
        Self {
            seen: vec![false; secrets.len()],
            secrets,
            max_len,
            carry_in: Vec::new(),
            carry_out: Vec::new(),
            window: Vec::new(),
            log,
            fresh: false,
            scratch: Vec::new(),
        }
    }

    /// The longest form masked, bytes.
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// Bytes held back, waiting for the next frame.
    fn held(&self) -> usize {
        self.carry_out.len()
    }

    /// Call `f(start, end)` for every occurrence of any form in `hay` that starts before
    /// `limit`, and note which secrets occurred.
    fn each_match(
        secrets: &[(usize, Arc<EchoForms>)],
        seen: &mut [bool],
        hay: &[u8],
        limit: usize,
        mut f: impl FnMut(usize, usize),
    ) {
        for (k, (_, forms)) in secrets.iter().enumerate() {
            for form in &forms.forms {
                form.each(hay, limit, |s, e| {
                    seen[k] = true;
                    f(s, e);
                });
            }
        }
    }

    /// A cleared scratch list of which secrets occurred (no allocation after the first).
    fn take_scratch(&mut self) -> Vec<bool> {
        let mut seen = std::mem::take(&mut self.scratch);
        seen.clear();
        seen.resize(self.secrets.len(), false);
        seen
    }

    /// Record what `seen` found, and give the scratch list back.
    fn note(&mut self, seen: Vec<bool>) {
        for (k, &s) in seen.iter().enumerate() {
            if s && !self.seen[k] {
                self.seen[k] = true;
                self.fresh = true;
                self.log.mark(self.secrets[k].0);
            }
        }
        self.scratch = seen;
    }

    /// Longest tail of `hay` that may be the start of an occurrence continuing past it.
    fn holdback(&self, hay: &[u8]) -> usize {
        self.secrets
            .iter()
            .flat_map(|(_, f)| f.forms.iter())
            .map(|f| f.partial_at_end(hay))
            .max()
            .unwrap_or(0)
    }

    /// The next frame of the body: returns what may be released now (possibly empty); the
    /// rest is held back until the next frame or [`Masker::finish`]. A frame with no
    /// occurrence and no tail held before it is returned without a copy.
    pub(crate) fn push(&mut self, mut data: Bytes) -> Bytes {
        let clen = self.carry_in.len();
        let dlen = data.len();
        let mut seen = self.take_scratch();
        let mut out: Option<BytesMut> = None;
        let start_copy = |carry_out: &[u8], data: &[u8]| {
            let mut b = BytesMut::with_capacity(carry_out.len() + data.len());
            b.extend_from_slice(carry_out);
            b.extend_from_slice(data);
            b
        };
        if clen > 0 {
            // Occurrences that start in the held-back tail end within the next max_len - 1
            // bytes: look for them in the tail followed by that much of the frame.
            self.window.clear();
            self.window.extend_from_slice(&self.carry_in);
            let reach = dlen.min(self.max_len.saturating_sub(1));
            self.window.extend_from_slice(&data[..reach]);
            let buf = out.insert(start_copy(&self.carry_out, &data));
            Self::each_match(&self.secrets, &mut seen, &self.window, clen, |s, e| {
                buf[s..e].fill(MASK)
            });
        }
        Self::each_match(&self.secrets, &mut seen, &data, dlen, |s, e| {
            let buf = out.get_or_insert_with(|| start_copy(&self.carry_out, &data));
            buf[clen + s..clen + e].fill(MASK);
        });
        self.note(seen);
        // The tail to hold back, over the held tail and the frame together: when the frame is
        // shorter than a form the window holds all of both.
        let k = if clen > 0 && dlen < self.max_len.saturating_sub(1) {
            self.holdback(&self.window)
        } else {
            self.holdback(&data)
        };
        let total = clen + dlen;
        let cut = total - k;
        // The new held-back tail, as received.
        if cut >= clen {
            self.carry_in.clear();
            self.carry_in.extend_from_slice(&data[cut - clen..]);
        } else {
            self.carry_in.drain(..cut);
            self.carry_in.extend_from_slice(&data);
        }
        match out {
            Some(mut buf) => {
                self.carry_out.clear();
                self.carry_out.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
                buf.freeze()
            }
            None => {
                // No copy: nothing was held before (clen == 0) and nothing matched.
                self.carry_out.clear();
                self.carry_out.extend_from_slice(&data[cut..]);
                data.truncate(cut);
                data
            }
        }
    }

    /// The end of the body: what is still held back (it was no occurrence).
    pub(crate) fn finish(&mut self) -> Bytes {
        self.carry_in.clear();
        Bytes::from(std::mem::take(&mut self.carry_out))
    }

    /// `hay` with every occurrence masked, or `None` when there is none.
    fn mask_bytes(&mut self, hay: &[u8]) -> Option<Vec<u8>> {
        let mut seen = self.take_scratch();
        let mut out: Option<Vec<u8>> = None;
        Self::each_match(&self.secrets, &mut seen, hay, hay.len(), |s, e| {
            out.get_or_insert_with(|| hay.to_vec())[s..e].fill(MASK);
        });
        self.note(seen);
        out
    }

    /// Mask every occurrence in the names and values of `headers` (a response head or
    /// trailers).
    pub(crate) fn mask_headers(&mut self, headers: &mut HeaderMap) {
        for value in headers.values_mut() {
            if let Some(masked) = self.mask_bytes(value.as_bytes()) {
                // Same length, `*` in place of visible bytes: still a valid value.
                *value = HeaderValue::from_bytes(&masked)
                    .unwrap_or_else(|_| HeaderValue::from_static("<redacted>"));
            }
        }
        let renamed: Vec<(HeaderName, Vec<u8>)> = headers
            .keys()
            .filter_map(|k| {
                let name = k.clone();
                self.mask_bytes(name.as_str().as_bytes()).map(|m| (name, m))
            })
            .collect();
        for (old, masked) in renamed {
            let values: Vec<HeaderValue> = match headers.entry(&old) {
                http::header::Entry::Occupied(e) => e.remove_entry_mult().1.collect(),
                http::header::Entry::Vacant(_) => continue,
            };
            // `*` is a token character: the masked name is a valid name.
            if let Ok(name) = HeaderName::from_bytes(&masked) {
                for v in values {
                    headers.append(name.clone(), v);
                }
            }
        }
    }

    /// The names of the secrets first seen since the last call, if any (comma-separated, for
    /// the decision event).
    pub(crate) fn take_fresh(&mut self) -> Option<String> {
        if !std::mem::take(&mut self.fresh) {
            return None;
        }
        let mut names: Vec<&str> = self
            .secrets
            .iter()
            .zip(&self.seen)
            .filter(|(_, s)| **s)
            .map(|((i, _), _)| self.log.name(*i))
            .collect();
        names.sort_unstable();
        names.dedup();
        Some(names.join(","))
    }
}

/// Emit the decision event for secrets a response echoed (names only).
pub(crate) fn echo_event(names: &str) {
    tracing::info!(
        target: "wasmgov::net",
        iface = "wasi:http/outgoing-handler",
        decision = "allow",
        echoed = %names,
        "secret echoed"
    );
}

/// A response body whose frames pass through a [`Masker`] before the guest reads them.
pub(crate) struct MaskedBody<B> {
    inner: B,
    masker: Masker,
    /// A trailers frame waiting behind the released tail.
    pending: Option<Frame<Bytes>>,
    ended: bool,
}

impl<B> MaskedBody<B> {
    /// Wrap `inner`. What the masker holds is charged by whoever owns the body (the request's
    /// in-flight reservation, see [`mask_host_bytes`]).
    pub(crate) fn new(inner: B, masker: Masker) -> Self {
        Self {
            inner,
            masker,
            pending: None,
            ended: false,
        }
    }
}

impl<B> Body for MaskedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(f) = this.pending.take() {
            return Poll::Ready(Some(Ok(f)));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.ended = true;
                    let rest = this.masker.finish();
                    return Poll::Ready((!rest.is_empty()).then(|| Ok(Frame::data(rest))));
                }
                Poll::Ready(Some(Err(e))) => {
                    // What is held back is dropped with the body.
                    this.ended = true;
                    this.masker.finish();
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(f))) => f,
            };
            let frame = match frame.into_data() {
                Ok(data) => {
                    let empty_in = data.is_empty();
                    let out = this.masker.push(data);
                    if let Some(names) = this.masker.take_fresh() {
                        echo_event(&names);
                    }
                    if out.is_empty() && !empty_in {
                        // All of it is held back: wait for what comes next.
                        continue;
                    }
                    Frame::data(out)
                }
                Err(frame) => match frame.into_trailers() {
                    Ok(mut trailers) => {
                        this.masker.mask_headers(&mut trailers);
                        if let Some(names) = this.masker.take_fresh() {
                            echo_event(&names);
                        }
                        this.ended = true;
                        let rest = this.masker.finish();
                        if rest.is_empty() {
                            Frame::trailers(trailers)
                        } else {
                            this.pending = Some(Frame::trailers(trailers));
                            Frame::data(rest)
                        }
                    }
                    Err(other) => other,
                },
            };
            return Poll::Ready(Some(Ok(frame)));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none()
            && (self.ended || (self.masker.held() == 0 && self.inner.is_end_stream()))
    }

    fn size_hint(&self) -> SizeHint {
        // Masking keeps every byte's place: what is left is the inner body's plus the tail.
        let inner = self.inner.size_hint();
        let held = self.masker.held() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(held));
        if let Some(u) = inner.upper() {
            hint.set_upper(u.saturating_add(held));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{HostMatch, NetRule, Scheme};

    const TOKEN: &str = "sk-test-9f3a77c1";

    fn binding(name: &str, format: &str, value: &str) -> SecretBinding {
        let rule = NetRule {
            scheme: Scheme::Https,
            host: HostMatch::Name("api.example.com".into()),
            port: 443,
        };
        SecretBinding::new(name, rule, "Authorization", format, value).expect("binding")
    }

    fn masker(secrets: &[SecretBinding]) -> (Masker, Arc<EchoLog>) {
        let log = Arc::new(EchoLog::new(secrets));
        let all: Vec<usize> = (0..secrets.len()).collect();
        (Masker::new(secrets, &all, log.clone()), log)
    }

    /// Feed `frames` and collect what is released, checking nothing is lost or added.
    fn run(m: &mut Masker, frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            out.extend_from_slice(&m.push(Bytes::copy_from_slice(f)));
        }
        out.extend_from_slice(&m.finish());
        assert_eq!(out.len(), frames.iter().map(|f| f.len()).sum::<usize>());
        out
    }

    fn masked(body: &str, secret: &str) -> String {
        body.replace(secret, &"*".repeat(secret.len()))
    }

    #[test]
    fn an_echo_split_across_two_frames_is_masked_at_every_offset() {
        let s = [binding("API", "Bearer {}", TOKEN)];
        let body = format!("{{\"headers\":{{\"Authorization\":\"Bearer {TOKEN}\"}}}}");
        let want = masked(&body, &format!("Bearer {TOKEN}"));
        for cut in 0..=body.len() {
            let (mut m, log) = masker(&s);
            let (a, b) = body.as_bytes().split_at(cut);
            let out = run(&mut m, &[a, b]);
            assert_eq!(String::from_utf8_lossy(&out), want, "cut at {cut}");
            assert_eq!(log.echoed(), vec!["API".to_string()]);
        }
    }

    #[test]
    fn an_echo_spread_over_one_byte_frames_is_masked() {
        let s = [binding("API", "{}", TOKEN)];
        let body = format!("a{TOKEN}b{TOKEN}");
        let (mut m, _) = masker(&s);
        let frames: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(
            String::from_utf8_lossy(&run(&mut m, &frames)),
            masked(&body, TOKEN)
        );
        // And over three frames cut at every pair of offsets.
        for i in 0..body.len() {
            for j in i..body.len() {
                let b = body.as_bytes();
                let (mut m, _) = masker(&s);
                let out = run(&mut m, &[&b[..i], &b[i..j], &b[j..]]);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    masked(&body, TOKEN),
                    "{i} {j}"
                );
            }
        }
    }

    #[test]
    fn several_secrets_and_overlapping_echoes_are_all_masked() {
        // Two secrets that share bytes where they meet: masking one must not hide the other.
        let a = "AAAAAAAA12345678";
        let b = "12345678BBBBBBBB";
        let s = [binding("A", "{}", a), binding("B", "{}", b)];
        let body = "x AAAAAAAA12345678BBBBBBBB y";
        let (mut m, log) = masker(&s);
        let out = run(&mut m, &[body.as_bytes()]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!("x {} y", "*".repeat(24))
        );
        assert_eq!(log.echoed(), vec!["A".to_string(), "B".to_string()]);

        // A value that overlaps itself: every occurrence, overlapping ones included.
        let p = "abababab";
        let s = [binding("P", "{}", p)];
        let body = "-ababababab-";
        for cut in 0..=body.len() {
            let (mut m, _) = masker(&s);
            let (x, y) = body.as_bytes().split_at(cut);
            let out = run(&mut m, &[x, y]);
            assert_eq!(
                String::from_utf8_lossy(&out),
                "-**********-",
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_value_at_the_very_end_or_start_is_masked() {
        let s = [binding("API", "{}", TOKEN)];
        for body in [
            format!("end:{TOKEN}"),
            format!("{TOKEN}:start"),
            TOKEN.to_string(),
        ] {
            let (mut m, _) = masker(&s);
            let out = run(&mut m, &[body.as_bytes()]);
            assert_eq!(String::from_utf8_lossy(&out), masked(&body, TOKEN));
        }
        // A prefix of the value at the very end is no occurrence: released as it is.
        let body = format!("x{}", &TOKEN[..TOKEN.len() - 1]);
        let (mut m, log) = masker(&s);
        let out = m.push(Bytes::from(body.clone()));
        assert_eq!(out.len(), 1, "the possible start of an echo is held back");
        let rest = m.finish();
        assert_eq!([&out[..], &rest[..]].concat(), body.as_bytes());
        assert!(log.echoed().is_empty());
    }

    #[test]
    fn encoded_echoes_are_masked() {
        let raw = "tok/en+with\"quote";
        let s = [binding("API", "Bearer {}", raw)];
        for echo in [
            "tok%2Fen%2Bwith%22quote",
            "tok/en+with\\\"quote",
            "tok\\/en+with\\\"quote",
        ] {
            let (mut m, log) = masker(&s);
            let body = format!("[{echo}]");
            let out = run(&mut m, &[body.as_bytes()]);
            assert_eq!(String::from_utf8_lossy(&out), masked(&body, echo), "{echo}");
            assert_eq!(log.echoed(), vec!["API".to_string()]);
        }
    }

    #[test]
    fn a_body_without_the_secret_passes_untouched_and_uncopied() {
        let s = [binding("API", "Bearer {}", TOKEN)];
        let (mut m, log) = masker(&s);
        let body: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        let mut out = Vec::new();
        for chunk in body.chunks(4096) {
            let frame = Bytes::copy_from_slice(chunk);
            let ptr = frame.as_ptr();
            let released = m.push(frame);
            // Nothing held before and nothing found: the very same buffer, not a copy (every
            // chunk ends in 0xff, which starts no form).
            assert_eq!(released.len(), chunk.len());
            assert_eq!(released.as_ptr(), ptr);
            out.extend_from_slice(&released);
        }
        out.extend_from_slice(&m.finish());
        assert_eq!(out, body);
        assert!(log.echoed().is_empty());
    }

    #[test]
    fn random_splits_agree_with_masking_the_whole_body() {
        let s = [
            binding("A", "Bearer {}", "aabaabaa"),
            binding("B", "{}", "baab-baab"),
        ];
        // A tiny LCG: deterministic, no dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % n
        };
        for _ in 0..2000 {
            let len = next(60) as usize;
            let body: Vec<u8> = (0..len).map(|_| b"ab-Bearer "[next(10) as usize]).collect();
            // Reference: every occurrence of every form, on the whole body at once.
            let mut want = body.clone();
            for form in ["Bearer aabaabaa", "aabaabaa", "baab-baab"] {
                let f = form.as_bytes();
                for i in 0..body.len().saturating_sub(f.len() - 1) {
                    if &body[i..i + f.len()] == f {
                        want[i..i + f.len()].fill(MASK);
                    }
                }
            }
            let mut frames = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let n = (next(12) as usize).min(body.len() - at);
                frames.push(&body[at..at + n]);
                at += n;
            }
            let (mut m, _) = masker(&s);
            assert_eq!(
                run(&mut m, &frames),
                want,
                "{:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn header_values_names_and_trailers_are_masked() {
        let s = [binding("API", "Bearer {}", TOKEN)];
        let (mut m, log) = masker(&s);
        let mut h = HeaderMap::new();
        h.insert(
            "x-echo-authorization",
            HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("value"),
        );
        h.insert("x-other", HeaderValue::from_static("plain"));
        h.insert(
            HeaderName::from_bytes(format!("x-{TOKEN}").as_bytes()).expect("name"),
            HeaderValue::from_static("1"),
        );
        m.mask_headers(&mut h);
        assert_eq!(
            h["x-echo-authorization"].as_bytes(),
            "*".repeat(7 + TOKEN.len()).as_bytes()
        );
        assert_eq!(h["x-other"], "plain");
        assert_eq!(h[format!("x-{}", "*".repeat(TOKEN.len())).as_str()], "1");
        assert!(!format!("{h:?}").contains(TOKEN));
        assert_eq!(m.take_fresh().as_deref(), Some("API"));
        assert_eq!(m.take_fresh(), None, "reported once");
        assert_eq!(log.echoed(), vec!["API".to_string()]);
    }

    /// A body of fixed frames, for driving [`MaskedBody`] without a network.
    struct Frames(std::collections::VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    #[test]
    fn the_body_wrapper_releases_the_tail_before_trailers_and_keeps_the_length() {
        let s = [binding("API", "{}", TOKEN)];
        let (m, log) = masker(&s);
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", HeaderValue::from_static(TOKEN));
        let half = TOKEN.len() / 2;
        let frames = [
            Frame::data(Bytes::from(format!("a{}", &TOKEN[..half]))),
            Frame::data(Bytes::from(format!("{}b{}", &TOKEN[half..], &TOKEN[..3]))),
            Frame::trailers(trailers),
        ];
        let mut body = MaskedBody::new(Frames(frames.into()), m);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut data = Vec::new();
        let mut got_trailers = None;
        while let Poll::Ready(Some(f)) = Pin::new(&mut body).poll_frame(&mut cx) {
            let f = f.expect("frame");
            match f.into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(f) => got_trailers = f.into_trailers().ok(),
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&data),
            format!("a{}b{}", "*".repeat(TOKEN.len()), &TOKEN[..3])
        );
        let t = got_trailers.expect("trailers last");
        assert_eq!(t["x-t"].as_bytes(), "*".repeat(TOKEN.len()).as_bytes());
        assert!(body.is_end_stream());
        assert_eq!(log.echoed(), vec!["API".to_string()]);
    }
}
