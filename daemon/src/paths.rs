//! Where SafeShell keeps its files, and how rule files are found for a working directory.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use safeshell_rules::{Source, SourceKind};

/// The file name of rule files, global and per repository.
pub const RULES_FILE: &str = "rules.toml";

/// SafeShell's home: `$SAFESHELL_HOME`, else `~/.safeshell`.
pub fn safeshell_home() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SAFESHELL_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    home_dir().map(|h| h.join(".safeshell"))
}

/// The user's home directory from `$HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The global rules file, `~/.safeshell/rules.toml`.
pub fn global_rules_path() -> Option<PathBuf> {
    safeshell_home().map(|d| d.join(RULES_FILE))
}

/// The nearest `.safeshell/rules.toml` walking up from `cwd`, skipping the global file.
pub fn repo_rules_path(cwd: &Path) -> Option<PathBuf> {
    let global = global_rules_path();
    cwd.ancestors()
        .map(|dir| dir.join(".safeshell").join(RULES_FILE))
        .find(|candidate| Some(candidate) != global.as_ref() && candidate.is_file())
}

/// Reads one rule file as a source of the given kind.
pub fn read_source(kind: SourceKind, path: &Path) -> Result<Source> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read rule file {}", path.display()))?;
    let trusted = kind == SourceKind::Repo && crate::trust::is_trusted(path, &text);
    Ok(Source {
        kind,
        name: path.display().to_string(),
        text,
        trusted,
    })
}

/// The sources that apply to a command run in `cwd`: built-in, global (if present), repository
/// (if present).
pub fn sources_for(cwd: &Path) -> Result<Vec<Source>> {
    let mut sources = vec![Source::builtin()];
    if let Some(global) = global_rules_path().filter(|p| p.is_file()) {
        sources.push(read_source(SourceKind::Global, &global)?);
    }
    if let Some(repo) = repo_rules_path(cwd) {
        sources.push(read_source(SourceKind::Repo, &repo)?);
    }
    Ok(sources)
}
