//! Built-in packs: every built-in rule belongs to one, the global file can switch packs off
//! (never `safeshell`), and a repository file cannot.

use safeshell_rules::{
    Action, BUILTIN_PACKS, CommandInput, Context, RuleSet, Source, SourceKind, StaticFacts,
};

fn source(kind: SourceKind, text: &str) -> Source {
    Source {
        kind,
        name: "/home/user/.safeshell/rules.toml".into(),
        text: text.into(),
        trusted: false,
    }
}

fn decide(rules: &RuleSet, command: &str) -> Action {
    rules
        .evaluate(
            CommandInput::Shell(command),
            Context::Ai,
            "/home/user/project",
            &StaticFacts::for_examples(),
        )
        .action
}

#[test]
fn every_builtin_rule_belongs_to_a_pack_and_packs_are_files() {
    let rules = RuleSet::builtin();
    for r in rules.rules() {
        assert!(r.pack.is_some(), "built-in rule {} has no pack", r.name);
    }
    let names: Vec<_> = BUILTIN_PACKS.iter().map(|p| p.name).collect();
    for expected in [
        "core",
        "git",
        "secrets",
        "packages",
        "containers",
        "kubernetes",
        "infrastructure",
        "cloud",
        "github",
        "databases",
        "network",
        "system",
        "safeshell",
    ] {
        assert!(names.contains(&expected), "no pack {expected}");
    }
    for (pack, enabled, count) in rules.packs() {
        assert!(enabled);
        assert!(count > 0, "pack {} has no rules", pack.name);
    }
    let safeshell = BUILTIN_PACKS
        .iter()
        .find(|p| p.name == "safeshell")
        .unwrap();
    assert!(!safeshell.can_disable);
}

#[test]
fn global_file_disables_a_pack() {
    let global = source(
        SourceKind::Global,
        "[packs]\ndisable = [\"databases\", \"git\"]\n",
    );
    let rules = RuleSet::load(&[Source::builtin(), global]).unwrap();
    assert_eq!(decide(&rules, "git reset --hard"), Action::Allow);
    assert_eq!(decide(&rules, "dropdb app_dev"), Action::Allow);
    assert_ne!(decide(&rules, "rm -rf src"), Action::Allow);
    let states: Vec<_> = rules
        .packs()
        .iter()
        .map(|(p, enabled, _)| (p.name, *enabled))
        .collect();
    assert!(states.contains(&("databases", false)));
    assert!(states.contains(&("core", true)));
    assert!(
        rules
            .rules()
            .iter()
            .filter(|r| r.pack == Some("git"))
            .all(|r| r.disabled)
    );
}

#[test]
fn safeshell_pack_and_unknown_packs_cannot_be_disabled() {
    let global = source(SourceKind::Global, "[packs]\ndisable = [\"safeshell\"]\n");
    let err = RuleSet::load(&[Source::builtin(), global]).unwrap_err();
    assert!(err.to_string().contains("cannot be disabled"), "{err}");
    let global = source(SourceKind::Global, "[packs]\ndisable = [\"nope\"]\n");
    let err = RuleSet::load(&[Source::builtin(), global]).unwrap_err();
    assert!(
        err.to_string().contains("no built-in pack named `nope`"),
        "{err}"
    );
}

#[test]
fn repository_file_cannot_disable_packs() {
    let repo = source(SourceKind::Repo, "[packs]\ndisable = [\"git\"]\n");
    let err = RuleSet::load(&[Source::builtin(), repo]).unwrap_err();
    assert!(
        err.to_string().contains("only the global rules file"),
        "{err}"
    );
}
