//! Loading rule sources into a [`RuleSet`] and evaluating commands against it.

use std::collections::HashMap;
use std::fmt;

use toml::Spanned;

use crate::condition::{Conditions, FlagSpec, LazyRegex, PathPattern, SegmentView};
use crate::facts::{EXAMPLE_CWD, Facts, StaticFacts};
use crate::file::{
    ActionDef, ApprovalScopeDef, ConditionsDef, ContainmentDef, ContextDef, RuleFile,
};
use crate::glob::{Glob, GlobList};
use crate::segment::{self, Segment};
use crate::{Action, ApprovalScope, Context, RuleContext};

/// The built-in engine settings, embedded in every binary (the rules are in [`BUILTIN_PACKS`]).
pub const BUILTIN_RULES: &str = include_str!("builtin.toml");

/// A pack of built-in rules: one TOML file under `rules/src/packs/`, in the users' format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pack {
    /// The pack's name (`git`), used by `[packs] disable` and shown by `safeshell rules list`.
    pub name: &'static str,
    /// What it covers, in a few words.
    pub description: &'static str,
    /// Whether the global rules file may disable it (`safeshell` protects SafeShell itself).
    pub can_disable: bool,
    /// The rule file.
    pub text: &'static str,
}

macro_rules! pack {
    ($name:literal, $description:literal) => {
        Pack {
            name: $name,
            description: $description,
            can_disable: true,
            text: include_str!(concat!("packs/", $name, ".toml")),
        }
    };
}

/// The built-in packs, in load order.
pub const BUILTIN_PACKS: &[Pack] = &[
    pack!(
        "core",
        "deletion, system directories, permissions, disks, power, privileges, kill, shell start-up files, remote code"
    ),
    pack!(
        "git",
        "discarding work, rewriting or deleting history, user-wide configuration, credentials"
    ),
    pack!(
        "secrets",
        "reading or sending secrets: environment files, private keys, cloud credentials"
    ),
    pack!(
        "packages",
        "global installs, publishing, yanking, registry log-ins, toolchain changes"
    ),
    pack!(
        "containers",
        "privileged containers, host mounts, host namespaces, prune, volume removal, push"
    ),
    pack!(
        "kubernetes",
        "kubectl, helm, kustomize: cluster mutations, exec, secrets, context changes"
    ),
    pack!(
        "infrastructure",
        "terraform, tofu, terragrunt, pulumi, cdk: apply, destroy, import, state"
    ),
    pack!(
        "cloud",
        "aws, gcloud, gsutil, az: mutations, IAM, storage deletion, key and secret reads"
    ),
    pack!(
        "github",
        "gh: acting publicly as the user, repository settings, secrets, keys, workflows"
    ),
    pack!(
        "databases",
        "psql, mysql, sqlite3, redis-cli, mongosh: DROP, TRUNCATE, DELETE without WHERE, FLUSHALL"
    ),
    pack!(
        "network",
        "listeners on non-loopback addresses, file servers, tunnels"
    ),
    pack!(
        "system",
        "services, crontab, mounts, kernel settings, users and groups, system packages"
    ),
    Pack {
        name: "safeshell",
        description: "SafeShell's own policy, files, daemon and approvals (cannot be disabled)",
        can_disable: false,
        text: include_str!("packs/safeshell.toml"),
    },
];

/// The built-in pack named `name`.
pub fn builtin_pack(name: &str) -> Option<&'static Pack> {
    BUILTIN_PACKS.iter().find(|p| p.name == name)
}

/// The pseudo-rule named in results for segments whose effect cannot be known statically.
pub const UNVERIFIABLE_RULE: &str = "unverifiable";

/// Where a rule source comes from, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SourceKind {
    /// Embedded in the binary.
    Builtin,
    /// The user's global file (`~/.safeshell/rules.toml`).
    Global,
    /// A repository's `.safeshell/rules.toml`.
    Repo,
}

impl SourceKind {
    /// A short name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Builtin => "builtin",
            SourceKind::Global => "global",
            SourceKind::Repo => "repo",
        }
    }
}

/// The text of one rule file, read by the caller.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it comes from.
    pub kind: SourceKind,
    /// The file's path (or `<builtin>`), used in messages.
    pub name: String,
    /// The file's contents.
    pub text: String,
    /// For a repository file: whether the user trusted this exact content (`safeshell trust`).
    /// An untrusted repository file may only make things stricter: its `allow` and `redirect`
    /// rules are not loaded and are reported in [`RuleSet::notices`]. Ignored for other kinds.
    pub trusted: bool,
}

/// The name of the built-in source ([`Source::builtin`]).
const BUILTIN_NAME: &str = "<builtin>";

impl Source {
    /// The built-in rules: the engine settings and every pack of [`BUILTIN_PACKS`].
    pub fn builtin() -> Source {
        Source {
            kind: SourceKind::Builtin,
            name: BUILTIN_NAME.into(),
            text: BUILTIN_RULES.into(),
            trusted: true,
        }
    }
}

