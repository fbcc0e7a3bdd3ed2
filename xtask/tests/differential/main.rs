//! Differential tests of the shell parser against bash itself.
//!
//! Each command runs in a real bash inside `bash-sandbox` (no network, Landlock: writes only in
//! a temporary work directory, programs only from a directory of stubs, uid `nobody`), where
//! every program is a stub that records its argv. What bash ran is compared with the segments
//! `safeshell_rules::segment::segments_of_string` finds; see docs/rules.md, "Differential
//! testing against bash", for how the two are compared and the limits.
//!
//! Known mismatches are listed in `known_mismatches.txt` beside this file: the test fails on a
//! mismatch that is not listed and on a listed command that no longer mismatches. Refresh the
//! list after a parser fix with `SAFESHELL_DIFF_UPDATE=1 cargo test -p xtask --test
//! differential` (it keeps the class comments it can compute, review the diff). The whole
//! report goes to the file named by `SAFESHELL_DIFF_REPORT`, if set.

mod commands;
mod compare;
mod escape;
mod sandbox;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use compare::{Outcome, Verdict};
use sandbox::Sandbox;

fn known_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/differential/known_mismatches.txt")
}

/// The sandbox with stubs for the given programs, or `None` (printed) where it cannot be built.
fn sandbox_or_skip<'a>(programs: impl IntoIterator<Item = &'a str>) -> Option<Sandbox> {
    let sandbox = match Sandbox::new(programs) {
        Ok(s) => s,
        Err(why) => {
            println!("SKIPPED: {why}");
            return None;
        }
    };
    match sandbox.run(":", 0) {
        Ok(_) => Some(sandbox),
        Err(why) => {
            println!("SKIPPED: {why}");
            None
        }
    }
}

#[test]
fn the_sandbox_holds() {
    let Some(sandbox) = sandbox_or_skip([]) else {
        return;
    };
    if let Err(escaped) = escape::check(&sandbox) {
        panic!("the sandbox does not hold:\n{escaped}");
    }
}

