//! Open worlds: a component of a world the host has never heard of
//! (`kind = "component"`), called through generic invoke, batch and jobs; an
//! import the host lacks refused at upload; a wasip1 core module made a
//! component; both contract versions of the PDF world; kinds listed.

use hostel_tests::{built, error_message, pdf::make_pdf, PluginsDir, Server};
use serde_json::{json, Value};

fn component_manifest(name: &str) -> String {
    format!("name = '{name}'\nversion = '1.0.0'\nkind = 'component'\n[limits]\nmemory = '16MiB'\ncall_timeout = '5s'\n")
}

async fn invoke(s: &Server, plugin: &str, export: &str, args: Value) -> (u16, Value) {
    s.post_json(&format!("/v1/plugins/{plugin}/invoke/{export}"), &args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_of_an_unknown_world_is_listed_and_called_through_invoke_batch_and_a_job() {
    let plugins = PluginsDir::new();
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, body) = s.upload(&component_manifest("adder"), built("tests/plugins/adder/adder.wasm")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["plugin"]["kind"], "component");

    let (status, exports) = s.get("/v1/plugins/adder/exports").await;
    assert_eq!(status, 200, "{exports}");
    let names: Vec<&str> = exports["exports"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"add"), "{names:?}");
    assert!(names.contains(&"test:adder/shapes@0.1.0#scale") && names.contains(&"test:adder/shapes@0.1.0#summarize"), "nested interfaces listed: {names:?}");
    let add = exports["exports"].as_array().unwrap().iter().find(|e| e["name"] == "add").unwrap();
    assert_eq!(add["params"], json!([{"name": "a", "type": "u32"}, {"name": "b", "type": "u32"}]), "{add}");

    let (status, body) = invoke(&s, "adder", "add", json!({"a": 2, "b": 40})).await;
    assert_eq!((status, &body["result"]), (200, &json!(42)), "{body}");
    let (status, body) = invoke(&s, "adder", "shapes%23summarize", json!({"values": [3, 9, 4], "label": "three"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!({"count": 3, "total": 16, "largest": 9, "label": "three"}));
    let (status, body) = invoke(&s, "adder", "shapes%23scale", json!({"points": [{"x": 1.0, "y": -2.5}], "factor": 2.0})).await;
    assert_eq!((status, &body["result"]), (200, &json!([{"x": 2.0, "y": -5.0}])), "{body}");
    // A type error names the parameter; an unknown export lists what there is.
    let (status, body) = invoke(&s, "adder", "add", json!({"a": "two", "b": 1})).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body, "bad_request").contains('a'), "{body}");
    let (status, body) = invoke(&s, "adder", "subtract", json!({})).await;
    assert_eq!(status, 404, "{body}");

    let items = json!([
        {"plugin": "adder", "export": "add", "args": [1, 1]},
        {"plugin": "adder", "export": "shapes#summarize", "args": {"values": [], "label": "none"}},
    ]);
    let (status, body) = s.post_json("/v1/batch", &json!({"items": items, "concurrency": 2})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["result"], 2);
    assert_eq!(body["results"][1]["result"], json!({"count": 0, "total": 0, "largest": null, "label": "none"}));

    let (status, queued) = s.post_json("/v1/jobs", &json!({"stages": [{"plugin": "adder", "export": "add", "args": {"a": 20, "b": 22}}]})).await;
    assert_eq!(status, 202, "{queued}");
    let done = s.wait_for(&format!("/v1/jobs/{}", queued["id"]), 30, |j| j["finished_ms"].is_u64()).await;
    assert_eq!((done["state"].as_str(), &done["result"]), (Some("succeeded"), &json!(42)), "{done}");

    // Pools, history and the ledger see it like any plugin.
    let info = s.plugin("adder").await;
    assert!(info["instances_reused"].as_u64().unwrap() >= 1 && info["calls"].as_u64().unwrap() >= 6, "{info}");
    s.wait_for("/v1/invocations?plugin=adder", 10, |page| page["total"].as_u64() >= Some(6)).await;
    // Typed routes refuse it with the kinds named.
    let (status, body) = s.get("/v1/plugins/adder/connector").await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body, "wrong_kind").contains("component"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_the_host_lacks_and_kinds_it_does_not_know_are_refused_at_upload() {
    let plugins = PluginsDir::new();
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, body) = s.upload(&component_manifest("needs-missing"), built("tests/plugins/needs-missing/needs-missing.wasm")).await;
    assert_eq!(status, 422, "{body}");
    let message = error_message(&body, "invalid_component");
    assert!(message.contains("test:missing/clock"), "names the import: {message}");
    let (status, body) = s.get("/v1/plugins/needs-missing").await;
    assert_eq!(status, 404, "never registered: {body}");

    let manifest = component_manifest("printer").replace("kind = 'component'", "kind = 'printer'");
    let (status, body) = s.upload(&manifest, built("tests/plugins/adder/adder.wasm")).await;
    assert_eq!(status, 400, "{body}");
    let message = error_message(&body, "invalid_manifest");
    assert!(message.contains("printer") && message.contains("component") && message.contains("pdf-processor"), "{message}");

    // A typed kind checks the world's exports, naming what is missing.
    let manifest = component_manifest("not-a-pdf").replace("kind = 'component'", "kind = 'pdf-processor'");
    let (status, body) = s.upload(&manifest, built("tests/plugins/adder/adder.wasm")).await;
    assert_eq!(status, 422, "{body}");
    let message = error_message(&body, "invalid_component");
    assert!(message.contains("pdf-processor") && message.contains("hostel:plugin/pdf"), "{message}");

    let (status, kinds) = s.get("/v1/kinds").await;
    assert_eq!(status, 200);
    let pdf = kinds["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "pdf-processor").unwrap();
    assert_eq!(pdf["wit"], json!(["hostel:plugin/pdf-processor@0.2.0", "hostel:plugin/pdf-processor@0.1.0"]), "{kinds}");
    assert!(kinds["kinds"].as_array().unwrap().iter().any(|k| k["kind"] == "component"), "{kinds}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasip1_module_is_made_a_component_called_and_kept_across_a_restart() {
    let module = built("tests/plugins/wasip1-calc/wasip1-calc.wasm");
    assert_eq!(&module[4..8], &[1, 0, 0, 0], "the test input is a core module");
    let plugins = PluginsDir::new();
    // The plugins-directory route: made a component at scan.
    plugins.add_raw("calc-dir", "name = 'calc-dir'\nversion = '1'\nkind = 'component'\ncomponent = 'calc.wasm'\n", &[("calc.wasm", &module)]);
    plugins.add_raw("bare", "name = 'bare'\nversion = '1'\nkind = 'component'\ncomponent = 'bare.wasm'\n", &[("bare.wasm", b"\0asm\x01\0\0\0")]);
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, body) = s.upload(&component_manifest("calc"), module.clone()).await;
    assert_eq!(status, 201, "{body}");
    for plugin in ["calc", "calc-dir"] {
        let (status, body) = invoke(&s, plugin, "add", json!({"a": 7, "b": 8})).await;
        assert_eq!((status, &body["result"]), (200, &json!(15)), "{plugin}: {body}");
        let (status, body) = invoke(&s, plugin, "greet", json!({"name": "wasip1"})).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["result"].as_str().unwrap().contains("wasip1"), "{body}");
    }
    // What is stored is the component, not the module.
    let stored: Vec<_> = std::fs::read_dir(data.path().join("components")).unwrap().flatten().collect();
    assert_eq!(stored.len(), 1);
    let bytes = std::fs::read(stored[0].path()).unwrap();
    assert_ne!(&bytes[4..8], &[1, 0, 0, 0], "a component is stored");
    // A module without a world is rejected, saying so.
    let (_, list) = s.get("/v1/plugins").await;
    let bare = list["rejected"].as_array().unwrap().iter().find(|r| r["path"].as_str().unwrap().contains("bare")).expect("bare rejected");
    assert!(bare["error"].as_str().unwrap().contains("without a WIT world"), "{bare}");
    let (status, body) = s.upload(&component_manifest("bare-up"), b"\0asm\x01\0\0\0".to_vec()).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body, "invalid_component").contains("without a WIT world"), "{body}");

    s.stop();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, body) = invoke(&s, "calc", "add", json!([1, 2])).await;
    assert_eq!((status, &body["result"]), (200, &json!(3)), "kept across a restart: {body}");
}

