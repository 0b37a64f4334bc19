//! caption-keywords over HTTP: exact hashtag counts, sensible ranking, limits,
//! and the NDJSON stream.

use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};

fn server() -> (PluginsDir, Server) {
    let plugins = PluginsDir::new();
    plugins.add("caption-keywords", |m| m);
    let s = Server::start(&plugins);
    (plugins, s)
}

fn tags(body: &Value) -> Vec<String> {
    body["hashtags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn returns_exactly_n_distinct_hashtags_for_every_style() {
    let (_p, s) = server();
    for (style, n) in [("inspirational", 0), ("funny", 3), ("professional", 10), ("casual", 30)] {
        let (status, body) = s.post_json("/v1/plugins/caption-keywords/caption",
            &json!({"description": "a quiet hike through the pine forest", "style": style, "hashtag_count": n, "max_captions": 4})).await;
        assert_eq!(status, 200, "{body}");
        let t = tags(&body);
        assert_eq!(t.len(), n, "{style}: {body}");
        assert!(t.iter().all(|h| h.starts_with('#') && h.len() > 1 && !h.contains(' ')), "{t:?}");
        let mut unique = t.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), n, "duplicates in {t:?}");
        let captions = body["captions"].as_array().unwrap();
        assert!(!captions.is_empty() && captions.len() <= 4);
        let scores: Vec<f64> = captions.iter().map(|c| c["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "captions not ranked: {scores:?}");
    }
}

#[tokio::test]
async fn ranking_follows_the_description() {
    let (_p, s) = server();
    let (_, beach) = s.post_json("/v1/plugins/caption-keywords/caption",
        &json!({"description": "sunset over the ocean at the beach", "style": "inspirational", "hashtag_count": 5})).await;
    let top = tags(&beach);
    for want in ["#beach", "#sunset", "#ocean"] {
        assert!(top.contains(&want.to_string()), "{want} missing from {top:?}");
    }
    let (_, coffee) = s.post_json("/v1/plugins/caption-keywords/caption",
        &json!({"description": "new espresso machine at our cafe", "style": "casual", "hashtag_count": 5})).await;
    let top = tags(&coffee);
    assert!(top.contains(&"#coffee".to_string()) && top.contains(&"#espresso".to_string()), "{top:?}");
    assert!(!top.contains(&"#beach".to_string()));
    let first = coffee["captions"][0]["text"].as_str().unwrap().to_lowercase();
    assert!(first.contains("espresso") || first.contains("cafe") || first.contains("machine"), "{first}");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let (_p, s) = server();
    let (status, body) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"description": "   ", "hashtag_count": 3})).await;
    assert_eq!(status, 422);
    assert!(error_message(&body, "invalid_input").contains("description is empty"));
    let (status, body) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"description": "cats", "hashtag_count": 1000})).await;
    assert_eq!(status, 422);
    assert!(error_message(&body, "invalid_input").contains("hashtag_count 1000"));
    let (status, body) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"description": "cats", "style": "sarcastic"})).await;
    assert_eq!(status, 400);
    assert!(error_message(&body, "bad_request").contains("sarcastic"));
    let (status, body) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"description": "the and of"})).await;
    assert_eq!(status, 422);
    assert!(error_message(&body, "invalid_input").contains("no usable words"));
}

#[tokio::test]
async fn streaming_yields_one_caption_per_line() {
    let (_p, s) = server();
    let r = s.client.post(s.url("/v1/plugins/caption-keywords/caption/stream"))
        .json(&json!({"description": "birthday party with friends", "style": "funny", "hashtag_count": 2, "max_captions": 5}))
        .send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines.iter().all(|l| l["text"].is_string() && l["score"].is_number()));
    // The streamed instance went back to the pool and serves the next call.
    let (status, _) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"description": "party"})).await;
    assert_eq!(status, 200);
    assert_eq!(s.plugin("caption-keywords").await["instances_created"], 1);
}