#[test]
fn bash_runs_what_the_engine_sees() {
    let commands = commands::all();
    let segments: Vec<_> = commands
        .iter()
        .map(|c| safeshell_rules::segment::segments_of_string(c))
        .collect();
    let programs: HashSet<&str> = segments
        .iter()
        .flatten()
        .map(|s| s.program.as_str())
        .collect();
    let Some(sandbox) = sandbox_or_skip(programs) else {
        return;
    };
    // Never compare in a sandbox that has not just been shown to hold.
    if let Err(escaped) = escape::check(&sandbox) {
        panic!("the sandbox does not hold; no command was run:\n{escaped}");
    }

    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; commands.len()]);
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= commands.len() {
                        break;
                    }
                    match compare::run_and_compare(&sandbox, &commands[i], &segments[i]) {
                        Ok(o) => outcomes.lock().unwrap()[i] = Some(o),
                        Err(e) => {
                            *failure.lock().unwrap() = Some(e);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap() {
        panic!("the sandbox failed: {e}");
    }
    let outcomes: Vec<Outcome> = outcomes
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.expect("every command ran"))
        .collect();

    let known_text = std::fs::read_to_string(known_path()).unwrap_or_default();
    let known = parse_known(&known_text);
    let known_set: HashSet<&str> = known.iter().map(String::as_str).collect();

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut new = Vec::new();
    let mut listed = 0;
    let mut mismatching: HashSet<&str> = HashSet::new();
    let mut timeouts = 0;
    let mut timed_out: HashSet<&str> = HashSet::new();
    let mut engine_only = 0;
    for o in &outcomes {
        timeouts += usize::from(o.timed_out);
        if o.timed_out {
            timed_out.insert(o.command.as_str());
        }
        engine_only += usize::from(o.engine_only > 0);
        match &o.verdict {
            Verdict::Matched => *counts.entry("matched").or_default() += 1,
            Verdict::Unverifiable => *counts.entry("unverifiable").or_default() += 1,
            Verdict::Mismatch { .. } => {
                mismatching.insert(o.command.as_str());
                if known_set.contains(o.command.as_str()) {
                    listed += 1;
                } else {
                    new.push(o);
                }
            }
        }
    }
    let stale: Vec<&str> = known
        .iter()
        .map(String::as_str)
        // A run that timed out (a loaded machine) says nothing about whether it still mismatches.
        .filter(|k| !mismatching.contains(k) && !timed_out.contains(k))
        .collect();

    let mut report = String::new();
    let _ = writeln!(
        report,
        "differential test against bash: {} commands run ({} timed out), {} matched, {} \
         unverifiable (a mismatch the engine flags), {} known mismatches, {} NEW mismatches, {} \
         listed commands that no longer mismatch; {} commands have engine segments bash never \
         ran (not reached or not observable; not failures)",
        outcomes.len(),
        timeouts,
        counts.get("matched").copied().unwrap_or(0),
        counts.get("unverifiable").copied().unwrap_or(0),
        listed,
        new.len(),
        stale.len(),
        engine_only,
    );
    let mut by_class: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in &outcomes {
        if let Verdict::Mismatch { class, .. } = &o.verdict {
            by_class.entry(class).or_default().push(o);
        }
    }
    let mut classes: Vec<_> = by_class.iter().collect();
    classes.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let _ = writeln!(
        report,
        "\nmismatch classes (all mismatches, listed or new):"
    );
    for (class, list) in &classes {
        let _ = writeln!(report, "  {:5}  {class}", list.len());
    }
    for o in &new {
        let _ = writeln!(
            report,
            "\nNEW MISMATCH: {}",
            compare::show_command(&o.command)
        );
        report.push_str(&o.details());
    }
    for k in &stale {
        let _ = writeln!(
            report,
            "\nNO LONGER MISMATCHES (remove it from known_mismatches.txt): {}",
            compare::show_command(k)
        );
    }
    if std::env::var_os("SAFESHELL_DIFF_VERBOSE").is_some() {
        for (class, list) in &classes {
            let _ = writeln!(report, "\n=== {class} ({})", list.len());
            for o in *list {
                let _ = writeln!(report, "\n--- {}", compare::show_command(&o.command));
                report.push_str(&o.details());
            }
        }
    }
    if std::env::var_os("SAFESHELL_DIFF_VERBOSE").is_some() {
        for o in &outcomes {
            let why = match o.verdict {
                Verdict::Unverifiable => "UNVERIFIABLE (excused mismatch)",
                _ if o.timed_out => "TIMED OUT",
                _ if o.syntax_error && o.engine_only > 0 => {
                    "BASH SYNTAX ERROR (the engine found segments)"
                }
                _ if o.engine_only > 0 => "ENGINE-ONLY SEGMENTS",
                _ => continue,
            };
            let _ = writeln!(report, "\n{why}: {}", compare::show_command(&o.command));
            report.push_str(&o.details());
            let _ = writeln!(
                report,
                "    stderr: {:?}",
                o.stderr.chars().take(300).collect::<String>()
            );
        }
    }
    println!("{report}");
    if let Some(path) = std::env::var_os("SAFESHELL_DIFF_REPORT") {
        std::fs::write(path, &report).expect("writing the report");
    }
    if std::env::var_os("SAFESHELL_DIFF_UPDATE").is_some() {
        std::fs::write(known_path(), render_known(&classes)).expect("writing the known list");
        return;
    }
    // What bash makes of a wildcard or of `/tmp` depends on the machine's files: such commands
    // are reported either way but fail the test only on the machine that listed them.
    let fatal_new = new
        .iter()
        .filter(|o| !depends_on_machine(&o.command))
        .count();
    let fatal_stale = stale.iter().filter(|k| !depends_on_machine(k)).count();
    assert!(
        fatal_new == 0 && fatal_stale == 0,
        "{fatal_new} new mismatches and {fatal_stale} stale entries in known_mismatches.txt \
         (see above; {} more depend on this machine's files)",
        new.len() + stale.len() - fatal_new - fatal_stale
    );
}

/// Whether bash's argv for a command depends on the machine it runs on: on its files (pathname
/// expansion `*`, `?`; the shared temporary directory) or on timing (a coprocess may or may not
/// have run before the shell exits).
fn depends_on_machine(command: &str) -> bool {
    command.contains(['*', '?']) || command.contains("/tmp") || command.contains("coproc")
}

/// The commands of the known-mismatches file: one a line; `#` lines are comments; a command
/// that cannot stand on one line is written as `json:` and a JSON string.
fn parse_known(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix("json:") {
            Some(json) => {
                serde_json::from_str(json).expect("a JSON string in known_mismatches.txt")
            }
            None => l.to_owned(),
        })
        .collect()
}

fn encode_known(command: &str) -> String {
    let plain = !command.is_empty()
        && !command.contains(['\n', '\r'])
        && !command.starts_with(['#', ' ', '\t'])
        && !command.ends_with([' ', '\t'])
        && !command.starts_with("json:");
    if plain {
        command.to_owned()
    } else {
        format!("json:{}", serde_json::to_string(command).expect("a string"))
    }
}

fn render_known(classes: &[(&&str, &Vec<&Outcome>)]) -> String {
    let mut out = String::from(
        "# Known mismatches between bash and the engine's segments (tests/differential/main.rs).\n\
         # One command a line (`json:\"…\"` when it has a newline or leading/trailing blanks),\n\
         # grouped by class; the `# reason` line above each group says what differs. Remove a\n\
         # command once the parser handles it (the test fails while it is still listed).\n",
    );
    for (class, list) in classes {
        let _ = write!(out, "\n# {class}\n");
        let mut cmds: Vec<String> = list.iter().map(|o| encode_known(&o.command)).collect();
        cmds.sort();
        for c in cmds {
            out.push_str(&c);
            out.push('\n');
        }
    }
    out
}