/// pdf-text is built against contract 0.2.0 (page stream); pdf-text-v1 is the
/// same code built against 0.1.0. Both answer every typed PDF route alike.
#[tokio::test(flavor = "multi_thread")]
async fn pdf_components_of_both_contract_versions_answer_the_same_routes() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    let v1 = built("tests/plugins/pdf-text-v1/pdf-text-v1.wasm");
    plugins.add_raw(
        "pdf-text-v1",
        "name = 'pdf-text-v1'\nversion = '0.1.0'\nkind = 'pdf-processor'\ncomponent = 'pdf-text-v1.wasm'\n[limits]\nmemory = '64MiB'\n",
        &[("pdf-text-v1.wasm", &v1)],
    );
    let s = Server::start(&plugins);
    let pdf = make_pdf(&["first page words", "second page words", "third page words"], "Versions", "me");
    let mut answers = Vec::new();
    for plugin in ["pdf-text", "pdf-text-v1"] {
        let (status, info) = s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), pdf.clone()).await;
        assert_eq!(status, 200, "{plugin}: {info}");
        let (status, text) = s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/text?first=2"), pdf.clone()).await;
        assert_eq!(status, 200, "{plugin}: {text}");
        let r = s.client.post(s.url(&format!("/v1/plugins/{plugin}/pdf/text/stream"))).body(pdf.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let lines: Vec<Value> = r.text().await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{plugin}: {lines:?}");
        assert_eq!(lines[2]["page"], 3);
        assert!(lines[0]["text"].as_str().unwrap().contains("first page"), "{lines:?}");
        // A range outside the document fails before any line.
        let r = s.client.post(s.url(&format!("/v1/plugins/{plugin}/pdf/text/stream?first=4"))).body(pdf.clone()).send().await.unwrap();
        assert_eq!(r.status(), 422, "{plugin}");
        answers.push((info, text, lines));
    }
    assert_eq!(answers[0], answers[1], "0.1.0 and 0.2.0 answer alike");
    let (_, info) = s.get("/v1/plugins/pdf-text-v1").await;
    assert_eq!(info["state"], "loaded");
}

