#!/usr/bin/env python3
"""Real-client checks of `wasmgov serve` with the Python MCP SDK (run by scripts/test-mcp).

    clients.py --bin WASMGOV --work DIR --components RELEASE_DIR [--only PATTERN]

DIR is what scripts/test-mcp prepared: key, allowed_signers, revoked_keys, policy.toml, docs/,
notes/ and tools/ (signed packages). Every server this script starts gets its own audit log and
state dir under DIR. One line per check: `PASS name`, `FAIL name: why` or `WARN name: why` (WARN:
behaviour the brief does not pin down; it never fails the run). Exit 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import logging
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import traceback
from pathlib import Path
from typing import Any

import anyio
import mcp.types as mt
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

CLIENT_NAME, CLIENT_VERSION = "wasmgov-clients-py", "0.1.0"


class _DropSessionTermination(logging.Filter):
    """The SDK logs `Session termination failed: 202` when a legacy HTTP session is closed: rmcp
    answers DELETE with 202 and the client expects 200/204. Known and cosmetic; not printed."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Session termination failed: 202" not in record.getMessage()


logging.basicConfig(level=logging.WARNING)
for _h in logging.getLogger().handlers:
    _h.addFilter(_DropSessionTermination())
EXPECTED_TOOLS = {
    "text-stats", "hostile-loop", "hostile-trap", "hostile-sleep", "tool-fails",
    "grep-files", "write-note", "fetch-url", "hostile-nap",
}
ERA = {"legacy": "2025-11-25", "auto": "2026-07-28", "2026-07-28": "2026-07-28"}

ARGS: argparse.Namespace
WORK: Path
FAILS: list[str] = []
WARNS: list[str] = []
PASSES = 0


def check(name: str, ok: bool, why: str = "", *, advisory: bool = False) -> bool:
    global PASSES
    if ok:
        PASSES += 1
        print(f"PASS {name}", flush=True)
    elif advisory:
        WARNS.append(name)
        print(f"WARN {name}: {why}", flush=True)
    else:
        FAILS.append(name)
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def short(v: Any, n: int = 300) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "…"


# ---------------------------------------------------------------------------------------------
# servers


