//! Compiled rule sets per repository, kept warm and swapped atomically when files change.
//!
//! The base set is the built-in rules plus the global file; each repository file gets a set of
//! its own on top of that. A file that fails to compile is reported and the last good version of
//! it keeps serving (or, for a file that never compiled, the set without it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use safeshell_rules::{RuleSet, Source, SourceKind};

use crate::paths;

/// How long a working directory's repository-file look-up is trusted before walking up again.
pub const REPO_LOOKUP_TTL: Duration = Duration::from_secs(2);

/// Size and modification time, to notice a changed file.
type Stamp = Option<(u64, SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// A rule-file problem found while (re)loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub file: String,
    /// Every error, one per line.
    pub message: String,
}

struct FileState {
    stamp: Stamp,
    /// The last text that compiled, if any.
    good: Option<Source>,
    error: Option<String>,
    /// Rules loaded but not obeyed (an untrusted repository file's `allow` and `redirect`).
    notices: Vec<String>,
}

struct Inner {
    global_path: Option<PathBuf>,
    global: FileState,
    repos: HashMap<PathBuf, FileState>,
    /// The trust list's stamp: trusting or revoking a file reloads every repository file.
    trust_stamp: Stamp,
}

/// The daemon's rule sets.
pub struct RulesCache {
    inner: Mutex<Inner>,
    base: RwLock<Arc<RuleSet>>,
    per_repo: RwLock<HashMap<PathBuf, Arc<RuleSet>>>,
    lookups: Mutex<HashMap<PathBuf, (Option<PathBuf>, Instant)>>,
    /// Bumped whenever a rule set is compiled (a reload, a repository seen for the first time),
    /// so the shims can follow the rules.
    generation: std::sync::atomic::AtomicU64,
}

/// Locks a mutex, recovering it if a panicking request poisoned it (the daemon must go on).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RulesCache {
    /// Loads the built-in rules and the global file (if it exists and compiles).
    pub fn load(global_path: Option<PathBuf>) -> (RulesCache, Vec<FileError>) {
        let mut errors = Vec::new();
        let mut global = FileState {
            stamp: None,
            good: None,
            error: None,
            notices: Vec::new(),
        };
        let mut validated = None;
        if let Some(path) = &global_path {
            global.stamp = stamp(path);
            if global.stamp.is_some() {
                match paths::read_source(SourceKind::Global, path) {
                    Ok(src) => match RuleSet::load(&[Source::builtin(), src.clone()]) {
                        Ok(set) => {
                            global.good = Some(src);
                            validated = Some(set);
                        }
                        Err(e) => global.error = Some(e.to_string()),
                    },
                    Err(e) => global.error = Some(format!("{e:#}")),
                }
                if let Some(message) = &global.error {
                    errors.push(FileError {
                        file: path.display().to_string(),
                        message: message.clone(),
                    });
                }
            }
        }
        // The set validated above is the base; compile only when there was none.
        let base = validated.unwrap_or_else(|| compile(&global, None));
        let cache = RulesCache {
            inner: Mutex::new(Inner {
                global_path,
                global,
                repos: HashMap::new(),
                trust_stamp: crate::trust::trust_file().and_then(|p| stamp(&p)),
            }),
            base: RwLock::new(Arc::new(base)),
            per_repo: RwLock::new(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(1),
        };
        (cache, errors)
    }

    /// The rule set for a command run in `cwd`.
    pub fn for_cwd(&self, cwd: &Path) -> Arc<RuleSet> {
        let Some(repo_file) = self.repo_file(cwd) else {
            return self
                .base
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
        };
        if let Some(set) = self
            .per_repo
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&repo_file)
        {
            return set.clone();
        }
        // First sight of this repository file: compile it now.
        let mut inner = lock(&self.inner);
        let (state, validated) = load_repo_state(&repo_file, &inner.global);
        let set = Arc::new(validated.unwrap_or_else(|| compile(&inner.global, None)));
        inner.repos.insert(repo_file.clone(), state);
        drop(inner);
        self.per_repo
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(repo_file, set.clone());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        set
    }

    /// Every rule set in use: the base and one per repository seen.
    pub fn all_sets(&self) -> Vec<Arc<RuleSet>> {
        let mut sets = vec![
            self.base
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        ];
        sets.extend(
            self.per_repo
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
                .cloned(),
        );
        sets
    }

    /// Changes whenever a rule set is compiled.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn repo_file(&self, cwd: &Path) -> Option<PathBuf> {
        let now = Instant::now();
        if let Some((hit, at)) = lock(&self.lookups).get(cwd)
            && now.duration_since(*at) < REPO_LOOKUP_TTL
        {
            return hit.clone();
        }
        let found = paths::repo_rules_path(cwd);
        let mut lookups = lock(&self.lookups);
        if lookups.len() > 4096 {
            lookups.clear();
        }
        lookups.insert(cwd.to_owned(), (found.clone(), now));
        found
    }

    /// Re-reads files whose size or modification time changed; returns what changed.
    pub fn refresh(&self) -> Refresh {
        let mut out = Refresh::default();
        let mut inner = lock(&self.inner);
        let Inner {
            global_path,
            global,
            repos,
            trust_stamp,
        } = &mut *inner;
        let trust_now = crate::trust::trust_file().and_then(|p| stamp(&p));
        let trust_changed = trust_now != *trust_stamp;
        *trust_stamp = trust_now;
        let mut global_changed = false;
        if let Some(path) = global_path.clone() {
            let now = stamp(&path);
            if now != global.stamp {
                global.stamp = now;
                global_changed = true;
                if now.is_none() {
                    global.good = None;
                    global.error = None;
                } else {
                    match paths::read_source(SourceKind::Global, &path) {
                        Ok(src) => match RuleSet::load(&[Source::builtin(), src.clone()]) {
                            Ok(_) => {
                                global.good = Some(src);
                                global.error = None;
                            }
                            Err(e) => global.error = Some(e.to_string()),
                        },
                        Err(e) => global.error = Some(format!("{e:#}")),
                    }
                }
                match &global.error {
                    Some(message) => out.errors.push(FileError {
                        file: path.display().to_string(),
                        message: message.clone(),
                    }),
                    None => out.reloaded.push(path.display().to_string()),
                }
            }
        }
        let mut changed_repos = Vec::new();
        for (path, state) in repos.iter_mut() {
            if stamp(path) != state.stamp || global_changed || trust_changed {
                let (fresh, _) = load_repo_state(path, global);
                let file_changed = fresh.stamp != state.stamp || trust_changed;
                state.notices = fresh.notices;
                state.stamp = fresh.stamp;
                if fresh.good.is_some() || fresh.stamp.is_none() {
                    state.good = fresh.good;
                }
                state.error = fresh.error;
                if file_changed {
                    match &state.error {
                        Some(message) => out.errors.push(FileError {
                            file: path.display().to_string(),
                            message: message.clone(),
                        }),
                        None => out.reloaded.push(path.display().to_string()),
                    }
                }
                changed_repos.push(path.clone());
            }
        }
        if global_changed || !changed_repos.is_empty() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if global_changed {
            let base = Arc::new(compile(global, None));
            *self
                .base
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = base;
        }
        if !changed_repos.is_empty() {
            let mut per_repo = self
                .per_repo
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for path in changed_repos {
                let good = repos.get(&path).and_then(|s| s.good.as_ref());
                per_repo.insert(path, Arc::new(compile(global, good)));
            }
        }
        out
    }

    /// The files behind the base set, and current errors.
    pub fn describe(&self) -> (Vec<String>, Vec<String>, u32) {
        let inner = lock(&self.inner);
        let mut files = vec!["<builtin>".to_owned()];
        if let Some(g) = &inner.global.good {
            files.push(g.name.clone());
        }
        files.extend(
            inner
                .repos
                .iter()
                .filter(|(_, s)| s.good.is_some())
                .map(|(p, _)| p.display().to_string()),
        );
        let mut errors: Vec<String> = inner.global.error.iter().cloned().collect();
        errors.extend(inner.repos.values().filter_map(|s| s.error.clone()));
        errors.extend(inner.repos.values().flat_map(|s| s.notices.iter().cloned()));
        let count = self
            .base
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .active_count() as u32;
        (files, errors, count)
    }
}