/// An error in a rule file, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field (or rule) the error is about.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "`{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found while loading rule sources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The errors, in file order.
    pub errors: Vec<RuleError>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Where a rule was defined (and changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOrigin {
    /// The kind of source.
    pub kind: SourceKind,
    /// The file.
    pub file: String,
    /// 1-based line of the rule.
    pub line: usize,
    /// The file and line of an override that changed it, if any.
    pub overridden_at: Option<String>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// Program names it applies to (empty: every program).
    pub commands: Vec<String>,
    pub(crate) command_globs: Vec<Glob>,
    pub(crate) when: Conditions,
    pub(crate) unless: Option<Conditions>,
    /// The action.
    pub action: Action,
    /// For redirects: the command to run instead.
    pub redirect_to: Option<String>,
    /// Who it applies to.
    pub context: RuleContext,
    /// What the agent or person is told.
    pub message: Option<String>,
    /// A safer alternative shown with a refusal.
    pub suggest: Option<String>,
    /// Whether approvals may be remembered for the session.
    pub approval_scope: ApprovalScope,
    /// Where it was defined.
    pub origin: RuleOrigin,
    /// The built-in pack it belongs to (none for the user's and repositories' rules).
    pub pack: Option<&'static str>,
    /// Whether an override disabled it (or its pack is disabled).
    pub disabled: bool,
    pub(crate) examples: (Vec<String>, Vec<String>),
}

impl Rule {
    fn applies_to_program(&self, program: &str) -> bool {
        self.commands.is_empty()
            || self.commands.iter().any(|c| c == program)
            || self.command_globs.iter().any(|g| g.is_match(program))
    }

    fn applies_in(&self, context: Context) -> bool {
        match self.context {
            RuleContext::All => true,
            RuleContext::Ai => context == Context::Ai,
            RuleContext::Human => context == Context::Human,
        }
    }

    /// Checks the rule's conditions and exceptions on one segment.
    fn check(&self, view: &SegmentView<'_>, facts: &dyn Facts) -> Result<(), Miss> {
        self.when.check(view, facts).map_err(Miss::Condition)?;
        if let Some(unless) = &self.unless
            && unless.check(view, facts).is_ok()
        {
            return Err(Miss::Exception);
        }
        Ok(())
    }

    /// What matched a segment this rule applies to, in words: the program it names, then its
    /// conditions' ([`Conditions::witness`]).
    fn witness(&self, view: &SegmentView<'_>, facts: &dyn Facts) -> Vec<String> {
        let mut out = Vec::new();
        if !self.commands.is_empty() {
            out.push(format!("program `{}`", view.seg.program));
        }
        for w in self.when.witness(view, facts) {
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }

    /// Where the rule comes from, in words: `pack secrets (built in)`, `FILE:LINE`, with an
    /// override's place.
    pub fn origin_words(&self) -> String {
        let mut words = match (self.pack, self.origin.kind) {
            (Some(pack), _) => format!("pack `{pack}` (built in)"),
            (None, SourceKind::Builtin) => "built in".to_owned(),
            (None, _) => format!("{}:{}", self.origin.file, self.origin.line),
        };
        if let Some(at) = &self.origin.overridden_at {
            words.push_str(&format!(", changed at {at}"));
        }
        words
    }

    /// The text shown for a match on `segment`.
    fn reason(&self, segment: &str) -> String {
        match &self.message {
            Some(m) => m.clone(),
            None => format!("`{segment}` matches rule `{}`", self.name),
        }
    }
}

/// Why a rule did not match a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// A condition did not hold (names the field).
    Condition(&'static str),
    /// An `unless` exception held.
    Exception,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::Condition(field) => write!(f, "condition `{field}` does not hold"),
            Miss::Exception => f.write_str("an `unless` exception holds"),
        }
    }
}

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The action for unverifiable segments run by agents.
    pub unverifiable_ai: Action,
    /// The action for unverifiable segments run by humans.
    pub unverifiable_human: Action,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            unverifiable_ai: Action::RequireApproval,
            unverifiable_human: Action::Allow,
        }
    }
}

/// What rule files add to the kernel containment of agents' commands (`[containment]`): only
/// restrictions, so repository files may use it whether trusted or not. Paths are absolute or
/// start with `~/` (the user's home); a repository file's relative paths are resolved against
/// its repository (the directory holding `.safeshell/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainmentRestrictions {
    /// Paths contained commands may neither read nor write.
    pub protect: Vec<String>,
    /// Paths contained commands may read but not change.
    pub read_only: Vec<String>,
    /// Contained commands may not listen on TCP ports.
    pub no_listen: bool,
}

impl ContainmentRestrictions {
    /// Whether nothing is restricted.
    pub fn is_empty(&self) -> bool {
        self.protect.is_empty() && self.read_only.is_empty() && !self.no_listen
    }
}

/// What a command is, as handed to the engine.
#[derive(Debug, Clone, Copy)]
pub enum CommandInput<'a> {
    /// A command string, parsed the way bash would.
    Shell(&'a str),
    /// An argv already split by the calling shell; evaluated without re-parsing.
    Argv(&'a [String]),
}

/// One rule that matched a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// The rule's name (or [`UNVERIFIABLE_RULE`]).
    pub rule: String,
    /// Its action.
    pub action: Action,
    /// Why.
    pub reason: String,
}

/// The decision for one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentResult {
    /// The segment as a command line.
    pub text: String,
    /// Its program.
    pub program: String,
    /// Wrappers and shells it was found inside.
    pub via: Vec<String>,
    /// The most restrictive action over its matches (allow when none).
    pub action: Action,
    /// Every rule that matched, in rule order.
    pub matches: Vec<RuleMatch>,
    /// Set when the segment cannot be verified statically.
    pub unverifiable: Option<String>,
}

/// The overall decision for a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Most restrictive over all segments: deny > require approval > redirect > allow.
    pub action: Action,
    /// The deciding rule, if any.
    pub rule: Option<String>,
    /// Why, in words for the agent or person.
    pub reason: String,
    /// Index of the deciding segment.
    pub segment: Option<usize>,
    /// For redirects: the command to run instead of the whole input.
    pub redirect: Option<String>,
    /// Whether a human may approve the command for the session.
    pub approval_scope: ApprovalScope,
    /// Every segment's result.
    pub segments: Vec<SegmentResult>,
    /// For a decision other than allow: where the deciding rule comes from, what matched, and
    /// its safer alternative.
    pub explanation: Option<Explanation>,
}

