"""What a ``handle`` call amounts to: the events to send on, or the error the host reports.

Pure Python (the WIT types are passed in), so it is unit-tested natively.
"""

from __future__ import annotations

from typing import Any

from wasmfn._event import Event, Failed, Invalid


def from_record(record: Any) -> Event:
    """The :class:`Event` for a WIT ``event`` record (any object with its fields)."""
    event = Event(
        record.type,
        record.source,
        id=record.id,
        specversion=record.specversion,
        datacontenttype=record.datacontenttype,
        dataschema=record.dataschema,
        subject=record.subject,
        time=record.time,
        extensions=dict(record.extensions),
    )
    event.data = record.data
    return event


def extension_value(name: str, value: Any) -> str:
    """An extension's canonical string form (CloudEvents: string, integer or boolean)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    raise TypeError(f"extension `{name}` must be a str, int or bool, not {type(value).__name__}")


def to_record(event: Event, record_type: Any) -> Any:
    """``event`` as a WIT ``event`` record built by ``record_type``."""
    data = event.data
    if data is not None and not isinstance(data, bytes):
        data, _ = _bytes_of(data)
    return record_type(
        id=str(event.id or ""),
        source=event.source,
        type=event.type,
        specversion=str(event.specversion or "1.0"),
        datacontenttype=event.datacontenttype,
        dataschema=event.dataschema,
        subject=event.subject,
        time=event.time,
        extensions=[(k, extension_value(k, v)) for k, v in event.extensions.items()],
        data=data,
    )


def _bytes_of(data: Any) -> tuple[bytes | None, str | None]:
    from wasmfn._event import encode_data  # noqa: PLC0415

    return encode_data(data, None)


def outputs(returned: Any) -> list[Event]:
    """The events ``handle`` returned: an Event, a list or tuple of them, or None."""
    if returned is None:
        return []
    if isinstance(returned, Event):
        return [returned]
    if isinstance(returned, (list, tuple)):
        for i, item in enumerate(returned):
            if not isinstance(item, Event):
                raise TypeError(
                    f"handle returned a list whose item {i} is a {type(item).__name__}, "
                    "not a wasmfn.Event"
                )
        return list(returned)
    raise TypeError(
        f"handle returned {type(returned).__name__}; "
        "expected a wasmfn.Event, a list of them, or None"
    )


def error_of(err: BaseException) -> tuple[str, str]:
    """The WIT ``error`` case (``invalid`` or ``failed``) and message for an exception.

    :class:`Invalid` and :class:`Failed` carry their message; anything else is
    an uncaught exception, reported as ``failed`` with its type and message.
    """
    if isinstance(err, Invalid):
        return "invalid", str(err)
    if isinstance(err, Failed):
        return "failed", str(err)
    return "failed", f"uncaught {type(err).__name__}: {err}"
