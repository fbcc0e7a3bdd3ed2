//! `cargo xtask size-check`: builds the binaries SafeShell ships (as `cargo xtask dist` does)
//! and checks each against its budget in `xtask/size-budget.toml`; fails on a breach.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::dist::{self, Linkage};
use crate::report;
use crate::workspace::Workspace;

/// The budget file, relative to the workspace root.
pub const BUDGET_FILE: &str = "xtask/size-budget.toml";

/// The budget file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// One entry per binary.
    pub binary: Vec<Budget>,
}

/// One binary's budget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The binary's file name.
    pub name: String,
    /// The package that builds it.
    pub package: String,
    /// The largest acceptable size in bytes (1 MB = 1,000,000 bytes).
    pub max_bytes: u64,
    /// Where the number comes from.
    #[serde(default)]
    pub why: String,
}

/// Reads and validates a budget file.
pub fn read_budgets(path: &Path) -> Result<Budgets> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let b: Budgets = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid budget file", path.display()))?;
    if b.binary.is_empty() {
        bail!("{} lists no binaries", path.display());
    }
    Ok(b)
}

/// One checked binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The binary.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its budget in bytes.
    pub max: u64,
    /// How it is linked.
    pub linkage: Linkage,
}

impl Checked {
    /// Whether it is over budget.
    pub fn breached(&self) -> bool {
        self.size > self.max
    }
}

/// Builds, measures and prints the table; fails when a binary is over its budget.
pub fn run(ws: &Workspace) -> Result<Vec<Checked>> {
    let budgets = read_budgets(&ws.root.join(BUDGET_FILE))?;
    dist::build(ws)?;
    let dir = ws.target.join(dist::PROFILE);
    let mut checked = Vec::new();
    for b in &budgets.binary {
        let path = dir.join(&b.name);
        let size = std::fs::metadata(&path)
            .with_context(|| format!("cannot read the size of {}", path.display()))?
            .len();
        checked.push(Checked {
            name: b.name.clone(),
            size,
            max: b.max_bytes,
            linkage: dist::linkage_of(&path)?,
        });
    }
    print_table(&checked);
    let over: Vec<&Checked> = checked.iter().filter(|c| c.breached()).collect();
    if !over.is_empty() {
        bail!(
            "over budget: {} (budgets in {BUDGET_FILE})",
            over.iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("every binary is within its budget ({BUDGET_FILE})");
    Ok(checked)
}

fn print_table(checked: &[Checked]) {
    println!(
        "\n{:<16}  {:>8}  {:>10}  {:>10}  {:>6}",
        "binary", "linked", "size", "budget", "used"
    );
    for c in checked {
        println!(
            "{:<16}  {:>8}  {:>10}  {:>10}  {:>5.1}%{}",
            c.name,
            c.linkage.as_str(),
            report::format_value(c.size as f64, "bytes"),
            report::format_value(c.max as f64, "bytes"),
            c.size as f64 / c.max as f64 * 100.0,
            if c.breached() { "  OVER BUDGET" } else { "" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace;

    #[test]
    fn the_committed_budget_file_parses_and_covers_both_binaries() {
        let b = read_budgets(&workspace::manifest_root().join(BUDGET_FILE)).unwrap();
        let names: Vec<&str> = b.binary.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["safeshell", "safeshell-shim"]);
        let main = &b.binary[0];
        assert!(
            main.max_bytes <= 10_000_000,
            "safeshell must stay under 10 MB"
        );
        assert!(b.binary[1].max_bytes < main.max_bytes);
    }

    #[test]
    fn breaches() {
        let c = |size| Checked {
            name: "x".into(),
            size,
            max: 100,
            linkage: Linkage::Static,
        };
        assert!(!c(100).breached());
        assert!(c(101).breached());
    }
}
