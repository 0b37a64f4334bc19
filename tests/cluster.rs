//! Past one machine, with real parts on loopback: plugins pushed to Debian's
//! `docker-registry` with `hostel plugin push`, pulled lazily by hosts that
//! name them by `oci://` reference or follow a catalogue, and three nodes
//! behind HAProxy with deploy/haproxy/haproxy.cfg.

use hostel_tests::cluster::{push, Balancer, Registry};
use hostel_tests::{decode, plugin_source, PluginsDir, Server};
use serde_json::{json, Value};
use sha2::Digest;
use std::path::Path;
use std::time::{Duration, Instant};

const ECHO: &str = "/connector/call";

async fn echo(client: &reqwest::Client, base: &str, plugin: &str, text: &str) -> (u16, Value) {
    let url = format!("{base}/v1/plugins/{plugin}{ECHO}");
    decode(client.post(url).json(&json!({"operation": "echo", "args": text})).send().await.unwrap()).await
}

/// A plugin folder: the built `source` plugin's component with `manifest`.
fn folder(source: &str, manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let wasm = format!("{source}.wasm");
    std::fs::copy(plugin_source(source).join(&wasm), dir.path().join(&wasm)).unwrap();
    std::fs::write(dir.path().join("hostel.toml"), manifest.replace("COMPONENT", &wasm)).unwrap();
    dir
}

