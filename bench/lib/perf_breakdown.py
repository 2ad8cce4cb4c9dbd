#!/usr/bin/env python3
"""Where a server's CPU time goes, from `perf script` output: each sample is put in one
category by its leaf frame (and, for kernel samples, by the kernel frames above it), and the
shares are turned into microseconds per event with the events/s measured during the profile.

usage: perf script -i perf.data | perf_breakdown.py EVENTS_PER_S TITLE
(The server is saturated on its one core while profiled, so 1 s of samples = 1 s of CPU.)
"""
import collections
import re
import sys

KERNEL_NET = re.compile(r"tcp_|sock_|sk_|skb|ip_|__netif|napi|net_rx|sys_sendto|sys_recvfrom|writev|readv|__dev_queue_xmit|loopback")
KERNEL_MEM = re.compile(r"pagemap|madvise|mprotect|page_fault|handle_mm_fault|do_anonymous|zap_|tlb|walk_pgd|change_p")
KERNEL_SCHED = re.compile(r"epoll|futex|schedule|nanosleep|hrtimer|clock_nanosleep|sched_")

USER = [
    (re.compile(r"^(wasmtime|cranelift|wasmtime_environ|<wasmtime|<dyn wasmtime)"), "wasmtime runtime: instantiate, call, lift/lower, reset"),
    (re.compile(r"hyper|httparse|^<?http::|^<?axum|^<?tokio|^<?mio|tower|hyper_util"), "HTTP server and async runtime (hyper, axum, tokio)"),
    (re.compile(r"cloudevents|serde|chrono|percent_encoding|^<?url::|uuid"), "CloudEvent parse, validate, encode (host)"),
    (re.compile(r"tracing|prometheus|nu_ansi|sharded_slab"), "logging spans and metrics"),
    (re.compile(r"wasmfn"), "wasmfn's own code"),
]


def category(frames):
    """frames: [(symbol, dso)], leaf first."""
    sym, dso = frames[0]
    if "kernel" in dso:
        above = " ".join(s for s, d in frames if "kernel" in d)
        if KERNEL_NET.search(above):
            return "kernel: loopback TCP (recv, writev, delivery to and wake-up of the peer)"
        if KERNEL_MEM.search(above):
            return "kernel: memory (pagemap scan, page faults, madvise)"
        if KERNEL_SCHED.search(above):
            return "kernel: epoll and scheduling"
        return "kernel: other syscalls and interrupts"
    if "JIT" in dso or "perf-" in dso or sym.startswith("wasm[") or "cwasm" in dso:
        return "guest code (the function itself, compiled Wasm)"
    if "libc" in dso:
        if re.search(r"malloc|free|realloc|calloc|_int_", sym):
            return "malloc / free"
        if re.search(r"mem(cpy|move|set|cmp)", sym):
            return "memcpy / memset"
        return "libc: other"
    for pattern, name in USER:
        if pattern.search(sym):
            return name
    if re.search(r"^<?(core|alloc|std)::", sym):
        return "Rust core (formatting, copies, collections)"
    return "other"


def samples(stream):
    frames = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if not line.startswith((" ", "\t")):
            continue  # the sample's header line
        m = re.match(r"\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)$", line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            frames.append((sym, m.group(2)))
    if frames:
        yield frames


def main():
    rate, title = float(sys.argv[1]), sys.argv[2]
    counts = collections.Counter(category(f) for f in samples(sys.stdin))
    total = sum(counts.values())
    per_event_us = 1e6 / rate
    print(f"# {title}")
    print(f"# {total} samples; {rate:,.0f} events/s while profiled = {per_event_us:.1f} µs of server CPU per event")
    print()
    print(f"| {'where':<74} | share | µs per event |")
    print(f"|{'-' * 76}|------:|-------------:|")
    for name, n in counts.most_common():
        print(f"| {name:<74} | {100 * n / total:4.1f}% | {per_event_us * n / total:12.1f} |")


if __name__ == "__main__":
    main()
