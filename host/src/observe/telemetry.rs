//! Traces over OpenTelemetry (OTLP/HTTP, protobuf), off unless
//! `[telemetry] otlp_endpoint` is set.
//!
//! Every call is a `call` span (target `hostel::call`, level debug, so it
//! costs nothing when no layer wants it) with children `queue`, `load`,
//! `admission`, `instantiate` and `guest`; over HTTP it is the child of the
//! `request` span, whose parent is the caller's W3C `traceparent`, and the
//! response carries a `traceparent` naming the request span.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use serde::Deserialize;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `[telemetry]` in the host config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`
    /// (`/v1/traces` is added when the URL has no path). None: no traces.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the spans.
    pub service_name: String,
    /// Most time spans wait in the batch before they are sent.
    #[serde(with = "humantime_serde")]
    pub export_interval: Duration,
    /// Spans kept waiting at most; more are dropped (never blocks a call).
    pub queue_size: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig { otlp_endpoint: None, service_name: "hostel".into(), export_interval: Duration::from_secs(5), queue_size: 2048 }
    }
}

/// The exporting side: flush and stop it when the process ends.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Sends what is batched and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!("telemetry shutdown: {e}");
        }
    }
}

/// A `tracing` layer exporting spans to the configured collector, with what
/// shuts it down; `None` when telemetry is off.
pub fn otlp_layer<S>(config: &TelemetryConfig) -> Result<Option<(impl tracing_subscriber::Layer<S>, Telemetry)>, String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let Some(endpoint) = config.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) else { return Ok(None) };
    crate::install_crypto_provider(); // the exporter's reqwest client needs one
    let url = traces_url(endpoint)?;
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_timeout(Duration::from_secs(10))
        .with_headers(Default::default())
        .build()
        .map_err(|e| format!("telemetry.otlp_endpoint {endpoint:?}: {e}"))?;
    let batch = BatchConfigBuilder::default()
        .with_scheduled_delay(config.export_interval)
        .with_max_queue_size(config.queue_size.max(1))
        .build();
    let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batch).build();
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(config.service_name.clone()).build();
    let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
    let tracer = provider.tracer("hostel");
    tracing::info!(url = %url, "exporting traces over OTLP/HTTP");
    EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(spans_filter());
    Ok(Some((layer, Telemetry { provider })))
}

/// What the OTLP layer takes: the host's call spans (debug) and info spans
/// and events elsewhere; never the chatter of the HTTP and wasm stacks.
fn spans_filter() -> tracing_subscriber::filter::Targets {
    use tracing::Level;
    tracing_subscriber::filter::Targets::new()
        .with_default(Level::INFO)
        .with_target("hostel::call", Level::DEBUG)
        .with_target("hyper", Level::WARN)
        .with_target("h2", Level::WARN)
        .with_target("reqwest", Level::WARN)
        .with_target("opentelemetry", Level::WARN)
        .with_target("cranelift", Level::WARN)
        .with_target("wasmtime", Level::WARN)
}

use tracing_subscriber::Layer as _;

fn traces_url(endpoint: &str) -> Result<String, String> {
    let uri: http::Uri = endpoint.parse().map_err(|e| format!("telemetry.otlp_endpoint {endpoint:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("telemetry.otlp_endpoint {endpoint:?}: only http:// collectors are supported (run a collector or sidecar on the node)"));
    }
    Ok(match uri.path() {
        "" | "/" => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
        _ => endpoint.to_string(),
    })
}

/// Whether spans are exported (set once, when the OTLP layer is made).
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// When spans are exported: names the request span `METHOD /path`, marks it a
/// server span, and makes it the child of the caller's `traceparent`.
pub(crate) fn adopt_request<B>(span: &tracing::Span, request: &http::Request<B>) {
    if !EXPORTING.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    span.record("otel.name", format!("{} {}", request.method(), request.uri().path()));
    span.record("otel.kind", "server");
    let headers = request.headers();
    if !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&Headers(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The `traceparent` naming `span`, when spans are exported.
pub(crate) fn traceparent(span: &tracing::Span) -> Option<String> {
    if !EXPORTING.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_base_url_gets_the_traces_path_and_only_http_is_taken() {
        assert_eq!(super::traces_url("http://127.0.0.1:4318").unwrap(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(super::traces_url("http://c:4318/").unwrap(), "http://c:4318/v1/traces");
        assert_eq!(super::traces_url("http://c:4318/custom/v1/traces").unwrap(), "http://c:4318/custom/v1/traces");
        assert!(super::traces_url("https://c:4318").unwrap_err().contains("only http://"));
        assert!(super::traces_url("not a url").unwrap_err().contains("not a URL"));
    }
}
