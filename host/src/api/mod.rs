//! The HTTP adapter (axum) over [`Host`]. Routes live under `/v1`; errors are
//! `{"error":{"code","message"}}`. Nothing here holds plugin logic.

mod admin;
mod error;
mod invoke;

pub use error::{status_of, ApiError};

use crate::host::{Host, PluginInfo};
use crate::registry::Rejected;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

/// Settings of the HTTP adapter.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Largest request body accepted (PDF uploads included).
    pub max_body: usize,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions { max_body: 32 << 20 }
    }
}

/// The full router.
pub fn router(host: Host, options: ApiOptions) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/plugins", get(list_plugins))
        .route("/v1/plugins/{name}", get(show_plugin))
        .route("/v1/plugins/{name}/load", post(load_plugin))
        .route("/v1/plugins/{name}/unload", post(unload_plugin))
        .merge(invoke::routes())
        .merge(admin::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_body))
        .layer(tower_http::trace::TraceLayer::new_for_http())
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
