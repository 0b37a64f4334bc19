//! The `hostel` binary: `hostel serve` runs the HTTP server over the library;
//! the other commands are clients of a running server's HTTP API.

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hostel::api::{self, ApiOptions};
use hostel::config::Config;
use hostel::Host;
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "hostel", version, about = "A WebAssembly plugin host")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    remote: cli::Remote,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API with the plugins of a directory (loaded lazily).
    Serve {
        /// TOML config file; flags override its values.
        #[arg(long, env = "HOSTEL_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on (default 127.0.0.1:7070; port 0 picks a free one).
        #[arg(long, env = "HOSTEL_LISTEN")]
        listen: Option<SocketAddr>,
        /// Directory scanned for */hostel.toml.
        #[arg(long, env = "HOSTEL_PLUGINS_DIR")]
        plugins_dir: Option<PathBuf>,
        /// Directory for the host's state.
        #[arg(long, env = "HOSTEL_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Log format: text or json.
        #[arg(long)]
        log_format: Option<String>,
        /// Memory budget for all plugins together, e.g. 512MiB.
        #[arg(long, env = "HOSTEL_MEMORY_BUDGET")]
        memory_budget: Option<bytesize::ByteSize>,
    },
    /// Write a new plugin: source, manifest, build settings, README and test.
    New {
        /// The plugin's name (lower-case letters, digits, dashes).
        name: String,
        /// connector, pdf-processor, caption-model or component (a world of its own).
        #[arg(long)]
        kind: String,
        /// rust, python or js.
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Where its folder goes (default: here).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build the plugin in DIR into its component; print where it is, its size and exports.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build, serve, watch: every save rebuilds and hot-reloads the plugin in DIR.
    Dev {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Serve here (default 127.0.0.1:7070; port 0 picks one). Ignored with --attach.
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// Upload each build to the running host at --url instead of serving here.
        #[arg(long)]
        attach: bool,
    },
    /// Manage plugins on a running host: list, show, add, load, unload, rm, invoke.
    #[command(subcommand)]
    Plugin(cli::PluginCommand),
    /// The OCI catalogue nodes follow: list it, take a plugin out.
    Catalogue {
        #[command(subcommand)]
        command: cli::oci::CatalogueCommand,
        #[command(flatten)]
        registry: cli::oci::RegistryArgs,
    },
    /// Memory: budget, level, per plugin.
    Memory,
    /// Instance pools per plugin.
    Pools,
    /// Jobs newest first, or one job with its stages.
    Jobs { id: Option<u64> },
    /// Live events of a running host (calls, instances, evictions, pressure,
    /// compiles), one line each until interrupted.
    Watch {
        /// Only events about this plugin.
        #[arg(long)]
        plugin: Option<String>,
        /// Comma-separated types: call,instance,plugin,pressure,compile,memory.
        #[arg(long)]
        types: Option<String>,
    },
    /// Invocation history, newest first.
    Invocations {
        #[arg(long)]
        plugin: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 20)]
        page_size: u32,
    },
}

fn main() -> std::process::ExitCode {
    // `hostel __compile-worker`: compile one component and exit, before any
    // runtime threads start.
    hostel::compile::run_if_requested();
    hostel::install_crypto_provider();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run()));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line; never a backtrace, whatever RUST_BACKTRACE says.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen, plugins_dir, data_dir, log_format, memory_budget } => {
            let mut cfg = match &config {
                Some(path) => Config::load(path)?,
                None => Config::default(),
            };
            if let Some(v) = listen {
                cfg.listen = v;
            }
            if let Some(v) = plugins_dir {
                cfg.plugins_dir = v;
            }
            if let Some(v) = data_dir {
                cfg.data_dir = v;
            }
            if let Some(v) = log_format {
                cfg.log_format = v;
            }
            if let Some(v) = memory_budget {
                cfg.memory.budget = v;
            }
            // `--token` (or HOSTEL_TOKEN) is the token the server requires.
            if let Some(v) = cli.remote.token {
                cfg.token = Some(v);
            }
            cfg.validate().map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
            // Checked after the flags: the token often comes from HOSTEL_TOKEN, not the file.
            if cfg.auth == api::Auth::All && cfg.token.is_none() {
                anyhow::bail!("invalid settings: `auth = \"all\"` needs a token (`token`, --token or HOSTEL_TOKEN)");
            }
            serve(cfg).await
        }
        Command::New { name, kind, lang, dir } => {
            let made = cli::new::new(&name, &kind, &lang, &dir)?;
            println!("created {} ({lang} {kind}); next:", made.display());
            println!("  hostel build {}    # → {}/{name}.wasm", made.display(), made.display());
            println!("  hostel dev {}      # build, serve, rebuild and reload on every save", made.display());
            Ok(())
        }
        Command::Build { dir } => tokio::task::spawn_blocking(move || cli::build::build(&dir, false).map(|_| ())).await?,
        Command::Dev { dir, listen, attach } => {
            init_logs("text")?;
            let url = attach.then(|| cli.remote.url.clone());
            cli::dev::dev(&dir, url, listen, cli.remote.token.clone()).await
        }
        Command::Plugin(command) => cli::Client::new(cli.remote).plugin(command).await,
        Command::Catalogue { command, registry } => cli::oci::catalogue(command, &registry, cli.remote.json).await,
        Command::Memory => cli::Client::new(cli.remote).memory().await,
        Command::Pools => cli::Client::new(cli.remote).pools().await,
        Command::Jobs { id } => cli::Client::new(cli.remote).jobs(id).await,
        Command::Watch { plugin, types } => cli::Client::new(cli.remote).watch(plugin, types).await,
        Command::Invocations { plugin, page, page_size } => {
            cli::Client::new(cli.remote).invocations(plugin, page, page_size).await
        }
    }
}