/// An embedder's own world (examples/custom-world, outside host/) runs
/// through the same pools, limits, ledger and history as the built-in kinds.
#[tokio::test(flavor = "multi_thread")]
async fn an_embedders_world_runs_through_the_host() {
    use hostel_example_custom_world as tokenizer;
    let plugins = PluginsDir::new();
    let guest = built("examples/custom-world/guest/tokenizer-guest.wasm");
    plugins.add_raw(
        "words",
        "name = 'words'\nversion = '1'\nkind = 'tokenizer'\ncomponent = 'tokenizer.wasm'\n[limits]\nmemory = '16MiB'\nmemory_estimate = '2MiB'\n",
        &[("tokenizer.wasm", &guest)],
    );
    // The same component declared as another typed kind is refused at load.
    plugins.add_raw("wrong", "name = 'wrong'\nversion = '1'\nkind = 'connector'\ncomponent = 'tokenizer.wasm'\n", &[("tokenizer.wasm", &guest)]);
    let host = hostel::Host::builder().world(tokenizer::world()).plugins_dir(plugins.path()).build().unwrap();
    assert!(host.kinds().iter().any(|(k, wit)| k == "tokenizer" && wit == &["example:tokenizer/tokenizer@0.1.0"]));
    assert_eq!(host.plugin_info("words").unwrap().state, hostel::State::Registered, "lazy like every plugin");

    let tokens = tokenizer::split(&host, "words", "three little  words").await.unwrap();
    let texts: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["three", "little", "words"]);
    assert_eq!((tokens[2].start, tokens[2].end), (14, 19));
    assert_eq!(tokenizer::count_words(&host, "words", "a b c d").await.unwrap(), 4);
    // Generic invoke reaches it too.
    let n = host.invoke_json("words", "count-words", &json!({"text": "one two"})).await.unwrap();
    assert_eq!(n, json!(2));

    let info = host.plugin_info("words").unwrap();
    assert_eq!((info.calls, info.instances_created), (3, 1), "one warm instance served every call: {info:?}");
    let report = host.memory();
    let words = report.plugins.iter().find(|p| p.name == "words").expect("in the memory report");
    assert!(words.instance_bytes > 0 && words.instances.len() == 1 && words.compiled_bytes > 0, "its instance and code are in the ledger: {words:?}");
    // Typed calls check the kind; a plugin of the world's kind that is not of its world is refused.
    let e = tokenizer::count_words(&host, "wrong", "x").await.unwrap_err();
    assert_eq!(e.code(), "wrong_kind", "{e}");
    let e = host.connector_describe("wrong").await.unwrap_err();
    assert!(e.to_string().contains("connector-plugin"), "{e}");
}

