#!/usr/bin/env python3
"""Exec -> first 2xx: starts a server command, POSTs a request in a tight loop
(http.client, time.perf_counter) until it answers 2xx, then reads its RSS once
ready and again after 1 s idle, stops it, and prints one JSON line.

usage: startup.py --port P --path /simple --headers FILE --body FILE
                  [--timeout S] [--log FILE] -- CMD...
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from proc import rss  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--path", required=True)
ap.add_argument("--headers", required=True)
ap.add_argument("--body", required=True)
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--log", default=os.devnull)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
args = ap.parse_args()
cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd

headers = {}
for line in open(args.headers):
    if ":" in line:
        k, v = line.split(":", 1)
        headers[k.strip()] = v.strip()
body = open(args.body, "rb").read()

log = open(args.log, "ab")
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=log, stderr=log)
result = {"ok": False}
try:
    while True:
        now = time.perf_counter()
        if now - t0 > args.timeout:
            result["error"] = f"no 2xx within {args.timeout:.0f} s"
            break
        if proc.poll() is not None:
            result["error"] = f"server exited with {proc.returncode} before a 2xx"
            break
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
            conn.request("POST", args.path, body=body, headers=headers)
            status = conn.getresponse().status
            conn.close()
        except OSError:
            time.sleep(0.0002)
            continue
        if 200 <= status < 300:
            result.update(ok=True, ms=round((time.perf_counter() - t0) * 1000, 2),
                          rss_ready_kb=rss(proc.pid))
            time.sleep(1.0)
            result["rss_idle_kb"] = rss(proc.pid)
            break
        result["last_status"] = status
        time.sleep(0.001)
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
print(json.dumps(result))
