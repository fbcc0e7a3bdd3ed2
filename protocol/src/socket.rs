//! Where the daemon's Unix socket lives.
//!
//! In order of precedence:
//!
//! 1. `$SAFESHELL_SOCKET`, if set and non-empty, taken as is;
//! 2. `$XDG_RUNTIME_DIR/safeshell/daemon.sock`, if `XDG_RUNTIME_DIR` is set,
//!    non-empty and absolute (the XDG spec says to ignore a relative one);
//! 3. `$HOME/.safeshell/daemon.sock`, if `HOME` is set and non-empty.
//!
//! If none applies there is no socket path, and callers should say so rather
//! than guess.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that overrides the socket path outright.
pub const SOCKET_ENV: &str = "SAFESHELL_SOCKET";

/// The file name of the socket inside its directory.
pub const SOCKET_FILE_NAME: &str = "daemon.sock";

/// Resolves the socket path from the process environment; see the
/// [module docs](self) for the rules.
#[must_use]
pub fn socket_path() -> Option<PathBuf> {
    socket_path_from(|name| std::env::var_os(name))
}

/// Resolves the socket path using `env` to look up environment variables; see
/// the [module docs](self) for the rules.
///
/// Taking the lookup as a function lets callers and tests resolve the path for
/// an environment other than the current process's.
pub fn socket_path_from(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let non_empty = |name: &str| env(name).filter(|value| !value.is_empty());

    if let Some(path) = non_empty(SOCKET_ENV) {
        return Some(PathBuf::from(path));
    }
    if let Some(dir) = non_empty("XDG_RUNTIME_DIR").filter(|dir| Path::new(dir).is_absolute()) {
        return Some(PathBuf::from(dir).join("safeshell").join(SOCKET_FILE_NAME));
    }
    non_empty("HOME").map(|home| {
        PathBuf::from(home)
            .join(".safeshell")
            .join(SOCKET_FILE_NAME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment lookup backed by a fixed list of variables.
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    const ALL: &[(&str, &str)] = &[
        ("SAFESHELL_SOCKET", "/custom/s.sock"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("HOME", "/home/ada"),
    ];

    #[test]
    fn explicit_socket_wins() {
        assert_eq!(
            socket_path_from(env(ALL)),
            Some(PathBuf::from("/custom/s.sock"))
        );
    }

    #[test]
    fn explicit_socket_may_be_relative() {
        let vars = [("SAFESHELL_SOCKET", "rel.sock"), ("HOME", "/home/ada")];
        assert_eq!(
            socket_path_from(env(&vars)),
            Some(PathBuf::from("rel.sock"))
        );
    }

    #[test]
    fn empty_explicit_socket_is_ignored() {
        let vars = [
            ("SAFESHELL_SOCKET", ""),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ];
        assert_eq!(
            socket_path_from(env(&vars)),
            Some(PathBuf::from("/run/user/1000/safeshell/daemon.sock"))
        );
    }

    #[test]
    fn xdg_runtime_dir_beats_home() {
        assert_eq!(
            socket_path_from(env(&ALL[1..])),
            Some(PathBuf::from("/run/user/1000/safeshell/daemon.sock"))
        );
    }

    #[test]
    fn empty_or_relative_xdg_runtime_dir_falls_back_to_home() {
        for xdg in ["", "run/user/1000"] {
            let vars = [("XDG_RUNTIME_DIR", xdg), ("HOME", "/home/ada")];
            assert_eq!(
                socket_path_from(env(&vars)),
                Some(PathBuf::from("/home/ada/.safeshell/daemon.sock")),
                "XDG_RUNTIME_DIR={xdg:?}"
            );
        }
    }

    #[test]
    fn home_alone() {
        assert_eq!(
            socket_path_from(env(&[("HOME", "/home/ada")])),
            Some(PathBuf::from("/home/ada/.safeshell/daemon.sock"))
        );
    }

    #[test]
    fn nothing_usable_means_no_path() {
        assert_eq!(socket_path_from(env(&[])), None);
        let vars = [
            ("SAFESHELL_SOCKET", ""),
            ("XDG_RUNTIME_DIR", "relative"),
            ("HOME", ""),
        ];
        assert_eq!(socket_path_from(env(&vars)), None);
    }

    #[test]
    fn process_environment_lookup_does_not_panic() {
        let _ = socket_path();
    }
}
