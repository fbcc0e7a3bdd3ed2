//! `safeshell hook install | uninstall <agent> [--project]`: register the hook client in an
//! agent's settings file, idempotently, with a backup, keeping everything else in the file.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::facts::repository_root;

/// The agents SafeShell can hook.
pub const AGENTS: &[&str] = &["claude", "codex", "cursor", "gemini", "copilot"];

/// Seconds the agent gives the hook (above the hook's own approval wait of 55 s).
pub const HOOK_TIMEOUT_SECS: u64 = 60;

/// Where an agent's hook is registered.
#[derive(Debug, Clone)]
pub struct HookSite {
    /// The agent.
    pub agent: &'static str,
    /// Its settings file.
    pub path: PathBuf,
}

/// The settings file of `agent`, for the user or for the repository around `cwd`.
pub fn site(agent: &str, project: bool, home: &Path, cwd: &Path) -> Result<HookSite> {
    let agent: &'static str = AGENTS
        .iter()
        .find(|a| **a == agent)
        .copied()
        .with_context(|| {
            format!(
                "unknown agent `{agent}`: choose one of {}",
                AGENTS.join(", ")
            )
        })?;
    let base = if project {
        repository_root(cwd).unwrap_or(cwd).to_owned()
    } else {
        home.to_owned()
    };
    let path = match agent {
        "claude" => base.join(".claude/settings.json"),
        "codex" => base.join(".codex/config.toml"),
        "cursor" => base.join(".cursor/hooks.json"),
        // Copilot CLI reads every file in its hooks directory: this one is SafeShell's own.
        "copilot" if project => base.join(".github/hooks/safeshell.json"),
        "copilot" => std::env::var_os("COPILOT_HOME")
            .map_or_else(|| base.join(".copilot"), PathBuf::from)
            .join("hooks/safeshell.json"),
        _ => base.join(".gemini/settings.json"),
    };
    Ok(HookSite { agent, path })
}

/// The command an agent runs for the hook.
pub fn hook_command(shim: &Path, agent: &str) -> String {
    let path = shim.display().to_string();
    let quoted = if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    };
    format!("{quoted} hook {agent}")
}

/// True when `command` is a SafeShell hook command for `agent` (any install location).
pub fn is_our_command(command: &str, agent: &str) -> bool {
    command.contains("safeshell-shim") && command.trim_end().ends_with(&format!(" hook {agent}"))
}

/// What an install or uninstall did.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing to do.
    Unchanged,
    /// The file was written; the original was kept at `backup` (if there was one).
    Written { backup: Option<PathBuf> },
}

/// Installs (or updates) the hook for `site`, running `command`.
pub fn install(site: &HookSite, command: &str) -> Result<Change> {
    edit(site, |text| match site.agent {
        "codex" => codex_edit(text, Some(command)),
        _ => json_edit(site.agent, text, Some(command)),
    })
}

/// Removes SafeShell's hook from `site`.
pub fn uninstall(site: &HookSite) -> Result<Change> {
    if !site.path.exists() {
        return Ok(Change::Unchanged);
    }
    edit(site, |text| match site.agent {
        "codex" => codex_edit(text, None),
        _ => json_edit(site.agent, text, None),
    })
}

/// The hook commands registered for SafeShell in `site` (for `doctor`).
pub fn registered(site: &HookSite) -> Result<Vec<String>> {
    let Ok(text) = std::fs::read_to_string(&site.path) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    if site.agent == "codex" {
        for (_, commands) in codex_groups(site, &text)? {
            found.extend(commands);
        }
        return Ok(found);
    }
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", site.path.display()))?;
    // The shell event (the doctor probes the hook with a command); [`outdated`] checks the rest.
    let (event, _) = json_events(site.agent)[0];
    for group in v["hooks"][event].as_array().into_iter().flatten() {
        let hooks: Vec<&Value> = match flat_command_key(site.agent) {
            Some(_) => vec![group],
            None => group["hooks"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
        };
        let key = flat_command_key(site.agent).unwrap_or("command");
        for h in hooks {
            if let Some(c) = h[key].as_str().filter(|c| is_our_command(c, site.agent)) {
                found.push(c.to_owned());
            }
        }
    }
    Ok(found)
}

/// Codex's `PreToolUse` groups: each one's matcher and the SafeShell hook commands in it.
fn codex_groups(site: &HookSite, text: &str) -> Result<Vec<(Option<String>, Vec<String>)>> {
    let doc: toml::Table = toml::from_str(text)
        .with_context(|| format!("{} is not valid TOML", site.path.display()))?;
    let groups = doc
        .get("hooks")
        .and_then(|h| h.get("PreToolUse"))
        .and_then(toml::Value::as_array);
    Ok(groups
        .into_iter()
        .flatten()
        .map(|group| {
            let commands = group
                .get("hooks")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|h| h.get("command").and_then(toml::Value::as_str))
                .filter(|c| is_our_command(c, "codex"))
                .map(str::to_owned)
                .collect();
            let matcher = group.get("matcher").and_then(toml::Value::as_str);
            (matcher.map(str::to_owned), commands)
        })
        .collect())
}

