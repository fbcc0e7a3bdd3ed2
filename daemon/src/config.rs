//! `~/.safeshell/config.toml`: daemon and shim settings, with documented defaults.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

/// The agent environment markers recognised by default (shared with the shim).
pub const DEFAULT_AGENT_MARKERS: &[&str] = safeshell_protocol::AGENT_ENV_MARKERS;

/// Program names whose descendants are treated as agents by default (shared with the shim).
pub const DEFAULT_AGENT_PROGRAMS: &[&str] = safeshell_protocol::AGENT_PROGRAMS;

/// The settings file. Unknown keys are errors (with file and line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What clients do for a person when the daemon cannot be reached even after starting it:
    /// allow | deny.
    pub on_unavailable: FailMode,
    /// The same for an agent (the stricter of the two applies to agents): allow | deny.
    pub on_unavailable_ai: FailMode,
    /// The real shell the `SHELL` wrapper runs (an absolute path).
    #[serde(deserialize_with = "absolute_path")]
    pub shell: String,
    /// Seconds an approval waits for a human before it is denied.
    pub approval_timeout_secs: u64,
    /// Rotate the audit log when it grows past this many bytes.
    pub audit_max_bytes: u64,
    /// Rotated audit logs kept (audit.jsonl.1 … .N).
    pub audit_keep: u32,
    /// Seconds an "approve / deny for the session" decision is remembered.
    pub session_approval_secs: u64,
    /// Seconds a no-double-ask token stays valid.
    pub token_ttl_secs: u64,
    /// Environment variable names that mark an agent.
    pub agent_env_markers: Vec<String>,
    /// Program names whose descendants are agents.
    pub agent_programs: Vec<String>,
    /// How often (milliseconds) rule files are checked for changes.
    pub watch_interval_ms: u64,
    /// Extra commands to shim beyond those the rules name.
    pub extra_shims: Vec<String>,
    /// How the Claude Code hook handles approvals: monitor | agent | auto.
    pub claude_approval: HookApproval,
    /// How the Codex hook handles approvals: monitor | agent | auto.
    pub codex_approval: HookApproval,
    /// How the Cursor hook handles approvals: monitor | agent | auto.
    pub cursor_approval: HookApproval,
    /// How the Gemini CLI hook handles approvals (it has no prompt of its own: always monitor).
    pub gemini_approval: HookApproval,
    /// Seconds a hook waits for a person before giving up (below the agent's hook timeout).
    pub hook_approval_timeout_secs: u64,
    /// Kernel containment (Landlock) of agents' allowed commands: agents | off.
    pub containment: Containment,
    /// Extra paths contained commands may write (`~/` is the home).
    pub containment_writable: Vec<String>,
    /// Extra paths contained commands may read, even among the protected secrets.
    pub containment_readable: Vec<String>,
    /// Whether contained commands may listen on TCP ports (bind); false refuses every bind.
    pub containment_listen: bool,
    /// When the Claude Code hook rewrites an allowed command to run contained (read by the hook
    /// client itself): auto | always | off.
    pub claude_hook_contain: ClaudeHookContain,
}

/// When the Claude Code hook rewrites the commands it allows to run under containment
/// (`safeshell-shim contain -c …`), which changes the command Claude Code's own permission rules
/// see. Never while the user's Claude Code settings hold `deny` or `ask` rules for Bash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaudeHookContain {
    /// In `bypassPermissions` mode (Claude Code asks nothing), and for commands a person approved.
    Auto,
    /// In every mode but `plan`, answering "allow": SafeShell's decision replaces Claude Code's
    /// prompt for the commands it allows.
    Always,
    /// Never.
    Off,
}

/// Whose allowed commands run under kernel containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Containment {
    /// Agents' commands (where the kernel supports Landlock); a person's never.
    Agents,
    /// Nobody's.
    Off,
}

/// Where an agent hook sends an approval (read by the hook client itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookApproval {
    /// Wait for a decision in `safeshell monitor`.
    Monitor,
    /// Answer "ask" so the agent's own permission prompt asks the person.
    Agent,
    /// The monitor when one is connected, else the agent's prompt.
    Auto,
}

