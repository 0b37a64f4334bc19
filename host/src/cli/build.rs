//! `hostel build [DIR]`: the plugin in DIR into its component, with the
//! toolchain of its language — Rust by the Debian route of
//! ../shared/TOOLCHAIN.md (Debian's rustc + -Zbuild-std + wasm-component-ld),
//! Python by componentize-py, JavaScript by componentize-js — then prints
//! where the component is, its size and its exports. A missing tool is
//! named with the command that installs it.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Which toolchain a plugin directory needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// What a build made.
pub struct Built {
    pub name: String,
    pub kind: String,
    pub component: PathBuf,
    pub manifest: PathBuf,
}

/// The plugin's language, from the files it has.
pub fn lang_of(dir: &Path) -> Result<Lang> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Lang::Rust)
    } else if dir.join("app.py").is_file() {
        Ok(Lang::Python)
    } else if dir.join("plugin.js").is_file() {
        Ok(Lang::Js)
    } else {
        bail!("{}: no Cargo.toml (Rust), app.py (Python) or plugin.js (JavaScript) here; `hostel new` makes one", dir.display())
    }
}

/// The WIT world a plugin of `kind` is built against (`component`: the one world in `wit/world.wit`).
fn world(dir: &Path, kind: &str) -> Result<String> {
    Ok(match kind {
        "connector" => "connector-plugin".into(),
        "pdf-processor" | "caption-model" => kind.into(),
        _ => {
            let path = dir.join("wit/world.wit");
            let text = std::fs::read_to_string(&path).with_context(|| format!("{}: a component plugin keeps its world here", path.display()))?;
            text.lines()
                .find_map(|l| l.trim().strip_prefix("world ").map(|w| w.trim_end_matches(['{', ' ']).trim().to_string()))
                .with_context(|| format!("{}: no `world NAME {{ … }}` in it", path.display()))?
        }
    })
}

pub fn build(dir: &Path, quiet: bool) -> Result<Built> {
    let dir = dir.canonicalize().with_context(|| format!("{}: no such directory", dir.display()))?;
    let manifest_path = dir.join("hostel.toml");
    let manifest = hostel::Manifest::load(&manifest_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let lang = lang_of(&dir)?;
    let component = dir.join(&manifest.component);
    let started = Instant::now();
    if !quiet {
        eprintln!("==> building {} ({lang:?}, kind {})", manifest.name, manifest.kind.as_str());
    }
    match lang {
        Lang::Rust => rust(&dir, &component)?,
        Lang::Python => {
            let tool = find_tool(&dir, "python/bin/componentize-py", "componentize-py")
                .context("componentize-py is not installed: `pip install componentize-py==0.25.1` (in the Hostel repository: scripts/setup.sh)")?;
            let world = world(&dir, manifest.kind.as_str())?;
            run(Command::new(tool).current_dir(&dir).args(["-d", "wit", "-w", &world, "componentize", "app", "-o"]).arg(&component), "componentize-py")?;
        }
        Lang::Js => {
            let tool = find_tool(&dir, "node/node_modules/.bin/componentize-js", "componentize-js").context(
                "componentize-js is not installed: `npm install @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.17.9` \
                 (in the Hostel repository: scripts/setup.sh)",
            )?;
            let world = world(&dir, manifest.kind.as_str())?;
            run(Command::new(tool).current_dir(&dir).args(["--wit", "wit", "--world-name", &world, "-o"]).arg(&component).arg("plugin.js"), "componentize-js")?;
        }
    }
    let bytes = std::fs::read(&component).with_context(|| format!("the build left no {}", component.display()))?;
    if !quiet {
        println!("{}  {}  ({:.1} s)", component.display(), hostel::error::size(bytes.len() as u64), started.elapsed().as_secs_f64());
        for export in exports(&bytes) {
            println!("  export {export}");
        }
    }
    Ok(Built { name: manifest.name.clone(), kind: manifest.kind.as_str().to_string(), component, manifest: manifest_path })
}

/// Debian's cargo and rustc for the guest (rustup has no wasm targets here).
fn rust(dir: &Path, component: &Path) -> Result<()> {
    let config = dir.join(".cargo/config.toml");
    if !config.is_file() {
        bail!("{}: missing; it selects wasm32-wasip2 and Debian's toolchain (`hostel new` writes it; copy one from a generated plugin)", config.display());
    }
    let cargo = Path::new("/usr/bin/cargo");
    if !cargo.is_file() || !Path::new("/usr/lib/rustlib/src/rust/library").exists() && !Path::new("/usr/src").join("rustc-1.96.0").exists() {
        bail!("Debian's Rust with its std source is missing: `sudo apt-get install rustc-web cargo-web rust-web-src lld-19 wasi-libc` (in the Hostel repository: scripts/setup.sh)");
    }
    let home_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin")).unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(home_bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())))?;
    if !home_bin.join("wasm-component-ld").is_file() && which("wasm-component-ld").is_none() {
        bail!("wasm-component-ld is missing: `cargo install --locked wasm-component-ld@0.5.31` (in the Hostel repository: scripts/setup.sh)");
    }
    let text = std::fs::read_to_string(dir.join("Cargo.toml"))?;
    let package: toml::Value = toml::from_str(&text).with_context(|| format!("{}/Cargo.toml", dir.display()))?;
    let crate_name = package.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()).context("Cargo.toml has no [package] name")?.replace('-', "_");
    run(Command::new(cargo).current_dir(dir).env("RUSTC_BOOTSTRAP", "1").env("PATH", path).args(["build", "--release"]), "cargo")?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| dir.join("target"));
    let target = if target.is_relative() { dir.join(target) } else { target };
    let built = target.join("wasm32-wasip2/release").join(format!("{crate_name}.wasm"));
    std::fs::copy(&built, component).with_context(|| format!("copying {} to {}", built.display(), component.display()))?;
    Ok(())
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status}); its errors are above");
    }
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// A guest tool: `$HOSTEL_TOOLS/<relative>`, a Hostel checkout's `.tools/<relative>`
/// (above the plugin or the hostel binary), or `plain` on PATH.
fn find_tool(dir: &Path, relative: &str, plain: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    let roots = std::env::var_os("HOSTEL_TOOLS")
        .map(PathBuf::from)
        .into_iter()
        .chain(dir.ancestors().map(|d| d.join(".tools")))
        .chain(exe.iter().flat_map(|e| e.ancestors().map(|d| d.join(".tools"))).collect::<Vec<_>>());
    for root in roots {
        let candidate = root.join(relative);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    which(plain)
}

/// Every exported function, `interface#function` or `function`.
pub fn exports(component: &[u8]) -> Vec<String> {
    let Ok(wit_component::DecodedWasm::Component(resolve, world)) = wit_component::decode(component) else { return Vec::new() };
    let mut out = Vec::new();
    for (key, item) in &resolve.worlds[world].exports {
        let name = resolve.name_world_key(key);
        match item {
            wit_parser::WorldItem::Function(f) => out.push(f.name.clone()),
            wit_parser::WorldItem::Interface { id, .. } => {
                for f in resolve.interfaces[*id].functions.keys() {
                    out.push(format!("{name}#{f}"));
                }
            }
            wit_parser::WorldItem::Type { .. } => {}
        }
    }
    out
}
