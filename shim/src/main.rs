//! `safeshell-shim`: the PATH shim, `SHELL` wrapper and agent-hook client (built in the interception issue).

fn main() {
    eprintln!("safeshell-shim: interception is not built yet; see `safeshell check --help`");
    std::process::exit(64);
}
