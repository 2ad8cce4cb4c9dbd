#!/usr/bin/env python3
"""Results of bench/run.sh (one JSON object per line) -> figures and Markdown.

usage: report.py markdown RESULTS.jsonl            -> the Markdown report on stdout
       report.py peak RESULTS.jsonl TARGET WORKLOAD -> peak events/s (best median over concurrencies)
       report.py oha OHA.json TARGET WORKLOAD RATE  -> one JSON result line from oha's JSON output
"""
import json
import statistics
import sys

TARGETS = [("wasmfn", "wasmfn"), ("flask", "Flask/gunicorn"), ("wasmtime", "wasmtime serve")]
WORKLOADS = {
    "a-simple": "(a) `simple`: binary-mode PingSource event, no output → 202",
    "b-transformer-reply": "(b) `transformer`, reply mode, ~1 KB trade JSON → 200 (binary-mode event)",
    "b-transformer-reused": "(b, reused) `transformer`, reply mode, `instances = \"reused\"` → 200; "
                            "Flask is its (b) route, the same work",
    "c-transformer-sink": "(c) `transformer`, sink mode → POST to the local sink (202) → 202",
    "d-seed-handler-sink": "(d) seed-style plain request (`ce_type`/`ce_source` + JSON) into `handler` → sink → 202",
}


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def med(rows, key):
    return statistics.median(r[key] for r in rows) if rows else None


# A workload whose baselines ran another workload's route doing the same work: the reused
# transformer is compared with Flask's (b), which has no "reused" mode.
COMPARE_WITH = {"b-transformer-reused": "b-transformer-reply"}


def runs(res, target, workload, conc, kind="load"):
    if target != "wasmfn":
        workload = COMPARE_WITH.get(workload, workload)
    return [r for r in res if r["kind"] == kind and r["target"] == target
            and r["workload"] == workload and r["conc"] == conc]


def concs(res, kind="load"):
    return sorted({r["conc"] for r in res if r["kind"] == kind})


def peak(res, target, workload, kind="load"):
    meds = [med(runs(res, target, workload, c, kind), "rps") for c in concs(res, kind)]
    meds = [m for m in meds if m is not None]
    return max(meds) if meds else None


def cpu_per_10k(rs):
    """Server CPU-seconds per 10,000 events, median over runs."""
    return statistics.median(r["cpu_s"] / r["requests"] * 10000 for r in rs) if rs else None


def pct(a, b):
    return "–" if not a or not b else f"{100 * a / b:.0f}%"


def us(v):
    if v is None:
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def num(v, fmt="{:,.0f}"):
    return "–" if v is None else fmt.format(v)


def ratio(a, b):
    return "–" if not a or not b else f"{a / b:.1f}×"


def oha_line(path, target, workload, rate):
    d = json.load(open(path))
    pct = d["latencyPercentiles"]
    s = d["summary"]
    codes = d.get("statusCodeDistribution", {})
    ok = sum(n for code, n in codes.items() if str(code).startswith("2"))
    total = sum(codes.values())
    return json.dumps({
        "kind": "openloop", "target": target, "workload": workload, "rate": int(rate),
        "rps": s["requestsPerSec"], "ok": ok, "total": total, "success_rate": s["successRate"],
        "p50_us": pct["p50"] * 1e6, "p99_us": pct["p99"] * 1e6,
        "p999_us": pct.get("p99.9", float("nan")) * 1e6,
    })


def verdict(value, goal):
    return "not measured" if value is None else ("**met**" if value >= goal else "**not met**")


def reset_modes(res):
    """{phase: mode really run} from the servers' startup lines ("main", "reset")."""
    return {r["phase"]: r["mode"] for r in res if r["kind"] == "reset_mode"}


