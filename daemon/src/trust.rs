//! Trusted repository rule files: `safeshell trust` records a file's exact content (SHA-256), and
//! only a file whose content still matches may use `allow` and `redirect` rules.
//!
//! A repository you clone can ship `.safeshell/rules.toml`. Untrusted, it may only add
//! restrictions: a rule that allows, or that runs a command of the file's choosing (`redirect`),
//! is reported and not obeyed. Trust is per content, like direnv: any change to the file needs a
//! new `safeshell trust`. The list lives in `~/.safeshell/trusted.toml`, which agents may not
//! write (built-in rule `safeshell-policy-write`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use safeshell_rules::{RuleSet, Source, SourceKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::paths;

/// The trust list's file name in SafeShell's home.
pub const TRUST_FILE: &str = "trusted.toml";

/// `~/.safeshell/trusted.toml`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustList {
    #[serde(default)]
    trusted: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The rule file, canonical.
    path: String,
    /// SHA-256 of its content, hex.
    sha256: String,
}

/// The trust list's path.
pub fn trust_file() -> Option<PathBuf> {
    paths::safeshell_home().map(|d| d.join(TRUST_FILE))
}

fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_list(path: &Path) -> Result<TrustList> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("{}: invalid", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustList::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// Whether the user trusted this repository rule file with exactly this content. A missing or
/// unreadable trust list trusts nothing.
pub fn is_trusted(path: &Path, text: &str) -> bool {
    let Some(list) = trust_file().and_then(|f| read_list(&f).ok()) else {
        return false;
    };
    let (path, hash) = (canonical(path), sha256_hex(text));
    list.trusted
        .iter()
        .any(|e| e.path == path && e.sha256 == hash)
}

/// The repository rule file `safeshell trust` works on: the one given, else the nearest one for
/// the working directory.
fn target(file: Option<PathBuf>) -> Result<PathBuf> {
    match file {
        Some(f) if f.is_file() => Ok(f),
        Some(f) => bail!("{} is not a file", f.display()),
        None => {
            let cwd = std::env::current_dir().context("cannot read the working directory")?;
            paths::repo_rules_path(&cwd).with_context(|| {
                format!(
                    "no repository rule file (.safeshell/rules.toml) in {} or above",
                    cwd.display()
                )
            })
        }
    }
}

/// `safeshell trust [FILE] [--revoke] [--list]`.
pub fn run(file: Option<PathBuf>, revoke: bool, list: bool) -> Result<u8> {
    let store = trust_file().context("neither SAFESHELL_HOME nor HOME is set")?;
    let mut trust = read_list(&store)?;
    if list {
        if trust.trusted.is_empty() {
            println!("No trusted repository rule files.");
        }
        for e in &trust.trusted {
            let state = match std::fs::read_to_string(&e.path) {
                Ok(text) if sha256_hex(&text) == e.sha256 => "trusted",
                Ok(_) => "changed since trusted: not trusted",
                Err(_) => "missing",
            };
            println!("{}  ({state})", e.path);
        }
        return Ok(0);
    }
    let path = target(file)?;
    let key = canonical(&path);
    let before = trust.trusted.len();
    trust.trusted.retain(|e| e.path != key);
    if revoke {
        if trust.trusted.len() == before {
            println!("{key} was not trusted.");
        } else {
            write_list(&store, &trust)?;
            println!(
                "{key} is no longer trusted: its allow and redirect rules are reported, not obeyed."
            );
        }
        return Ok(0);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // Show what trusting changes, and refuse a file that does not load at all.
    let source = Source {
        kind: SourceKind::Repo,
        name: path.display().to_string(),
        text: text.clone(),
        trusted: false,
    };
    let set = RuleSet::load(&[Source::builtin(), source])
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("{} has errors; fix them first", path.display()))?;
    if set.notices().is_empty() {
        println!(
            "{key} only adds restrictions, which apply without trust; trusting it anyway, so later versions that allow or redirect are noticed."
        );
    } else {
        println!("Trusting {key} lets these rules take effect:");
        for n in set.notices() {
            println!("  {}:{}: {}", n.file, n.line, n.message);
        }
    }
    trust.trusted.push(Entry {
        path: key.clone(),
        sha256: sha256_hex(&text),
    });
    write_list(&store, &trust)?;
    println!(
        "Trusted this exact content (sha256 {}). Any change to the file needs `safeshell trust` again.",
        &sha256_hex(&text)[..16]
    );
    Ok(0)
}

fn write_list(store: &Path, trust: &TrustList) -> Result<()> {
    let text = format!(
        "# Repository rule files whose allow and redirect rules SafeShell obeys, by exact content.\n\
         # Managed by `safeshell trust`; agents may not change this file.\n{}",
        toml::to_string(trust).context("cannot write the trust list")?
    );
    if let Some(dir) = store.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = store.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, store).with_context(|| format!("cannot replace {}", store.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
