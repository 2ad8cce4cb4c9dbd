// Unit tests of `{{name}}`:
//   node --import ./guest-sdk/js/testing.js --test functions/{{name}}/
import assert from "node:assert/strict";
import { test } from "node:test";

import { Event, Invalid } from "wasmfn";

import { describe, handle } from "./index.js";

test("describes type, source and payload", () => {
  const event = new Event({ type: "greeting", source: "tests" });
  assert.equal(describe(event, { hello: "world" }), 'received greeting from tests: {"hello":"world"}');
});

test("refuses data that is not JSON as invalid", () => {
  const event = new Event({ type: "greeting", source: "tests", data: "hello" });
  assert.throws(() => handle(event), Invalid);
});
