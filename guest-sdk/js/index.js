// Write wasmfn functions in JavaScript. A function is
// `functions/NAME/index.js` exporting `handle(event)`:
//
//   import { Event, Invalid, config, log } from "wasmfn";
//   export function handle(event) {          // -> Event | Event[] | null
//     const order = event.json();            // bad JSON throws Invalid
//     if (!order.sku) throw new Invalid("no sku");
//     return new Event({ type: "order.seen", source: "my/fn", data: { sku: order.sku } });
//   }
//
// Throwing Invalid answers 422 `invalid` (dead-lettered), Failed 500
// `failed` (retried), anything else 500 `failed` naming it. `wasmfn build`
// bundles the function with this package and builds a component with
// componentize-js; the contract is guest-sdk/wit/function.wit.

import { get } from "wasmfn:function/config@0.1.0";
import { log as hostLog } from "wasmfn:function/log@0.1.0";
import { makeConfig, makeLog } from "./event.js";

export { Event, Failed, Invalid } from "./event.js";

/** The function's settings and secrets (`env`, `env_files` in wasmfn.toml). */
export const config = makeConfig(get);

/** Logging through the host, tagged with the function and the event. */
export const log = makeLog(hostLog);