/// The events (with their matchers) an installed SafeShell hook does not cover, as text: an
/// install from an earlier release answers for shell commands only, not for file tools.
pub fn not_covered(site: &HookSite) -> Result<Vec<String>> {
    let Ok(text) = std::fs::read_to_string(&site.path) else {
        return Ok(Vec::new());
    };
    let ours = |c: Option<&str>| c.is_some_and(|c| is_our_command(c, site.agent));
    if site.agent == "codex" {
        let covered = codex_groups(site, &text)?
            .iter()
            .any(|(matcher, commands)| {
                matcher.as_deref() == Some(CODEX_MATCHER) && !commands.is_empty()
            });
        return Ok(if covered {
            Vec::new()
        } else {
            vec![format!("PreToolUse (matcher {CODEX_MATCHER})")]
        });
    }
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", site.path.display()))?;
    let mut missing = Vec::new();
    for &(event, matcher) in json_events(site.agent) {
        let covered = v["hooks"][event].as_array().into_iter().flatten().any(|g| {
            let entries: Vec<&Value> = match flat_command_key(site.agent) {
                Some(_) => vec![g],
                None => g["hooks"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default(),
            };
            let key = flat_command_key(site.agent).unwrap_or("command");
            g["matcher"].as_str() == matcher && entries.iter().any(|h| ours(h[key].as_str()))
        });
        if !covered {
            missing.push(match matcher {
                Some(m) => format!("{event} (matcher {m})"),
                None => event.to_owned(),
            });
        }
    }
    Ok(missing)
}

fn edit(site: &HookSite, change: impl FnOnce(&str) -> Result<String>) -> Result<Change> {
    let original = match std::fs::read_to_string(&site.path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", site.path.display())),
    };
    let updated = change(original.as_deref().unwrap_or_default())
        .with_context(|| format!("cannot update {}", site.path.display()))?;
    if original.as_deref() == Some(updated.as_str()) {
        return Ok(Change::Unchanged);
    }
    let mut backup = None;
    if let Some(text) = &original {
        let path = PathBuf::from(format!("{}.safeshell-backup", site.path.display()));
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write the backup {}", path.display()))?;
        backup = Some(path);
    }
    // A file of SafeShell's own with nothing left in it (Copilot CLI's) is removed.
    if updated.is_empty() {
        std::fs::remove_file(&site.path)
            .with_context(|| format!("cannot remove {}", site.path.display()))?;
        return Ok(Change::Written { backup });
    }
    if let Some(dir) = site.path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write beside, then rename: the agent never reads a half-written settings file.
    let tmp = PathBuf::from(format!("{}.safeshell-tmp", site.path.display()));
    std::fs::write(&tmp, &updated)?;
    std::fs::rename(&tmp, &site.path)?;
    Ok(Change::Written { backup })
}

/// Claude Code's tools SafeShell judges: the shell and the file tools.
pub const CLAUDE_MATCHER: &str = "Bash|Read|Write|Edit|MultiEdit|NotebookEdit|Grep|Glob|LS";
/// Gemini CLI's tools SafeShell judges (current names and the earlier `search_file_content`).
pub const GEMINI_MATCHER: &str = "run_shell_command|read_file|read_many_files|write_file|replace|glob|grep_search|search_file_content|list_directory";
/// Codex's tools SafeShell judges: the shell and `apply_patch` (a regex).
pub const CODEX_MATCHER: &str = "^(Bash|apply_patch)$";
/// Copilot CLI's tools SafeShell judges (a regex it anchors).
pub const COPILOT_MATCHER: &str = "bash|powershell|view|create|edit|str_replace_editor|str_replace|insert|apply_patch|grep|rg|glob";

/// Agents whose settings hold one flat entry per hook (`{command, matcher?}`), and the key that
/// holds the command.
fn flat_command_key(agent: &str) -> Option<&'static str> {
    match agent {
        "cursor" => Some("command"),
        "copilot" => Some("bash"),
        _ => None,
    }
}