/// The fail mode when the daemon is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Run the command, with a one-line warning on stderr.
    Allow,
    /// Refuse the command.
    Deny,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            on_unavailable: FailMode::Allow,
            on_unavailable_ai: FailMode::Deny,
            shell: "/bin/bash".into(),
            approval_timeout_secs: 300,
            audit_max_bytes: 10 * 1024 * 1024,
            audit_keep: 3,
            session_approval_secs: 300,
            token_ttl_secs: 600,
            agent_env_markers: DEFAULT_AGENT_MARKERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            agent_programs: DEFAULT_AGENT_PROGRAMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            watch_interval_ms: 500,
            extra_shims: Vec::new(),
            claude_approval: HookApproval::Auto,
            codex_approval: HookApproval::Auto,
            cursor_approval: HookApproval::Auto,
            gemini_approval: HookApproval::Monitor,
            hook_approval_timeout_secs: 55,
            containment: Containment::Agents,
            containment_writable: Vec::new(),
            containment_readable: Vec::new(),
            containment_listen: true,
            claude_hook_contain: ClaudeHookContain::Auto,
        }
    }
}

impl Config {
    /// Reads the config file; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses config text; errors read `name:line:column: message`.
    pub fn parse(text: &str, name: &str) -> Result<Config> {
        match toml::from_str::<Config>(text) {
            Ok(c) => Ok(c),
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start).min(text.len());
                let before = text.get(..offset).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                bail!("{name}:{line}:{column}: {}", e.message().trim())
            }
        }
    }
}

fn absolute_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if !s.starts_with('/') {
        return Err(serde::de::Error::custom(format!(
            "`shell` must be an absolute path, got `{s}`"
        )));
    }
    Ok(s)
}

/// Settings the daemon applies the moment a reloaded `config.toml` changes them.
pub const LIVE_SETTINGS: &[&str] = &[
    "approval_timeout_secs",
    "audit_max_bytes",
    "audit_keep",
    "session_approval_secs",
    "token_ttl_secs",
    "agent_env_markers",
    "agent_programs",
    "watch_interval_ms",
    "containment",
    "containment_writable",
    "containment_readable",
    "containment_listen",
];