class Server:
    """One `wasmgov serve` configuration; its own audit log and state dir."""

    def __init__(self, label: str, *, tools: Path | None = None, http: bool = False,
                 tokens: Path | None = None, extra: list[str] | None = None, port: int = 0,
                 policy: Path | None = None):
        self.label = label
        self.tools = tools or WORK / "tools"
        self.audit = WORK / f"audit-{label}.jsonl"
        self.state = WORK / f"state-{label}"
        self.log = WORK / f"serve-{label}.log"
        self.http = http
        self.args = ["serve", "--tools", str(self.tools), *common_args(self.audit, self.state, policy)]
        if http:
            self.args += ["--http", f"127.0.0.1:{port}"]
        if tokens:
            self.args += ["--tokens", str(tokens)]
        self.args += extra or []
        self.proc: subprocess.Popen | None = None
        self.port = 0

    # stdio: the client launches the server itself
    def stdio(self) -> Any:
        params = StdioServerParameters(command=ARGS.bin, args=self.args, env=dict(os.environ))
        return stdio_client(params, errlog=open(self.log, "a"))

    def start(self, timeout: float = 90.0) -> None:
        assert self.http
        logf = open(self.log, "w")
        self.proc = subprocess.Popen([ARGS.bin, *self.args], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf)
        RUNNING.append(self)
        pat = re.compile(r"^wasmgov serve: listening on http://127\.0\.0\.1:(\d+)/mcp$", re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = pat.search(self.log.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"server {self.label} did not print its listening line "
                           f"(exit {self.proc.poll()}):\n{self.log.read_text(errors='replace')[-3000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


RUNNING: list[Server] = []
RUNNING_PROCS: list[subprocess.Popen] = []


def common_args(audit: Path, state: Path, policy: Path | None = None) -> list[str]:
    return ["--trust", str(WORK / "allowed_signers"), "--revoked", str(WORK / "revoked_keys"),
            "--policy", str(policy or WORK / "policy.toml"), "--audit", str(audit), "--state", str(state)]


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wasmgov(*args: str, check_rc: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([ARGS.bin, *args], capture_output=True, text=True, timeout=120)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"wasmgov {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def client(server: Server, mode: str, token: str | None = None, **kw: Any) -> Client:
    info = mt.Implementation(name=CLIENT_NAME, version=CLIENT_VERSION)
    if server.http:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = streamable_http_client(server.url, http_client=create_mcp_http_client(headers=headers))
    else:
        transport = server.stdio()
    return Client(transport, mode=mode, client_info=info, cache=None, read_timeout_seconds=60, **kw)


# ---------------------------------------------------------------------------------------------
# audit log


def audit_records(path: Path) -> list[dict]:
    out = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def last_start(path: Path, tool: str) -> dict | None:
    starts = [r for r in audit_records(path)
              if r.get("kind") == "start" and str(r.get("tool", "")).split("@")[0] == tool]
    return starts[-1] if starts else None


def records_of(path: Path, call: str) -> list[dict]:
    return [r for r in audit_records(path) if r.get("call") == call]


def ends_of(path: Path, start: dict | None) -> list[dict]:
    """The end records of the call `start` began (none without a start)."""
    return [x for x in records_of(path, start["call"]) if x.get("kind") == "end"] if start else []


def meta_2026(client: str | None = None) -> dict:
    """The `_meta` of a 2026-07-28 request (no session), with clientInfo `client`/0 if given."""
    meta: dict = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}
    if client:
        meta["io.modelcontextprotocol/clientInfo"] = {"name": client, "version": "0"}
    return meta


def wait_for(pred, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


async def await_for(pred, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = await pred()
        if v or time.monotonic() >= deadline:
            return v
        await anyio.sleep(step)


# ---------------------------------------------------------------------------------------------
# the checks every transport × era runs


def manifest(name: str, tools: Path | None = None) -> dict:
    return tomllib.loads(((tools or WORK / "tools") / f"{name}.toml").read_text())


def text_of(r: mt.CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in r.content)


def check_error(tag: str, r: mt.CallToolResult, kind: str, *, contains: str = "") -> None:
    t = text_of(r)
    ok = r.is_error is True and t.startswith(f"error[{kind}]") and contains in t
    check(f"{tag}: isError result error[{kind}]{' mentioning ' + repr(contains) if contains else ''}",
          ok, f"isError={r.is_error!r} text={short(t)!r}")


async def era_checks(tag: str, server: Server, mode: str, token: str | None = None,
                     subject: str | None = None) -> None:
    transport = "http" if server.http else "stdio"
    async with client(server, mode, token) as c:
        check(f"{tag}: negotiated {ERA[mode]}", c.protocol_version == ERA[mode],
              f"got {c.protocol_version}")
        info = c.server_info
        if mode != "2026-07-28":
            check(f"{tag}: serverInfo names wasmgov", info is not None and "wasmgov" in info.name,
                  f"got {info!r}", advisory=True)

        # tools/list: the signed packages only, signed descriptions, derived annotations
        tools = {t.name: t for t in (await c.list_tools()).tools}
        check(f"{tag}: tools/list has exactly the signed packages", set(tools) == EXPECTED_TOOLS,
              f"missing {sorted(EXPECTED_TOOLS - set(tools))}, extra {sorted(set(tools) - EXPECTED_TOOLS)}")
        check(f"{tag}: the unsigned package is not listed", "unsigned-stats" not in tools)
        bad = {n: t.description for n, t in tools.items()
               if n in EXPECTED_TOOLS and t.description != manifest(n)["tool"]["description"]}
        check(f"{tag}: descriptions are the signed manifests'", not bad, f"differ: {short(bad)}")
        ts = tools.get("text-stats")
        if ts:
            props = (ts.input_schema or {}).get("properties", {})
            oprops = (ts.output_schema or {}).get("properties", {})
            check(f"{tag}: text-stats inputSchema/outputSchema from the component",
                  "text" in props and "top_words" in oprops,
                  f"input {short(ts.input_schema)} output {short(ts.output_schema)}")

        def ann(name: str) -> mt.ToolAnnotations:
            t = tools.get(name)
            return (t.annotations if t and t.annotations else mt.ToolAnnotations())

        a = ann("text-stats")
        check(f"{tag}: text-stats (no grant) readOnlyHint=true openWorldHint=false destructiveHint!=true",
              a.read_only_hint is True and a.open_world_hint is False and a.destructive_hint is not True,
              f"got {a!r} (MCP defaults an absent openWorldHint to true)")
        a = ann("grep-files")
        check(f"{tag}: grep-files (read bind) readOnlyHint=true openWorldHint=false",
              a.read_only_hint is True and a.open_world_hint is False and a.destructive_hint is not True,
              f"got {a!r}")
        a = ann("write-note")
        check(f"{tag}: write-note (read-write bind) destructiveHint=true readOnlyHint!=true",
              a.destructive_hint is True and a.read_only_hint is not True, f"got {a!r}")
        a = ann("fetch-url")
        check(f"{tag}: fetch-url (network) openWorldHint=true", a.open_world_hint is True, f"got {a!r}")
        # docs/serve.md: readOnlyHint only when nothing is writable and there is no network (a
        # request can change the world outside as well as a file can).
        check(f"{tag}: fetch-url (network, no read-write bind) readOnlyHint=false (docs/serve.md)",
              a.read_only_hint is False, f"got {a!r}")

        # a successful governed call
        r = await c.call_tool("text-stats", {"text": "the cat and the cat"})
        want = {"lines": 1, "words": 5, "chars": 19, "bytes": 19,
                "top_words": [{"word": "cat", "count": 2}, {"word": "the", "count": 2},
                              {"word": "and", "count": 1}]}
        check(f"{tag}: text-stats result in structuredContent",
              r.is_error is not True and r.structured_content == want,
              f"isError={r.is_error} structured={short(r.structured_content)} text={short(text_of(r))}")
        try:
            as_text = json.loads(text_of(r))
        except ValueError:
            as_text = None
        check(f"{tag}: text-stats result also as JSON text content", as_text == want,
              f"text={short(text_of(r))}", advisory=True)
        st = last_start(server.audit, "text-stats")
        ctx = (st or {}).get("context") or {}
        check(f"{tag}: audit start record carries transport/mcp-request/client",
              ctx.get("transport") == transport and bool(str(ctx.get("mcp-request", "")))
              and ctx.get("client") == f"{CLIENT_NAME}/{CLIENT_VERSION}",
              f"start record context = {short(ctx)}")
        if subject:
            check(f"{tag}: audit start record carries the token subject",
                  subject in json.dumps(st or {}), f"start record = {short(st, 600)}")

        # failures are results, never protocol errors
        check_error(tag, await c.call_tool("hostile-loop", {}), "limit-fuel")
        r = await c.call_tool("hostile-trap", {})
        check_error(tag, r, "trap")
        # serve/src/call.rs copies the tool's stderr (its panic message) into an error result
        check(f"{tag}: the trap result carries the guest's panic message (its stderr)",
              "deliberate panic" in text_of(r) + json.dumps(r.structured_content or {}),
              f"text {short(text_of(r), 200)}; structuredContent keys {sorted((r.structured_content or {}).keys())}",
              advisory=True)
        check_error(tag, await c.call_tool("tool-fails", {"reason": "on purpose"}), "tool-failed",
                    contains="tool-fails: on purpose")
        r = await c.call_tool("text-stats", {"txet": 1})
        check(f"{tag}: input not matching the schema is an isError result",
              r.is_error is True and text_of(r).startswith("error["), f"text={short(text_of(r))}")

        r = await c.call_tool("hostile-nap", {})
        check_error(tag, r, "limit-timeout")

        # concurrent calls on one connection: each gets its own answer
        texts = [" ".join(["w"] * n) for n in (1, 2, 3, 4, 5)]
        answers: dict[int, Any] = {}

        async def one(i: int) -> None:
            answers[i] = await c.call_tool("text-stats", {"text": texts[i]})

        async with anyio.create_task_group() as tg:
            for i in range(len(texts)):
                tg.start_soon(one, i)
        got_words = [(answers[i].structured_content or {}).get("words") for i in range(len(texts))]
        check(f"{tag}: 5 concurrent calls on one connection each get their own result",
              got_words == [1, 2, 3, 4, 5], f"words {got_words}")

        # a denial: the host refuses fetch-url's request to 127.0.0.1:9 (loopback, not opened)
        r = await c.call_tool("fetch-url", {"url": "http://127.0.0.1:9/"})
        check_error(tag, r, "tool-failed", contains="HttpRequestDenied")
        st = last_start(server.audit, "fetch-url")
        denies = [x for x in records_of(server.audit, st["call"]) if x.get("decision") == "deny"] if st else []
        check(f"{tag}: the denial is a deny record in the audit log", bool(denies),
              f"records of the call: {short(records_of(server.audit, st['call']) if st else None, 600)}")

        # a bind works
        r = await c.call_tool("grep-files", {"pattern": "sandbox"})
        sc = r.structured_content or {}
        check(f"{tag}: grep-files reads its read-only bind",
              r.is_error is not True and any(m.get("file") == "/data/about.txt" for m in sc.get("matches", [])),
              f"isError={r.is_error} {short(text_of(r))}")

        # cancellation stops the guest and is audited as cancelled
        with anyio.move_on_after(1.0) as scope:
            await c.call_tool("hostile-sleep", {})
        check(f"{tag}: hostile-sleep was still running after 1 s (cancelled by the client)",
              scope.cancel_called, "the call returned before the client cancelled it")
        t_cancel = time.monotonic()

        def cancelled_end():
            s = last_start(server.audit, "hostile-sleep")
            ends = ends_of(server.audit, s)
            return (s, ends[0]) if ends else None

        got = await anyio.to_thread.run_sync(lambda: wait_for(cancelled_end, 3.0))
        waited = time.monotonic() - t_cancel
        if got:
            s, end = got
            check(f"{tag}: cancelled call has an end record with outcome cancelled within 3 s",
                  end.get("outcome") == "cancelled", f"end record = {short(end, 500)}")
            hcs = [x for x in records_of(server.audit, s["call"]) if x.get("kind") == "host-call"]
            check(f"{tag}: the cancelled call's end record accounts for its host calls, fuel and memory",
                  (end.get("host_calls") or 0) >= len(hcs) > 0 and (end.get("fuel") or 0) > 0
                  and (end.get("peak_memory") or 0) > 0,
                  f"{len(hcs)} host-call records, but end has host_calls={end.get('host_calls')} "
                  f"fuel={end.get('fuel')} peak_memory={end.get('peak_memory')}")
            ctx = s.get("context") or {}
            check(f"{tag}: the cancelled call's start record carries transport {transport} and its request id",
                  ctx.get("transport") == transport and bool(str(ctx.get("mcp-request", ""))),
                  f"context = {short(ctx)}")
        else:
            s = last_start(server.audit, "hostile-sleep")
            check(f"{tag}: cancelled call has an end record with outcome cancelled within 3 s", False,
                  f"no end record after {waited:.1f} s; start record = {short(s, 400)}")
        # the connection and the server stay usable
        r = await c.call_tool("text-stats", {"text": "still here"})
        check(f"{tag}: a call after the cancelled one succeeds", r.is_error is not True
              and (r.structured_content or {}).get("words") == 2, f"{short(text_of(r))}")


# ---------------------------------------------------------------------------------------------
# raw stdio: nothing but protocol on stdout, and EOF ends the server


def spawn_stdio(s: Server) -> tuple[subprocess.Popen, queue.Queue]:
    """Start `s` on pipes (killed at exit if still running); its stdout lines arrive in the queue."""
    proc = subprocess.Popen([ARGS.bin, *s.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(s.log, "w"), text=True)
    RUNNING_PROCS.append(proc)
    q: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [q.put(ln) for ln in proc.stdout] and None, daemon=True).start()
    return proc, q


def stdio_raw_checks() -> None:
    tag = "stdio raw"
    s = Server("stdio-raw")
    meta = meta_2026("raw-stdio")
    msgs = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}},
        {"jsonrpc": "2.0", "id": "req-two", "method": "tools/call",
         "params": {"name": "text-stats", "arguments": {"text": "a b c"}, "_meta": meta}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "hostile-trap", "arguments": {}, "_meta": meta}},
    ]
    proc, q = spawn_stdio(s)
    assert proc.stdin
    for m in msgs:
        proc.stdin.write(json.dumps(m) + "\n")
    proc.stdin.flush()
    lines: list[str] = []
    ids: set = set()
    deadline = time.monotonic() + 30
    while ids != {1, "req-two", 3} and time.monotonic() < deadline:
        try:
            ln = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if ln.strip():
            lines.append(ln)
            try:
                ids.add(json.loads(ln).get("id"))
            except (ValueError, AttributeError):
                pass
    # all answered (or timed out): now EOF on stdin must end the server
    proc.stdin.close()
    t0 = time.monotonic()
    rc = _wait(proc, 5)
    dt = time.monotonic() - t0
    if rc is None:
        proc.kill()
        proc.wait()
    while not q.empty():
        ln = q.get()
        if ln.strip():
            lines.append(ln)
    err = s.log.read_text(errors="replace")
    parsed = []
    junk = []
    for ln in lines:
        try:
            parsed.append(json.loads(ln))
        except ValueError:
            junk.append(ln)
    check(f"{tag}: stdout carries only JSON-RPC lines", not junk and all(m.get("jsonrpc") == "2.0" for m in parsed),
          f"non-protocol lines: {short(junk)}")
    by_id = {m.get("id"): m for m in parsed}
    r1 = (by_id.get(1) or {}).get("result", {})
    check(f"{tag}: 2026 inline tools/list answered", any(t.get("name") == "text-stats" for t in r1.get("tools", [])),
          f"got {short(by_id.get(1))}")
    r2 = (by_id.get("req-two") or {}).get("result", {})
    check(f"{tag}: 2026 inline tools/call (string id) answered with structuredContent",
          (r2.get("structuredContent") or {}).get("words") == 3, f"got {short(by_id.get('req-two'))}")
    st = last_start(s.audit, "text-stats")
    ctx = (st or {}).get("context") or {}
    check(f"{tag}: the audit start record's mcp-request is the JSON-RPC id (\"req-two\")",
          ctx.get("mcp-request") == "req-two" and ctx.get("client") == "raw-stdio/0"
          and ctx.get("transport") == "stdio", f"context {short(ctx)}")
    r3 = (by_id.get(3) or {}).get("result", {})
    check(f"{tag}: a trap is a result with isError (not a JSON-RPC error)",
          r3.get("isError") is True and "error" not in (by_id.get(3) or {}), f"got {short(by_id.get(3))}")
    check(f"{tag}: the server exits by itself (status 0) within 5 s of stdin closing", rc == 0,
          f"exit {rc} after {dt:.1f} s; stderr {short(err)}")


