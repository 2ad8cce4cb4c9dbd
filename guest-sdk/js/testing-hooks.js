// Module resolution hooks for testing.js (they run on Node's loader thread).
const HOST = {
  "wasmfn:function/config@0.1.0":
    "export const get = (key) => globalThis.wasmfnTesting.settings.get(key);",
  "wasmfn:function/log@0.1.0":
    "export const log = (level, message) => globalThis.wasmfnTesting.logs.push([level, message]);",
};

/** Node's `resolve` hook: the SDK by name, the host's imports as stand-ins. */
export async function resolve(specifier, context, next) {
  if (specifier in HOST) {
    const url = `data:text/javascript,${encodeURIComponent(HOST[specifier])}`;
    return { url, shortCircuit: true };
  }
  if (specifier === "wasmfn") {
    return { url: new URL("./index.js", import.meta.url).href, shortCircuit: true };
  }
  if (specifier === "wasmfn/testing") {
    return { url: new URL("./testing.js", import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
