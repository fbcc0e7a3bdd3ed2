//! The fixed texts agents and people are shown for each kind of outcome.
//!
//! They are written for a language model as much as for a person: what happened, which rule,
//! and what to do next, including an explicit instruction not to work around a refusal.

use safeshell_protocol::Why;

/// The rule's name with where it is defined, and the lines saying what matched and what to do
/// instead: `Rule: read-secrets (pack `secrets`, built in)`.
fn rule_lines(rule: Option<&str>, why: Option<&Why>) -> String {
    let mut text = format!("Rule: {}", rule.unwrap_or("-"));
    let Some(why) = why else {
        return text;
    };
    if !why.origin.is_empty() {
        text.push_str(&format!(" — {}", why.origin));
    }
    if let Some(segment) = &why.segment {
        text.push_str(&format!("\nIn: {segment}"));
    }
    if !why.matched.is_empty() {
        text.push_str(&format!("\nMatched: {}", why.matched.join("; ")));
    }
    if let Some(suggest) = &why.suggest {
        text.push_str(&format!("\nSafer alternative: {suggest}"));
    }
    text
}

/// A rule denied the command.
pub fn blocked(command: &str, rule: Option<&str>, reason: &str, why: Option<&Why>) -> String {
    format!(
        "SafeShell blocked this command: {command}\n{}\nReason: {reason}\n\
         Do not try to run it another way or work around this block. If it is really needed, \
         ask the user to run it themselves or to change the SafeShell rules.",
        rule_lines(rule, why)
    )
}

/// The command waits for a human.
pub fn approval_required(
    command: &str,
    rule: Option<&str>,
    reason: &str,
    why: Option<&Why>,
    id: u64,
    timeout_secs: u64,
) -> String {
    format!(
        "SafeShell: this command needs the user's approval: {command}\n{}\nReason: {reason}\n\
         Waiting for a decision in `safeshell monitor` (approval #{id}; it expires in {timeout_secs}s).",
        rule_lines(rule, why)
    )
}

/// A human approved it.
pub fn approved(command: &str) -> String {
    format!(
        "SafeShell: the user approved this command: {command}\nProceeding. Do not ask for approval again for it."
    )
}

/// A human denied it.
pub fn denied_by_user(command: &str, reason: Option<&str>) -> String {
    let why = reason
        .filter(|r| !r.trim().is_empty())
        .map(|r| format!("\nThe user said: {r}"))
        .unwrap_or_default();
    format!(
        "SafeShell: the user denied this command: {command}{why}\n\
         Do not retry it and do not try to get the same effect another way. Ask the user what to do instead."
    )
}

/// Nobody answered in time.
pub fn timed_out(command: &str, timeout_secs: u64) -> String {
    format!(
        "SafeShell: nobody approved this command within {timeout_secs}s, so it was not run: {command}\n\
         Tell the user the approval expired and offer to run it again when they can approve it in `safeshell monitor`."
    )
}

/// The daemon stopped while the approval was pending.
pub fn daemon_stopped(command: &str) -> String {
    format!(
        "SafeShell: the SafeShell daemon stopped while this command was waiting for approval, so it was not run: {command}\n\
         Nothing was approved. Ask the user before trying again."
    )
}

/// A redirect.
pub fn redirected(command: &str, instead: &str, reason: &str) -> String {
    format!("SafeShell: instead of `{command}`, running `{instead}`.\nReason: {reason}")
}

/// A redirect that a hook cannot carry out: the command was refused; run the safer one instead.
pub fn run_instead(command: &str, instead: &str, reason: &str) -> String {
    format!("SafeShell: `{command}` was not run. Run this instead: `{instead}`\nReason: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_has_its_own_text() {
        let texts = [
            blocked("rm -rf /", Some("rm-root-or-home"), "no", None),
            approval_required("git push -f", Some("git-force-push"), "r", None, 7, 300),
            approved("git push -f"),
            denied_by_user("git push -f", Some("not today")),
            timed_out("git push -f", 300),
            daemon_stopped("git push -f"),
            redirected("rm -r x", "trash x", "r"),
            run_instead("rm -r x", "trash x", "r"),
        ];
        for (i, a) in texts.iter().enumerate() {
            for b in &texts[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(texts[0].contains("Do not try to run it another way"));
        assert!(texts[1].contains("approval #7"));
        assert!(texts[2].contains("Do not ask for approval again"));
        assert!(texts[3].contains("The user said: not today") && texts[3].contains("Do not retry"));
        assert!(texts[4].contains("expired") && texts[4].contains("offer to run it again"));
    }

    #[test]
    fn refusals_name_the_rules_origin_what_matched_and_the_safer_way() {
        let why = Why {
            origin: "pack `git` (built in)".into(),
            segment: Some("git push --force".into()),
            matched: vec!["subcommand `push`".into(), "flag `--force`".into()],
            suggest: Some("git push --force-with-lease".into()),
        };
        let text = blocked(
            "git push --force && ls",
            Some("git-force-push"),
            "r",
            Some(&why),
        );
        assert!(
            text.contains("Rule: git-force-push — pack `git` (built in)\nIn: git push --force\nMatched: subcommand `push`; flag `--force`\nSafer alternative: git push --force-with-lease"),
            "{text}"
        );
    }
}
