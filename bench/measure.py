#!/usr/bin/env python3
"""Run a command, sample its RSS and thread count, report wall time and peaks.

usage: measure.py [--csv FILE] [--interval S] -- CMD ARGS...
Prints one JSON line: {"wall_s", "peak_rss_mib", "max_threads", "exit"} on stderr's last line
and writes (t_s, rss_mib, threads) rows to --csv when given.
"""
import argparse, json, subprocess, sys, time


def sample(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = threads = 0
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
            return rss, threads
    except (FileNotFoundError, ProcessLookupError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    t0 = time.monotonic()
    p = subprocess.Popen(cmd)
    rows, peak, maxt = [], 0, 0
    while p.poll() is None:
        s = sample(p.pid)
        if s:
            rss, th = s
            peak, maxt = max(peak, rss), max(maxt, th)
            rows.append((round(time.monotonic() - t0, 2), round(rss / 2**20, 1), th))
        time.sleep(a.interval)
    wall = time.monotonic() - t0
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("t_s,rss_mib,threads\n")
            for r in rows:
                f.write(",".join(map(str, r)) + "\n")
    print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mib": round(peak / 2**20, 1),
                      "max_threads": maxt, "exit": p.returncode}), file=sys.stderr)
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
