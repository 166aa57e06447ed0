"""scripts/demo, detection: an agent calls a good tool and a hostile one through `wasmgov serve`
over streamable HTTP (the official Python MCP SDK); the hostile one is caught and quarantined
while the good one keeps working.

Usage: demo-detect-client.py URL (the server's /mcp endpoint). Exits non-zero when the server did
not act as the demo says.
"""

import sys

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def first_line(r) -> str:
    return r.content[0].text.splitlines()[0] if r.content else ""


async def main(url: str) -> None:
    async with Client(streamable_http_client(url), mode="auto") as client:
        ok = await client.call_tool("text-stats", {"text": "a good tool before"})
        print("text-stats  ->", ok.structured_content)
        # Asks for six hosts its grant does not list: each is denied by the host.
        attempts = [{"url": f"http://exfil-{i}.example.com/upload"} for i in range(6)]
        bad = await client.call_tool("hostile-net", {"http": attempts})
        print("hostile-net -> isError:", bad.is_error, "|", first_line(bad))
        again = await client.call_tool("hostile-net", {})
        print("hostile-net -> isError:", again.is_error, "|", first_line(again))
        still = await client.call_tool("text-stats", {"text": "and a good tool after"})
        print("text-stats  ->", still.structured_content)
        caught = bad.is_error and "error[quarantined]" in first_line(bad)
        refused = again.is_error and "error[quarantined]" in first_line(again)
        if not (caught and refused and not ok.is_error and not still.is_error):
            sys.exit("the server did not catch and quarantine the hostile tool as expected")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
