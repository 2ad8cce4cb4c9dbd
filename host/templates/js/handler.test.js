// Unit tests of `{{name}}`:
//   node --import ./guest-sdk/js/testing.js --test functions/{{name}}/
import assert from "node:assert/strict";
import { test } from "node:test";

import { Event, Invalid } from "wasmfn";

import { handle } from "./index.js";

const event = (data) => new Event({ type: "greeting", source: "tests", data });

test("passes objects through unchanged", () => {
  const incoming = event({ hello: "world" });
  assert.equal(handle(incoming), incoming);
});

test("refuses other JSON as invalid", () => {
  assert.throws(() => handle(event([1, 2])), Invalid);
});