def issue15_targets(res):
    """Issue 15's targets, each from this run's figures: peak = best median events/s over the
    concurrencies, both sides measured alike."""
    out = []
    w = out.append
    pw, pf = peak(res, "wasmfn", "b-transformer-reply"), peak(res, "flask", "b-transformer-reply")
    pe = peak(res, "echo", "b-transformer-reply")
    pr = peak(res, "wasmfn", "b-transformer-reused")
    ps, pt = peak(res, "wasmfn", "a-simple"), peak(res, "wasmtime", "a-simple")
    mode = reset_modes(res).get("main", "?")
    w(f"## Issue 15 targets (this run; memory reset: {mode})")
    w("")
    w("Peak = the best median events/s over the concurrencies, each server alone on CPU 0. "
      "The last column is the same ratio with the other memory reset (the reset phase's server; "
      "decommit is what Linux 6.1 nodes run), at that phase's highest concurrency, against the "
      "baseline at that concurrency (see \"Memory reset\").")
    w("")
    w("| target | measured | met? | same with the other reset mode |")
    w("|---|---|---|---|")

    other = reset_modes(res).get("reset")
    rc = concs(res, "reset")

    def other_ratio(workload, base_target, base_workload, goal, as_pct=False):
        if not other or not rc:
            return "not measured"
        c = rc[-1]
        a = med(runs(res, "wasmfn", workload, c, "reset"), "rps")
        b = med(runs(res, base_target, base_workload, c), "rps")
        if not a or not b:
            return "not measured"
        shown = pct(a, b) if as_pct else ratio(a, b)
        return f"{other}, c={c}: {num(a)} vs {num(b)} = {shown} ({'met' if a >= goal * b else 'not met'})"

    w(f"| `transformer` reply, fresh instances ≥ 8× Flask events/s | {num(pw)} vs {num(pf)} = {ratio(pw, pf)} | "
      f"{verdict(pw / pf if pw and pf else None, 8)} | {other_ratio('b-transformer-reply', 'flask', 'b-transformer-reply', 8)} |")
    w(f"| `transformer` reply, fresh ≥ 40% of the axum-echo ceiling (b) | {num(pw)} vs {num(pe)} = {pct(pw, pe)} | "
      f"{verdict(pw / pe if pw and pe else None, 0.4)} | {other_ratio('b-transformer-reply', 'echo', 'b-transformer-reply', 0.4, True)} |")
    w(f"| `transformer` reply, `instances = \"reused\"` ≥ 10× Flask | {num(pr)} vs {num(pf)} = {ratio(pr, pf)} | "
      f"{verdict(pr / pf if pr and pf else None, 10)} | not measured (reused runs in the main phase only) |")
    w(f"| `simple` ≥ 2× `wasmtime serve` hello | {num(ps)} vs {num(pt)} = {ratio(ps, pt)} | "
      f"{verdict(ps / pt if ps and pt else None, 2)} | {other_ratio('a-simple', 'wasmtime', 'a-simple', 2)} |")
    w("| instructions per event: `simple` ≤ 135k, `transformer` ≤ 280k | not measured by run.sh: "
      "`bench/instructions.sh` (`RESET=decommit bench/instructions.sh` for the fallback) | see bench/README.md | |")
    w("")
    return out


def ceiling_section(res):
    """wasmfn as a share of the axum echo (bench/echo): the HTTP stack alone."""
    if not any(r["kind"] == "load" and r["target"] == "echo" for r in res):
        return []
    out = []
    w = out.append
    w("## Ceiling: the HTTP stack alone (axum echo)")
    w("")
    w("`bench/echo`: the host's axum/hyper/tokio (same Cargo.lock, same runtime and connection "
      "settings) reading each body and answering 202 empty for (a), 200 with the body and the "
      "`ce-*` headers for (b); no CloudEvent, sandbox or guest. Same CPU split and method as above. "
      "% = wasmfn events/s ÷ echo events/s at that concurrency.")
    w("")
    has_reused = any(r["kind"] == "load" and r["workload"] == "b-transformer-reused" for r in res)
    head = "| load | echo (a) | `simple` | % of echo | echo (b) | `transformer` fresh | % of echo |"
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    if has_reused:
        head += " `transformer` reused | % of echo |"
        sep += "---:|---:|"
    w(head)
    w(sep)
    rows = [("a-simple", "a-simple"), ("b-transformer-reply", "b-transformer-reply")]
    if has_reused:
        rows.append(("b-transformer-reused", "b-transformer-reply"))
    for c in concs(res):
        row = f"| c={c} |"
        last_echo = None
        for wl, echo_wl in rows:
            e = med(runs(res, "echo", echo_wl, c), "rps")
            v = med(runs(res, "wasmfn", wl, c), "rps")
            if echo_wl != last_echo:
                row += f" {num(e)} |"
                last_echo = echo_wl
            row += f" {num(v)} | {pct(v, e)} |"
        w(row)
    cmax = concs(res)[-1]
    row = f"| CPU s / 10k events (c={cmax}) |"
    last_echo = None
    for wl, echo_wl in rows:
        if echo_wl != last_echo:
            row += f" {num(cpu_per_10k(runs(res, 'echo', echo_wl, cmax)), '{:.2f} s')} |"
            last_echo = echo_wl
        row += f" {num(cpu_per_10k(runs(res, 'wasmfn', wl, cmax)), '{:.2f} s')} | |"
    w(row)
    w("")
    return out


