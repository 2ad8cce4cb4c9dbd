// The event a function receives and returns, the two errors it throws, and
// the outcome of one `handle` call. Pure JavaScript (no host import), so
// `node --test` runs it natively.

/** `datacontenttype` set for data given as an object, array, number or boolean. */
export const JSON_CONTENT_TYPE = "application/json";
/** `datacontenttype` set for data given as a string. */
export const TEXT_CONTENT_TYPE = "text/plain; charset=utf-8";
/** `datacontenttype` set for data given as bytes. */
export const BINARY_CONTENT_TYPE = "application/octet-stream";

/** The event can never succeed (a bad payload): 422 `invalid`, dead-lettered. */
export class Invalid extends Error {
  constructor(message) {
    super(message);
    this.name = "Invalid";
  }
}

/** Something transient went wrong: 500 `failed`, and Knative retries. */
export class Failed extends Error {
  constructor(message) {
    super(message);
    this.name = "Failed";
  }
}

/**
 * `data` as bytes and its content type (a given one wins): objects, arrays,
 * numbers and booleans become compact JSON, strings UTF-8 text, bytes stay.
 */
export function encodeData(data, datacontenttype) {
  if (data === undefined || data === null) {
    return [undefined, datacontenttype];
  }
  if (data instanceof Uint8Array) {
    return [data, datacontenttype ?? BINARY_CONTENT_TYPE];
  }
  if (data instanceof ArrayBuffer) {
    return [new Uint8Array(data), datacontenttype ?? BINARY_CONTENT_TYPE];
  }
  if (typeof data === "string") {
    return [new TextEncoder().encode(data), datacontenttype ?? TEXT_CONTENT_TYPE];
  }
  if (typeof data === "object" || typeof data === "number" || typeof data === "boolean") {
    const text = JSON.stringify(data);
    return [new TextEncoder().encode(text), datacontenttype ?? JSON_CONTENT_TYPE];
  }
  throw new TypeError(
    `Event data must be an object, array, string, Uint8Array or a JSON scalar, not ${typeof data}`,
  );
}

/**
 * A CloudEvents 1.0 event. On output the host sets `id` (derived from the
 * input's `source` and `id` and the output's position) and `specversion`.
 * `data` is a Uint8Array (or undefined); the constructor also takes an
 * object or array (sent as JSON) or a string, and sets `datacontenttype` to
 * match unless it is given.
 */
export class Event {
  constructor({
    type,
    source,
    data,
    datacontenttype,
    dataschema,
    subject,
    time,
    extensions = {},
    id = "",
    specversion = "1.0",
  }) {
    if (typeof type !== "string" || typeof source !== "string") {
      throw new TypeError("an Event needs `type` and `source` strings");
    }
    this.type = type;
    this.source = source;
    [this.data, this.datacontenttype] = encodeData(data, datacontenttype);
    this.dataschema = dataschema;
    this.subject = subject;
    this.time = time;
    this.extensions = { ...extensions };
    this.id = id;
    this.specversion = specversion;
  }

  /** `data` parsed as JSON; throws Invalid when there is no data or it is not JSON. */
  json() {
    if (this.data === undefined) {
      throw new Invalid(`event ${this.id} has no data; expected a JSON payload`);
    }
    try {
      return JSON.parse(new TextDecoder().decode(this.data));
    } catch (err) {
      throw new Invalid(`event ${this.id} data is not JSON: ${err.message}`);
    }
  }

  /** `data` decoded as UTF-8 text (empty without data); throws Invalid if it is not UTF-8. */
  text() {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.data ?? new Uint8Array());
    } catch (err) {
      throw new Invalid(`event ${this.id} data is not UTF-8 text: ${err.message}`);
    }
  }
}

/** The Event for a WIT `event` record (as componentize-js passes it). */
export function fromRecord(record) {
  const event = new Event({
    type: record.type,
    source: record.source,
    id: record.id,
    specversion: record.specversion,
    datacontenttype: record.datacontenttype,
    dataschema: record.dataschema,
    subject: record.subject,
    time: record.time,
    extensions: Object.fromEntries(record.extensions),
  });
  // componentize-js passes `list<u8>` as an array-like, not a Uint8Array.
  event.data = record.data === undefined || record.data === null ? undefined : Uint8Array.from(record.data);
  return event;
}

