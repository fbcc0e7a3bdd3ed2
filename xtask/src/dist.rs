//! `cargo xtask dist`: builds the binaries SafeShell ships, the way it ships them, and optionally
//! installs them.
//!
//! `safeshell` is built with the `stripped-release` profile. `safeshell-shim` is built with the
//! same profile and, on Linux with glibc, linked statically (a static PIE, so address-space
//! randomisation is kept): it starts on every intercepted command, and without a dynamic loader
//! to map and relocate libc and libgcc_s it starts about a quarter of a millisecond sooner (see
//! docs/performance/CHARACTERISTICS.md). Only the shim's final link gets the flag (through
//! `cargo rustc`), so dependencies, build scripts and proc macros build as usual. Where a static
//! link is impossible (no `libc.a`), the shim is linked dynamically and the reason is printed.
//!
//! `size-check` and `bench` use this build, so the sizes and times they report are those of what
//! ships.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::process_bench::Binaries;
use crate::workspace::{self, Workspace};

/// The cargo profile of what ships.
pub const PROFILE: &str = "stripped-release";

/// How a binary is linked, read from its ELF program headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// No program interpreter: nothing is loaded before `main`.
    Static,
    /// Has a program interpreter (`ld-linux…`), which loads shared libraries first.
    Dynamic,
    /// Not a 64-bit little-endian ELF file (another platform's format).
    Unknown,
}

impl Linkage {
    /// `static` or `dynamic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Linkage::Static => "static",
            Linkage::Dynamic => "dynamic",
            Linkage::Unknown => "unknown",
        }
    }
}

/// The linkage of a 64-bit little-endian ELF file (`PT_INTERP` present or not);
/// [`Linkage::Unknown`] for other formats. A truncated ELF file is an error.
pub fn linkage(bytes: &[u8]) -> Result<Linkage> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) || bytes.get(4..6) != Some([2, 1].as_slice()) {
        return Ok(Linkage::Unknown);
    }
    let u16_at = |at: usize| -> Result<u16> {
        let b = bytes.get(at..at + 2).context("truncated ELF header")?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| -> Result<u64> {
        let b = bytes.get(at..at + 8).context("truncated ELF header")?;
        Ok(u64::from_le_bytes(b.try_into().expect("eight bytes")))
    };
    let phoff = usize::try_from(u64_at(0x20)?)?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let b = bytes
            .get(at..at + 4)
            .context("truncated ELF program headers")?;
        if u32::from_le_bytes(b.try_into().expect("four bytes")) == PT_INTERP {
            return Ok(Linkage::Dynamic);
        }
    }
    Ok(Linkage::Static)
}

/// The linkage of the file at `path`.
pub fn linkage_of(path: &Path) -> Result<Linkage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    linkage(&bytes).with_context(|| format!("{} is not a binary this can read", path.display()))
}

/// Whether this host can link the shim statically (Linux with glibc; the xtask runs on the host
/// it builds for).
pub const STATIC_SHIM: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Whether the C toolchain can link glibc statically: `cc -print-file-name=libc.a` names an
/// existing file (it echoes the bare name when it has none).
pub fn static_libc_available(sh: &xshell::Shell) -> bool {
    workspace::cmd(sh, "cc")
        .arg("-print-file-name=libc.a")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|p| {
            let p = Path::new(p.trim());
            p.is_absolute() && p.is_file()
        })
}

/// Builds both shipped binaries into `target/stripped-release/` and returns their paths.
pub fn build(ws: &Workspace) -> Result<Binaries> {
    let sh = ws.shell()?;
    workspace::run(workspace::cmd(&sh, &workspace::cargo()).args([
        "build",
        "--profile",
        PROFILE,
        "-p",
        "safeshell",
    ]))?;
    let shim = [
        "--profile",
        PROFILE,
        "-p",
        "safeshell-shim",
        "--bin",
        "safeshell-shim",
    ];
    let built_static = STATIC_SHIM && static_libc_available(&sh);
    if STATIC_SHIM && !built_static {
        eprintln!(
            "warning: glibc's static library (libc.a) is missing, so the shim is linked \
             dynamically. A static shim starts about 0.25 ms faster on every command: install it \
             (Debian/Ubuntu: `apt-get install libc6-dev`; Fedora: `dnf install glibc-static`) and \
             run this again."
        );
    }
    let mut shim_build = workspace::cmd(&sh, &workspace::cargo())
        .arg("rustc")
        .args(shim);
    if built_static {
        shim_build = shim_build.args(["--", "-C", "target-feature=+crt-static"]);
    }
    workspace::run(shim_build)?;
    let dir = ws.target.join(PROFILE);
    let bins = Binaries {
        safeshell: dir.join("safeshell"),
        shim: dir.join("safeshell-shim"),
    };
    workspace::require_file(&bins.safeshell, "the build did not produce it")?;
    workspace::require_file(&bins.shim, "the build did not produce it")?;
    let shim_linkage = linkage_of(&bins.shim)?;
    if built_static && shim_linkage != Linkage::Static {
        bail!(
            "{} was built with +crt-static but has a program interpreter",
            bins.shim.display()
        );
    }
    eprintln!(
        "built {} and {} ({} shim)",
        bins.safeshell.display(),
        bins.shim.display(),
        shim_linkage.as_str()
    );
    Ok(bins)
}