/// The names of the settings whose values differ.
pub fn changed_settings(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// What a reload changed, for the daemon's log: which settings apply now and which take
/// effect elsewhere (clients read theirs at each start; shims are made by `safeshell refresh`).
pub fn describe_changes(changed: &[String]) -> String {
    if changed.is_empty() {
        return ": no setting changed".into();
    }
    let (live, other): (Vec<&String>, Vec<&String>) = changed
        .iter()
        .partition(|c| LIVE_SETTINGS.contains(&c.as_str()));
    let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let mut out = String::new();
    if !live.is_empty() {
        out.push_str(&format!("; applied now: {}", join(&live)));
    }
    let (shims, clients): (Vec<&String>, Vec<&String>) =
        other.into_iter().partition(|c| *c == "extra_shims");
    if !clients.is_empty() {
        out.push_str(&format!(
            "; read by shims, the SHELL wrapper and hooks at their next start: {}",
            join(&clients)
        ));
    }
    if !shims.is_empty() {
        out.push_str("; extra_shims changed: run `safeshell refresh` to make the shims");
    }
    out
}

/// The config file `safeshell init` writes: every setting, commented, with its default.
pub fn template() -> String {
    let markers = DEFAULT_AGENT_MARKERS
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let programs = DEFAULT_AGENT_PROGRAMS
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# SafeShell settings. Every setting is shown with its default; uncomment to change it.
# Rules live in rules.toml beside this file (see docs/rules.md).

# What shims, the SHELL wrapper and hooks do when the daemon cannot be reached even after they
# tried to start it: "allow" (run the command, with a one-line warning) or "deny". The first is
# for a person's commands, the second for an agent's (agents get the stricter of the two; in an
# agent's process no environment variable can loosen it).
# on_unavailable = "allow"
# on_unavailable_ai = "deny"

# The real shell the SHELL wrapper (safeshell-shim -c …) runs. Never the wrapper itself.
# shell = "/bin/bash"

# Seconds an approval waits for a human in `safeshell monitor` before it is denied.
# approval_timeout_secs = 300

# The audit log (audit.jsonl) is rotated past this size; this many old logs are kept.
# audit_max_bytes = 10485760
# audit_keep = 3

# Seconds a person's "approve / deny for the session" decision is remembered (same command, same
# repository, same agent session). Rules marked approval_scope "once" are never remembered.
# session_approval_secs = 300

# Seconds a no-double-ask token (handed to the commands a decision allowed) stays valid.
# token_ttl_secs = 600

# A client whose environment has one of these variables is an agent. The built-in ones shown
# here always count; variables listed here are added to them.
# agent_env_markers = [{markers}]

# A client descending from one of these programs is an agent.
# agent_programs = [{programs}]

# How often (milliseconds) the daemon checks rule files for changes.
# watch_interval_ms = 500

# Commands to shim in addition to those the rules name.
# extra_shims = []

# Agent hooks (`safeshell hook install <agent>`): where an approval goes. "monitor" waits for a
# person in `safeshell monitor`; "agent" answers "ask" so the agent's own permission prompt asks;
# "auto" uses the monitor when one is connected, else the agent's prompt. Gemini CLI has no
# prompt of its own and always uses the monitor.
# claude_approval = "auto"
# codex_approval = "auto"
# cursor_approval = "auto"
# gemini_approval = "monitor"

# Seconds a hook waits for a person, kept below the agent's own hook timeout.
# hook_approval_timeout_secs = 55

# Kernel containment (Landlock) of the commands agents are allowed to run: "agents" or "off".
# Contained commands cannot read the protected secrets (~/.ssh, ~/.aws, ~/.gnupg, …) and may
# write only the project checkout, temporary directories and caches. See docs/SECURITY.md and
# `safeshell contain --print`.
# containment = "agents"
# Extra places contained commands may write, and read (even among the secrets), e.g. "~/.config/gh".
# containment_writable = []
# containment_readable = []
# false: contained commands may not listen on TCP ports (no dev servers, no bind shells; every TCP
# bind is refused; Landlock ABI 4, Linux 6.7, and later).
# containment_listen = true

# The Claude Code hook can contain the commands it lets through by rewriting them to
# `safeshell-shim contain -c '…'` (Claude Code then matches its own permission rules against that
# text, so this never happens while its settings hold `deny` or `ask` rules for Bash).
# "auto": in bypassPermissions mode, where Claude Code asks nothing, and for commands a person
# approved in the monitor. "always": in every mode but plan, answering "allow", so SafeShell's
# decision replaces Claude Code's prompt. "off": never (the SHELL wrapper still contains).
# claude_hook_contain = "auto"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_to_the_defaults() {
        let c = Config::parse(&template(), "t").unwrap();
        assert_eq!(c.on_unavailable, FailMode::Allow);
        assert_eq!(c.on_unavailable_ai, FailMode::Deny);
        assert_eq!(c.approval_timeout_secs, 300);
        // Uncommenting every line gives the same values.
        let uncommented: String = template()
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = "))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c2 = Config::parse(&uncommented, "t").unwrap();
        assert_eq!(c2.agent_programs, c.agent_programs);
        assert_eq!(c2.audit_max_bytes, c.audit_max_bytes);
    }

    #[test]
    fn fail_modes_are_allow_or_deny() {
        let c = Config::parse("on_unavailable_ai = \"allow\"\n", "c.toml").unwrap();
        assert_eq!(c.on_unavailable_ai, FailMode::Allow);
        let err = Config::parse("on_unavailable_ai = \"maybe\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:1:"), "{err}");
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let err = Config::parse("shell = \"/bin/bash\"\nshel = 1\n", "cfg.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cfg.toml:2:1: "), "{err}");
        assert!(err.contains("shel"), "{err}");
    }

    #[test]
    fn changes_are_named_and_sorted_into_live_and_client_settings() {
        let old = Config::default();
        let new = Config {
            audit_max_bytes: 1,
            on_unavailable: FailMode::Deny,
            extra_shims: vec!["x".into()],
            ..Config::default()
        };
        let mut changed = changed_settings(&old, &new);
        changed.sort();
        assert_eq!(
            changed,
            ["audit_max_bytes", "extra_shims", "on_unavailable"]
        );
        let text = describe_changes(&changed);
        assert!(text.contains("applied now: audit_max_bytes"), "{text}");
        assert!(text.contains("next start: on_unavailable"), "{text}");
        assert!(text.contains("safeshell refresh"), "{text}");
        assert_eq!(describe_changes(&[]), ": no setting changed");
        // Every live setting is a real one.
        let all = changed_settings(
            &old,
            &Config {
                watch_interval_ms: 1,
                ..old.clone()
            },
        );
        assert_eq!(all, ["watch_interval_ms"]);
        let names = serde_json::to_value(&old).unwrap();
        for s in LIVE_SETTINGS {
            assert!(names.get(s).is_some(), "{s}");
        }
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let err = Config::parse(
            "audit_keep = 3\n  approval_timeout_secs = \"x\"\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("c.toml:2:27: "), "{err}");
        let err = Config::parse("shell = \"bash\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:1:9: "), "{err}");
        assert!(err.contains("absolute path"), "{err}");
    }
}
