//! The audit log: one JSON line per decision, appended with a single write, rotated by size.
//!
//! Each record is written with one `write` call on a file opened with `O_APPEND`, so a crash
//! leaves at most a torn last line, which [`read_records`] skips.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The audit log file name in the state directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// Appends records and rotates the file past a size limit.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl AuditLog {
    /// Opens (creating, mode 0600) the audit log in `dir`.
    pub fn open(dir: &Path, max_bytes: u64, keep: u32) -> std::io::Result<AuditLog> {
        let path = dir.join(AUDIT_FILE);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(AuditLog {
            path,
            file,
            size,
            max_bytes,
            keep,
        })
    }

    /// Appends one record as a JSON line.
    pub fn append(&mut self, record: &Value) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
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
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn rotated(path: &Path, n: u32) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_rotates_and_tolerates_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), 200, 2).unwrap();
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
}
