//! The bearer token on management routes (or on every route but health and
//! the dashboard page). Without a configured token the routes are open (the
//! server binds loopback by default).

use super::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Which routes need the token: `auth` in the host config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// Upload, delete, load, unload, jobs, history, admin, cache.
    #[default]
    Management,
    /// Also invoking, batches, plugin lists and exports, metrics: for a server
    /// reachable by clients that may not call plugins.
    All,
}

/// Lets the request through if it carries `Authorization: Bearer <token>`.
pub(crate) async fn require_token(State(token): State<Option<Arc<str>>>, request: Request, next: Next) -> Response {
    if super::redact::is_operator(request.headers(), token.as_deref()) {
        return next.run(request).await;
    }
    let given = request.headers().contains_key(header::AUTHORIZATION);
    let message = if given { "the bearer token is wrong" } else { "this route needs a bearer token (Authorization: Bearer <token>)" };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}
