//! Shared pieces of the performance tests: the skip switch, a per-thread counting allocator,
//! and baseline files with a 10 % allowance.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Set to `1` to skip every performance test.
pub const SKIP_ENV: &str = "SAFESHELL_SKIP_PERF_TESTS";
/// Set to `1` to rewrite the baselines with the measured values instead of checking them.
pub const UPDATE_ENV: &str = "SAFESHELL_UPDATE_PERF_BASELINE";
/// How much a figure may grow over its baseline, in percent.
pub const ALLOWANCE_PCT: f64 = 10.0;

/// Whether `test` should be skipped (and says so).
pub fn skip(test: &str) -> bool {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped ({SKIP_ENV}=1)");
        return true;
    }
    false
}

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|c| c.set(c.get() + bytes as u64));
}

/// The system allocator, counting allocations (including reallocations) per thread, so that
/// tests running in parallel do not see each other's.
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations (and reallocations) made by this thread while `f` ran, and their bytes.
pub fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    let (a0, b0) = (ALLOCS.with(Cell::get), BYTES.with(Cell::get));
    let r = f();
    let (a1, b1) = (ALLOCS.with(Cell::get), BYTES.with(Cell::get));
    (r, a1 - a0, b1 - b0)
}

fn baseline_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/performance")
        .join(file)
}

/// Checks measured figures against the baseline file: each may be at most [`ALLOWANCE_PCT`]
/// above its baseline. With [`UPDATE_ENV`]`=1` the file is rewritten instead.
pub fn check_baseline(file: &str, what: &str, measured: &[(String, u64)]) {
    let path = baseline_path(file);
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        let map: BTreeMap<&str, u64> = measured.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let text = serde_json::to_string_pretty(&map).unwrap();
        std::fs::write(&path, text + "\n").unwrap();
        eprintln!("updated {}", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with {UPDATE_ENV}=1 cargo test -p xtask --test performance",
            path.display()
        )
    });
    let baseline: BTreeMap<String, u64> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a name → number map: {e}", path.display()));
    let mut failures = Vec::new();
    for (name, value) in measured {
        let Some(&base) = baseline.get(name) else {
            failures.push(format!(
                "{name}: {value} {what}, but no baseline (refresh with {UPDATE_ENV}=1)"
            ));
            continue;
        };
        let limit = base as f64 * (1.0 + ALLOWANCE_PCT / 100.0);
        let change = (*value as f64 - base as f64) / base.max(1) as f64 * 100.0;
        eprintln!("{name}: {value} {what} (baseline {base}, {change:+.1} %, limit {limit:.0})");
        if *value as f64 > limit {
            failures.push(format!(
                "{name}: {value} {what}, baseline {base} ({change:+.1} %, more than {ALLOWANCE_PCT} % above)"
            ));
        } else if change < -ALLOWANCE_PCT {
            eprintln!(
                "  {name} improved by more than {ALLOWANCE_PCT} %: refresh the baseline ({UPDATE_ENV}=1) to keep the gain"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "performance regression against {}:\n  {}\nIf the change is intended, refresh the baseline with \
         {UPDATE_ENV}=1 cargo test -p xtask --test performance and commit it.",
        path.display(),
        failures.join("\n  ")
    );
}
