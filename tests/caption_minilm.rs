//! caption-minilm: all-MiniLM-L6-v2 inside a component. Its embeddings match an
//! independent numpy implementation, its rankings follow the meaning of the
//! description, bad input and a missing model get clear errors, and a budget
//! that fits two model instances never lets a third in.

use hostel_tests::{error_message, plugin_source, repo, PluginsDir, Server};
use serde_json::{json, Value};

const MIB: u64 = 1024 * 1024;

const MODEL_DIR: &str = "/models/all-minilm-l6-v2";

/// Adds the plugin as `name`, granting the repository's models directory and
/// reading its model from `model_dir` inside it.
fn add_minilm(plugins: &PluginsDir, name: &str, model_dir: &str) {
    let models = repo().join("models");
    assert!(
        models.join("all-minilm-l6-v2/model.safetensors").exists(),
        "the weights are missing: run scripts/fetch-model.sh"
    );
    let (src, dst) = (plugin_source("caption-minilm"), plugins.path().join(name));
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join("caption-minilm.wasm"), dst.join("caption-minilm.wasm")).unwrap();
    let manifest = std::fs::read_to_string(src.join("hostel.toml"))
        .unwrap()
        .replacen("name = \"caption-minilm\"", &format!("name = {name:?}"), 1)
        .replace("host = \"../../models\"", &format!("host = {:?}", models.display().to_string()))
        .replace(&format!("model_dir = {MODEL_DIR:?}"), &format!("model_dir = {model_dir:?}"));
    std::fs::write(dst.join("hostel.toml"), manifest).unwrap();
}

fn server() -> (PluginsDir, Server) {
    let plugins = PluginsDir::new();
    add_minilm(&plugins, "caption-minilm", MODEL_DIR);
    let s = Server::start(&plugins);
    (plugins, s)
}

