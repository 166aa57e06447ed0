//! `wasi:http/types` served through a view that charges the call's host-memory budget.
//!
//! wasmtime-wasi-http keeps whatever a guest builds: header fields (up to the field-size limit
//! per `fields`, trapping past it), 2 × chunk-size of body buffer per outgoing body, URI strings
//! of any length hostcall fuel lets through. Times a few thousand handles that is gigabytes for
//! a tool with no grant. [`GovHttp`] implements every `wasi:http/types` trait by delegating to
//! the crate's own implementation, after charging what the call makes the host hold to its
//! [`HostMemory`]:
//!
//! - `fields.append` / `.set` / `.from-list`: name + value + per-entry overhead, and a refusal
//!   (`header-error.forbidden`) instead of the crate's trap when one `fields` would pass
//!   [`MAX_HTTP_FIELDS`];
//! - `outgoing-request.body` / `outgoing-response.body`: the body's whole buffer, reserved until
//!   the buffer's owner (the request or response, or hyper once sent) drops it (`Err(())`);
//! - `set-authority` and `set-method` are length-capped, `set-path-with-query` is charged
//!   (`Err(())`).
//!
//! Because the same generated `add_to_linker` registers these functions, the `wit-bindgen
//! import` spans the audit capture reads are exactly the stock ones.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable};
use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler, types};
use wasmtime_wasi_http::p2::body::{
    HostFutureTrailers, HostIncomingBody, HostOutgoingBody, HyperOutgoingBody,
};
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, HostIncomingRequest, HostIncomingResponse, HostOutgoingRequest,
    HostOutgoingResponse, HostResponseOutparam,
};
use wasmtime_wasi_http::p2::{HeaderError, HeaderResult, HttpError, HttpResult};
use wasmtime_wasi_http::{FieldMap, WasiHttp, WasiHttpCtxView, WasiHttpView};

use crate::host_memory::{HostMemory, Reservation};
use crate::sandbox::{MAX_HTTP_FIELDS, Sandbox};

/// Host bytes one outgoing body holds at most: its channel of `chunks + 1` chunks, plus the
/// stream and body objects.
pub const BODY_HOST_BYTES: u64 =
    (crate::http::BODY_BUFFER_CHUNKS as u64 + 1) * crate::http::BODY_CHUNK_SIZE as u64 + 1024;

/// Host bytes charged per header entry on top of its name and value (the `HeaderMap` slot).
pub const FIELD_ENTRY_OVERHEAD: u64 = 64;

/// Longest `authority` a request may carry: a 253-byte name, a port, brackets of an IPv6
/// literal.
pub const MAX_AUTHORITY: usize = 300;

/// Longest method name (`other(..)`) a request may carry.
pub const MAX_METHOD: usize = 64;

/// The view every `wasi:http/types` function of a call runs on.
pub struct GovHttp<'a> {
    inner: WasiHttpCtxView<'a>,
    mem: &'a Arc<HostMemory>,
}

struct GovHttpData;

impl HasData for GovHttpData {
    type Data<'a> = GovHttp<'a>;
}

fn gov_http(s: &mut Sandbox) -> GovHttp<'_> {
    let (inner, mem) = s.http_and_memory();
    GovHttp { inner, mem }
}

/// Serve `wasi:http/outgoing-handler` (stock) and `wasi:http/types` (charged) from `linker`.
pub fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    outgoing_handler::add_to_linker::<_, WasiHttp>(linker, Sandbox::http)?;
    let options = wasmtime_wasi_http::p2::bindings::LinkOptions::default();
    types::add_to_linker::<_, GovHttpData>(linker, &options.into(), gov_http)
}

/// Accounting size of a header name, as `FieldMap` counts it.
fn name_size(name: &str) -> usize {
    name.len() + size_of::<http::HeaderName>()
}

/// Accounting size of a header value, as `FieldMap` counts it.
fn value_size(value: &[u8]) -> usize {
    value.len() + size_of::<http::HeaderValue>()
}

/// Accounting size of a whole map, as `FieldMap` counts it.
fn map_size(map: &http::HeaderMap) -> usize {
    map.keys().map(|k| name_size(k.as_str())).sum::<usize>()
        + map
            .values()
            .map(|v| value_size(v.as_bytes()))
            .sum::<usize>()
}

fn forbidden() -> HeaderError {
    types::HeaderError::Forbidden.into()
}