/// Why a rule decided: shown with refusals and approvals, in `safeshell rules explain` and the
/// monitor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Explanation {
    /// Where the rule is defined: `pack secrets (built in)`, `FILE:LINE`.
    pub origin: String,
    /// What matched, in words: `reads `/p/.env``, `subcommand `push``.
    pub matched: Vec<String>,
    /// The rule's safer alternative, if it gives one.
    pub suggest: Option<String>,
}

/// One rule considered for a segment, for `safeshell rules explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consideration {
    /// The rule.
    pub rule: String,
    /// Where it comes from.
    pub origin: String,
    /// `Ok(action)` when it matched; otherwise why not.
    pub outcome: Result<Action, String>,
    /// When it matched: what matched, in words (see [`Explanation::matched`]).
    pub matched: Vec<String>,
}

/// A loaded, compiled set of rules.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    by_program: HashMap<String, Vec<usize>>,
    /// Rules with glob command names or none, checked for every segment.
    generic: Vec<usize>,
    settings: Settings,
    sources: Vec<String>,
    notices: Vec<RuleError>,
    disabled_packs: Vec<String>,
    containment: ContainmentRestrictions,
}

impl RuleSet {
    /// Compiles the built-in rules alone.
    pub fn builtin() -> RuleSet {
        RuleSet::load(&[Source::builtin()]).expect("built-in rules compile (checked by tests)")
    }

