//! Generic invoke and batch: JSON arguments mapped to each export's own WIT
//! types (records, enums, options, results, lists, bytes as base64) on the
//! real plugins, type errors naming the path, and batches with a result or an
//! error per item.

use base64::Engine as _;
use hostel_tests::pdf::make_pdf;
use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A server with four plugins; the plugins dir lives as long as the pair.
fn server() -> (PluginsDir, Server) {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m).add("caption-keywords", |m| m).add("faulty", |m| m).add("hello-connector", |m| m);
    let s = Server::start(&plugins);
    (plugins, s)
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_are_listed_with_their_types() {
    let (_plugins, s) = server();
    let (status, body) = s.get("/v1/plugins/pdf-text/exports").await;
    assert_eq!(status, 200, "{body}");
    let exports = body["exports"].as_array().unwrap();
    let text = exports.iter().find(|e| e["name"] == "hostel:plugin/pdf@0.2.0#extract-text").unwrap();
    assert_eq!(text["params"], json!([
        {"name": "document", "type": "list<u8>"}, {"name": "first", "type": "u32"}, {"name": "last", "type": "option<u32>"}
    ]));
    assert!(text["result"].as_str().unwrap().starts_with("result<list<record { page: u32, text: string }>"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_arguments_map_to_wit_values_and_back() {
    let (_plugins, s) = server();
    let pdf = make_pdf(&["first page", "second page", "third page"], "Generic", "Ada");
    // list<u8> as base64; the result record comes back with its field names.
    let (status, body) = s.post_json("/v1/plugins/pdf-text/invoke/info", &json!({"document": b64(&pdf)})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["page-count"], 3);
    assert_eq!(body["result"]["title"], "Generic");
    assert_eq!(body["result"]["author"], "Ada");
    // An option left out is none; positional arguments work too; interface#function names.
    let (status, body) = s.post_json("/v1/plugins/pdf-text/invoke/pdf%23extract-text", &json!([b64(&pdf), 2, null])).await;
    assert_eq!(status, 200, "{body}");
    let pages: Vec<&str> = body["result"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(pages, ["second page", "third page"]);
    let (_, body) = s.post_json("/v1/plugins/pdf-text/invoke/extract-text", &json!({"document": b64(&pdf), "first": 1, "last": 1})).await;
    assert_eq!(body["result"].as_array().unwrap().len(), 1);

    // A record with an enum field, snake_case accepted for kebab-case names.
    let request = json!({"request": {"description": "sunset over the ocean at the beach", "style": "inspirational", "hashtag_count": 4, "max-captions": 2}});
    let (status, body) = s.post_json("/v1/plugins/caption-keywords/invoke/generate", &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["hashtags"].as_array().unwrap().len(), 4);
    assert_eq!(body["result"]["captions"].as_array().unwrap().len(), 2);
    assert!(body["result"]["captions"][0]["score"].as_f64().is_some());

    // The same answer as the typed route.
    let (_, typed) = s.post_json("/v1/plugins/hello-connector/connector/call", &json!({"operation": "echo", "args": {"x": 1}})).await;
    let (status, generic) = s.post_json("/v1/plugins/hello-connector/invoke/call", &json!({"operation": "echo", "args": "{\"x\":1}"})).await;
    assert_eq!(status, 200, "{generic}");
    assert_eq!(serde_json::from_str::<Value>(generic["result"].as_str().unwrap()).unwrap(), typed["result"]);
    let (_, describe) = s.post_json("/v1/plugins/hello-connector/invoke/describe", &Value::Null).await;
    assert_eq!(describe["result"]["operations"], json!(["echo", "greet"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn mismatches_name_the_path_and_plugin_errors_keep_their_class() {
    let (_plugins, s) = server();
    let cases = [
        ("/v1/plugins/pdf-text/invoke/info", json!({"document": 5}), "document: expected an array, got 5"),
        ("/v1/plugins/pdf-text/invoke/info", json!({"document": "%%%"}), "document: expected base64 bytes"),
        ("/v1/plugins/pdf-text/invoke/info", json!({}), "missing parameter \"document\""),
        ("/v1/plugins/pdf-text/invoke/info", json!({"document": "", "pages": 1}), "unknown parameter \"pages\""),
        ("/v1/plugins/pdf-text/invoke/extract-text", json!({"document": "", "first": -1}), "first: expected an integer in range of u32, got -1"),
        ("/v1/plugins/caption-keywords/invoke/generate",
         json!({"request": {"description": "x", "style": "weird", "hashtag-count": 1, "max-captions": 1}}),
         "request.style: expected one of inspirational|funny|professional|casual, got \"weird\""),
        ("/v1/plugins/caption-keywords/invoke/generate", json!({"request": {"description": "x"}}), "request: missing field \"style\""),
        ("/v1/plugins/caption-keywords/invoke/generate-stream",
         json!({"request": {"description": "x", "style": "funny", "hashtag-count": 1, "max-captions": 1}}), "returns a resource"),
    ];
    for (path, args, expected) in cases {
        let (status, body) = s.post_json(path, &args).await;
        assert_eq!(status, 400, "{path} {args}: {body}");
        let message = error_message(&body, "bad_request");
        assert!(message.contains(expected), "{path} {args}: {message:?} should contain {expected:?}");
    }
    // Host memory for JSON → WIT values is bounded: big byte arrays belong on the typed route.
    let (status, body) = s.post_json("/v1/plugins/pdf-text/invoke/info", &json!({"document": b64(&vec![0u8; 5 << 20])})).await;
    assert_eq!(status, 400);
    assert!(error_message(&body, "bad_request").contains("typed route"), "{body}");

    let (status, body) = s.post_json("/v1/plugins/pdf-text/invoke/nope", &json!({})).await;
    assert_eq!(status, 404);
    assert!(error_message(&body, "unknown_export").contains("hostel:plugin/pdf@0.2.0#extract-text"));
    // A plugin-error in the result's err is the same typed error as a typed call.
    let (status, body) = s.post_json("/v1/plugins/faulty/invoke/info", &json!({"document": b64(b"error")})).await;
    assert_eq!(status, 422, "{body}");
    error_message(&body, "invalid_input");
    let (status, body) = s.post_json("/v1/plugins/faulty/invoke/info", &json!({"document": b64(b"panic")})).await;
    assert_eq!(status, 500);
    error_message(&body, "plugin_trapped");
    assert_eq!(s.post_json("/v1/plugins/faulty/invoke/info", &json!({"document": b64(b"echo")})).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_gives_each_item_its_result_or_error_in_order() {
    let (_plugins, s) = server();
    let pdf = b64(&make_pdf(&["batch"], "B", "b"));
    let mut items = vec![
        json!({"plugin": "pdf-text", "export": "info", "args": {"document": pdf}}),
        json!({"plugin": "faulty", "export": "info", "args": {"document": b64(b"error")}}),
        json!({"plugin": "nope", "export": "info", "args": {}}),
        json!({"plugin": "pdf-text", "export": "info", "args": {"document": 1}}),
    ];
    for _ in 0..12 {
        items.push(json!({"plugin": "faulty", "export": "info", "args": {"document": b64(b"sleep:50")}}));
    }
    let started = std::time::Instant::now();
    let (status, body) = s.post_json("/v1/batch", &json!({"items": items, "concurrency": 4})).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 16);
    assert_eq!((results[0]["ok"].as_bool(), results[0]["result"]["page-count"].as_u64()), (Some(true), Some(1)));
    assert_eq!((results[1]["status"].as_u64(), results[1]["error"]["code"].as_str()), (Some(422), Some("invalid_input")));
    assert_eq!((results[2]["status"].as_u64(), results[2]["error"]["code"].as_str()), (Some(404), Some("unknown_plugin")));
    assert_eq!((results[3]["status"].as_u64(), results[3]["error"]["code"].as_str()), (Some(400), Some("bad_request")));
    assert!(results[4..].iter().all(|r| r["ok"] == true && r["result"]["title"] == "slept"));
    // 12 sleeps of 50 ms with 4 at a time cannot take less than 3 rounds; the pool grew to run them side by side.
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    let (_, pools) = s.get("/v1/admin/pools").await;
    let faulty = pools["pools"].as_array().unwrap().iter().find(|p| p["plugin"] == "faulty").unwrap();
    assert!(faulty["created"].as_u64().unwrap() >= 2 && faulty["created"].as_u64().unwrap() <= 5, "{faulty}");

    let (status, body) = s.post_json("/v1/batch", &json!({"items": [], "concurrency": 0})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s.post_json("/v1/batch", &json!({"itemz": []})).await;
    assert_eq!(status, 400);
}
