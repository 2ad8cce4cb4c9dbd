#!/usr/bin/env python3
"""Exec -> ready -> first answer: starts a server command, polls GET /readyz
until 200 (what Knative waits for before routing), then POSTs one event and
records its status and the time of that answer; stops the server and prints
one JSON line. Unlike startup.py it does not require a 2xx, so a module whose
function fails still measures its load (pull + compile) time. The line also
has the server's peak RSS (`maxrss_mb`: the largest of the server and the
children it reaped, e.g. its compile worker, from wait4) and the CPU seconds
of the whole run (`cpu_s`, user + system, children included), and the
server's resident memory after the first answer split as /proc/PID/status
does (`rss_anon_mb`: anonymous, private to the process; `rss_file_mb`:
file-backed, e.g. an mmap'd compiled artifact, page cache that other
processes mapping the same file share and the kernel can reclaim).

usage: ready.py --port P --path /fn --headers FILE --body FILE [--timeout S] [--log FILE] -- CMD...
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--path", required=True)
ap.add_argument("--headers", required=True)
ap.add_argument("--body", required=True)
ap.add_argument("--timeout", type=float, default=120)
ap.add_argument("--log", default="/dev/null")
ap.add_argument("cmd", nargs=argparse.REMAINDER)
args = ap.parse_args()
cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
headers = dict(l.split(":", 1) for l in open(args.headers) if ":" in l)
headers = {k.strip(): v.strip() for k, v in headers.items()}
body = open(args.body, "rb").read()


def request(method, path, data=None, hdrs=None):
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
    conn.request(method, path, body=data, headers=hdrs or {})
    status = conn.getresponse().status
    conn.close()
    return status


def rss_split(pid):
    fields = {"RssAnon:": "rss_anon_mb", "RssFile:": "rss_file_mb"}
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            key, *rest = line.split()
            if key in fields:
                out[fields[key]] = round(int(rest[0]) / 1024, 1)
    except OSError:
        pass
    return out


log = open(args.log, "ab")
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=log, stderr=log)
result = {"ok": False}
try:
    while True:
        if time.perf_counter() - t0 > args.timeout:
            result["error"] = f"not ready within {args.timeout:.0f} s"
            break
        if proc.poll() is not None:
            result["error"] = f"server exited with {proc.returncode}"
            break
        try:
            status = request("GET", "/readyz")
        except OSError:
            time.sleep(0.002)
            continue
        if status == 200:
            result["ready_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            result["status"] = request("POST", args.path, body, headers)
            result["answer_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            result.update(rss_split(proc.pid))
            result["ok"] = True
            break
        time.sleep(0.01)
finally:
    proc.send_signal(signal.SIGTERM)
    deadline = time.perf_counter() + 20
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result["maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
print(json.dumps(result))