impl GovHttp<'_> {
    /// Refuse a change that would take one `fields` past [`MAX_HTTP_FIELDS`] (the crate would
    /// trap), then charge `bytes` to the call.
    fn admit_fields(&mut self, after: usize, bytes: u64) -> HeaderResult<()> {
        if after > MAX_HTTP_FIELDS {
            return Err(forbidden());
        }
        self.mem.charge(bytes).map_err(|_| forbidden())
    }

    /// Attach a reservation of a whole body buffer to the body just created in `slot`.
    fn meter_body(slot: &mut Option<HyperOutgoingBody>, reservation: Reservation) {
        if let Some(inner) = slot.take() {
            *slot = Some(
                Metered {
                    inner,
                    _reservation: reservation,
                }
                .boxed_unsync(),
            );
        }
    }
}

/// An outgoing body that returns its buffer's reservation when it is dropped (unsent with its
/// request, or by hyper once sent).
struct Metered {
    inner: HyperOutgoingBody,
    _reservation: Reservation,
}

impl Body for Metered {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl types::Host for GovHttp<'_> {
    fn convert_error_code(&mut self, err: HttpError) -> wasmtime::Result<types::ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn convert_header_error(&mut self, err: HeaderError) -> wasmtime::Result<types::HeaderError> {
        types::Host::convert_header_error(&mut self.inner, err)
    }

    fn http_error_code(
        &mut self,
        err: Resource<types::IoError>,
    ) -> wasmtime::Result<Option<types::ErrorCode>> {
        types::Host::http_error_code(&mut self.inner, err)
    }
}

impl types::HostFields for GovHttp<'_> {
    fn new(&mut self) -> wasmtime::Result<Resource<FieldMap>> {
        types::HostFields::new(&mut self.inner)
    }

    fn from_list(&mut self, entries: Vec<(String, Vec<u8>)>) -> HeaderResult<Resource<FieldMap>> {
        let mut names: Vec<&str> = Vec::with_capacity(entries.len());
        let mut after = 0usize;
        let mut bytes = 0u64;
        for (name, value) in &entries {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name);
                after = after.saturating_add(name_size(name));
            }
            after = after.saturating_add(value_size(value));
            bytes = bytes
                .saturating_add((name.len() + value.len()) as u64)
                .saturating_add(FIELD_ENTRY_OVERHEAD);
        }
        self.admit_fields(after, bytes)?;
        types::HostFields::from_list(&mut self.inner, entries)
    }

    fn drop(&mut self, fields: Resource<FieldMap>) -> wasmtime::Result<()> {
        types::HostFields::drop(&mut self.inner, fields)
    }

    fn get(&mut self, fields: Resource<FieldMap>, name: String) -> wasmtime::Result<Vec<Vec<u8>>> {
        types::HostFields::get(&mut self.inner, fields, name)
    }

    fn has(&mut self, fields: Resource<FieldMap>, name: String) -> wasmtime::Result<bool> {
        types::HostFields::has(&mut self.inner, fields, name)
    }

    fn set(
        &mut self,
        fields: Resource<FieldMap>,
        name: String,
        values: Vec<Vec<u8>>,
    ) -> HeaderResult<()> {
        let map = self.inner.table.get(&fields)?;
        // What the map holds once this key's old values are replaced.
        let old: usize = match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(key) if map.contains_key(&key) => {
                name_size(&name)
                    + map
                        .get_all(&key)
                        .iter()
                        .map(|v| value_size(v.as_bytes()))
                        .sum::<usize>()
            }
            _ => 0,
        };
        let new: usize = name_size(&name) + values.iter().map(|v| value_size(v)).sum::<usize>();
        let after = map_size(map).saturating_sub(old).saturating_add(new);
        let bytes = values.iter().fold(0u64, |n, v| {
            n.saturating_add((name.len() + v.len()) as u64)
                .saturating_add(FIELD_ENTRY_OVERHEAD)
        });
        self.admit_fields(after, bytes)?;
        types::HostFields::set(&mut self.inner, fields, name, values)
    }

    fn delete(&mut self, fields: Resource<FieldMap>, name: String) -> HeaderResult<()> {
        types::HostFields::delete(&mut self.inner, fields, name)
    }

    fn append(
        &mut self,
        fields: Resource<FieldMap>,
        name: String,
        value: Vec<u8>,
    ) -> HeaderResult<()> {
        let map = self.inner.table.get(&fields)?;
        let after = map_size(map)
            .saturating_add(name_size(&name))
            .saturating_add(value_size(&value));
        let bytes = ((name.len() + value.len()) as u64).saturating_add(FIELD_ENTRY_OVERHEAD);
        self.admit_fields(after, bytes)?;
        types::HostFields::append(&mut self.inner, fields, name, value)
    }

    fn entries(&mut self, fields: Resource<FieldMap>) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        types::HostFields::entries(&mut self.inner, fields)
    }

    fn clone(&mut self, fields: Resource<FieldMap>) -> wasmtime::Result<Resource<FieldMap>> {
        // The copy shares the original's map until it is changed, and changes are charged.
        types::HostFields::clone(&mut self.inner, fields)
    }
}