fn tags(body: &Value) -> Vec<String> {
    body["hashtags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn embeddings_match_the_numpy_reference() {
    let (_p, s) = server();
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/minilm/reference.json")).unwrap(),
    )
    .unwrap();
    let sentences = reference["sentences"].as_array().unwrap();
    let texts: Vec<&str> = sentences.iter().map(|s| s["text"].as_str().unwrap()).collect();
    // One batch: padded to the longest text, so the attention mask must do its job.
    let (status, body) = s.post_json("/v1/plugins/caption-minilm/invoke/embed", &json!({ "texts": texts })).await;
    assert_eq!(status, 200, "{body}");
    let got = body["result"].as_array().unwrap();
    assert_eq!(got.len(), sentences.len());
    for (sentence, vector) in sentences.iter().zip(got) {
        let (want, got) = (floats(&sentence["embedding"]), floats(vector));
        assert_eq!(got.len(), 384);
        let c = cosine(&want, &got);
        assert!(c >= 0.999, "{:?}: cosine {c}", sentence["text"]);
        let norm: f64 = got.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not unit length: {norm}");
    }
    // Alone, a text embeds the same as inside a padded batch.
    let (_, alone) = s.post_json("/v1/plugins/caption-minilm/invoke/embed", &json!({ "texts": [texts[6]] })).await;
    let c = cosine(&floats(&alone["result"][0]), &floats(&got[6]));
    assert!(c > 0.99999, "batching changed an embedding: {c}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rankings_follow_the_meaning_of_the_description() {
    let (_p, s) = server();
    let (status, beach) = s.post_json("/v1/plugins/caption-minilm/caption",
        &json!({"description": "sunset over the ocean at the beach", "style": "inspirational", "hashtag_count": 5, "max_captions": 3})).await;
    assert_eq!(status, 200, "{beach}");
    let top = tags(&beach);
    assert_eq!(top.len(), 5);
    let beachy = ["#beach", "#sunset", "#ocean", "#sea", "#seaside", "#beachlife", "#sunsets", "#coast", "#waves", "#goldenhour"];
    assert!(top.iter().filter(|t| beachy.contains(&t.as_str())).count() >= 3, "{top:?}");
    let first = beach["captions"][0]["text"].as_str().unwrap().to_lowercase();
    assert!(["beach", "ocean", "sea", "sunset", "wave", "shore"].iter().any(|w| first.contains(w)), "{first}");

    let (_, coffee) = s.post_json("/v1/plugins/caption-minilm/caption",
        &json!({"description": "new espresso machine at our cafe", "style": "professional", "hashtag_count": 5, "max_captions": 3})).await;
    let top = tags(&coffee);
    let coffeeish = ["#coffee", "#espresso", "#cafe", "#barista", "#latte", "#coffeetime", "#coffeeshop", "#cappuccino", "#coffeelover"];
    assert!(top.iter().filter(|t| coffeeish.contains(&t.as_str())).count() >= 3, "{top:?}");
    assert!(!top.iter().any(|t| beachy.contains(&t.as_str())), "{top:?}");
    let first = coffee["captions"][0]["text"].as_str().unwrap().to_lowercase();
    assert!(["coffee", "espresso", "cafe", "barista", "latte"].iter().any(|w| first.contains(w)), "{first}");

    // Exactly the asked number of distinct tags, captions ranked best first.
    for n in [0usize, 1, 30] {
        let (status, body) = s.post_json("/v1/plugins/caption-minilm/caption",
            &json!({"description": "my dog playing in the snow", "style": "funny", "hashtag_count": n, "max_captions": 20})).await;
        assert_eq!(status, 200, "{body}");
        let mut t = tags(&body);
        assert_eq!(t.len(), n);
        t.sort();
        t.dedup();
        assert_eq!(t.len(), n, "duplicate tags");
        let scores: Vec<f64> = body["captions"].as_array().unwrap().iter().map(|c| c["score"].as_f64().unwrap()).collect();
        assert_eq!(scores.len(), 20);
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }
    // One instance loaded the model once and served every call.
    assert_eq!(s.plugin("caption-minilm").await["instances_created"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_yields_the_same_captions_one_per_line() {
    let (_p, s) = server();
    let request = json!({"description": "hiking up a mountain trail at sunrise", "style": "casual", "hashtag_count": 3, "max_captions": 4});
    let (_, whole) = s.post_json("/v1/plugins/caption-minilm/caption", &request).await;
    let r = s.client.post(s.url("/v1/plugins/caption-minilm/caption/stream")).json(&request).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let texts: Vec<&Value> = lines.iter().map(|l| &l["text"]).collect();
    let want: Vec<&Value> = whole["captions"].as_array().unwrap().iter().map(|c| &c["text"]).collect();
    assert_eq!(texts, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_and_a_missing_model_get_clear_errors() {
    let plugins = PluginsDir::new();
    add_minilm(&plugins, "caption-minilm", MODEL_DIR);
    add_minilm(&plugins, "minilm-nowhere", "/models/no-such-model");
    add_minilm(&plugins, "minilm-wrong", "/models");
    let s = Server::start(&plugins);

    let url = "/v1/plugins/caption-minilm/caption";
    let (status, body) = s.post_json(url, &json!({"description": "  ", "hashtag_count": 3})).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body, "invalid_input").contains("description is empty"));
    let (status, body) = s.post_json(url, &json!({"description": "cats", "hashtag_count": 100000})).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body, "invalid_input").contains("hashtag_count 100000 is out of range 0..=30"));
    let (status, body) = s.post_json(url, &json!({"description": "cats", "hashtag_count": -1})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s.post_json("/v1/plugins/caption-minilm/invoke/embed", &json!({"texts": vec!["x"; 300]})).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body, "invalid_input").contains("at most 256"));

    let (status, body) = s.post_json("/v1/plugins/minilm-nowhere/caption", &json!({"description": "cats"})).await;
    assert_eq!(status, 502, "{body}");
    let message = error_message(&body, "upstream_unavailable");
    assert!(message.contains("/models/no-such-model") && message.contains("scripts/fetch-model.sh"), "{message}");
    // A directory that holds no model names the file it misses.
    let (status, body) = s.post_json("/v1/plugins/minilm-wrong/caption", &json!({"description": "cats"})).await;
    assert_eq!(status, 502, "{body}");
    let message = error_message(&body, "upstream_unavailable");
    assert!(message.contains("/models/config.json") && message.contains("scripts/fetch-model.sh"), "{message}");
    // The broken one fails alone.
    let (status, _) = s.post_json(url, &json!({"description": "cats", "hashtag_count": 2})).await;
    assert_eq!(status, 200);
}

fn instances(report: &Value, plugin: &str) -> usize {
    report["plugins"].as_array().unwrap().iter().filter(|p| p["name"] == plugin).map(|p| p["instances"].as_array().unwrap().len()).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_for_two_instances_never_admits_a_third() {
    let plugins = PluginsDir::new();
    add_minilm(&plugins, "caption-minilm", MODEL_DIR);
    let config = plugins.config("[memory]\nbudget = '448MiB'\nmin_idle = '1h'\ncheck_interval = '50ms'\nadmission_wait = '200ms'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    // Compiled and warm: one instance holds the model.
    let (status, _) = s.post_json("/v1/plugins/caption-minilm/caption", &json!({"description": "warm up"})).await;
    assert_eq!(status, 200);

    let done = std::sync::atomic::AtomicBool::new(false);
    let call = |i: usize| {
        let s = &s;
        async move {
            let body = json!({"texts": vec![format!("sentence number {i} about a long walk on the beach at dusk"); 200]});
            s.post_json("/v1/plugins/caption-minilm/invoke/embed", &body).await
        }
    };
    let watch = async {
        let (mut most, mut peak) = (0, 0);
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let (_, report) = s.get("/v1/admin/memory").await;
            most = most.max(instances(&report, "caption-minilm"));
            peak = peak.max(report["used"].as_u64().unwrap());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        (most, peak)
    };
    let calls = async {
        let r = futures::future::join3(call(1), call(2), call(3)).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    };
    let (((a, _), (b, _), (c, third)), (most, peak)) = futures::future::join(calls, watch).await;
    let mut statuses = [a, b, c];
    statuses.sort();
    assert!(statuses == [200, 200, 200] || statuses == [200, 200, 503], "{statuses:?}, call 3 answered {third}");
    assert_eq!(most, 2, "two model instances ran at once, never three");
    assert!(peak <= 448 * MIB, "the ledger went over budget: {peak}");
    let (_, report) = s.get("/v1/admin/memory").await;
    let per_instance: Vec<u64> = report["plugins"][0]["instances"].as_array().unwrap().iter().map(|i| i["memory_bytes"].as_u64().unwrap()).collect();
    assert!(!per_instance.is_empty() && per_instance.iter().all(|&m| m > 100 * MIB && m <= 256 * MIB), "{per_instance:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_texts_are_truncated_and_batched_within_the_memory_limit() {
    let (_p, s) = server();
    // 24 texts far past 256 tokens: in one padded batch, attention alone would need ~300 MB.
    let texts: Vec<String> = (0..24)
        .map(|i| (0..600).map(|w| format!("token{} ", (i * 7 + w) % 97)).collect::<String>())
        .collect();
    let (status, body) = s.post_json("/v1/plugins/caption-minilm/invoke/embed", &json!({ "texts": texts })).await;
    assert_eq!(status, 200, "{body}");
    let vectors = body["result"].as_array().unwrap();
    assert_eq!(vectors.len(), 24);
    for v in vectors {
        let v = floats(v);
        let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!(v.len() == 384 && (norm - 1.0).abs() < 1e-4);
    }
    let info = s.plugin("caption-minilm").await;
    assert_eq!((info["instances_created"].as_u64(), info["errors"].as_u64()), (Some(1), Some(0)), "{info}");
}

/// Entries and bytes in the plugins' shared cache.
async fn shared_entries(s: &Server) -> u64 {
    let (_, cache) = s.get("/v1/cache").await;
    cache["shared"]["entries"].as_u64().unwrap_or_else(|| panic!("{cache}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bundled_vocabulary_is_what_the_component_would_embed() {
    // The same weights under another guest path: the bundle's keys name the default
    // path, so this copy embeds its vocabularies itself (seconds) and shares them
    // through the host's cache.
    let plugins = PluginsDir::new();
    add_minilm(&plugins, "caption-minilm", MODEL_DIR);
    add_minilm(&plugins, "minilm-embeds", &format!("{MODEL_DIR}/"));
    let s = Server::start(&plugins);
    let requests = [
        json!({"description": "sunset over the ocean at the beach", "style": "inspirational", "hashtag_count": 30, "max_captions": 20}),
        json!({"description": "new espresso machine at our cafe", "style": "professional", "hashtag_count": 30, "max_captions": 20}),
    ];
    let mut bundled = Vec::new();
    for r in &requests {
        let (status, body) = s.post_json("/v1/plugins/caption-minilm/caption", r).await;
        assert_eq!(status, 200, "{body}");
        bundled.push(body);
    }
    assert_eq!(shared_entries(&s).await, 0, "the default model read its vocabularies from the bundle, embedding none");
    for (r, want) in requests.iter().zip(&bundled) {
        let (status, got) = s.post_json("/v1/plugins/minilm-embeds/caption", r).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(tags(&got), tags(want), "same hashtags in the same order");
        let (a, b) = (got["captions"].as_array().unwrap(), want["captions"].as_array().unwrap());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            let (sx, sy) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
            assert!((sx - sy).abs() < 1e-4, "{x} vs {y}");
        }
    }
    // hashtags, inspirational and professional, embedded by the component.
    assert_eq!(shared_entries(&s).await, 3);
}