/// Plugins written in Python (componentize-py) and JavaScript (componentize-js)
/// from wit/0.1.0 unchanged answer their typed routes.
#[tokio::test(flavor = "multi_thread")]
async fn python_and_javascript_plugins_answer_their_typed_routes() {
    let plugins = PluginsDir::new();
    for (dir, wasm) in [("python-caption", "python-caption.wasm"), ("js-connector", "js-connector.wasm")] {
        let manifest = std::fs::read_to_string(hostel_tests::repo().join("examples").join(dir).join("hostel.toml")).unwrap();
        plugins.add_raw(dir, &manifest, &[(wasm, &built(&format!("examples/{dir}/{wasm}")))]);
    }
    let s = Server::start(&plugins);
    let request = json!({"description": "sunset over the ocean at the beach", "style": "inspirational", "hashtag_count": 4, "max_captions": 2});
    let (status, body) = s.post_json("/v1/plugins/python-caption/caption", &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hashtags"].as_array().unwrap().len(), 4, "{body}");
    let captions = body["captions"].as_array().unwrap();
    assert!(!captions.is_empty() && captions.len() <= 2, "{body}");
    let r = s.client.post(s.url("/v1/plugins/python-caption/caption/stream")).json(&request).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let lines = r.text().await.unwrap();
    assert!(!lines.trim().is_empty() && lines.lines().all(|l| serde_json::from_str::<Value>(l).unwrap()["text"].is_string()), "{lines}");
    // componentize-py's leftover `init` export is hidden, and refused by name.
    let (_, exports) = s.get("/v1/plugins/python-caption/exports").await;
    let names: Vec<&str> = exports["exports"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| !n.ends_with("#init")) && names.iter().any(|n| n.ends_with("#generate")), "{names:?}");
    let (status, body) = s.post_json("/v1/plugins/python-caption/invoke/exports%23init", &json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body, "bad_request").contains("componentize-py"), "{body}");

    let (status, body) = s.get("/v1/plugins/js-connector/connector").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["operations"].as_array().unwrap().iter().any(|o| o == "convert"), "{body}");
    let (status, body) = s.post_json("/v1/plugins/js-connector/connector/call", &json!({"operation": "convert", "args": {"value": 10, "from": "km", "to": "mi"}})).await;
    assert_eq!(status, 200, "{body}");
    assert!((body["result"]["value"].as_f64().unwrap() - 6.21371).abs() < 1e-4, "{body}");
    let (status, body) = s.post_json("/v1/plugins/js-connector/connector/call", &json!({"operation": "convert", "args": {"value": 1, "from": "parsec", "to": "mi"}})).await;
    assert_eq!(status, 404, "a thrown plugin-error keeps its code: {body}");
}
