//! The TOML rule-file schema, exactly as users write it (see `docs/rules.md`).
//!
//! These types are only the file format: they are compiled into [`crate::Rule`]s, so the format
//! can evolve without freezing the engine's internals.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole rule file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Engine settings (built-in and global files only).
    #[serde(default)]
    pub settings: Option<Spanned<SettingsDef>>,
    /// The rules the file adds.
    #[serde(default)]
    pub rules: Vec<Spanned<RuleDef>>,
    /// Changes to rules defined by an earlier source (global file only).
    #[serde(default)]
    pub overrides: Vec<Spanned<OverrideDef>>,
    /// Built-in packs switched off (global file only).
    #[serde(default)]
    pub packs: Option<Spanned<PacksDef>>,
    /// Restrictions added to the kernel containment of agents' commands.
    #[serde(default)]
    pub containment: Option<Spanned<ContainmentDef>>,
}

/// `[containment]`: paths the kernel keeps from agents' contained commands. Only restrictions,
/// so a repository file may use it (untrusted too).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ContainmentDef {
    /// Paths contained commands may neither read nor write.
    #[serde(default)]
    pub protect: Vec<Spanned<String>>,
    /// Paths contained commands may read but not change.
    #[serde(default)]
    pub read_only: Vec<Spanned<String>>,
    /// `false`: contained commands may not listen on TCP ports.
    #[serde(default)]
    pub listen: Option<Spanned<bool>>,
}

/// `[packs]`: `disable = ["databases"]` switches built-in packs off (not `safeshell`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PacksDef {
    /// Names of built-in packs whose rules do not apply.
    #[serde(default)]
    pub disable: Vec<Spanned<String>>,
}

/// `[settings]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SettingsDef {
    /// What to do with segments whose effect cannot be known statically, per context.
    #[serde(default)]
    pub unverifiable: Option<ByContext>,
}

/// An action per context.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct ByContext {
    /// For agents.
    pub ai: Option<ActionDef>,
    /// For humans.
    pub human: Option<ActionDef>,
}

/// `action = "…"`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionDef {
    /// Let the command run.
    Allow,
    /// Refuse the command.
    Deny,
    /// Hold the command until a human decides.
    RequireApproval,
    /// Run `redirect_to` instead.
    Redirect,
}

/// `context = "…"`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContextDef {
    /// Agents and humans.
    #[default]
    All,
    /// Agents only.
    Ai,
    /// Humans only.
    Human,
}

/// `approval_scope = "…"`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalScopeDef {
    /// An approval may be remembered for the session.
    #[default]
    Session,
    /// Every run needs its own approval.
    Once,
}

/// One `[[rules]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Unique name.
    pub name: Spanned<String>,
    /// Program names (globs allowed, e.g. `mkfs*`); empty means every program.
    #[serde(default)]
    pub commands: Vec<Spanned<String>>,
    /// Conditions that must all hold.
    #[serde(default)]
    pub when: Option<ConditionsDef>,
    /// Exceptions: when these all hold, the rule does not apply.
    #[serde(default)]
    pub unless: Option<ConditionsDef>,
    /// What to do when the rule applies.
    pub action: Spanned<ActionDef>,
    /// The command to run instead, for `redirect` (`{args}` is replaced by the arguments).
    #[serde(default)]
    pub redirect_to: Option<Spanned<String>>,
    /// Who the rule applies to.
    #[serde(default)]
    pub context: ContextDef,
    /// What the agent or person is told.
    #[serde(default)]
    pub message: Option<String>,
    /// A safer alternative, shown with a refusal (`git push --force-with-lease`).
    #[serde(default)]
    pub suggest: Option<String>,
    /// Whether a human may approve the command for the session.
    #[serde(default)]
    pub approval_scope: ApprovalScopeDef,
    /// Commands the rule must and must not match, checked when the file loads.
    #[serde(default)]
    pub examples: Option<Spanned<ExamplesDef>>,
}

/// `examples = { match = [...], not_match = [...] }`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExamplesDef {
    /// Commands the rule must match.
    #[serde(default, rename = "match")]
    pub matches: Vec<String>,
    /// Commands the rule must not match.
    #[serde(default)]
    pub not_match: Vec<String>,
}

