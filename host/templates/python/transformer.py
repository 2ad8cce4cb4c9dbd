"""`{{name}}`: a transformer. It turns each event's JSON object into a new
event of type ``output_type`` (a setting in wasmfn.toml; default
``{{name}}.transformed``) that carries the object under ``data`` and the
input's source under ``from``, keyed by the object's ``id`` (``partitionkey``:
a KafkaSink keys records by it)."""

from wasmfn import Event, Invalid, config

DEFAULT_OUTPUT_TYPE = "{{name}}.transformed"
SOURCE = "wasmfn/{{name}}"


def handle(event):
    return transform(event, config.get("output_type") or DEFAULT_OUTPUT_TYPE)


def transform(event, output_type):
    """The output event for ``event``."""
    payload = event.json()
    key = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(key, bool) or not isinstance(key, (str, int, float)):
        raise Invalid(f"event {event.id} data needs an `id` string or number")
    key = str(key)
    return Event(
        type=output_type,
        source=SOURCE,
        data={"id": key, "from": event.source, "data": payload},
        extensions={"partitionkey": key},
    )
