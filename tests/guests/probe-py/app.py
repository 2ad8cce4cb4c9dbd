"""probe-py: a test guest that shows each path of the Python SDK, chosen by the event's type.

``echo`` returns the input with every attribute kept; ``many`` three events,
``none`` nothing; ``text`` and ``bytes`` data of those kinds; ``config`` the
setting named by the data; ``log`` a record at each level; ``invalid``,
``failed``, ``crash`` (ZeroDivisionError) and ``bad-return`` their outcomes;
``fetch`` GETs the ``url`` of its data and returns what it got.
"""

from wasmfn import Event, Failed, Invalid, config, http, log


def handle(event):  # noqa: PLR0911, PLR0912 (one branch per path)
    kind = event.type
    if kind == "echo":
        event.type = "echoed"
        event.extensions["seen"] = "yes"
        return event
    if kind == "many":
        return [Event(type="part", source="probe-py", data={"n": n}) for n in range(3)]
    if kind == "none":
        return None
    if kind == "text":
        return Event(type="text", source="probe-py", data="héllo")
    if kind == "bytes":
        return Event(type="bytes", source="probe-py", data=b"\x00\xff", subject="raw")
    if kind == "config":
        name = event.json()["key"]
        return Event(type="config", source="probe-py", data={name: config.get(name)})
    if kind == "require":
        return Event(type="config", source="probe-py", data=config.require("missing"))
    if kind == "log":
        for write in (log.debug, log.info, log.warn, log.error):
            write(f"probe-py {write.__name__} {event.id}")
        return None
    if kind == "invalid":
        raise Invalid(f"probe-py refuses {event.id}")
    if kind == "failed":
        raise Failed(f"probe-py failed on {event.id}")
    if kind == "json":
        return Event(type="json", source="probe-py", data=event.json())
    if kind == "crash":
        return 1 // 0
    if kind == "bad-return":
        return 42
    if kind == "fetch":
        return fetch(event.json()["url"])
    raise Invalid(f"unknown probe {kind}")


def fetch(url):
    """One GET through ``wasmfn.http``: its status and body, or the error."""
    try:
        response = http.get(url)
    except http.RequestError as err:
        return Event(
            type="fetched", source="probe-py", data={"error": str(err), "denied": err.denied}
        )
    return Event(
        type="fetched",
        source="probe-py",
        data={"status": response.status, "body": response.text()},
    )
