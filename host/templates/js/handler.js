// `{{name}}`: a handler. It accepts a JSON object and sends it on unchanged,
// so the host replies with it or forwards it to the sink.
import { Invalid } from "wasmfn";

export function handle(event) {
  // Data that is not JSON throws Invalid (422): Knative dead-letters it.
  const payload = event.json();
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new Invalid(`event ${event.id} data must be a JSON object, got ${JSON.stringify(payload)}`);
  }
  return event;
}
