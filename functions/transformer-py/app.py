"""transformer-py: the Rust ``transformer`` in Python, with the same settings.

Maps a trade from an exchange's shape into ours. Settings: ``mapping``, a
JSON object ``{"<target field>": "<JSON Pointer into the input data>"}``;
``output_type`` (default ``trade.transformed``); ``partition_key``, a target
field whose value becomes the ``partitionkey`` extension (KafkaSink keys
records by it).
"""

import json

from wasmfn import Event, Failed, Invalid, config

DEFAULT_OUTPUT_TYPE = "trade.transformed"
SOURCE = "wasmfn/transformer-py"
_MISSING = object()


def handle(event):
    """One trade in, one mapped trade out."""
    mapping = parse_mapping(config.require("mapping"))
    output_type = config.get("output_type") or DEFAULT_OUTPUT_TYPE
    partition_key = config.get("partition_key")
    return transform(event.json(), mapping, output_type, partition_key)


def parse_mapping(text):
    """The ``mapping`` setting; a bad one is an operator mistake, so it fails (retried)."""
    try:
        mapping = json.loads(text)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict):
        raise Failed(
            f"setting `mapping` must be a JSON object of target field -> JSON Pointer, got {text}"
        )
    return mapping


def transform(data, mapping, output_type, partition_key=None):
    """The output event for input ``data`` per ``mapping``."""
    mapped = {}
    for target, pointer in mapping.items():
        if not isinstance(pointer, str):
            raise Failed(f"setting `mapping`: field `{target}` must map to a JSON Pointer string")
        value = resolve(data, pointer)
        if value is _MISSING:
            raise Invalid(
                f"JSON Pointer `{pointer}` (for field `{target}`) "
                "does not resolve in the input data"
            )
        mapped[target] = value
    extensions = {}
    if partition_key is not None:
        if partition_key not in mapped:
            raise Failed(
                f"setting `partition_key` names `{partition_key}`, "
                "which is not a field of `mapping`"
            )
        key = mapped[partition_key]
        extensions["partitionkey"] = key if isinstance(key, str) else compact_json(key)
    return Event(type=output_type, source=SOURCE, data=mapped, extensions=extensions)


def resolve(document, pointer):
    """The value at JSON Pointer ``pointer`` (RFC 6901) in ``document``, or ``_MISSING``."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        return _MISSING
    for escaped in pointer[1:].split("/"):
        document = step(document, escaped.replace("~1", "/").replace("~0", "~"))
        if document is _MISSING:
            break
    return document


def step(document, token):
    """``document[token]`` for an object key or an array index, or ``_MISSING``."""
    if isinstance(document, dict):
        return document.get(token, _MISSING)
    if isinstance(document, list):
        # An index is digits without a leading zero, as RFC 6901 says.
        if token.isdigit() and (token == "0" or token[0] != "0") and int(token) < len(document):
            return document[int(token)]
    return _MISSING


def compact_json(value):
    """``value`` as compact JSON, keys sorted (as the Rust transformer writes it)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
