//! The reference side of the HTTP benchmark: the same "echo" answer the
//! `hello-connector` plugin gives, served by `wasmtime serve` as a wasi:http
//! handler. It reads the request body and writes it back, as `echo` does.

use std::io::{Read as _, Write as _};
use wasip2::http::types::{Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let mut args = Vec::new();
        if let Ok(body) = request.consume() {
            if let Ok(mut stream) = body.stream() {
                let _ = stream.read_to_end(&mut args);
            }
            IncomingBody::finish(body);
        }
        let headers = Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())]).unwrap();
        let response = OutgoingResponse::new(headers);
        let body = response.body().unwrap();
        ResponseOutparam::set(response_out, Ok(response));
        let mut out = body.write().unwrap();
        out.write_all(b"{\"result\":").unwrap();
        out.write_all(if args.is_empty() { b"null" } else { &args }).unwrap();
        out.write_all(b"}").unwrap();
        out.flush().unwrap();
        drop(out);
        OutgoingBody::finish(body, None).unwrap();
    }
}

wasip2::http::proxy::export!(Hello);
