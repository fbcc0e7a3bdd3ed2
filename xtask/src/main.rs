//! `cargo xtask`: SafeShell's development tasks (benchmarks, baselines, size checks, CI).

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        None | Some("help" | "--help" | "-h") => {
            println!("cargo xtask <task>\n\ntasks are added by the performance issue");
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown task `{other}`; run `cargo xtask --help`"),
    }
}