impl types::HostIncomingRequest for GovHttp<'_> {
    fn method(&mut self, id: Resource<HostIncomingRequest>) -> wasmtime::Result<types::Method> {
        types::HostIncomingRequest::method(&mut self.inner, id)
    }

    fn path_with_query(
        &mut self,
        id: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        types::HostIncomingRequest::path_with_query(&mut self.inner, id)
    }

    fn scheme(
        &mut self,
        id: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Option<types::Scheme>> {
        types::HostIncomingRequest::scheme(&mut self.inner, id)
    }

    fn authority(&mut self, id: Resource<HostIncomingRequest>) -> wasmtime::Result<Option<String>> {
        types::HostIncomingRequest::authority(&mut self.inner, id)
    }

    fn headers(
        &mut self,
        id: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Resource<FieldMap>> {
        types::HostIncomingRequest::headers(&mut self.inner, id)
    }

    fn consume(
        &mut self,
        id: Resource<HostIncomingRequest>,
    ) -> wasmtime::Result<Result<Resource<HostIncomingBody>, ()>> {
        types::HostIncomingRequest::consume(&mut self.inner, id)
    }

    fn drop(&mut self, id: Resource<HostIncomingRequest>) -> wasmtime::Result<()> {
        types::HostIncomingRequest::drop(&mut self.inner, id)
    }
}

impl types::HostOutgoingRequest for GovHttp<'_> {
    fn new(
        &mut self,
        headers: Resource<FieldMap>,
    ) -> wasmtime::Result<Resource<HostOutgoingRequest>> {
        types::HostOutgoingRequest::new(&mut self.inner, headers)
    }

    fn body(
        &mut self,
        request: Resource<HostOutgoingRequest>,
    ) -> wasmtime::Result<Result<Resource<HostOutgoingBody>, ()>> {
        let Ok(reservation) = self.mem.reserve(BODY_HOST_BYTES) else {
            return Ok(Err(()));
        };
        let req = Resource::<HostOutgoingRequest>::new_borrow(request.rep());
        let r = types::HostOutgoingRequest::body(&mut self.inner, request)?;
        if r.is_ok() {
            Self::meter_body(&mut self.inner.table.get_mut(&req)?.body, reservation);
        }
        Ok(r)
    }

    fn drop(&mut self, request: Resource<HostOutgoingRequest>) -> wasmtime::Result<()> {
        types::HostOutgoingRequest::drop(&mut self.inner, request)
    }

    fn method(
        &mut self,
        request: Resource<HostOutgoingRequest>,
    ) -> wasmtime::Result<types::Method> {
        types::HostOutgoingRequest::method(&mut self.inner, request)
    }

    fn set_method(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        method: types::Method,
    ) -> wasmtime::Result<Result<(), ()>> {
        if let types::Method::Other(m) = &method
            && m.len() > MAX_METHOD
        {
            return Ok(Err(()));
        }
        types::HostOutgoingRequest::set_method(&mut self.inner, request, method)
    }

    fn path_with_query(
        &mut self,
        request: Resource<HostOutgoingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        types::HostOutgoingRequest::path_with_query(&mut self.inner, request)
    }

    fn set_path_with_query(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        path_with_query: Option<String>,
    ) -> wasmtime::Result<Result<(), ()>> {
        let n = path_with_query.as_ref().map_or(0, String::len) as u64;
        if n > 0 && self.mem.charge(n).is_err() {
            return Ok(Err(()));
        }
        types::HostOutgoingRequest::set_path_with_query(&mut self.inner, request, path_with_query)
    }

    fn scheme(
        &mut self,
        request: Resource<HostOutgoingRequest>,
    ) -> wasmtime::Result<Option<types::Scheme>> {
        types::HostOutgoingRequest::scheme(&mut self.inner, request)
    }

    fn set_scheme(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        scheme: Option<types::Scheme>,
    ) -> wasmtime::Result<Result<(), ()>> {
        if let Some(types::Scheme::Other(s)) = &scheme
            && s.len() > MAX_METHOD
        {
            return Ok(Err(()));
        }
        types::HostOutgoingRequest::set_scheme(&mut self.inner, request, scheme)
    }

    fn authority(
        &mut self,
        request: Resource<HostOutgoingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        types::HostOutgoingRequest::authority(&mut self.inner, request)
    }

    fn set_authority(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        authority: Option<String>,
    ) -> wasmtime::Result<Result<(), ()>> {
        if authority.as_ref().is_some_and(|a| a.len() > MAX_AUTHORITY) {
            return Ok(Err(()));
        }
        types::HostOutgoingRequest::set_authority(&mut self.inner, request, authority)
    }

    fn headers(
        &mut self,
        request: Resource<HostOutgoingRequest>,
    ) -> wasmtime::Result<Resource<FieldMap>> {
        types::HostOutgoingRequest::headers(&mut self.inner, request)
    }
}

