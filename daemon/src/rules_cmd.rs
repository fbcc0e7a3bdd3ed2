//! `safeshell rules validate | list | packs | explain`.

use std::path::Path;

use anyhow::Result;
use safeshell_rules::{CommandInput, RuleSet, Source, SourceKind};
use serde_json::json;

use crate::check::load_rules;
use crate::facts::SystemFacts;
use crate::{EXIT_RULES, FileKind, RulesCommand, paths, resolve_cwd};

pub fn run(cmd: RulesCommand) -> Result<u8> {
    match cmd {
        RulesCommand::Validate { file, kind, cwd } => validate(file.as_deref(), kind, cwd),
        RulesCommand::List { cwd, json } => list(&resolve_cwd(cwd)?, json),
        RulesCommand::Packs { cwd, json } => packs(&resolve_cwd(cwd)?, json),
        RulesCommand::Explain {
            context,
            cwd,
            command,
        } => {
            let cwd = resolve_cwd(cwd)?;
            let rules = load_rules(&cwd)?;
            let cwd_str = cwd.to_string_lossy().into_owned();
            let facts = SystemFacts::current(&cwd);
            let command = command.join(" ");
            let input = CommandInput::Shell(&command);
            let e = rules.evaluate(input, context.to_rules(), &cwd_str, &facts);
            for (i, (segment, considered)) in rules
                .explain(input, context.to_rules(), &cwd_str, &facts)
                .iter()
                .enumerate()
            {
                println!("segment {}: {segment}", i + 1);
                if considered.is_empty() {
                    println!("    no rule applies to this program");
                }
                for c in considered {
                    match &c.outcome {
                        Ok(action) => {
                            println!(
                                "    MATCH  {:<32} {:<17} ({})",
                                c.rule,
                                action.as_str(),
                                c.origin
                            );
                            if !c.matched.is_empty() {
                                println!("           matched: {}", c.matched.join("; "));
                            }
                        }
                        Err(why) => println!("    -      {:<32} {why} ({})", c.rule, c.origin),
                    }
                }
            }
            println!(
                "decision: {}{} ({})",
                e.action.as_str(),
                e.rule
                    .as_deref()
                    .map(|r| format!(" by {r}"))
                    .unwrap_or_default(),
                e.reason
            );
            if let Some(why) = &e.explanation {
                println!("  rule from: {}", why.origin);
                if let Some(segment) = e.segment.and_then(|i| e.segments.get(i)) {
                    println!("  segment:   {}", segment.text);
                }
                if !why.matched.is_empty() {
                    println!("  matched:   {}", why.matched.join("; "));
                }
                if let Some(suggest) = &why.suggest {
                    println!("  instead:   {suggest}");
                }
            }
            Ok(crate::check::exit_code(e.action))
        }
    }
}

fn validate(
    file: Option<&Path>,
    kind: Option<FileKind>,
    cwd: Option<std::path::PathBuf>,
) -> Result<u8> {
    let sources = match file {
        Some(path) => {
            let kind = match kind {
                Some(FileKind::Global) => SourceKind::Global,
                Some(FileKind::Repo) => SourceKind::Repo,
                None => guess_kind(path),
            };
            vec![Source::builtin(), paths::read_source(kind, path)?]
        }
        None => paths::sources_for(&resolve_cwd(cwd)?)?,
    };
    match RuleSet::load(&sources) {
        Ok(set) => {
            for s in &sources {
                let n = set
                    .rules()
                    .iter()
                    .filter(|r| {
                        r.origin.file == s.name
                            || (s.kind == SourceKind::Builtin && r.pack.is_some())
                    })
                    .count();
                println!("ok  {} ({}, {n} rules)", s.name, s.kind.as_str());
            }
            for notice in set.notices() {
                println!("note: {notice}");
            }
            Ok(0)
        }
        Err(e) => {
            for err in &e.errors {
                eprintln!("error: {err}");
            }
            eprintln!(
                "{} error(s); the daemon keeps using its last good rules until they are fixed",
                e.errors.len()
            );
            Ok(EXIT_RULES)
        }
    }
}

fn guess_kind(path: &Path) -> SourceKind {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let global = paths::global_rules_path().and_then(|g| std::fs::canonicalize(g).ok());
    let in_dot_dir = abs
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == ".safeshell");
    if Some(&abs) != global.as_ref() && in_dot_dir {
        SourceKind::Repo
    } else {
        SourceKind::Global
    }
}

fn list(cwd: &Path, as_json: bool) -> Result<u8> {
    let rules = load_rules(cwd)?;
    if as_json {
        let list: Vec<_> = rules
            .rules()
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "action": r.action.as_str(),
                    "context": r.context.as_str(),
                    "commands": r.commands,
                    "source": r.origin.kind.as_str(),
                    "pack": r.pack,
                    "file": r.origin.file,
                    "line": r.origin.line,
                    "overridden_at": r.origin.overridden_at,
                    "disabled": r.disabled,
                    "message": r.message,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    println!(
        "{:<30} {:<17} {:<6} {:<14} COMMANDS",
        "RULE", "ACTION", "FOR", "PACK/SOURCE"
    );
    for r in rules.rules() {
        let source = match r.pack {
            Some(pack) => pack.to_owned(),
            None => format!("{}:{}", r.origin.file, r.origin.line),
        };
        let mut action = r.action.as_str().to_owned();
        if r.disabled {
            action = "disabled".into();
        }
        let commands = if r.commands.is_empty() {
            "(any)".to_owned()
        } else {
            r.commands.join(" ")
        };
        let commands: String = if commands.chars().count() > 48 {
            commands.chars().take(45).collect::<String>() + "..."
        } else {
            commands
        };
        print!(
            "{:<30} {:<17} {:<6} {:<14} {commands}",
            r.name,
            action,
            r.context.as_str(),
            source
        );
        if let Some(at) = &r.origin.overridden_at {
            print!("  (overridden at {at})");
        }
        println!();
    }
    println!(
        "\n{} active rules from: {}",
        rules.active_count(),
        rules.sources().join(", ")
    );
    Ok(0)
}

fn packs(cwd: &Path, as_json: bool) -> Result<u8> {
    let rules = load_rules(cwd)?;
    let packs = rules.packs();
    if as_json {
        let list: Vec<_> = packs
            .iter()
            .map(|(p, enabled, count)| {
                json!({
                    "name": p.name,
                    "enabled": enabled,
                    "can_disable": p.can_disable,
                    "rules": count,
                    "description": p.description,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    println!("{:<16} {:<9} {:>5}  COVERS", "PACK", "STATE", "RULES");
    for (p, enabled, count) in &packs {
        let state = match (enabled, p.can_disable) {
            (true, false) => "always",
            (true, true) => "enabled",
            (false, _) => "disabled",
        };
        println!(
            "{:<16} {:<9} {:>5}  {}",
            p.name, state, count, p.description
        );
    }
    println!(
        "\nDisable a pack in ~/.safeshell/rules.toml with `[packs] disable = [\"databases\"]`."
    );
    Ok(0)
}
