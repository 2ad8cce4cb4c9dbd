// handler-js: checks an order and sends on an `order.seen` event, keyed by
// its SKU. Setting `desk` (optional) is copied into the output.
//
// An order without a string `sku` is invalid (422, dead-lettered); a
// quantity that is not a positive integer too.
import { Event, Invalid, config, log } from "wasmfn";

export function handle(event) {
  const order = event.json();
  if (typeof order !== "object" || order === null || Array.isArray(order)) {
    throw new Invalid(`event ${event.id}: an order must be a JSON object`);
  }
  if (typeof order.sku !== "string" || order.sku === "") {
    throw new Invalid(`event ${event.id}: the order has no sku`);
  }
  const qty = order.qty ?? 1;
  if (!Number.isInteger(qty) || qty <= 0) {
    throw new Invalid(`event ${event.id}: qty must be a positive integer, got ${JSON.stringify(qty)}`);
  }
  log.info(`order ${event.id}: ${qty} x ${order.sku}`);
  return new Event({
    type: "order.seen",
    source: "wasmfn/handler-js",
    subject: order.sku,
    data: { sku: order.sku, qty, desk: config.get("desk") },
    extensions: { partitionkey: order.sku },
  });
}
