//! Allocations per evaluation with the built-in rules, and per parse: exact counts from a
//! counting allocator, checked against `baseline-allocations.json` (10 % allowance).

use std::hint::black_box;

use safeshell_rules::{CommandInput, Context, RuleSet, StaticFacts, segment, shell};

use crate::support;

/// The long compound command of the rules bench.
pub const LONG: &str = "set -e; cd \"$(git rev-parse --show-toplevel)\" && for f in $(git diff --name-only HEAD~1); do \
    case \"$f\" in *.rs) rustfmt --check \"$f\" || echo \"needs fmt: $f\";; *.py) black -q \"$f\";; esac; done | tee /tmp/fmt.log \
    && cargo test --workspace 2>&1 | grep -E '^(test|error)' > results.txt; bash -c 'npm ci && npm run build' ; \
    find . -name '*.orig' -exec rm -f {} \\; ; echo done";

/// The working directory of the evaluations.
pub const CWD: &str = "/home/user/project";

/// Typical commands, by figure name (the same as the rules bench's cases).
pub const SHELL_CASES: &[(&str, &str)] = &[
    ("evaluate/typical:git_status", "git status --short"),
    ("evaluate/first_rule:rm_-rf_/", "rm -rf /"),
    (
        "evaluate/middle_rule:git_push_--force",
        "git push --force origin main",
    ),
    ("evaluate/no_match:cargo_build", "cargo build --release"),
    ("evaluate/long_compound", LONG),
];

/// The facts the rules bench uses.
pub fn facts() -> StaticFacts {
    StaticFacts {
        git_branch: Some("feature/x".into()),
        ..StaticFacts::for_examples()
    }
}

/// The fewest allocations of three runs of `f` after one warm-up run (lazily compiled regexes
/// and caches are filled by the warm-up).
fn fewest(mut f: impl FnMut()) -> u64 {
    f();
    (0..3)
        .map(|_| support::allocations(&mut f).1)
        .min()
        .unwrap_or(0)
}

#[test]
fn allocations_per_evaluation_and_parse_stay_within_baseline() {
    if support::skip("allocations") {
        return;
    }
    let rules = RuleSet::builtin();
    let facts = facts();
    let mut measured: Vec<(String, u64)> = Vec::new();
    for (name, command) in SHELL_CASES {
        let n = fewest(|| {
            black_box(rules.evaluate(
                CommandInput::Shell(black_box(command)),
                Context::Ai,
                CWD,
                &facts,
            ));
        });
        measured.push(((*name).to_owned(), n));
    }
    let argv: Vec<String> = ["git", "push", "origin", "main"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    measured.push((
        "evaluate_argv/git_push".to_owned(),
        fewest(|| {
            black_box(rules.evaluate(
                CommandInput::Argv(black_box(&argv)),
                Context::Ai,
                CWD,
                &facts,
            ));
        }),
    ));
    measured.push((
        "parse/shell_parse:long_compound".to_owned(),
        fewest(|| {
            black_box(shell::parse(black_box(LONG)));
        }),
    ));
    measured.push((
        "parse/segments:long_compound".to_owned(),
        fewest(|| {
            black_box(segment::segments_of_string(black_box(LONG)));
        }),
    ));
    support::check_baseline("baseline-allocations.json", "allocations", &measured);
}
