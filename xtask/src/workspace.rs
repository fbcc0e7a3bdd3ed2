//! The workspace as xtask sees it: root and target directories and the bench targets of each
//! member (from `cargo metadata`), plus the helpers that echo every external command before it
//! runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use xshell::{Cmd, Shell};

/// A workspace member and its divan bench targets.
#[derive(Debug, Clone)]
pub struct Package {
    /// The package name (`safeshell-rules`).
    pub name: String,
    /// Its directory relative to the workspace root (`rules`).
    pub dir: String,
    /// The names of its `[[bench]]` targets.
    pub benches: Vec<String>,
}

/// What xtask needs to know about the workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root (where the root `Cargo.toml` is).
    pub root: PathBuf,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR`).
    pub target: PathBuf,
    /// Every workspace member.
    pub packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    packages: Vec<MetaPackage>,
}

#[derive(Deserialize)]
struct MetaPackage {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    kind: Vec<String>,
}

impl Workspace {
    /// Reads the workspace layout with `cargo metadata --no-deps`.
    pub fn load() -> Result<Workspace> {
        let sh = shell_at(&manifest_root())?;
        let cargo = cargo();
        let json = read(cmd(&sh, &cargo).args(["metadata", "--no-deps", "--format-version", "1"]))
            .context("cannot read the workspace layout with `cargo metadata`")?;
        let meta: Metadata =
            serde_json::from_str(&json).context("cannot parse `cargo metadata` output")?;
        let packages = meta
            .packages
            .into_iter()
            .map(|p| {
                let dir = p
                    .manifest_path
                    .parent()
                    .and_then(|d| d.strip_prefix(&meta.workspace_root).ok())
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                let mut benches: Vec<String> = p
                    .targets
                    .iter()
                    .filter(|t| t.kind.iter().any(|k| k == "bench"))
                    .map(|t| t.name.clone())
                    .collect();
                benches.sort();
                Package {
                    name: p.name,
                    dir,
                    benches,
                }
            })
            .collect();
        Ok(Workspace {
            root: meta.workspace_root,
            target: meta.target_directory,
            packages,
        })
    }

    /// Finds a package by name (`safeshell-rules`) or directory (`rules`).
    pub fn package(&self, name_or_dir: &str) -> Result<&Package> {
        self.packages
            .iter()
            .find(|p| p.name == name_or_dir || p.dir == name_or_dir)
            .with_context(|| {
                let known: Vec<String> = self
                    .packages
                    .iter()
                    .map(|p| format!("{} ({})", p.dir, p.name))
                    .collect();
                format!(
                    "no workspace package `{name_or_dir}`; known: {}",
                    known.join(", ")
                )
            })
    }

    /// `target/xtask`, created if missing.
    pub fn xtask_dir(&self) -> Result<PathBuf> {
        let dir = self.target.join("xtask");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// A shell whose working directory is the workspace root.
    pub fn shell(&self) -> Result<Shell> {
        shell_at(&self.root)
    }
}

/// The workspace root derived from this crate's manifest directory (xtask lives one level down).
pub fn manifest_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn shell_at(dir: &Path) -> Result<Shell> {
    let sh = Shell::new().context("cannot create a shell for external commands")?;
    sh.change_dir(dir);
    Ok(sh)
}

/// The cargo that runs us (`$CARGO`), else `cargo` from PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// An xshell command for `program`.
pub fn cmd<'a>(sh: &'a Shell, program: &str) -> Cmd<'a> {
    sh.cmd(program)
}

/// Echoes `cmd` (as `$ program args…`, like xshell's `run`), runs it and returns its stdout;
/// stderr goes to the terminal. A non-zero exit status is an error.
pub fn read(cmd: Cmd<'_>) -> Result<String> {
    eprintln!("$ {cmd}");
    let text = cmd.to_string();
    cmd.read().with_context(|| format!("`{text}` failed"))
}

/// Echoes `cmd` and runs it with inherited stdout and stderr; a non-zero exit status is an error.
pub fn run(cmd: Cmd<'_>) -> Result<()> {
    let text = cmd.to_string();
    cmd.run().with_context(|| format!("`{text}` failed"))
}

/// Prints a std [`Command`] the way xshell echoes its own (`$ ENV=… program args…`), for the
/// commands xshell cannot run for us (long-lived children, timed loops).
pub fn echo(cmd: &Command) {
    eprintln!("$ {}", describe(cmd));
}

/// `[env -u REMOVED…] ENV=value program args…` for a std [`Command`] (only the variables it
/// changes are shown; a cleared environment is not visible through `Command`, so callers that
/// clear it say so).
pub fn describe(cmd: &Command) -> String {
    let removed: Vec<String> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| format!("-u {}", k.to_string_lossy()))
        .collect();
    let mut parts: Vec<String> = Vec::new();
    if !removed.is_empty() {
        parts.push(format!("env {}", removed.join(" ")));
    }
    parts.extend(cmd.get_envs().filter_map(|(k, v)| {
        v.map(|v| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
    }));
    parts.push(cmd.get_program().to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

/// Fails with a clear message when `path` is not a file.
pub fn require_file(path: &Path, hint: &str) -> Result<()> {
    if !path.is_file() {
        bail!("{} does not exist; {hint}", path.display());
    }
    Ok(())
}