fn init_logs(format: &str) -> anyhow::Result<()> {
    init_logs_with(format, &Default::default()).map(|_| ())
}

/// Log lines on stderr (filtered by `RUST_LOG`, default info) and, when
/// configured, spans over OTLP (with a filter of their own).
fn init_logs_with(format: &str, telemetry: &hostel::observe::TelemetryConfig) -> anyhow::Result<Option<hostel::observe::Telemetry>> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a terminal, never into a file or a pipe.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let lines = match format {
        "json" => lines.json().with_filter(filter).boxed(),
        "text" => lines.with_filter(filter).boxed(),
        other => anyhow::bail!("log format {other:?} is not text or json"),
    };
    let (otlp, telemetry) = match hostel::observe::telemetry::otlp_layer(telemetry).map_err(anyhow::Error::msg)? {
        Some((layer, t)) => (Some(layer), Some(t)),
        None => (None, None),
    };
    tracing_subscriber::registry().with(lines).with(otlp).init();
    Ok(telemetry)
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let telemetry = init_logs_with(&cfg.log_format, &cfg.telemetry)?;
    let served = serve_with(cfg, None).await;
    if let Some(t) = telemetry {
        // The exporter's blocking client must not be dropped on a runtime thread.
        tokio::task::spawn_blocking(move || t.shutdown()).await.ok();
    }
    served
}

/// Serves until Ctrl-C; `ready` gets the bound address (for `hostel dev`).
pub(crate) async fn serve_with(cfg: Config, ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let host = Host::builder()
        .plugins_dir(&cfg.plugins_dir)
        .data_dir(&cfg.data_dir)
        .memory(cfg.memory.to_config())
        .history_retention(cfg.memory.history_retention)
        .invocation_retention(cfg.invocation_retention)
        .engine(cfg.engine.clone())
        .compile_worker(std::env::current_exe().context("finding the hostel binary for compile workers")?)
        .artifact_format(cfg.artifact_format)
        .epoch_tick(cfg.epoch_tick)
        .cache_bytes(cfg.cache_size.as_u64())
        .outbound(cfg.outbound.clone())
        .events_buffer(cfg.events.buffer)
        .oci({
            // The credentials are for the catalogue's registry (and any listed), no other.
            let mut oci = cfg.oci.clone();
            if let Some(r) = cfg.catalogue.reference.as_deref().and_then(|r| hostel::oci::parse_reference(r).ok()) {
                oci.credentials_for.push(r.registry().to_string());
            }
            oci
        });
    let host = match &cfg.node {
        Some(node) => host.node(node.clone()),
        None => host,
    };
    let host = host.build().context("starting the host")?;
    host.follow_catalogue(&cfg.catalogue).await.context("following the catalogue")?;
    if cfg.watch_plugins && cfg.plugins_dir.is_dir() {
        // Without it the host serves on; changes then need a restart.
        if let Err(e) = host.watch_plugins_dir() {
            tracing::warn!("{e}; changes in the plugins directory take effect at the next start");
        }
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving");
    // Tests and scripts read this line to find the port.
    println!("listening on http://{addr}");
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }
    // Ctrl-C, or SIGTERM from a service manager or the kubelet.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    let options = ApiOptions { max_body: cfg.max_body.as_u64() as usize, token: cfg.token.clone(), auth: cfg.auth, http: cfg.http };
    api::serve(listener, host.clone(), options, shutdown).await?;
    host.sample_memory();
    host.flush_history();
    Ok(())
}