fn hello(name: &str, version: &str) -> tempfile::TempDir {
    folder("hello-connector", &format!("name = '{name}'\nversion = '{version}'\nkind = 'connector'\ncomponent = 'COMPONENT'\n[limits]\nmemory = '16MiB'\n"))
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_pushed_plugin_is_registered_without_a_pull_and_pulled_by_its_first_call() {
    let mut registry = Registry::start();
    let plugin = hello("hello", "1.0.0");
    let reference = registry.reference("plugins/hello:1.0.0");
    let pushed = push(plugin.path(), &reference, None);
    let digest = pushed["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:") && pushed["source"].as_str().unwrap().ends_with(&digest), "{pushed}");

    // The artifact is in the Wasm OCI layout: wasm config, one application/wasm layer.
    let manifest: Value = reqwest::Client::new()
        .get(format!("http://{}/v2/plugins/hello/manifests/1.0.0", registry.addr))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json", "{manifest}");
    let wasm = std::fs::read(plugin.path().join("hello-connector.wasm")).unwrap();
    let wasm_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&wasm)));
    let layers = manifest["layers"].as_array().unwrap();
    assert!(layers.iter().any(|l| l["mediaType"] == "application/wasm" && l["digest"] == wasm_digest.as_str()), "{manifest}");

    // A plugins-dir manifest naming the reference: registered, nothing fetched.
    let plugins = PluginsDir::new();
    plugins.add_raw("hello", &format!("name = 'oci-hello'\nversion = '1'\nkind = 'connector'\nsource = '{reference}'\n"), &[]);
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let info = s.plugin("oci-hello").await;
    assert_eq!(info["state"], "registered", "{info}");
    assert_eq!(info["oci_source"], reference.as_str());
    assert!(info["oci_digest"].is_null(), "not pulled yet: {info}");
    assert!(files_in(&data.path().join("oci")).is_empty(), "nothing pulled before the first call");

    // The first call pulls (sha256 checked), compiles and answers.
    let started = Instant::now();
    let (status, body) = echo(&s.client, &s.base, "oci-hello", "from the registry").await;
    let first = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("from the registry"), "{body}");
    let info = s.plugin("oci-hello").await;
    assert_eq!(info["oci_digest"], digest.as_str(), "{info}");
    assert_eq!(info["sha256"], wasm_digest.trim_start_matches("sha256:"), "{info}");
    let stored = data.path().join("oci").join(format!("{}.wasm", wasm_digest.trim_start_matches("sha256:")));
    assert_eq!(std::fs::read(&stored).unwrap(), wasm, "stored content-addressed");
    println!("pull + compile + first call from a loopback registry: {:.0} ms", first.as_secs_f64() * 1e3);

    // An upload may name a source too: recorded, pulled on first use, kept across a restart.
    let manifest = format!("name = 'uploaded-hello'\nversion = '1'\nkind = 'connector'\nsource = '{}'\n", pushed["source"].as_str().unwrap());
    let form = reqwest::multipart::Form::new().text("manifest", manifest);
    let (status, body) = decode(s.client.post(s.url("/v1/plugins")).multipart(form).send().await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["plugin"]["state"], "registered", "{body}");
    let (status, body) = echo(&s.client, &s.base, "uploaded-hello", "pinned").await;
    assert_eq!(status, 200, "{body}");
    // Both manifests name the same bytes: one stored file.
    assert_eq!(files_in(&data.path().join("oci")).iter().filter(|f| f.ends_with(".wasm")).count(), 1);
    // A reference pinned by digest, pulled once, needs no registry after a restart.
    s.stop();
    registry.stop();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, body) = echo(&s.client, &s.base, "uploaded-hello", "after a restart").await;
    assert_eq!(status, 200, "registry down, blob on disk: {body}");
    // ... and a stored blob changed on disk is refused at its next load, not run.
    let mut bytes = std::fs::read(&stored).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let (status, _) = s.client.post(s.url("/v1/plugins/uploaded-hello/unload")).send().await.map(|r| (r.status().as_u16(), ())).unwrap();
    assert_eq!(status, 200);
    let (status, body) = echo(&s.client, &s.base, "uploaded-hello", "changed").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("changed on disk"), "{body}");
    registry.restart();

    // A manifest naming both a file and a source is refused with the field named.
    let form = reqwest::multipart::Form::new().text("manifest", format!("name = 'both'\nversion = '1'\nkind = 'connector'\ncomponent = 'x.wasm'\nsource = '{reference}'\n"));
    let (status, body) = decode(s.client.post(s.url("/v1/plugins")).multipart(form).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("source"), "{body}");
    // So is a `sha256` form field beside a source (the pin belongs in the manifest).
    let form = reqwest::multipart::Form::new()
        .text("manifest", format!("name = 'pinned'\nversion = '1'\nkind = 'connector'\nsource = '{reference}'\n"))
        .text("sha256", "0".repeat(64));
    let (status, body) = decode(s.client.post(s.url("/v1/plugins")).multipart(form).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");

    // Removing a name a catalogue does not list fails and publishes nothing.
    let missing = registry.reference("hostel/none:1");
    let out = std::process::Command::new(hostel_tests::binary()).args(["catalogue", "rm", &missing, "nope"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("does not list"), "{out:?}");
    let r = reqwest::Client::new().get(format!("http://{}/v2/hostel/none/manifests/1", registry.addr)).send().await.unwrap();
    assert_eq!(r.status(), 404, "no catalogue was pushed");
}

#[tokio::test]
async fn a_tampered_blob_is_refused_and_a_registry_down_is_a_502_while_the_rest_serves() {
    let mut registry = Registry::start();
    let tampered = hello("tampered", "1");
    let tampered_ref = registry.reference("plugins/tampered:1");
    push(tampered.path(), &tampered_ref, None);
    // Other bytes than `tampered` (the registry stores blobs once per digest).
    let plain = folder("faulty", "name = 'plain'\nversion = '1'\nkind = 'pdf-processor'\ncomponent = 'COMPONENT'\n");
    let plain_ref = registry.reference("plugins/plain:1");
    push(plain.path(), &plain_ref, None);

    // Change the component's bytes on the registry's disk (same length).
    let wasm = std::fs::read(tampered.path().join("hello-connector.wasm")).unwrap();
    let blob = registry.blob_file(&format!("sha256:{}", hex::encode(sha2::Sha256::digest(&wasm))));
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();

    let plugins = PluginsDir::new();
    plugins.add_raw("tampered", &format!("name = 'tampered'\nversion = '1'\nkind = 'connector'\nsource = '{tampered_ref}'\n"), &[]);
    plugins.add_raw("plain", &format!("name = 'plain'\nversion = '1'\nkind = 'pdf-processor'\nsource = '{plain_ref}'\n"), &[]);
    plugins.add("hello-connector", |m| m);
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, body) = echo(&s.client, &s.base, "tampered", "x").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_failed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("digest") && message.contains("refused"), "{message}");
    assert!(files_in(&data.path().join("oci")).is_empty(), "nothing of the tampered blob is kept: {:?}", files_in(&data.path().join("oci")));

    // The registry goes down before `plain`'s first use.
    registry.stop();
    let r = s.client.post(s.url("/v1/plugins/plain/pdf/info")).body("echo").send().await.unwrap();
    assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()), Some("5".into()));
    let (status, body) = decode(r).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "registry_unavailable", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&registry.addr), "{body}");
    // Everyone else is served; the next call tries the registry again (no sticky failure).
    let (status, body) = echo(&s.client, &s.base, "hello-connector", "still here").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.post_bytes("/v1/plugins/plain/pdf/info", b"echo".to_vec()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (502, Some("registry_unavailable")), "{body}");
    // A node following a catalogue it cannot read yet is not ready (a balancer sends it nothing).
    let (follower, _dir) = node("late", &registry.reference("hostel/catalogue:prod"), "");
    let (status, body) = follower.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.to_string().contains("not applied yet"), "{body}");
    registry.restart();
    let (status, body) = s.post_bytes("/v1/plugins/plain/pdf/info", b"echo".to_vec()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"], "echo", "{body}");
}

