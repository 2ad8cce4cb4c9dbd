"""Outbound HTTP requests (``wasi:http``), to the hosts the function may reach.

    from wasmfn import config, http

    def handle(event):
        reference = http.get(config.require("refdata_url") + "/ref/A-1")
        desk = reference.json()["desk"]             # RequestError is a Failed: retried
        ...

The host sends a request only to a host the function's ``allowed_outbound_hosts``
in ``wasmfn.toml`` lists (none by default)::

    [functions.enricher-py]
    allowed_outbound_hosts = ["https://refdata.example.com", "http://127.0.0.1:8081"]

Anything else raises :class:`RequestError` saying "denied" and naming the URL, as
do requests past ``limits.max_outbound_requests`` (10 per event), response bodies
past ``limits.max_outbound_response_bytes`` (4 MiB per event) and requests still
running at the event's time limit. Redirects come back as they are (a 3xx
:class:`Response`), never followed. The event's trace context goes with every
request. Calls block: an instance runs one event at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from wasmfn import _host
from wasmfn._event import Failed

# What each wasi:http error code the host uses means, for RequestError's message.
_REASONS = {
    "HttpRequestDenied": (
        "denied: its host is not in this function's allowed_outbound_hosts (wasmfn.toml)"
    ),
    "DestinationIpProhibited": "denied: it resolves to a link-local or metadata address",
    "ConnectionLimitReached": (
        "refused: this event made limits.max_outbound_requests requests already"
    ),
    "HttpResponseBodySize": (
        "refused: this event's responses are over limits.max_outbound_response_bytes"
    ),
    "ConnectionTimeout": "timed out (the event's time limit bounds each request)",
    "ConnectionReadTimeout": "timed out (the event's time limit bounds each request)",
    "HttpResponseTimeout": "timed out (the event's time limit bounds each request)",
}
_DENIED = {"HttpRequestDenied", "DestinationIpProhibited"}


class RequestError(Failed):
    """A request that got no response: refused by the host, or failed on the way.

    A :class:`~wasmfn.Failed`, so left uncaught it fails the event (500, retried).
    """

    def __init__(self, url: str, code: str, detail: str = "") -> None:
        self.url = url
        self.code = code
        """The ``wasi:http`` error code, e.g. ``HttpRequestDenied``."""
        if code == "HttpRequestUriInvalid" and detail:
            super().__init__(f"cannot request {url}: {detail}")
        else:
            reason = _REASONS.get(code, f"failed: {detail or code}")
            super().__init__(f"request to {url} {reason}")

    @property
    def denied(self) -> bool:
        """Whether the host refused the request (retrying will not help)."""
        return self.code in _DENIED


@dataclass
class Response:
    """An HTTP response, its body read whole."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), if present."""
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), None)

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        """The body parsed as JSON; :class:`~wasmfn.Failed` if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError as err:
            raise Failed(f"HTTP {self.status} response is not JSON: {err}") from None


@dataclass(frozen=True)
class _Target:
    scheme: str
    authority: str
    path_with_query: str


def _split(url: str) -> _Target:
    """The parts of ``http(s)://authority[/path][?query]`` wasi:http takes apart."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise RequestError(url, "HttpRequestUriInvalid", "not an absolute http:// or https:// URL")
    if scheme.lower() not in ("http", "https"):
        raise RequestError(url, "HttpRequestUriInvalid", "only http:// and https:// URLs are sent")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:].partition("#")[0]
    if not authority:
        raise RequestError(url, "HttpRequestUriInvalid", "the URL has no host")
    if "@" in authority:
        raise RequestError(
            url, "HttpRequestUriInvalid", "credentials in the URL are not sent; use a header"
        )
    if not path.startswith("/"):
        path = "/" + path
    return _Target(scheme.lower(), authority, path)


def _send(method: str, url: str, headers: list[tuple[str, bytes]], body: bytes | None) -> Response:
    target = _split(url)
    try:
        status, got, content = _host.http_send(
            method, (target.scheme, target.authority, target.path_with_query), headers, body
        )
    except _host.HttpFailureError as failure:
        raise RequestError(url, failure.code, failure.detail) from None
    return Response(status, [(n, v.decode("latin-1")) for n, v in got], content)


def get(url: str) -> Response:
    """``GET url``."""
    return _send("GET", url, [], None)


def post(url: str, content_type: str, body: bytes | str) -> Response:
    """``POST url`` with ``body`` (``str`` is sent as UTF-8) of media type ``content_type``."""
    data = body.encode() if isinstance(body, str) else bytes(body)
    return _send("POST", url, [("content-type", content_type.encode())], data)
