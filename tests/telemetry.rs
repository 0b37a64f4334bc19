//! Traces over OTLP to a real receiver on loopback (tests/otlp/receiver.py,
//! the official opentelemetry-proto definitions): a call is a `call` span
//! under the request span, under the caller's `traceparent`, with children
//! for each step and the expected attributes; the answer names the trace.

use hostel_tests::{repo, PluginsDir, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Receiver {
    child: Child,
    port: u16,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let python = repo().join(".tools/python/bin/python");
        assert!(python.exists(), "{} is missing: run scripts/setup.sh (it installs opentelemetry-proto there)", python.display());
        let mut child = Command::new(python)
            .arg(repo().join("tests/otlp/receiver.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the OTLP receiver");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let port = first.strip_prefix("listening ").unwrap_or_else(|| panic!("receiver said {first:?}")).parse().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = spans.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(serde_json::from_str::<Value>(&line).unwrap());
            }
        });
        Receiver { child, port, spans }
    }

    /// Spans received until `done` accepts them (at most 20 s).
    async fn wait(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if done(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "spans so far: {}", serde_json::to_string_pretty(&spans).unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn children<'a>(spans: &'a [Value], parent: &Value) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["parent_span_id"] == parent["span_id"]).collect()
}

async fn call(s: &Server, traceparent: &str) -> (u16, String) {
    let r = s.client.post(s.url("/v1/plugins/faulty/pdf/info")).header("traceparent", traceparent).body("echo").send().await.unwrap();
    let out = r.headers().get("traceparent").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (r.status().as_u16(), out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_is_a_span_tree_under_the_callers_traceparent() {
    let receiver = Receiver::start();
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let config = plugins.config(&format!(
        "[telemetry]\notlp_endpoint = \"http://127.0.0.1:{}\"\nexport_interval = \"100ms\"\nservice_name = \"hostel-test\"\n",
        receiver.port
    ));
    let s = Server::start_with(&plugins, &["--config", &config]);

    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let (status, out) = call(&s, &format!("00-{trace}-{parent}-01")).await;
    assert_eq!(status, 200);
    // The answer names the request's span, in the caller's trace.
    let parts: Vec<&str> = out.split('-').collect();
    assert_eq!((parts.len(), parts[0], parts[1]), (4, "00", trace), "traceparent out: {out:?}");
    assert_ne!(parts[2], parent);

    let is_call = |s: &Value| s["name"] == "call faulty/info" && s["trace_id"] == trace;
    let spans = receiver.wait(|spans| {
        spans.iter().any(is_call) && spans.iter().any(|s| s["name"] == "guest" && s["trace_id"] == trace)
            && spans.iter().any(|s| s["span_id"] == parts[2])
    })
    .await;
    let request = spans.iter().find(|s| s["span_id"] == parts[2]).unwrap();
    assert_eq!(request["name"], "POST /v1/plugins/faulty/pdf/info");
    assert_eq!(request["parent_span_id"], parent, "the request span is the caller's child");
    assert_eq!(request["service"], "hostel-test");
    assert_eq!(request["kind"], 2, "a server span");

    let call_span = spans.iter().find(|s| is_call(s)).unwrap();
    assert_eq!(call_span["parent_span_id"], request["span_id"], "{call_span}");
    let a = &call_span["attributes"];
    assert_eq!((a["plugin"].as_str(), a["export"].as_str(), a["outcome"].as_str(), a["warm"].as_bool()), (Some("faulty"), Some("info"), Some("ok"), Some(false)), "{a}");
    assert!(a["memory"].as_i64().is_some_and(|m| m > 0), "{a}");
    let steps: Vec<&str> = children(&spans, call_span).iter().map(|s| s["name"].as_str().unwrap()).collect();
    for step in ["queue", "load", "admission", "instantiate", "guest"] {
        assert!(steps.contains(&step), "{step} missing under call: {steps:?}");
    }
    // Each child lies within its parent.
    for child in children(&spans, call_span) {
        assert!(child["start_ns"].as_u64() >= call_span["start_ns"].as_u64() && child["end_ns"].as_u64() <= call_span["end_ns"].as_u64(), "{child}\n in {call_span}");
    }

    // A warm call: no load, admission or instantiate; `warm` says so. Without
    // a traceparent it starts a trace of its own.
    let r = s.client.post(s.url("/v1/plugins/faulty/pdf/info")).body("echo").send().await.unwrap();
    let own = r.headers()["traceparent"].to_str().unwrap().split('-').nth(1).unwrap().to_string();
    assert_ne!(own, trace);
    let spans = receiver.wait(|spans| spans.iter().any(|s| s["trace_id"] == own && s["name"] == "call faulty/info")).await;
    let warm = spans.iter().find(|s| s["trace_id"] == own && s["name"] == "call faulty/info").unwrap();
    assert_eq!(warm["attributes"]["warm"], true);
    let steps: Vec<&str> = children(&spans, warm).iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(steps.contains(&"guest") && !steps.contains(&"instantiate") && !steps.contains(&"load"), "{steps:?}");

    // A failing call is marked as an error with its outcome.
    let r = s.client.post(s.url("/v1/plugins/faulty/pdf/info")).body("panic").send().await.unwrap();
    assert_eq!(r.status(), 500);
    let spans = receiver.wait(|spans| spans.iter().any(|s| s["attributes"]["outcome"] == "plugin_trapped")).await;
    let failed = spans.iter().find(|s| s["attributes"]["outcome"] == "plugin_trapped").unwrap();
    assert_eq!(failed["status"], 2, "status ERROR: {failed}");
    s.stop();
}
