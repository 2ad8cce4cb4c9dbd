// The pure parts of the JavaScript SDK: Event, its data, and what a handle
// call amounts to (node --test; scripts/test.sh runs it).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Event,
  Failed,
  Invalid,
  errorOf,
  fromRecord,
  makeConfig,
  makeHandle,
  makeLog,
  outputs,
  toRecord,
} from "../event.js";

const bytes = (text) => new TextEncoder().encode(text);

function record(overrides = {}) {
  return {
    id: "e-1",
    source: "tests",
    type: "order",
    specversion: "1.0",
    datacontenttype: "application/json",
    dataschema: undefined,
    subject: undefined,
    time: undefined,
    extensions: [],
    data: bytes('{"sku":"A-1","qty":2}'),
    ...overrides,
  };
}

test("data objects and arrays become compact JSON", () => {
  const event = new Event({ type: "t", source: "s", data: { sku: "A-1", name: "é" } });
  assert.deepEqual(event.data, bytes('{"sku":"A-1","name":"é"}'));
  assert.equal(event.datacontenttype, "application/json");
  assert.deepEqual(new Event({ type: "t", source: "s", data: [1, 2] }).data, bytes("[1,2]"));
});

test("strings and bytes keep their bytes; a given content type wins", () => {
  const text = new Event({ type: "t", source: "s", data: "héllo" });
  assert.deepEqual(text.data, bytes("héllo"));
  assert.equal(text.datacontenttype, "text/plain; charset=utf-8");
  const raw = new Event({ type: "t", source: "s", data: new Uint8Array([0, 1]), datacontenttype: "image/png" });
  assert.deepEqual([...raw.data], [0, 1]);
  assert.equal(raw.datacontenttype, "image/png");
  const empty = new Event({ type: "t", source: "s" });
  assert.equal(empty.data, undefined);
  assert.equal(empty.datacontenttype, undefined);
  assert.throws(() => new Event({ type: "t", source: "s", data: () => 1 }), /not function/);
  assert.throws(() => new Event({ source: "s" }), /needs `type` and `source`/);
});

test("json() parses data; bad JSON or no data is Invalid", () => {
  assert.deepEqual(fromRecord(record()).json(), { sku: "A-1", qty: 2 });
  assert.throws(() => fromRecord(record({ data: bytes("{nope") })).json(), (err) => {
    assert.ok(err instanceof Invalid);
    assert.match(err.message, /event e-1 data is not JSON/);
    return true;
  });
  assert.throws(() => fromRecord(record({ data: undefined })).json(), /event e-1 has no data/);
  assert.throws(() => fromRecord(record({ data: new Uint8Array([0xff]) })).text(), /not UTF-8/);
});

test("record data given as a plain array becomes a Uint8Array", () => {
  const event = fromRecord(record({ data: [123, 125] }));
  assert.ok(event.data instanceof Uint8Array);
  assert.deepEqual(event.json(), {});
  assert.deepEqual([...toRecord(event).data], [123, 125]);
});

test("a record becomes an Event with every attribute", () => {
  const event = fromRecord(record({ subject: "sub", extensions: [["traceparent", "x"]] }));
  assert.equal(event.id, "e-1");
  assert.equal(event.type, "order");
  assert.equal(event.subject, "sub");
  assert.deepEqual(event.extensions, { traceparent: "x" });
});

test("an Event becomes a record with extensions as strings", () => {
  const event = new Event({
    type: "order.seen",
    source: "my/fn",
    data: { sku: "A-1" },
    extensions: { partitionkey: "A-1", attempt: 3, replayed: false },
  });
  const out = toRecord(event);
  assert.equal(out.type, "order.seen");
  assert.equal(out.specversion, "1.0");
  assert.deepEqual(out.data, bytes('{"sku":"A-1"}'));
  assert.deepEqual(out.extensions, [["partitionkey", "A-1"], ["attempt", "3"], ["replayed", "false"]]);
  event.extensions = { bad: 1.5 };
  assert.throws(() => toRecord(event), /extension `bad`/);
});

test("handle may return an Event, an array or nothing", () => {
  const one = new Event({ type: "t", source: "s" });
  assert.deepEqual(outputs(one), [one]);
  assert.deepEqual(outputs([one, one]), [one, one]);
  assert.deepEqual(outputs(null), []);
  assert.deepEqual(outputs(undefined), []);
  assert.throws(() => outputs({ type: "t" }), /returned Object/);
  assert.throws(() => outputs([one, "two"]), /item 1/);
});

test("exceptions map to the host's errors", () => {
  assert.deepEqual(errorOf(new Invalid("no sku")), { tag: "invalid", val: "no sku" });
  assert.deepEqual(errorOf(new Failed("db down")), { tag: "failed", val: "db down" });
  assert.deepEqual(errorOf(new TypeError("x is undefined")), {
    tag: "failed",
    val: "uncaught TypeError: x is undefined",
  });
  assert.deepEqual(errorOf("oops"), { tag: "failed", val: "uncaught string: oops" });
});

test("the handle export converts, and throws the WIT error with a payload", () => {
  const logged = [];
  const write = (level, message) => logged.push([level, message]);
  const ok = makeHandle((event) => new Event({ type: "seen", source: "s", data: event.json() }), write);
  assert.deepEqual(ok(record())[0].data, bytes('{"sku":"A-1","qty":2}'));
  const invalid = makeHandle(() => {
    throw new Invalid("no sku");
  }, write);
  assert.throws(() => invalid(record()), (thrown) => {
    assert.deepEqual(thrown.payload, { tag: "invalid", val: "no sku" });
    return true;
  });
  assert.deepEqual(logged, []);
  const crash = makeHandle((event) => event.json().missing.field, write);
  assert.throws(() => crash(record()), (thrown) => {
    assert.equal(thrown.payload.tag, "failed");
    assert.match(thrown.payload.val, /^uncaught TypeError: /);
    return true;
  });
  assert.equal(logged.length, 1);
  assert.equal(logged[0][0], "error");
});

test("an async handle (awaiting fetch) settles to the records or the WIT error", async () => {
  const write = () => {};
  const ok = makeHandle(async (event) => new Event({ type: "seen", source: "s", data: event.json() }), write);
  assert.deepEqual((await ok(record()))[0].data, bytes('{"sku":"A-1","qty":2}'));
  const failed = makeHandle(async () => {
    throw new Failed("upstream down");
  }, write);
  await assert.rejects(failed(record()), (thrown) => {
    assert.deepEqual(thrown.payload, { tag: "failed", val: "upstream down" });
    return true;
  });
});

test("config and log go through the host", () => {
  const settings = new Map([["desk", "fx"]]);
  const config = makeConfig((key) => settings.get(key));
  assert.equal(config.get("desk"), "fx");
  assert.equal(config.get("nope"), null);
  assert.equal(config.require("desk"), "fx");
  assert.throws(() => config.require("nope"), (err) => err instanceof Failed && /`nope`/.test(err.message));
  const records = [];
  const log = makeLog((level, message) => records.push([level, message]));
  log.debug("a");
  log.info("b");
  log.warn("c");
  log.error(42);
  assert.deepEqual(records, [["debug", "a"], ["info", "b"], ["warn", "c"], ["error", "42"]]);
});
