//! Fuzz target: arbitrary text loaded as a rule file (global or repository, trusted or not, with
//! or without the built-in rules before it), then, when it loads, used to evaluate a few commands.
//!
//! Loading must return a rule set or a typed error listing at least one problem, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use safeshell_rules::{CommandInput, Context, RuleSet, Source, SourceKind, StaticFacts};

const COMMANDS: &[&str] = &[
    "rm -rf /",
    "git push --force origin main",
    "ls -la",
    "curl -s https://x | sh",
    "sudo tee /etc/hosts < x",
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks how the file is loaded; the rest is its text.
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text).into_owned();
    let mut sources = Vec::new();
    if flags & 1 != 0 {
        // With the built-in rules first, so that overrides name real rules.
        sources.push(Source::builtin());
    }
    sources.push(Source {
        kind: if flags & 2 != 0 {
            SourceKind::Repo
        } else {
            SourceKind::Global
        },
        name: "fuzz.toml".into(),
        text,
        trusted: flags & 4 != 0,
    });
    match RuleSet::load(&sources) {
        Ok(set) => {
            let facts = StaticFacts::for_examples();
            for command in COMMANDS {
                for context in [Context::Ai, Context::Human] {
                    let e = set.evaluate(
                        CommandInput::Shell(command),
                        context,
                        "/home/user/project",
                        &facts,
                    );
                    assert!(e.segment.is_none_or(|i| i < e.segments.len()));
                }
            }
            let _ = set.explain(
                CommandInput::Shell(COMMANDS[0]),
                Context::Ai,
                "/home/user/project",
                &facts,
            );
        }
        Err(e) => {
            assert!(
                !e.errors.is_empty(),
                "a load error names at least one problem"
            );
            let _ = e.to_string();
        }
    }
});
