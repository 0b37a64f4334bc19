//! `hostel dev [DIR]`: build, serve, watch, rebuild, hot-reload. The plugin
//! is served from `DIR/.hostel-dev/plugins/` by a host in this process (or
//! uploaded to a running one with `--url`); every save of a source or of the
//! manifest rebuilds it, and a build that works replaces the version that
//! answers (calls in flight finish on the old one). A build that fails is
//! reported and the old version keeps answering.

use super::build::{build, Built};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Saves closer together than this are one change.
const SETTLE: Duration = Duration::from_millis(200);

/// Paths whose changes are the build's own output, not the author's.
fn ignored(dir: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(dir) else { return true };
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    ["target", ".hostel-dev", "node_modules", "__pycache__", ".git"].contains(&first.as_str())
        || path.extension().is_some_and(|e| e == "wasm" || e == "pyc")
        || rel.to_string_lossy().ends_with('~')
}

/// Where the plugin's routes are, for the author to call.
fn routes(base: &str, built: &Built) -> Vec<String> {
    let p = format!("{base}/v1/plugins/{}", built.name);
    let json = "-H 'content-type: application/json'";
    match built.kind.as_str() {
        "connector" => vec![format!("curl -X POST {p}/connector/call {json} -d '{{\"operation\":\"greet\",\"args\":{{}}}}'")],
        "pdf-processor" => vec![format!("curl -X POST {p}/pdf/info --data-binary @file.pdf"), format!("curl -X POST {p}/pdf/text --data-binary @file.pdf")],
        "caption-model" => vec![format!("curl -X POST {p}/caption {json} -d '{{\"description\":\"sunset at the beach\",\"style\":\"casual\",\"hashtag_count\":3,\"max_captions\":2}}'")],
        _ => vec![format!("curl {p}/exports"), format!("curl -X POST {p}/invoke/EXPORT {json} -d '{{…arguments…}}'")],
    }
}

pub async fn dev(dir: &Path, url: Option<String>, listen: std::net::SocketAddr, token: Option<String>) -> Result<()> {
    let dir = dir.canonicalize().with_context(|| format!("{}: no such directory", dir.display()))?;
    let first = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || build(&dir, false)
    })
    .await??;
    let serving = dir.join(".hostel-dev");
    let plugins = serving.join("plugins");
    let base = match &url {
        Some(url) => {
            upload(url, token.as_deref(), &first).await?;
            url.trim_end_matches('/').to_string()
        }
        None => {
            place(&plugins, &first)?;
            let mut cfg = hostel::config::Config::default();
            cfg.listen = listen;
            cfg.plugins_dir = plugins.clone();
            cfg.data_dir = serving.join("data");
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                if let Err(e) = crate::serve_with(cfg, Some(tx)).await {
                    eprintln!("error: the dev server stopped: {e:#}");
                    std::process::exit(1);
                }
            });
            let addr = rx.await.context("the dev server did not start")?;
            format!("http://{addr}")
        }
    };
    println!("serving {} ({}) at {base}; call it:", first.name, first.kind);
    for r in routes(&base, &first) {
        println!("  {r}");
    }
    println!("watching {} — save a source or hostel.toml to rebuild and reload (Ctrl-C stops)", dir.display());
    watch(&dir, |started| {
        let dir = dir.clone();
        let (plugins, url, token) = (plugins.clone(), url.clone(), token.clone());
        async move {
            let outcome = tokio::task::spawn_blocking(move || build(&dir, true)).await;
            match outcome {
                Ok(Ok(built)) => {
                    let placed = match &url {
                        Some(url) => upload(url, token.as_deref(), &built).await,
                        None => place(&plugins, &built),
                    };
                    match placed {
                        Ok(()) => println!("rebuilt {} in {:.1} s; the new version answers once loaded", built.name, started.elapsed().as_secs_f64()),
                        Err(e) => println!("build ok, reload failed: {e:#} (the old version keeps answering)"),
                    }
                }
                Ok(Err(e)) => println!("build failed: {e:#} (the old version keeps answering)"),
                Err(e) => println!("build failed: {e}"),
            }
        }
    })
    .await
}

/// Copies the manifest and the component into the served plugins dir; its
/// watcher swaps the new version in. The component goes first, under a
/// temporary name, so the watcher never sees half a file.
fn place(plugins: &Path, built: &Built) -> Result<()> {
    let to = plugins.join(&built.name);
    std::fs::create_dir_all(&to)?;
    let name = built.component.file_name().context("component file name")?;
    let tmp = to.join(".component.tmp");
    std::fs::copy(&built.component, &tmp)?;
    std::fs::rename(&tmp, to.join(name))?;
    let manifest = std::fs::read(&built.manifest)?;
    if std::fs::read(to.join("hostel.toml")).ok().as_deref() != Some(&manifest[..]) {
        std::fs::write(to.join(".hostel.toml.tmp"), &manifest)?;
        std::fs::rename(to.join(".hostel.toml.tmp"), to.join("hostel.toml"))?;
    }
    Ok(())
}

/// Uploads the new version to a running host (its hot-reload path).
async fn upload(url: &str, token: Option<&str>, built: &Built) -> Result<()> {
    let manifest = std::fs::read_to_string(&built.manifest)?;
    let component = std::fs::read(&built.component)?;
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest)
        .part("component", reqwest::multipart::Part::bytes(component).file_name("plugin.wasm"));
    let mut request = reqwest::Client::new().post(format!("{}/v1/plugins", url.trim_end_matches('/'))).multipart(form);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.with_context(|| format!("uploading to {url}"))?;
    if !response.status().is_success() {
        let status = response.status();
        anyhow::bail!("the host refused the upload ({status}): {}", response.text().await.unwrap_or_default());
    }
    Ok(())
}

/// Runs `on_change` after each settled burst of changes under `dir`.
async fn watch<F, Fut>(dir: &PathBuf, mut on_change: F) -> Result<()>
where
    F: FnMut(Instant) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use notify::Watcher as _;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let root = dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let relevant = !matches!(event.kind, notify::EventKind::Access(_)) && event.paths.iter().any(|p| !ignored(&root, p));
            if relevant {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(dir, notify::RecursiveMode::Recursive)?;
    while rx.recv().await.is_some() {
        let started = Instant::now();
        while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
        on_change(started).await;
    }
    Ok(())
}
