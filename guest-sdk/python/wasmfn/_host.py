"""The host's imports (``wasmfn:function/config`` and ``log``).

``wit_world`` exists only inside the component (componentize-py generates it
at build time), and is imported here at module level so the build's
snapshot holds it. Outside a component (unit tests) these two functions are
replaced.
"""

from __future__ import annotations

try:
    from wit_world.imports import config as _config
    from wit_world.imports import log as _log
except ImportError:  # outside a component
    _config = _log = None


def get_setting(key: str) -> str | None:
    """The function's setting ``key`` from the host."""
    if _config is None:
        raise RuntimeError("wasmfn.config is only available inside a component")
    return _config.get(key)


def write_log(level: str, message: str) -> None:
    """One log record at ``level`` (``debug``, ``info``, ``warn``, ``error``) through the host."""
    if _log is None:
        raise RuntimeError("wasmfn.log is only available inside a component")
    _log.log(_log.Level[level.upper()], message)
