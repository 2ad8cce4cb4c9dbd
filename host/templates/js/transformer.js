// `{{name}}`: a transformer. It turns each event's JSON object into a new
// event of type `output_type` (a setting in wasmfn.toml; default
// `{{name}}.transformed`) that carries the object under `data` and the
// input's source under `from`, keyed by the object's `id` (`partitionkey`:
// a KafkaSink keys records by it).
import { Event, Invalid, config } from "wasmfn";

const DEFAULT_OUTPUT_TYPE = "{{name}}.transformed";
export const SOURCE = "wasmfn/{{name}}";

export function handle(event) {
  return transform(event, config.get("output_type") ?? DEFAULT_OUTPUT_TYPE);
}

/** The output event for `event`. */
export function transform(event, outputType) {
  const payload = event.json();
  const id = payload?.id;
  if (typeof id !== "string" && typeof id !== "number") {
    throw new Invalid(`event ${event.id} data needs an \`id\` string or number`);
  }
  const key = String(id);
  return new Event({
    type: outputType,
    source: SOURCE,
    data: { id: key, from: event.source, data: payload },
    extensions: { partitionkey: key },
  });
}
