//! Core modules from `wasm32-wasip1` become components when they arrive (at
//! upload or scan), as Spin does: `wit-component` reads the world the module
//! carries in its `component-type` custom section (wit-bindgen puts it
//! there) and wraps `wasi_snapshot_preview1` imports in the preview1 adapter
//! pinned with wasmtime. The component is what is then stored, hashed,
//! compiled and cached; the module is never seen again.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use wasi_preview1_component_adapter_provider as adapter;

/// Whether `bytes` are a core wasm module (not a component).
pub fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..4] == b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// The component made from core module `module`, or why none can be made.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>, String> {
    let mut world = false;
    let mut preview1 = false;
    let mut command = false;
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload.map_err(|e| format!("it is not a valid core module: {e}"))? {
            wasmparser::Payload::CustomSection(c) if c.name().starts_with("component-type") => world = true,
            wasmparser::Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.map_err(|e| format!("it is not a valid core module: {e}"))?;
                    preview1 |= import.module == adapter::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME;
                }
            }
            wasmparser::Payload::ExportSection(exports) => {
                for export in exports {
                    command |= export.map_err(|e| format!("it is not a valid core module: {e}"))?.name == "_start";
                }
            }
            _ => {}
        }
    }
    if !world {
        return Err("it is a core wasm module without a WIT world (no `component-type` custom section): \
                    build it with wit-bindgen, which embeds the world, or make it a component first \
                    (`wasm-tools component new --adapt`)"
            .into());
    }
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .map_err(|e| format!("cannot read the module's world: {e:#}"))?;
    if preview1 {
        // A library (reactor) unless the module is a program with `_start`.
        let bytes = if command { adapter::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER } else { adapter::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER };
        encoder = encoder
            .adapter(adapter::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, bytes)
            .map_err(|e| format!("cannot adapt its wasi_snapshot_preview1 imports: {e:#}"))?;
    }
    encoder.encode().map_err(|e| format!("cannot make a component of it: {e:#}"))
}

/// For the plugins directory: `path` itself when it is a component (or
/// unreadable: the load says why), else the component made from it, written
/// once per module under `dir` (content-addressed). A manifest's `sha256`
/// pin names the file its author built: for a module it is checked here and
/// then dropped from `manifest` (the component is ours, not theirs).
pub fn component_file(path: &Path, dir: &Path, manifest: &mut crate::plugin::Manifest) -> Result<PathBuf, String> {
    let mut head = [0u8; 8];
    let is_module = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|_| is_core_module(&head))
        .unwrap_or(false);
    if !is_module {
        return Ok(path.to_path_buf());
    }
    let module = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let sha = hex::encode(Sha256::digest(&module));
    if let Some(pin) = manifest.sha256.take() {
        if !pin.eq_ignore_ascii_case(&sha) {
            return Err(format!("component sha256 {sha} does not match the manifest's pin {pin}"));
        }
    }
    // Named by the module and the adapter that made it, so a new adapter remakes it.
    let adapter = &hex::encode(Sha256::digest(adapter::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER))[..12];
    let target = dir.join(format!("{sha}-{adapter}.wasm"));
    if target.is_file() {
        return Ok(target);
    }
    let started = std::time::Instant::now();
    let component = componentize(&module)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = target.with_extension(format!("tmp.{}", std::process::id()));
    write_synced(&tmp, &component)
        .and_then(|_| std::fs::rename(&tmp, &target))
        .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    tracing::info!(module = %path.display(), component = %target.display(), ms = started.elapsed().as_millis() as u64, "core module made a component");
    Ok(target)
}

/// Writes `bytes` and flushes them to disk before the caller renames the file.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A copy of the component at `path` under `dir`, named by its sha256, so a
/// later edit of the file cannot change a version that was checked.
pub fn snapshot(path: &Path, dir: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let target = dir.join(format!("{}.wasm", hex::encode(Sha256::digest(&bytes))));
    if !target.is_file() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let tmp = target.with_extension(format!("tmp.{}", std::process::id()));
        write_synced(&tmp, &bytes)
            .and_then(|_| std::fs::rename(&tmp, &target))
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_module_without_a_world_says_so() {
        let module = b"\0asm\x01\0\0\0";
        assert!(super::is_core_module(module));
        let e = super::componentize(module).unwrap_err();
        assert!(e.contains("without a WIT world"), "{e}");
        assert!(!super::is_core_module(b"\0asm\x0d\0\x01\0"));
    }
}
