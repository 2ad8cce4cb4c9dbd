"""Logging through the host: each record is tagged with the function and the event."""

from wasmfn import _host


def debug(message: str) -> None:
    """Writes ``message`` at level debug."""
    _host.write_log("debug", str(message))


def info(message: str) -> None:
    """Writes ``message`` at level info."""
    _host.write_log("info", str(message))


def warn(message: str) -> None:
    """Writes ``message`` at level warn."""
    _host.write_log("warn", str(message))


def error(message: str) -> None:
    """Writes ``message`` at level error."""
    _host.write_log("error", str(message))
