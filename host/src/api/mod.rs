//! The HTTP adapter (axum) over [`Host`]. Routes live under `/v1`; errors are
//! `{"error":{"code","message"}}`. Nothing here holds plugin logic.

mod admin;
mod auth;
mod edge;
mod error;
mod events;
mod invoke;
mod jobs;
mod limits;
mod redact;

pub use auth::Auth;
pub use error::{status_of, ApiError};
pub use limits::HttpLimits;
pub use redact::{scrub, Operator};

use crate::host::{Host, PluginInfo};
use crate::registry::Rejected;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Settings of the HTTP adapter.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Largest request body accepted (PDF uploads included).
    pub max_body: usize,
    /// Bearer token required on the routes `auth` names, if set.
    pub token: Option<String>,
    /// Management routes only, or every route but health and the dashboard page.
    pub auth: Auth,
    /// Connection limits and timeouts.
    pub http: HttpLimits,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions { max_body: 32 << 20, token: None, auth: Auth::Management, http: HttpLimits::default() }
    }
}

/// The full router. Management routes (load, unload, admin, cache, history)
/// need the bearer token when one is set; with `Auth::All` so does every
/// other route but `/`, `/healthz`, `/readyz` and `/openapi.json`.
pub fn router(host: Host, options: ApiOptions) -> Router {
    let token: Option<Arc<str>> = options.token.as_deref().map(Arc::from);
    let (routes, _) = documented(token.clone(), options.auth).split_for_parts();
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(host);
    // Around the router, not through `Router::layer`, which wraps every route
    // and so boxes the stack once more per request.
    use tower::Layer as _;
    let routes = DefaultBodyLimit::max(options.max_body).layer(routes);
    let edge = edge::Settings::new(token, options.http.body_timeout);
    Router::new().fallback_service(edge::Edge::new(routes, edge))
}

/// Every route with its OpenAPI description, registered together so the
/// published document cannot miss a route.
fn documented(token: Option<Arc<str>>, auth: Auth) -> OpenApiRouter<Host> {
    let guard = || axum::middleware::from_fn_with_state(token.clone(), auth::require_token);
    let management = OpenApiRouter::new()
        .routes(routes!(upload_plugin))
        .routes(routes!(delete_plugin))
        .routes(routes!(load_plugin))
        .routes(routes!(unload_plugin))
        .merge(admin::routes())
        .merge(events::routes())
        .merge(jobs::routes())
        .route_layer(guard());
    let usage = OpenApiRouter::new()
        .routes(routes!(metrics))
        .routes(routes!(list_plugins))
        .routes(routes!(list_kinds))
        .routes(routes!(show_plugin))
        .merge(invoke::routes());
    let usage = if auth == Auth::All { usage.route_layer(guard()) } else { usage };
    // Always open: probes, the page that asks for the token, and the API's
    // description (the same for every server of this version).
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(dashboard))
        .routes(routes!(asset))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .merge(usage)
        .merge(management)
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented(None, Auth::Management).split_for_parts().1
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Hostel", description = "A WebAssembly plugin host: lazy loading, measured memory, warm pools, eviction, HTTP control. Management routes (tag admin, and plugin upload/delete/load/unload) need `Authorization: Bearer <token>` when the server has a token; with `auth = \"all\"` every route does but /, /healthz, /readyz and /openapi.json."),
    components(schemas(ErrorBody, ErrorDetail)),
    tags((name = "plugins"), (name = "invoke"), (name = "jobs"), (name = "admin"), (name = "host"))
)]
struct ApiDoc;

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, machine-readable (e.g. `unknown_plugin`, `over_budget`).
    code: String,
    message: String,
}

/// Serves `router` on `listener` until `shutdown` resolves, within the
/// connection limits and timeouts of `options.http`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    host: Host,
    options: ApiOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = options.http;
    let app = router(host.clone(), options);
    // Open event streams end first, so graceful shutdown does not wait on them.
    let shutdown = async move {
        shutdown.await;
        host.close_events();
    };
    limits::serve(listener, app, limits, shutdown).await
}

#[utoipa::path(get, path = "/healthz", tag = "host", summary = "Liveness", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
async fn healthz(State(host): State<Host>) -> Json<Value> {
    Json(json!({"status": "ok", "plugins": host.plugins().len()}))
}

#[utoipa::path(get, path = "/", tag = "host", summary = "The dashboard page (HTML)", responses((status = 200, description = "HTML", content_type = "text/html"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
/// The dashboard: one page, embedded in the binary, polling the API. With a
/// token configured it asks for it (kept in the browser's local storage).
async fn dashboard() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("dashboard.html"))
}

#[utoipa::path(get, path = "/assets/{file}", tag = "host", summary = "The dashboard's scripts and styles (uPlot, MIT; the plots)", params(("file" = String, Path)), responses((status = 200, description = "the file"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody)))]
/// Files embedded in the binary for the dashboard: uPlot 1.6.32 (MIT, see
/// `assets/uPlot.LICENSE`) and the page's plotting script.
async fn asset(Path(file): Path<String>) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (body, kind): (&'static str, &'static str) = match file.as_str() {
        "uplot.js" => (include_str!("assets/uPlot.iife.min.js"), "text/javascript; charset=utf-8"),
        "uplot.css" => (include_str!("assets/uPlot.min.css"), "text/css; charset=utf-8"),
        "plots.js" => (include_str!("assets/plots.js"), "text/javascript; charset=utf-8"),
        "uPlot.LICENSE" => (include_str!("assets/uPlot.LICENSE"), "text/plain; charset=utf-8"),
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no asset {file:?}"))),
    };
    Ok(([(axum::http::header::CONTENT_TYPE, kind), (axum::http::header::CACHE_CONTROL, "max-age=300")], body).into_response())
}

