//! SafeShell's rules engine: rule files, built-in rules, shell-aware parsing and evaluation.
//!
//! The engine is pure: no async and no I/O on the evaluation path. Callers read rule files and
//! hand their text in as [`Source`]s, and answer questions about the world through [`Facts`].
//!
//! ```
//! use safeshell_rules::{CommandInput, Context, RuleSet, StaticFacts, Action};
//! let rules = RuleSet::builtin();
//! let facts = StaticFacts::for_examples();
//! let e = rules.evaluate(CommandInput::Shell("rm -rf /"), Context::Ai, "/home/user/project", &facts);
//! assert_eq!(e.action, Action::Deny);
//! ```

#![deny(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod code;
mod condition;
pub mod facts;
pub mod file;
pub mod glob;
mod ruleset;
pub mod segment;
pub mod shell;
mod tools;

pub use facts::{EXAMPLE_CWD, Facts, StaticFacts};
pub use ruleset::{
    BUILTIN_PACKS, BUILTIN_RULES, CommandInput, Consideration, ContainmentRestrictions, Evaluation,
    LoadError, Miss, Pack, Rule, RuleError, RuleMatch, RuleOrigin, RuleSet, SegmentResult,
    Settings, Source, SourceKind, UNVERIFIABLE_RULE, builtin_pack,
};

/// What to do with a command, ordered from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Let it run.
    Allow,
    /// Run a safer command instead.
    Redirect,
    /// Hold it until a human decides.
    RequireApproval,
    /// Refuse it.
    Deny,
}

impl Action {
    /// The name used in rule files and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Redirect => "redirect",
            Action::RequireApproval => "require_approval",
            Action::Deny => "deny",
        }
    }

    /// Parses the rule-file name.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "allow" => Action::Allow,
            "redirect" => Action::Redirect,
            "require_approval" => Action::RequireApproval,
            "deny" => Action::Deny,
            _ => return None,
        })
    }
}

/// Who runs a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// An AI agent.
    Ai,
    /// A person at a terminal.
    Human,
}

impl Context {
    /// `"ai"` or `"human"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Ai => "ai",
            Context::Human => "human",
        }
    }

    /// Parses `"ai"` or `"human"`.
    pub fn parse(s: &str) -> Option<Context> {
        match s {
            "ai" => Some(Context::Ai),
            "human" => Some(Context::Human),
            _ => None,
        }
    }
}

/// Who a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleContext {
    /// Agents and humans.
    All,
    /// Agents only.
    Ai,
    /// Humans only.
    Human,
}

impl RuleContext {
    /// `"all"`, `"ai"` or `"human"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleContext::All => "all",
            RuleContext::Ai => "ai",
            RuleContext::Human => "human",
        }
    }
}

/// How far a human's approval reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalScope {
    /// May be remembered for the session.
    Session,
    /// Each run needs its own approval.
    Once,
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_rule_has_match_and_not_match_examples() {
        let rules = crate::RuleSet::builtin();
        for rule in rules.rules() {
            let (matches, not_match) = &rule.examples;
            assert!(
                !matches.is_empty(),
                "built-in rule `{}` has no `match` examples",
                rule.name
            );
            assert!(
                !not_match.is_empty(),
                "built-in rule `{}` has no `not_match` examples",
                rule.name
            );
        }
    }

    #[test]
    fn builtin_rules_load_and_their_examples_hold() {
        if let Err(e) = crate::RuleSet::check_builtin_examples() {
            panic!("built-in rules failed to load or an example does not hold:\n{e}");
        }
    }
}
