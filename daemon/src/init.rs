//! `safeshell init` and `safeshell refresh`: the state directory, config, shims and shell set-up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use safeshell_rules::RuleSet;

use crate::config::{self, Config};
use crate::{paths, server};

/// The shims directory name in the state directory.
pub const SHIMS_DIR: &str = "shims";

/// Names never shimmed: SafeShell's own tools, and shell builtins a PATH shim cannot intercept.
pub const NEVER_SHIM: &[&str] = &[
    "safeshell",
    "safeshell-shim",
    ".",
    "source",
    "eval",
    "exec",
    "command",
    "builtin",
    "time",
    "type",
    "cd",
    "export",
    "set",
    "unset",
    "alias",
    "[",
    "[[",
    "test",
    "true",
    "false",
    ":",
];

/// The commented `rules.toml` written by `init` (built-in rules stay in the binary).
pub const RULES_TEMPLATE: &str = r#"# Your SafeShell rules. The built-in rules live in the binary (`safeshell rules list`);
# this file adds to them and may change them. Reference: docs/rules.md.
# Check it with `safeshell rules validate`; the daemon reloads it when it changes.

# [[rules]]
# name = "no-agent-deploys"
# commands = ["make"]
# action = "deny"
# context = "ai"
# message = "Deploys go through CI."
# when = { positional = ["deploy"] }
# examples = { match = ["make deploy"], not_match = ["make test"] }

# [[overrides]]
# name = "git-rebase"     # a built-in rule
# disable = true

# [settings]
# unverifiable = { ai = "require_approval", human = "allow" }
"#;

/// The shim executable installed next to `safeshell`.
pub fn shim_executable() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SAFESHELL_SHIM_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("cannot find the safeshell executable")?;
    let shim = exe.with_file_name("safeshell-shim");
    if !shim.is_file() {
        bail!(
            "safeshell-shim is not next to {} (build it with `cargo build --release -p safeshell-shim`, or set SAFESHELL_SHIM_BIN)",
            exe.display()
        );
    }
    Ok(shim)
}

/// Programs shimmed whatever the rules name: rules that protect a resource wherever it is named
/// (`read-secrets`, `shell-rc-named`) list no programs, yet the PATH-shim surface must see the
/// ordinary readers and writers of files for them to apply (`cat .env` run by a shell SafeShell
/// does not wrap). Never C compilers: a shim named `cc` breaks how gcc finds its own install.
pub const RESOURCE_PROGRAMS: &[&str] = &[
    "cat", "tac", "less", "more", "most", "head", "tail", "bat", "batcat", "nl", "view", "strings",
    "xxd", "hexdump", "od", "base64", "base32", "grep", "egrep", "fgrep", "rg", "ag", "ack", "awk",
    "gawk", "cut", "sort", "uniq", "diff", "cmp", "cp", "mv", "ln", "install", "scp", "rsync",
    "tar", "zip", "unzip", "7z", "gpg", "jq", "yq", "openssl", "curl", "wget", "nc", "sed", "dd",
    "tee", "truncate", "vim", "vi", "nano", "emacs", "code", "python", "python3", "node", "perl",
    "ruby", "php", "paste", "rev", "fold", "pr", "column", "iconv", "split", "zcat", "sqlite3",
];

/// The commands to shim: every program the active rules name (globs expanded against PATH),
/// [`RESOURCE_PROGRAMS`], plus `extra_shims`, minus [`NEVER_SHIM`].
pub fn shim_names(rules: &RuleSet, config: &Config) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = RESOURCE_PROGRAMS.iter().map(|s| (*s).to_owned()).collect();
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for rule in rules.rules().iter().filter(|r| !r.disabled) {
        for c in &rule.commands {
            if c.contains(['*', '?', '[']) {
                let Ok(glob) = safeshell_rules::glob::Glob::new(c) else {
                    continue;
                };
                for dir in &path_dirs {
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    for e in entries.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if glob.is_match(&name) {
                            names.insert(name);
                        }
                    }
                }
            } else {
                names.insert(c.clone());
            }
        }
    }
    names.extend(config.extra_shims.iter().cloned());
    names.retain(|n| !NEVER_SHIM.contains(&n.as_str()) && !n.contains('/'));
    names
}

/// Creates or updates the shims: adds missing links, fixes links to another shim, removes stale ones.
pub fn sync_shims(dir: &Path, shim: &Path, wanted: &BTreeSet<String>) -> Result<(usize, usize)> {
    server::create_private_dir(dir)?;
    let (mut added, mut removed) = (0, 0);
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let link = entry.path();
        let stale = !wanted.contains(&name);
        // A link to another shim binary (an old build, a moved install) is replaced below.
        if stale || std::fs::read_link(&link).ok().as_deref() != Some(shim) {
            std::fs::remove_file(&link)
                .with_context(|| format!("cannot remove {}", link.display()))?;
            removed += usize::from(stale);
        }
    }
    for name in wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(shim, &link)
                .with_context(|| format!("cannot create shim {}", link.display()))?;
            added += 1;
        }
    }
    Ok((added, removed))
}

