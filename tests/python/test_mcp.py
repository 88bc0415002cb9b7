"""`memmesh mcp` with a real MCP client (the `mcp` package), over stdio and streamable HTTP:
initialize, list the tools, remember then recall, forget, and errors that carry the gRPC code."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any, List

import pytest
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from conftest import BIN_DIR, Node, free_addr, start_node, wait_for

TOOLS = {"remember", "recall", "get", "update", "forget", "history", "list"}


def text_of(result: Any) -> Any:
    assert not result.is_error, result
    return json.loads(result.content[0].text)


async def exercise(session: ClientSession) -> None:
    await session.initialize()
    names = {t.name for t in (await session.list_tools()).tools}
    assert names == TOOLS, names
    first = text_of(await session.call_tool("remember", {"text": "The user's dog is called Biscuit", "memory_type": "FACT"}))
    assert first["outcome"] == "CREATED" and first["version"] == 1
    text_of(await session.call_tool("remember", {"text": "The user prefers tea over coffee", "memory_type": "PREFERENCE"}))
    hits = text_of(await session.call_tool("recall", {"query": "what is the name of the pet?", "k": 2}))["hits"]
    assert hits[0]["id"] == first["id"] and hits[0]["score"] > 0, hits
    changed = text_of(await session.call_tool("update", {"id": first["id"], "text": "The user's dog is called Biscuit and is 3"}))
    assert changed["version"] == 2
    assert len(text_of(await session.call_tool("history", {"id": first["id"]}))["versions"]) == 2
    assert len(text_of(await session.call_tool("list", {}))["memories"]) == 2
    assert text_of(await session.call_tool("forget", {"id": first["id"]}))["state"] == "DELETED"
    assert text_of(await session.call_tool("forget", {"id": first["id"], "purge": True}))["purged"] is True
    with pytest.raises(MCPError) as e:
        await session.call_tool("get", {"id": first["id"]})
    assert e.value.error.message.startswith("NOT_FOUND"), e.value.error
    with pytest.raises(MCPError) as e:
        await session.call_tool("remember", {"text": ""})
    assert e.value.error.message.startswith("INVALID_ARGUMENT") and e.value.error.data["field"] == "cube.content.text", e.value.error
    with pytest.raises(MCPError) as e:
        await session.call_tool("recall", {"query": "x", "tenant": "other"})
    assert "fixed" in e.value.error.message


def test_mcp_over_stdio(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path)
    params = StdioServerParameters(command=str(BIN_DIR / "memmesh"), args=["--addr", n.addr, "mcp", "--tenant", "acme", "--user", "alice"])

    async def main() -> None:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session)

    asyncio.run(main())


def test_mcp_over_streamable_http(nodes: List[Node], tmp_path: Path) -> None:
    n = start_node(nodes, tmp_path)
    addr = free_addr()
    server = subprocess.Popen([str(BIN_DIR / "memmesh"), "--addr", n.addr, "mcp", "--http", addr, "--tenant", "acme", "--user", "bob"], stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert "listening on" in server.stderr.readline()

        async def main() -> None:
            async with streamable_http_client(f"http://{addr}/mcp") as (read, write):
                async with ClientSession(read, write) as session:
                    await exercise(session)

        asyncio.run(main())
    finally:
        server.kill()
        server.wait()
