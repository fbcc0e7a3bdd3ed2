//! Performance regression tests that stay reliable on a noisy, shared machine: they measure
//! allocation counts (exact), instruction counts under callgrind (deterministic for a given
//! binary) and a ratio of two timings taken in the same run, never an absolute time.
//!
//! Baselines live beside this file (`baseline-*.json`); a figure may grow by at most 10 %.
//! After an intended change, refresh them with `SAFESHELL_UPDATE_PERF_BASELINE=1 cargo test -p
//! xtask --test performance` and commit the files. Skip every test with
//! `SAFESHELL_SKIP_PERF_TESTS=1`. How each test was shown to fail when its path gets slower is in
//! docs/performance/REGRESSION_TESTS.md.

// The counting global allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]

mod allocations;
mod instructions;
mod shim_ratio;
mod support;

#[global_allocator]
static ALLOC: support::CountingAlloc = support::CountingAlloc;
