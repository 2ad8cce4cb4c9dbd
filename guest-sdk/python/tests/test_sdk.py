"""The pure parts of the Python SDK: Event, its data, and what a handle call amounts to."""

from dataclasses import dataclass, field

import pytest

from wasmfn import Event, Failed, Invalid, _host, config, http, log
from wasmfn._outcome import error_of, from_record, outputs, to_record


@dataclass
class Record:
    """A stand-in for the WIT ``event`` record componentize-py generates."""

    id: str = "e-1"
    source: str = "tests"
    type: str = "trade"
    specversion: str = "1.0"
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    subject: str | None = None
    time: str | None = None
    extensions: list = field(default_factory=list)
    data: bytes | None = b'{"id":"T-1","px":101.5}'


def test_data_dict_and_list_become_compact_json():
    event = Event(type="t", source="s", data={"id": "T-1", "px": 101.5, "name": "é"})
    assert event.data == '{"id":"T-1","px":101.5,"name":"é"}'.encode()
    assert event.datacontenttype == "application/json"
    assert Event(type="t", source="s", data=[1, 2]).data == b"[1,2]"


def test_data_str_and_bytes_keep_their_bytes_and_a_given_content_type_wins():
    text = Event(type="t", source="s", data="héllo")
    assert (text.data, text.datacontenttype) == ("héllo".encode(), "text/plain; charset=utf-8")
    raw = Event(type="t", source="s", data=b"\x00\x01", datacontenttype="image/png")
    assert (raw.data, raw.datacontenttype) == (b"\x00\x01", "image/png")
    assert Event(type="t", source="s", data=bytearray(b"x")).datacontenttype == (
        "application/octet-stream"
    )
    empty = Event(type="t", source="s")
    assert (empty.data, empty.datacontenttype) == (None, None)


def test_data_of_another_type_is_refused_naming_it():
    with pytest.raises(TypeError, match="not set"):
        Event(type="t", source="s", data={1, 2})


def test_json_parses_data_and_bad_json_is_invalid():
    event = from_record(Record())
    assert event.json() == {"id": "T-1", "px": 101.5}
    with pytest.raises(Invalid, match="event e-1 data is not JSON"):
        from_record(Record(data=b"{nope")).json()
    with pytest.raises(Invalid, match="event e-1 has no data"):
        from_record(Record(data=None)).json()
    with pytest.raises(Invalid, match="not UTF-8"):
        from_record(Record(data=b"\xff")).text()


def test_a_record_becomes_an_event_with_every_attribute():
    record = Record(subject="sub", time="2024-05-01T12:00:00Z", extensions=[("traceparent", "x")])
    event = from_record(record)
    assert (event.id, event.source, event.type, event.specversion) == (
        "e-1",
        "tests",
        "trade",
        "1.0",
    )
    assert (event.subject, event.time, event.dataschema) == ("sub", "2024-05-01T12:00:00Z", None)
    assert event.extensions == {"traceparent": "x"}
    assert event.data == record.data


def test_an_event_becomes_a_record_with_extensions_as_strings():
    event = Event(
        type="trade.booked",
        source="my/fn",
        data={"id": 1},
        extensions={"partitionkey": "T-1", "attempt": 3, "replayed": False},
    )
    record = to_record(event, Record)
    assert record.type == "trade.booked"
    assert record.data == b'{"id":1}'
    assert record.extensions == [("partitionkey", "T-1"), ("attempt", "3"), ("replayed", "false")]
    event.extensions = {"bad": 1.5}
    with pytest.raises(TypeError, match="extension `bad`"):
        to_record(event, Record)


def test_handle_may_return_an_event_a_list_or_none():
    one = Event(type="t", source="s")
    assert outputs(one) == [one]
    assert outputs([one, one]) == [one, one]
    assert outputs(None) == []
    with pytest.raises(TypeError, match="returned dict"):
        outputs({"type": "t"})
    with pytest.raises(TypeError, match="item 1 is a str"):
        outputs([one, "two"])


def test_exceptions_map_to_the_hosts_errors():
    assert error_of(Invalid("no id")) == ("invalid", "no id")
    assert error_of(Failed("db down")) == ("failed", "db down")
    assert error_of(KeyError("id")) == ("failed", "uncaught KeyError: 'id'")
    assert error_of(ZeroDivisionError("division by zero")) == (
        "failed",
        "uncaught ZeroDivisionError: division by zero",
    )


def test_config_and_log_go_through_the_host(monkeypatch):
    settings = {"desk": "fx"}
    records = []
    monkeypatch.setattr(_host, "get_setting", settings.get)
    monkeypatch.setattr(_host, "write_log", lambda level, message: records.append((level, message)))
    assert config.get("desk") == "fx"
    assert config.get("nope") is None
    assert config.require("desk") == "fx"
    with pytest.raises(Failed, match="setting `nope` is not configured"):
        config.require("nope")
    log.debug("a")
    log.info("b")
    log.warn("c")
    log.error(42)
    assert records == [("debug", "a"), ("info", "b"), ("warn", "c"), ("error", "42")]


def test_http_splits_urls_and_sends_through_the_host(monkeypatch):
    sent = []

    def fake_send(method, target, headers, body):
        sent.append((method, target, headers, body))
        return 200, [("content-type", b"application/json")], b'{"desk":"metals"}'

    monkeypatch.setattr(_host, "http_send", fake_send)
    response = http.get("https://refdata.example.com/v1/ref?sku=A-1#frag")
    assert response.status == 200
    assert response.json() == {"desk": "metals"}
    assert response.header("Content-Type") == "application/json"
    http.post("http://127.0.0.1:8081", "text/plain", "hé")
    assert sent == [
        ("GET", ("https", "refdata.example.com", "/v1/ref?sku=A-1"), [], None),
        ("POST", ("http", "127.0.0.1:8081", "/"), [("content-type", b"text/plain")], b"h\xc3\xa9"),
    ]


def test_http_errors_say_what_happened_and_name_the_url(monkeypatch):
    def refuse(method, target, headers, body):
        raise _host.HttpFailureError("HttpRequestDenied")

    monkeypatch.setattr(_host, "http_send", refuse)
    with pytest.raises(http.RequestError) as caught:
        http.get("http://evil.example/x")
    assert caught.value.denied
    assert "denied" in str(caught.value)
    assert "http://evil.example/x" in str(caught.value)
    assert error_of(caught.value) == ("failed", str(caught.value)), "a Failed: retried"
    for bad in ("ftp://x/", "x/y", "http:///y", "http://u:p@h/"):
        with pytest.raises(http.RequestError, match=r"^cannot request "):
            http.get(bad)
