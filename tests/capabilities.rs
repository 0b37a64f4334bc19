//! Deny by default: a plugin without grants reads no file and no environment
//! variable of the host; with grants it reaches exactly the directory (read
//! only) and the variables it was given, and nothing around them. (Outbound
//! HTTP limited to `allowed_hosts` is proven in tests/connector.rs.)

use hostel_tests::{PluginsDir, Server};
use serde_json::Value;

async fn run(s: &Server, plugin: &str, command: &str) -> (u16, Value) {
    s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), command.as_bytes().to_vec()).await
}

fn denied(answer: &(u16, Value)) -> bool {
    answer.0 == 403 && answer.1["error"]["code"] == "denied"
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_reach_exactly_what_their_manifest_grants() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("bare", 0, "memory = '32MiB'");
    plugins.add("faulty", |m| m + "\n[capabilities]\nread_only_dirs = [{ host = 'data', guest = '/data' }]\nenv = { MODE = 'fast' }\n");
    let data = plugins.path().join("faulty/data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("secret.txt"), "granted text").unwrap();
    let host_file = plugins.path().join("faulty/hostel.toml");
    std::env::set_var("HOSTEL_TEST_SECRET", "host only");
    let s = Server::start(&plugins);

    // No grants: no files (not even by the host's absolute paths), no environment.
    for command in ["read:/etc/hostname", "read:/data/secret.txt", &format!("read:{}", host_file.display()), "write:/tmp/x"] {
        let answer = run(&s, "bare", command).await;
        assert!(denied(&answer), "{command}: {answer:?}");
    }
    for command in ["env:HOME", "env:PATH", "env:HOSTEL_TEST_SECRET", "env:MODE"] {
        let answer = run(&s, "bare", command).await;
        assert!(denied(&answer), "{command}: {answer:?}");
    }

    // Granted: the directory, read only, and the one variable.
    let (status, body) = run(&s, "faulty", "read:/data/secret.txt").await;
    assert_eq!((status, body["title"].as_str()), (200, Some("granted text")), "{body}");
    let (status, body) = run(&s, "faulty", "env:MODE").await;
    assert_eq!((status, body["title"].as_str()), (200, Some("fast")), "{body}");
    for command in [
        "write:/data/new.txt",            // read only
        "read:/data/../hostel.toml",      // no way out of the grant
        "read:/etc/hostname",
        "env:HOSTEL_TEST_SECRET",
        "env:HOME",
    ] {
        let answer = run(&s, "faulty", command).await;
        assert!(denied(&answer), "{command}: {answer:?}");
    }
    assert!(!data.join("new.txt").exists());
}
