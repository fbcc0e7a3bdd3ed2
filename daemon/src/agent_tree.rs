//! Where an agent's processes are, however the agent was recognised, so that an agent never
//! approves its own request: not by dropping its marker (`env -u CLAUDECODE safeshell approvals
//! approve 3`) and not from a sibling shell the agent started.
//!
//! An agent recognised by an environment marker (or `SAFESHELL_CONTEXT=ai`) hands that variable
//! to every process it starts. `/proc/<pid>/environ` is a process's environment as it started,
//! so a child that unsets the variable still has a parent that carries it; and the agent itself
//! is the parent of the topmost process that carries it.

use crate::context;

/// A process's environment as it started (`/proc/<pid>/environ`; same user only), as (name,
/// value) pairs; empty when unreadable.
pub fn environ(pid: u32) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The agent variable a process started with: a marker (as `is_marker` says) or
/// `SAFESHELL_CONTEXT=ai`.
pub fn agent_variable(pid: u32, is_marker: &dyn Fn(&str) -> bool) -> Option<String> {
    environ(pid).into_iter().find_map(|(k, v)| {
        if k == "SAFESHELL_CONTEXT" {
            (v.trim() == "ai").then(|| "SAFESHELL_CONTEXT=ai".to_owned())
        } else {
            is_marker(&k).then_some(k)
        }
    })
}

/// The nearest ancestor of `pid` (not `pid` itself) that started with an agent variable, and the
/// variable: a would-be approver below it runs inside an agent's tree.
pub fn ancestor_with_agent_variable(
    pid: u32,
    is_marker: &dyn Fn(&str) -> bool,
) -> Option<(u32, String)> {
    let mut current = pid;
    for _ in 0..256 {
        let (parent, _) = context::parent_and_start(current)?;
        if parent <= 1 {
            return None;
        }
        if let Some(var) = agent_variable(parent, is_marker) {
            return Some((parent, var));
        }
        current = parent;
    }
    None
}

/// The process that started the agent's tree for a request from `pid` that carries an agent
/// marker: the parent of the topmost ancestor-or-self that carries one (the agent, which sets
/// its marker for its children), or that topmost process itself when its parent is init. `None`
/// when `pid` carries no marker. `SAFESHELL_CONTEXT=ai` does not count here: a person sets it
/// by hand, often in their own shell, whose parent is the terminal every approver runs in.
pub fn session_root(pid: u32, is_marker: &dyn Fn(&str) -> bool) -> Option<u32> {
    let marker = |pid: u32| {
        environ(pid)
            .iter()
            .any(|(k, _)| k != "SAFESHELL_CONTEXT" && is_marker(k))
    };
    if !marker(pid) {
        return None;
    }
    let mut top = pid;
    for _ in 0..256 {
        let Some((parent, _)) = context::parent_and_start(top) else {
            return Some(top);
        };
        if parent <= 1 {
            return Some(top);
        }
        if !marker(parent) {
            return Some(parent);
        }
        top = parent;
    }
    Some(top)
}
