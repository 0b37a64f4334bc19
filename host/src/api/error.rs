//! HTTP errors: `{"error":{"code","message"}}` with the status that fits.

use crate::error::{Error, PluginErrorCode};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error on its way to becoming an HTTP response.
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (set on `over_budget`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
}

/// The HTTP status for each library error.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::UnknownPlugin(_) => StatusCode::NOT_FOUND,
        Error::WrongKind { .. } => StatusCode::BAD_REQUEST,
        Error::PluginFailed { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::RegistryUnavailable { .. } => StatusCode::BAD_GATEWAY,
        Error::LoadTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        Error::Plugin { code, .. } => match code {
            PluginErrorCode::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            PluginErrorCode::NotFound => StatusCode::NOT_FOUND,
            PluginErrorCode::Unavailable => StatusCode::BAD_GATEWAY,
            PluginErrorCode::Denied => StatusCode::FORBIDDEN,
            PluginErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        },
        Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        Error::MemoryLimitExceeded { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        Error::OutputTooLarge { .. } => StatusCode::BAD_GATEWAY,
        Error::TableLimitExceeded { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        Error::OverBudget { .. } | Error::CompileQueueTimeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::QueueTimeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::CircuitOpen { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::Trap { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        Error::UnknownExport { .. } | Error::UnknownJob(_) => StatusCode::NOT_FOUND,
        Error::TooManyJobs(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::InvalidManifest(_) => StatusCode::BAD_REQUEST,
        Error::InvalidComponent { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Sha256Mismatch { .. } => StatusCode::BAD_REQUEST,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let retry_after = match &e {
            Error::OverBudget { .. } | Error::QueueFull { .. } | Error::QueueTimeout { .. } | Error::TooManyJobs(_) => Some(1),
            Error::CompileQueueTimeout { .. } | Error::RegistryUnavailable { .. } => Some(5),
            Error::CircuitOpen { retry_after, .. } => Some(retry_after.as_millis().div_ceil(1000).max(1) as u64),
            _ => None,
        };
        ApiError { status: status_of(&e), code: e.code(), message: e.to_string(), retry_after }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        from_rejection(r.status(), r.body_text())
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        from_rejection(r.status(), r.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        from_rejection(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl From<axum::extract::multipart::MultipartRejection> for ApiError {
    fn from(r: axum::extract::multipart::MultipartRejection) -> Self {
        from_rejection(r.status(), r.body_text())
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        from_rejection(e.status(), e.body_text())
    }
}

fn from_rejection(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_request",
    };
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
    ApiError::new(status, code, text)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
