//! Answers every request with 200 "hello": the closest Wasm peer's floor for
//! wasmfn's `simple` (wasmtime serve instantiates a fresh component per request).

use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wasip2::http::proxy::export!(Hello);

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("outgoing body");
        ResponseOutparam::set(response_out, Ok(response));
        let out = body.write().expect("body stream");
        out.blocking_write_and_flush(b"hello").expect("write body");
        drop(out);
        OutgoingBody::finish(body, None).expect("finish body");
    }
}
