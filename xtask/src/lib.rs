//! SafeShell's development tasks as a library: the `cargo xtask` binary (`main.rs`) declares the
//! command line, and the performance regression tests (`tests/performance`) reuse the daemon
//! harness and statistics from here.
//!
//! One task per module: [`bench`], [`baseline`], [`size`], [`flamegraph`], [`ci`], [`dist`];
//! shared pieces:
//! [`divan_parse`] (divan's text output), [`process_bench`] (whole-process figures),
//! [`harness`] (a real daemon in a temporary home), [`report`] (the JSON file), [`stats`],
//! [`workspace`] (paths, `cargo metadata`, echoing commands).

pub mod baseline;
pub mod bench;
pub mod ci;
pub mod dist;
pub mod divan_parse;
pub mod flamegraph;
pub mod harness;
pub mod process_bench;
pub mod report;
pub mod size;
pub mod stats;
pub mod workspace;