/// Conditions on a segment; every field given must hold.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConditionsDef {
    /// Program names (globs allowed); the segment's program must be one of them. Mostly useful
    /// inside `any`, to give alternatives per program.
    #[serde(default)]
    pub program: Vec<Spanned<String>>,
    /// Globs; the program as typed (`.venv/bin/pip`) must match one.
    #[serde(default)]
    pub invoked_as: Vec<Spanned<String>>,
    /// Whether the segment is a shell or interpreter running code it reads from a pipe.
    pub stdin_is_code: Option<bool>,
    /// A regex the segment's command line must match.
    pub regex: Option<Spanned<String>>,
    /// Substrings; the command line must contain one of them.
    #[serde(default)]
    pub contains: Vec<String>,
    /// Prefixes; the command line must start with one of them.
    #[serde(default)]
    pub prefix: Vec<String>,
    /// Subcommand word sequences (`"stash drop"`), after the program's global options.
    #[serde(default)]
    pub subcommand: Vec<Spanned<String>>,
    /// Flags that must all be present; each entry lists alternatives (`"-r|-R|--recursive"`).
    #[serde(default)]
    pub flags: Vec<Spanned<String>>,
    /// Flags none of which may be present; each entry lists alternatives (`"-S|--staged"`).
    #[serde(default)]
    pub not_flags: Vec<Spanned<String>>,
    /// Globs; some argument (flag or not) must match one.
    #[serde(default)]
    pub args: Vec<Spanned<String>>,
    /// Globs; some positional argument must match one.
    #[serde(default)]
    pub positional: Vec<Spanned<String>>,
    /// Globs; every positional argument must match one (and there is one). Arguments are
    /// matched as typed: a wildcard argument (`*`) matches only a pattern that matches its text.
    #[serde(default)]
    pub all_positional: Vec<Spanned<String>>,
    /// Globs; some argument the program reads must match one: the positional arguments, except
    /// the destination (last) of copy-like programs (`cp`, `mv`, `scp`, `rsync`, `install`, `ln`).
    #[serde(default)]
    pub reads: Vec<Spanned<String>>,
    /// Globs; the last positional argument (the destination of `cp`, `mv`…) must match one.
    #[serde(default)]
    pub last_positional: Vec<Spanned<String>>,
    /// The last positional argument, as a path, must resolve under or equal to one of these.
    #[serde(default)]
    pub last_path_under: Vec<Spanned<String>>,
    /// Some positional argument, as a path, must resolve under or equal to one of these.
    #[serde(default)]
    pub paths_under: Vec<Spanned<String>>,
    /// Some positional argument, as a path, must resolve to exactly one of these.
    #[serde(default)]
    pub paths_equal: Vec<Spanned<String>>,
    /// Every positional argument must resolve under or equal to one of these (and there is one).
    #[serde(default)]
    pub all_paths_under: Vec<Spanned<String>>,
    /// Globs matched against resolved output-redirection targets.
    #[serde(default)]
    pub writes_to: Vec<Spanned<String>>,
    /// Programs; one of them must feed this segment through a pipe.
    #[serde(default)]
    pub stdin_from: Vec<String>,
    /// Whether the segment is part of a pipeline.
    pub in_pipeline: Option<bool>,
    /// Whether the segment calls the function it is defined in (recursion, as in fork bombs).
    pub calls_own_function: Option<bool>,
    /// Whether the segment came through a wrapper or shell string (`sudo`, `bash -c`…).
    pub wrapped: Option<bool>,
    /// The current git branch must be one of these.
    #[serde(default)]
    pub git_branch: Vec<String>,
    /// The current git branch must match this regex.
    pub git_branch_regex: Option<Spanned<String>>,
    /// Whether the working directory is inside a git repository.
    pub in_git_repo: Option<bool>,
    /// A regex the working directory must match.
    pub cwd_regex: Option<Spanned<String>>,
    /// The working directory must be under or equal to one of these.
    #[serde(default)]
    pub cwd_under: Vec<Spanned<String>>,
    /// One of these files must exist, relative to the working directory.
    #[serde(default)]
    pub file_exists: Vec<String>,
    /// Environment variables that must have these exact values.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment variables that must all be unset (or empty).
    #[serde(default)]
    pub env_unset: Vec<String>,
    /// Programs (globs); the segment's program must not be one of them.
    #[serde(default)]
    pub not_program: Vec<Spanned<String>>,
    /// Paths (or named sets such as `@safeshell`); some word of the segment must name one or a
    /// path under one: an argument, an option's value, a redirection, a path inside a code string.
    #[serde(default)]
    pub names_path_under: Vec<Spanned<String>>,
    /// Paths (or named sets); some output redirection must write to one or under one.
    #[serde(default)]
    pub writes_path_under: Vec<Spanned<String>>,
    /// Whether a `kill` could signal a protected process (SafeShell's daemon).
    pub signals_protected_process: Option<bool>,
    /// Alternatives: at least one of these condition tables must hold.
    #[serde(default)]
    pub any: Vec<ConditionsDef>,
}

/// One `[[overrides]]` entry: changes a rule defined by an earlier source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideDef {
    /// The rule to change.
    pub name: Spanned<String>,
    /// Turn the rule off.
    #[serde(default)]
    pub disable: bool,
    /// A new action.
    pub action: Option<ActionDef>,
    /// A new redirect target.
    pub redirect_to: Option<String>,
    /// A new context.
    pub context: Option<ContextDef>,
    /// A new message.
    pub message: Option<String>,
    /// A new safer alternative.
    pub suggest: Option<String>,
    /// A new approval scope.
    pub approval_scope: Option<ApprovalScopeDef>,
}