    /// Compiles sources given in precedence order (built-in, global, repository).
    pub fn load(sources: &[Source]) -> Result<RuleSet, LoadError> {
        let mut errors = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut settings = Settings::default();
        let mut notices = Vec::new();
        let mut disabled_packs = Vec::new();
        let mut containment = ContainmentRestrictions::default();
        for source in sources {
            if source.kind == SourceKind::Builtin && source.name == BUILTIN_NAME {
                // The built-in source is its settings file followed by every pack.
                compile_source(
                    source,
                    None,
                    &mut rules,
                    &mut settings,
                    &mut containment,
                    &mut errors,
                    &mut notices,
                );
                for pack in BUILTIN_PACKS {
                    let pack_source = Source {
                        kind: SourceKind::Builtin,
                        name: format!("<builtin:{}>", pack.name),
                        text: pack.text.into(),
                        trusted: true,
                    };
                    compile_source(
                        &pack_source,
                        Some(pack.name),
                        &mut rules,
                        &mut settings,
                        &mut containment,
                        &mut errors,
                        &mut notices,
                    );
                }
                continue;
            }
            if let Some(disable) = compile_source(
                source,
                None,
                &mut rules,
                &mut settings,
                &mut containment,
                &mut errors,
                &mut notices,
            ) {
                for name in disable {
                    for rule in rules.iter_mut().filter(|r| r.pack == Some(name)) {
                        rule.disabled = true;
                    }
                    if !disabled_packs.iter().any(|p| p == name) {
                        disabled_packs.push(name.to_owned());
                    }
                }
            }
        }
        // Examples are checked once every source is in, with each rule in isolation. The built-in
        // rules' examples are the same in every build and are checked by a test instead
        // (`builtin_rules_load_and_their_examples_hold`): checking them here took 1.6 ms of every
        // daemon start and every `safeshell check`. An override cannot change what a rule matches.
        let facts = StaticFacts::for_examples();
        for rule in rules
            .iter()
            .filter(|r| r.origin.kind != SourceKind::Builtin)
        {
            check_examples(rule, sources, &facts, &mut errors);
        }
        if !errors.is_empty() {
            return Err(LoadError { errors });
        }
        let mut by_program: HashMap<String, Vec<usize>> = HashMap::new();
        let mut generic = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.disabled {
                continue;
            }
            if rule.commands.is_empty() || !rule.command_globs.is_empty() {
                generic.push(i);
            }
            for c in &rule.commands {
                if !is_glob(c) {
                    by_program.entry(c.clone()).or_default().push(i);
                }
            }
        }
        Ok(RuleSet {
            rules,
            by_program,
            generic,
            settings,
            sources: sources.iter().map(|s| s.name.clone()).collect(),
            notices,
            disabled_packs,
            containment,
        })
    }

    /// What the rule files add to the containment of agents' commands (`[containment]`).
    pub fn containment(&self) -> &ContainmentRestrictions {
        &self.containment
    }

    /// The built-in packs, each with whether it is enabled in this set and its number of rules.
    pub fn packs(&self) -> Vec<(&'static Pack, bool, usize)> {
        BUILTIN_PACKS
            .iter()
            .map(|p| {
                let enabled = !self.disabled_packs.iter().any(|d| d == p.name);
                let count = self.rules.iter().filter(|r| r.pack == Some(p.name)).count();
                (p, enabled, count)
            })
            .collect()
    }

    /// Checks the built-in rules' own `match`/`not_match` examples (which [`RuleSet::load`]
    /// leaves to the tests, as they cannot change without a rebuild).
    #[cfg(test)]
    pub(crate) fn check_builtin_examples() -> Result<(), LoadError> {
        let mut sources = vec![Source::builtin()];
        sources.extend(BUILTIN_PACKS.iter().map(|p| Source {
            kind: SourceKind::Builtin,
            name: format!("<builtin:{}>", p.name),
            text: p.text.into(),
            trusted: true,
        }));
        // Every pack also loads as a user's file would, which validates its regexes.
        let as_user: Vec<Source> = sources[1..]
            .iter()
            .map(|s| Source {
                kind: SourceKind::Global,
                ..s.clone()
            })
            .collect();
        RuleSet::load(&as_user)?;
        let set = RuleSet::load(&sources[..1])?;
        let facts = StaticFacts::for_examples();
        let mut errors = Vec::new();
        for rule in &set.rules {
            check_examples(rule, &sources, &facts, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(LoadError { errors })
        }
    }

    /// What was loaded but not obeyed: rules of an untrusted repository file that would allow or
    /// run a command of the file's choosing (`allow`, `redirect`). Not errors: the rest of the
    /// file applies.
    pub fn notices(&self) -> &[RuleError] {
        &self.notices
    }

    /// Every rule, including disabled ones, in definition order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The number of active rules.
    pub fn active_count(&self) -> usize {
        self.rules.iter().filter(|r| !r.disabled).count()
    }

    /// The names of the sources the set was built from.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The settings in force.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Rules that may apply to `program`, in definition order.
    fn candidates<'a>(&'a self, program: &str, buf: &'a mut Vec<usize>) -> &'a [usize] {
        buf.clear();
        if let Some(list) = self.by_program.get(program) {
            buf.extend_from_slice(list);
        }
        for &i in &self.generic {
            if self.rules[i].applies_to_program(program) && !buf.contains(&i) {
                buf.push(i);
            }
        }
        buf.sort_unstable();
        buf
    }

    /// Evaluates a command for a context, in a working directory, with the given facts.
    pub fn evaluate(
        &self,
        input: CommandInput<'_>,
        context: Context,
        cwd: &str,
        facts: &dyn Facts,
    ) -> Evaluation {
        let segments = match input {
            CommandInput::Shell(s) => segment::segments_of_string(s),
            CommandInput::Argv(argv) => segment::segments_of_argv(argv),
        };
        self.evaluate_segments(input, &segments, context, cwd, facts)
    }

    fn evaluate_segments(
        &self,
        input: CommandInput<'_>,
        segments: &[Segment],
        context: Context,
        cwd: &str,
        facts: &dyn Facts,
    ) -> Evaluation {
        let mut results = Vec::with_capacity(segments.len());
        let mut best: Option<(Action, usize, Option<usize>)> = None; // (action, segment, rule)
        let mut buf = Vec::new();
        for (si, seg) in segments.iter().enumerate() {
            let view = SegmentView::new(seg, cwd, facts.home());
            let mut matches = Vec::new();
            let mut seg_action = Action::Allow;
            let mut seg_best: Option<Option<usize>> = None;
            for &ri in self.candidates(&seg.program, &mut buf) {
                let rule = &self.rules[ri];
                if !rule.applies_in(context) || rule.check(&view, facts).is_err() {
                    continue;
                }
                matches.push(RuleMatch {
                    rule: rule.name.clone(),
                    action: rule.action,
                    reason: rule.reason(&view.text),
                });
                if seg_best.is_none() || rule.action > seg_action {
                    seg_action = rule.action;
                    seg_best = Some(Some(ri));
                }
            }
            if let Some(why) = &seg.unverifiable {
                let action = match context {
                    Context::Ai => self.settings.unverifiable_ai,
                    Context::Human => self.settings.unverifiable_human,
                };
                matches.push(RuleMatch {
                    rule: UNVERIFIABLE_RULE.into(),
                    action,
                    reason: format!("cannot verify `{}`: {why}", view.text),
                });
                if seg_best.is_none() || action > seg_action {
                    seg_action = action;
                    seg_best = Some(None);
                }
            }
            if let Some(rule) = seg_best
                && best.is_none_or(|(a, _, _)| seg_action > a)
            {
                best = Some((seg_action, si, rule));
            }
            results.push(SegmentResult {
                text: view.text,
                program: seg.program.clone(),
                via: seg.via.clone(),
                action: seg_action,
                matches,
                unverifiable: seg.unverifiable.clone(),
            });
        }
        let Some((action, si, rule)) = best else {
            return Evaluation {
                action: Action::Allow,
                rule: None,
                reason: "no rule matched".into(),
                segment: None,
                redirect: None,
                approval_scope: ApprovalScope::Session,
                segments: results,
                explanation: None,
            };
        };
        let decisive = &results[si];
        let m = decisive
            .matches
            .iter()
            .find(|m| m.action == action)
            .expect("the deciding match is recorded");
        let rule_ref = rule.map(|ri| &self.rules[ri]);
        // Only for decisions other than allow, so never on the common path.
        let explained = rule_ref
            .filter(|r| r.name == m.rule)
            .or_else(|| self.rules.iter().find(|r| r.name == m.rule));
        let explanation = match explained {
            Some(r) => {
                let view = SegmentView::new(&segments[si], cwd, facts.home());
                Explanation {
                    origin: r.origin_words(),
                    matched: r.witness(&view, facts),
                    suggest: r.suggest.clone(),
                }
            }
            None => Explanation {
                origin: "the parser: a construct it cannot verify".into(),
                matched: segments[si].unverifiable.iter().cloned().collect(),
                suggest: None,
            },
        };
        let mut evaluation = Evaluation {
            action,
            rule: Some(m.rule.clone()),
            reason: m.reason.clone(),
            segment: Some(si),
            redirect: None,
            approval_scope: rule_ref.map_or(ApprovalScope::Session, |r| r.approval_scope),
            segments: results,
            explanation: Some(explanation),
        };
        if action == Action::Redirect {
            let rule = rule_ref.expect("only rules redirect");
            match redirect_command(input, &segments[si], rule) {
                Some(cmd) => evaluation.redirect = Some(cmd),
                None => {
                    // The segment sits inside a larger command we cannot rewrite safely.
                    evaluation.action = Action::Deny;
                    evaluation.reason = format!(
                        "{} (run `{}` instead)",
                        evaluation.reason,
                        fill_template(
                            rule.redirect_to.as_deref().unwrap_or_default(),
                            &segments[si]
                        )
                    );
                }
            }
        }
        evaluation
    }

    /// Lists, for each segment, every rule considered and whether it matched.
    pub fn explain(
        &self,
        input: CommandInput<'_>,
        context: Context,
        cwd: &str,
        facts: &dyn Facts,
    ) -> Vec<(String, Vec<Consideration>)> {
        let segments = match input {
            CommandInput::Shell(s) => segment::segments_of_string(s),
            CommandInput::Argv(argv) => segment::segments_of_argv(argv),
        };
        let mut buf = Vec::new();
        segments
            .iter()
            .map(|seg| {
                let view = SegmentView::new(seg, cwd, facts.home());
                let mut out = Vec::new();
                for &ri in self.candidates(&seg.program, &mut buf) {
                    let rule = &self.rules[ri];
                    let outcome = if !rule.applies_in(context) {
                        Err(format!(
                            "applies to context `{}` only",
                            rule.context.as_str()
                        ))
                    } else {
                        rule.check(&view, facts)
                            .map(|()| rule.action)
                            .map_err(|m| m.to_string())
                    };
                    let matched = match outcome {
                        Ok(_) => rule.witness(&view, facts),
                        Err(_) => Vec::new(),
                    };
                    out.push(Consideration {
                        rule: rule.name.clone(),
                        origin: rule.origin_words(),
                        outcome,
                        matched,
                    });
                }
                if seg.unverifiable.is_some() {
                    out.push(Consideration {
                        rule: UNVERIFIABLE_RULE.into(),
                        origin: "settings.unverifiable".into(),
                        outcome: Ok(match context {
                            Context::Ai => self.settings.unverifiable_ai,
                            Context::Human => self.settings.unverifiable_human,
                        }),
                        matched: seg.unverifiable.iter().cloned().collect(),
                    });
                }
                (view.text, out)
            })
            .collect()
    }
}

