#!/usr/bin/env python3
"""Winch against Cranelift on this machine, through wasmtime-py 48 (the C API
of the host's wasmtime major, which has both compilers built in).

usage: winch_probe.py compile MODULE.wasm STRATEGY
           CPU seconds (this process, all threads) to compile a component or
           a core module, with the host's code settings (epoch interruption).
       winch_probe.py command MODULE.wasm STRATEGY STDIN_FILE RUNS
           CPU ms per run of a WASI command (fresh store and instance, _start
           with STDIN_FILE on stdin): how fast the compiled code runs when
           the guest's own work dominates (bench/languages.sh's C command on
           a large trade).

STRATEGY: cranelift | winch. Prints one JSON line. bench/winch.sh runs it.
Why not the host itself: `Strategy::Winch` needs wasmtime's `winch` cargo
feature, a rebuild of wasmtime and the host; the C API library already has it.
"""

import json
import sys
import time

import wasmtime
import wasmtime.component
from wasmtime import _ffi as ffi

# wasmtime_strategy_t (the Python setter only knows "auto" and "cranelift").
STRATEGIES = {"cranelift": 1, "winch": 2}


def engine(strategy):
    config = wasmtime.Config()
    ffi.wasmtime_config_strategy_set(config.ptr(), STRATEGIES[strategy])
    config.epoch_interruption = True  # as the host's code_config
    return wasmtime.Engine(config)


def compile_cpu(path, strategy):
    data = open(path, "rb").read()
    eng = engine(strategy)
    is_component = data[4:8] == b"\x0d\x00\x01\x00"
    start = time.process_time()
    if is_component:
        wasmtime.component.Component(eng, data)
    else:
        wasmtime.Module(eng, data)
    return {"strategy": strategy, "compile_cpu_s": round(time.process_time() - start, 3)}


def command_cpu(path, strategy, stdin_path, runs):
    eng = engine(strategy)
    module = wasmtime.Module(eng, open(path, "rb").read())
    linker = wasmtime.Linker(eng)
    linker.define_wasi()
    times = []
    for _ in range(runs):
        start = time.process_time()
        store = wasmtime.Store(eng)
        store.set_epoch_deadline(1 << 30)
        wasi = wasmtime.WasiConfig()
        wasi.stdin_file = stdin_path
        wasi.stdout_file = wasi.stderr_file = "/dev/null"
        wasi.env = [("desk", "bench")]
        store.set_wasi(wasi)
        instance = linker.instantiate(store, module)
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as exit_:
            assert exit_.code == 0, exit_.code
        times.append(time.process_time() - start)
    times.sort()
    return {
        "strategy": strategy,
        "run_cpu_ms_p50": round(times[runs // 2] * 1000, 3),
        "run_cpu_ms_min": round(times[0] * 1000, 3),
    }


if __name__ == "__main__":
    if sys.argv[1] == "compile":
        print(json.dumps(compile_cpu(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(command_cpu(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
