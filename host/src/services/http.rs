//! Outbound HTTP policy: a plugin reaches only the hosts its manifest allows.
//! Everything else is refused with `HTTP-request-denied` before any
//! connection; what is allowed goes to the plugin's pooled client
//! ([`super::outbound`]).

use super::outbound::{Outbound, OutboundHost};
use std::future::Future;
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The allow-list of one plugin, and the client its allowed requests go to.
pub struct HttpPolicy {
    plugin: Arc<str>,
    allowed: Arc<Vec<String>>,
    outbound: Arc<Outbound>,
    host: Arc<OutboundHost>,
}

impl HttpPolicy {
    /// A policy with a pool of its own and default settings (outside a
    /// [`crate::Host`], e.g. a raw store in a benchmark).
    pub fn new(plugin: Arc<str>, allowed: Arc<Vec<String>>) -> Self {
        let outbound = Arc::new(Outbound::new(plugin.clone()));
        outbound.open();
        HttpPolicy { plugin, allowed, outbound, host: OutboundHost::standalone() }
    }

    /// The policy of one instance of a plugin: its requests share the plugin's pool.
    pub fn with_outbound(plugin: Arc<str>, allowed: Arc<Vec<String>>, outbound: Arc<Outbound>, host: Arc<OutboundHost>) -> Self {
        HttpPolicy { plugin, allowed, outbound, host }
    }

    /// `authority` is `host` or `host:port`; an entry `host` allows any port,
    /// an entry `host:port` only that port.
    pub fn allows(&self, authority: &str, default_port: u16) -> bool {
        let authority = authority.to_ascii_lowercase();
        let (host, port) = split_authority(&authority, default_port);
        self.allowed.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            match entry.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !entry.ends_with(']') => {
                    h == host && p.parse::<u16>().ok() == Some(port)
                }
                _ => entry == host,
            }
        })
    }
}

fn split_authority(authority: &str, default_port: u16) -> (&str, u16) {
    if let Some((h, p)) = authority.rsplit_once(':') {
        if !h.is_empty() && !authority.ends_with(']') {
            if let Ok(port) = p.parse() {
                return (h, port);
            }
        }
    }
    (authority, default_port)
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for HttpPolicy {
    /// hyper-util's client writes `host` for HTTP/1 and `:authority` for HTTP/2.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send> {
        let uri = request.uri();
        let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) { 443 } else { 80 };
        let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
        if !self.allows(&authority, default_port) {
            tracing::warn!(plugin = &*self.plugin, %authority, "outbound request denied: host not in allowed_hosts");
            self.outbound.stats().outcome(super::outbound::error_name(&HttpError::HttpRequestDenied));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        tracing::debug!(plugin = &*self.plugin, %uri, "outbound request");
        Box::new(self.outbound.clone().send(self.host.clone(), request, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str]) -> HttpPolicy {
        HttpPolicy::new("p".into(), Arc::new(hosts.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn host_entry_allows_any_port_and_port_entry_only_its_port() {
        let p = policy(&["api.example.com", "127.0.0.1:8080"]);
        assert!(p.allows("api.example.com", 443));
        assert!(p.allows("API.example.com:8443", 443));
        assert!(p.allows("127.0.0.1:8080", 80));
        assert!(!p.allows("127.0.0.1:8081", 80));
        assert!(!p.allows("127.0.0.1", 80));
        assert!(!p.allows("evil.example.com", 443));
        assert!(!p.allows("api.example.com.evil.net", 443));
    }

    #[test]
    fn empty_list_denies_everything() {
        assert!(!policy(&[]).allows("localhost:80", 80));
    }
}
