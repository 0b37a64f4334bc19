//! The bearer token on management routes (or on every route but health and
//! the dashboard page). Without a configured token the routes are open (the
//! server binds loopback by default).

use super::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;

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
    let Some(token) = token else { return next.run(request).await };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()));
    if given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.as_bytes()))) {
        return next.run(request).await;
    }
    let message = if given.is_some() { "the bearer token is wrong" } else { "this route needs a bearer token (Authorization: Bearer <token>)" };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}
