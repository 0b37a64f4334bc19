//! The limit of the HTTP stack for `scripts/bench-http.sh`: a bare axum
//! server on the same tokio runtime as `hostel serve`, whose one handler
//! parses the connector-call body Hostel parses and answers the JSON Hostel
//! answers (`{"result": <args>}`, the arguments serialised and parsed back as
//! they are on their way through a plugin), with no plugin, history, metrics,
//! request ids or middleware.
//!
//! Usage: `bare_http [ADDR]` (default `127.0.0.1:0`); prints `listening on http://ADDR`.

use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorCall {
    #[allow(dead_code)]
    operation: String,
    #[serde(default)]
    args: Value,
}

async fn call(Json(call): Json<ConnectorCall>) -> Json<Value> {
    let args = if call.args.is_null() { "{}".to_string() } else { call.args.to_string() };
    let result = serde_json::from_str::<Value>(&args).unwrap_or(Value::String(args));
    Json(json!({ "result": result }))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_string());
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        let app = Router::new().route("/v1/plugins/{name}/connector/call", post(call));
        axum::serve(listener, app).await
    })
}
