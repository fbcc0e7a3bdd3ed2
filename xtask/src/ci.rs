//! `cargo xtask ci`: what `.ci/run` runs (toolchain components, `cargo fmt --check`, clippy with
//! `-D warnings`, `cargo test --workspace`, `cargo test --workspace --benches`), in the same
//! order and with the same commands, then `cargo xtask size-check`.

use anyhow::{Context as _, Result};

use crate::size;
use crate::workspace::{self, Workspace};

/// The rustup components `.ci/run` makes sure of.
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
    if which("git").is_none() {
        workspace::run(workspace::cmd(&sh, "apt-get").args(["update", "-qq"]))?;
        workspace::run(workspace::cmd(&sh, "apt-get").args(["install", "-y", "-qq", "git"]))?;
    }
    workspace::run(workspace::cmd(&sh, &cargo).arg("--version"))?;

    for args in CARGO_STEPS {
        let title = match args[0] {
            "test" if args.contains(&"--benches") => format!(
                "bench smoke: cargo {} (runs every divan bench once)",
                args.join(" ")
            ),
            "test" => format!("cargo {} (the README's test command)", args.join(" ")),
            _ => format!("cargo {}", args.join(" ")),
        };
        step(&title);
        workspace::run(workspace::cmd(&sh, &cargo).args(*args))
            .with_context(|| format!("CI step `cargo {}` failed", args.join(" ")))?;
    }

    step("cargo xtask size-check");
    size::run(ws).context("CI step `cargo xtask size-check` failed")?;
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

    /// `cargo xtask ci` must stay what `.ci/run` does: every cargo command `.ci/run` runs is
    /// one of our steps, in the same order.
    #[test]
    fn the_steps_match_ci_run() {
        let script = std::fs::read_to_string(workspace::manifest_root().join(".ci/run")).unwrap();
        let ran: Vec<String> = script
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("cargo ") && !l.starts_with("cargo --version"))
            .map(str::to_owned)
            .collect();
        let ours: Vec<String> = CARGO_STEPS
            .iter()
            .map(|a| format!("cargo {}", a.join(" ")))
            .collect();
        // After the switch, .ci/run may call `cargo xtask ci` instead of listing the steps.
        if ran.iter().any(|l| l.starts_with("cargo xtask ci")) {
            return;
        }
        assert_eq!(
            ran, ours,
            ".ci/run changed: update xtask/src/ci.rs to match"
        );
        for c in COMPONENTS {
            assert!(script.contains(c), ".ci/run no longer installs {c}");
        }
    }
}
