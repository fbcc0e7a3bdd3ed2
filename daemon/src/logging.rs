//! The daemon's log: lines on stderr (the daemon log file when started by `safeshell daemon start`)
//! that never end the daemon.
//!
//! `eprintln!` panics when the write fails (stderr on a full disk, a closed pipe), and a panic
//! outside a request handler ends the daemon. Here a failed write is counted instead; `status`,
//! `doctor` and the monitor report the count, and logging resumes by itself once writes succeed.

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static LOST: AtomicU64 = AtomicU64::new(0);
static FAILING: AtomicBool = AtomicBool::new(false);
static LAST_ERROR: Mutex<String> = Mutex::new(String::new());

/// Writes one line to stderr; a failure is counted, never raised.
pub fn line(args: std::fmt::Arguments<'_>) {
    if let Err(e) = write(args) {
        LOST.fetch_add(1, Ordering::Relaxed);
        FAILING.store(true, Ordering::Relaxed);
        *LAST_ERROR
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = e.to_string();
    }
}

/// Writes a line that is only worth writing if it gets through (it says the log works again):
/// a failure is not counted as a lost line.
pub fn probe(args: std::fmt::Arguments<'_>) {
    let _ = write(args);
}

fn write(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    // One `write` for the whole line: lines from concurrent tasks do not interleave.
    let text = format!("{args}\n");
    std::io::stderr().lock().write_all(text.as_bytes())?;
    FAILING.store(false, Ordering::Relaxed);
    Ok(())
}

/// Writes a line to the daemon's log (stderr) without ever failing or panicking.
macro_rules! dlog {
    ($($arg:tt)*) => {
        $crate::logging::line(format_args!($($arg)*))
    };
}
pub(crate) use dlog;

/// The log's state: `Some((lines lost so far, the last error))` while the last write failed.
pub fn failure() -> Option<(u64, String)> {
    FAILING.load(Ordering::Relaxed).then(|| {
        (
            LOST.load(Ordering::Relaxed),
            LAST_ERROR
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    })
}

/// Lines that could not be written since the daemon started.
pub fn lost() -> u64 {
    LOST.load(Ordering::Relaxed)
}
