//! Jobs: a PDF → caption pipeline on the real plugins, per-stage metrics,
//! a failing stage skipping the rest, persistence across a restart, and a job
//! cut short by a kill -9 marked interrupted.

use base64::Engine as _;
use hostel_tests::pdf::make_pdf;
use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn finished(s: &Server, id: u64) -> Value {
    s.wait_for(&format!("/v1/jobs/{id}"), 30, |j| j["finished_ms"].is_u64()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn pdf_to_caption_pipeline_with_stage_metrics() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m).add("caption-keywords", |m| m);
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let pdf = make_pdf(&["Sunset over the ocean at the beach, waves and sand"], "Trip", "me");
    let job = json!({"stages": [
        {"plugin": "pdf-text", "export": "extract-text", "args": {"document": b64(&pdf), "first": 1}},
        {"plugin": "caption-keywords", "export": "generate",
         "args": {"request": {"description": "$prev.text", "style": "inspirational", "hashtag-count": 5, "max-captions": 2}}}
    ]});
    let (status, queued) = s.post_json("/v1/jobs", &job).await;
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_u64().unwrap();
    let done = finished(&s, id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["result"]["hashtags"].as_array().unwrap().len(), 5);
    let tags = done["result"]["hashtags"].to_string();
    assert!(["beach", "sunset", "ocean", "sea", "waves"].iter().any(|t| tags.contains(t)), "captioned from the PDF's text: {tags}");
    for stage in done["stages"].as_array().unwrap() {
        assert_eq!(stage["state"], "succeeded");
        assert!(stage["duration_ms"].is_u64() && stage["memory_bytes"].as_u64().unwrap() > 0, "{stage}");
    }
    // Each stage gave its instance back.
    for name in ["pdf-text", "caption-keywords"] {
        let p = s.plugin(name).await;
        assert_eq!((p["busy_instances"].as_u64(), p["idle_instances"].as_u64()), (Some(0), Some(1)), "{p}");
    }
    let (_, list) = s.get("/v1/jobs").await;
    assert_eq!(list["jobs"][0]["id"], id);

    // Persisted with its metrics: the same job after a restart.
    s.stop();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, again) = s.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!((again["state"].as_str(), again["stages"][1]["memory_bytes"].clone()), (Some("succeeded"), done["stages"][1]["memory_bytes"].clone()));
    let (status, next) = s.post_json("/v1/jobs", &json!({"stages": [{"plugin": "pdf-text", "export": "info", "args": {"document": b64(&pdf)}}]})).await;
    assert_eq!(status, 202);
    assert_eq!(next["id"].as_u64(), Some(id + 1), "ids continue after a restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_stage_skips_the_rest_and_bad_jobs_are_refused() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m).add("pdf-text", |m| m);
    let s = Server::start(&plugins);
    let (_, queued) = s.post_json("/v1/jobs", &json!({"stages": [
        {"plugin": "faulty", "export": "info", "args": {"document": b64(b"error")}},
        {"plugin": "pdf-text", "export": "info", "args": {"document": "$prev"}}
    ]})).await;
    let done = finished(&s, queued["id"].as_u64().unwrap()).await;
    assert_eq!(done["state"], "failed");
    assert!(done["error"].as_str().unwrap().contains("stage 1 (faulty info) failed"), "{done}");
    assert_eq!((done["stages"][0]["state"].as_str(), done["stages"][1]["state"].as_str()), (Some("failed"), Some("skipped")));
    assert_eq!(s.plugin("pdf-text").await["state"], "registered", "a skipped stage never loads its plugin");

    let (status, body) = s.post_json("/v1/jobs", &json!({"stages": []})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s.post_json("/v1/jobs", &json!({"stages": [{"plugin": "nope", "export": "x"}]})).await;
    assert_eq!(status, 404);
    error_message(&body, "unknown_plugin");
    let (status, body) = s.get("/v1/jobs/999").await;
    assert_eq!(status, 404);
    error_message(&body, "unknown_job");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_cut_short_by_a_kill_is_marked_interrupted() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("slow", 0, "memory = '32MiB'\ncall_timeout = '60s'");
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (_, queued) = s.post_json("/v1/jobs", &json!({"stages": [
        {"plugin": "slow", "export": "info", "args": {"document": b64(b"sleep:30000")}}
    ]})).await;
    let id = queued["id"].as_u64().unwrap();
    // The listing flushes the writer: once it says running, that is on disk.
    s.wait_for("/v1/jobs", 20, |b| b["jobs"][0]["state"] == "running").await;
    drop(s); // SIGKILL, mid-stage
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (_, job) = s.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "interrupted", "{job}");
    assert_eq!(job["stages"][0]["state"], "interrupted");
}
