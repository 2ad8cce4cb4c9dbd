"""Write wasmfn functions in Python.

A function is ``functions/NAME/app.py`` defining ``handle(event)``::

    from wasmfn import Event, Invalid, config, log

    def handle(event):
        trade = event.json()                       # bad JSON raises Invalid
        if "id" not in trade:
            raise Invalid("no id")                 # 422 invalid: dead-lettered
        log.info(f"trade {trade['id']} for {config.require('desk')}")
        return Event(type="trade.booked", source="my/fn", data={"id": trade["id"]})

``handle`` returns an :class:`Event`, a list of them, or ``None``. Raising
:class:`Invalid` answers 422 ``invalid`` (the event can never succeed),
:class:`Failed` 500 ``failed`` (Knative retries), and any other exception 500
``failed`` naming its type and message. :mod:`wasmfn.http` sends HTTP requests
to the hosts ``allowed_outbound_hosts`` lists. ``wasmfn build`` turns the function
into a component with componentize-py; the contract is
``guest-sdk/wit/function.wit``.
"""

from wasmfn import config, http, log
from wasmfn._event import Event, Failed, Invalid

__all__ = ["Event", "Failed", "Invalid", "config", "http", "log"]
