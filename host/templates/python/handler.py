"""`{{name}}`: a handler. It accepts a JSON object and sends it on unchanged,
so the host replies with it or forwards it to the sink."""

from wasmfn import Invalid


def handle(event):
    # Data that is not JSON raises Invalid (422): Knative dead-letters it.
    payload = event.json()
    if not isinstance(payload, dict):
        raise Invalid(f"event {event.id} data must be a JSON object, got {payload!r}")
    return event
