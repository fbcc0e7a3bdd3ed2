//! The audit log: one JSON line per decision, appended with a single write, rotated by size.
//!
//! Each record is written with one `write` call on a file opened with `O_APPEND`, so a crash
//! leaves at most a torn last line, which [`read_records`] skips. Before each write the path is
//! checked (one `stat`) to still name the open file: a log deleted, renamed or replaced under
//! the daemon is reopened rather than written into the void. Failures are returned, never fatal:
//! the daemon reports them and goes on deciding.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The audit log file name in the state directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// Appends records and rotates the file past a size limit.
pub struct AuditLog {
    path: PathBuf,
    /// The open file and its (device, inode); `None` after a failed open (retried on each write).
    file: Option<(File, (u64, u64))>,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

/// Why the log was reopened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopened {
    /// The path no longer existed (deleted or renamed away).
    Deleted,
    /// The path names another file now.
    Replaced,
    /// An earlier open had failed.
    Recovered,
}

impl Reopened {
    /// In words, for the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Reopened::Deleted => "was deleted or moved away",
            Reopened::Replaced => "was replaced by another file",
            Reopened::Recovered => "could not be opened before",
        }
    }
}

impl AuditLog {
    /// Opens (creating, mode 0600) the audit log in `dir`. A failure to open is returned beside
    /// the log, which retries at each write.
    pub fn open(dir: &Path, max_bytes: u64, keep: u32) -> (AuditLog, Option<std::io::Error>) {
        let mut log = AuditLog {
            path: dir.join(AUDIT_FILE),
            file: None,
            size: 0,
            max_bytes,
            keep,
        };
        let error = log.reopen().err();
        (log, error)
    }

    /// Changes the rotation limits (a reloaded config).
    pub fn set_limits(&mut self, max_bytes: u64, keep: u32) {
        self.max_bytes = max_bytes;
        self.keep = keep;
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        self.file = None;
        let file = open_append(&self.path)?;
        let meta = file.metadata()?;
        self.size = meta.len();
        self.file = Some((file, (meta.dev(), meta.ino())));
        Ok(())
    }

    /// Reopens the log if its path no longer names the open file (or an earlier open failed);
    /// says why when it did.
    pub fn check(&mut self) -> std::io::Result<Option<Reopened>> {
        let why = match (&self.file, std::fs::metadata(&self.path)) {
            (None, _) => Reopened::Recovered,
            (Some(_), Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Reopened::Deleted,
            (Some((_, id)), Ok(m)) if (m.dev(), m.ino()) != *id => Reopened::Replaced,
            _ => return Ok(None),
        };
        self.reopen()?;
        Ok(Some(why))
    }

    /// Appends one record as a JSON line; says whether the file had to be reopened first.
    pub fn append(&mut self, record: &Value) -> std::io::Result<Option<Reopened>> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let reopened = self.check()?;
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            // A failed rotation must not lose the record: it goes to the file still open.
            if let Err(e) = self.rotate() {
                if self.file.is_none() {
                    return Err(e);
                }
                crate::logging::dlog!(
                    "safeshell daemon: cannot rotate the audit log {}: {e}",
                    self.path.display()
                );
            }
        }
        let (file, _) = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other(format!("{} is not open", self.path.display())))?;
        file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(reopened)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        for i in (1..self.keep).rev() {
            let from = rotated(&self.path, i);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, i + 1))?;
            }
        }
        if self.keep > 0 {
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.reopen()
    }
}

/// The name of the `n`th rotated log beside `path` (`audit.jsonl.1` is the newest).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Reads the records of an audit log, skipping a torn or corrupt line instead of failing.
pub fn read_records(path: &Path) -> std::io::Result<Vec<Value>> {
    let text = std::fs::read(path)?;
    Ok(text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect())
}

