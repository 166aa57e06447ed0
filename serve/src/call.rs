//! One `tools/call`: admission (a slot, a bounded queue, or `error[busy]`), the governed call
//! with the request's origin in its audit record, cancellation, and the outcome as a tool result.
//!
//! Everything that goes wrong with the tool is a result with `isError: true` and the CLI's
//! `error[KIND]: message` words, never a protocol error: clients show tool results to the
//! model and the user, protocol errors they hide. Only an unknown tool name is a protocol error
//! (the request itself is wrong).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};
use wasmgov_runtime::{Admission, CallOptions, CancelToken, Error};

use crate::auth::Caller;
use crate::catalog::Served;
use crate::server::{Server, caller_of};

/// Most bytes of a tool's stderr copied into an error result.
const MAX_STDERR_IN_RESULT: usize = 4096;

/// An error result: `error[KIND]: message` (and the hint), with the same as structured content.
pub fn error_result(
    kind: &str,
    message: &str,
    hint: Option<&str>,
    extra: Option<Value>,
) -> CallToolResult {
    let mut text = format!("error[{kind}]: {message}");
    if let Some(h) = hint {
        text.push_str("\nhint: ");
        text.push_str(h);
    }
    let mut structured = json!({"error": {"kind": kind, "message": message}});
    if let Some(h) = hint {
        structured["error"]["hint"] = json!(h);
    }
    if let Some(Value::Object(extra)) = extra {
        for (k, v) in extra {
            structured[k] = v;
        }
    }
    let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    r
}

fn busy(server: &Server) -> CallToolResult {
    let o = server.inner.options;
    error_result(
        "busy",
        &format!(
            "all {} call slots are running and {} calls are waiting for one",
            o.max_concurrent, o.max_queued
        ),
        Some("retry in a moment; the operator can raise --max-concurrent"),
        None,
    )
}

/// Where a request came from, for the audit record's `context`.
fn context_of(
    cx: &RequestContext<RoleServer>,
    served: &Served,
    caller: Option<&Caller>,
) -> BTreeMap<String, String> {
    let mut c = BTreeMap::new();
    let parts = cx.extensions.get::<http::request::Parts>();
    c.insert(
        "transport".into(),
        if parts.is_some() { "http" } else { "stdio" }.into(),
    );
    c.insert("mcp-request".into(), cx.id.to_string());
    c.insert("mcp-tool".into(), served.name.clone());
    if let Some(v) = cx.protocol_version() {
        c.insert("protocol".into(), v.to_string());
    }
    if let Some(i) = cx.client_info() {
        c.insert("client".into(), format!("{}/{}", i.name, i.version));
    }
    if let Some(caller) = caller {
        c.insert("subject".into(), caller.subject.to_string());
    }
    if let Some(s) = parts
        .and_then(|p| p.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
    {
        c.insert("session".into(), s.to_owned());
    }
    c
}

/// The input bytes of a call: the arguments as JSON text, or a command's `stdin`.
fn input_of(
    served: &Served,
    arguments: Option<rmcp::model::JsonObject>,
) -> Result<Vec<u8>, String> {
    let mut args = arguments.unwrap_or_default();
    if served.is_command() {
        // Moved out, not copied: stdin can be as big as a request body.
        return match (args.len(), args.remove("stdin")) {
            (0, _) => Ok(Vec::new()),
            (1, Some(Value::String(s))) => Ok(s.into_bytes()),
            _ => Err("a command tool takes one argument, `stdin` (a string)".into()),
        };
    }
    serde_json::to_vec(&Value::Object(args)).map_err(|e| e.to_string())
}

/// Run one `tools/call`.
pub(crate) async fn call(
    server: &Server,
    request: CallToolRequestParams,
    cx: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    // The catalog this call runs on, whatever a reload does meanwhile.
    let catalog = server.catalog();
    let caller = caller_of(&cx);
    let Some(served) = catalog
        .get(request.name.as_ref())
        .filter(|s| server.may_call(caller.as_ref(), s.tool_name()))
    else {
        // A tool this caller may not call is as unknown to it as one that does not exist.
        return Err(ErrorData::invalid_params(
            format!("unknown tool: {}", request.name),
            None,
        ));
    };
    let Some(_in_flight) = server.enter() else {
        return Ok(error_result(
            "draining",
            "the server is shutting down and takes no new calls",
            Some("retry on another replica, or after the restart"),
            None,
        )
        .into());
    };
    let input = match input_of(served, request.arguments) {
        Ok(i) => i,
        Err(e) => return Ok(error_result("tool-invalid-input", &e, None, None).into()),
    };

    // Admission: a free slot, else a place in the queue, else busy at once.
    let inner = &server.inner;
    let _permit = match inner.slots.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            if inner.queued.fetch_add(1, Ordering::AcqRel) >= inner.options.max_queued {
                inner.queued.fetch_sub(1, Ordering::AcqRel);
                return Ok(busy(server).into());
            }
            let waited = tokio::select! {
                p = inner.slots.clone().acquire_owned() => p.ok(),
                () = cx.ct.cancelled() => None,
            };
            inner.queued.fetch_sub(1, Ordering::AcqRel);
            match waited {
                Some(p) => p,
                None => {
                    return Ok(
                        error_result("cancelled", "the call was cancelled", None, None).into(),
                    );
                }
            }
        }
    };

    let cancel = CancelToken::new();
    let opts = CallOptions {
        caller: caller.as_ref().map(|c| c.subject.to_string()),
        context: context_of(&cx, served, caller.as_ref()),
        cancel: Some(cancel.clone()),
        admission: Admission::FailFast,
        ..CallOptions::default()
    };
    let run = served.tool.run(&input, &opts);
    tokio::pin!(run);
    let out = tokio::select! {
        out = &mut run => out,
        () = cx.ct.cancelled() => {
            // The guest is stopped and the call audited `cancelled`; the client that cancelled
            // reads no response (rmcp drops it).
            cancel.cancel();
            run.await
        }
    };
    Ok(result_of(served, out).into())
}

/// The tool result of a call's outcome.
fn result_of(served: &Served, out: wasmgov_runtime::CallOutcome) -> CallToolResult {
    match out.result {
        Ok(bytes) => {
            if served.listing.structured {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v @ Value::Object(_)) => return CallToolResult::structured(v),
                    _ => {
                        return error_result(
                            "tool-output",
                            "the tool's result is not the JSON object its output schema describes",
                            Some("this is a bug in the tool"),
                            None,
                        );
                    }
                }
            }
            CallToolResult::success(vec![ContentBlock::text(
                String::from_utf8_lossy(&bytes).into_owned(),
            )])
        }
        Err(e) => {
            let mut extra = json!({"stats": {
                "fuel": out.stats.fuel_used,
                "host_calls": out.stats.host_calls,
                "us": u64::try_from(out.stats.duration.as_micros()).unwrap_or(u64::MAX),
            }});
            if !out.stderr.is_empty() {
                let cut = out.stderr.len().min(MAX_STDERR_IN_RESULT);
                extra["stderr"] = json!(String::from_utf8_lossy(&out.stderr[..cut]));
            }
            let kind = match &e {
                Error::Busy => return error_result("busy", &e.to_string(), None, None),
                e => e.kind(),
            };
            error_result(kind, &e.to_string(), e.hint().as_deref(), Some(extra))
        }
    }
}
