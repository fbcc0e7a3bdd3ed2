//! SafeShell's own resources as the rules see them: the `@safeshell` and `@safeshell-policy`
//! path sets (wherever this installation keeps its state, socket and binaries) and the daemon's
//! pid, which commands run by agents may not signal.

use std::path::Path;
use std::sync::OnceLock;

use crate::paths;

/// What the rules protect of SafeShell itself.
#[derive(Debug, Default)]
pub struct Own {
    /// `@safeshell`: the state directory, the socket (when it lives elsewhere), the binaries.
    pub files: Vec<String>,
    /// `@safeshell-policy`: rules, config and the trust list.
    pub policy: Vec<String>,
    /// The daemon's pid, when this process is the daemon.
    pub pids: Vec<u32>,
}

static OWN: OnceLock<Own> = OnceLock::new();

impl Own {
    fn new(state: &Path, socket: Option<&Path>, daemon_pid: Option<u32>) -> Own {
        let text = |p: &Path| p.display().to_string();
        let mut files = vec![text(state)];
        if let Some(socket) = socket.filter(|s| !s.starts_with(state)) {
            files.push(text(socket));
        }
        if let Ok(exe) = std::env::current_exe() {
            for name in ["safeshell", "safeshell-shim"] {
                files.push(text(&exe.with_file_name(name)));
            }
        }
        let policy = [paths::RULES_FILE, "config.toml", crate::trust::TRUST_FILE]
            .iter()
            .map(|f| text(&state.join(f)))
            .collect();
        Own {
            files,
            policy,
            pids: daemon_pid.into_iter().collect(),
        }
    }

    /// The path set a rule names as `@NAME`, if this module supplies it.
    pub fn path_set(&self, name: &str) -> Option<&[String]> {
        match name {
            "safeshell" => Some(&self.files),
            "safeshell-policy" => Some(&self.policy),
            _ => None,
        }
    }
}

/// Records the daemon's own resources once, at start.
pub fn init_daemon(state: &Path, socket: &Path) {
    let _ = OWN.set(Own::new(state, Some(socket), Some(std::process::id())));
}

/// SafeShell's resources: the daemon's, or for other commands (`safeshell check`) the state
/// directory's defaults, with the daemon's pid from its pid file when it runs.
pub fn get() -> &'static Own {
    OWN.get_or_init(|| {
        let Some(state) = paths::safeshell_home() else {
            return Own::default();
        };
        let pid = std::fs::read_to_string(state.join("daemon.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok());
        let socket = safeshell_protocol::socket_path();
        Own::new(&state, socket.as_deref(), pid)
    })
}
