//! Parity with the original Python SafeShell's 90 built-in rules (issue #14): every intent listed
//! in `tests/parity/original-rules.md` maps, in `tests/parity/mapping.txt`, to the built-in rule
//! that holds a command of that intent, or is a deliberate difference documented in
//! docs/rules.md whose command is allowed.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use safeshell_rules::{Action, CommandInput, Context, RuleSet, StaticFacts};

fn facts(branch: &str) -> StaticFacts {
    StaticFacts {
        home: Some("/home/user".into()),
        env: Vec::new(),
        in_git_repo: true,
        git_branch: Some(branch.into()),
        existing_files: Vec::new(),
        path_sets: Vec::new(),
        protected_pids: vec![safeshell_rules::facts::EXAMPLE_DAEMON_PID],
    }
}

/// The original rules' numbers and names, from the table of original-rules.md.
fn original_intents(dir: &Path) -> BTreeMap<u32, String> {
    let text = fs::read_to_string(dir.join("original-rules.md")).unwrap();
    text.lines()
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let n = cells.next()?.parse().ok()?;
            let name = cells.next()?.trim_matches('`').to_owned();
            Some((n, name))
        })
        .collect()
}

#[test]
fn every_original_intent_is_covered_or_a_documented_difference() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity");
    let intents = original_intents(&dir);
    assert_eq!(intents.len(), 90, "original-rules.md lists 90 rules");
    let docs =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rules.md")).unwrap();
    let rules = RuleSet::builtin();
    let text = fs::read_to_string(dir.join("mapping.txt")).unwrap();
    let mut branch = "feature/work".to_owned();
    let mut seen = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(b) = line.strip_prefix("@branch ") {
            branch = b.to_owned();
            continue;
        }
        let f: Vec<&str> = line.splitn(5, " | ").collect();
        assert_eq!(f.len(), 5, "mapping.txt:{}: five fields", i + 1);
        let n: u32 = f[0].parse().unwrap();
        let (name, rule, reason, command) = (f[1], f[2], f[3], f[4]);
        assert_eq!(
            intents.get(&n).map(String::as_str),
            Some(name),
            "mapping.txt:{}: #{n} is not `{name}` in original-rules.md",
            i + 1
        );
        assert!(
            seen.insert(n, ()).is_none(),
            "mapping.txt:{}: #{n} twice",
            i + 1
        );
        let e = rules.evaluate(
            CommandInput::Shell(command),
            Context::Ai,
            "/home/user/project",
            &facts(&branch),
        );
        if rule == "different" {
            if e.action != Action::Allow {
                failures.push(format!(
                    "#{n} {name}: documented as different, but `{command}` is {} by {:?}",
                    e.action.as_str(),
                    e.rule
                ));
            }
            if reason == "-" || !docs.contains(name) {
                failures.push(format!(
                    "#{n} {name}: a deliberate difference needs a reason here and in docs/rules.md"
                ));
            }
            continue;
        }
        assert!(
            rules.rules().iter().any(|r| r.name == rule),
            "mapping.txt:{}: no built-in rule `{rule}`",
            i + 1
        );
        let held_by_rule = e
            .segments
            .iter()
            .any(|s| s.matches.iter().any(|m| m.rule == rule));
        if e.action == Action::Allow || !held_by_rule {
            failures.push(format!(
                "#{n} {name}: `{command}` should be held by {rule}, got {} by {:?}",
                e.action.as_str(),
                e.rule
            ));
        }
    }
    let missing: Vec<_> = intents
        .iter()
        .filter(|(n, _)| !seen.contains_key(*n))
        .map(|(n, name)| format!("#{n} {name}"))
        .collect();
    assert!(missing.is_empty(), "intents not mapped: {missing:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