/// (event, tool matcher) pairs for the JSON-configured agents: every event SafeShell's hook
/// answers.
fn json_events(agent: &str) -> &'static [(&'static str, Option<&'static str>)] {
    match agent {
        "claude" => &[("PreToolUse", Some(CLAUDE_MATCHER))],
        // Cursor's shell commands, its file reads, and its file tools (edits, deletions).
        "cursor" => &[
            ("beforeShellExecution", None),
            ("beforeReadFile", None),
            ("preToolUse", Some("Read|Write|Edit|Delete|Grep")),
        ],
        "copilot" => &[("preToolUse", Some(COPILOT_MATCHER))],
        _ => &[("BeforeTool", Some(GEMINI_MATCHER))],
    }
}

fn json_edit(agent: &str, text: &str, command: Option<&str>) -> Result<String> {
    let mut doc: Value = if text.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(text)?
    };
    let root = doc
        .as_object_mut()
        .context("the settings file is not a JSON object")?;
    if matches!(agent, "cursor" | "copilot") && !root.contains_key("version") && command.is_some() {
        root.insert("version".into(), json!(1));
    }
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks.as_object_mut().context("`hooks` is not an object")?;
    for &(event, matcher) in json_events(agent) {
        if command.is_none() && !hooks.contains_key(event) {
            continue;
        }
        let groups = hooks.entry(event).or_insert_with(|| json!([]));
        let groups = groups
            .as_array_mut()
            .with_context(|| format!("`hooks.{event}` is not an array"))?;
        // Remove our entries everywhere (an install re-adds one, up to date).
        let flat = flat_command_key(agent);
        for group in groups.iter_mut() {
            if flat.is_none()
                && let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut)
            {
                list.retain(|h| {
                    !h["command"]
                        .as_str()
                        .is_some_and(|c| is_our_command(c, agent))
                });
            }
        }
        groups.retain(|g| {
            if let Some(key) = flat {
                !g[key].as_str().is_some_and(|c| is_our_command(c, agent))
            } else {
                g.get("hooks")
                    .and_then(Value::as_array)
                    .is_none_or(|l| !l.is_empty())
            }
        });
        if let Some(command) = command {
            let entry = match agent {
                // A hook that fails or times out must not let the action through.
                "cursor" => {
                    let mut entry = json!({ "command": command, "failClosed": true });
                    if let Some(m) = matcher {
                        entry["matcher"] = json!(m);
                    }
                    entry
                }
                "copilot" => json!({
                    "type": "command", "bash": command, "matcher": matcher,
                    "timeoutSec": HOOK_TIMEOUT_SECS,
                }),
                "claude" => {
                    json!({ "matcher": matcher, "hooks": [{ "type": "command", "command": command, "timeout": HOOK_TIMEOUT_SECS }] })
                }
                _ => {
                    json!({ "matcher": matcher, "hooks": [{ "type": "command", "command": command, "name": "safeshell", "timeout": HOOK_TIMEOUT_SECS * 1000 }] })
                }
            };
            // Put SafeShell first, so it runs before other hooks that might allow.
            groups.insert(0, entry);
        } else if groups.is_empty() {
            hooks.remove(event);
        }
    }
    if command.is_none() && hooks.is_empty() {
        root.remove("hooks");
        // Copilot CLI's file is SafeShell's own: nothing is left in it.
        if agent == "copilot" && root.keys().all(|k| k == "version") {
            return Ok(String::new());
        }
    }
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

