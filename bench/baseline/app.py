"""Baseline 1: the stack wasmfn replaces -- one Flask service per function under gunicorn.

The same transformation as functions/transformer: parse the incoming CloudEvent
(official `cloudevents` SDK), map fields of its JSON data with JSON Pointers,
build the output CloudEvent with the SDK (partitionkey extension), then either
reply in binary mode (200) or POST it to the sink with `requests` (202).

POST /transformer-py replies too, but maps with wasmfn's own transformer-py
(functions/transformer-py/app.py, its `handle` run natively with the wasmfn
SDK from guest-sdk/python, the settings from this process): the same mapping
code wasmfn runs as a component, so bench/languages.sh compares the runtimes
and not two implementations.

env: MAPPING (JSON object target -> JSON Pointer), PARTITION_KEY, SINK_URL
routes: POST /transformer (reply), POST /transformer-sink (sink), POST /transformer-py (reply)
"""

import importlib.util
import json
import os
import sys
import threading

import requests
from cloudevents.v1.conversion import to_binary
from cloudevents.v1.http import CloudEvent, from_http
from flask import Flask, Response, request

MAPPING = json.loads(os.environ["MAPPING"])
PARTITION_KEY = os.environ.get("PARTITION_KEY")
SINK_URL = os.environ.get("SINK_URL")
OUTPUT_TYPE = "trade.transformed"
SOURCE = "baseline/transformer"

app = Flask(__name__)
_local = threading.local()

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "guest-sdk", "python"))
from wasmfn import Event, Failed, Invalid, _host  # noqa: E402

# Outside a component the SDK has no host to ask for settings: these are them.
_SETTINGS = {"mapping": os.environ["MAPPING"], "partition_key": PARTITION_KEY}
_host.get_setting = _SETTINGS.get


def _load_transformer_py():
    """functions/transformer-py/app.py as a module (its name, `app`, is this one's)."""
    path = os.path.join(ROOT, "functions", "transformer-py", "app.py")
    spec = importlib.util.spec_from_file_location("transformer_py", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRANSFORMER_PY = _load_transformer_py()


def session():
    # One keep-alive connection pool per gunicorn thread, as a service would keep it.
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def resolve(doc, pointer):
    """RFC 6901 JSON Pointer lookup; KeyError/IndexError when it does not resolve."""
    if pointer == "":
        return doc
    for escaped in pointer.split("/")[1:]:
        token = escaped.replace("~1", "/").replace("~0", "~")
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


def transform():
    event = from_http(dict(request.headers), request.get_data())
    data = event.data
    if isinstance(data, (bytes, str)):
        data = json.loads(data)
    mapped = {}
    for target, pointer in MAPPING.items():
        try:
            mapped[target] = resolve(data, pointer)
        except (KeyError, IndexError, TypeError, ValueError):
            return None, Response(
                json.dumps(
                    {
                        "success": False,
                        "error": {
                            "type": "invalid",
                            "message": f"JSON Pointer `{pointer}` does not resolve",
                        },
                    }
                ),
                status=422,
                content_type="application/json",
            )
    attributes = {"type": OUTPUT_TYPE, "source": SOURCE, "datacontenttype": "application/json"}
    if PARTITION_KEY:
        attributes["partitionkey"] = str(mapped[PARTITION_KEY])
    return CloudEvent(attributes, mapped), None


@app.post("/transformer")
def reply():
    out, err = transform()
    if err:
        return err
    headers, body = to_binary(out)
    return Response(body, status=200, headers=headers)


@app.post("/transformer-sink")
def sink():
    out, err = transform()
    if err:
        return err
    headers, body = to_binary(out)
    resp = session().post(SINK_URL, data=body, headers=headers, timeout=5)
    if resp.status_code >= 300:
        return Response(status=503)
    return Response(status=202)


@app.post("/transformer-py")
def reply_transformer_py():
    event = from_http(dict(request.headers), request.get_data())
    # The body as the component gets it: bytes, parsed by the function itself.
    incoming = Event(
        event["type"],
        event["source"],
        request.get_data(),
        datacontenttype=event.get("datacontenttype"),
        id=event["id"],
    )
    try:
        out = TRANSFORMER_PY.handle(incoming)
    except (Invalid, Failed) as err:
        kind, status = ("invalid", 422) if isinstance(err, Invalid) else ("failed", 500)
        return Response(
            json.dumps({"success": False, "error": {"type": kind, "message": str(err)}}),
            status=status,
            content_type="application/json",
        )
    attributes = {"type": out.type, "source": out.source, "datacontenttype": out.datacontenttype}
    attributes.update(out.extensions)
    headers, body = to_binary(CloudEvent(attributes, out.data))
    return Response(body, status=200, headers=headers)


@app.get("/healthz")
def healthz():
    return "ok"
