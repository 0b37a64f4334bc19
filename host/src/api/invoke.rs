//! Typed invoke routes, one group per plugin kind.

use super::ApiError;
use crate::bindings::caption::exports::hostel::plugin::captioner::CaptionRequest;
use crate::host::Host;
use crate::world::caption::Style;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use serde::Deserialize;
use serde_json::{json, Value};

/// Unknown plugins answer 404 whatever the body, so check before reading it.
fn known(host: &Host, name: &str) -> Result<(), ApiError> {
    host.check_registered(name).map_err(ApiError::from)
}

pub fn routes() -> OpenApiRouter<Host> {
    OpenApiRouter::new()
        .routes(routes!(pdf_info))
        .routes(routes!(pdf_text))
        .routes(routes!(pdf_text_stream))
        .routes(routes!(connector_describe))
        .routes(routes!(connector_call))
        .routes(routes!(caption))
        .routes(routes!(caption_stream))
        .routes(routes!(exports))
        .routes(routes!(invoke))
        .routes(routes!(batch))
}

#[utoipa::path(get, path = "/v1/plugins/{name}/exports", tag = "invoke", summary = "Every exported function with parameter and result types (loads the plugin)", params(("name" = String, Path, description = "plugin name")), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn exports(State(host): State<Host>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "exports": host.exports(&name).await? })).into_response())
}