/** An extension's canonical string form (CloudEvents: string, integer or boolean). */
export function extensionValue(name, value) {
  if (typeof value === "string") {
    return value;
  }
  if (typeof value === "boolean" || Number.isInteger(value)) {
    return String(value);
  }
  throw new TypeError(`extension \`${name}\` must be a string, integer or boolean, not ${typeof value}`);
}

/** `event` as a WIT `event` record. */
export function toRecord(event) {
  let data = event.data;
  if (ArrayBuffer.isView(data) && !(data instanceof Uint8Array)) {
    data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else if (data !== undefined && data !== null && !(data instanceof Uint8Array)) {
    [data] = encodeData(data, undefined);
  }
  return {
    id: String(event.id ?? ""),
    source: event.source,
    type: event.type,
    specversion: String(event.specversion ?? "1.0"),
    datacontenttype: event.datacontenttype ?? undefined,
    dataschema: event.dataschema ?? undefined,
    subject: event.subject ?? undefined,
    time: event.time ?? undefined,
    extensions: Object.entries(event.extensions ?? {}).map(([k, v]) => [k, extensionValue(k, v)]),
    data: data ?? undefined,
  };
}

/** The events `handle` returned: an Event, an array of them, or null/undefined. */
export function outputs(returned) {
  if (returned === undefined || returned === null) {
    return [];
  }
  if (returned instanceof Event) {
    return [returned];
  }
  if (Array.isArray(returned)) {
    returned.forEach((item, i) => {
      if (!(item instanceof Event)) {
        throw new TypeError(`handle returned an array whose item ${i} is not a wasmfn Event`);
      }
    });
    return returned;
  }
  throw new TypeError(
    `handle returned ${describe(returned)}; expected a wasmfn Event, an array of them, or null`,
  );
}

/**
 * The WIT `error` variant for what `handle` threw: Invalid and Failed carry
 * their message; anything else is uncaught, reported as `failed` with its
 * name and message.
 */
export function errorOf(err) {
  if (err instanceof Invalid) {
    return { tag: "invalid", val: err.message };
  }
  if (err instanceof Failed) {
    return { tag: "failed", val: err.message };
  }
  if (err instanceof Error) {
    return { tag: "failed", val: `uncaught ${err.name}: ${err.message}` };
  }
  return { tag: "failed", val: `uncaught ${describe(err)}: ${String(err)}` };
}

function describe(value) {
  if (value === null) {
    return "null";
  }
  return typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value;
}

/** `config` over the host's `get`: `get(key)` and `require(key)`. */
export function makeConfig(get) {
  return {
    /** The value of setting `key`, or null if it is not set. */
    get(key) {
      return get(key) ?? null;
    },
    /** The value of setting `key`; throws Failed naming it if it is not set. */
    require(key) {
      const value = get(key);
      if (value === undefined || value === null) {
        throw new Failed(
          `setting \`${key}\` is not configured; add it to this function's \`env\` in wasmfn.toml`,
        );
      }
      return value;
    },
  };
}

/** `log` over the host's `log(level, message)`: debug, info, warn, error. */
export function makeLog(write) {
  return {
    debug: (message) => write("debug", String(message)),
    info: (message) => write("info", String(message)),
    warn: (message) => write("warn", String(message)),
    error: (message) => write("error", String(message)),
  };
}

/**
 * The component's `handle` export around the function's `handle`: converts
 * the record, the outputs and every exception (thrown as the WIT error, so
 * nothing traps); logs the stack of an uncaught one through `write`. An
 * `async` handle (one that awaits `fetch`) returns a promise, which
 * componentize-js settles by running the event loop before the export
 * returns.
 */
export function makeHandle(handle, write) {
  const fail = (err) => {
    const error = errorOf(err);
    if (!(err instanceof Invalid) && !(err instanceof Failed)) {
      write("error", err instanceof Error && err.stack ? `${error.val}\n${err.stack}` : error.val);
    }
    throw { payload: error };
  };
  const records = (returned) => outputs(returned).map(toRecord);
  return function wasmfnHandle(record) {
    try {
      const returned = handle(fromRecord(record));
      if (returned instanceof Promise) {
        return returned.then(records, fail);
      }
      return records(returned);
    } catch (err) {
      return fail(err);
    }
  };
}