/// Adds the shims `wanted` names that are missing, and points shims that link elsewhere at
/// `shim`; never removes one (the daemon calls this whenever its rules change: a shim another
/// loaded rule source still needs must not go). Returns the names added or fixed.
pub fn add_shims(dir: &Path, shim: &Path, wanted: &BTreeSet<String>) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new()); // not set up (`safeshell init` makes it)
    }
    let mut changed = Vec::new();
    for name in wanted {
        let link = dir.join(name);
        match std::fs::read_link(&link) {
            Ok(target) if target == shim => continue,
            Ok(_) => std::fs::remove_file(&link)
                .with_context(|| format!("cannot replace {}", link.display()))?,
            Err(_) if std::fs::symlink_metadata(&link).is_ok() => std::fs::remove_file(&link)
                .with_context(|| format!("cannot replace {}", link.display()))?,
            Err(_) => {}
        }
        std::os::unix::fs::symlink(shim, &link)
            .with_context(|| format!("cannot create shim {}", link.display()))?;
        changed.push(name.clone());
    }
    Ok(changed)
}

pub fn init(shell: Option<&str>) -> Result<u8> {
    let state = paths::safeshell_home().context("HOME is not set")?;
    if let Some(shell) = shell {
        print!("{}", snippet(shell, &state.join(SHIMS_DIR))?);
        return Ok(0);
    }
    server::create_private_dir(&state)?;
    let config_path = state.join("config.toml");
    if !config_path.exists() {
        std::fs::write(&config_path, config::template())?;
        println!("created {}", config_path.display());
    }
    let rules_path = state.join(paths::RULES_FILE);
    if !rules_path.exists() {
        std::fs::write(&rules_path, RULES_TEMPLATE)?;
        println!("created {}", rules_path.display());
    }
    let (added, removed, total) = refresh_shims(&state)?;
    println!(
        "shims: {total} in {} ({added} added, {removed} removed)",
        state.join(SHIMS_DIR).display()
    );
    println!(
        "\nNext:\n  1. add to your shell's rc file:   eval \"$(safeshell init --shell bash)\"   (or zsh, fish: see --help)\n  \
         2. start the daemon:              safeshell daemon start\n  \
         3. for an agent, also set:        SHELL={}\n  \
         4. watch and approve:             safeshell monitor",
        shim_executable()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "…/safeshell-shim".into())
    );
    Ok(0)
}

pub fn refresh() -> Result<u8> {
    let state = paths::safeshell_home().context("HOME is not set")?;
    let (added, removed, total) = refresh_shims(&state)?;
    println!("shims: {total} ({added} added, {removed} removed)");
    Ok(0)
}

fn refresh_shims(state: &Path) -> Result<(usize, usize, usize)> {
    let config = Config::load(&state.join("config.toml"))?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let rules = crate::check::load_rules(&cwd)?;
    let names = shim_names(&rules, &config);
    let (added, removed) = sync_shims(&state.join(SHIMS_DIR), &shim_executable()?, &names)?;
    Ok((added, removed, names.len()))
}

/// The rc-file snippet that puts the shims first on PATH.
pub fn snippet(shell: &str, shims: &Path) -> Result<String> {
    let dir = shims.display();
    Ok(match shell {
        "bash" | "zsh" => format!(
            "# SafeShell: shims first on PATH (also inherited by non-interactive shells and agents started from here)\n\
             case \":$PATH:\" in *\":{dir}:\"*) ;; *) export PATH=\"{dir}:$PATH\" ;; esac\n\
             export SAFESHELL_SHIMS_DIR=\"{dir}\"\n\
             # Optional: also check the `source`, `.` and `eval` builtins, which PATH shims cannot see.\n\
             if [ -n \"${{SAFESHELL_GUARD_BUILTINS:-}}\" ]; then\n\
             \x20 source() {{ safeshell-shim check source \"$@\" && builtin source \"$@\"; }}\n\
             \x20 .() {{ safeshell-shim check . \"$@\" && builtin . \"$@\"; }}\n\
             \x20 eval() {{ safeshell-shim check eval \"$@\" && builtin eval \"$@\"; }}\n\
             fi\n"
        ),
        "fish" => format!(
            "# SafeShell: shims first on PATH\n\
             if not contains -- \"{dir}\" $PATH\n    set -gx PATH \"{dir}\" $PATH\nend\n\
             set -gx SAFESHELL_SHIMS_DIR \"{dir}\"\n"
        ),
        other => bail!("unsupported shell `{other}`: use bash, zsh or fish"),
    })
}
