//! The bearer token on management routes. Without a configured token the
//! routes are open (the server binds loopback by default).

use super::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

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
