//! Instructions executed by evaluations with the built-in rules, counted by valgrind's
//! callgrind (deterministic for a given binary, unlike time), checked against
//! `baseline-instructions.json` (10 % allowance). The test binary re-runs itself under
//! callgrind with only `xtask_perf_measured_region` collected. Skipped when valgrind is missing.
//!
//! The count is of this test binary's build (the `test` profile, unoptimised), so it tracks
//! algorithmic work rather than what the optimiser makes of it.

use std::hint::black_box;
use std::process::Command;

use safeshell_rules::{CommandInput, Context, RuleSet, StaticFacts};

use crate::allocations::{CWD, SHELL_CASES, facts};
use crate::support;

/// Set in the child process that callgrind runs.
const CHILD_ENV: &str = "SAFESHELL_PERF_CALLGRIND_CHILD";
/// How many times each case is evaluated in the measured region.
const ROUNDS: usize = 5;

#[inline(never)]
fn xtask_perf_measured_region(rules: &RuleSet, facts: &StaticFacts) {
    for _ in 0..ROUNDS {
        for (_, command) in SHELL_CASES {
            black_box(rules.evaluate(
                CommandInput::Shell(black_box(command)),
                Context::Ai,
                CWD,
                facts,
            ));
        }
    }
}

/// Does the measured work when run under callgrind by the test below; otherwise does nothing.
#[test]
fn callgrind_child_evaluates_typical_commands() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let rules = RuleSet::builtin();
    let facts = facts();
    // Warm up: lazily compiled regexes are not part of the steady-state cost.
    for (_, command) in SHELL_CASES {
        black_box(rules.evaluate(CommandInput::Shell(command), Context::Ai, CWD, &facts));
    }
    xtask_perf_measured_region(&rules, &facts);
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn instructions_per_evaluation_stay_within_baseline() {
    if support::skip("instructions") || std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let Some(valgrind) = which("valgrind") else {
        eprintln!("instructions: skipped: valgrind is not installed (apt-get install valgrind)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(valgrind);
    cmd.arg("--tool=callgrind")
        .arg(format!(
            "--callgrind-out-file={}",
            dir.path().join("callgrind.out").display()
        ))
        .arg("--toggle-collect=*xtask_perf_measured_region*")
        .arg(&exe)
        .args([
            "--exact",
            "instructions::callgrind_child_evaluates_typical_commands",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env_remove(support::UPDATE_ENV);
    eprintln!("$ {cmd:?}");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "callgrind run failed ({}):\n{stderr}",
        out.status
    );
    let collected: u64 = stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Collected :` line in callgrind's output:\n{stderr}"));
    assert!(
        collected > 0,
        "callgrind collected nothing: the toggle function was not found\n{stderr}"
    );
    support::check_baseline(
        "baseline-instructions.json",
        "instructions",
        &[(
            format!("evaluate/{ROUNDS}x{}_typical_commands", SHELL_CASES.len()),
            collected,
        )],
    );
}