impl types::HostResponseOutparam for GovHttp<'_> {
    fn drop(&mut self, id: Resource<HostResponseOutparam>) -> wasmtime::Result<()> {
        types::HostResponseOutparam::drop(&mut self.inner, id)
    }

    fn set(
        &mut self,
        id: Resource<HostResponseOutparam>,
        resp: Result<Resource<HostOutgoingResponse>, types::ErrorCode>,
    ) -> wasmtime::Result<()> {
        types::HostResponseOutparam::set(&mut self.inner, id, resp)
    }

    fn send_informational(
        &mut self,
        id: Resource<HostResponseOutparam>,
        status: u16,
        headers: Resource<FieldMap>,
    ) -> HttpResult<()> {
        types::HostResponseOutparam::send_informational(&mut self.inner, id, status, headers)
    }
}

impl types::HostIncomingResponse for GovHttp<'_> {
    fn drop(&mut self, response: Resource<HostIncomingResponse>) -> wasmtime::Result<()> {
        types::HostIncomingResponse::drop(&mut self.inner, response)
    }

    fn status(
        &mut self,
        response: Resource<HostIncomingResponse>,
    ) -> wasmtime::Result<types::StatusCode> {
        types::HostIncomingResponse::status(&mut self.inner, response)
    }

    fn headers(
        &mut self,
        response: Resource<HostIncomingResponse>,
    ) -> wasmtime::Result<Resource<FieldMap>> {
        types::HostIncomingResponse::headers(&mut self.inner, response)
    }

    fn consume(
        &mut self,
        response: Resource<HostIncomingResponse>,
    ) -> wasmtime::Result<Result<Resource<HostIncomingBody>, ()>> {
        types::HostIncomingResponse::consume(&mut self.inner, response)
    }
}

impl types::HostFutureTrailers for GovHttp<'_> {
    fn drop(&mut self, id: Resource<HostFutureTrailers>) -> wasmtime::Result<()> {
        types::HostFutureTrailers::drop(&mut self.inner, id)
    }

    fn subscribe(
        &mut self,
        index: Resource<HostFutureTrailers>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        types::HostFutureTrailers::subscribe(&mut self.inner, index)
    }

    fn get(
        &mut self,
        id: Resource<HostFutureTrailers>,
    ) -> wasmtime::Result<
        Option<Result<Result<Option<Resource<types::Trailers>>, types::ErrorCode>, ()>>,
    > {
        types::HostFutureTrailers::get(&mut self.inner, id)
    }
}

impl types::HostIncomingBody for GovHttp<'_> {
    fn stream(
        &mut self,
        id: Resource<HostIncomingBody>,
    ) -> wasmtime::Result<Result<Resource<DynInputStream>, ()>> {
        types::HostIncomingBody::stream(&mut self.inner, id)
    }

    fn finish(
        &mut self,
        id: Resource<HostIncomingBody>,
    ) -> wasmtime::Result<Resource<HostFutureTrailers>> {
        types::HostIncomingBody::finish(&mut self.inner, id)
    }

    fn drop(&mut self, id: Resource<HostIncomingBody>) -> wasmtime::Result<()> {
        types::HostIncomingBody::drop(&mut self.inner, id)
    }
}

