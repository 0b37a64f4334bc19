//! Lazy loading and lifecycle: registered until first use, one compile for
//! many concurrent first calls, unload/reload, instance reuse, and the library
//! API used directly by an embedder.

use hostel_tests::pdf::make_pdf;
use hostel_tests::{PluginsDir, Server};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn registered_until_first_call_then_loaded() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m).add("caption-keywords", |m| m);
    let s = Server::start(&plugins);

    let (status, list) = s.get("/v1/plugins").await;
    assert_eq!(status, 200);
    let states: Vec<(&str, &str)> = list["plugins"].as_array().unwrap().iter()
        .map(|p| (p["name"].as_str().unwrap(), p["state"].as_str().unwrap())).collect();
    assert_eq!(states, [("caption-keywords", "registered"), ("pdf-text", "registered")]);
    assert_eq!(s.plugin("pdf-text").await["compile_count"], 0);

    let (status, _) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", make_pdf(&["x"], "t", "a")).await;
    assert_eq!(status, 200);
    let info = s.plugin("pdf-text").await;
    assert_eq!(info["state"], "loaded");
    assert_eq!(info["compile_count"], 1);
    assert!(info["loaded_at_ms"].as_u64().unwrap() > 0);
    assert_eq!(info["calls"], 1);
    // The other plugin was not touched.
    assert_eq!(s.plugin("caption-keywords").await["state"], "registered");
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_concurrent_first_calls_compile_once() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    let s = Server::start(&plugins);
    let pdf = make_pdf(&["concurrent"], "t", "a");
    let calls = (0..8).map(|_| s.post_bytes("/v1/plugins/pdf-text/pdf/text", pdf.clone()));
    let results = futures::future::join_all(calls).await;
    for (status, body) in &results {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["pages"][0]["text"], "concurrent");
    }
    let info = s.plugin("pdf-text").await;
    assert_eq!(info["compile_count"], 1, "{info}");
    assert_eq!(info["calls"], 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn load_unload_and_reload() {
    let plugins = PluginsDir::new();
    plugins.add("caption-keywords", |m| m);
    let s = Server::start(&plugins);
    let (status, info) = s.post_json("/v1/plugins/caption-keywords/load", &json!({})).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["state"], "loaded");
    assert_eq!(info["compile_count"], 1);
    assert!(info["sha256"].as_str().unwrap().len() == 64);

    let (status, info) = s.post_json("/v1/plugins/caption-keywords/unload", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(info["state"], "registered");

    let (status, _) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"description": "mountain hike"})).await;
    assert_eq!(status, 200);
    let info = s.plugin("caption-keywords").await;
    assert_eq!(info["state"], "loaded");
    assert_eq!(info["load_count"], 2);
    // The reload deserialized the artifact compiled the first time.
    assert_eq!(info["compile_count"], 1);
    assert_eq!(info["from_cache"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_instances_are_reused_and_keep_state() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start(&plugins);
    let mut counts = Vec::new();
    for _ in 0..5 {
        let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"count".to_vec()).await;
        assert_eq!(status, 200, "{body}");
        counts.push(body["page_count"].as_u64().unwrap());
    }
    assert_eq!(counts, [1, 2, 3, 4, 5], "one warm instance should serve all calls");
    let info = s.plugin("faulty").await;
    assert_eq!(info["instances_created"], 1);
    assert_eq!(info["instances_reused"], 4);

    // fresh_instance_per_call = true: no state carried over.
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| format!("{m}\n[pool]\nfresh_instance_per_call = true\n"));
    let s = Server::start(&plugins);
    for _ in 0..3 {
        let (_, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"count".to_vec()).await;
        assert_eq!(body["page_count"], 1);
    }
    assert_eq!(s.plugin("faulty").await["instances_created"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn embedders_use_the_library_directly() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m).add("caption-keywords", |m| m);
    let host = hostel::Host::builder().plugins_dir(plugins.path()).build().unwrap();
    assert_eq!(host.plugin_info("pdf-text").unwrap().state, hostel::State::Registered);
    let pages = host.pdf_text("pdf-text", &make_pdf(&["from the library"], "t", "a"), 1, None).await.unwrap();
    assert_eq!(pages[0].text, "from the library");
    let request = hostel::types::CaptionRequest {
        description: "coffee at the cafe".into(),
        style: hostel::Style::Professional,
        hashtag_count: 4,
        max_captions: 2,
    };
    let result = host.caption("caption-keywords", &request).await.unwrap();
    assert_eq!(result.hashtags.len(), 4);
    let err = host.pdf_text("caption-keywords", b"%PDF-", 1, None).await.unwrap_err();
    assert_eq!(err.code(), "wrong_kind");
    let err = host.pdf_info("nope", b"").await.unwrap_err();
    assert!(matches!(err, hostel::Error::UnknownPlugin(_)));
    let v: Value = serde_json::to_value(host.plugins()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}
