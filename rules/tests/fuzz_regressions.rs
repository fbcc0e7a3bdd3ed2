//! Inputs that crashed a fuzz target (`cargo xtask fuzz`), kept as regression tests: each goes
//! through the same steps as the target that found it. Nothing here runs a command.

use safeshell_rules::{
    CommandInput, Context, RuleSet, Source, SourceKind, StaticFacts, segment, shell,
};

/// What the `parse_eval` target does with its bytes.
fn parse_eval(data: &[u8]) {
    let command = String::from_utf8_lossy(data);
    let _ = shell::parse(&command);
    let _ = segment::segments_of_string(&command);
    let rules = RuleSet::builtin();
    let facts = StaticFacts::for_examples();
    for context in [Context::Ai, Context::Human] {
        let _ = rules.evaluate(
            CommandInput::Shell(&command),
            context,
            "/home/user/project",
            &facts,
        );
    }
    let argv: Vec<String> = command.split('\0').map(str::to_owned).collect();
    let _ = rules.evaluate(
        CommandInput::Argv(&argv),
        Context::Ai,
        "/home/user/project",
        &facts,
    );
}

/// What the `rules_file` target does with its bytes (without the evaluations).
fn rules_file(data: &[u8]) {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let mut sources = Vec::new();
    if flags & 1 != 0 {
        sources.push(Source::builtin());
    }
    sources.push(Source {
        kind: if flags & 2 != 0 {
            SourceKind::Repo
        } else {
            SourceKind::Global
        },
        name: "fuzz.toml".into(),
        text: String::from_utf8_lossy(text).into_owned(),
        trusted: flags & 4 != 0,
    });
    if let Err(e) = RuleSet::load(&sources) {
        assert!(!e.errors.is_empty());
    }
}

#[test]
fn a_short_option_followed_by_a_multibyte_character() {
    // parse_eval crash-17ed207d: `-` then U+FFFD (from invalid UTF-8): a protected-path condition
    // sliced the word at byte 2, inside the character.
    parse_eval(
        b"find . -\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\
          \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\
          \xff\xff\xfftype rules.toml -f {} +",
    );
    parse_eval("cat -é/etc/shadow".as_bytes());
    parse_eval("ls -\u{e9}".as_bytes());
    rules_file(b"\x01");
}

#[test]
fn tmux_value_option_at_the_end() {
    // parse_eval crash-f8d55e6e (2 Dec 2026): `tmux new -e<x` ends in an option that takes a
    // value; skipping it went past the end of the words.
    parse_eval(b"3ource <(tmux new -e<x(tu m new -F d\\\\python3 -on3 ntEO\x00-ceC");
    parse_eval(b"tmux new-session -d -s");
    parse_eval(b"tmux send-keys -t");
}
