//! `[containment]` in rule files: what a global or repository file adds to the kernel
//! containment of agents' commands (only restrictions), and the errors for what it may not say.

use safeshell_rules::{ContainmentRestrictions, RuleSet, Source, SourceKind};

const REPO_FILE: &str = "/work/proj/.safeshell/rules.toml";

fn load(kind: SourceKind, text: &str) -> Result<RuleSet, String> {
    let name = match kind {
        SourceKind::Repo => REPO_FILE.to_owned(),
        _ => "/home/u/.safeshell/rules.toml".to_owned(),
    };
    let file = Source {
        kind,
        name,
        text: text.into(),
        trusted: false,
    };
    RuleSet::load(&[Source::builtin(), file]).map_err(|e| e.to_string())
}

#[test]
fn a_repository_file_adds_restrictions_resolved_against_its_repository() {
    let rules = load(
        SourceKind::Repo,
        "[containment]\nprotect = [\"secrets/\", \"./config/prod.env\", \"~/notes\", \"/srv/keys\"]\nread_only = [\"vendor\", \"migrations/./v1\"]\nlisten = false\n",
    )
    .unwrap();
    assert_eq!(
        rules.containment(),
        &ContainmentRestrictions {
            protect: vec![
                "/work/proj/secrets".into(),
                "/work/proj/config/prod.env".into(),
                "~/notes".into(),
                "/srv/keys".into(),
            ],
            read_only: vec![
                "/work/proj/vendor".into(),
                "/work/proj/migrations/v1".into()
            ],
            no_listen: true,
        }
    );
    // Untrusted is fine: these only restrict.
    assert!(rules.notices().is_empty(), "{:?}", rules.notices());
}

#[test]
fn without_a_table_nothing_is_restricted() {
    let rules = load(SourceKind::Repo, "").unwrap();
    assert!(rules.containment().is_empty());
    assert!(RuleSet::builtin().containment().is_empty());
}

#[test]
fn the_global_file_may_restrict_with_absolute_or_home_paths() {
    let rules = load(
        SourceKind::Global,
        "[containment]\nread_only = [\"~/work/infra\", \"/opt/shared\"]\n",
    )
    .unwrap();
    assert_eq!(
        rules.containment().read_only,
        vec!["~/work/infra".to_owned(), "/opt/shared".to_owned()]
    );
}

#[test]
fn bad_restrictions_are_errors_naming_file_line_and_field() {
    let cases: &[(SourceKind, &str, &str, &str)] = &[
        (
            SourceKind::Global,
            "[containment]\nprotect = [\"secrets\"]\n",
            "containment.protect",
            "relative",
        ),
        (
            SourceKind::Repo,
            "[containment]\n\nread_only = [\"../elsewhere\"]\n",
            "containment.read_only",
            "`..` is not allowed",
        ),
        (
            SourceKind::Repo,
            "[containment]\nprotect = [\"*.pem\"]\n",
            "containment.protect",
            "wildcards",
        ),
        (
            SourceKind::Repo,
            "[containment]\nprotect = [\"\"]\n",
            "containment.protect",
            "empty",
        ),
        (
            SourceKind::Repo,
            "[containment]\nprotect = [\"~other/.ssh\"]\n",
            "containment.protect",
            "your own home",
        ),
        (
            SourceKind::Repo,
            "[containment]\nlisten = true\n",
            "containment.listen",
            "only `listen = false` restricts",
        ),
        (
            SourceKind::Repo,
            "[containment]\nwritable = [\"/\"]\n",
            "writable",
            "unknown field `writable`, expected one of `protect`",
        ),
    ];
    for (kind, text, field, says) in cases {
        let err = load(*kind, text).expect_err(text);
        assert!(err.contains(&format!("`{field}`")), "{text}: {err}");
        assert!(err.contains(says), "{text}: {err}");
        assert!(
            err.contains("rules.toml:"),
            "{text}: no file and line in {err}"
        );
    }
    // The line is the line of the bad value.
    let err = load(
        SourceKind::Repo,
        "[containment]\n\nread_only = [\"../elsewhere\"]\n",
    )
    .unwrap_err();
    assert!(err.contains(&format!("{REPO_FILE}:3:")), "{err}");
}
