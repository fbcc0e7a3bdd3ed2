//! Runs the data-driven decision corpus in `tests/corpus/*.txt` against the built-in rules.
//!
//! Each non-comment line is `context | decision | rule | command`, where `rule` is `-` when no rule
//! should decide. Lines starting with `@` set facts for the lines after them in the same file:
//! `@branch NAME`, `@env NAME=VALUE`, `@cwd DIR`, `@reset`. Defaults: HOME=/home/user,
//! cwd /home/user/project, a git repository on branch `feature/work`, no environment.

use std::fs;
use std::path::Path;

use safeshell_rules::{Action, CommandInput, Context, RuleSet, StaticFacts};

struct Case {
    file: String,
    line: usize,
    context: Context,
    decision: Action,
    rule: Option<String>,
    command: String,
    facts: StaticFacts,
    cwd: String,
}

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

fn load_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .flat_map(|p| parse_file(p))
        .collect()
}

fn parse_file(path: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(path).unwrap();
        let mut facts = default_facts();
        let mut cwd = "/home/user/project".to_owned();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
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
                    other => panic!("{name}:{}: unknown directive @{other}", i + 1),
                }
                continue;
            }
            let parts: Vec<&str> = line.splitn(4, " | ").collect();
            assert_eq!(
                parts.len(),
                4,
                "{name}:{}: expected `context | decision | rule | command`",
                i + 1
            );
            let context = Context::parse(parts[0].trim())
                .unwrap_or_else(|| panic!("{name}:{}: bad context", i + 1));
            let decision = Action::parse(parts[1].trim())
                .unwrap_or_else(|| panic!("{name}:{}: bad decision", i + 1));
            let rule = match parts[2].trim() {
                "-" => None,
                r => Some(r.to_owned()),
            };
            cases.push(Case {
                file: name.clone(),
                line: i + 1,
                context,
                decision,
                rule,
                command: parts[3].to_owned(),
                facts: facts.clone(),
                cwd: cwd.clone(),
            });
        }
    }
    cases
}

/// `tests/known_gaps.txt` lists commands the engine still allows although a rule's intent covers
/// them (found by a red-team run). Each must still be allowed, so that the list stays true: when a
/// change makes the engine decide one of them, this fails and the case moves into the corpus.
#[test]
fn known_gaps_are_still_open() {
    let rules = RuleSet::builtin();
    let gaps = parse_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known_gaps.txt"));
    assert!(!gaps.is_empty());
    let closed: Vec<String> = gaps
        .iter()
        .filter_map(|case| {
            let e = rules.evaluate(
                CommandInput::Shell(&case.command),
                case.context,
                &case.cwd,
                &case.facts,
            );
            (e.action != Action::Allow).then(|| {
                format!(
                    "{}:{}: `{}` is now decided {} by {:?} (the gap lists {} by {:?})",
                    case.file,
                    case.line,
                    case.command,
                    e.action.as_str(),
                    e.rule,
                    case.decision.as_str(),
                    case.rule
                )
            })
        })
        .collect();
    assert!(
        closed.is_empty(),
        "known gaps closed: move these cases into tests/corpus/ (with their decision) and out of \
         tests/known_gaps.txt:\n{}",
        closed.join("\n")
    );
}

#[test]
fn corpus_decisions_match() {
    let rules = RuleSet::builtin();
    let cases = load_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let e = rules.evaluate(
            CommandInput::Shell(&case.command),
            case.context,
            &case.cwd,
            &case.facts,
        );
        if e.action != case.decision || e.rule != case.rule {
            failures.push(format!(
                "{}:{}: `{}` ({}) expected {} by {:?}, got {} by {:?}: {}",
                case.file,
                case.line,
                case.command,
                case.context.as_str(),
                case.decision.as_str(),
                case.rule,
                e.action.as_str(),
                e.rule,
                e.reason
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_is_large_and_balanced() {
    let cases = load_cases();
    let allowed = cases.iter().filter(|c| c.decision == Action::Allow).count();
    assert!(
        cases.len() >= 600,
        "the corpus has {} cases; it must have at least 600",
        cases.len()
    );
    assert!(
        allowed * 2 >= cases.len(),
        "only {allowed} of {} cases are must-allow; at least half must be",
        cases.len()
    );
    // Every built-in rule that can decide is exercised by at least one case.
    let rules = RuleSet::builtin();
    let missing: Vec<_> = rules
        .rules()
        .iter()
        .filter(|r| {
            !cases
                .iter()
                .any(|c| c.rule.as_deref() == Some(r.name.as_str()))
        })
        .map(|r| r.name.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "built-in rules with no corpus case: {missing:?}"
    );
}
