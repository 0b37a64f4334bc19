//! `hostel new NAME --kind KIND --lang LANG`: a complete plugin from the
//! templates in `sdk/templates/<lang>-<kind>/` (embedded in the binary), its
//! name set everywhere. It builds as generated, in this repository or
//! anywhere else: a Rust plugin outside the repository gets a copy of the SDK
//! (`hostel-sdk/`), a Python or JavaScript one the contract's WIT (`wit/`).

use anyhow::{bail, Context, Result};
use include_dir::{include_dir, Dir};
use std::path::{Component, Path, PathBuf};

static TEMPLATES: Dir = include_dir!("$CARGO_MANIFEST_DIR/../sdk/templates");
static CONTRACT: Dir = include_dir!("$CARGO_MANIFEST_DIR/../wit");
static SDK_SRC: Dir = include_dir!("$CARGO_MANIFEST_DIR/../sdk/src");
const SDK_MANIFEST: &str = include_str!("../../../sdk/Cargo.toml");

pub const KINDS: [&str; 4] = ["connector", "pdf-processor", "caption-model", "component"];
pub const LANGS: [&str; 3] = ["rust", "python", "js"];

/// Writes the plugin `name` into `<parent>/<name>`; returns its directory.
pub fn new(name: &str, kind: &str, lang: &str, parent: &Path) -> Result<PathBuf> {
    // A leading digit is no crate name (cargo) nor WIT identifier.
    if !hostel::plugin::manifest::valid_name(name) || name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("{name:?} is not a plugin name: use 1-63 lower-case letters, digits or dashes, starting with a letter, e.g. my-plugin");
    }
    if !KINDS.contains(&kind) {
        bail!("unknown kind {kind:?}: one of {}", KINDS.join(", "));
    }
    if !LANGS.contains(&lang) {
        bail!("unknown language {lang:?}: one of {}", LANGS.join(", "));
    }
    let template = TEMPLATES
        .get_dir(format!("{lang}-{kind}"))
        .with_context(|| format!("no template {lang}-{kind} in this build of hostel"))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let parent = parent.canonicalize().with_context(|| format!("reading {}", parent.display()))?;
    let dir = parent.join(name);
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty: pick another name or --dir", dir.display());
    }
    let typed_rust = lang == "rust" && kind != "component";
    let sdk = if typed_rust {
        match repo_sdk(&parent) {
            Some(sdk) => relative(&dir, &sdk),
            None => {
                vendor_sdk(&dir.join("hostel-sdk"))?;
                "hostel-sdk".to_string()
            }
        }
    } else {
        String::new()
    };
    let vars = [("{{name}}", name.to_string()), ("{{crate}}", name.replace('-', "_")), ("{{sdk}}", sdk)];
    render(template, template, &dir, &vars)?;
    // One test per kind, the same for every language (it drives the plugin over HTTP).
    let test = TEMPLATES.get_file(format!("tests/{kind}.sh")).with_context(|| format!("no test for {kind} in this build of hostel"))?;
    write_filled(&dir.join("test.sh"), test, &vars)?;
    if lang != "rust" && kind != "component" {
        write_dir(CONTRACT.get_dir("0.1.0").context("contract 0.1.0 missing")?, &dir.join("wit"), true)?;
    }
    Ok(dir)
}

/// Writes the files of `dir` (a directory of template `root`) under `to`.
fn render(root: &Dir, dir: &Dir, to: &Path, vars: &[(&str, String)]) -> Result<()> {
    for file in dir.files() {
        let relative = fill(&file.path().strip_prefix(root.path()).unwrap_or(file.path()).to_string_lossy(), vars);
        write_filled(&to.join(relative), file, vars)?;
    }
    for sub in dir.dirs() {
        render(root, sub, to, vars)?;
    }
    Ok(())
}

fn fill(text: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(text.to_string(), |t, (k, v)| t.replace(k, v))
}

/// Writes one template file with its placeholders filled (scripts executable).
fn write_filled(path: &Path, file: &include_dir::File, vars: &[(&str, String)]) -> Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    match file.contents_utf8() {
        Some(text) => std::fs::write(path, fill(text, vars)),
        None => std::fs::write(path, file.contents()),
    }
    .with_context(|| format!("writing {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "sh") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Copies an embedded directory's files into `to` (`flat`: without its own path).
fn write_dir(dir: &Dir, to: &Path, flat: bool) -> Result<()> {
    for file in dir.files() {
        let name = if flat { PathBuf::from(file.path().file_name().unwrap_or_default()) } else { file.path().strip_prefix(dir.path()).unwrap_or(file.path()).to_path_buf() };
        let path = to.join(name);
        std::fs::create_dir_all(path.parent().unwrap_or(to))?;
        std::fs::write(&path, file.contents()).with_context(|| format!("writing {}", path.display()))?;
    }
    if !flat {
        for sub in dir.dirs() {
            write_dir(sub, &to.join(sub.path().strip_prefix(dir.path()).unwrap_or(sub.path())), false)?;
        }
    }
    Ok(())
}

/// The SDK with the contract it binds, for a plugin outside this repository.
fn vendor_sdk(to: &Path) -> Result<()> {
    std::fs::create_dir_all(to.join("src"))?;
    std::fs::write(to.join("Cargo.toml"), SDK_MANIFEST)?;
    write_dir(&SDK_SRC, &to.join("src"), false)?;
    for version in CONTRACT.dirs() {
        write_dir(version, &to.join("wit").join(version.path()), false)?;
    }
    Ok(())
}

/// This repository's `sdk/`, if `from` is inside a Hostel checkout.
fn repo_sdk(from: &Path) -> Option<PathBuf> {
    from.ancestors().map(|d| d.join("sdk")).find(|sdk| {
        std::fs::read_to_string(sdk.join("Cargo.toml")).is_ok_and(|t| t.contains("name = \"hostel-sdk\""))
    })
}

/// `to` as a path relative to `from` (both absolute).
fn relative(from: &Path, to: &Path) -> String {
    let (from, to): (Vec<Component>, Vec<Component>) = (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_paths_climb_then_descend() {
        assert_eq!(super::relative("/r/plugins/a".as_ref(), "/r/sdk".as_ref()), "../../sdk");
        assert_eq!(super::relative("/r/a".as_ref(), "/r/a/b".as_ref()), "b");
    }
}
