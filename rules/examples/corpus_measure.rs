//! Measures a labelled corpus file against the built-in rules (or another rule file) and can fill
//! in the decision and rule columns from what the engine decides.
//!
//! ```text
//! cargo run -p safeshell-rules --example corpus_measure -- FILE [--rules OLD.toml] [--fill] [--time-load]
//! ```
//!
//! FILE is in the corpus format (`context | decision | rule | command`, `@` directives); the
//! decision column may also be the label `block` (any refusal). A case is *must-allow* when its
//! decision is `allow`, *must-block* otherwise. Prints the share of each held, and the cases that
//! disagree. With `--fill`, prints the file again with each agreeing case's decision and rule set
//! to the engine's (cases that disagree are kept as written and listed on stderr). Commands are
//! only ever parsed and evaluated, never run.

use std::fs;

use safeshell_rules::{Action, CommandInput, Context, RuleSet, Source, SourceKind, StaticFacts};

fn default_facts() -> StaticFacts {
    StaticFacts {
        home: Some("/home/user".into()),
        env: Vec::new(),
        in_git_repo: true,
        git_branch: Some("feature/work".into()),
        existing_files: Vec::new(),
        path_sets: Vec::new(),
        protected_pids: vec![safeshell_rules::facts::EXAMPLE_DAEMON_PID],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args
        .first()
        .expect("usage: corpus_measure FILE [--rules X.toml] [--fill]");
    let fill = args.iter().any(|a| a == "--fill");
    let rules = match args.iter().position(|a| a == "--rules") {
        Some(i) => {
            let path = &args[i + 1];
            let text = fs::read_to_string(path).expect("rule file");
            RuleSet::load(&[Source {
                kind: SourceKind::Builtin,
                name: path.clone(),
                text,
                trusted: true,
            }])
            .expect("rule file loads")
        }
        None => RuleSet::builtin(),
    };
    if args.iter().any(|a| a == "--time-load") {
        // Loading (compiling) the rules, as the daemon does at start: the mean of 50 loads.
        let sources = match args.iter().position(|a| a == "--rules") {
            Some(i) => vec![Source {
                kind: SourceKind::Builtin,
                name: args[i + 1].clone(),
                text: fs::read_to_string(&args[i + 1]).expect("rule file"),
                trusted: true,
            }],
            None => vec![Source::builtin()],
        };
        let start = std::time::Instant::now();
        for _ in 0..50 {
            std::hint::black_box(RuleSet::load(&sources).expect("rules load"));
        }
        eprintln!(
            "load: {:.2} ms ({} rules)",
            start.elapsed().as_secs_f64() * 1000.0 / 50.0,
            rules.rules().len()
        );
    }
    let text = fs::read_to_string(file).expect("corpus file");
    let mut facts = default_facts();
    let mut cwd = "/home/user/project".to_owned();
    let (mut block_n, mut block_ok, mut allow_n, mut allow_ok) = (0, 0, 0, 0);
    let mut out = String::new();
    let mut tools = std::collections::BTreeSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            out.push_str(raw);
            out.push('\n');
            continue;
        }
        if let Some(directive) = line.strip_prefix('@') {
            let (key, value) = directive.split_once(' ').unwrap_or((directive, ""));
            match key {
                "branch" => facts.git_branch = Some(value.to_owned()),
                "env" => {
                    let (k, v) = value.split_once('=').expect("@env NAME=VALUE");
                    facts.env.push((k.to_owned(), v.to_owned()));
                }
                "cwd" => cwd = value.to_owned(),
                "reset" => {
                    facts = default_facts();
                    cwd = "/home/user/project".to_owned();
                }
                other => panic!("{file}:{}: unknown directive @{other}", i + 1),
            }
            out.push_str(raw);
            out.push('\n');
            continue;
        }
        let parts: Vec<&str> = line.splitn(4, " | ").collect();
        assert_eq!(parts.len(), 4, "{file}:{}: bad line", i + 1);
        let context = Context::parse(parts[0].trim()).expect("context");
        let must_allow = parts[1].trim() == "allow";
        let command = parts[3];
        if let Some(first) = command.split_whitespace().next() {
            tools.insert(first.to_owned());
        }
        let e = rules.evaluate(CommandInput::Shell(command), context, &cwd, &facts);
        let allowed = e.action == Action::Allow;
        let agrees = allowed == must_allow;
        if must_allow {
            allow_n += 1;
            allow_ok += usize::from(agrees);
        } else {
            block_n += 1;
            block_ok += usize::from(agrees);
        }
        if !agrees {
            eprintln!(
                "{}:{}: {} `{command}` -> {} by {:?}",
                file,
                i + 1,
                if must_allow {
                    "MUST-ALLOW"
                } else {
                    "MUST-BLOCK"
                },
                e.action.as_str(),
                e.rule
            );
        }
        if agrees {
            out.push_str(&format!(
                "{} | {} | {} | {command}\n",
                parts[0].trim(),
                e.action.as_str(),
                e.rule.as_deref().unwrap_or("-")
            ));
        } else {
            out.push_str(raw);
            out.push('\n');
        }
    }
    if fill {
        print!("{out}");
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            100.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    eprintln!(
        "must-block held: {block_ok}/{block_n} ({:.1} %); must-allow allowed: {allow_ok}/{allow_n} ({:.1} %); {} first words",
        pct(block_ok, block_n),
        pct(allow_ok, allow_n),
        tools.len()
    );
}