/// What a refresh found.
#[derive(Debug, Default)]
pub struct Refresh {
    /// Files reloaded successfully.
    pub reloaded: Vec<String>,
    /// Files that now have errors (their last good version keeps serving).
    pub errors: Vec<FileError>,
}

/// Reads and compiles a repository file on top of the global one; the compiled set comes back
/// too when it is good, so it need not be compiled twice.
fn load_repo_state(path: &Path, global: &FileState) -> (FileState, Option<RuleSet>) {
    let mut state = FileState {
        stamp: stamp(path),
        good: None,
        error: None,
        notices: Vec::new(),
    };
    let mut validated = None;
    if state.stamp.is_none() {
        return (state, None);
    }
    match paths::read_source(SourceKind::Repo, path) {
        Ok(src) => {
            let mut sources = vec![Source::builtin()];
            sources.extend(global.good.clone());
            sources.push(src.clone());
            match RuleSet::load(&sources) {
                Ok(set) => {
                    state.notices = set.notices().iter().map(|n| format!("note: {n}")).collect();
                    state.good = Some(src);
                    validated = Some(set);
                }
                Err(e) => state.error = Some(e.to_string()),
            }
        }
        Err(e) => state.error = Some(format!("{e:#}")),
    }
    (state, validated)
}

fn compile(global: &FileState, repo: Option<&Source>) -> RuleSet {
    let mut sources = vec![Source::builtin()];
    sources.extend(global.good.clone());
    sources.extend(repo.cloned());
    // Each source compiled on its own with the ones beneath it before being kept as good, so this
    // cannot fail; fall back to the built-in rules if it somehow does.
    RuleSet::load(&sources)
        .or_else(|_| RuleSet::load(&sources[..sources.len() - usize::from(repo.is_some())]))
        .unwrap_or_else(|_| RuleSet::builtin())
}
