//! Fuzz target: arbitrary bytes (as a lossy UTF-8 string) through the command parser, the
//! segment builder and evaluation against the built-in rules, as a command string and as an argv.
//!
//! Nothing may panic; what the parser and the segments hold stays linear in the input's length
//! (checked here), and evaluation must finish (libFuzzer's `-timeout`, which `cargo xtask fuzz`
//! sets, turns a hang into a reported crash).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use safeshell_rules::segment::{self, MAX_STDIN_FROM, MAX_WRAPPERS};
use safeshell_rules::shell::{self, Stdin};
use safeshell_rules::{Action, CommandInput, Context, RuleSet, StaticFacts};

fn rules() -> &'static (RuleSet, StaticFacts) {
    static RULES: OnceLock<(RuleSet, StaticFacts)> = OnceLock::new();
    RULES.get_or_init(|| (RuleSet::builtin(), StaticFacts::for_examples()))
}

fuzz_target!(|data: &[u8]| {
    let command = String::from_utf8_lossy(data);
    let command = command.as_ref();

    let parsed = shell::parse(command);
    for (i, cmd) in parsed.commands.iter().enumerate() {
        if let Stdin::Pipe(upstream) = &cmd.stdin {
            // A pipeline's upstream commands come before the command they feed.
            assert!(
                upstream.start <= upstream.end && upstream.end <= i,
                "command {i} fed by {upstream:?}"
            );
        }
        if let Some((start, end)) = cmd.span {
            assert!(start <= end && end <= command.len());
            assert!(command.is_char_boundary(start) && command.is_char_boundary(end));
        }
    }

    let segments = segment::segments_of_string(command);
    let held: usize = segments
        .iter()
        .map(|s| 1 + s.args.len() + s.writes.len() + s.stdin_from.len() + s.via.len())
        .sum();
    assert!(
        held <= (4 + MAX_STDIN_FROM + MAX_WRAPPERS) * command.len() + 16384,
        "{held} items held for {} bytes",
        command.len()
    );

    let (rules, facts) = rules();
    for context in [Context::Ai, Context::Human] {
        let e = rules.evaluate(
            CommandInput::Shell(command),
            context,
            "/home/user/project",
            facts,
        );
        assert!(e.segment.is_none_or(|i| i < e.segments.len()));
        assert!(e.redirect.is_none() || e.action == Action::Redirect);
        if e.segments.iter().any(|s| s.unverifiable.is_some()) && context == Context::Ai {
            // Whatever could not be verified is never allowed for an agent.
            assert!(e.action >= Action::RequireApproval, "{}", e.reason);
        }
    }

    // The same bytes as an argv (split at NUL, as a shim would receive it).
    let argv: Vec<String> = command.split('\0').map(str::to_owned).collect();
    let e = rules.evaluate(
        CommandInput::Argv(&argv),
        Context::Ai,
        "/home/user/project",
        facts,
    );
    assert!(e.segment.is_none_or(|i| i < e.segments.len()));
});
