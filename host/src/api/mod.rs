//! The HTTP adapter (axum) over [`Host`]. Routes live under `/v1`; errors are
//! `{"error":{"code","message"}}`. Nothing here holds plugin logic.

mod admin;
mod auth;
mod error;
mod invoke;

pub use error::{status_of, ApiError};

use crate::host::{Host, PluginInfo};
use crate::registry::Rejected;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Settings of the HTTP adapter.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Largest request body accepted (PDF uploads included).
    pub max_body: usize,
    /// Bearer token required on management routes, if set.
    pub token: Option<String>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions { max_body: 32 << 20, token: None }
    }
}

/// The full router. Management routes (load, unload, admin, cache, history)
/// need the bearer token when one is set; invoking and reading the plugin
/// list, health and metrics do not.
pub fn router(host: Host, options: ApiOptions) -> Router {
    let token: Option<Arc<str>> = options.token.as_deref().map(Arc::from);
    let management = Router::new()
        .route("/v1/plugins", post(upload_plugin))
        .route("/v1/plugins/{name}", axum::routing::delete(delete_plugin))
        .route("/v1/plugins/{name}/load", post(load_plugin))
        .route("/v1/plugins/{name}/unload", post(unload_plugin))
        .merge(admin::routes())
        .route_layer(axum::middleware::from_fn_with_state(token, auth::require_token));
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/plugins", get(list_plugins))
        .route("/v1/plugins/{name}", get(show_plugin))
        .merge(invoke::routes())
        .merge(management)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_body))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(host)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    host: Host,
    options: ApiOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(host, options)).with_graceful_shutdown(shutdown).await
}

async fn healthz(State(host): State<Host>) -> Json<Value> {
    Json(json!({"status": "ok", "plugins": host.plugins().len()}))
}

/// The dashboard: one page, embedded in the binary, polling the API. With a
/// token configured it asks for it (kept in the browser's local storage).
async fn dashboard() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("dashboard.html"))
}

/// Ready when the host's database answers.
async fn readyz(State(host): State<Host>) -> Result<Json<Value>, ApiError> {
    match host.ready() {
        Ok(()) => Ok(Json(json!({"status": "ready", "plugins": host.plugins().len(), "database": "ok"}))),
        Err(e) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", format!("database: {e}"))),
    }
}

/// Prometheus text format.
async fn metrics(State(host): State<Host>) -> impl axum::response::IntoResponse {
    let text = tokio::task::spawn_blocking(move || host.metrics_text()).await.unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

#[derive(Serialize)]
struct PluginList {
    plugins: Vec<PluginInfo>,
    rejected: Vec<Rejected>,
}

async fn list_plugins(State(host): State<Host>) -> Json<PluginList> {
    Json(PluginList { plugins: host.plugins(), rejected: host.rejected() })
}

async fn show_plugin(State(host): State<Host>, Path(name): Path<String>) -> Result<Json<PluginInfo>, ApiError> {
    Ok(Json(host.plugin_info(&name)?))
}

/// Registers an uploaded plugin (or a new version of one): a multipart form
/// with `manifest` (TOML text), `component` (the .wasm) and optionally
/// `sha256` (hex) to check the component against.
async fn upload_plugin(
    State(host): State<Host>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<crate::registry::Registered>), ApiError> {
    let mut form = form?;
    let (mut manifest, mut component, mut sha256) = (None, None, None);
    while let Some(field) = form.next_field().await? {
        match field.name().unwrap_or_default() {
            "manifest" => manifest = Some(field.text().await?),
            "component" => component = Some(field.bytes().await?),
            "sha256" => sha256 = Some(field.text().await?.trim().to_string()),
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("unknown form field {other:?} (expected manifest, component, sha256)"),
                ))
            }
        }
    }
    let missing = |f: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("the form has no `{f}` field"));
    let manifest = manifest.ok_or_else(|| missing("manifest"))?;
    let component = component.ok_or_else(|| missing("component"))?;
    let registered = host.register(&manifest, component.to_vec(), sha256.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

/// Removes an uploaded plugin after its calls in flight finish.
async fn delete_plugin(State(host): State<Host>, Path(name): Path<String>) -> Result<Json<crate::registry::Deleted>, ApiError> {
    Ok(Json(host.delete(&name).await?))
}

async fn load_plugin(State(host): State<Host>, Path(name): Path<String>) -> Result<Json<PluginInfo>, ApiError> {
    Ok(Json(host.load(&name).await?))
}

async fn unload_plugin(State(host): State<Host>, Path(name): Path<String>) -> Result<Json<PluginInfo>, ApiError> {
    Ok(Json(host.unload(&name)?))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}
