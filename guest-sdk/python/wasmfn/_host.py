"""The host's imports (``wasmfn:function/config`` and ``log``, ``wasi:http``).

``wit_world`` exists only inside the component (componentize-py generates it
at build time), and is imported here at module level so the build's
snapshot holds it. Outside a component (unit tests) these functions are
replaced.
"""

from __future__ import annotations

try:
    from componentize_py_types import Err
    from wit_world.imports import config as _config
    from wit_world.imports import log as _log
    from wit_world.imports import outgoing_handler as _outgoing
    from wit_world.imports import streams as _streams
    from wit_world.imports import wasi_http_types as _http
except ImportError:  # outside a component
    _config = _log = _outgoing = _streams = _http = None
    Err = Exception

# Bytes per body write (``blocking-write-and-flush`` takes at most 4096) and read.
_WRITE_CHUNK = 4096
_READ_CHUNK = 65536


class HttpFailureError(Exception):
    """A ``wasi:http`` request that got no response: its error code's name and detail."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def _failure(err: BaseException) -> HttpFailureError:
    """The ``wasi:http`` error code behind an ``Err`` from the host."""
    value = getattr(err, "value", None)
    name = type(value).__name__
    if name.startswith("ErrorCode_"):
        return HttpFailureError(name.removeprefix("ErrorCode_"))
    if name == "StreamError_LastOperationFailed":
        code = _http.http_error_code(value.value)
        if code is not None:
            return HttpFailureError(type(code).__name__.removeprefix("ErrorCode_"))
        # wasmtime 48 hands a response body's error over as text only.
        text = value.value.to_debug_string()
        if "body size exceeds limit" in text:
            return HttpFailureError("HttpResponseBodySize")
        if "timeout" in text:
            return HttpFailureError("HttpResponseTimeout")
        return HttpFailureError("InternalError", text)
    return HttpFailureError("InternalError", repr(value))


def http_send(
    method: str,
    target: tuple[str, str, str],
    headers: list[tuple[str, bytes]],
    body: bytes | None,
) -> tuple[int, list[tuple[str, bytes]], bytes]:
    """Sends one request through ``wasi:http/outgoing-handler``; its status, headers, body.

    ``target`` is the URL's scheme, authority and path with query.
    """
    if _outgoing is None:
        raise RuntimeError("wasmfn.http is only available inside a component")
    try:
        request = _http.OutgoingRequest(_http.Fields.from_list(headers))
        request.set_method(_http.Method_Get() if method == "GET" else _http.Method_Post())
        scheme, authority, path_with_query = target
        request.set_scheme(_http.Scheme_Https() if scheme == "https" else _http.Scheme_Http())
        request.set_authority(authority)
        request.set_path_with_query(path_with_query)
        outgoing = request.body()
        # Sent first, then the body is written: the host streams it out.
        future = _outgoing.handle(request, None)
        with outgoing.write() as stream:
            for start in range(0, len(body or b""), _WRITE_CHUNK):
                stream.blocking_write_and_flush(body[start : start + _WRITE_CHUNK])
        _http.OutgoingBody.finish(outgoing, None)
        with future.subscribe() as pollable:
            pollable.block()
        ready = future.get()  # option<result<result<incoming-response, error-code>>>
        if ready is None or isinstance(ready, Err):
            raise HttpFailureError("InternalError", "the response was lost")
        if isinstance(ready.value, Err):
            raise _failure(ready.value)
        response = ready.value.value
        status = response.status()
        with response.headers() as fields:
            got = fields.entries()
        incoming = response.consume()
        content = bytearray()
        with incoming.stream() as stream:
            while True:
                try:
                    content += stream.blocking_read(_READ_CHUNK)
                except Err as err:
                    if type(err.value).__name__ == "StreamError_Closed":
                        break
                    raise
        _http.IncomingBody.finish(incoming)
        return status, got, bytes(content)
    except Err as err:
        raise _failure(err) from None


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