fn fill_template(template: &str, seg: &Segment) -> String {
    let args = seg
        .args
        .iter()
        .map(|a| segment::quote_strict(a))
        .collect::<Vec<_>>()
        .join(" ");
    template.replace("{args}", &args)
}

fn redirect_command(input: CommandInput<'_>, seg: &Segment, rule: &Rule) -> Option<String> {
    let replacement = fill_template(rule.redirect_to.as_deref()?, seg);
    match input {
        CommandInput::Argv(_) => seg.via.is_empty().then_some(replacement),
        CommandInput::Shell(src) => {
            let (start, end) = seg.span?;
            Some(format!("{}{}{}", &src[..start], replacement, &src[end..]))
        }
    }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).line_col(offset)
}

/// Where each line of a text starts, so that finding the line of an offset is a binary search
/// rather than a count from the top (a file of 1,000 rules asks once per rule).
struct LineIndex {
    /// Byte offset of the start of every line after the first.
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex {
            starts: text.match_indices('\n').map(|(i, _)| i + 1).collect(),
            len: text.len(),
        }
    }

    /// One-based line and column (in bytes) of `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.len);
        // The number of lines that start at or before `offset`, after the first.
        let later = self.starts.partition_point(|&s| s <= offset);
        let line_start = if later == 0 {
            0
        } else {
            self.starts[later - 1]
        };
        (later + 1, offset - line_start + 1)
    }
}

