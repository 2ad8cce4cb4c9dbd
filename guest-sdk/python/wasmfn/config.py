"""The function's settings and secrets: its ``env`` and ``env_files`` in ``wasmfn.toml``."""

from __future__ import annotations

from wasmfn import _host
from wasmfn._event import Failed


def get(key: str) -> str | None:
    """The value of setting ``key``, or ``None`` if it is not set."""
    return _host.get_setting(key)


def require(key: str) -> str:
    """The value of setting ``key``; raises :class:`Failed` naming it if it is not set.

    A missing setting is an operator mistake, not a bad event: failing
    (retried) keeps events from the dead-letter sink while it is fixed.
    """
    value = get(key)
    if value is None:
        raise Failed(
            f"setting `{key}` is not configured; add it to this function's `env` in wasmfn.toml"
        )
    return value
