// TypeScript MCP client v2 checks of `wasmgov serve` over streamable HTTP (run by scripts/test-mcp
// with the node 22 that scripts/mcp-clients installs):
//   MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=... MCP_AUDIT=audit.jsonl node tests/mcp/client.mjs
// For each era (legacy, auto, pinned 2026-07-28): list tools, call text-stats (structuredContent),
// tool-fails and hostile-trap (isError results), then abort a hostile-sleep call after 1 s and
// check the server's audit log (MCP_AUDIT) ends that call `cancelled`. One line per check.
import { readFileSync } from 'node:fs';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const url = process.env.MCP_URL;
const token = process.env.MCP_TOKEN;
const auditPath = process.env.MCP_AUDIT;
if (!url || !token) {
  console.error('client.mjs: set MCP_URL and MCP_TOKEN');
  process.exit(2);
}

// The tools' JSON Schemas come from schemars, whose integer formats ("uint", "uint16", ...) are
// not JSON Schema formats: the client's ajv says so once per schema and field. Count, don't print.
let unknownFormats = 0;
const warn = console.warn.bind(console);
console.warn = (...args) => {
  if (typeof args[0] === 'string' && /^unknown format ".*" ignored in schema/.test(args[0])) unknownFormats++;
  else warn(...args);
};

let passed = 0;
let failed = 0;
function check(name, ok, why = '') {
  if (ok) {
    passed++;
    console.log(`PASS ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}: ${why}`);
  }
}
const short = (v, n = 300) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > n ? s.slice(0, n) + '…' : s;
};
const textOf = (r) => (r.content || []).map((c) => c.text || '').join('\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function audit() {
  if (!auditPath) return [];
  let text = '';
  try {
    text = readFileSync(auditPath, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => {
    try {
      return l ? [JSON.parse(l)] : [];
    } catch {
      return [];
    }
  });
}
const startsOf = (tool) => audit().filter((r) => r.kind === 'start' && String(r.tool).split('@')[0] === tool);

const eras = [
  ['legacy', { mode: 'legacy' }, '2025-11-25'],
  ['auto', { mode: 'auto' }, '2026-07-28'],
  ['pin 2026-07-28', { mode: { pin: '2026-07-28' } }, '2026-07-28'],
];

for (const [label, versionNegotiation, want] of eras) {
  const tag = `ts ${label}`;
  const c = new Client({ name: 'wasmgov-clients-ts', version: '0.1.0' }, { versionNegotiation });
  try {
    await c.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    check(`${tag}: negotiated ${want}`, c.getNegotiatedProtocolVersion() === want, `got ${c.getNegotiatedProtocolVersion()}`);

    const { tools } = await c.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    check(`${tag}: tools/list has text-stats, tool-fails, hostile-sleep`,
      ['text-stats', 'tool-fails', 'hostile-sleep'].every((n) => byName[n]), `got ${Object.keys(byName)}`);
    check(`${tag}: tools/list has no unsigned package`, !byName['unsigned-stats']);
    const a = byName['text-stats']?.annotations || {};
    check(`${tag}: text-stats annotations readOnlyHint=true openWorldHint=false`,
      a.readOnlyHint === true && a.openWorldHint === false, short(a));

    let r = await c.callTool({ name: 'text-stats', arguments: { text: 'one two two' } });
    check(`${tag}: text-stats structuredContent`,
      !r.isError && r.structuredContent?.words === 3 && r.structuredContent?.top_words?.[0]?.word === 'two',
      `isError=${r.isError} ${short(r.structuredContent ?? textOf(r))}`);

    r = await c.callTool({ name: 'tool-fails', arguments: { reason: 'from ts' } });
    check(`${tag}: tool-fails is an isError result error[tool-failed]`,
      r.isError === true && textOf(r).startsWith('error[tool-failed]') && textOf(r).includes('from ts'), short(textOf(r)));
    // an error result of a tool with an outputSchema: its structuredContent is the error, not
    // the schema's shape; the client must still hand back the isError result
    r = await c.callTool({ name: 'text-stats', arguments: { txet: 1 } });
    check(`${tag}: bad input to a tool with an outputSchema is an isError result`,
      r.isError === true && textOf(r).startsWith('error[tool-invalid-input]'), short(textOf(r)));
    r = await c.callTool({ name: 'hostile-trap', arguments: {} });
    check(`${tag}: hostile-trap is an isError result error[trap]`,
      r.isError === true && textOf(r).startsWith('error[trap]'), short(textOf(r)));

    // cancellation: abort after 1 s; the server must stop the guest and audit `cancelled`
    const before = startsOf('hostile-sleep').length;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort('test cancels'), 1000);
    let settled = 'pending';
    await c.callTool({ name: 'hostile-sleep', arguments: {} }, { signal: ac.signal, timeout: 60000 }).then(
      () => (settled = 'returned'),
      () => (settled = 'rejected'),
    );
    clearTimeout(timer);
    check(`${tag}: the aborted hostile-sleep call rejects on the client`, settled === 'rejected', settled);
    if (auditPath) {
      let end;
      let start;
      for (let i = 0; i < 30 && !end; i++) {
        const starts = startsOf('hostile-sleep');
        start = starts.length > before ? starts[starts.length - 1] : undefined;
        end = start && audit().find((x) => x.call === start.call && x.kind === 'end');
        if (!end) await sleep(100);
      }
      check(`${tag}: audit ends the aborted call \`cancelled\` within 3 s`, end?.outcome === 'cancelled',
        `start ${short(start)} end ${short(end)}`);
      check(`${tag}: the aborted call's start record names transport http and client wasmgov-clients-ts/0.1.0`,
        start?.context?.transport === 'http' && start?.context?.client === 'wasmgov-clients-ts/0.1.0',
        short(start?.context));
    }
    r = await c.callTool({ name: 'text-stats', arguments: { text: 'after cancel' } });
    check(`${tag}: a call after the aborted one succeeds`, !r.isError && r.structuredContent?.words === 2, short(textOf(r)));
  } catch (e) {
    check(`${tag}: ran without a client exception`, false, e?.stack || String(e));
  } finally {
    await c.close().catch(() => {});
  }
}

if (unknownFormats) console.log(`client.mjs: note: ajv ignored ${unknownFormats} non-standard "format" values in tool schemas`);
console.log(`client.mjs: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