def stdio_exchange(s: Server, lines: list[str], want_ids: set, timeout: float) -> tuple[list[dict], int | None]:
    """Write `lines` to a fresh stdio server, read answers until `want_ids` or `timeout`, close stdin."""
    proc, q = spawn_stdio(s)
    assert proc.stdin
    for ln in lines:
        proc.stdin.write(ln + "\n")
        proc.stdin.flush()
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while not want_ids <= {m.get("id") for m in out} and time.monotonic() < deadline:
        try:
            ln = q.get(timeout=0.2)
        except queue.Empty:
            continue
        try:
            out.append(json.loads(ln))
        except ValueError:
            out.append({"junk": ln})
    proc.stdin.close()
    rc = _wait(proc, 5)
    if rc is None:
        proc.kill()
        proc.wait()
    return out, rc


def stdio_limit_checks() -> None:
    tag = "stdio max-body"
    s = Server("stdio-maxbody", extra=["--max-body", "64KiB"])
    meta = meta_2026()
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "text-stats", "arguments": {"text": "x " * 60_000}, "_meta": meta}})
    small = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "text-stats", "arguments": {"text": "a b"}, "_meta": meta}})
    out, rc = stdio_exchange(s, [big, small], {1, 2}, 10.0)
    by_id = {m.get("id"): m for m in out}
    check(f"{tag}: a line under the cap after an oversized one is still answered",
          ((by_id.get(2) or {}).get("result", {}).get("structuredContent") or {}).get("words") == 2,
          f"got {short(out)}")
    check(f"{tag}: an oversized line ({len(big)} bytes > 64 KiB) is not run", not any(
        r.get("kind") == "start" and r.get("input_size", 0) > 65536 for r in audit_records(s.audit)),
          "the audit log has a start record for it")
    check(f"{tag}: an oversized line gets a JSON-RPC error reply (not silence)",
          "error" in (by_id.get(1) or {}), f"answers {short(out)}", advisory=True)


