"""Unit tests of `{{name}}` (pytest functions/{{name}})."""

import pytest

from app import SOURCE, transform
from wasmfn import Event, Invalid


def event(data):
    return Event(type="trade", source="my-exchange", data=data)


def test_wraps_the_data_and_keys_by_id():
    output = transform(event({"id": "T-1", "px": 101.5}), "trade.mapped")
    assert (output.type, output.source) == ("trade.mapped", SOURCE)
    assert output.extensions == {"partitionkey": "T-1"}
    assert output.json() == {"id": "T-1", "from": "my-exchange", "data": {"id": "T-1", "px": 101.5}}


def test_data_without_an_id_is_invalid():
    with pytest.raises(Invalid):
        transform(event({"px": 1}), "t")
