//! Real parts for the scale-out tests: Debian's `docker-registry` (the CNCF
//! distribution registry) and `haproxy`, started on loopback ports and
//! stopped on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_status(url: &str) -> Option<u16> {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|c| *c != 0)
}

/// `docker-registry serve` with its storage in a temp dir.
pub struct Registry {
    child: Option<Child>,
    pub addr: String,
    root: tempfile::TempDir,
    config: PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        let root = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = root.path().join("config.yml");
        let storage = root.path().join("storage");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .unwrap();
        let mut r = Registry { child: None, addr, root, config };
        r.restart();
        r
    }

    /// Starts it again (same port, same storage) after `stop`.
    pub fn restart(&mut self) {
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry; scripts/setup.sh installs it)");
        self.child = Some(child);
        let url = format!("http://{}/v2/", self.addr);
        wait_until("docker-registry", 20, || http_status(&url) == Some(200));
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `oci://ADDR/PATH`.
    pub fn reference(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.addr)
    }

    /// Where the registry keeps the blob of `digest` (`sha256:…`) on disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.root.path().join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `haproxy -db` with the repository's deploy/haproxy/haproxy.cfg, its
/// frontend and stats moved to free ports and its servers replaced by `nodes`.
pub struct Balancer {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Balancer {
    pub fn start(nodes: &[(&str, &str)]) -> Balancer {
        let template = std::fs::read_to_string(crate::repo().join("deploy/haproxy/haproxy.cfg")).unwrap();
        let front = format!("127.0.0.1:{}", free_port());
        let stats = format!("127.0.0.1:{}", free_port());
        let servers: String = nodes.iter().map(|(name, addr)| format!("    server {name} {addr}\n")).collect();
        let mut config = String::new();
        let mut skipping = false;
        for line in template.lines() {
            if line.trim() == "# servers" {
                config.push_str(&servers);
                skipping = true;
                continue;
            }
            if skipping && line.trim_start().starts_with("server ") {
                continue;
            }
            skipping = false;
            let line = line.replace("bind 127.0.0.1:7070", &format!("bind {front}")).replace("bind 127.0.0.1:8404", &format!("bind {stats}"));
            config.push_str(&line);
            config.push('\n');
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, &config).unwrap();
        let check = Command::new("haproxy").args(["-c", "-q", "-f"]).arg(&path).status().expect("haproxy (Debian package haproxy)");
        assert!(check.success(), "haproxy refused the config:\n{config}");
        let child = Command::new("haproxy").args(["-db", "-f"]).arg(&path).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let base = format!("http://{front}");
        let ready = format!("{base}/readyz");
        wait_until("haproxy", 20, || http_status(&ready) == Some(200));
        Balancer { child, base, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hostel ARGS` to completion; its stdout, or a panic with stderr.
pub fn hostel(args: &[&str]) -> String {
    let out = Command::new(crate::binary()).args(args).output().unwrap();
    assert!(out.status.success(), "hostel {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Pushes the plugin folder `dir` to `reference` (and into `catalogue`); the push's JSON report.
pub fn push(dir: &Path, reference: &str, catalogue: Option<&str>) -> serde_json::Value {
    let mut args = vec!["plugin", "push", dir.to_str().unwrap(), reference, "--json"];
    if let Some(c) = catalogue {
        args.extend(["--catalogue", c]);
    }
    serde_json::from_str(&hostel(&args)).unwrap()
}
