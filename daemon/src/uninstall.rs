//! `safeshell uninstall`: removes what `init`, `hook install` and the shell snippet added — the
//! hooks in every agent's settings (and the backups SafeShell made of them), the shims, the rc
//! line, SafeShell's home (unless `--keep-config`) — stops the daemon, and says what it left.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::{daemon_cmd, hooks, paths};

/// The files kept with `--keep-config`: the user's settings, rules, trusted rule files and the
/// audit log (with its rotated files, `audit.jsonl.N`).
fn kept_with_config(name: &str) -> bool {
    matches!(name, "config.toml" | "rules.toml" | "trusted.toml") || name.starts_with("audit.jsonl")
}

/// The rc files the snippet may have been added to.
const RC_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".config/fish/config.fish",
];

/// A line that only loads SafeShell's snippet (`eval "$(safeshell init --shell bash)"`,
/// `safeshell init --shell fish | source`), as the README tells people to add it.
fn is_snippet_line(line: &str) -> bool {
    let t = line.trim();
    let loads = t.starts_with("eval \"$(safeshell init --shell ")
        || t.starts_with("eval \"$(") && t.contains("/safeshell init --shell ")
        || t.starts_with("safeshell init --shell fish | source");
    // Nothing else on the line: a line that does more is the person's to edit.
    loads && !t.contains(';') && !t.contains("&&") && !t.contains("||")
}

/// Entry point. `cwd` is the directory whose repository's hook settings are also cleaned.
pub fn run(keep_config: bool, cwd: &Path) -> Result<u8> {
    if let Some(marker) = safeshell_protocol::AGENT_ENV_MARKERS
        .iter()
        .find(|m| std::env::var_os(m).is_some())
    {
        bail!(
            "this looks like an AI agent's shell (`{marker}` is set): SafeShell is uninstalled by a person, in their own terminal"
        );
    }
    let home = paths::home_dir().context("HOME is not set")?;
    let state = paths::safeshell_home().context("neither SAFESHELL_HOME nor HOME is set")?;
    let mut left: Vec<String> = Vec::new();

    // 1. The hooks, in the user's and this repository's settings of every agent.
    for agent in hooks::AGENTS {
        for project in [false, true] {
            let Ok(site) = hooks::site(agent, project, &home, cwd) else {
                continue;
            };
            match hooks::registered(&site) {
                Ok(found) if !found.is_empty() => match hooks::uninstall(&site) {
                    Ok(_) => println!("removed the {agent} hook from {}", site.path.display()),
                    Err(e) => left.push(format!(
                        "the {agent} hook in {}: {e:#} (remove it by hand)",
                        site.path.display()
                    )),
                },
                Ok(_) => {}
                Err(e) => left.push(format!(
                    "{} could not be read ({e:#}): check it for a `safeshell-shim hook {agent}` entry",
                    site.path.display()
                )),
            }
            // The backups `hook install` made; the settings file itself is the person's.
            for suffix in ["safeshell-backup", "safeshell-tmp"] {
                let extra = PathBuf::from(format!("{}.{suffix}", site.path.display()));
                if extra.is_file() && std::fs::remove_file(&extra).is_ok() {
                    println!("removed {}", extra.display());
                }
            }
        }
    }

    // 2. The daemon.
    if let Err(e) = daemon_cmd::stop() {
        left.push(format!("the daemon: {e:#} (stop it with `kill`)"));
    }

    // 3. The rc line.
    for rc in RC_FILES {
        let path = home.join(rc);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        let mut others = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if is_snippet_line(line) {
                removed.push(line.to_owned());
            } else {
                if line.contains("safeshell") && !line.trim_start().starts_with('#') {
                    others.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
                kept.push(line);
            }
        }
        if !removed.is_empty() {
            let mut updated = kept.join("\n");
            if text.ends_with('\n') {
                updated.push('\n');
            }
            let partial = path.with_file_name(format!(
                ".{}.safeshell-partial",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
            std::fs::write(&partial, updated)
                .and_then(|()| std::fs::rename(&partial, &path))
                .with_context(|| format!("cannot update {}", path.display()))?;
            for line in &removed {
                println!("removed from {}: {line}", path.display());
            }
        }
        for line in others {
            left.push(format!(
                "{line} (mentions SafeShell: remove it if SafeShell added it)"
            ));
        }
    }

    // 4. The shims and SafeShell's home.
    let shims = state.join(crate::init::SHIMS_DIR);
    if shims.is_dir() {
        std::fs::remove_dir_all(&shims)
            .with_context(|| format!("cannot remove {}", shims.display()))?;
        println!("removed the shims in {}", shims.display());
    }
    if state.is_dir() {
        if keep_config {
            let mut kept = Vec::new();
            for entry in std::fs::read_dir(&state)?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if kept_with_config(&name) {
                    kept.push(name);
                    continue;
                }
                let path = entry.path();
                let removed = if path.is_dir() && !path.is_symlink() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                if let Err(e) = removed {
                    left.push(format!("{}: {e}", path.display()));
                }
            }
            kept.sort();
            left.push(format!(
                "{} with {} (--keep-config)",
                state.display(),
                kept.join(", ")
            ));
        } else {
            std::fs::remove_dir_all(&state)
                .with_context(|| format!("cannot remove {}", state.display()))?;
            println!(
                "removed {} (config, rules, audit log, trusted files)",
                state.display()
            );
        }
    }

    // 5. The binaries: a running program cannot remove itself cleanly everywhere.
    let me = std::env::current_exe().ok();
    let shim = crate::init::shim_executable().ok();
    let binaries: Vec<String> = me
        .iter()
        .chain(shim.iter())
        .map(|p| p.display().to_string())
        .collect();
    if !binaries.is_empty() {
        left.push(format!(
            "the programs themselves: rm {}",
            binaries.join(" ")
        ));
    }
    println!("\nSafeShell is uninstalled.");
    if !left.is_empty() {
        println!("Left in place:");
        for item in &left {
            println!("  - {item}");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_snippet_line_is_recognised() {
        assert!(is_snippet_line("eval \"$(safeshell init --shell bash)\""));
        assert!(is_snippet_line(
            "  eval \"$(/home/u/.local/bin/safeshell init --shell zsh)\""
        ));
        assert!(is_snippet_line("safeshell init --shell fish | source"));
        assert!(!is_snippet_line(
            "# eval \"$(safeshell init --shell bash)\""
        ));
        assert!(!is_snippet_line(
            "eval \"$(safeshell init --shell bash)\"; export FOO=1"
        ));
        assert!(!is_snippet_line("export PATH=~/.safeshell/shims:$PATH"));
        assert!(kept_with_config("audit.jsonl.3") && kept_with_config("rules.toml"));
        assert!(!kept_with_config("daemon.pid") && !kept_with_config("shims"));
    }
}
