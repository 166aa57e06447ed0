"""The end of scripts/demo: an agent's view of `wasmgov serve`, through the official Python MCP SDK.

Starts the server command given on the command line over stdio, lists its tools (the signed
descriptions and the annotations derived from each grant), calls text-stats and unit-calc, and
shows a tool error coming back as a tool result with isError. Run by scripts/demo in the venv that
scripts/mcp-clients makes (target/mcp/venv).
"""

import sys

import anyio
from mcp import Client, StdioServerParameters


async def main(command: list[str]) -> None:
    server = StdioServerParameters(command=command[0], args=command[1:])
    async with Client(server, mode="auto") as client:
        print(f"connected: protocol {client.protocol_version}")
        tools = (await client.list_tools()).tools
        for t in tools:
            a = t.annotations
            print(
                f"  {t.name:<12} {t.description}\n"
                f"  {'':<12} readOnly={a.read_only_hint} destructive={a.destructive_hint} "
                f"openWorld={a.open_world_hint}"
            )
        r = await client.call_tool("text-stats", {"text": "the cat and the dog and the bird"})
        print("text-stats ->", r.structured_content)
        r = await client.call_tool("unit-calc", {"value": 5, "from": "km", "to": "mi"})
        print("unit-calc  ->", r.structured_content)
        r = await client.call_tool("unit-calc", {"value": 5, "from": "km", "to": "parsec-hours"})
        print("unit-calc  -> isError:", r.is_error, "|", r.content[0].text.splitlines()[0])
        if len(tools) < 4 or r.is_error is not True:
            sys.exit("the demo server did not answer as expected")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
