"""Unit tests of `{{name}}` (pytest functions/{{name}})."""

import pytest

from app import handle
from wasmfn import Event, Invalid


def event(data):
    return Event(type="greeting", source="tests", data=data)


def test_passes_objects_through_unchanged():
    incoming = event({"hello": "world"})
    assert handle(incoming) is incoming


def test_refuses_other_json_as_invalid():
    with pytest.raises(Invalid):
        handle(event([1, 2]))
