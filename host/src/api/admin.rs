//! Operator routes: memory, its history, alerts, freeing, pools, caches, invocation history.

use super::ApiError;
use crate::host::Host;
use crate::memory::{FreeReport, MemoryReport};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> OpenApiRouter<Host> {
    OpenApiRouter::new()
        .routes(routes!(memory))
        .routes(routes!(history))
        .routes(routes!(free))
        .routes(routes!(alerts))
        .routes(routes!(cache_status, cache_clear))
        .routes(routes!(pools))
        .routes(routes!(invocations))
        .routes(routes!(catalogue))
}

#[utoipa::path(get, path = "/v1/admin/catalogue", tag = "admin", summary = "The OCI catalogue this host follows: digest applied, last check, its plugins, the last error", responses((status = 200, description = "OK; `following` is null without a catalogue"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody)))]
async fn catalogue(State(host): State<Host>) -> Json<Value> {
    Json(json!({ "node": host.node(), "following": host.catalogue() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvocationsQuery {
    plugin: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
}

#[utoipa::path(get, path = "/v1/invocations", tag = "admin", summary = "Invocation history, newest first, paginated", params(("plugin" = Option<String>, Query), ("page" = Option<u32>, Query, description = "from 1"), ("page_size" = Option<u32>, Query, description = "1..=500")), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// Invocation history, newest first, a page at a time.
async fn invocations(State(host): State<Host>, q: Result<Query<InvocationsQuery>, QueryRejection>) -> Result<Json<crate::observe::CallPage>, ApiError> {
    let Query(q) = q?;
    let page = q.page.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(50);
    if page == 0 || !(1..=500).contains(&page_size) {
        return Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_request", "page starts at 1 and page_size must be 1..=500"));
    }
    Ok(Json(super::blocking(move || host.invocations(q.plugin.as_deref(), page, page_size)).await?))
}

#[utoipa::path(get, path = "/v1/admin/pools", tag = "admin", summary = "Pools per plugin: idle, busy, created, reused, recycled, discarded, waits, p50/p99; outbound HTTP connections and requests", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// Per plugin: idle, busy, created, reused, recycled, discarded, waits, wait p50/p99, reuse ratio;
/// `outbound`: HTTP connections open and idle, requests on new and reused
/// connections, connect (handshake) p50/p99, requests by status.
async fn pools(State(host): State<Host>) -> Json<Value> {
    Json(json!({ "pools": host.pools() }))
}

#[utoipa::path(get, path = "/v1/cache", tag = "admin", summary = "Artifact, result and shared cache figures", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// The compiled-artifact cache and the plugins' shared key/value cache.
async fn cache_status(State(host): State<Host>) -> Json<Value> {
    let (entries, bytes) = host.shared_cache_usage();
    Json(json!({
        "artifacts": host.artifact_stats(),
        "results": host.result_cache_stats(),
        "shared": { "entries": entries, "bytes": bytes },
    }))
}

#[utoipa::path(delete, path = "/v1/cache", tag = "admin", summary = "Delete every compiled artifact and memoized result", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// Deletes every compiled artifact and memoized result (loaded plugins keep
/// running; the next load recompiles).
async fn cache_clear(State(host): State<Host>) -> Json<Value> {
    let (entries, bytes) = host.clear_artifacts();
    Json(json!({ "removed": { "entries": entries, "bytes": bytes } }))
}

#[utoipa::path(get, path = "/v1/admin/memory", tag = "admin", summary = "Memory: budget, level, per plugin and per instance, RSS", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn memory(State(host): State<Host>) -> Json<MemoryReport> {
    Json(host.memory())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// Only samples after this unix-ms timestamp.
    since: Option<u64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/admin/memory/history", tag = "admin", summary = "Memory samples, oldest first", params(("since" = Option<u64>, Query, description = "unix ms"), ("limit" = Option<u32>, Query)), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// Samples oldest first; `next_since` continues from the last one returned.
async fn history(State(host): State<Host>, q: Result<Query<HistoryQuery>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let samples = super::blocking(move || host.memory_history(q.since.unwrap_or(0), limit)).await?;
    let next_since = (samples.len() as u32 == limit).then(|| samples.last().map(|s| s.ts_ms)).flatten();
    Ok(Json(json!({ "samples": samples, "next_since": next_since })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    /// Only alerts with an id below this (page backwards).
    before: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/admin/alerts", tag = "admin", summary = "Pressure level changes, newest first", params(("before" = Option<i64>, Query, description = "alert id"), ("limit" = Option<u32>, Query)), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
/// Level changes newest first; `next_before` continues the listing.
async fn alerts(State(host): State<Host>, q: Result<Query<AlertsQuery>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let alerts = super::blocking(move || host.alerts(q.before, limit)).await?;
    let next_before = (alerts.len() as u32 == limit).then(|| alerts.last().map(|a| a.id)).flatten();
    Ok(Json(json!({ "alerts": alerts, "next_before": next_before })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FreeRequest {
    bytes: u64,
}

#[utoipa::path(post, path = "/v1/admin/memory/free", tag = "admin", summary = "Evict idle instances until N bytes are freed", request_body(content = serde_json::Value, description = "{\"bytes\": N}"), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = super::ErrorBody)))]
async fn free(State(host): State<Host>, body: Result<Json<FreeRequest>, JsonRejection>) -> Result<Json<FreeReport>, ApiError> {
    let Json(req) = body?;
    Ok(Json(host.free(req.bytes)))
}
