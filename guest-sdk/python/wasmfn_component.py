"""The component's entry point (``componentize-py ... componentize wasmfn_component``).

``wasmfn build`` puts the function's directory on the path: its ``app.py`` is
imported once, when componentize-py snapshots the interpreter, so each event
only calls ``app.handle``. Not imported by functions.
"""

import sys
import traceback

import wit_world
from componentize_py_types import Err

# The world imports two `types` interfaces (wasmfn's and wasi:http's), so
# componentize-py names each after its package.
from wit_world.imports import wasmfn_function_types as types

import app  # the function: functions/NAME/app.py
from wasmfn import Failed, Invalid, _host
from wasmfn._outcome import error_of, from_record, outputs, to_record

_ERRORS = {"invalid": types.Error_Invalid, "failed": types.Error_Failed}


class WitWorld(wit_world.WitWorld):
    """Exports ``handle`` for ``functions/NAME/app.py``."""

    def handle(self, event: types.Event) -> list[types.Event]:
        """Runs ``app.handle`` on one event; raises ``Err`` with the host's error."""
        try:
            returned = app.handle(from_record(event))
            return [to_record(e, types.Event) for e in outputs(returned)]
        except BaseException as err:  # noqa: BLE001 (every exception is an outcome)
            case, message = error_of(err)
            if not isinstance(err, (Invalid, Failed)):
                _host.write_log("error", "".join(traceback.format_exception(err)).rstrip())
            raise Err(_ERRORS[case](message)) from None


sys.dont_write_bytecode = True