struct Ctx<'a> {
    source: &'a Source,
    lines: LineIndex,
    errors: &'a mut Vec<RuleError>,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.lines.line_col(offset).0
    }

    fn error(&mut self, offset: usize, field: &str, message: impl Into<String>) {
        let (line, column) = self.lines.line_col(offset);
        self.errors.push(RuleError {
            file: self.source.name.clone(),
            line,
            column,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn regex(&mut self, field: &str, s: &Option<Spanned<String>>) -> Option<LazyRegex> {
        let s = s.as_ref()?;
        if self.source.kind == SourceKind::Builtin {
            // The built-in packs' regexes are validated by the tests (`check_builtin_examples`
            // loads every pack as a user file); parsing them at each start took a quarter of it.
            return Some(LazyRegex::unchecked(s.get_ref()));
        }
        match LazyRegex::new(s.get_ref()) {
            Ok(re) => Some(re),
            Err(msg) => {
                self.error(
                    s.span().start,
                    field,
                    format!("invalid regex `{}`: {msg}", s.get_ref()),
                );
                None
            }
        }
    }

    fn globs(&mut self, field: &str, list: &[Spanned<String>]) -> GlobList {
        let mut out = GlobList::default();
        for s in list {
            if let Err(e) = out.push(s.get_ref()) {
                self.error(s.span().start, field, e.to_string());
            }
        }
        out
    }

    fn paths(&mut self, field: &str, list: &[Spanned<String>]) -> Vec<PathPattern> {
        let sets_allowed = matches!(field, "names_path_under" | "writes_path_under");
        list.iter()
            .filter_map(|s| match PathPattern::new(s.get_ref()) {
                Ok(p) if p.set_name().is_some() && !sets_allowed => {
                    self.error(
                        s.span().start,
                        field,
                        "named path sets (`@…`) are only for `names_path_under` and `writes_path_under`",
                    );
                    None
                }
                Ok(p) => Some(p),
                Err(e) => {
                    self.error(s.span().start, field, e);
                    None
                }
            })
            .collect()
    }

    fn flag_specs(&mut self, field: &str, list: &[Spanned<String>]) -> Vec<FlagSpec> {
        list.iter()
            .filter_map(|s| match FlagSpec::parse(s.get_ref()) {
                Ok(f) => Some(f),
                Err(e) => {
                    self.error(s.span().start, field, e);
                    None
                }
            })
            .collect()
    }

    fn conditions(&mut self, def: &ConditionsDef) -> Conditions {
        Conditions {
            program: self.globs("program", &def.program),
            invoked_as: self.globs("invoked_as", &def.invoked_as),
            stdin_is_code: def.stdin_is_code,
            not_flags: self.flag_specs("not_flags", &def.not_flags),
            reads: self.globs("reads", &def.reads),
            last_positional: self.globs("last_positional", &def.last_positional),
            last_path_under: self.paths("last_path_under", &def.last_path_under),
            regex: self.regex("regex", &def.regex),
            contains: def.contains.clone(),
            prefix: def.prefix.clone(),
            subcommand: def
                .subcommand
                .iter()
                .filter_map(|s| {
                    let words: Vec<String> =
                        s.get_ref().split_whitespace().map(str::to_owned).collect();
                    if words.is_empty() {
                        self.error(s.span().start, "subcommand", "an empty subcommand");
                        None
                    } else {
                        Some(words)
                    }
                })
                .collect(),
            flags: self.flag_specs("flags", &def.flags),
            args: self.globs("args", &def.args),
            positional: self.globs("positional", &def.positional),
            all_positional: self.globs("all_positional", &def.all_positional),
            paths_under: self.paths("paths_under", &def.paths_under),
            paths_equal: self.paths("paths_equal", &def.paths_equal),
            all_paths_under: self.paths("all_paths_under", &def.all_paths_under),
            writes_to: self.globs("writes_to", &def.writes_to),
            stdin_from: def.stdin_from.clone(),
            in_pipeline: def.in_pipeline,
            calls_own_function: def.calls_own_function,
            wrapped: def.wrapped,
            git_branch: def.git_branch.clone(),
            git_branch_regex: self.regex("git_branch_regex", &def.git_branch_regex),
            in_git_repo: def.in_git_repo,
            cwd_regex: self.regex("cwd_regex", &def.cwd_regex),
            cwd_under: self.paths("cwd_under", &def.cwd_under),
            file_exists: def.file_exists.clone(),
            env: def
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            env_unset: def.env_unset.clone(),
            not_program: self.globs("not_program", &def.not_program),
            names_path_under: self.paths("names_path_under", &def.names_path_under),
            writes_path_under: self.paths("writes_path_under", &def.writes_path_under),
            signals_protected_process: def.signals_protected_process,
            only_named_sets: needs_named_set(def),
            any: def.any.iter().map(|c| self.conditions(c)).collect(),
        }
    }
}

/// Whether a condition table can only hold for a segment that names a path of a named set.
fn needs_named_set(def: &ConditionsDef) -> bool {
    let paths: Vec<&Spanned<String>> = def
        .names_path_under
        .iter()
        .chain(&def.writes_path_under)
        .collect();
    if !paths.is_empty() {
        return paths.iter().all(|p| p.get_ref().starts_with('@'));
    }
    !def.any.is_empty() && def.any.iter().all(needs_named_set)
}

fn action_of(def: ActionDef) -> Action {
    match def {
        ActionDef::Allow => Action::Allow,
        ActionDef::Deny => Action::Deny,
        ActionDef::RequireApproval => Action::RequireApproval,
        ActionDef::Redirect => Action::Redirect,
    }
}

/// Adds a `[containment]` table's restrictions to `into`, reporting bad paths and values.
fn compile_containment(
    ctx: &mut Ctx<'_>,
    def: &ContainmentDef,
    into: &mut ContainmentRestrictions,
) {
    for (field, paths, list) in [
        ("containment.protect", &def.protect, &mut into.protect),
        ("containment.read_only", &def.read_only, &mut into.read_only),
    ] {
        for p in paths {
            match restriction_path(ctx.source, p.get_ref()) {
                Ok(path) => {
                    if !list.contains(&path) {
                        list.push(path);
                    }
                }
                Err(message) => ctx.error(p.span().start, field, message),
            }
        }
    }
    if let Some(listen) = &def.listen {
        if *listen.get_ref() {
            ctx.error(
                listen.span().start,
                "containment.listen",
                "only `listen = false` restricts; whether contained commands may listen at all is `containment_listen` in config.toml",
            );
        } else {
            into.no_listen = true;
        }
    }
}

/// A `[containment]` path as the profile takes it: absolute, or `~/…`; a repository file's
/// relative path joined to its repository. No `..`, no wildcards: a restriction names exactly
/// what it restricts.
fn restriction_path(source: &Source, written: &str) -> Result<String, String> {
    use std::path::{Component, Path, PathBuf};
    if written.trim().is_empty() {
        return Err("an empty path".into());
    }
    if written.contains(['*', '?', '[']) {
        return Err(format!(
            "`{written}`: wildcards are not supported here; name the file or directory"
        ));
    }
    if written.contains('\0') {
        return Err("a path with a NUL byte".into());
    }
    let (base, rest): (PathBuf, &str) = if written == "~" || written.starts_with("~/") {
        (PathBuf::from("~"), written.trim_start_matches('~'))
    } else if written.starts_with('/') {
        (PathBuf::from("/"), written)
    } else if written.starts_with('~') {
        return Err(format!(
            "`{written}`: only your own home (`~/`) can be named with `~`"
        ));
    } else {
        match source.kind {
            // `<root>/.safeshell/rules.toml` → `<root>`.
            SourceKind::Repo => match Path::new(&source.name).parent().and_then(Path::parent) {
                Some(root) if root.is_absolute() => (root.to_path_buf(), written),
                _ => {
                    return Err(format!(
                        "`{written}`: the repository's directory is unknown"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "`{written}` is relative: outside a repository file, start it with `/` or `~/`"
                ));
            }
        }
    };
    let mut path = base;
    for c in Path::new(rest).components() {
        match c {
            Component::Normal(n) => path.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!(
                    "`{written}`: `..` is not allowed; name the path itself"
                ));
            }
        }
    }
    Ok(path.to_string_lossy().into_owned())
}

fn context_of(def: ContextDef) -> RuleContext {
    match def {
        ContextDef::All => RuleContext::All,
        ContextDef::Ai => RuleContext::Ai,
        ContextDef::Human => RuleContext::Human,
    }
}

fn scope_of(def: ApprovalScopeDef) -> ApprovalScope {
    match def {
        ApprovalScopeDef::Session => ApprovalScope::Session,
        ApprovalScopeDef::Once => ApprovalScope::Once,
    }
}

/// Compiles one source into `rules`. Returns the packs a global file disables (`[packs]`).
fn compile_source(
    source: &Source,
    pack: Option<&'static str>,
    rules: &mut Vec<Rule>,
    settings: &mut Settings,
    containment: &mut ContainmentRestrictions,
    errors: &mut Vec<RuleError>,
    notices: &mut Vec<RuleError>,
) -> Option<Vec<&'static str>> {
    let mut ctx = Ctx {
        source,
        lines: LineIndex::new(&source.text),
        errors,
    };
    // Rule names seen so far in every source, for the duplicate check.
    let mut names: HashMap<String, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.clone(), i))
        .collect();
    let parsed: RuleFile = match toml::from_str(&source.text) {
        Ok(f) => f,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().to_owned();
            let field = field_at(&source.text, offset);
            ctx.error(offset, &field, message);
            return None;
        }
    };
    let mut disabled_packs = None;
    if let Some(p) = &parsed.packs {
        if source.kind == SourceKind::Global {
            let mut list = Vec::new();
            for name in &p.get_ref().disable {
                match builtin_pack(name.get_ref()) {
                    Some(pack) if pack.can_disable => list.push(pack.name),
                    Some(pack) => ctx.error(
                        name.span().start,
                        "packs.disable",
                        format!(
                            "the `{}` pack protects SafeShell itself and cannot be disabled",
                            pack.name
                        ),
                    ),
                    None => ctx.error(
                        name.span().start,
                        "packs.disable",
                        format!(
                            "no built-in pack named `{}` (see `safeshell rules packs`)",
                            name.get_ref()
                        ),
                    ),
                }
            }
            disabled_packs = Some(list);
        } else {
            ctx.error(
                p.span().start,
                "packs",
                "only the global rules file may disable packs (a repository file can add rules but never remove any)",
            );
        }
    }
    if let Some(s) = &parsed.settings {
        if source.kind == SourceKind::Repo {
            ctx.error(
                s.span().start,
                "settings",
                "a repository rule file may only add rules; settings belong in the global rules file",
            );
        } else if let Some(u) = &s.get_ref().unverifiable {
            if let Some(a) = u.ai {
                settings.unverifiable_ai = action_of(a);
            }
            if let Some(h) = u.human {
                settings.unverifiable_human = action_of(h);
            }
        }
    }
    if let Some(c) = &parsed.containment {
        compile_containment(&mut ctx, c.get_ref(), containment);
    }
    for spanned in &parsed.rules {
        let def = spanned.get_ref();
        let start = spanned.span().start;
        let name = def.name.get_ref().clone();
        if name.is_empty() || name == UNVERIFIABLE_RULE {
            ctx.error(
                def.name.span().start,
                "name",
                format!("`{name}` is not a usable rule name"),
            );
            continue;
        }
        if let Some(prev) = names.get(&name).map(|&i| &rules[i]) {
            ctx.error(
                def.name.span().start,
                "name",
                format!(
                    "duplicate rule name `{name}` (first defined at {}:{})",
                    prev.origin.file, prev.origin.line
                ),
            );
            continue;
        }
        let mut commands = Vec::new();
        let mut command_globs = Vec::new();
        for c in &def.commands {
            let c_str = c.get_ref();
            if c_str.is_empty() || c_str.contains('/') || c_str.contains(char::is_whitespace) {
                ctx.error(
                    c.span().start,
                    "commands",
                    format!("`{c_str}` is not a program name (give the base name, e.g. `rm`)"),
                );
                continue;
            }
            if is_glob(c_str) {
                match Glob::new(c_str) {
                    Ok(g) => command_globs.push(g),
                    Err(e) => ctx.error(c.span().start, "commands", e.to_string()),
                }
            }
            commands.push(c_str.clone());
        }
        let action = action_of(*def.action.get_ref());
        match (action, &def.redirect_to) {
            (Action::Redirect, None) => {
                ctx.error(
                    def.action.span().start,
                    "redirect_to",
                    "a `redirect` rule needs `redirect_to`",
                );
            }
            (a, Some(r)) if a != Action::Redirect => {
                ctx.error(
                    r.span().start,
                    "redirect_to",
                    "`redirect_to` is only used with `action = \"redirect\"`",
                );
            }
            _ => {}
        }
        let when = def
            .when
            .as_ref()
            .map(|w| ctx.conditions(w))
            .unwrap_or_default();
        let unless = def.unless.as_ref().map(|u| ctx.conditions(u));
        if commands.is_empty() && when.is_empty() {
            ctx.error(start, "commands", format!("rule `{name}` has neither `commands` nor `when` conditions and would match everything"));
        }
        let line = ctx.line(def.name.span().start);
        if source.kind == SourceKind::Repo
            && !source.trusted
            && matches!(action, Action::Allow | Action::Redirect)
        {
            // A cloned repository must not be able to run a command of its choosing (a redirect
            // on `git`) or speak for the user (an allow). Reported, not obeyed, until trusted.
            let (line, column) = ctx.lines.line_col(def.action.span().start);
            notices.push(RuleError {
                file: source.name.clone(),
                line,
                column,
                field: "action".into(),
                message: format!(
                    "rule `{name}` ({}) is not obeyed: a repository rule file may only add \
                     restrictions until you trust it (`safeshell trust`)",
                    action.as_str()
                ),
            });
            continue;
        }
        let examples = def
            .examples
            .as_ref()
            .map(|e| (e.get_ref().matches.clone(), e.get_ref().not_match.clone()))
            .unwrap_or_default();
        names.insert(name.clone(), rules.len());
        rules.push(Rule {
            name,
            commands,
            command_globs,
            when,
            unless,
            action,
            redirect_to: def.redirect_to.as_ref().map(|r| r.get_ref().clone()),
            context: context_of(def.context),
            message: def.message.clone(),
            suggest: def.suggest.clone(),
            approval_scope: scope_of(def.approval_scope),
            origin: RuleOrigin {
                kind: source.kind,
                file: source.name.clone(),
                line,
                overridden_at: None,
            },
            pack,
            disabled: false,
            examples,
        });
    }
    for spanned in &parsed.overrides {
        let def = spanned.get_ref();
        let name = def.name.get_ref();
        if source.kind != SourceKind::Global {
            ctx.error(
                spanned.span().start,
                "overrides",
                "only the global rules file may override rules (a repository file can add rules but never weaken others)",
            );
            continue;
        }
        let line = ctx.line(def.name.span().start);
        let Some(rule) = rules
            .iter_mut()
            .find(|r| &r.name == name && r.origin.kind < SourceKind::Global)
        else {
            ctx.error(
                def.name.span().start,
                "name",
                format!("no built-in rule named `{name}` to override (see `safeshell rules list`)"),
            );
            continue;
        };
        rule.origin.overridden_at = Some(format!("{}:{line}", source.name));
        if def.disable {
            rule.disabled = true;
        }
        if let Some(a) = def.action {
            rule.action = action_of(a);
        }
        if let Some(r) = &def.redirect_to {
            rule.redirect_to = Some(r.clone());
        }
        if let Some(suggest) = &def.suggest {
            rule.suggest = Some(suggest.clone());
        }
        if rule.action == Action::Redirect && rule.redirect_to.is_none() {
            ctx.error(
                def.name.span().start,
                "redirect_to",
                format!("overriding `{name}` to `redirect` needs `redirect_to`"),
            );
        }
        if let Some(c) = def.context {
            rule.context = context_of(c);
        }
        if let Some(m) = &def.message {
            rule.message = Some(m.clone());
        }
        if let Some(s) = def.approval_scope {
            rule.approval_scope = scope_of(s);
        }
    }
    disabled_packs
}