/// Generic invoke: JSON arguments mapped to the export's WIT types.
#[utoipa::path(post, path = "/v1/plugins/{name}/invoke/{export}", tag = "invoke", summary = "Call any export: arguments as an object by parameter name (or an array); list<u8> as base64", params(("name" = String, Path, description = "plugin name"), ("export" = String, Path, description = "function, or interface#function")), request_body(content = serde_json::Value, description = "arguments"), responses((status = 200, description = "{\"result\": ...}"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn invoke(
    State(host): State<Host>,
    Path((name, export)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    known(&host, &name)?;
    let Json(args) = body?;
    Ok(Json(json!({ "result": host.invoke_json(&name, &export, &args).await? })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    items: Vec<crate::BatchItem>,
    /// Items in flight at once (1..=64, default 4).
    #[serde(default = "default_concurrency")]
    concurrency: usize,
}
fn default_concurrency() -> usize {
    4
}

/// Many invocations with a concurrency limit; a result or an error per item, in order.
#[utoipa::path(post, path = "/v1/batch", tag = "invoke", summary = "Many generic invocations with a concurrency limit; one result or error per item", request_body(content = serde_json::Value, description = "{\"items\": [{\"plugin\", \"export\", \"args\"}], \"concurrency\": 4}"), responses((status = 200, description = "{\"results\": [{\"ok\": true, \"result\"} | {\"ok\": false, \"status\", \"error\"}]}"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn batch(State(host): State<Host>, body: Result<Json<Batch>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(batch) = body?;
    if batch.items.len() > 1000 || !(1..=64).contains(&batch.concurrency) {
        return Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_request", "a batch holds at most 1000 items and concurrency must be 1..=64"));
    }
    let outcomes = host.batch(batch.items, batch.concurrency).await;
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(result) => json!({ "ok": true, "result": result }),
            Err(e) => {
                let e = ApiError::from(e);
                json!({ "ok": false, "status": e.status.as_u16(), "error": { "code": e.code, "message": e.message } })
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

#[utoipa::path(post, path = "/v1/plugins/{name}/pdf/info", tag = "invoke", summary = "PDF processor: page count, title, author, producer, version", params(("name" = String, Path, description = "plugin name")), request_body(content = Vec<u8>, content_type = "application/pdf", description = "the PDF"), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn pdf_info(
    State(host): State<Host>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    known(&host, &name)?;
    let body = body?;
    Ok(Json(host.pdf_info(&name, &body).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageRange {
    first: Option<u32>,
    last: Option<u32>,
}

#[utoipa::path(post, path = "/v1/plugins/{name}/pdf/text", tag = "invoke", summary = "PDF processor: text of pages first..=last", params(("name" = String, Path, description = "plugin name")), params(("first" = Option<u32>, Query, description = "first page, 1-based"), ("last" = Option<u32>, Query, description = "last page")), request_body(content = Vec<u8>, content_type = "application/pdf", description = "the PDF"), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn pdf_text(
    State(host): State<Host>,
    Path(name): Path<String>,
    range: Result<Query<PageRange>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    known(&host, &name)?;
    let Query(range) = range?;
    let body = body?;
    let pages = host.pdf_text(&name, &body, range.first.unwrap_or(1), range.last).await?;
    Ok(Json(json!({ "pages": pages })).into_response())
}

#[utoipa::path(post, path = "/v1/plugins/{name}/pdf/text/stream", tag = "invoke", summary = "PDF processor: pages first..=last streamed as NDJSON, one page per line, each extract bounded by the call timeout", params(("name" = String, Path, description = "plugin name")), params(("first" = Option<u32>, Query, description = "first page, 1-based"), ("last" = Option<u32>, Query, description = "last page")), request_body(content = Vec<u8>, content_type = "application/pdf", description = "the PDF"), responses((status = 200, description = "NDJSON lines", content_type = "application/x-ndjson"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// NDJSON: one `{"page", "text"}` per line as pages are extracted; a failure
/// after the first line arrives as a final `{"error":{...}}` line.
async fn pdf_text_stream(
    State(host): State<Host>,
    Path(name): Path<String>,
    range: Result<Query<PageRange>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    known(&host, &name)?;
    let Query(range) = range?;
    let body = body?;
    let stream = host.pdf_pages(&name, body.to_vec(), range.first.unwrap_or(1), range.last).await?;
    let lines = futures::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        match stream.next().await {
            Ok(Some(page)) => Some((Ok::<_, std::io::Error>(Bytes::from(format!("{}\n", json!(page)))), Some(stream))),
            Ok(None) => None,
            Err(e) => {
                let e = ApiError::from(e);
                let line = format!("{}\n", json!({"error": {"code": e.code, "message": e.message}}));
                Some((Ok(Bytes::from(line)), None))
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response())
}

#[utoipa::path(get, path = "/v1/plugins/{name}/connector", tag = "invoke", summary = "Connector: what it is and its operations", params(("name" = String, Path, description = "plugin name")), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn connector_describe(State(host): State<Host>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(host.connector_describe(&name).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorCall {
    operation: String,
    #[serde(default)]
    args: Value,
}

#[utoipa::path(post, path = "/v1/plugins/{name}/connector/call", tag = "invoke", summary = "Connector: run an operation with JSON args", params(("name" = String, Path, description = "plugin name")), request_body(content = serde_json::Value, description = "{\"operation\": string, \"args\": any JSON}"), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn connector_call(
    State(host): State<Host>,
    Path(name): Path<String>,
    body: Result<Json<ConnectorCall>, JsonRejection>,
) -> Result<Response, ApiError> {
    known(&host, &name)?;
    let Json(call) = body?;
    let args = if call.args.is_null() { "{}".to_string() } else { call.args.to_string() };
    let text = host.connector_call(&name, &call.operation, &args).await?;
    // Connectors answer JSON text; pass it through as JSON when it parses.
    let result = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    Ok(Json(json!({ "result": result })).into_response())
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum StyleArg {
    Inspirational,
    Funny,
    Professional,
    Casual,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptionArgs {
    description: String,
    #[serde(default = "default_style")]
    style: StyleArg,
    #[serde(default = "default_hashtags")]
    hashtag_count: u32,
    #[serde(default = "default_captions")]
    max_captions: u32,
}
fn default_style() -> StyleArg {
    StyleArg::Casual
}
fn default_hashtags() -> u32 {
    5
}
fn default_captions() -> u32 {
    3
}

impl From<CaptionArgs> for CaptionRequest {
    fn from(a: CaptionArgs) -> Self {
        CaptionRequest {
            description: a.description,
            style: match a.style {
                StyleArg::Inspirational => Style::Inspirational,
                StyleArg::Funny => Style::Funny,
                StyleArg::Professional => Style::Professional,
                StyleArg::Casual => Style::Casual,
            },
            hashtag_count: a.hashtag_count,
            max_captions: a.max_captions,
        }
    }
}

#[utoipa::path(post, path = "/v1/plugins/{name}/caption", tag = "invoke", summary = "Caption model: ranked captions and exactly hashtag_count hashtags", params(("name" = String, Path, description = "plugin name")), request_body(content = serde_json::Value, description = "{\"description\", \"style\": inspirational|funny|professional|casual, \"hashtag_count\", \"max_captions\"}"), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn caption(
    State(host): State<Host>,
    Path(name): Path<String>,
    body: Result<Json<CaptionArgs>, JsonRejection>,
) -> Result<Response, ApiError> {
    known(&host, &name)?;
    let Json(args) = body?;
    Ok(Json(host.caption(&name, &args.into()).await?).into_response())
}

#[utoipa::path(post, path = "/v1/plugins/{name}/caption/stream", tag = "invoke", summary = "Caption model: captions streamed as NDJSON, one per line", params(("name" = String, Path, description = "plugin name")), request_body(content = serde_json::Value, description = "{\"description\", \"style\": inspirational|funny|professional|casual, \"hashtag_count\", \"max_captions\"}"), responses((status = 200, description = "NDJSON lines", content_type = "application/x-ndjson"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// NDJSON: one caption object per line as the plugin yields them; a failure
/// after the first line arrives as a final `{"error":{...}}` line.
async fn caption_stream(
    State(host): State<Host>,
    Path(name): Path<String>,
    body: Result<Json<CaptionArgs>, JsonRejection>,
) -> Result<Response, ApiError> {
    known(&host, &name)?;
    let Json(args) = body?;
    let stream = host.caption_stream(&name, &args.into()).await?;
    let lines = futures::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        match stream.next().await {
            Ok(Some(caption)) => {
                let line = format!("{}\n", json!(caption));
                Some((Ok::<_, std::io::Error>(Bytes::from(line)), Some(stream)))
            }
            Ok(None) => None,
            Err(e) => {
                let e = ApiError::from(e);
                let line = format!("{}\n", json!({"error": {"code": e.code, "message": e.message}}));
                Some((Ok(Bytes::from(line)), None))
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response())
}