/// A node following `catalogue`, polling every 200 ms.
fn node(name: &str, catalogue: &str, extra: &str) -> (Server, PluginsDir) {
    let plugins = PluginsDir::new();
    let config = plugins.config(&format!(
        "node = '{name}'\n[catalogue]\nreference = '{catalogue}'\npoll_interval = '200ms'\n[memory]\nbudget = '72MiB'\nmin_idle = '30s'\nadmission_wait = '200ms'\ncheck_interval = '50ms'\n{extra}"
    ));
    (Server::start_with(&plugins, &["--config", &config]), plugins)
}

fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

async fn listed(s: &Server) -> Vec<(String, String)> {
    let (_, body) = s.get("/v1/plugins").await;
    let list = body.as_array().cloned().or_else(|| body["plugins"].as_array().cloned()).unwrap_or_default();
    list.iter().map(|p| (p["name"].as_str().unwrap_or_default().to_string(), p["version"].as_str().unwrap_or_default().to_string())).collect()
}

async fn calls_of(s: &Server, plugin: &str) -> u64 {
    let (status, body) = s.get(&format!("/v1/plugins/{plugin}")).await;
    if status != 200 {
        return 0;
    }
    body["calls"].as_u64().unwrap()
}

#[tokio::test]
async fn three_nodes_behind_haproxy_share_one_catalogue_keep_a_plugin_on_one_node_and_fail_over() {
    let registry = Registry::start();
    let catalogue = registry.reference("hostel/catalogue:prod");
    let hello_dir = hello("hello", "1");
    push(hello_dir.path(), &registry.reference("plugins/hello:1"), Some(&catalogue));
    let big = folder(
        "faulty",
        "name = 'big'\nversion = '1'\nkind = 'pdf-processor'\ncomponent = 'COMPONENT'\n[limits]\nmemory = '100MiB'\nmemory_estimate = '16MiB'\ncall_timeout = '20s'\n[pool]\nmax_instances = 8\n",
    );
    push(big.path(), &registry.reference("plugins/big:1"), Some(&catalogue));

    let nodes: Vec<(Server, PluginsDir)> = ["node1", "node2", "node3"].iter().map(|n| node(n, &catalogue, "")).collect();
    for (s, _) in &nodes {
        let deadline = Instant::now() + Duration::from_secs(20);
        while listed(s).await.len() < 2 {
            assert!(Instant::now() < deadline, "{} never listed the catalogue's plugins: {:?}", s.base, listed(s).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("hostel_memory_budget_bytes{node=\"node"), "node label missing:\n{}", &metrics[..metrics.len().min(600)]);
    }

    // A new version published once reaches every node within a poll or two.
    let v2 = hello("hello", "2");
    let published = Instant::now();
    push(v2.path(), &registry.reference("plugins/hello:2"), Some(&catalogue));
    let pushed_in = published.elapsed();
    let mut slowest = Duration::ZERO;
    for (s, _) in &nodes {
        while !listed(s).await.contains(&("hello".into(), "2".into())) {
            assert!(published.elapsed() < Duration::from_secs(10), "{} did not take version 2", s.base);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        slowest = slowest.max(published.elapsed());
    }
    println!("catalogue propagation: push {:.0} ms, all 3 nodes serve it after {:.0} ms (poll 200 ms)", pushed_in.as_secs_f64() * 1e3, slowest.as_secs_f64() * 1e3);

    let addrs: Vec<String> = nodes.iter().map(|(s, _)| addr(s)).collect();
    let lb = Balancer::start(&[("node1", &addrs[0]), ("node2", &addrs[1]), ("node3", &addrs[2])]);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    // One plugin's calls land on one node: its instances live there only.
    for i in 0..20 {
        let (status, body) = echo(&client, &lb.base, "hello", &format!("call {i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let mut counts = Vec::new();
    for (s, _) in &nodes {
        counts.push(calls_of(s, "hello").await);
    }
    assert_eq!(counts.iter().filter(|c| **c == 20).count(), 1, "calls per node: {counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), 20, "calls per node: {counts:?}");
    let owner = counts.iter().position(|c| *c == 20).unwrap();
    for (i, (s, _)) in nodes.iter().enumerate() {
        let (_, memory) = s.get("/v1/admin/memory").await;
        let holds = memory["plugins"].as_array().unwrap().iter().any(|p| {
            p["name"] == "hello" && (p["instance_bytes"].as_u64().unwrap_or(0) > 0 || !p["instances"].as_array().unwrap().is_empty())
        });
        assert_eq!(holds, i == owner, "node{} memory report: {memory}", i + 1);
    }

    // A node at over_budget sheds to the next node: `big` fills its node with
    // one busy 57 MiB instance; a second call meanwhile is retried elsewhere.
    let (status, body) = decode(client.post(lb.url("/v1/plugins/big/pdf/info")).body("alloc:58000").send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let mut big_counts = Vec::new();
    for (s, _) in &nodes {
        big_counts.push(calls_of(s, "big").await);
    }
    let big_owner = big_counts.iter().position(|c| *c == 1).unwrap();
    let holder = {
        let client = client.clone();
        let url = lb.url("/v1/plugins/big/pdf/info");
        tokio::spawn(async move { decode(client.post(url).body("sleep:3000").send().await.unwrap()).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, body) = decode(client.post(lb.url("/v1/plugins/big/pdf/info")).body("echo").send().await.unwrap()).await;
    assert_eq!(status, 200, "shed to another node: {body}");
    let (status, body) = holder.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let mut after = Vec::new();
    for (s, _) in &nodes {
        after.push(calls_of(s, "big").await);
    }
    // The owner served alloc and sleep and refused the echo; another node answered it.
    assert_eq!(after[big_owner], 3, "calls per node: {after:?}");
    assert_eq!(after.iter().sum::<u64>(), 4, "calls per node: {after:?}");
    let (_, owner_info) = nodes[big_owner].0.get("/v1/plugins/big").await;
    assert_eq!(owner_info["errors"], 1, "{owner_info}");
    let (_, history) = nodes[big_owner].0.get("/v1/invocations?plugin=big").await;
    assert!(history.to_string().contains("over_budget"), "the owner refused it with over_budget: {history}");

    // Kill hello's node: its traffic moves, no call fails (none was in flight).
    nodes[owner].0.kill9();
    let killed = Instant::now();
    for i in 0..30 {
        let (status, body) = echo(&client, &lb.base, "hello", &format!("after {i}")).await;
        assert_eq!(status, 200, "call {i} after the kill: {body}");
    }
    println!("30 calls after killing the owner node: all answered, {:.0} ms", killed.elapsed().as_secs_f64() * 1e3);
    let mut moved = Vec::new();
    for (i, (s, _)) in nodes.iter().enumerate() {
        if i != owner {
            moved.push(calls_of(s, "hello").await);
        }
    }
    assert_eq!(moved.iter().sum::<u64>(), 30, "{moved:?}");
    assert!(moved.contains(&30), "the plugin moved to one node, not spread: {moved:?}");
}
