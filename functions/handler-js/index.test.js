// Unit tests of handler-js (node --test with wasmfn/testing: scripts/test.sh).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Event, Invalid } from "wasmfn";
import { logs, settings } from "wasmfn/testing";

import { handle } from "./index.js";

const order = (data) => new Event({ type: "order", source: "tests", id: "o-1", data });

test("an order is seen, keyed by its SKU, with the desk", () => {
  settings.set("desk", "fx");
  const out = handle(order({ sku: "A-1", qty: 2 }));
  assert.equal(out.type, "order.seen");
  assert.equal(out.extensions.partitionkey, "A-1");
  assert.deepEqual(out.json(), { sku: "A-1", qty: 2, desk: "fx" });
  assert.deepEqual(logs.at(-1), ["info", "order o-1: 2 x A-1"]);
});

test("an order without a sku or with a bad qty is invalid", () => {
  assert.throws(() => handle(order({ qty: 1 })), Invalid);
  assert.throws(() => handle(order({ sku: "A-1", qty: 0 })), /positive integer/);
  assert.throws(() => handle(order([1])), /JSON object/);
});
