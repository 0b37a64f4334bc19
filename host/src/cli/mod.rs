//! `hostel plugin|memory|pools|invocations`: a thin client of a running
//! host's HTTP API. Human tables by default, the API's JSON with `--json`.

pub mod build;
pub mod dev;
pub mod new;
pub mod oci;
mod show;
mod watch;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the host is and how to talk to it (shared by every client command).
#[derive(Args, Clone)]
pub struct Remote {
    /// The host's base URL.
    #[arg(long, env = "HOSTEL_URL", default_value = "http://127.0.0.1:7070", global = true)]
    pub url: String,
    /// Bearer token for management routes.
    #[arg(long, env = "HOSTEL_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Every plugin: state, kind, calls, instances.
    List,
    /// One plugin in detail.
    Show { name: String },
    /// Upload a plugin (or a new version of one) from its manifest; the
    /// component is the manifest's `component` file unless given.
    Add {
        manifest: PathBuf,
        #[arg(long)]
        component: Option<PathBuf>,
        /// Refuse the upload unless the component has this sha256.
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Publish the plugin in DIR (hostel.toml + component) to an OCI registry
    /// as a Wasm OCI artifact; with --catalogue, list it there for nodes.
    Push {
        dir: PathBuf,
        /// oci://REGISTRY/REPOSITORY:TAG
        reference: String,
        /// The catalogue tag nodes follow, oci://REGISTRY/REPOSITORY:TAG.
        #[arg(long)]
        catalogue: Option<String>,
        #[command(flatten)]
        registry: oci::RegistryArgs,
    },
    /// Compile now instead of on first use.
    Load { name: String },
    /// Drop the compiled component and warm instances.
    Unload { name: String },
    /// Delete an uploaded plugin.
    Rm { name: String },
    /// Call an export: pdf-processor `info`/`extract-text --file F`,
    /// connector `describe`/`call '{"operation":..,"args":..}'`,
    /// caption-model `generate`/`generate-stream '{"description":..}'`.
    Invoke {
        name: String,
        export: String,
        /// JSON arguments.
        args: Option<String>,
        /// A file sent as the body (PDF processors).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// A client of one host.
pub struct Client {
    remote: Remote,
    http: reqwest::Client,
}

impl Client {
    pub fn new(remote: Remote) -> Client {
        Client { remote, http: reqwest::Client::new() }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.remote.url.trim_end_matches('/'), path));
        match &self.remote.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends, and turns an API error body into a readable error.
    async fn send(&self, r: reqwest::RequestBuilder) -> Result<Value> {
        let response = r.send().await.with_context(|| format!("cannot reach the host at {}", self.remote.url))?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let code = body["error"]["code"].as_str().unwrap_or("error");
            let message = body["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| body.to_string());
            bail!("{status}: {code}: {message}");
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    fn print(&self, body: &Value, human: impl FnOnce(&Value) -> String) {
        if self.remote.json {
            println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
        } else {
            println!("{}", human(body));
        }
    }

    pub async fn plugin(&self, command: PluginCommand) -> Result<()> {
        use reqwest::Method;
        match command {
            PluginCommand::List => {
                let body = self.get("/v1/plugins").await?;
                self.print(&body, show::plugins);
            }
            PluginCommand::Show { name } => {
                let body = self.get(&format!("/v1/plugins/{name}")).await?;
                self.print(&body, show::fields);
            }
            PluginCommand::Add { manifest, component, sha256 } => {
                let form = upload_form(&manifest, component.as_deref(), sha256)?;
                let body = self.send(self.request(Method::POST, "/v1/plugins").multipart(form)).await?;
                self.print(&body, |b| {
                    let p = &b["plugin"];
                    match b["replaced"].as_str() {
                        Some(old) => format!("{} {} replaces {old} ({})", p["name"], p["version"], p["state"]),
                        None => format!("{} {} uploaded ({})", p["name"], p["version"], p["state"]),
                    }
                    .replace('"', "")
                });
            }
            PluginCommand::Load { name } => {
                let body = self.send(self.request(Method::POST, &format!("/v1/plugins/{name}/load"))).await?;
                self.print(&body, |b| format!("{name}: {} (compile {} ms, from cache: {})", b["state"], b["compile_ms"], b["from_cache"]).replace('"', ""));
            }
            PluginCommand::Unload { name } => {
                let body = self.send(self.request(Method::POST, &format!("/v1/plugins/{name}/unload"))).await?;
                self.print(&body, |b| format!("{name}: {}", b["state"]).replace('"', ""));
            }
            PluginCommand::Rm { name } => {
                let body = self.send(self.request(Method::DELETE, &format!("/v1/plugins/{name}"))).await?;
                self.print(&body, |b| format!("{name} deleted (calls in flight drained: {})", b["drained"]));
            }
            PluginCommand::Invoke { name, export, args, file } => self.invoke(&name, &export, args, file).await?,
            PluginCommand::Push { dir, reference, catalogue, registry } => {
                oci::push(&dir, &reference, catalogue.as_deref(), &registry, self.remote.json).await?
            }
        }
        Ok(())
    }

    async fn invoke(&self, name: &str, export: &str, args: Option<String>, file: Option<PathBuf>) -> Result<()> {
        use reqwest::Method;
        let args: Value = match &args {
            Some(text) => serde_json::from_str(text).with_context(|| format!("arguments are not JSON: {text}"))?,
            None => Value::Null,
        };
        let kind = self.get(&format!("/v1/plugins/{name}")).await?["kind"].as_str().unwrap_or_default().to_string();
        let base = format!("/v1/plugins/{name}");
        let request = match (kind.as_str(), export) {
            ("pdf-processor", "info" | "extract-text") => {
                let file = file.context("a PDF processor needs --file <document>")?;
                let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                let path = if export == "info" { format!("{base}/pdf/info") } else { format!("{base}/pdf/text") };
                let mut r = self.request(Method::POST, &path).body(bytes);
                for key in ["first", "last"] {
                    if let Some(v) = args.get(key).and_then(Value::as_u64) {
                        r = r.query(&[(key, v)]);
                    }
                }
                r
            }
            ("connector", "describe") => self.request(Method::GET, &format!("{base}/connector")),
            ("connector", "call") => self.request(Method::POST, &format!("{base}/connector/call")).json(&args),
            ("caption-model", "generate") => self.request(Method::POST, &format!("{base}/caption")).json(&args),
            ("caption-model", "generate-stream") => {
                let mut response = self.request(Method::POST, &format!("{base}/caption/stream")).json(&args).send().await?;
                if !response.status().is_success() {
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    bail!("{}: {}", body["error"]["code"], body["error"]["message"]);
                }
                while let Some(chunk) = response.chunk().await? {
                    print!("{}", String::from_utf8_lossy(&chunk));
                }
                return Ok(());
            }
            // Any other export of any kind: the generic route, JSON arguments.
            (_, export) => {
                let path = format!("{base}/invoke/{}", export.replace('#', "%23"));
                self.request(Method::POST, &path).json(&args)
            }
        };
        let body = self.send(request).await?;
        println!("{}", serde_json::to_string_pretty(&body)?);
        Ok(())
    }

    pub async fn memory(&self) -> Result<()> {
        let body = self.get("/v1/admin/memory").await?;
        self.print(&body, show::memory);
        Ok(())
    }

    pub async fn pools(&self) -> Result<()> {
        let body = self.get("/v1/admin/pools").await?;
        self.print(&body, show::pools);
        Ok(())
    }

    pub async fn jobs(&self, id: Option<u64>) -> Result<()> {
        match id {
            Some(id) => {
                let body = self.get(&format!("/v1/jobs/{id}")).await?;
                self.print(&body, show::job);
            }
            None => {
                let body = self.get("/v1/jobs").await?;
                self.print(&body, show::jobs);
            }
        }
        Ok(())
    }

    pub async fn invocations(&self, plugin: Option<String>, page: u32, page_size: u32) -> Result<()> {
        let mut query = vec![("page", page.to_string()), ("page_size", page_size.to_string())];
        query.extend(plugin.map(|p| ("plugin", p)));
        let body = self.send(self.request(reqwest::Method::GET, "/v1/invocations").query(&query)).await?;
        self.print(&body, show::invocations);
        Ok(())
    }
}

/// The multipart form of an upload: the manifest's text and its component.
fn upload_form(manifest: &Path, component: Option<&Path>, sha256: Option<String>) -> Result<reqwest::multipart::Form> {
    let text = std::fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let component = match component {
        Some(c) => c.to_path_buf(),
        None => {
            let parsed = hostel::Manifest::parse_upload(&text)?;
            manifest.parent().unwrap_or(Path::new(".")).join(parsed.component)
        }
    };
    let bytes = std::fs::read(&component).with_context(|| format!("reading the component {}", component.display()))?;
    let mut form = reqwest::multipart::Form::new()
        .text("manifest", text)
        .part("component", reqwest::multipart::Part::bytes(bytes).file_name("component.wasm"));
    if let Some(sha) = sha256 {
        form = form.text("sha256", sha);
    }
    Ok(form)
}
