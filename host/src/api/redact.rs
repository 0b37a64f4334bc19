//! One rule for what callers see, applied in one place (the edge of every
//! request, [`super::edge`]):
//! - every error answer has the `{"error":{"code","message"}}` shape, also
//!   the ones axum or a panic produce (plain text otherwise);
//! - a caller who is not an operator (no valid bearer token, on a host that
//!   has one) never sees host paths or quoted manifest text in a message:
//!   they are cut out. Operators see everything. A host without a token has
//!   no anonymous callers: its management routes are open to all.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use subtle::ConstantTimeEq;

/// Largest error body rewritten (errors are small; anything else passes as is).
const MAX_ERROR_BODY: usize = 256 << 10;

/// Whether this request comes from an operator.
#[derive(Debug, Clone, Copy)]
pub struct Operator(pub bool);

/// Whether `headers` carry the bearer `token` (always true without a token).
pub(crate) fn is_operator(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, given)| scheme.eq_ignore_ascii_case("bearer").then_some(given.trim()))
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())))
}

/// Fixes an answer's shape and content for a caller who is (or is not) an
/// operator; the request was marked with [`Operator`] on its way in.
pub(crate) async fn shape(response: Response, operator: bool) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json && operator {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return (status, "error body too large").into_response();
    };
    let (code, message) = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v["error"]["code"].is_string() => (
            v["error"]["code"].as_str().unwrap_or_default().to_string(),
            v["error"]["message"].as_str().unwrap_or_default().to_string(),
        ),
        _ => (code_of(status).to_string(), String::from_utf8_lossy(&bytes).trim().to_string()),
    };
    let message = if operator { message } else { scrub(&message) };
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// A code for answers that came without one (axum's own rejections).
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::NOT_FOUND => "no_route",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// `text` without host paths and without quoted manifest lines.
pub fn scrub(text: &str) -> String {
    // TOML and similar parsers quote the offending line after a `|` gutter
    // or on following lines: keep only what comes before.
    let mut head = text.lines().next().unwrap_or_default().to_string();
    for marker in [" | ", "  |", " |\t"] {
        if let Some(at) = head.find(marker) {
            head.truncate(at);
        }
    }
    let words: Vec<String> = head
        .split(' ')
        .map(|w| {
            let bare = w.trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '(' | ')' | ',' | ':' | ';'));
            if looks_like_path(bare) {
                w.replace(bare, "<path>")
            } else {
                w.to_string()
            }
        })
        .collect();
    let mut out = words.join(" ").trim().to_string();
    if out.len() < text.trim().len() && !out.ends_with("(details for operators)") {
        out.push_str(" (details for operators)");
    }
    out
}

/// `/srv/x`, `./a/b`, `../x`, `C:\x`, `~/x`: anything that names a place on the host.
fn looks_like_path(w: &str) -> bool {
    (w.starts_with('/') && w.len() > 1 && !w.starts_with("/v1/"))
        || w.starts_with("./")
        || w.starts_with("../")
        || w.starts_with("~/")
        || (w.len() > 2 && w.as_bytes()[1] == b':' && w.as_bytes()[2] == b'\\')
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn paths_and_quoted_manifest_lines_are_cut() {
        let toml = "invalid manifest /srv/plugins/x/hostel.toml: TOML parse error at line 6, column 1   | 6 | db_password = 98765432101234   | ^^^ unknown field";
        let s = scrub(toml);
        assert!(!s.contains("98765432101234") && !s.contains("/srv"), "{s}");
        assert!(s.starts_with("invalid manifest <path>: TOML parse error at line 6"), "{s}");
        let s = scrub("cannot grant directory /srv/secret/models: No such file or directory");
        assert_eq!(s, "cannot grant directory <path> No such file or directory (details for operators)".replace("<path> ", "<path>: "));
        assert_eq!(scrub("plugin \"a\" trapped: unreachable"), "plugin \"a\" trapped: unreachable");
        assert_eq!(scrub("no route /v1/plugins/x"), "no route /v1/plugins/x");
        let multi = scrub("first line\n  password = \"hunter2\"");
        assert!(!multi.contains("hunter2"), "{multi}");
    }
}
