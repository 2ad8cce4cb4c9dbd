"""The event a function receives and returns, and the two errors it raises.

Pure Python: no host import, so it is unit-tested natively.
"""

from __future__ import annotations

import json
from typing import Any

#: ``datacontenttype`` set for ``data`` given as a dict, list or JSON scalar.
JSON_CONTENT_TYPE = "application/json"
#: ``datacontenttype`` set for ``data`` given as ``str``.
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
#: ``datacontenttype`` set for ``data`` given as bytes.
BINARY_CONTENT_TYPE = "application/octet-stream"


class Invalid(Exception):  # noqa: N818 (the name is the outcome the host reports)
    """The event can never succeed (a bad payload): 422 ``invalid``, dead-lettered."""


class Failed(Exception):  # noqa: N818
    """Something transient went wrong: 500 ``failed``, and Knative retries."""


def encode_data(data: Any, datacontenttype: str | None) -> tuple[bytes | None, str | None]:
    """``data`` as bytes and its content type (the given one wins).

    dict, list and JSON scalars become compact JSON, ``str`` UTF-8 text,
    bytes-like objects themselves; ``None`` is no data.
    """
    if data is None:
        return None, datacontenttype
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), datacontenttype or BINARY_CONTENT_TYPE
    if isinstance(data, str):
        return data.encode(), datacontenttype or TEXT_CONTENT_TYPE
    if isinstance(data, (dict, list, int, float, bool)):
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode(), datacontenttype or JSON_CONTENT_TYPE
    raise TypeError(
        f"Event data must be a dict, list, str, bytes or a JSON scalar, not {type(data).__name__}"
    )


class Event:
    """A CloudEvents 1.0 event.

    On output the host sets ``id`` (derived from the input's ``source`` and
    ``id`` and the output's position) and ``specversion``; values put there
    are ignored. ``data`` is bytes (or ``None``); the constructor also takes
    a dict or list (sent as JSON), a ``str`` or bytes, and sets
    ``datacontenttype`` to match unless it is given.
    """

    __slots__ = (
        "data",
        "datacontenttype",
        "dataschema",
        "extensions",
        "id",
        "source",
        "specversion",
        "subject",
        "time",
        "type",
    )

    def __init__(  # noqa: PLR0913 (one keyword per CloudEvents attribute)
        self,
        type: str,  # noqa: A002 (the CloudEvents attribute's name)
        source: str,
        data: Any = None,
        *,
        datacontenttype: str | None = None,
        dataschema: str | None = None,
        subject: str | None = None,
        time: str | None = None,
        extensions: dict[str, str] | None = None,
        id: str = "",  # noqa: A002
        specversion: str = "1.0",
    ) -> None:
        self.type = type
        self.source = source
        self.data, self.datacontenttype = encode_data(data, datacontenttype)
        self.dataschema = dataschema
        self.subject = subject
        self.time = time
        self.extensions = dict(extensions or {})
        self.id = id
        self.specversion = specversion

    def json(self) -> Any:
        """``data`` parsed as JSON.

        Raises :class:`Invalid` when there is no data or it is not JSON.
        """
        if self.data is None:
            raise Invalid(f"event {self.id} has no data; expected a JSON payload")
        try:
            return json.loads(self.data)
        except ValueError as err:
            raise Invalid(f"event {self.id} data is not JSON: {err}") from None

    def text(self) -> str:
        """``data`` decoded as UTF-8 (empty without data); :class:`Invalid` if it is not UTF-8."""
        try:
            return (self.data or b"").decode()
        except UnicodeDecodeError as err:
            raise Invalid(f"event {self.id} data is not UTF-8 text: {err}") from None

    def __repr__(self) -> str:
        size = "no data" if self.data is None else f"{len(self.data)} bytes"
        return f"Event(type={self.type!r}, source={self.source!r}, id={self.id!r}, {size})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    __hash__ = None  # type: ignore[assignment] (mutable)
