// Runs JavaScript functions under `node --test` without a host:
//
//   node --import ./guest-sdk/js/testing.js --test functions/NAME/
//
// resolves `wasmfn` (and `wasmfn/testing`) to this SDK and the host's
// imports (`wasmfn:function/config`, `log`) to stand-ins: settings come from
// `settings`, log records go to `logs`.
import { register } from "node:module";

register("./testing-hooks.js", import.meta.url);

/** The settings `config.get` sees: set them in a test. */
export const settings = globalThis.wasmfnTesting?.settings ?? new Map();
/** The records `log` wrote: `[level, message]`. */
export const logs = globalThis.wasmfnTesting?.logs ?? [];
globalThis.wasmfnTesting = { settings, logs };
