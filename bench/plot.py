#!/usr/bin/env python3
"""Plots RSS and thread count over time from measure.py CSVs (t_s, rss_mib, threads).

usage: bench/plot.py OUT.png LABEL=FILE.csv [LABEL=FILE.csv ...]
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    out, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    fig, (ax_rss, ax_thr) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for label, path in runs:
        rows = list(csv.DictReader(open(path)))
        t = [float(r["t_s"]) for r in rows]
        ax_rss.plot(t, [float(r["rss_mib"]) for r in rows], label=label)
        ax_thr.plot(t, [int(r["threads"]) for r in rows], label=label)
    ax_rss.set_ylabel("RSS (MiB)")
    ax_thr.set_ylabel("threads")
    ax_thr.set_xlabel("seconds since start")
    ax_rss.set_title("sagasu index: memory and threads over time")
    ax_rss.legend()
    ax_rss.grid(alpha=0.3)
    ax_thr.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