/// The last `wanted` records of an audit log and its rotated predecessors (`audit.jsonl.1`,
/// `.2`, …), oldest first; older files are read only while more records are wanted. An error
/// only when neither the log nor any rotated file exists.
pub fn read_recent(path: &Path, wanted: usize) -> std::io::Result<Vec<Value>> {
    let mut newest_first: Vec<Vec<Value>> = Vec::new();
    let mut count = 0;
    let mut first_error = None;
    for n in 0.. {
        let file = if n == 0 {
            path.to_path_buf()
        } else {
            rotated(path, n)
        };
        match read_records(&file) {
            Ok(records) => {
                count += records.len();
                newest_first.push(records);
            }
            // The current log may be missing (deleted, not yet reopened) while rotated ones exist.
            Err(e) if n == 0 => first_error = Some(e),
            Err(_) => break,
        }
        if count >= wanted {
            break;
        }
    }
    if newest_first.is_empty()
        && let Some(e) = first_error
    {
        return Err(e);
    }
    let all: Vec<Value> = newest_first.into_iter().rev().flatten().collect();
    let skip = all.len().saturating_sub(wanted);
    Ok(all.into_iter().skip(skip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_rotates_and_tolerates_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, error) = AuditLog::open(dir.path(), 200, 2);
        assert!(error.is_none());
        for i in 0..10 {
            log.append(&json!({ "i": i, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }))
                .unwrap();
        }
        let current = read_records(&dir.path().join(AUDIT_FILE)).unwrap();
        assert!(!current.is_empty());
        assert_eq!(current.last().unwrap()["i"], 9);
        assert!(dir.path().join("audit.jsonl.1").exists());
        assert!(dir.path().join("audit.jsonl.2").exists());
        assert!(!dir.path().join("audit.jsonl.3").exists());
        // A crash mid-write leaves a torn last line: it is skipped, the rest is read.
        OpenOptions::new()
            .append(true)
            .open(dir.path().join(AUDIT_FILE))
            .unwrap()
            .write_all(b"{\"i\": 10, \"pad\"")
            .unwrap();
        let again = read_records(&dir.path().join(AUDIT_FILE)).unwrap();
        assert_eq!(again.len(), current.len());
    }

    #[test]
    fn a_deleted_or_replaced_log_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let (mut log, _) = AuditLog::open(dir.path(), 1 << 20, 2);
        assert_eq!(log.append(&json!({"i": 1})).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            log.append(&json!({"i": 2})).unwrap(),
            Some(Reopened::Deleted)
        );
        assert_eq!(read_records(&path).unwrap(), [json!({"i": 2})]);
        std::fs::rename(&path, dir.path().join("elsewhere")).unwrap();
        std::fs::write(&path, "").unwrap();
        assert_eq!(
            log.append(&json!({"i": 3})).unwrap(),
            Some(Reopened::Replaced)
        );
        assert_eq!(read_records(&path).unwrap(), [json!({"i": 3})]);
        assert_eq!(log.append(&json!({"i": 4})).unwrap(), None);
    }

    #[test]
    fn a_log_that_cannot_be_opened_fails_each_write_until_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        std::fs::create_dir(&path).unwrap();
        let (mut log, error) = AuditLog::open(dir.path(), 1 << 20, 2);
        assert!(error.is_some());
        assert!(log.append(&json!({"i": 1})).is_err());
        std::fs::remove_dir(&path).unwrap();
        assert_eq!(
            log.append(&json!({"i": 2})).unwrap(),
            Some(Reopened::Recovered)
        );
        assert_eq!(read_records(&path).unwrap(), [json!({"i": 2})]);
    }

    #[test]
    fn recent_records_span_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let (mut log, _) = AuditLog::open(dir.path(), 100, 3);
        for i in 0..12 {
            log.append(&json!({ "i": i, "pad": "xxxxxxxxxxxxxxxxxxxx" }))
                .unwrap();
        }
        assert!(rotated(&path, 2).exists());
        let all = read_recent(&path, 1000).unwrap();
        let numbers: Vec<i64> = all.iter().map(|r| r["i"].as_i64().unwrap()).collect();
        // Rotation dropped the oldest beyond `keep`; what is left is in order and ends at 11.
        assert!(numbers.windows(2).all(|w| w[0] + 1 == w[1]), "{numbers:?}");
        assert_eq!(numbers.last(), Some(&11));
        assert!(numbers.len() > read_records(&path).unwrap().len());
        let last3: Vec<i64> = read_recent(&path, 3)
            .unwrap()
            .iter()
            .map(|r| r["i"].as_i64().unwrap())
            .collect();
        assert_eq!(last3, [9, 10, 11]);
        // The current file gone, the rotated ones still answer.
        std::fs::remove_file(&path).unwrap();
        assert!(!read_recent(&path, 1000).unwrap().is_empty());
        assert!(read_recent(&dir.path().join("none.jsonl"), 10).is_err());
    }
}