/// The key at or just before an error offset, to name the field in a TOML syntax error.
fn field_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    match line.split_once('=') {
        Some((key, _)) if !key.trim().starts_with('[') => key.trim().to_owned(),
        _ => String::new(),
    }
}

fn check_examples(
    rule: &Rule,
    sources: &[Source],
    facts: &StaticFacts,
    errors: &mut Vec<RuleError>,
) {
    let (matches, not_match) = &rule.examples;
    let Some(source) = sources.iter().find(|s| s.name == rule.origin.file) else {
        return;
    };
    let mut report = |example: &str, expected: bool, detail: String| {
        let (line, column) = example_location(&source.text, rule.origin.line, example);
        errors.push(RuleError {
            file: source.name.clone(),
            line,
            column,
            field: "examples".into(),
            message: format!(
                "rule `{}`: example `{example}` should {}match but {}{detail}",
                rule.name,
                if expected { "" } else { "not " },
                if expected { "does not" } else { "does" },
            ),
        });
    };
    for (example, expected) in matches
        .iter()
        .map(|e| (e, true))
        .chain(not_match.iter().map(|e| (e, false)))
    {
        let segments = segment::segments_of_string(example);
        let mut matched_segment = None;
        let mut misses = Vec::new();
        for seg in &segments {
            if !rule.applies_to_program(&seg.program) {
                continue;
            }
            let view = SegmentView::new(seg, EXAMPLE_CWD, facts.home());
            match rule.check(&view, facts) {
                Ok(()) => {
                    matched_segment = Some(view.text);
                    break;
                }
                Err(m) => misses.push(format!("`{}`: {m}", view.text)),
            }
        }
        match (expected, matched_segment) {
            (true, None) => {
                let detail = if misses.is_empty() {
                    format!(" (no segment runs one of {:?})", rule.commands)
                } else {
                    format!(" ({})", misses.join("; "))
                };
                report(example, true, detail);
            }
            (false, Some(seg)) => report(example, false, format!(" (on segment `{seg}`)")),
            _ => {}
        }
    }
}

/// Finds the line of an example string within a rule (falls back to the rule's line).
fn example_location(text: &str, rule_line: usize, example: &str) -> (usize, usize) {
    let start = text
        .lines()
        .take(rule_line - 1)
        .map(|l| l.len() + 1)
        .sum::<usize>();
    let rest = &text[start.min(text.len())..];
    match rest
        .find(&toml_escape(example))
        .or_else(|| rest.find(example))
    {
        Some(i) => line_col(text, start + i),
        None => (rule_line, 1),
    }
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_agrees_with_counting_from_the_top() {
        let text = "a = 1\n\n[[rules]]\nname = \"x\"\r\nlast";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            let clamped = offset.min(text.len());
            let before = &text[..clamped];
            let line = before.matches('\n').count() + 1;
            let column = clamped - before.rfind('\n').map_or(0, |nl| nl + 1) + 1;
            assert_eq!(index.line_col(offset), (line, column), "offset {offset}");
        }
        assert_eq!(LineIndex::new("").line_col(0), (1, 1));
    }
}
