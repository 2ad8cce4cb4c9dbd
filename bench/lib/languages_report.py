#!/usr/bin/env python3
"""The Markdown report of bench/languages.sh from its JSON lines.

usage: languages_report.py RESULTS.jsonl

Per target and concurrency, medians over the rounds of: events/s (wall),
server CPU µs per event (utime+stime of the server's process tree over the
run / requests), events per CPU-second, and wrk's p50/p99. "x Flask" is the
target's events per CPU-second divided by the Flask baseline's running the
same mapping code (flask-transformer-py) in the same round and at the same
concurrency, the median of those per-round ratios: the machine's load drifts
between rounds, not within one pair of runs.
"""

import json
import statistics
import sys

BASELINE = "flask-transformer-py"
ORDER = [
    "flask-transformer-py",
    "flask-transformer",
    "rust-transformer",
    "py-transformer-fresh",
    "py-transformer-reused",
    "js-handler-fresh",
    "js-handler-reused",
    "c-trade-check",
]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, pattern="{:,.0f}"):
    return "-" if value is None else pattern.format(value)


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    meta = next(r for r in rows if r["kind"] == "meta")
    end = next((r for r in rows if r["kind"] == "end"), {})
    loads = [r for r in rows if r["kind"] == "load"]
    for r in loads:
        secs = r["duration_us"] / 1e6
        r["rps"] = r["requests"] / secs
        r["cpu_us"] = r["cpu_s"] / r["requests"] * 1e6 if r["requests"] else None
        r["per_cpu_s"] = r["requests"] / r["cpu_s"] if r["cpu_s"] > 0 else None
    by_round = {(r["target"], r["conc"], r["round"]): r for r in loads}

    out = [
        "# Languages side by side (bench/languages.sh)",
        "",
        f"{meta['date']}, git {meta['git']}; {meta['rounds']} rounds of {meta['duration']} s per "
        f"target and concurrency, interleaved; load average {meta['loadavg_start']} at the start, "
        f"{end.get('loadavg_end', '?')} at the end (2 cores, shared).",
        "",
        "Servers on CPU 0, wrk on CPU 1. CPU µs/event: utime+stime of the server's process "
        "tree over a run ÷ its requests. x Flask: events per CPU-second ÷ those of Flask "
        "running the same mapping code (`/transformer-py`), paired per round, median.",
        "",
        "| target | c | events/s | CPU µs/event | events/CPU-s | x Flask | p50 µs | p99 µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    concs = sorted({r["conc"] for r in loads})
    for conc in concs:
        for target in ORDER:
            runs = [r for r in loads if r["target"] == target and r["conc"] == conc]
            if not runs:
                continue
            ratios = []
            for r in runs:
                base = by_round.get((BASELINE, conc, r["round"]))
                if base and base["per_cpu_s"] and r["per_cpu_s"]:
                    ratios.append(r["per_cpu_s"] / base["per_cpu_s"])
            out.append(
                f"| {target} | {conc} | {fmt(median(r['rps'] for r in runs))} "
                f"| {fmt(median(r['cpu_us'] for r in runs))} "
                f"| {fmt(median(r['per_cpu_s'] for r in runs))} "
                f"| {fmt(median(ratios), '{:.2f}')} "
                f"| {fmt(median(r['p50_us'] for r in runs))} "
                f"| {fmt(median(r['p99_us'] for r in runs))} |"
            )

    colds = [r for r in rows if r["kind"] == "cold"]
    if colds:
        out += [
            "",
            "## Cold start: exec of `wasmfn serve` → first 2xx, that function alone",
            "",
            "Empty cache: a fresh `--cache-dir` (a new pod); filled: the directory the previous "
            "start wrote. Median of the runs (ms); the server on one core.",
            "",
            "| function | empty cache | filled cache | runs |",
            "|---|---:|---:|---:|",
        ]
        for target in dict.fromkeys(r["target"] for r in colds):
            cells = []
            for cache in ("empty", "filled"):
                runs = [r["result"] for r in colds if (r["target"], r["cache"]) == (target, cache)]
                ok = [r["ms"] for r in runs if r.get("ok")]
                cells.append(
                    fmt(median(ok)) if len(ok) == len(runs) else f"{len(runs) - len(ok)} failed"
                )
            out.append(f"| {target} | {cells[0]} | {cells[1]} | {len(runs)} |")

    sizes = [r for r in rows if r["kind"] == "size"]
    if sizes:
        out += ["", "## Module sizes", "", "| function | bytes |", "|---|---:|"]
        out += [f"| {r['name']} | {r['bytes']:,} |" for r in sizes]
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
