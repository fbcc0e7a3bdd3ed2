//! `cargo xtask ci`, which `.ci/run` runs: the rustfmt and clippy components, git, tmux,
//! valgrind and glibc's static library if missing, `cargo fmt --all --check`, clippy with `-D warnings`, `cargo xtask size-check`
//! (which builds the shipped binaries), `cargo test --workspace` with the performance regression
//! tests pointed at those shipped binaries, and `cargo test --workspace --benches` (the cargo
//! commands `.ci/run` used to run itself, in the same order).

use anyhow::{Context as _, Result, bail};

use crate::dist::{self, Linkage};
use crate::size;
use crate::workspace::{self, Workspace};

/// The rustup components CI makes sure of.
pub const COMPONENTS: &[&str] = &["rustfmt", "clippy"];

/// The cargo steps, exactly as `.ci/run` runs them.
pub const CARGO_STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace"],
    &["test", "--workspace", "--benches"],
];

fn step(title: &str) {
    println!("== {title}");
}

/// Runs every step; stops at the first failure.
pub fn run(ws: &Workspace) -> Result<()> {
    let sh = ws.shell()?;
    let cargo = workspace::cargo();

    step("toolchain");
    // As in .ci/run: install rustfmt and clippy if this toolchain lacks them.
    eprintln!("$ rustup component list --installed");
    let installed = workspace::cmd(&sh, "rustup")
        .args(["component", "list", "--installed"])
        .quiet()
        .ignore_stderr()
        .ignore_status()
        .read()
        .unwrap_or_default();
    for component in COMPONENTS {
        if !installed.lines().any(|l| l.starts_with(component)) {
            workspace::run(workspace::cmd(&sh, "rustup").args(["component", "add", component]))?;
        }
    }
    // git (rule facts, test repositories), tmux (the monitor's end-to-end tests) and valgrind
    // (the instruction-count regression test, which otherwise skips itself).
    let mut missing: Vec<&str> = ["git", "tmux", "valgrind"]
        .into_iter()
        .filter(|t| which(t).is_none())
        .collect();
    // glibc's static library, for the statically linked shim that ships.
    if dist::STATIC_SHIM && !dist::static_libc_available(&sh) {
        missing.push("libc6-dev");
    }
    if !missing.is_empty() {
        workspace::run(workspace::cmd(&sh, "apt-get").args(["update", "-qq"]))?;
        workspace::run(
            workspace::cmd(&sh, "apt-get")
                .args(["install", "-y", "-qq"])
                .args(&missing),
        )?;
    }
    workspace::run(workspace::cmd(&sh, &cargo).arg("--version"))?;

    let shipped = ws.target.join(dist::PROFILE);
    let mut built = false;
    for args in CARGO_STEPS {
        if args[0] == "test" && !built {
            // Build what ships first, so the shim-overhead regression test measures the real,
            // optimised binaries (bound 3x) rather than debug ones (6x, blind to smaller losses).
            step("cargo xtask size-check (builds the shipped binaries)");
            let checked = size::run(ws).context("CI step `cargo xtask size-check` failed")?;
            // Where the shim can be linked statically, it must be: that is what ships, and what
            // the shim-overhead test's tighter bound is for.
            if dist::STATIC_SHIM
                && let Some(shim) = checked.iter().find(|c| c.name == "safeshell-shim")
                && shim.linkage != Linkage::Static
            {
                bail!(
                    "the shipped safeshell-shim is linked {}, not statically (see the warning \
                     above for the fix)",
                    shim.linkage.as_str()
                );
            }
            built = true;
        }
        let title = match args[0] {
            "test" if args.contains(&"--benches") => format!(
                "bench smoke: cargo {} (runs every divan bench once)",
                args.join(" ")
            ),
            "test" => format!("cargo {} (the README's test command)", args.join(" ")),
            _ => format!("cargo {}", args.join(" ")),
        };
        step(&title);
        let mut cmd = workspace::cmd(&sh, &cargo).args(*args);
        if args[0] == "test" {
            eprintln!("(SAFESHELL_PERF_BIN_DIR={})", shipped.display());
            cmd = cmd.env("SAFESHELL_PERF_BIN_DIR", &shipped);
        }
        workspace::run(cmd)
            .with_context(|| format!("CI step `cargo {}` failed", args.join(" ")))?;
    }
    println!("== CI passed");
    Ok(())
}

/// The first `name` on PATH (what `command -v` finds for a program).
fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo xtask ci` must stay what `.ci/run` did before it delegated to us: the same cargo
    /// commands in the same order. While `.ci/run` still lists them itself, they must match it.
    #[test]
    fn the_steps_match_ci_run() {
        let script = std::fs::read_to_string(workspace::manifest_root().join(".ci/run")).unwrap();
        let ours: Vec<String> = CARGO_STEPS
            .iter()
            .map(|a| format!("cargo {}", a.join(" ")))
            .collect();
        if script
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("cargo xtask ci"))
        {
            // .ci/run delegates: the steps are ours, and must still be the ones it used to run.
            assert_eq!(
                ours,
                [
                    "cargo fmt --all --check",
                    "cargo clippy --workspace --all-targets -- -D warnings",
                    "cargo test --workspace",
                    "cargo test --workspace --benches",
                ]
            );
            return;
        }
        let ran: Vec<String> = script
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("cargo ") && !l.starts_with("cargo --version"))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            ran, ours,
            ".ci/run changed: update xtask/src/ci.rs to match"
        );
        for c in COMPONENTS {
            assert!(script.contains(c), ".ci/run no longer installs {c}");
        }
    }
}
