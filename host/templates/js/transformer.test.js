// Unit tests of `{{name}}`:
//   node --import ./guest-sdk/js/testing.js --test functions/{{name}}/
import assert from "node:assert/strict";
import { test } from "node:test";

import { Event, Invalid } from "wasmfn";

import { SOURCE, transform } from "./index.js";

const event = (data) => new Event({ type: "trade", source: "my-exchange", data });

test("wraps the data and keys by id", () => {
  const output = transform(event({ id: "T-1", px: 101.5 }), "trade.mapped");
  assert.equal(output.type, "trade.mapped");
  assert.equal(output.source, SOURCE);
  assert.equal(output.extensions.partitionkey, "T-1");
  assert.deepEqual(output.json(), { id: "T-1", from: "my-exchange", data: { id: "T-1", px: 101.5 } });
});

test("data without an id is invalid", () => {
  assert.throws(() => transform(event({ px: 1 }), "t"), Invalid);
});