fn codex_edit(text: &str, command: Option<&str>) -> Result<String> {
    use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};
    let mut doc: DocumentMut = text.parse().context("not valid TOML")?;
    let hooks = doc.entry("hooks").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let hooks = hooks.as_table_mut().context("`hooks` is not a table")?;
    let mut groups = match hooks.remove("PreToolUse") {
        Some(Item::ArrayOfTables(a)) => a,
        Some(_) => bail!("`hooks.PreToolUse` is not an array of tables"),
        None => ArrayOfTables::new(),
    };
    let mut kept = ArrayOfTables::new();
    for mut group in groups.iter().cloned() {
        if let Some(Item::ArrayOfTables(list)) = group.get_mut("hooks") {
            list.retain(|h| {
                !h.get("command")
                    .and_then(|c| c.as_str())
                    .is_some_and(|c| is_our_command(c, "codex"))
            });
            if list.is_empty() {
                continue;
            }
        }
        kept.push(group);
    }
    groups = kept;
    if let Some(command) = command {
        let mut hook = Table::new();
        hook["type"] = value("command");
        hook["command"] = value(command);
        hook["timeout"] = value(HOOK_TIMEOUT_SECS as i64);
        let mut list = ArrayOfTables::new();
        list.push(hook);
        let mut group = Table::new();
        group["matcher"] = value(CODEX_MATCHER);
        group.insert("hooks", Item::ArrayOfTables(list));
        let mut first = ArrayOfTables::new();
        first.push(group);
        for g in &groups {
            first.push(g.clone());
        }
        groups = first;
    }
    if !groups.is_empty() {
        hooks.insert("PreToolUse", Item::ArrayOfTables(groups));
    }
    if hooks.is_empty() {
        doc.remove("hooks");
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_install_keeps_other_content_and_is_idempotent() {
        let original = r#"{"model": "x", "hooks": {"PreToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt"}]}]}, "z": 1}"#;
        let once = json_edit("claude", original, Some("/bin/safeshell-shim hook claude")).unwrap();
        let twice = json_edit("claude", &once, Some("/bin/safeshell-shim hook claude")).unwrap();
        assert_eq!(once, twice);
        let v: Value = serde_json::from_str(&once).unwrap();
        assert_eq!(v["model"], "x");
        assert_eq!(v["z"], 1);
        assert_eq!(v["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);
        assert_eq!(v["hooks"]["PreToolUse"][0]["matcher"], CLAUDE_MATCHER);
        // Key order is kept.
        assert!(once.find("\"model\"").unwrap() < once.find("\"z\"").unwrap());
        let removed = json_edit("claude", &once, None).unwrap();
        let v: Value = serde_json::from_str(&removed).unwrap();
        assert_eq!(v["hooks"]["PreToolUse"].as_array().unwrap().len(), 1);
        assert_eq!(v["hooks"]["PreToolUse"][0]["matcher"], "Edit");
    }

    #[test]
    fn cursor_gets_every_event_and_earlier_installs_are_reported() {
        let dir = std::env::temp_dir().join(format!("safeshell-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let site = HookSite {
            agent: "cursor",
            path: dir.join("hooks.json"),
        };
        let command = "/b/safeshell-shim hook cursor";
        // An install from an earlier release: shell commands only.
        let old = json!({"version": 1, "hooks": {"beforeShellExecution": [{"command": command}]}});
        std::fs::write(&site.path, old.to_string()).unwrap();
        assert_eq!(
            not_covered(&site).unwrap(),
            [
                "beforeReadFile",
                "preToolUse (matcher Read|Write|Edit|Delete|Grep)"
            ]
        );
        let text = json_edit("cursor", &old.to_string(), Some(command)).unwrap();
        std::fs::write(&site.path, &text).unwrap();
        assert!(not_covered(&site).unwrap().is_empty());
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["hooks"]["beforeShellExecution"].as_array().unwrap().len(),
            1
        );
        assert_eq!(v["hooks"]["beforeReadFile"][0]["failClosed"], true);
        assert_eq!(v["hooks"]["preToolUse"][0]["command"], command);
        let removed = json_edit("cursor", &text, None).unwrap();
        assert!(!removed.contains("safeshell-shim"), "{removed}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn codex_toml_install_and_uninstall() {
        let original = "model = \"o3\"\n\n[profiles.fast]\nmodel = \"mini\"\n";
        let once = codex_edit(original, Some("/x/safeshell-shim hook codex")).unwrap();
        assert!(once.contains("model = \"o3\"") && once.contains("[profiles.fast]"));
        assert!(once.contains("[[hooks.PreToolUse]]"));
        assert!(once.contains(&format!("matcher = \"{CODEX_MATCHER}\"")));
        assert_eq!(
            codex_edit(&once, Some("/x/safeshell-shim hook codex")).unwrap(),
            once
        );
        let removed = codex_edit(&once, None).unwrap();
        assert!(!removed.contains("safeshell-shim"));
        assert!(removed.contains("[profiles.fast]"));
    }
}
