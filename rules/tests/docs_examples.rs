//! Every TOML example in `docs/rules.md` loads (on top of the built-in rules) and its examples hold.

use safeshell_rules::{RuleSet, Source, SourceKind};

#[test]
fn rule_examples_in_the_docs_load() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rules.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    assert!(blocks.len() >= 6, "found only {} toml blocks", blocks.len());
    for (i, text) in blocks.iter().enumerate() {
        // A block that says it is a repository's file is loaded as one (named as one: relative
        // paths are resolved against the repository).
        let (kind, name) = if text.starts_with("# in a repository") {
            (SourceKind::Repo, "/repo/.safeshell/rules.toml".to_owned())
        } else {
            (SourceKind::Global, format!("docs/rules.md block {}", i + 1))
        };
        let source = Source {
            kind,
            name,
            text: text.clone(),
            trusted: true,
        };
        if let Err(e) = RuleSet::load(&[Source::builtin(), source]) {
            panic!(
                "docs/rules.md toml block {} does not load:\n{e}\n---\n{text}",
                i + 1
            );
        }
    }
}
