// The component's entry point: `wasmfn build` bundles it with the function
// (`wasmfn-app`, i.e. functions/NAME/index.js) and this package, then runs
// componentize-js on the bundle. Not imported by functions.

import { handle as appHandle } from "wasmfn-app";
import { log } from "wasmfn:function/log@0.1.0";
import { makeHandle } from "./event.js";

/** The `handle` export of the `function` world. */
export const handle = makeHandle(appHandle, log);
