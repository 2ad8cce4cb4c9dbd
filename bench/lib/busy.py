#!/usr/bin/env python3
"""Percent of all cores busy over SECS seconds (from /proc/stat), as an integer.

usage: busy.py SECS
"""
import sys
import time


def sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v[:8]) - idle, sum(v[:8])


b0, t0 = sample()
time.sleep(float(sys.argv[1]))
b1, t1 = sample()
print(round(100 * (b1 - b0) / max(1, t1 - t0)))
