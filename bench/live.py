#!/usr/bin/env python3
"""MCP search round trip and watch latency, measured with the official MCP Python SDK.

usage: bench/live.py --bin target/release/sagasu --db ROOT/.sagasu --queries eval.jsonl
                     [--n 300] [--mode text|vector|hybrid] [--edits 50]

1. Starts `sagasu serve --db DB`, warms it with 5 queries, then times N `search` calls
   (queries from the JSONL's "query" field, in order): p50 / p95 / max round trip in ms.
2. With --edits E > 0: starts `sagasu serve --db DB --watch`, then E times writes a new
   file under ROOT/_sagasu_watch_bench/ holding a unique word and polls `search` (every 20 ms)
   until the file is found: p50 / p95 / max from write to searchable. The files are removed
   at the end (and the server reflects that before it stops).

Needs a Python with the `mcp` package: scripts/mcp-sdk.sh prints one.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(name, ms):
    return (f"{name}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p95 {pct(ms, 95):.1f} ms, "
            f"max {max(ms):.1f} ms")


async def session_for(args, extra):
    params = StdioServerParameters(command=args.bin, args=["serve", "--db", args.db, *extra],
                                   env={"HF_HUB_OFFLINE": "1"})
    return stdio_client(params)


async def round_trips(args, queries):
    async with await session_for(args, []) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            call = {"k": 10}
            if args.mode:
                call["mode"] = args.mode
            for q in queries[:5]:
                await s.call_tool("search", {"query": q, **call})
            times, empty = [], 0
            for q in queries[: args.n]:
                t = time.perf_counter()
                res = await s.call_tool("search", {"query": q, **call})
                times.append((time.perf_counter() - t) * 1000)
                if res.is_error:
                    raise SystemExit(f"search failed: {res.content}")
                empty += not res.structured_content["results"]
            print(summary(f"mcp search round trip (mode {args.mode or 'default'}, k=10)", times)
                  + f", {empty} empty")


async def watch_latency(args):
    # The first collection's tree (sagasu.json of format 4; `root` before collections).
    meta = json.load(open(os.path.join(args.db, "sagasu.json")))
    root = meta["collections"][0]["root"] if meta.get("collections") else meta["root"]
    bench_dir = os.path.join(root, "_sagasu_watch_bench")
    os.makedirs(bench_dir, exist_ok=True)
    async with await session_for(args, ["--watch"]) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            # Let the start-up catch-up run finish.
            while (await s.call_tool("stats", {})).structured_content["reindex"]["runs"] < 1:
                await asyncio.sleep(0.05)
            lat = []
            for i in range(args.edits):
                word = f"watchprobe{i:04d}x{os.getpid()}"
                path = os.path.join(bench_dir, f"w{i:04d}.md")
                t = time.perf_counter()
                with open(path, "w", encoding="utf-8") as f:
                    f.write(f"# 計測 {i}\n\n{word} を含む文書です。\n")
                while True:
                    res = await s.call_tool("search", {"query": word, "mode": "text", "k": 1})
                    if res.structured_content["results"]:
                        break
                    if time.perf_counter() - t > 30:
                        raise SystemExit(f"edit {i} not searchable after 30 s")
                    await asyncio.sleep(0.02)
                lat.append((time.perf_counter() - t) * 1000)
            print(summary("watch: write → searchable", lat))
            shutil.rmtree(bench_dir)
            word = f"watchprobe0000x{os.getpid()}"
            while (await s.call_tool("search", {"query": word, "mode": "text", "k": 1})
                   ).structured_content["results"]:
                await asyncio.sleep(0.05)
            st = (await s.call_tool("stats", {})).structured_content
            print(f"after the edits: {st['fragments']} fragments, {st['versions']} versions, "
                  f"{st['documents']} documents")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--mode")
    ap.add_argument("--edits", type=int, default=50)
    args = ap.parse_args()
    queries = [json.loads(l)["query"] for l in open(args.queries, encoding="utf-8") if l.strip()]
    step = max(1, len(queries) // (args.n + 5))
    queries = queries[::step]
    if args.n > 0:
        asyncio.run(round_trips(args, queries))
    if args.edits > 0:
        asyncio.run(watch_latency(args))


if __name__ == "__main__":
    main()
