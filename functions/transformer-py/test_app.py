"""Unit tests of transformer-py's mapping (pytest; scripts/test.sh runs them)."""

import pytest

import app
from wasmfn import Failed, Invalid

MAPPING = app.parse_mapping('{"trade_id":"/id","price":"/px","venue":"/meta/venue"}')


def test_maps_fields_and_sets_the_partition_key():
    trade = {"id": "T-1", "px": 101.5, "meta": {"venue": "LME"}}
    out = app.transform(trade, MAPPING, "trade.transformed", "trade_id")
    assert (out.type, out.source) == ("trade.transformed", "wasmfn/transformer-py")
    assert out.extensions == {"partitionkey": "T-1"}
    assert out.json() == {"trade_id": "T-1", "price": 101.5, "venue": "LME"}


def test_a_partition_key_that_is_not_a_string_is_its_compact_json():
    out = app.transform({"id": 7, "px": 1, "meta": {"venue": "X"}}, MAPPING, "t", "trade_id")
    assert out.extensions == {"partitionkey": "7"}


def test_json_pointers_follow_rfc_6901():
    doc = {"a/b": {"m~n": [10, 20]}, "": 1}
    assert app.resolve(doc, "/a~1b/m~0n/1") == 20
    assert app.resolve(doc, "") is doc
    assert app.resolve(doc, "/") == 1
    for missing in ["/a~1b/m~0n/2", "/a~1b/m~0n/01", "/a~1b/m~0n/-", "nope", "/x"]:
        assert app.resolve(doc, missing) is app._MISSING, missing


def test_an_unresolved_pointer_is_invalid_and_named():
    with pytest.raises(Invalid, match="`/px`"):
        app.transform({"id": "T-1"}, MAPPING, "t")


def test_bad_settings_fail():
    with pytest.raises(Failed, match="must be a JSON object"):
        app.parse_mapping("[]")
    with pytest.raises(Failed, match="not a field of `mapping`"):
        app.transform({"id": "T-1", "px": 1, "meta": {"venue": "X"}}, MAPPING, "t", "desk")
