#!/usr/bin/env python3
"""Process-tree figures from /proc, summed over PID and all its descendants.

usage: proc.py rss PID            -> VmRSS in KiB
       proc.py cpu PID            -> utime+stime in seconds
       proc.py rss-max PID SECS   -> highest VmRSS (KiB) sampled every 100 ms for SECS
"""
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return pids


def rss(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def cpu(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except FileNotFoundError:
            pass
    return total / TICK


if __name__ == "__main__":
    cmd, pid = sys.argv[1], int(sys.argv[2])
    if cmd == "rss":
        print(rss(pid))
    elif cmd == "cpu":
        print(f"{cpu(pid):.2f}")
    elif cmd == "rss-max":
        end, peak = time.monotonic() + float(sys.argv[3]), 0
        while time.monotonic() < end:
            peak = max(peak, rss(pid))
            time.sleep(0.1)
        print(peak)
    else:
        sys.exit(f"proc.py: unknown command {cmd}")
