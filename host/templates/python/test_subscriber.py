"""Unit tests of `{{name}}` (pytest functions/{{name}})."""

import pytest

from app import describe, handle
from wasmfn import Event, Invalid


def test_describes_type_source_and_payload():
    event = Event(type="greeting", source="tests")
    line = describe(event, {"hello": "world"})
    assert line == 'received greeting from tests: {"hello":"world"}'


def test_refuses_data_that_is_not_json_as_invalid():
    with pytest.raises(Invalid):
        handle(Event(type="greeting", source="tests", data="hello"))