def audit_chain_checks() -> None:
    for log in sorted(WORK.glob("audit-*.jsonl")):
        if log.name == "audit-check.jsonl" or not log.stat().st_size:
            continue
        p = wasmgov("audit", "verify", str(log), check_rc=False)
        check(f"audit: `wasmgov audit verify {log.name}` passes", p.returncode == 0,
              f"exit {p.returncode}: {short(p.stdout + p.stderr, 600)}")


# ---------------------------------------------------------------------------------------------
# raw HTTP hardening


def raw(port: int, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    h = {"Host": f"127.0.0.1:{port}"}
    h.update(headers or {})
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (413) before reading it all
        resp = conn.getresponse()
        data = resp.read(64 * 1024) if resp.status != 200 or "event-stream" not in (resp.getheader("content-type") or "") else read_sse_result(resp)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def read_sse_result(resp: http.client.HTTPResponse) -> bytes:
    """Read SSE lines until one carries a JSON-RPC result or error (2026 answers end there)."""
    out = b""
    while len(out) < 1 << 20:
        line = resp.readline()
        if not line:
            break
        out += line
        if line.startswith(b"data:") and (b'"result"' in line or b'"error"' in line):
            break
    return out


def list_body(pad: int = 0) -> bytes:
    meta = meta_2026("raw-http")
    if pad:
        meta["pad"] = "x" * pad
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
                       "params": {"_meta": meta}}).encode()


def mcp_headers(token: str | None) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