/// Shell completions and the man page, generated by the built `safeshell` from its own CLI
/// definition: (file, the arguments that print it), written under `share/` beside the binaries
/// in the layout of an installation prefix.
const GENERATED: &[(&str, &[&str])] = &[
    (
        "bash-completion/completions/safeshell",
        &["completions", "bash"],
    ),
    ("zsh/site-functions/_safeshell", &["completions", "zsh"]),
    (
        "fish/vendor_completions.d/safeshell.fish",
        &["completions", "fish"],
    ),
    ("man/man1/safeshell.1", &["man"]),
];

/// Writes the completions and the man page for `safeshell` into `share` (created).
fn generate(safeshell: &Path, share: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (file, args) in GENERATED {
        let out = std::process::Command::new(safeshell)
            .args(*args)
            .output()
            .with_context(|| format!("cannot run {}", safeshell.display()))?;
        if !out.status.success() || out.stdout.is_empty() {
            bail!(
                "`safeshell {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let path = share.join(file);
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
        std::fs::write(&path, &out.stdout)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `cargo xtask dist [--install DIR]`: the binaries, their completions and man page, and with
/// `--install` all of them copied into DIR (binaries) and DIR/../share (the rest).
pub fn run(ws: &Workspace, install: Option<PathBuf>) -> Result<()> {
    let bins = build(ws)?;
    let share = bins
        .safeshell
        .parent()
        .context("the binary has no directory")?
        .join("share");
    for path in generate(&bins.safeshell, &share)? {
        println!("generated {}", path.display());
    }
    let Some(dir) = install else {
        println!(
            "{}\n{}\ninstall them with `cargo xtask dist --install ~/.local/bin` (or copy both into \
             one directory on PATH: the shim starts the daemon from its side); completions and the \
             man page go to the prefix's share/ (~/.local/share for ~/.local/bin)",
            bins.safeshell.display(),
            bins.shim.display()
        );
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for from in [&bins.safeshell, &bins.shim] {
        let name = from.file_name().context("a binary without a file name")?;
        let to = dir.join(name);
        // Copy beside the target, then rename over it: a running shim or daemon keeps its old
        // file, and nothing ever sees a half-written binary.
        let partial = dir.join(format!(".{}.partial", name.to_string_lossy()));
        std::fs::copy(from, &partial)
            .with_context(|| format!("cannot copy {} to {}", from.display(), partial.display()))?;
        std::fs::rename(&partial, &to)
            .with_context(|| format!("cannot move {} to {}", partial.display(), to.display()))?;
        println!("installed {}", to.display());
    }
    // Completions and the man page into the prefix's share/ (~/.local/bin → ~/.local/share).
    let prefix_share = dir
        .parent()
        .map(|p| p.join("share"))
        .context("the install directory has no parent for share/")?;
    for (file, _) in GENERATED {
        let (from, to) = (share.join(file), prefix_share.join(file));
        std::fs::create_dir_all(to.parent().expect("a file in a directory"))?;
        std::fs::copy(&from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        println!("installed {}", to.display());
    }
    println!(
        "next: `safeshell init` (config, rules and shims in ~/.safeshell), then \
         `safeshell doctor`; a running daemon keeps its old binary until \
         `safeshell daemon restart`"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with one program header of type `p_type`.
    fn elf(p_type: u32) -> Vec<u8> {
        let mut b = vec![0u8; 0x40 + 0x38];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little-endian
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes()); // e_phoff
        b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes()); // e_phentsize
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[0x40..0x44].copy_from_slice(&p_type.to_le_bytes());
        b
    }

    #[test]
    fn a_program_interpreter_means_dynamic() {
        assert_eq!(linkage(&elf(3)).unwrap(), Linkage::Dynamic);
        assert_eq!(linkage(&elf(1)).unwrap(), Linkage::Static);
    }

    #[test]
    fn this_test_binary_is_read_as_what_it_is() {
        // Test binaries are linked dynamically on glibc hosts.
        let me = std::env::current_exe().unwrap();
        let found = linkage_of(&me).unwrap();
        if STATIC_SHIM {
            assert_eq!(found, Linkage::Dynamic);
        }
    }

    #[test]
    fn other_formats_are_unknown_and_a_truncated_elf_is_an_error() {
        assert_eq!(linkage(b"#!/bin/sh\n").unwrap(), Linkage::Unknown);
        let mut elf32 = elf(3);
        elf32[4] = 1;
        assert_eq!(linkage(&elf32).unwrap(), Linkage::Unknown);
        let mut truncated = elf(3);
        truncated.truncate(0x42);
        assert!(linkage(&truncated).is_err());
    }
}
