//! The shim must stay light: no async runtime and no regex engine may reach its dependency tree,
//! and its normal dependencies are limited to an allow-list (checked with `cargo tree`).

use std::process::Command;

/// Crates the shim may link (directly or through the protocol crate).
const ALLOWED: &[&str] = &[
    "safeshell-shim",
    "safeshell-protocol",
    "serde",
    "serde_core",
    "serde_derive",
    "postcard",
    "cobs",
    "thiserror",
    "thiserror-impl",
    "proc-macro2",
    "quote",
    "syn",
    "unicode-ident",
    "heapless",
    "hash32",
    "byteorder",
    "stable_deref_trait",
    "embedded-io",
    // JSON for agent hook payloads.
    "serde_json",
    "itoa",
    "ryu",
    "zmij",
    "memchr",
];

#[test]
fn shim_dependency_tree_is_minimal() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "safeshell-shim",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"safeshell-protocol"),
        "unexpected cargo tree output:\n{tree}"
    );
    for forbidden in ["tokio", "regex", "regex-automata", "mio", "futures"] {
        assert!(
            !crates.contains(&forbidden),
            "the shim must not depend on {forbidden}:\n{tree}"
        );
    }
    let unexpected: Vec<&&str> = crates.iter().filter(|c| !ALLOWED.contains(c)).collect();
    assert!(
        unexpected.is_empty(),
        "new dependencies of the shim (review, then extend ALLOWED): {unexpected:?}\n{tree}"
    );
}