def hardening_checks(s: Server, token: str) -> None:
    tag = "http raw"
    p = s.port
    st, _, body = raw(p, "POST", "/mcp", list_body(), mcp_headers(token))
    check(f"{tag}: well-formed 2026 tools/list with the token -> 200", st == 200 and b"text-stats" in body,
          f"got {st} {short(body.decode(errors='replace'))}")
    st, h, _ = raw(p, "POST", "/mcp", list_body(), mcp_headers(None))
    check(f"{tag}: no token -> 401", st == 401, f"got {st}")
    check(f"{tag}: 401 carries WWW-Authenticate: Bearer", h.get("www-authenticate", "").startswith("Bearer"),
          f"headers {h}", advisory=True)
    st, _, _ = raw(p, "POST", "/mcp", list_body(), mcp_headers("wrong" + token))
    check(f"{tag}: wrong token -> 401", st == 401, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(None), "Authorization": token})
    check(f"{tag}: token without the Bearer scheme -> 401", st == 401, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Host": "evil.example"})
    check(f"{tag}: Host evil.example -> 403", st == 403, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Host": f"evil.example:{p}"})
    check(f"{tag}: Host evil.example:PORT -> 403", st == 403, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Host": f"localhost:{p}"})
    check(f"{tag}: Host localhost:PORT -> 200", st == 200, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Host": f"mcp.example:{p}"})
    check(f"{tag}: Host mcp.example:PORT (--allow-host mcp.example:PORT) -> 200", st == 200, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Host": f"mcp.example:{p + 1}"})
    check(f"{tag}: Host mcp.example:OTHER-PORT -> 403", st == 403, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Origin": "http://evil.example"})
    check(f"{tag}: Origin http://evil.example -> 403", st == 403, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Origin": "null"})
    check(f"{tag}: Origin null -> 403", st == 403, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Origin": "http://app.example:8080"})
    check(f"{tag}: Origin http://app.example:8080 (--allow-origin) -> 200", st == 200, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Origin": "http://app.example:9999"})
    check(f"{tag}: Origin http://app.example:9999 -> 403", st == 403, f"got {st}")
    st, _, _ = raw(p, "POST", "/mcp", list_body(), {**mcp_headers(token), "Origin": f"http://127.0.0.1:{p}"})
    check(f"{tag}: Origin of the server itself http://127.0.0.1:PORT -> 200", st == 200, f"got {st}",
          advisory=True)
    big = list_body(pad=300 * 1024)
    st, _, body = raw(p, "POST", "/mcp", big, mcp_headers(token))
    check(f"{tag}: {len(big)}-byte body with --max-body 64KiB -> 413", st == 413,
          f"got {st} {short(body.decode(errors='replace'))}")
    ok_size = list_body(pad=40 * 1024)
    st, _, _ = raw(p, "POST", "/mcp", ok_size, mcp_headers(token))
    check(f"{tag}: {len(ok_size)}-byte body under --max-body 64KiB -> 200", st == 200, f"got {st}")
    for path in ("/healthz", "/readyz"):
        st, _, _ = raw(p, "GET", path)
        check(f"{tag}: GET {path} -> 200 (no token needed)", st == 200, f"got {st}")
    st, _, _ = raw(p, "GET", "/healthz", headers={"Host": "evil.example"})
    check(f"{tag}: GET /healthz with Host evil.example -> 403", st == 403, f"got {st}", advisory=True)
    st, _, _ = raw(p, "GET", "/metrics")
    check(f"{tag}: GET /metrics without the token -> 401 (same auth as /mcp)", st == 401, f"got {st}")
    st, _, body = raw(p, "GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    check(f"{tag}: GET /metrics with the token -> 200 and the call counters", st == 200
          and b"wasmgov_calls_total{" in body, f"got {st} {short(body.decode(errors='replace'))}")


# ---------------------------------------------------------------------------------------------
# reload: replaced, added, tampered, rolled-back packages


def release(tools: Path, name: str, component: str, desc: str, sequence: int, sign: bool = True) -> None:
    base = tomllib.loads((WORK / "tools" / "text-stats.toml").read_text())
    shutil.copyfile(Path(ARGS.components) / f"{component}.wasm", tools / f"{name}.wasm.new")
    lim = base["limits"]
    text = f'''schema = 1

[tool]
name = "{name}"
version = "0.{sequence}.0"
publisher = "{base['tool']['publisher']}"
description = "{desc}"
sequence = {sequence}

[component]
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
size = 0

[limits]
fuel = {lim['fuel']}
memory = "{lim['memory']}"
timeout = "{lim['timeout']}"
output = "{lim['output']}"
'''
    m = tools / f"{name}.toml.new"
    m.write_text(text)
    wasmgov("pin", str(m), str(tools / f"{name}.wasm.new"))
    if sign:
        wasmgov("sign", "--key", str(WORK / "key"), str(m))
    # move the pieces into place: wasm first, then signature, then manifest (the server may look
    # at any moment; an inconsistent instant must not be served either)
    os.replace(tools / f"{name}.wasm.new", tools / f"{name}.wasm")
    if sign:
        os.replace(tools / f"{name}.toml.new.sig", tools / f"{name}.toml.sig")
    os.replace(m, tools / f"{name}.toml")


def check_output(tools: Path, state: Path) -> subprocess.CompletedProcess:
    return wasmgov("serve", "--tools", str(tools), *common_args(WORK / "audit-check.jsonl", state), "--check",
                   check_rc=False)


async def listing(s: Server, token: str) -> dict[str, mt.Tool]:
    async with client(s, "auto", token) as c:
        return {t.name: t for t in (await c.list_tools()).tools}


async def reload_checks(token: str, tokens: Path) -> None:
    tag = "reload"
    tools = WORK / "tools-reload"
    shutil.copytree(WORK / "tools", tools)
    s = Server("reload", tools=tools, http=True, tokens=tokens)
    s.start()
    notes: list[Any] = []

    async def on_msg(m: Any) -> None:
        notes.append(m)

    # --check on the pristine directory (plus the unsigned package)
    p = check_output(WORK / "tools", WORK / "state-check")
    out = p.stdout + p.stderr
    check(f"{tag}: --check names the unsigned package and why",
          "unsigned-stats" in out and re.search(r"sig|unsigned", out.split("unsigned-stats", 1)[-1][:400], re.I) is not None,
          f"exit {p.returncode}, output {short(out, 800)}")
    check(f"{tag}: --check exits non-zero when a package is refused", p.returncode != 0,
          f"exit {p.returncode}", advisory=True)
    os.remove(tools / "unsigned-stats.wasm")
    os.remove(tools / "unsigned-stats.toml")
    p = check_output(tools, WORK / "state-check2")
    check(f"{tag}: --check exits 0 on a directory of good packages", p.returncode == 0,
          f"exit {p.returncode}: {short(p.stdout + p.stderr, 600)}")

    rev = WORK / "revoked-all"
    rev.write_text((WORK / "key.pub").read_text())
    p = wasmgov("serve", "--tools", str(tools), "--trust", str(WORK / "allowed_signers"), "--revoked", str(rev),
                "--policy", str(WORK / "policy.toml"), "--audit", str(WORK / "audit-check.jsonl"),
                "--state", str(WORK / "state-check3"), "--check", check_rc=False)
    out = p.stdout + p.stderr
    check(f"{tag}: with the signing key revoked, --check serves nothing and says revoked",
          p.returncode == 3 and not re.search(r"^serve ", p.stdout, re.M) and re.search(r"revoked", out, re.I) is not None,
          f"exit {p.returncode}, output {short(out, 800)}")

    d0 = manifest("text-stats", tools)["tool"]["description"]
    events: list[Any] = []
    listen_state: dict[str, Any] = {}

    async def listener(task_status=anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with client(s, "auto", token) as lc:
                async with lc.listen(tools_list_changed=True) as sub:
                    task_status.started()
                    async for ev in sub:
                        events.append(ev)
                        break
        except Exception as e:  # noqa: BLE001 - reported by the advisory check
            listen_state["error"] = repr(e)
            task_status.started()

    http_notes: list[Any] = []

    async def on_http_msg(m: Any) -> None:
        http_notes.append(m)

    async with anyio.create_task_group() as ltg, \
            client(Server("reload-stdio", tools=tools), "legacy", message_handler=on_msg) as sc, \
            client(s, "legacy", token, message_handler=on_http_msg) as hc:
        await hc.list_tools()
        with anyio.fail_after(10):
            await ltg.start(listener)
        before = await listing(s, token)
        check(f"{tag}: text-stats served before any change", before.get("text-stats") is not None
              and before["text-stats"].description == d0, f"got {sorted(before)}")

        # 1. a new package appears
        release(tools, "extra-stats", "text_stats", "Added while the server runs", 1)
        got = await await_for(lambda: _has(s, token, "extra-stats", "Added while the server runs"), 5.0)
        check(f"{tag}: a package added to DIR is listed within 5 s", bool(got))
        if got:
            async with client(s, "auto", token) as c:
                r = await c.call_tool("extra-stats", {"text": "a b"})
            check(f"{tag}: the added package can be called", r.is_error is not True
                  and (r.structured_content or {}).get("words") == 2, short(text_of(r)))
        await anyio.sleep(0.5)
        check(f"{tag}: a legacy stdio session got notifications/tools/list_changed",
              _list_changed_in(notes), f"got {short(notes)}", advisory=True)
        check(f"{tag}: a legacy HTTP session got notifications/tools/list_changed",
              _list_changed_in(http_notes), f"got {short(http_notes)}", advisory=True)
        stdio_tools = {t.name for t in (await sc.list_tools()).tools}
        check(f"{tag}: the stdio server lists the added package too", "extra-stats" in stdio_tools,
              f"got {sorted(stdio_tools)}")
        await await_for(lambda: _true(events or listen_state), 5.0)
        check(f"{tag}: a 2026 HTTP subscriptions/listen stream got a tools-list-changed event",
              bool(events), f"events {short(events)}, {listen_state.get('error', 'no error')}", advisory=True)
        ltg.cancel_scope.cancel()

    # 2. a replaced package (new release, higher sequence) is served
    d2 = "Replaced: release two of text-stats"
    release(tools, "text-stats", "text_stats", d2, 2)
    got = await await_for(lambda: _has(s, token, "text-stats", d2), 5.0)
    check(f"{tag}: a package replaced in DIR is served within 5 s", bool(got),
          f"listing: {short({n: t.description for n, t in (await listing(s, token)).items()})}")
    good_toml = (tools / "text-stats.toml").read_bytes()
    good_wasm = (tools / "text-stats.wasm").read_bytes()

    # 3. a manifest changed after signing is not served
    d3 = "Tampered description, not signed"
    (tools / "text-stats.toml").write_bytes(good_toml.replace(d2.encode(), d3.encode()))
    seen = await _watch(s, token, "text-stats", 3.0)
    check(f"{tag}: a tampered manifest is never served", d3 not in seen, f"descriptions seen: {seen}")
    check(f"{tag}: after tampering the manifest, the old release keeps serving (docs/serve.md)",
          seen == {d2}, f"descriptions seen (None: not listed): {seen}")
    p = check_output(tools, WORK / f"state-{s.label}")
    out = p.stdout + p.stderr
    check(f"{tag}: --check names the tampered manifest and a signature reason",
          "text-stats" in out and re.search(r"signature|sig\b|verif", out, re.I) is not None and p.returncode != 0,
          f"exit {p.returncode}, output {short(out, 800)}")
    (tools / "text-stats.toml").write_bytes(good_toml)
    got = await await_for(lambda: _has(s, token, "text-stats", d2), 5.0)
    check(f"{tag}: the good release is served again after the manifest is restored", bool(got))

    # 4. a component changed after pinning is not served
    bad = bytearray(good_wasm)
    bad[len(bad) // 2] ^= 0x01
    (tools / "text-stats.wasm").write_bytes(bytes(bad))
    seen = await _watch(s, token, "text-stats", 3.0)
    check(f"{tag}: after tampering the component, the old release keeps serving (docs/serve.md)",
          seen == {d2}, f"descriptions seen (None: not listed): {seen}")
    if d2 in seen:
        async with client(s, "auto", token) as c:
            r = await c.call_tool("text-stats", {"text": "one two three"})
        check(f"{tag}: a still-listed text-stats runs the pinned (old) component, or refuses",
              (r.is_error is not True and (r.structured_content or {}).get("words") == 3)
              or (r.is_error is True and "trap" not in text_of(r)), f"{r.is_error} {short(text_of(r))}")
    p = check_output(tools, WORK / f"state-{s.label}")
    out = p.stdout + p.stderr
    check(f"{tag}: --check names the tampered component and a digest reason",
          "text-stats" in out and re.search(r"sha256|digest|pin|size|mismatch", out, re.I) is not None
          and p.returncode != 0, f"exit {p.returncode}, output {short(out, 800)}")
    (tools / "text-stats.wasm").write_bytes(good_wasm)
    await await_for(lambda: _has(s, token, "text-stats", d2), 5.0)

    # 5. a rollback to sequence 1 is refused (the ratchet saw 2)
    release(tools, "text-stats", "text_stats", d0 + " (rolled back)", 1)
    seen = await _watch(s, token, "text-stats", 3.0)
    check(f"{tag}: a rollback to an older sequence is never served; the old release keeps serving",
          seen == {d2}, f"descriptions seen (None: not listed): {seen}")
    p = check_output(tools, WORK / f"state-{s.label}")
    out = p.stdout + p.stderr
    check(f"{tag}: --check names the rollback", "text-stats" in out and
          re.search(r"rollback|sequence", out, re.I) is not None, f"exit {p.returncode}, {short(out, 800)}",
          advisory=True)

    # 6. a release copied in place with plain `cp` (not atomic: manifest, signature, then the
    #    component, each truncated and rewritten) is served once the copy is complete
    staging = WORK / "staging"
    staging.mkdir(exist_ok=True)
    d4 = "Release three, copied in with cp"
    release(staging, "text-stats", "text_stats", d4, 3)
    for f in ("text-stats.toml", "text-stats.toml.sig", "text-stats.wasm"):
        shutil.copyfile(staging / f, tools / f)
        await anyio.sleep(0.05)
    got = await await_for(lambda: _has(s, token, "text-stats", d4), 5.0)
    check(f"{tag}: a release copied over the old one file by file (cp) is served within 5 s", bool(got),
          f"listing: {short({n: t.description for n, t in (await listing(s, token)).items()})}")
    if got:
        async with client(s, "auto", token) as c:
            r = await c.call_tool("text-stats", {"text": "one two"})
        check(f"{tag}: ... and runs", r.is_error is not True and (r.structured_content or {}).get("words") == 2,
              short(text_of(r)))

    # 7. a removed package disappears
    for f in ("extra-stats.wasm", "extra-stats.toml", "extra-stats.toml.sig"):
        os.remove(tools / f)
    got = await await_for(lambda: _lacks(s, token, "extra-stats"), 5.0)
    check(f"{tag}: a package removed from DIR is no longer listed within 5 s", bool(got), advisory=True)
    s.stop()


def _list_changed_in(messages: list[Any]) -> bool:
    return any(isinstance(getattr(m, "root", m), mt.ToolListChangedNotification) or
               "list_changed" in repr(m) for m in messages)


async def _true(v: Any) -> bool:
    return bool(v)


async def _has(s: Server, token: str, name: str, desc: str) -> bool:
    try:
        t = (await listing(s, token)).get(name)
    except Exception:
        return False
    return t is not None and t.description == desc


async def _lacks(s: Server, token: str, name: str) -> bool:
    try:
        return name not in await listing(s, token)
    except Exception:
        return False


async def _watch(s: Server, token: str, name: str, seconds: float) -> set:
    """The descriptions `name` had (None: absent) in listings over the next `seconds`."""
    seen: set = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            t = (await listing(s, token)).get(name)
            seen.add(t.description if t else None)
        except Exception as e:  # noqa: BLE001
            seen.add(f"list failed: {e!r}")
        await anyio.sleep(0.25)
    return seen


# ---------------------------------------------------------------------------------------------
# the tool directory and refusals at start (docs/serve.md "The tool directory")


def refusals(out: str) -> dict[str, str]:
    # the stem as --check prints it (a stray component is named with its .wasm)
    return {m.group(1).removesuffix(".wasm"): m.group(2) for m in re.finditer(r"^refuse\s+(\S+)\s+error\[([a-z0-9-]+)\]", out, re.M)}


def layout_checks() -> None:
    tag = "dir"
    d = WORK / "tools-layout"
    shutil.copytree(WORK / "tools", d)
    shutil.copyfile(d / "text-stats.wasm", d / "stray.wasm")                 # no manifest
    shutil.copyfile(d / "tool-fails.toml", d / "nocomp.toml")                # no component
    shutil.copyfile(d / "tool-fails.toml.sig", d / "nocomp.toml.sig")
    for f in ("text-stats.wasm", "text-stats.toml", "text-stats.toml.sig"):   # an older release
        shutil.copyfile(d / f, d / f.replace("text-stats", "text-stats-v1"))
    release(d, "text-stats", "text_stats", "Release two, beside release one", 2)
    for f in ("wasm", "toml", "toml.sig"):                                    # hidden: ignored
        shutil.copyfile(d / f"hostile-loop.{f}", d / f".hidden.{f}")
    p = check_output(d, WORK / "state-layout")
    out = p.stdout + p.stderr
    got = refusals(p.stdout)
    want = {"unsigned-stats": "unsigned", "stray": "no-manifest", "nocomp": "no-component"}
    check(f"{tag}: --check refuses unsigned, stray .wasm and manifest-without-component with their kinds",
          all(got.get(k) == v for k, v in want.items()), f"refused {got}; output {short(out, 900)}")
    check(f"{tag}: --check refuses the older release beside a newer one of the same tool",
          got.get("text-stats-v1") in ("superseded", "rollback"), f"refused {got}")
    check(f"{tag}: names beginning with . are ignored", ".hidden" not in out, short(out, 900))
    check(f"{tag}: --check exits 3 when a package is refused", p.returncode == 3, f"exit {p.returncode}")
    served = re.findall(r"^serve\s+(\S+)", p.stdout, re.M)
    check(f"{tag}: --check serves the newer release and the other good packages",
          set(served) == EXPECTED_TOOLS, f"served {sorted(served)}")


def startup_refusal_checks(tokens: Path) -> None:
    tag = "start"
    base = ["serve", "--tools", str(WORK / "tools"), *common_args(WORK / "audit-check.jsonl", WORK / "state-check")]
    loose = WORK / "tokens-loose"
    shutil.copyfile(tokens, loose)
    os.chmod(loose, 0o644)
    p = wasmgov(*base, "--http", "127.0.0.1:0", "--tokens", str(loose), check_rc=False)
    check(f"{tag}: a tokens file readable by others is refused (error[tokens], exit 2)",
          p.returncode == 2 and "error[tokens]" in p.stderr, f"exit {p.returncode}: {short(p.stderr)}")
    p = wasmgov(*base, "--tokens", str(tokens), check_rc=False)
    check(f"{tag}: --tokens without --http is a usage error (exit 2)",
          p.returncode == 2 and "error[usage]" in p.stderr, f"exit {p.returncode}: {short(p.stderr)}")
    pol = WORK / "policy-callers-only.toml"
    pol.write_text((WORK / "policy.toml").read_text() + CALLERS_POLICY)
    argv = ["serve", "--tools", str(WORK / "tools"), *common_args(WORK / "audit-check.jsonl", WORK / "state-check", pol),
            "--http", "127.0.0.1:0"]
    try:
        p = subprocess.run([ARGS.bin, *argv], capture_output=True, text=True, timeout=20)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, "still running after 20 s (it served [[callers]] without tokens)"
    check(f"{tag}: [[callers]] over HTTP without --tokens is refused (error[unauthenticated], exit 2)",
          rc == 2 and "error[unauthenticated]" in err, f"exit {rc}: {short(err)}")


# ---------------------------------------------------------------------------------------------
# admission (--max-concurrent) and authorization ([[callers]])


async def call_beside_a_sleeper(tg: Any, c1: Any, c2: Any, sleep_for: float) -> tuple[Any, float]:
    """Start hostile-sleep on c1 (cancelled after `sleep_for` s); after 1 s, call text-stats on c2.
    Returns its result and how long it took."""
    async def sleeper() -> None:
        with anyio.move_on_after(sleep_for):
            await c1.call_tool("hostile-sleep", {})
    tg.start_soon(sleeper)
    await anyio.sleep(1.0)
    t0 = time.monotonic()
    r = await c2.call_tool("text-stats", {"text": "x"})
    return r, time.monotonic() - t0


async def busy_check(token: str, tokens: Path) -> None:
    tag = "busy"
    s = Server("busy", http=True, tokens=tokens, extra=["--max-concurrent", "1", "--max-queued", "0"])
    s.start()
    async with client(s, "auto", token) as c1, client(s, "auto", token) as c2:
        async with anyio.create_task_group() as tg:
            r, dt = await call_beside_a_sleeper(tg, c1, c2, sleep_for=3.0)
            check(f"{tag}: with --max-concurrent 1 --max-queued 0, a second call is error[busy] at once",
                  r.is_error is True and text_of(r).startswith("error[busy]") and dt < 1.0,
                  f"after {dt:.1f} s: isError={r.is_error} {short(text_of(r))}")
        # The client's cancellation reaches the server asynchronously (HTTP: the aborted POST);
        # the slot is free once the guest is stopped, which the audit log shows.
        for _ in range(100):
            r = await c2.call_tool("text-stats", {"text": "x y"})
            if not (r.is_error and text_of(r).startswith("error[busy]")):
                break
            await anyio.sleep(0.05)
        check(f"{tag}: once the slot is free (the sleeper cancelled) calls run again",
              r.is_error is not True and (r.structured_content or {}).get("words") == 2, short(text_of(r)))
    s.stop()

    # docs/serve.md: with --max-concurrent alone (the default queue of 64) a second call waits
    # for the slot and then runs (back-pressure); --max-queued 0 makes it busy at once (above).
    s = Server("busy-default", http=True, tokens=tokens, extra=["--max-concurrent", "1"])
    s.start()
    async with client(s, "auto", token) as c1, client(s, "auto", token) as c2:
        async with anyio.create_task_group() as tg:
            r, dt = await call_beside_a_sleeper(tg, c1, c2, sleep_for=2.5)
        check(f"{tag}: with --max-concurrent 1 alone, a second call waits in the queue and runs (docs/serve.md)",
              r.is_error is False and dt >= 0.5,
              f"waited {dt:.1f} s: isError={r.is_error} {short(text_of(r), 80)}")
    s.stop()


CALLERS_POLICY = """
[[callers]]
subjects = ["limited"]
tools = ["text-stats"]

[[callers]]
subjects = ["py-client"]
tools = ["*"]
"""


async def callers_check(token: str, tokens: Path) -> None:
    tag = "callers"
    limited = wasmgov("token", "add", "limited", "--tokens", str(tokens)).stdout.strip()
    pol = WORK / "policy-callers.toml"
    pol.write_text((WORK / "policy.toml").read_text() + CALLERS_POLICY)
    s = Server("callers", http=True, tokens=tokens, policy=pol)
    s.start()
    async with client(s, "auto", limited) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        check(f"{tag}: a caller sees only the tools [[callers]] names for it", names == {"text-stats"},
              f"got {sorted(names)}")
        r = await c.call_tool("text-stats", {"text": "a"})
        check(f"{tag}: ... and may call them", r.is_error is not True, short(text_of(r)))
        try:
            r = await c.call_tool("tool-fails", {})
            outcome = f"isError={r.is_error} {short(text_of(r))}"
            refused, protocol = r.is_error is True and "tool-fails: this tool always fails" not in text_of(r), False
        except Exception as e:  # noqa: BLE001 - a protocol error
            outcome, refused, protocol = f"protocol error {e!r}", True, True
        check(f"{tag}: a tool it may not call does not run", refused, outcome)
        # docs/serve.md: a tool a caller may not call is as unknown to it as a missing one (-32602),
        # so the refusal does not tell the caller the tool exists.
        check(f"{tag}: ... and it is refused as an unknown tool", protocol and "unknown tool" in outcome, outcome)
    async with client(s, "auto", token) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        check(f"{tag}: a caller with tools = [*] sees every tool", names == EXPECTED_TOOLS, f"got {sorted(names)}")
    nobody = wasmgov("token", "add", "nobody", "--tokens", str(tokens)).stdout.strip()
    s.stop()
    s = Server("callers2", http=True, tokens=tokens, policy=pol)
    s.start()
    async with client(s, "auto", nobody) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        check(f"{tag}: an authenticated caller no [[callers]] entry names sees no tool", not names,
              f"got {sorted(names)}")
    s.stop()


# ---------------------------------------------------------------------------------------------
# shutdown


async def shutdown_check(token: str, tokens: Path) -> None:
    s = Server("shutdown", http=True, tokens=tokens, extra=["--drain-timeout", "2s"])
    s.start()

    async def sleeper() -> None:
        try:
            async with client(s, "auto", token) as c:
                await c.call_tool("hostile-sleep", {})
        except BaseException:  # noqa: BLE001 - the server goes away under it
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        await anyio.sleep(1.5)
        t0 = time.monotonic()
        assert s.proc
        s.proc.send_signal(signal.SIGTERM)
        await anyio.sleep(0.3)
        # while it drains: not ready, and a new call is refused as a result
        try:
            st, _, _ = await anyio.to_thread.run_sync(lambda: raw(s.port, "GET", "/readyz"))
        except OSError as e:
            st = repr(e)
        check("shutdown: /readyz is 503 while draining", st == 503, f"got {st}", advisory=True)
        try:
            with anyio.fail_after(5):
                async with client(s, "2026-07-28", token) as c:
                    r = await c.call_tool("text-stats", {"text": "late"})
            late = f"isError={r.is_error} {short(text_of(r))}"
            ok = r.is_error is True and text_of(r).startswith("error[draining]")
        except BaseException as e:  # noqa: BLE001
            late, ok = f"raised {e!r}", False
        check("shutdown: a call made while draining is an error[draining] result", ok, late, advisory=True)
        rc = await anyio.to_thread.run_sync(lambda: _wait(s.proc, 8))
        dt = time.monotonic() - t0
        tg.cancel_scope.cancel()
    check("shutdown: SIGTERM with a call in flight exits within 5 s (--drain-timeout 2s)", rc is not None and dt < 5.0,
          f"exit {rc} after {dt:.1f} s", advisory=True)
    st = last_start(s.audit, "hostile-sleep")
    ends = ends_of(s.audit, st)
    check("shutdown: the in-flight call has an end record", bool(ends),
          f"start {short(st)}", advisory=True)
    if ends:
        check("shutdown: the in-flight call ended cancelled (or a drain kind)",
              ends[0].get("outcome") in ("cancelled", "draining", "shutdown"), f"end {short(ends[0])}", advisory=True)
    s.stop()


def stdio_shutdown_check() -> None:
    s = Server("shutdown-stdio", extra=["--drain-timeout", "1s"])
    meta = meta_2026()
    proc = subprocess.Popen([ARGS.bin, *s.args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=open(s.log, "w"), text=True)
    RUNNING_PROCS.append(proc)
    assert proc.stdin
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                 "params": {"name": "hostile-sleep", "arguments": {}, "_meta": meta}}) + "\n")
    proc.stdin.flush()
    wait_for(lambda: last_start(s.audit, "hostile-sleep"), 10.0)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = _wait(proc, 8)
    dt = time.monotonic() - t0
    if rc is None:
        proc.kill()
        proc.wait()
    check("shutdown: a stdio server with a call in flight exits within 5 s of SIGTERM (--drain-timeout 1s)",
          rc is not None and dt < 5.0, f"exit {rc} after {dt:.1f} s", advisory=True)
    st = last_start(s.audit, "hostile-sleep")
    ends = ends_of(s.audit, st)
    check("shutdown: the stdio call in flight has an end record", bool(ends), f"start {short(st)}",
          advisory=True)


def _wait(p: subprocess.Popen | None, t: float) -> int | None:
    try:
        return p.wait(t) if p else None
    except subprocess.TimeoutExpired:
        return None


# ---------------------------------------------------------------------------------------------


async def main() -> None:
    only = re.compile(ARGS.only) if ARGS.only else None

    def want(name: str) -> bool:
        return only is None or bool(only.search(name))

    async def run(name: str, coro_fn) -> None:
        if not want(name):
            return
        try:
            await coro_fn()
        except Exception as e:  # noqa: BLE001 - report and go on with the next group
            tb = "".join(traceback.format_exception(e))
            check(f"{name}: ran without a client exception", False, short(tb, 3000))

    tokens = WORK / "tokens"
    subject = "py-client"
    tok = wasmgov("token", "add", subject, "--tokens", str(tokens)).stdout.strip()
    lines = [ln.split() for ln in tokens.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    check("token add: prints a token and appends `SUBJECT sha256:HEX` of it",
          bool(tok) and [subject, "sha256:" + hashlib.sha256(tok.encode()).hexdigest()] in lines,
          f"token {tok!r}, file {lines}")

    await run("stdio raw", lambda: anyio.to_thread.run_sync(stdio_raw_checks))
    await run("stdio max-body", lambda: anyio.to_thread.run_sync(stdio_limit_checks))
    for mode in ("legacy", "auto", "2026-07-28"):
        await run(f"stdio {mode}", lambda mode=mode: era_checks(f"stdio {mode}", Server(f"stdio-{mode}"), mode))

    port = free_port()
    http_srv = Server("http", http=True, tokens=tokens, port=port,
                      extra=["--allow-host", f"mcp.example:{port}", "--allow-origin", "http://app.example:8080",
                             "--max-body", "64KiB"])
    if any(want(n) for n in ("http legacy", "http auto", "http 2026-07-28", "http raw")):
        try:
            http_srv.start()
        except Exception as e:  # noqa: BLE001
            check("http: server starts and prints its listening line", False, str(e))
            http_srv = None
    if http_srv:
        for mode in ("legacy", "auto", "2026-07-28"):
            await run(f"http {mode}", lambda mode=mode: era_checks(f"http {mode}", http_srv, mode, tok, subject))
        await run("http raw", lambda: anyio.to_thread.run_sync(hardening_checks, http_srv, tok))
        http_srv.stop()
    await run("dir", lambda: anyio.to_thread.run_sync(layout_checks))
    await run("start", lambda: anyio.to_thread.run_sync(startup_refusal_checks, tokens))
    await run("reload", lambda: reload_checks(tok, tokens))
    await run("busy", lambda: busy_check(tok, tokens))
    await run("callers", lambda: callers_check(tok, tokens))
    await run("shutdown", lambda: shutdown_check(tok, tokens))
    await run("shutdown stdio", lambda: anyio.to_thread.run_sync(stdio_shutdown_check))
    for s in RUNNING:
        s.stop()
    await run("audit", lambda: anyio.to_thread.run_sync(audit_chain_checks))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--components", required=True)
    ap.add_argument("--only", help="regex: run only the check groups it matches (e.g. 'stdio|raw')")
    ARGS = ap.parse_args()
    WORK = Path(ARGS.work)
    try:
        anyio.run(main)
    finally:
        for s in RUNNING:
            s.stop()
        for p in RUNNING_PROCS:
            if p.poll() is None:
                p.kill()
    if WARNS:
        print(f"clients.py: {len(WARNS)} warnings (WARN lines above; they do not fail the run)", flush=True)
    print(f"clients.py: {PASSES} passed, {len(FAILS)} failed", flush=True)
    sys.exit(1 if FAILS else 0)
