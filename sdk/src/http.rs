//! Blocking outbound HTTP over `wasi:http`, enough for REST connectors.
//!
//! The host enforces the manifest's `allowed_hosts`; a refused request comes
//! back as a [`PluginError`] with code `denied`, so connectors report it as such.

use crate::PluginError;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode as HttpErrorCode, Fields, Method, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// A response: status and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Largest body `get` reads, so a hostile server cannot exhaust the plugin's memory.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Sends `GET url` with the given headers and reads the whole response.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, PluginError> {
    let (scheme, authority, path) = split_url(url)?;
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(&name.to_string(), &value.as_bytes().to_vec())
            .map_err(|e| PluginError::invalid_input(format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(fields);
    request.set_method(&Method::Get).map_err(|_| PluginError::internal("set method"))?;
    request.set_scheme(Some(&scheme)).map_err(|_| PluginError::invalid_input("bad scheme"))?;
    request
        .set_authority(Some(&authority))
        .map_err(|_| PluginError::invalid_input(format!("bad authority {authority:?}")))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|_| PluginError::invalid_input(format!("bad path {path:?}")))?;

    let future = outgoing_handler::handle(request, None).map_err(|e| http_error(url, e))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(http_error(url, e)),
        Some(Err(())) => return Err(PluginError::internal("response already taken")),
        None => return Err(PluginError::internal("response not ready after block")),
    };
    let status = response.status();
    let body = response.consume().map_err(|_| PluginError::internal("body already consumed"))?;
    let stream = body.stream().map_err(|_| PluginError::internal("body stream already taken"))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_BODY {
                    return Err(PluginError::unavailable(format!(
                        "response from {url} is larger than {MAX_BODY} bytes"
                    )));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(PluginError::unavailable(format!(
                    "reading response from {url}: {}",
                    e.to_debug_string()
                )))
            }
        }
    }
    drop(stream);
    Ok(Response { status, body: bytes })
}

fn http_error(url: &str, e: HttpErrorCode) -> PluginError {
    match e {
        HttpErrorCode::HttpRequestDenied => {
            PluginError::denied(format!("the host does not allow requests to {url}"))
        }
        other => PluginError::unavailable(format!("request to {url} failed: {other:?}")),
    }
}

/// Splits `http[s]://authority/path?query`.
fn split_url(url: &str) -> Result<(Scheme, String, String), PluginError> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(PluginError::invalid_input(format!("url {url:?} is not http(s)")));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        },
    };
    if authority.is_empty() {
        return Err(PluginError::invalid_input(format!("url {url:?} has no host")));
    }
    Ok((scheme, authority.to_string(), path.to_string()))
}
