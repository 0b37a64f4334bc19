//! `GET /v1/events`: the host's live events as Server-Sent Events.
//!
//! Each SSE message is one JSON object with `type`, `seq` and `ts_ms` (see
//! [`crate::observe::Event`]); the SSE `id` is `seq`. The stream opens with a
//! `subscribed` message (so a client knows it is listening), sends a comment
//! every 15 s to keep proxies from closing it, and ends with a `dropped`
//! message if the client fell more than the bus's buffer behind.

use super::ApiError;
use crate::host::Host;
use crate::observe::{Received, Subscription};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event as Sse_, KeepAlive, Sse};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Host> {
    OpenApiRouter::new().routes(routes!(events))
}

const TYPES: [&str; 6] = ["call", "instance", "plugin", "pressure", "compile", "memory"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Only events about this plugin (pressure and memory events are kept).
    plugin: Option<String>,
    /// Comma-separated event types to keep (default: all).
    types: Option<String>,
}

/// What a client keeps.
struct Filter {
    plugin: Option<String>,
    types: Option<Vec<String>>,
}

impl Filter {
    fn keeps(&self, e: &crate::observe::Event) -> bool {
        self.types.as_ref().is_none_or(|t| t.iter().any(|t| t == e.kind()))
            && self.plugin.as_ref().is_none_or(|p| e.plugin().is_none_or(|q| q == p))
    }
}

#[utoipa::path(get, path = "/v1/events", tag = "admin", summary = "Live events (Server-Sent Events): calls, instances, plugins, pressure, compiles, memory samples", params(("plugin" = Option<String>, Query), ("types" = Option<String>, Query, description = "comma-separated: call,instance,plugin,pressure,compile,memory")), responses((status = 200, description = "text/event-stream", content_type = "text/event-stream"), (status = "4XX", description = "error as {\"error\":{\"code\",\"message\"}}", body = super::ErrorBody)))]
/// Streams events until the client goes, falls too far behind, or the server stops.
async fn events(State(host): State<Host>, q: Result<Query<EventsQuery>, QueryRejection>) -> Result<Sse<impl futures::Stream<Item = Result<Sse_, Infallible>>>, ApiError> {
    let Query(q) = q?;
    let types = match q.types.as_deref() {
        None | Some("") => None,
        Some(list) => {
            let types: Vec<String> = list.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
            if let Some(bad) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
                return Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, "bad_request", format!("unknown event type {bad:?}; the types are {}", TYPES.join(", "))));
            }
            Some(types)
        }
    };
    let filter = Filter { plugin: q.plugin, types };
    let subscription = host.subscribe();
    let hello = json!({"type": "subscribed", "buffer": subscription.buffer(), "types": TYPES});
    let first = futures::stream::once(async move { Ok(Sse_::default().data(hello.to_string())) });
    let rest = futures::stream::unfold(Some((subscription, filter)), next);
    Ok(Sse::new(futures::StreamExt::chain(first, rest)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The next message for the client; `None` ends the stream.
async fn next(state: Option<(Subscription, Filter)>) -> Option<(Result<Sse_, Infallible>, Option<(Subscription, Filter)>)> {
    let (mut subscription, filter) = state?;
    loop {
        match subscription.recv().await {
            Received::Event(e) if filter.keeps(&e.event) => {
                let data = serde_json::to_string(&*e).unwrap_or_default();
                return Some((Ok(Sse_::default().id(e.seq.to_string()).data(data)), Some((subscription, filter))));
            }
            Received::Event(_) => continue,
            Received::Lagged(missed) => {
                tracing::warn!(missed, "event stream client too slow: dropped");
                let bye = json!({"type": "dropped", "missed": missed,
                    "message": format!("this client fell more than {} events behind and was dropped; reconnect to resume", subscription.buffer())});
                // Sent, then the stream ends (the subscription is dropped here).
                return Some((Ok(Sse_::default().data(bye.to_string())), None));
            }
            Received::Closed => return None,
        }
    }
}