impl types::HostOutgoingResponse for GovHttp<'_> {
    fn new(
        &mut self,
        headers: Resource<FieldMap>,
    ) -> wasmtime::Result<Resource<HostOutgoingResponse>> {
        types::HostOutgoingResponse::new(&mut self.inner, headers)
    }

    fn body(
        &mut self,
        id: Resource<HostOutgoingResponse>,
    ) -> wasmtime::Result<Result<Resource<HostOutgoingBody>, ()>> {
        let Ok(reservation) = self.mem.reserve(BODY_HOST_BYTES) else {
            return Ok(Err(()));
        };
        let resp = Resource::<HostOutgoingResponse>::new_borrow(id.rep());
        let r = types::HostOutgoingResponse::body(&mut self.inner, id)?;
        if r.is_ok() {
            Self::meter_body(&mut self.inner.table.get_mut(&resp)?.body, reservation);
        }
        Ok(r)
    }

    fn status_code(
        &mut self,
        id: Resource<HostOutgoingResponse>,
    ) -> wasmtime::Result<types::StatusCode> {
        types::HostOutgoingResponse::status_code(&mut self.inner, id)
    }

    fn set_status_code(
        &mut self,
        id: Resource<HostOutgoingResponse>,
        status: types::StatusCode,
    ) -> wasmtime::Result<Result<(), ()>> {
        types::HostOutgoingResponse::set_status_code(&mut self.inner, id, status)
    }

    fn headers(
        &mut self,
        id: Resource<HostOutgoingResponse>,
    ) -> wasmtime::Result<Resource<FieldMap>> {
        types::HostOutgoingResponse::headers(&mut self.inner, id)
    }

    fn drop(&mut self, id: Resource<HostOutgoingResponse>) -> wasmtime::Result<()> {
        types::HostOutgoingResponse::drop(&mut self.inner, id)
    }
}

impl types::HostFutureIncomingResponse for GovHttp<'_> {
    fn drop(&mut self, id: Resource<HostFutureIncomingResponse>) -> wasmtime::Result<()> {
        types::HostFutureIncomingResponse::drop(&mut self.inner, id)
    }

    fn get(
        &mut self,
        id: Resource<HostFutureIncomingResponse>,
    ) -> wasmtime::Result<
        Option<Result<Result<Resource<HostIncomingResponse>, types::ErrorCode>, ()>>,
    > {
        types::HostFutureIncomingResponse::get(&mut self.inner, id)
    }

    fn subscribe(
        &mut self,
        id: Resource<HostFutureIncomingResponse>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        types::HostFutureIncomingResponse::subscribe(&mut self.inner, id)
    }
}

impl types::HostOutgoingBody for GovHttp<'_> {
    fn write(
        &mut self,
        id: Resource<HostOutgoingBody>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        types::HostOutgoingBody::write(&mut self.inner, id)
    }

    fn finish(
        &mut self,
        id: Resource<HostOutgoingBody>,
        ts: Option<Resource<types::Trailers>>,
    ) -> HttpResult<()> {
        types::HostOutgoingBody::finish(&mut self.inner, id, ts)
    }

    fn drop(&mut self, id: Resource<HostOutgoingBody>) -> wasmtime::Result<()> {
        types::HostOutgoingBody::drop(&mut self.inner, id)
    }
}

impl types::HostRequestOptions for GovHttp<'_> {
    fn new(&mut self) -> wasmtime::Result<Resource<types::RequestOptions>> {
        types::HostRequestOptions::new(&mut self.inner)
    }

    fn connect_timeout(
        &mut self,
        opts: Resource<types::RequestOptions>,
    ) -> wasmtime::Result<Option<types::Duration>> {
        types::HostRequestOptions::connect_timeout(&mut self.inner, opts)
    }

    fn set_connect_timeout(
        &mut self,
        opts: Resource<types::RequestOptions>,
        duration: Option<types::Duration>,
    ) -> wasmtime::Result<Result<(), ()>> {
        types::HostRequestOptions::set_connect_timeout(&mut self.inner, opts, duration)
    }

    fn first_byte_timeout(
        &mut self,
        opts: Resource<types::RequestOptions>,
    ) -> wasmtime::Result<Option<types::Duration>> {
        types::HostRequestOptions::first_byte_timeout(&mut self.inner, opts)
    }

    fn set_first_byte_timeout(
        &mut self,
        opts: Resource<types::RequestOptions>,
        duration: Option<types::Duration>,
    ) -> wasmtime::Result<Result<(), ()>> {
        types::HostRequestOptions::set_first_byte_timeout(&mut self.inner, opts, duration)
    }

    fn between_bytes_timeout(
        &mut self,
        opts: Resource<types::RequestOptions>,
    ) -> wasmtime::Result<Option<types::Duration>> {
        types::HostRequestOptions::between_bytes_timeout(&mut self.inner, opts)
    }

    fn set_between_bytes_timeout(
        &mut self,
        opts: Resource<types::RequestOptions>,
        duration: Option<types::Duration>,
    ) -> wasmtime::Result<Result<(), ()>> {
        types::HostRequestOptions::set_between_bytes_timeout(&mut self.inner, opts, duration)
    }

    fn drop(&mut self, rep: Resource<types::RequestOptions>) -> wasmtime::Result<()> {
        types::HostRequestOptions::drop(&mut self.inner, rep)
    }
}
