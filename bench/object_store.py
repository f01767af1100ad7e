#!/usr/bin/env python3
"""One index on local disk against the same on SeaweedFS's S3 gateway, reached directly
(loopback) and through bench/delay_proxy.py adding 20 ms per round trip. For each: index time
and requests, bytes, search p50/p95 cold (a new `sagasu search` process per query) and warm
(`sagasu eval`, in process), and how long a running `sagasu serve` takes to see a commit.
Keyword index (--no-embed): embedding the corpus takes hours here, and what object storage
changes is the reading and writing, not the encoder.

usage: object_store.py SAGASU WEED WORK TREE QUERIES_JSONL
"""
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))


def free_port():
    while True:
        p = random.randint(20000, 44000)
        ok = True
        for q in (p, p + 10000):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
        if ok:
            return p


def http_status(port, method, path):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64).decode("latin-1")
            return int(head.split()[1])
    except (OSError, IndexError, ValueError):
        return None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))]


class Mcp:
    """`sagasu serve` over stdio, raw JSON-RPC."""

    def __init__(self, cmd, env):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env, text=True)
        self.id = 0
        self.call_raw("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                     "clientInfo": {"name": "bench", "version": "0"}})
        self.p.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        self.p.stdin.flush()

    def call_raw(self, method, params):
        self.id += 1
        self.p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params}) + "\n")
        self.p.stdin.flush()
        while True:
            v = json.loads(self.p.stdout.readline())
            if v.get("id") == self.id:
                return v

    def search(self, q):
        r = self.call_raw("tools/call", {"name": "search", "arguments": {"query": q, "mode": "text"}})
        return json.dumps(r, ensure_ascii=False)

    def close(self):
        self.p.kill()
        self.p.wait()


def main():
    sagasu, weed, work, tree, queries_file = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    queries = [json.loads(l)["query"] for l in open(queries_file)]
    random.Random(7).shuffle(queries)
    cold_queries = queries[:30]
    warm_file = os.path.join(work, "warm.jsonl")
    with open(queries_file) as f, open(warm_file, "w") as out:
        lines = f.readlines()
        random.Random(7).shuffle(lines)
        out.writelines(lines[:200])

    data = os.path.join(work, "weed")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    ports = [free_port() for _ in range(4)]
    s3 = ports[3]
    weed_p = subprocess.Popen([weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                               "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0",
                               f"-master.port={ports[0]}", f"-volume.port={ports[1]}",
                               f"-filer.port={ports[2]}", f"-s3.port={s3}"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "weed.log"), "w"))
    procs = [weed_p]
    try:
        deadline = time.time() + 90
        while http_status(s3, "PUT", "/bench") != 200:
            assert time.time() < deadline, "weed did not come up"
            time.sleep(0.25)
        targets = [("local disk", os.path.join(work, "local-index"), None, None)]
        for name, delay in [("S3 loopback", 0), ("S3 +20 ms RTT", 10)]:
            port = free_port()
            counts = os.path.join(work, f"counts-{delay}.json")
            procs.append(subprocess.Popen([sys.executable, os.path.join(BENCH, "delay_proxy.py"),
                                           str(port), "127.0.0.1", str(s3), str(delay), counts]))
            targets.append((name, f"s3://bench/idx-{delay}", port, counts))
        time.sleep(1)
        rows = []
        for name, db, port, counts in targets:
            env = dict(os.environ)
            if port:
                env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ALLOW_HTTP="true",
                           AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                           AWS_REGION="us-east-1")
            else:
                shutil.rmtree(db, ignore_errors=True)

            def requests():
                if not counts or not os.path.exists(counts):
                    return None
                time.sleep(1.1)  # the proxy writes its counts every second
                return sum(json.load(open(counts)).values())

            def run(*args):
                return subprocess.run([sagasu, "--threads", "2", *args], env=env, check=True,
                                      capture_output=True, text=True).stdout

            r0 = requests()
            t = time.time()
            summary = json.loads(run("index", tree, "--db", db, "--no-embed", "--json"))
            index_s = time.time() - t
            r1 = requests()
            stats = json.loads(run("stats", "--db", db, "--json"))
            cold = []
            for q in cold_queries:
                t = time.time()
                subprocess.run([sagasu, "--threads", "2", "search", q, "--db", db, "--mode", "text",
                                "--json"], env=env, capture_output=True)
                cold.append((time.time() - t) * 1000)
            r2 = requests()
            warm = json.loads(run("eval", warm_file, "--db", db, "--mode", "text", "--json"))
            # A reader's delay to see a commit: serve runs, one file changes, `index` commits.
            mcp = Mcp([sagasu, "--threads", "2", "serve", "--db", db], env)
            delays = []
            probe = os.path.join(tree, "zz-bench-probe.md")
            for i in range(5):
                word = f"PROBEWORD{i}X{random.randint(0, 10**9)}"
                with open(probe, "w") as f:
                    f.write(f"# probe\n\n{word}\n")
                run("index", tree, "--db", db, "--no-embed", "--quiet")
                done = time.time()
                while word not in mcp.search(word):
                    assert time.time() - done < 60, "serve never saw the commit"
                    time.sleep(0.02)
                delays.append(time.time() - done)
            mcp.close()
            os.remove(probe)
            run("index", tree, "--db", db, "--no-embed", "--quiet")
            rows.append(dict(
                target=name, index_s=round(index_s, 1), sections=summary["sections_written"],
                commits=summary["commits"],
                index_requests=None if r0 is None else r1 - r0,
                bytes_mib=round(stats["bytes_on_disk"] / 2**20, 1),
                cold_p50_ms=round(pct(cold, 0.5)), cold_p95_ms=round(pct(cold, 0.95)),
                requests_per_cold_search=None if r1 is None else round((r2 - r1) / len(cold), 1),
                warm_p50_ms=round(warm["latency_ms_p50"], 1), warm_p95_ms=round(warm["latency_ms_p95"], 1),
                commit_seen_median_s=round(statistics.median(delays), 2),
                commit_seen_max_s=round(max(delays), 2)))
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
        print()
        keys = list(rows[0].keys())
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for r in rows:
            print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
