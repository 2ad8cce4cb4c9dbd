// `{{name}}`: a subscriber. It logs the JSON payload of each event it
// receives and sends nothing on (the host answers 202).
import { log } from "wasmfn";

export function handle(event) {
  // Data that is not JSON throws Invalid (422): Knative dead-letters it.
  log.info(describe(event, event.json()));
  return null;
}

/** The log line for `event`, whose data is `payload`. */
export function describe(event, payload) {
  return `received ${event.type} from ${event.source}: ${JSON.stringify(payload)}`;
}