#[utoipa::path(get, path = "/readyz", tag = "host", summary = "Readiness: the database answers", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
/// Ready when the host's database answers.
async fn readyz(State(host): State<Host>) -> Result<Json<Value>, ApiError> {
    match host.ready() {
        Ok(()) => Ok(Json(json!({"status": "ready", "plugins": host.plugins().len(), "database": "ok"}))),
        Err(e) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e)),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "host", summary = "Prometheus text: calls, latency, memory, instances, pressure, RSS", responses((status = 200, description = "OpenMetrics text (Prometheus reads it)", content_type = "application/openmetrics-text"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
/// Prometheus text format.
async fn metrics(State(host): State<Host>) -> impl axum::response::IntoResponse {
    let text = tokio::task::spawn_blocking(move || host.metrics_text()).await.unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

#[derive(Serialize)]
struct PluginList {
    plugins: Vec<PluginInfo>,
    rejected: Vec<Rejected>,
}

#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", summary = "Every plugin (state, counters) and rejected manifests", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
async fn list_plugins(State(host): State<Host>, axum::Extension(Operator(operator)): axum::Extension<Operator>) -> Json<PluginList> {
    let mut list = PluginList { plugins: host.plugins(), rejected: host.rejected() };
    if !operator {
        list.plugins.iter_mut().for_each(public_info);
        for r in &mut list.rejected {
            r.error = scrub(&r.error);
            // The manifest's own folder and file, not where it lives on the host.
            let tail: Vec<_> = r.path.components().rev().take(2).collect();
            r.path = tail.into_iter().rev().collect();
        }
    }
    Json(list)
}

#[utoipa::path(get, path = "/v1/kinds", tag = "plugins", summary = "The kinds a manifest may name, with the WIT worlds each accepts (component: any)", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
async fn list_kinds(State(host): State<Host>) -> Json<Value> {
    let kinds: Vec<Value> = host.kinds().into_iter().map(|(kind, wit)| json!({"kind": kind, "wit": wit})).collect();
    Json(json!({ "kinds": kinds }))
}

/// What a caller who is not an operator may see of a plugin.
fn public_info(info: &mut PluginInfo) {
    if let Some(e) = &info.error {
        info.error = Some(scrub(e));
    }
    // Where its component comes from is the manifest's business, not a caller's.
    info.oci_source = None;
    info.oci_digest = None;
}

#[utoipa::path(get, path = "/v1/plugins/{name}", tag = "plugins", summary = "One plugin: state, memory, pool, breaker", params(("name" = String, Path, description = "plugin name")), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
async fn show_plugin(
    State(host): State<Host>,
    axum::Extension(Operator(operator)): axum::Extension<Operator>,
    Path(name): Path<String>,
) -> Result<Json<PluginInfo>, ApiError> {
    let mut info = host.plugin_info(&name)?;
    if !operator {
        public_info(&mut info);
    }
    Ok(Json(info))
}

#[utoipa::path(post, path = "/v1/plugins", tag = "plugins", summary = "Upload a plugin or a new version (hot reload): multipart manifest + component [+ sha256]", request_body(content_type = "multipart/form-data", description = "fields: manifest (TOML), component (.wasm; none when the manifest names an oci:// source), sha256 (optional)"), responses((status = 201, description = "registered"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
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
    // A manifest naming an oci:// `source` comes alone; any other needs its component.
    let component = match component {
        Some(c) => c.to_vec(),
        None => match crate::plugin::Manifest::parse_upload(&manifest) {
            Ok(m) if m.source.is_some() => Vec::new(),
            Ok(_) => return Err(missing("component")),
            Err(e) => return Err(crate::Error::InvalidManifest(e.to_string()).into()),
        },
    };
    let registered = host.register(&manifest, component, sha256.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

#[utoipa::path(delete, path = "/v1/plugins/{name}", tag = "plugins", summary = "Delete an uploaded plugin (drains calls in flight)", params(("name" = String, Path, description = "plugin name")), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
/// Removes an uploaded plugin after its calls in flight finish.
async fn delete_plugin(State(host): State<Host>, Path(name): Path<String>) -> Result<Json<crate::registry::Deleted>, ApiError> {
    Ok(Json(host.delete(&name).await?))
}

#[utoipa::path(post, path = "/v1/plugins/{name}/load", tag = "plugins", summary = "Compile now (retries a failed plugin)", params(("name" = String, Path, description = "plugin name")), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
async fn load_plugin(State(host): State<Host>, Path(name): Path<String>) -> Result<Json<PluginInfo>, ApiError> {
    Ok(Json(host.load(&name).await?))
}

#[utoipa::path(post, path = "/v1/plugins/{name}/unload", tag = "plugins", summary = "Drop compiled code and warm instances", params(("name" = String, Path, description = "plugin name")), responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
async fn unload_plugin(State(host): State<Host>, Path(name): Path<String>) -> Result<Json<PluginInfo>, ApiError> {
    Ok(Json(host.unload(&name)?))
}

#[utoipa::path(get, path = "/openapi.json", tag = "host", summary = "This OpenAPI document", responses((status = 200, description = "OK"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = ErrorBody), (status = "5XX", description = "plugin or host failure, same error shape", body = ErrorBody)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(openapi).clone())
}

/// Runs a host call that reads SQLite (or waits on its writer) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> crate::Result<T> + Send + 'static) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("database task failed: {e}"))),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}
