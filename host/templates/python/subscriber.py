"""`{{name}}`: a subscriber. It logs the JSON payload of each event it
receives and sends nothing on (the host answers 202)."""

import json

from wasmfn import log


def handle(event):
    # Data that is not JSON raises Invalid (422): Knative dead-letters it.
    log.info(describe(event, event.json()))


def describe(event, payload):
    """The log line for ``event``, whose data is ``payload``."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"received {event.type} from {event.source}: {text}"
