"""Drives `sagasu serve` with the official MCP Python SDK (run by tests/mcp.rs).

usage: python mcp_client.py SAGASU_BIN DB_DIR ROOT

ROOT holds guide/setup.md (written by the Rust test) with the word ZEBRAFISH in the section
"## 前提条件", and other/notes.md; ROOT/../outside/secret.md must never be readable.
Exits non-zero with a message on the first failed check.
"""

import asyncio
import json
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def expect_argument_error(session, tool, args, needle):
    """Bad arguments are tool errors (isError), as the MCP spec asks for input errors."""
    try:
        result = await session.call_tool(tool, args)
    except MCPError as e:
        raise SystemExit(f"FAILED: {tool} {args}: a protocol error ({e.message!r}), not a tool error")
    check(result.is_error, f"{tool} {args} is refused")
    check(needle in text_of(result), f"{tool} {args}: error names the problem ({text_of(result)!r})")


async def main(binary, db, root):
    params = StdioServerParameters(
        command=binary,
        args=["serve", "--db", db],
        env={"HF_HUB_OFFLINE": "1", "SAGASU_TEST": "1"},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check(init.server_info.name == "sagasu", f"server name {init.server_info.name}")

            tools = {t.name: t for t in (await session.list_tools()).tools}
            check(
                {"search", "get_document", "stats", "reindex"} <= set(tools),
                f"tools listed: {sorted(tools)}",
            )
            for t in tools.values():
                check(t.description and len(t.description) > 20, f"{t.name} has a description")
            check(tools["search"].input_schema["required"] == ["query"], "search requires query")
            check("k" in tools["search"].input_schema["properties"], "search takes k")

            # search → a section with path, heading path and lines
            r = await session.call_tool("search", {"query": "ZEBRAFISH", "k": 3})
            check(not r.is_error, f"search succeeds: {text_of(r)}")
            hits = r.structured_content["results"]
            check(len(hits) >= 1, "search finds the section")
            top = hits[0]
            check(top["path"] == "guide/setup.md", f"top path {top['path']}")
            check(top["heading_path"][-1] == "前提条件", f"heading path {top['heading_path']}")
            check("ZEBRAFISH" in top["snippet"], "snippet shows the match")
            check(json.loads(text_of(r)) == r.structured_content, "text content mirrors the JSON")

            # path prefix is applied
            r = await session.call_tool("search", {"query": "ZEBRAFISH", "path_prefix": "other/"})
            check(r.structured_content["results"] == [], "path_prefix filters")

            # get_document: the section's lines, then the whole file
            r = await session.call_tool(
                "get_document",
                {"path": top["path"], "start_line": top["start_line"], "end_line": top["end_line"]},
            )
            check(not r.is_error, f"get_document succeeds: {text_of(r)}")
            doc = r.structured_content
            check("ZEBRAFISH" in doc["text"], "the section's lines hold the word")
            check(doc["start_line"] == top["start_line"], "line range kept")
            whole = (await session.call_tool("get_document", {"path": top["path"]})).structured_content
            check(whole["text"].startswith("# セットアップ"), "whole document from line 1")
            check(whole["end_line"] == whole["total_lines"], "to the last line")

            # traversal and escapes are refused, and the server keeps serving; an indexed file
            # replaced by a symlink that leaves the root is served as it was indexed (from the
            # bytes the index holds), never what the link leads to
            notes = os.path.join(root, "other", "notes.md")
            os.remove(notes)
            os.symlink(os.path.join(root, "..", "outside", "secret.md"), notes)
            for bad in ["../outside/secret.md", os.path.join(root, "..", "outside", "secret.md"),
                        "/etc/passwd", "guide/../../outside/secret.md", "outside.md"]:
                r = await session.call_tool("get_document", {"path": bad})
                check(r.is_error, f"get_document {bad!r} refused")
                check("TOP SECRET" not in text_of(r), f"{bad!r} leaks nothing")
            r = await session.call_tool("get_document", {"path": "other/notes.md"})
            check(not r.is_error, f"the indexed notes are served: {text_of(r)}")
            check("TOP SECRET" not in text_of(r), "the swapped-in link leaks nothing")
            check("天気" in text_of(r), "as indexed")

            # bad arguments are refused with a clear message
            await expect_argument_error(session, "search", {"query": "x", "k": 0}, "k must be between 1 and")
            await expect_argument_error(session, "search", {"query": "x", "k": 100000}, "k must be between 1 and")
            await expect_argument_error(session, "search", {"query": "x", "mode": "fuzzy"}, "fuzzy")
            await expect_argument_error(session, "search", {"k": 3}, "query")
            await expect_argument_error(session, "search", {"query": "   "}, "query must not be empty")
            await expect_argument_error(session, "get_document", {"path": "guide/setup.md", "start_line": 0}, "start_line")

            # stats
            r = await session.call_tool("stats", {})
            s = r.structured_content
            check(s["documents"] == 2 and s["sections"] >= 3, f"stats counts: {s['documents']} {s['sections']}")
            check(s["fragments"] <= 16 and s["versions"] <= 5, "fragments and versions bounded")
            check(s["reindex"]["running"] is False, "no re-index running")

            # reindex: a new file becomes searchable; progress shows in stats
            with open(os.path.join(root, "guide", "new.md"), "w", encoding="utf-8") as f:
                f.write("# 新しい文書\n\nQUETZAL という語を含む。\n")
            r = await session.call_tool("reindex", {})
            check(not r.is_error and "started" in r.structured_content["message"], text_of(r))
            deadline = time.time() + 60
            while True:
                s = (await session.call_tool("stats", {})).structured_content
                if s["reindex"]["runs"] >= 1 and not s["reindex"]["running"]:
                    break
                check(time.time() < deadline, f"re-index finishes: {s['reindex']}")
                await asyncio.sleep(0.1)
            check(s["reindex"]["last_error"] is None, f"re-index ok: {s['reindex']}")
            # other/notes.md is a symlink now (not followed): it left the index
            check(s["documents"] == 2, f"2 documents after re-index, got {s['documents']}")
            r = await session.call_tool("search", {"query": "QUETZAL"})
            check([h["path"] for h in r.structured_content["results"]] == ["guide/new.md"], text_of(r))
            # an unknown tool is a protocol error; the server is still there after it
            try:
                await session.call_tool("no_such_tool", {})
                raise SystemExit("FAILED: an unknown tool should be an MCP error")
            except MCPError as e:
                check("no_such_tool" in e.message or "not found" in e.message.lower(), e.message)
            check(not (await session.call_tool("stats", {})).is_error, "still serving")
    print("mcp client: all checks passed")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
