//! `hostel plugin push` and `hostel catalogue`: publishing plugins to an OCI
//! registry and keeping the catalogue that nodes follow. These talk to the
//! registry directly, not to a host. Credentials: `--username` with the
//! password on stdin (`--password-stdin`), else `HOSTEL_REGISTRY_USERNAME` /
//! `HOSTEL_REGISTRY_PASSWORD`, else docker's config.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hostel::oci::{Catalogue, Entry, Oci, OciConfig};
use std::path::{Path, PathBuf};

/// How to reach registries (shared by push and catalogue commands).
#[derive(Args, Clone)]
pub struct RegistryArgs {
    /// A registry (`host:port`) to speak plain HTTP to (loopback ones always are).
    #[arg(long)]
    pub insecure: Vec<String>,
    /// Registry user name; the password is read from stdin with --password-stdin.
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
}

impl RegistryArgs {
    /// A client whose credentials go to `registries` only (the ones the command names).
    fn oci(&self, references: &[&str]) -> Result<Oci> {
        let credentials_for = references.iter().filter_map(|r| hostel::oci::parse_reference(r).ok()).map(|r| r.registry().to_string()).collect();
        let mut config = OciConfig { insecure: self.insecure.clone(), credentials_for, ..OciConfig::default() };
        if let Some(user) = &self.username {
            if !self.password_stdin {
                bail!("--username needs --password-stdin (a password is never a flag)");
            }
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading the password from stdin")?;
            config.username = Some(user.clone());
            config.password = Some(password.trim_end_matches(['\r', '\n']).to_string());
        }
        Ok(Oci::new(config))
    }
}

#[derive(Subcommand)]
pub enum CatalogueCommand {
    /// The plugins a catalogue lists.
    List { catalogue: String },
    /// Take a plugin out of a catalogue (nodes remove it at their next poll).
    Rm { catalogue: String, name: String },
}

/// Publishes the plugin in `dir` (its `hostel.toml` and component) at
/// `reference`; with `catalogue`, lists it there pinned by digest.
pub async fn push(dir: &Path, reference: &str, catalogue: Option<&str>, registry: &RegistryArgs, json: bool) -> Result<()> {
    let oci = registry.oci(&[reference, catalogue.unwrap_or_default()])?;
    let target = hostel::oci::parse_reference(reference)?;
    if target.digest().is_some() {
        bail!("push to a tag (oci://REGISTRY/REPOSITORY:TAG), not a digest");
    }
    let manifest_path = if dir.is_file() { dir.to_path_buf() } else { dir.join("hostel.toml") };
    let text = std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = hostel::Manifest::parse(&text, &manifest_path)?;
    if manifest.source.is_some() {
        bail!("{}: its component is already in a registry (`source`); push the folder that has the .wasm", manifest_path.display());
    }
    let component_path: PathBuf = manifest_path.parent().unwrap_or(Path::new(".")).join(&manifest.component);
    let component = std::fs::read(&component_path).with_context(|| format!("reading the component {}", component_path.display()))?;
    let size = component.len();
    let digest = oci.push_plugin(&target, &manifest, &text, component).await?;
    let pinned = hostel::oci::display(&hostel::oci::pinned(&target, &digest));
    let mut out = serde_json::json!({ "name": manifest.name, "version": manifest.version, "reference": reference, "digest": digest, "source": pinned, "bytes": size });
    if !json {
        println!("pushed {} {} ({}) to {reference}\n  source = \"{pinned}\"", manifest.name, manifest.version, hostel::error::size(size as u64));
    }
    if let Some(catalogue) = catalogue {
        let entry = Entry { name: manifest.name.clone(), version: manifest.version.clone(), source: pinned, manifest: text };
        let (count, digest) = update(&oci, catalogue, |c| {
            c.upsert(entry);
            Ok(())
        })
        .await?;
        out["catalogue"] = serde_json::json!({ "reference": catalogue, "digest": digest, "plugins": count });
        if !json {
            println!("catalogue {catalogue} lists {count} plugin(s) ({digest})");
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

pub async fn catalogue(command: CatalogueCommand, registry: &RegistryArgs, json: bool) -> Result<()> {
    let named = match &command {
        CatalogueCommand::List { catalogue } | CatalogueCommand::Rm { catalogue, .. } => catalogue.clone(),
    };
    let oci = registry.oci(&[named.as_str()])?;
    match command {
        CatalogueCommand::List { catalogue } => {
            let reference = hostel::oci::parse_reference(&catalogue)?;
            let (listed, digest) = oci.pull_catalogue(&reference).await?.unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "digest": digest, "plugins": listed.plugins }))?);
                return Ok(());
            }
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::NOTHING).set_header(["NAME", "VERSION", "SOURCE"]);
            for e in &listed.plugins {
                table.add_row([e.name.as_str(), e.version.as_str(), e.source.as_str()]);
            }
            println!("{table}");
        }
        CatalogueCommand::Rm { catalogue, name } => {
            let (count, digest) = update(&oci, &catalogue, |c| {
                let before = c.plugins.len();
                c.plugins.retain(|e| e.name != name);
                if c.plugins.len() == before {
                    bail!("{catalogue} does not list {name:?}");
                }
                Ok(())
            })
            .await?;
            println!("{name} removed; {catalogue} lists {count} plugin(s) ({digest})");
        }
    }
    Ok(())
}

/// Reads the catalogue (empty if its tag does not exist), changes it, pushes
/// it; a change that fails pushes nothing. Two publishers at once: the last
/// push wins (the registry has no compare-and-swap).
async fn update(oci: &Oci, catalogue: &str, change: impl FnOnce(&mut Catalogue) -> Result<()>) -> Result<(usize, String)> {
    let reference = hostel::oci::parse_reference(catalogue)?;
    if reference.digest().is_some() {
        bail!("a catalogue is a tag (oci://REGISTRY/REPOSITORY:TAG), not a digest");
    }
    let mut listed = oci.pull_catalogue(&reference).await?.map(|(c, _)| c).unwrap_or_default();
    change(&mut listed)?;
    let digest = oci.push_catalogue(&reference, &listed).await?;
    Ok((listed.plugins.len(), digest))
}