def reset_section(res):
    """Both memory-reset modes: the main phase's figures and the reset phase's."""
    modes = reset_modes(res)
    rc = concs(res, "reset")
    if not rc or "reset" not in modes:
        return []
    out = []
    w = out.append
    main, other = modes.get("main", "?"), modes["reset"]
    w(f"## Memory reset: {main} vs {other} (issue 15 item 3)")
    w("")
    w("`pagemap` = only the pages an event wrote are restored, found with `PAGEMAP_SCAN` (Linux 6.7+); "
      "`decommit` = every slot's memory is handed back to the kernel after each event (`--memory-reset "
      "decommit`; what nodes on Linux 6.1 — EKS, GKE, Bottlerocket — run whatever the flag). The same "
      f"binary and functions; the {main} figures are the main phase's, the {other} ones from a second "
      "server started right after it. Mode = what each server's startup line reported.")
    w("")
    w(f"| workload | load | {main} events/s | CPU s / 10k events | {other} events/s | CPU s / 10k events | "
      f"{other} ÷ {main} events/s |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for wl in ("a-simple", "b-transformer-reply"):
        for c in rc:
            a_rs, b_rs = runs(res, "wasmfn", wl, c), runs(res, "wasmfn", wl, c, "reset")
            if not b_rs:
                continue
            a, b = med(a_rs, "rps"), med(b_rs, "rps")
            w(f"| {wl} | c={c} | {num(a)} | {num(cpu_per_10k(a_rs), '{:.2f} s')} | {num(b)} | "
              f"{num(cpu_per_10k(b_rs), '{:.2f} s')} | {'–' if not a or not b else f'{b / a:.2f}×'} |")
    w("")
    return out


def scaling_section(res):
    """Both cores: events/s and events/s per core (per server CPU-second)."""
    if not any(r["kind"] == "scale" for r in res):
        return []
    out = []
    w = out.append
    meta = next(r for r in res if r["kind"] == "meta")
    sc = concs(res, "scale")[-1]
    w("## Scaling on both cores (issue 15 item 4)")
    w("")
    w(f"Each server on **both** cores (`taskset -c 0,1`; wasmfn and `wasmtime serve`: one tokio "
      f"worker per core; Flask: gunicorn `--workers 2 --threads 8`). **The load generator runs on the "
      f"same box and the same two cores** (wrk `-t2 -c{sc}`; there is no third machine here), so wrk "
      "competes with the server for CPU: events/s is a lower bound of what the server does with 2 "
      "cores to itself. **Events/s per core** = events/s ÷ the server's CPU-seconds per second "
      "(utime+stime of its process tree from /proc over the run), i.e. events per server CPU-second, "
      f"which wrk's share does not inflate. The 1-core column is the main phase at c={sc} "
      "(server alone on CPU 0, wrk on CPU 1).")
    w("")
    w("| server | workload | 1 core: events/s | 2 cores: events/s | speed-up | server CPU-s per s (2 cores) | "
      "**events/s per core** (2 cores) | the same on 1 core | p99 (2 cores) |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("wasmfn", "a-simple", "wasmfn `simple`"), ("wasmfn", "b-transformer-reply", "wasmfn `transformer` reply"),
            ("flask", "b-transformer-reply", "Flask/gunicorn (2 workers), transformer"),
            ("wasmtime", "a-simple", "`wasmtime serve` hello")]
    per_core = {}
    for t, wl, label in rows:
        rs = runs(res, t, wl, sc, "scale")
        if not rs:
            continue
        one = runs(res, t, wl, sc)
        rps2 = med(rs, "rps")
        busy = statistics.median(r["cpu_s"] / (r["duration_us"] / 1e6) for r in rs)
        pc = statistics.median(r["requests"] / r["cpu_s"] for r in rs if r["cpu_s"] > 0) if busy else None
        pc1 = statistics.median(r["requests"] / r["cpu_s"] for r in one if r["cpu_s"] > 0) if one else None
        per_core[(t, wl)] = pc
        rps1 = med(one, "rps")
        w(f"| {label} | {wl} | {num(rps1)} | {num(rps2)} | {ratio(rps2, rps1)} | {busy:.2f} | {num(pc)} | "
          f"{num(pc1)} | {us(med(rs, 'p99_us'))} |")
    w("")
    a, f = per_core.get(("wasmfn", "b-transformer-reply")), per_core.get(("flask", "b-transformer-reply"))
    s1, t1 = per_core.get(("wasmfn", "a-simple")), per_core.get(("wasmtime", "a-simple"))
    notes = []
    if a and f:
        notes.append(f"transformer per core: wasmfn {ratio(a, f)} Flask")
    if s1 and t1:
        notes.append(f"simple per core: wasmfn {ratio(s1, t1)} `wasmtime serve`")
    if notes:
        w("On 2 cores, " + "; ".join(notes) + ".")
        w("")
    return out


def markdown(res):
    out = []
    w = out.append
    meta = next(r for r in res if r["kind"] == "meta")
    targets = [(t, label) for t, label in TARGETS if any(r.get("target") == t for r in res)]
    w(f"# wasmfn benchmark — {meta['date']}")
    w("")
    w(f"git `{meta['git']}`, wasmfn binary sha256 `{meta['binary_sha256']}…`; {meta['cpu']}, "
      f"{meta['nproc']} cores. Produced by `bench/run.sh` (see bench/README.md).")
    w("")
    out += issue15_targets(res)
    w(f"**Method.** Closed loop: `wrk` ({meta['wrk']}), 1 thread, `-c` connections each with one "
      f"request in flight; {meta['warmup']} s warm-up, then {meta['reps']} runs of {meta['duration']} s "
      "per concurrency; every figure is the median of the runs (each metric's median taken separately). "
      "Latency percentiles are wrk's (p99.9 from the Lua `done()` hook). **CPU split:** the server "
      "under test alone on CPU 0 (`taskset -c 0`); wrk, oha, the sink and the measuring helpers on CPU 1. "
      "CPU s / 10k events = server process tree utime+stime (/proc/PID/stat) over a run ÷ events × 10 000. "
      "RSS = VmRSS of the server process tree (gunicorn: master + worker), peak of 100 ms samples "
      "during the run.")
    w("")
    if meta.get("open_loop") == 0:
        w("Open loop at 50% of peak: skipped in this run (`--skip-open-loop`).")
    elif meta.get("oha"):
        w(f"Open loop at 50% of peak: `{meta['oha']}` `-q <rate> -c 64` for {meta['duration']} s, "
          "1 run, where peak = the best wrk median events/s of that target and workload.")
    else:
        w("Open loop at 50% of peak: **not measured** — no open-loop generator on this machine "
          "(wrk2 is not packaged in Debian; `oha` was not available).")
    w("")

    end = next((r for r in res if r["kind"] == "busy_end"), None)
    loads = [r["loadavg1"] for r in res if r["kind"] == "load" and "loadavg1" in r]
    w(f"**Machine load.** Before the run other processes kept {meta.get('busy_start_pct', '?')}% of both cores busy"
      + (f"; {end['pct']}% at the end" if end else "")
      + (f"; 1-min load average during the load runs {min(loads):.2f}–{max(loads):.2f} (our server + client ≈ 2)" if loads else "")
      + ".")
    if meta.get("busy_start_pct", 0) > 20 or (end and end["pct"] > 20):
        w("")
        w("> **Warning:** other processes were using the CPUs during this run (e.g. a concurrent cargo build). "
          "Absolute figures are pessimistic and noisy; ratios measured back to back are less affected.")
    w("")
    sink = [r for r in res if r["kind"] == "sink_capacity"]
    if sink:
        w(f"Sink (bench/lib/sink.py, asyncio, answers 202): capacity alone on one core "
          f"{sink[0]['rps']:,.0f} req/s (wrk c=64). During the runs it shares CPU 1 with wrk.")
        w("")

    for wl, title in WORKLOADS.items():
        present = [(t, label) for t, label in targets if any(
            r["kind"] == "load" and r["target"] == t
            and r["workload"] == (wl if t == "wasmfn" else COMPARE_WITH.get(wl, wl)) for r in res)]
        if not present:
            continue
        w(f"## {title}")
        w("")
        head = "| load |"
        sep = "|---|"
        for _, label in present:
            head += f" {label} events/s | p50 | p99 | p99.9 |"
            sep += "---:|---:|---:|---:|"
        if len(present) > 1:
            for _, label in present[1:]:
                head += f" events/s vs {label} | p99 vs {label} |"
                sep += "---:|---:|"
        w(head)
        w(sep)
        for c in concs(res):
            row = f"| c={c} |"
            figs = {}
            for t, _ in present:
                rs = runs(res, t, wl, c)
                figs[t] = (med(rs, "rps"), med(rs, "p99_us"))
                row += (f" {num(med(rs, 'rps'))} | {us(med(rs, 'p50_us'))} | {us(med(rs, 'p99_us'))} |"
                        f" {us(med(rs, 'p999_us'))} |")
            for t, _ in present[1:]:
                row += f" {ratio(figs[present[0][0]][0], figs[t][0])} | {ratio(figs[t][1], figs[present[0][0]][1])} less |"
            w(row)
        ol = {t: next((r for r in res if r["kind"] == "openloop" and r["target"] == t
                       and r["workload"] == (wl if t == "wasmfn" else COMPARE_WITH.get(wl, wl))), None)
              for t, _ in present}
        row = "| 50% of peak (open loop) |"
        for t, _ in present:
            o = ol[t]
            row += (" not measured | | | |" if not o else
                    f" {o['rate']:,}/s offered, {o['rps']:,.0f} done | {us(o['p50_us'])} | {us(o['p99_us'])} | {us(o['p999_us'])} |")
        for t, _ in present[1:]:
            a, b = ol[present[0][0]], ol[t]
            row += f" – | {ratio(b['p99_us'], a['p99_us']) + ' less' if a and b else '–'} |"
        w(row)
        w("")
        w("| at the highest concurrency | " + " | ".join(l for _, l in present) + " |")
        w("|---|" + "---:|" * len(present))
        cmax = concs(res)[-1]
        cpu = []
        rss = []
        for t, _ in present:
            rs = runs(res, t, wl, cmax)
            per10k = statistics.median(r["cpu_s"] / r["requests"] * 10000 for r in rs) if rs else None
            cpu.append(num(per10k, "{:.2f} s"))
            rss.append(num(max((r["rss_max_kb"] for r in rs), default=None), "{:,.0f} KiB"))
        w(f"| CPU s / 10k events (c={cmax}) | " + " | ".join(cpu) + " |")
        w(f"| peak RSS under load (c={cmax}) | " + " | ".join(rss) + " |")
        errs = {t: sum(r["err_status"] + r["err_timeout"] + r["err_connect"] + r["err_read"]
                       for c in concs(res) for r in runs(res, t, wl, c))
                for t, _ in present}
        w(f"| non-2xx / socket errors, all runs | " + " | ".join(str(errs[t]) for t, _ in present) + " |")
        w("")

    out += ceiling_section(res)
    out += reset_section(res)
    out += scaling_section(res)

    w("## Memory, cold start, sizes")
    w("")
    idle = {r["target"]: r["kb"] for r in res if r["kind"] == "idle_rss"}
    w("| figure | " + " | ".join(l for t, l in targets if t in idle) + " |")
    w("|---|" + "---:|" * sum(1 for t, _ in targets if t in idle))
    w("| idle RSS (all functions loaded, 2 s after ready) | " +
      " | ".join(f"{idle[t]:,} KiB" for t, _ in targets if t in idle) + " |")
    w("")
    icpu = next((r for r in res if r["kind"] == "idle_cpu" and r["target"] == "wasmfn"), None)
    if icpu:
        w(f"**Idle CPU** (wasmfn, no requests, {icpu['seconds']} s: the epoch ticker's 10 ms ticks are the only "
          f"work): {icpu['cpu_s'] * 1000:.0f} ms = {100 * icpu['cpu_s'] / icpu['seconds']:.2f}% of one core.")
        w("")
    coldrecs = [r for r in res if r["kind"] == "coldstart"]
    has_cache = any(r.get("has_cache") for r in coldrecs)
    okc = [r["result"]["ms"] for r in coldrecs if r.get("cache", "cold") == "cold" and r["result"].get("ok")]
    okw = [r["result"]["ms"] for r in coldrecs if r.get("cache") == "warm" and r["result"].get("ok")]
    if coldrecs:
        w("**Cold start** (exec of `wasmfn serve` → first 2xx to `POST /simple`, "
          f"{coldrecs[0].get('modules', 5)} example modules (the Rust ones), "
          "polled with http.client in a tight loop; server on CPU 0):")
        w("")
        w("| artifact cache | median | runs | RSS after first 2xx |")
        w("|---|---:|---|---:|")
        for label, cache, vals in (("cold (empty cache dir)" if has_cache else "none in this binary (compiles every start)", "cold", okc),
                                   ("warm (filled by the previous start)", "warm", okw)):
            if not vals:
                continue
            rss = statistics.median(r["result"]["rss_ready_kb"] for r in coldrecs
                                    if r.get("cache", "cold") == cache and r["result"].get("ok"))
            w(f"| {label} | **{statistics.median(vals):.0f} ms** | {', '.join(f'{m:.0f}' for m in vals)} ms | {rss:,.0f} KiB |")
        bad = [r for r in coldrecs if not r["result"].get("ok")]
        if bad:
            w(f"| failures | {len(bad)} | {bad[0]['result'].get('error')} | |")
        w("")
    mods = [r for r in res if r["kind"] == "modules"]
    if mods:
        w("**Startup with N loaded modules** (distinct copies of simple.wasm, each with its own custom "
          "section so that bytes and digests differ; exec → first 2xx; server on one core):")
        w("")
        w("| modules | cache | startup | per module | RSS after ready | RSS idle 1 s later | per module |")
        w("|---:|---|---:|---:|---:|---:|---:|")
        for m in mods:
            r, n = m["result"], m["n"]
            if r.get("ok"):
                w(f"| {n} | {m.get('cache', 'none')} | {r['ms'] / 1000:.2f} s | {r['ms'] / n:.1f} ms | {r['rss_ready_kb']:,} KiB | "
                  f"{r['rss_idle_kb']:,} KiB | {r['rss_idle_kb'] / n:,.0f} KiB |")
            else:
                w(f"| {n} | {m.get('cache', 'none')} | **failed**: {r.get('error', '?')} | | | | |")
        w("")
    sizes = [r for r in res if r["kind"] == "size"]
    w("**.wasm sizes** (release, `scripts/build-functions.sh`): " +
      ", ".join(f"`{s['name']}` {s['bytes']:,} B" for s in sizes))
    w("")

    # ---- targets from issue 5
    w("## Earlier targets (issue 5)")
    w("")
    w("| target | measured | met? |")
    w("|---|---|---|")
    pw, pf = peak(res, "wasmfn", "b-transformer-reply"), peak(res, "flask", "b-transformer-reply")
    w(f"| transformer reply ≥ 25× Flask events/s | {num(pw)} vs {num(pf)} = {ratio(pw, pf)} | "
      f"{'met' if pw and pf and pw >= 25 * pf else 'not met' if pw and pf else 'not measured'} |")
    ow = next((r for r in res if r["kind"] == "openloop" and r["target"] == "wasmfn" and r["workload"] == "b-transformer-reply"), None)
    of = next((r for r in res if r["kind"] == "openloop" and r["target"] == "flask" and r["workload"] == "b-transformer-reply"), None)
    if ow and of:
        w(f"| transformer p99 at 50% load ≤ 1/10 Flask's | {us(ow['p99_us'])} vs {us(of['p99_us'])} | "
          f"{'met' if ow['p99_us'] * 10 <= of['p99_us'] else 'not met'} |")
    else:
        w("| transformer p99 at 50% load ≤ 1/10 Flask's | not measured (no open-loop generator) | not measured |")
    ps, pt = peak(res, "wasmfn", "a-simple"), peak(res, "wasmtime", "a-simple")
    if pt:
        w(f"| simple ≥ 1.0× wasmtime serve hello | {num(ps)} vs {num(pt)} = {ratio(ps, pt)} | "
          f"{'met' if ps >= pt else 'not met'} |")
    else:
        w(f"| simple ≥ 1.0× wasmtime serve hello | wasmfn simple {num(ps)}/s; wasmtime serve not measured "
          "in this run (reference only, from shared notes, not ours: ~10.5k req/s) | not measured |")
    p50 = med(runs(res, "wasmfn", "a-simple", 1), "p50_us")
    w(f"| simple p50 at c=1 < 150 µs | {us(p50)} | {'met' if p50 and p50 < 150 else 'not met'} |")
    if okc:
        cm = statistics.median(okc)
        w(f"| cold start, cold cache, 5 modules < 1 s | {cm:.0f} ms | {'met' if cm < 1000 else 'not met'} |")
    if okw:
        wm = statistics.median(okw)
        w(f"| cold start, warm cache, 5 modules < 50 ms | {wm:.0f} ms | {'met' if wm < 50 else 'not met'} |")
    elif okc:
        w("| cold start, warm cache, 5 modules < 50 ms | no artifact cache in this binary | not measured |")
    iw = idle.get("wasmfn")
    warm_idle = [r["result"]["rss_idle_kb"] for r in coldrecs if r.get("cache") == "warm" and r["result"].get("ok")]
    if warm_idle:
        wi = statistics.median(warm_idle)
        w(f"| idle RSS < 25 MiB | {wi / 1024:.1f} MiB after a warm-cache start (5 modules); "
          f"{num(iw and iw / 1024, '{:.1f} MiB')} in the bench server, which compiled its 6 modules at start | "
          f"{'met' if wi < 25 * 1024 else 'not met'} (warm start); {'met' if iw and iw < 25 * 1024 else 'not met'} after compiling |")
    else:
        w(f"| idle RSS < 25 MiB | {num(iw and iw / 1024, '{:.1f} MiB')} | {'met' if iw and iw < 25 * 1024 else 'not met'} |")
    big = max(sizes, key=lambda s: s["bytes"]) if sizes else None
    if big:
        w(f"| each example .wasm < 300 KB | largest `{big['name']}` {big['bytes']:,} B | "
          f"{'met' if all(s['bytes'] < 300_000 for s in sizes if not s['name'].startswith('(')) else 'not met'} |")
    if mods:
        okm = [m for m in mods if m["result"].get("ok") and m.get("cache", "cold") == "cold"]
        loaded1000 = any(m["n"] == 1000 for m in okm)
        lin = "–"
        if len(okm) >= 2:
            a, b = okm[0], okm[-1]
            tpm = [m["result"]["ms"] / m["n"] for m in okm]
            rpm = [(m["result"]["rss_idle_kb"]) / m["n"] for m in okm]
            lin = (f"startup per module {', '.join(f'{x:.1f}' for x in tpm)} ms; RSS per module "
                   f"{', '.join(f'{x:,.0f}' for x in rpm)} KiB (N = {', '.join(str(m['n']) for m in okm)})")
        grows = len(okm) >= 2 and okm[-1]["result"]["ms"] / okm[-1]["n"] <= 1.5 * okm[0]["result"]["ms"] / okm[0]["n"]
        tried1000 = any(m["n"] == 1000 for m in mods)
        w(f"| startup and RSS grow at most linearly; 1000 modules load | cold cache: {lin}; 1000 loaded: "
          f"{('yes' if loaded1000 else 'no') if tried1000 else 'not tried in this run'} | "
          f"{('met' if grows and loaded1000 else 'not met') if tried1000 else ('linear so far' if grows else 'not met')} |")
    w("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "markdown":
        sys.stdout.write(markdown(load(sys.argv[2])))
    elif cmd == "peak":
        print(peak(load(sys.argv[2]), sys.argv[3], sys.argv[4]) or 0)
    elif cmd == "oha":
        print(oha_line(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))
    else:
        sys.exit(f"report.py: unknown command {cmd}")
