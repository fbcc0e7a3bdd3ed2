//! `safeshell check`: evaluate commands in-process and print the decision.

use std::io::{BufRead, Write};

use anyhow::{Context as _, Result};
use safeshell_rules::{Action, CommandInput, Evaluation, RuleSet};
use serde_json::json;

use crate::facts::SystemFacts;
use crate::{CheckArgs, paths, resolve_cwd};

/// The exit status for a decision.
pub fn exit_code(action: Action) -> u8 {
    match action {
        Action::Allow => 0,
        Action::Deny => 1,
        Action::RequireApproval => 2,
        Action::Redirect => 3,
    }
}

/// Loads the rules in effect for `cwd`, failing with every error found.
pub fn load_rules(cwd: &std::path::Path) -> Result<RuleSet> {
    let sources = paths::sources_for(cwd)?;
    Ok(RuleSet::load(&sources)?)
}

pub fn run(args: CheckArgs) -> Result<u8> {
    let cwd = resolve_cwd(args.cwd)?;
    let rules = load_rules(&cwd)?;
    let context = args.context.to_rules();
    let cwd_str = cwd.to_string_lossy().into_owned();
    let facts = SystemFacts::current(&cwd);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.batch {
        // Lines are read as bytes: one that is not UTF-8 is reported (with its number) and the
        // next lines are still decided, so a bad line cannot hide the ones after it.
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut buf = Vec::new();
        let mut number = 0usize;
        let mut unreadable = false;
        loop {
            buf.clear();
            if input
                .read_until(b'\n', &mut buf)
                .context("cannot read stdin")?
                == 0
            {
                break;
            }
            number += 1;
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            let line = match std::str::from_utf8(&buf) {
                Ok(line) => line,
                Err(e) => {
                    unreadable = true;
                    let error = format!(
                        "line {number} is not valid UTF-8 (at byte {}); it was not checked",
                        e.valid_up_to() + 1
                    );
                    let lossy = String::from_utf8_lossy(&buf);
                    if args.json {
                        let entry = json!({ "line": number, "command": lossy, "error": error });
                        writeln!(out, "{entry}")?;
                    } else {
                        writeln!(out, "error\t-\t{error}: {lossy}")?;
                    }
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let e = rules.evaluate(CommandInput::Shell(line), context, &cwd_str, &facts);
            if args.json {
                writeln!(out, "{}", to_json(line, context, &cwd_str, &e))?;
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    e.action.as_str(),
                    e.rule.as_deref().unwrap_or("-"),
                    line
                )?;
            }
        }
        // Not every line was decided: a failure, after answering all the others.
        return Ok(if unreadable { crate::EXIT_FAILURE } else { 0 });
    }
    if !args.file.is_empty() {
        let access = safeshell_protocol::FileAccess {
            tool: "check".to_owned(),
            access: safeshell_protocol::FileAccessKind::parse(&args.access)
                .context("--access must be read, write, edit, delete, search or list")?,
            paths: args.file,
            pattern: args.pattern,
        };
        let command = crate::file_access::judged_command(
            &access,
            &cwd_str,
            safeshell_rules::Facts::home(&facts),
        );
        let mut e = rules.evaluate(CommandInput::Shell(&command), context, &cwd_str, &facts);
        // A file tool runs no command: a redirect refuses it, as the daemon does.
        if e.action == Action::Redirect {
            e.action = Action::Deny;
        }
        let text = access.describe();
        if args.json {
            let mut v = to_json(&text, context, &cwd_str, &e);
            v["judged_as"] = json!(command);
            writeln!(out, "{v}")?;
        } else {
            writeln!(out, "{} {text}, judged as: {command}", args.access)?;
            write_human(&mut out, &e)?;
        }
        return Ok(exit_code(e.action));
    }
    let command = args.command.join(" ");
    let e = rules.evaluate(CommandInput::Shell(&command), context, &cwd_str, &facts);
    if args.json {
        writeln!(out, "{}", to_json(&command, context, &cwd_str, &e))?;
    } else {
        write_human(&mut out, &e)?;
    }
    Ok(exit_code(e.action))
}

fn to_json(
    command: &str,
    context: safeshell_rules::Context,
    cwd: &str,
    e: &Evaluation,
) -> serde_json::Value {
    json!({
        "command": command,
        "context": context.as_str(),
        "cwd": cwd,
        "decision": e.action.as_str(),
        "rule": e.rule,
        "reason": e.reason,
        "segment": e.segment,
        "redirect": e.redirect,
        "approval_scope": match e.approval_scope {
            safeshell_rules::ApprovalScope::Session => "session",
            safeshell_rules::ApprovalScope::Once => "once",
        },
        "explanation": e.explanation.as_ref().map(|x| json!({
            "origin": x.origin,
            "matched": x.matched,
            "suggest": x.suggest,
        })),
        "segments": e.segments.iter().map(|s| json!({
            "text": s.text,
            "program": s.program,
            "via": s.via,
            "decision": s.action.as_str(),
            "unverifiable": s.unverifiable,
            "matches": s.matches.iter().map(|m| json!({
                "rule": m.rule,
                "decision": m.action.as_str(),
                "reason": m.reason,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn write_human(out: &mut impl Write, e: &Evaluation) -> Result<()> {
    let label = match e.action {
        Action::Allow => "ALLOW",
        Action::Deny => "DENY",
        Action::RequireApproval => "REQUIRE APPROVAL",
        Action::Redirect => "REDIRECT",
    };
    match &e.rule {
        Some(rule) => writeln!(out, "{label} (rule {rule})")?,
        None => writeln!(out, "{label}")?,
    }
    writeln!(out, "reason: {}", e.reason)?;
    if let Some(x) = &e.explanation {
        writeln!(out, "rule from: {}", x.origin)?;
        if !x.matched.is_empty() {
            writeln!(out, "matched: {}", x.matched.join("; "))?;
        }
        if let Some(suggest) = &x.suggest {
            writeln!(out, "safer alternative: {suggest}")?;
        }
    }
    if let Some(r) = &e.redirect {
        writeln!(out, "run instead: {r}")?;
    }
    writeln!(out, "segments:")?;
    let width = e
        .segments
        .iter()
        .map(|s| s.text.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for (i, s) in e.segments.iter().enumerate() {
        let rules: Vec<&str> = s.matches.iter().map(|m| m.rule.as_str()).collect();
        let marker = if e.segment == Some(i) { "*" } else { " " };
        writeln!(
            out,
            "{marker} {:>2}. {:<width$}  {:<16} {}",
            i + 1,
            s.text,
            s.action.as_str(),
            if rules.is_empty() {
                "-".to_owned()
            } else {
                rules.join(", ")
            },
        )?;
    }
    Ok(())
}
