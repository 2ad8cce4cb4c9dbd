// probe-js: a test guest that shows each path of the JavaScript SDK, chosen
// by the event's type (the same probes as probe-py).
import { Event, Failed, Invalid, config, log } from "wasmfn";

const probes = {
  echo(event) {
    event.type = "echoed";
    event.extensions.seen = "yes";
    return event;
  },
  many: () => [0, 1, 2].map((n) => new Event({ type: "part", source: "probe-js", data: { n } })),
  none: () => null,
  text: () => new Event({ type: "text", source: "probe-js", data: "héllo" }),
  bytes: () =>
    new Event({ type: "bytes", source: "probe-js", data: new Uint8Array([0, 255]), subject: "raw" }),
  config(event) {
    const name = event.json().key;
    return new Event({ type: "config", source: "probe-js", data: { [name]: config.get(name) } });
  },
  require: () => new Event({ type: "config", source: "probe-js", data: config.require("missing") }),
  log(event) {
    for (const level of ["debug", "info", "warn", "error"]) {
      log[level](`probe-js ${level} ${event.id}`);
    }
    return null;
  },
  invalid(event) {
    throw new Invalid(`probe-js refuses ${event.id}`);
  },
  failed(event) {
    throw new Failed(`probe-js failed on ${event.id}`);
  },
  json: (event) => new Event({ type: "json", source: "probe-js", data: event.json() }),
  crash: (event) => event.json().no.such.field,
  "bad-return": () => 42,
  // The standard fetch (componentize-js over wasi:http): its status and
  // body, or the error.
  async fetch(event) {
    try {
      const response = await fetch(event.json().url);
      const data = { status: response.status, body: await response.text() };
      return new Event({ type: "fetched", source: "probe-js", data });
    } catch (err) {
      return new Event({ type: "fetched", source: "probe-js", data: { error: String(err) } });
    }
  },
};

export function handle(event) {
  const probe = probes[event.type];
  if (!probe) {
    throw new Invalid(`unknown probe ${event.type}`);
  }
  return probe(event);
}
