//! Everything the monitor knows and every way it changes: connection state, the daemon's status,
//! pending approvals, the live log, and the person's keys and clicks.
//!
//! Nothing here draws or touches the network. [`State::apply`] takes what the connection layer
//! reports, [`State::handle_event`] takes terminal input and answers with an [`Effect`] when a
//! decision must go to the daemon. The current time is set from outside ([`State::set_now`]), so
//! the same state always renders the same screen and tests can control the clock.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};

use jiff::tz::TimeZone;
use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};
use safeshell_protocol::{
    ApprovalOutcome, ApprovalResolution, ApprovalVerdict, ContextHint, DecisionEvent,
    Event as DaemonEvent, EventKind, PendingApproval, StatusReport, Surface, Why,
};

use crate::conn::ConnEvent;
use crate::layout::{self, Button};
use crate::log::{EntryKind, Filter, LogCursor, LogEntry, LogStore, NoteLevel, Outcome};
use crate::text::{first_line, sanitize, sanitized_box};

/// How far back decisions count towards the decisions-per-second figure.
pub const RATE_WINDOW_MS: u64 = 5_000;
/// How long an approval stays listed after its deadline when its end was never reported.
const EXPIRED_GRACE_MS: u64 = 5_000;
/// Approval histories kept for the detail view.
const APPROVAL_HISTORY: usize = 1024;
/// The longest denial reason the person can type.
const MAX_REASON: usize = 1000;

/// Where the connection to the daemon stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Trying to connect; `error` is why the previous attempt failed, if one did.
    Connecting {
        /// Failed attempts in a row before this one.
        attempt: u32,
        /// Why the last attempt failed.
        error: Option<String>,
    },
    /// Connected and subscribed.
    Connected,
    /// Not connected; the next attempt is at `retry_at_ms`.
    Disconnected {
        /// Why.
        error: String,
        /// When the next attempt starts, in milliseconds since the Unix epoch.
        retry_at_ms: u64,
    },
}

/// Which pane the arrow keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The pending approvals.
    Pending,
    /// The live log.
    Log,
}

/// What a detail view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailTarget {
    /// A log entry, by id.
    Log(u64),
    /// A pending approval, by approval id.
    Approval(u64),
}

/// What the keyboard is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Keys are commands.
    Normal,
    /// The help overlay is open.
    Help,
    /// Typing the log's text filter; every key is text.
    FilterInput,
    /// Typing a reason to deny an approval with; every key (digits too) is text.
    Reason {
        /// The approval the reason is for.
        approval_id: u64,
        /// What has been typed.
        text: String,
    },
    /// A session-wide decision waits for `y`.
    Confirm {
        /// The approval the decision is for.
        approval_id: u64,
        /// The decision ([`ApprovalVerdict::ApproveSession`] or
        /// [`ApprovalVerdict::DenySession`]).
        verdict: ApprovalVerdict,
    },
    /// A detail view is open.
    Detail {
        /// What it shows.
        target: DetailTarget,
        /// How many lines it is scrolled down.
        scroll: u16,
    },
}

/// A short message in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// How it is coloured.
    pub level: NoteLevel,
    /// The message.
    pub text: String,
    /// When it goes away, in milliseconds since the Unix epoch.
    pub until_ms: u64,
}

/// An approval waiting for a person, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The approval, with every string sanitized for display.
    pub info: PendingApproval,
    /// The byte range of the triggering segment inside `info.command`, when it occurs there.
    pub highlight: Option<(usize, usize)>,
    /// The decision sent for it, while the daemon's answer is awaited.
    pub sent: Option<ApprovalVerdict>,
}

impl Pending {
    fn new(info: &PendingApproval) -> Self {
        let info = sanitize_pending(info);
        let highlight = info.segment.as_deref().and_then(|seg| {
            if seg.is_empty() || seg == info.command {
                return None;
            }
            info.command
                .find(seg)
                .map(|start| (start, start + seg.len()))
        });
        Self {
            info,
            highlight,
            sent: None,
        }
    }

    /// Whether the segment must be shown on a line of its own, because it does not occur
    /// verbatim in the command (the daemon normalises segments, e.g. `r''m` → `rm`).
    #[must_use]
    pub fn segment_line(&self) -> bool {
        self.highlight.is_none()
            && self
                .info
                .segment
                .as_deref()
                .is_some_and(|s| !s.is_empty() && s != self.info.command)
    }
}

fn sanitize_pending(p: &PendingApproval) -> PendingApproval {
    let s = |t: &str| sanitize(t).into_owned();
    PendingApproval {
        approval_id: p.approval_id,
        command: s(&p.command),
        segment: p.segment.as_deref().map(s),
        rule: p.rule.as_deref().map(s),
        reason: s(&p.reason),
        cwd: s(&p.cwd),
        client_pid: p.client_pid,
        program: s(&p.program),
        agent: p.agent.as_deref().map(s),
        surface: match &p.surface {
            Surface::AgentHook { agent } => Surface::AgentHook { agent: s(agent) },
            other => other.clone(),
        },
        context: p.context,
        created_ms: p.created_ms,
        deadline_ms: p.deadline_ms,
        session_allowed: p.session_allowed,
        session_scope: s(&p.session_scope),
        why: p.why.as_ref().map(sanitize_why),
    }
}

/// A rule's explanation with anything a terminal would act on removed.
pub(crate) fn sanitize_why(w: &Why) -> Why {
    let s = |t: &str| sanitize(t).into_owned();
    Why {
        origin: s(&w.origin),
        segment: w.segment.as_deref().map(s),
        matched: w.matched.iter().map(|m| s(m)).collect(),
        suggest: w.suggest.as_deref().map(s),
    }
}

/// What is known about one approval, for the detail view's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// When it was requested (event time) and what was asked, sanitized.
    pub requested: Option<(u64, PendingApproval)>,
    /// When and how it ended.
    pub resolved: Option<(u64, ApprovalOutcome)>,
}

/// Something the monitor must do outside the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this decision to the daemon.
    Resolve(ApprovalResolution),
    /// Leave the monitor.
    Quit,
}

/// The result of handling one input event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handled {
    /// Whether the screen may have changed.
    pub redraw: bool,
    /// What must happen outside the state, if anything.
    pub effect: Option<Effect>,
}

impl Handled {
    fn redraw() -> Self {
        Self {
            redraw: true,
            effect: None,
        }
    }

    fn effect(effect: Option<Effect>) -> Self {
        Self {
            redraw: true,
            effect,
        }
    }
}

/// A recently settled approval whose final decision event has not arrived yet, so that decision
/// can be linked to it (decision events do not carry approval ids).
#[derive(Debug, Clone)]
struct Awaiting {
    instance: u32,
    approval_id: u64,
    pid: u32,
    command: String,
}

/// The monitor's whole state.
#[derive(Debug, Clone)]
pub struct State {
    /// The current time, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The time zone times are shown in.
    pub tz: TimeZone,
    /// The terminal's size, for page sizes and mouse hit-testing.
    pub area: Rect,
    /// The connection.
    pub link: Link,
    /// The daemon's release version.
    pub daemon_version: Option<String>,
    /// The daemon's last status report and when it arrived.
    pub status: Option<(StatusReport, u64)>,
    /// The last rule file error reported as an event: time, file and message.
    pub rule_error_event: Option<(u64, String, String)>,
    /// Which daemon instance events come from (counted from 0; changes when the daemon restarts).
    pub instance: u32,
    daemon_pid: Option<u32>,
    last_seq: Option<(u64, u64)>,
    was_connected: bool,
    /// Approvals waiting, oldest first.
    pub pending: Vec<Pending>,
    /// The selected approval's id.
    pub selected_approval: Option<u64>,
    approvals: BTreeMap<(u32, u64), ApprovalRecord>,
    awaiting: VecDeque<Awaiting>,
    /// The live log.
    pub log: LogStore,
    /// Where the log view is.
    pub cursor: LogCursor,
    recent_decisions: VecDeque<u64>,
    /// Which pane has the keyboard.
    pub focus: Focus,
    /// What the keyboard is doing.
    pub mode: Mode,
    /// The footer message, if any.
    pub flash: Option<Flash>,
    /// Set when the person asked to quit.
    pub quit: bool,
}

impl State {
    /// An empty state keeping `log_capacity` log entries, showing times in the system's zone.
    #[must_use]
    pub fn new(log_capacity: usize) -> Self {
        Self {
            now_ms: 0,
            tz: TimeZone::try_system().unwrap_or(TimeZone::UTC),
            area: Rect::new(0, 0, 80, 24),
            link: Link::Connecting {
                attempt: 0,
                error: None,
            },
            daemon_version: None,
            status: None,
            rule_error_event: None,
            instance: 0,
            daemon_pid: None,
            last_seq: None,
            was_connected: false,
            pending: Vec::new(),
            selected_approval: None,
            approvals: BTreeMap::new(),
            awaiting: VecDeque::new(),
            log: LogStore::new(log_capacity),
            cursor: LogCursor::default(),
            recent_decisions: VecDeque::new(),
            focus: Focus::Log,
            mode: Mode::Normal,
            flash: None,
            quit: false,
        }
    }

    /// Sets the current time and forgets what it made stale (old rate samples, approvals long
    /// past their deadline, an expired message).
    pub fn set_now(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        let horizon = now_ms.saturating_sub(RATE_WINDOW_MS);
        while self.recent_decisions.front().is_some_and(|&t| t < horizon) {
            self.recent_decisions.pop_front();
        }
        if self.flash.as_ref().is_some_and(|f| f.until_ms <= now_ms) {
            self.flash = None;
        }
        let before = self.pending.len();
        self.pending
            .retain(|p| p.info.deadline_ms.saturating_add(EXPIRED_GRACE_MS) > now_ms);
        if self.pending.len() != before {
            self.after_pending_change(None);
        }
    }

    /// Sets the terminal size.
    pub fn set_area(&mut self, area: Rect) {
        self.area = area;
    }

    /// Whether the connection is up.
    #[must_use]
    pub fn connected(&self) -> bool {
        self.link == Link::Connected
    }

    /// Decisions per second over the last [`RATE_WINDOW_MS`].
    #[must_use]
    pub fn decision_rate(&self) -> f64 {
        let horizon = self.now_ms.saturating_sub(RATE_WINDOW_MS);
        let n = self
            .recent_decisions
            .iter()
            .filter(|&&t| t >= horizon && t <= self.now_ms + 1000)
            .count();
        n as f64 * 1000.0 / RATE_WINDOW_MS as f64
    }

    /// The daemon's uptime now, extrapolated from the last status report.
    #[must_use]
    pub fn uptime_ms(&self) -> Option<u64> {
        self.status
            .as_ref()
            .map(|(s, at)| s.uptime_ms + self.now_ms.saturating_sub(*at))
    }

    /// The rule file errors to warn about: the daemon's current ones, and one reported by an
    /// event since the last status report.
    #[must_use]
    pub fn rule_errors(&self) -> Vec<String> {
        let mut errors: Vec<String> = self
            .status
            .as_ref()
            .map(|(s, _)| {
                s.rule_errors
                    .iter()
                    .map(|e| sanitize(e).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some((time, file, message)) = &self.rule_error_event {
            let newer = self.status.as_ref().is_none_or(|(_, at)| time > at);
            if newer {
                errors.push(format!("{}: {}", sanitize(file), sanitize(message)));
            }
        }
        errors
    }

    /// The warning lines under the header: connection trouble and rule file errors.
    #[must_use]
    pub fn banners(&self) -> Vec<(NoteLevel, String)> {
        let mut out = Vec::new();
        match &self.link {
            Link::Connected => {}
            Link::Connecting { error: None, .. } => {
                out.push((NoteLevel::Warning, "connecting to the daemon…".to_owned()));
            }
            Link::Connecting {
                error: Some(error), ..
            } => out.push((
                NoteLevel::Error,
                format!("disconnected — reconnecting now… ({})", first_line(error)),
            )),
            Link::Disconnected { error, retry_at_ms } => {
                let secs = retry_at_ms.saturating_sub(self.now_ms).div_ceil(1000);
                out.push((
                    NoteLevel::Error,
                    format!(
                        "disconnected — reconnecting in {secs}s ({})",
                        first_line(error)
                    ),
                ));
            }
        }
        if let Some((s, _)) = &self.status {
            for p in &s.problems {
                out.push((
                    NoteLevel::Error,
                    format!(
                        "⚠ daemon {} problem: {}; decisions go on",
                        p.kind.as_str(),
                        first_line(&sanitize(&p.message))
                    ),
                ));
            }
        }
        let errors = self.rule_errors();
        if let Some(first) = errors.first() {
            let more = if errors.len() > 1 {
                format!(" (+{} more)", errors.len() - 1)
            } else {
                String::new()
            };
            out.push((
                NoteLevel::Error,
                format!(
                    "⚠ rule file error: {}{more}; the last good rules keep serving",
                    first_line(first)
                ),
            ));
        }
        out
    }

    /// The index of the selected approval in [`State::pending`].
    #[must_use]
    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected_approval?;
        self.pending.iter().position(|p| p.info.approval_id == id)
    }

    /// The selected approval.
    #[must_use]
    pub fn selected_pending(&self) -> Option<&Pending> {
        self.selected_index().map(|i| &self.pending[i])
    }

    /// A pending approval by id.
    #[must_use]
    pub fn pending_by_id(&self, approval_id: u64) -> Option<&Pending> {
        self.pending
            .iter()
            .find(|p| p.info.approval_id == approval_id)
    }

    /// What is known about an approval of a daemon instance.
    #[must_use]
    pub fn approval_record(&self, instance: u32, approval_id: u64) -> Option<&ApprovalRecord> {
        self.approvals.get(&(instance, approval_id))
    }

    /// The rows the log pane has now.
    #[must_use]
    pub fn log_page(&self) -> usize {
        usize::from(layout::compute(self, self.area).log_rows.height).max(1)
    }

    /// The text of the confirmation asked for before a session-wide decision, if one is open.
    #[must_use]
    pub fn confirmation(&self) -> Option<String> {
        let Mode::Confirm {
            approval_id,
            verdict,
        } = &self.mode
        else {
            return None;
        };
        let p = self.pending_by_id(*approval_id)?;
        let scope = if p.info.session_scope.is_empty() {
            format!(
                "the same command (`{}`), in {}, for this agent session",
                p.info.command, p.info.cwd
            )
        } else {
            p.info.session_scope.clone()
        };
        let what = match verdict {
            ApprovalVerdict::DenySession => "Deny",
            _ => "Approve",
        };
        Some(format!(
            "{what} #{approval_id} for the session: {scope}. Press y to confirm, any other key to cancel."
        ))
    }

    /// A fingerprint of everything on screen that changes with the clock alone (countdowns,
    /// the reconnect timer, the rate, the uptime's minutes, an expiring message): the screen
    /// needs redrawing only when it changes.
    #[must_use]
    pub fn clock_signature(&self) -> u64 {
        let mut h = DefaultHasher::new();
        for p in &self.pending {
            p.info
                .deadline_ms
                .saturating_sub(self.now_ms)
                .div_ceil(1000)
                .hash(&mut h);
        }
        if let Link::Disconnected { retry_at_ms, .. } = &self.link {
            retry_at_ms
                .saturating_sub(self.now_ms)
                .div_ceil(1000)
                .hash(&mut h);
        }
        let horizon = self.now_ms.saturating_sub(RATE_WINDOW_MS);
        self.recent_decisions
            .iter()
            .filter(|&&t| t >= horizon)
            .count()
            .hash(&mut h);
        self.uptime_ms().map(|u| u / 60_000).hash(&mut h);
        self.flash.is_some().hash(&mut h);
        h.finish()
    }

    /// Milliseconds until the clock alone may change the screen (at most one second).
    #[must_use]
    pub fn next_tick_ms(&self) -> u64 {
        let mut next = 1000 - self.now_ms % 1000;
        for p in &self.pending {
            let left = p.info.deadline_ms.saturating_sub(self.now_ms);
            if left > 0 {
                next = next.min((left - 1) % 1000 + 1);
            }
        }
        if let Some(f) = &self.flash {
            next = next.min(f.until_ms.saturating_sub(self.now_ms).max(1));
        }
        next.max(1)
    }

    fn flash(&mut self, level: NoteLevel, text: impl Into<String>) {
        let ttl = match level {
            NoteLevel::Info => 5_000,
            NoteLevel::Warning => 8_000,
            NoteLevel::Error => 15_000,
        };
        self.flash = Some(Flash {
            level,
            text: text.into(),
            until_ms: self.now_ms + ttl,
        });
    }

    fn note(&mut self, level: NoteLevel, text: &str) {
        let entry = LogEntry::note(level, self.now_ms, self.instance, text);
        self.log.push(entry);
    }

    // ---------------------------------------------------------------- connection events

    /// Takes in what the connection layer reported. Returns whether the screen may have changed.
    pub fn apply(&mut self, event: ConnEvent) -> bool {
        match event {
            ConnEvent::Connecting { attempt } => {
                let error = match &self.link {
                    Link::Disconnected { error, .. } => Some(error.clone()),
                    Link::Connecting { error, .. } => error.clone(),
                    Link::Connected => None,
                };
                self.link = Link::Connecting { attempt, error };
            }
            ConnEvent::Connected {
                daemon_version,
                status,
                pending,
            } => self.connected_to(daemon_version, status, &pending),
            ConnEvent::Event(event) => return self.ingest(event),
            ConnEvent::Status(status) => {
                let changed = self.status.as_ref().is_none_or(|(old, _)| {
                    old.rule_count != status.rule_count
                        || old.rule_errors != status.rule_errors
                        || old.problems != status.problems
                        || old.version != status.version
                        || old.uptime_ms / 60_000 != status.uptime_ms / 60_000
                });
                self.status = Some((status, self.now_ms));
                return changed;
            }
            ConnEvent::Resolved {
                approval_id,
                accepted,
                message,
            } => {
                if !accepted
                    && let Some(p) = self
                        .pending
                        .iter_mut()
                        .find(|p| p.info.approval_id == approval_id)
                {
                    p.sent = None;
                }
                let message = sanitize(&message).into_owned();
                if accepted {
                    let text = if message.contains(&format!("#{approval_id}")) {
                        message
                    } else {
                        format!("#{approval_id}: {message}")
                    };
                    self.flash(NoteLevel::Info, text);
                } else {
                    self.flash(
                        NoteLevel::Error,
                        format!("decision for #{approval_id} not accepted: {message}"),
                    );
                    self.note(
                        NoteLevel::Error,
                        &format!("decision for approval #{approval_id} not accepted: {message}"),
                    );
                }
            }
            ConnEvent::Disconnected { error, retry_in } => {
                if self.was_connected {
                    self.note(
                        NoteLevel::Error,
                        &format!("disconnected from the daemon: {error}"),
                    );
                    self.was_connected = false;
                }
                for p in &mut self.pending {
                    p.sent = None;
                }
                self.link = Link::Disconnected {
                    error,
                    retry_at_ms: self
                        .now_ms
                        .saturating_add(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX)),
                };
            }
        }
        true
    }

    fn connected_to(&mut self, version: String, status: StatusReport, pending: &[PendingApproval]) {
        if self.daemon_pid.is_some_and(|pid| pid != status.pid) {
            self.new_instance(&format!(
                "connected to a new daemon (pid {}); it restarted, so earlier approvals are gone",
                status.pid
            ));
        } else if self.daemon_pid.is_some() {
            self.note(
                NoteLevel::Info,
                &format!("reconnected to the daemon (pid {})", status.pid),
            );
        }
        self.daemon_pid = Some(status.pid);
        self.daemon_version = Some(sanitize(&version).into_owned());
        self.status = Some((status, self.now_ms));
        self.link = Link::Connected;
        self.was_connected = true;
        // The daemon's list is the truth about what waits now.
        self.pending = pending.iter().map(Pending::new).collect();
        self.pending
            .sort_by_key(|p| (p.info.created_ms, p.info.approval_id));
        let had_none = self.selected_approval.is_none();
        for p in pending {
            self.approvals
                .entry((self.instance, p.approval_id))
                .or_insert_with(|| ApprovalRecord {
                    requested: Some((p.created_ms, sanitize_pending(p))),
                    resolved: None,
                });
        }
        self.after_pending_change(None);
        if had_none {
            self.focus_new_approvals();
        }
    }

    /// The daemon restarted: sequence numbers and approval ids start again. (The approvals
    /// waiting are replaced by the new daemon's list when it connects.)
    fn new_instance(&mut self, why: &str) {
        self.instance += 1;
        self.last_seq = None;
        self.awaiting.clear();
        self.note(NoteLevel::Warning, why);
    }

    /// Takes in one daemon event; duplicates from a replay are skipped.
    fn ingest(&mut self, event: DaemonEvent) -> bool {
        if let Some((last_seq, last_time)) = self.last_seq {
            if event.seq <= last_seq {
                if event.time_ms > last_time {
                    // Numbers went backwards but time went forwards: a new daemon instance
                    // (with the same pid, or the restart was missed).
                    self.new_instance(
                        "the daemon's event numbers restarted: a new daemon instance",
                    );
                } else {
                    return false;
                }
            } else if event.seq > last_seq + 1 {
                let missed = event.seq - last_seq - 1;
                self.note(
                    NoteLevel::Warning,
                    &format!(
                        "{missed} events were missed (numbers {}–{}): disconnected for a while, \
                         or this monitor fell behind",
                        last_seq + 1,
                        event.seq - 1
                    ),
                );
            }
        }
        self.last_seq = Some((event.seq, event.time_ms));
        let (seq, time_ms) = (event.seq, event.time_ms);
        match event.kind {
            EventKind::Decision(d) => self.ingest_decision(seq, time_ms, &d),
            EventKind::ApprovalPending(p) => self.ingest_pending(seq, time_ms, &p),
            EventKind::ApprovalResolved {
                approval_id,
                outcome,
            } => self.ingest_resolved(seq, time_ms, approval_id, outcome),
            EventKind::RulesReloaded { rule_count, files } => {
                if let Some((s, _)) = &mut self.status {
                    s.rule_count = rule_count;
                }
                let mut e = LogEntry::note(
                    NoteLevel::Info,
                    time_ms,
                    self.instance,
                    &format!(
                        "rules reloaded: {rule_count} rules from {}",
                        files.join(", ")
                    ),
                );
                e.seq = seq;
                self.log.push(e);
            }
            EventKind::RulesError { file, message } => {
                let mut e = LogEntry::note(
                    NoteLevel::Error,
                    time_ms,
                    self.instance,
                    &format!("rule file error in {file}: {}", first_line(&message)),
                );
                e.seq = seq;
                e.rule = Some(sanitized_box(&file));
                e.reason = sanitized_box(&message);
                self.log.push(e);
                self.rule_error_event = Some((time_ms, file, message));
            }
            EventKind::Problem(problem) => {
                let mut e = LogEntry::note(
                    NoteLevel::Error,
                    time_ms,
                    self.instance,
                    &format!(
                        "daemon problem ({}): {}",
                        problem.kind.as_str(),
                        first_line(&problem.message)
                    ),
                );
                e.seq = seq;
                e.reason = sanitized_box(&problem.message);
                self.log.push(e);
            }
            EventKind::ProblemSolved { kind, message } => {
                let mut e = LogEntry::note(
                    NoteLevel::Info,
                    time_ms,
                    self.instance,
                    &format!("solved ({}): {}", kind.as_str(), first_line(&message)),
                );
                e.seq = seq;
                self.log.push(e);
            }
            EventKind::Dropped { count } => {
                let mut e = LogEntry::note(
                    NoteLevel::Warning,
                    time_ms,
                    self.instance,
                    &format!("the daemon dropped {count} events for this monitor (it fell behind)"),
                );
                e.seq = seq;
                self.log.push(e);
            }
        }
        true
    }

    fn ingest_decision(&mut self, seq: u64, time_ms: u64, d: &DecisionEvent) {
        let command = sanitized_box(&d.command);
        let approval_id = self
            .awaiting
            .iter()
            .position(|a| {
                a.instance == self.instance && a.pid == d.client_pid && *a.command == *command
            })
            .and_then(|i| self.awaiting.remove(i))
            .map(|a| a.approval_id);
        self.log.push(LogEntry {
            seq,
            time_ms,
            instance: self.instance,
            pid: d.client_pid,
            latency_us: d.latency_us,
            kind: EntryKind::Decision(d.action),
            context: Some(d.context),
            approval_id,
            command,
            cwd: sanitized_box(&d.cwd),
            rule: d.rule.as_deref().map(sanitized_box),
            reason: sanitized_box(&d.reason),
            surface: Some(d.surface.clone()),
            contained: d.contained,
            why: d.why.as_ref().map(|w| Box::new(sanitize_why(w))),
        });
        if time_ms >= self.now_ms.saturating_sub(RATE_WINDOW_MS) {
            self.recent_decisions.push_back(time_ms);
        }
    }

    fn ingest_pending(&mut self, seq: u64, time_ms: u64, p: &PendingApproval) {
        let key = (self.instance, p.approval_id);
        let shown = Pending::new(p);
        let record = self.approvals.entry(key).or_insert(ApprovalRecord {
            requested: None,
            resolved: None,
        });
        record.requested = Some((time_ms, shown.info.clone()));
        let settled = record.resolved.is_some();
        while self.approvals.len() > APPROVAL_HISTORY {
            self.approvals.pop_first();
        }
        self.log.push(LogEntry {
            seq,
            time_ms,
            instance: self.instance,
            pid: p.client_pid,
            latency_us: 0,
            kind: EntryKind::Pending,
            context: Some(p.context),
            approval_id: Some(p.approval_id),
            command: shown.info.command.as_str().into(),
            cwd: shown.info.cwd.as_str().into(),
            rule: shown.info.rule.as_deref().map(Into::into),
            reason: shown.info.reason.as_str().into(),
            surface: Some(shown.info.surface.clone()),
            contained: false,
            why: None,
        });
        let live = p.deadline_ms.saturating_add(EXPIRED_GRACE_MS) > self.now_ms;
        if !settled && live && self.pending_by_id(p.approval_id).is_none() {
            let at = self.pending.partition_point(|q| {
                (q.info.created_ms, q.info.approval_id) < (p.created_ms, p.approval_id)
            });
            self.pending.insert(at, shown);
            self.after_pending_change(None);
            if self.pending.len() == 1 {
                self.focus_new_approvals();
            }
        }
    }

    fn ingest_resolved(
        &mut self,
        seq: u64,
        time_ms: u64,
        approval_id: u64,
        outcome: ApprovalOutcome,
    ) {
        let key = (self.instance, approval_id);
        let record = self.approvals.entry(key).or_insert(ApprovalRecord {
            requested: None,
            resolved: None,
        });
        record.resolved = Some((time_ms, outcome.clone()));
        let requested = record.requested.as_ref().map(|(_, p)| p.clone());
        let (kind, reason) = match &outcome {
            ApprovalOutcome::Approved { by_session: false } => (Outcome::ApprovedOnce, None),
            ApprovalOutcome::Approved { by_session: true } => (Outcome::ApprovedSession, None),
            ApprovalOutcome::Denied { reason } => (Outcome::Denied, reason.clone()),
            ApprovalOutcome::TimedOut => (Outcome::TimedOut, None),
            ApprovalOutcome::DaemonShutdown => (Outcome::DaemonShutdown, None),
        };
        if let Some(p) = &requested {
            self.awaiting.push_back(Awaiting {
                instance: self.instance,
                approval_id,
                pid: p.client_pid,
                command: p.command.clone(),
            });
            if self.awaiting.len() > 64 {
                self.awaiting.pop_front();
            }
        }
        self.log.push(LogEntry {
            seq,
            time_ms,
            instance: self.instance,
            pid: requested.as_ref().map_or(0, |p| p.client_pid),
            latency_us: 0,
            kind: EntryKind::Resolved(kind),
            context: requested.as_ref().map(|p| p.context),
            approval_id: Some(approval_id),
            command: requested.as_ref().map_or_else(
                || format!("approval #{approval_id}").into(),
                |p| p.command.as_str().into(),
            ),
            cwd: requested
                .as_ref()
                .map_or_else(|| "".into(), |p| p.cwd.as_str().into()),
            rule: requested
                .as_ref()
                .and_then(|p| p.rule.as_deref().map(Into::into)),
            reason: reason.as_deref().map_or_else(|| "".into(), sanitized_box),
            surface: requested.as_ref().map(|p| p.surface.clone()),
            contained: false,
            why: None,
        });
        if self.pending_by_id(approval_id).is_some() {
            let index = self
                .pending
                .iter()
                .position(|p| p.info.approval_id == approval_id);
            self.pending.retain(|p| p.info.approval_id != approval_id);
            // Someone (maybe another monitor) decided while this one was asking for more.
            let interrupted = match &self.mode {
                Mode::Confirm {
                    approval_id: id, ..
                }
                | Mode::Reason {
                    approval_id: id, ..
                } => *id == approval_id,
                Mode::Detail {
                    target: DetailTarget::Approval(id),
                    ..
                } => *id == approval_id,
                _ => false,
            };
            if interrupted {
                self.mode = Mode::Normal;
                self.flash(
                    NoteLevel::Warning,
                    format!(
                        "approval #{approval_id} was settled meanwhile ({}); nothing was sent",
                        kind.describe()
                    ),
                );
            }
            self.after_pending_change(index);
        }
    }

    /// Keeps the selection and focus sensible after approvals came or went. `removed_at` is the
    /// index the selected approval had if it was just removed.
    fn after_pending_change(&mut self, removed_at: Option<usize>) {
        if self.pending.is_empty() {
            self.selected_approval = None;
            if self.focus == Focus::Pending {
                self.focus = Focus::Log;
            }
            return;
        }
        if self.selected_index().is_none() {
            let i = removed_at.unwrap_or(0).min(self.pending.len() - 1);
            self.selected_approval = Some(self.pending[i].info.approval_id);
        }
    }

    /// Approvals appeared where there were none: bring the keyboard to them, unless the person
    /// is busy in the log.
    fn focus_new_approvals(&mut self) {
        if !self.pending.is_empty() && self.cursor.follow && self.mode == Mode::Normal {
            self.focus = Focus::Pending;
        }
    }

    // ---------------------------------------------------------------- input

    /// Handles one terminal event: a key, a click, a resize.
    pub fn handle_event(&mut self, event: &Event) -> Handled {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.handle_key(*key),
            Event::Mouse(mouse) => self.handle_mouse(*mouse),
            Event::Resize(w, h) => {
                self.set_area(Rect::new(0, 0, *w, *h));
                Handled::redraw()
            }
            Event::Paste(text) => {
                let clean: String = text.chars().filter(|c| !c.is_control()).collect();
                match &mut self.mode {
                    Mode::Reason { text, .. } => {
                        let room = MAX_REASON.saturating_sub(text.chars().count());
                        text.extend(clean.chars().take(room));
                        Handled::redraw()
                    }
                    Mode::FilterInput => {
                        let mut filter = self.log.filter().clone();
                        filter.set_text(&format!("{}{clean}", filter.text()));
                        self.log.set_filter(filter);
                        Handled::redraw()
                    }
                    _ => Handled::default(),
                }
            }
            _ => Handled::default(),
        }
    }

    fn handle_key(&mut self, key: KeyEvent) -> Handled {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Handled::effect(Some(Effect::Quit));
        }
        let effect = match self.mode.clone() {
            Mode::Reason { approval_id, text } => self.reason_key(key, approval_id, text),
            Mode::FilterInput => {
                self.filter_key(key);
                None
            }
            Mode::Confirm {
                approval_id,
                verdict,
            } => self.confirm_key(key, approval_id, verdict),
            Mode::Help => {
                if key.code == KeyCode::Char('q') {
                    self.quit = true;
                    Some(Effect::Quit)
                } else {
                    self.mode = Mode::Normal;
                    None
                }
            }
            Mode::Detail { target, scroll } => self.detail_key(key, target, scroll),
            Mode::Normal => self.normal_key(key),
        };
        Handled::effect(effect)
    }

    fn normal_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let page = self.log_page();
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Some(Effect::Quit);
            }
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Pending => Focus::Log,
                    Focus::Log => Focus::Pending,
                };
            }
            KeyCode::Char('1') => return self.decide(ApprovalVerdict::ApproveOnce),
            KeyCode::Char('2') => return self.decide(ApprovalVerdict::ApproveSession),
            KeyCode::Char('3') => return self.decide(ApprovalVerdict::Deny),
            KeyCode::Char('4') => return self.decide(ApprovalVerdict::DenySession),
            KeyCode::Char('r') => self.start_reason(),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1, page),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1, page),
            KeyCode::PageUp => self.page(-1, page),
            KeyCode::PageDown => self.page(1, page),
            KeyCode::Home => match self.focus {
                Focus::Log => self.cursor.home(&self.log, page),
                Focus::Pending => self.select_approval_at(0),
            },
            KeyCode::End => match self.focus {
                Focus::Log => self.cursor.end(),
                Focus::Pending => self.select_approval_at(usize::MAX),
            },
            KeyCode::Enter => self.open_detail(),
            KeyCode::Char('/') => {
                self.focus = Focus::Log;
                self.mode = Mode::FilterInput;
            }
            KeyCode::Char('d') => self.toggle(|f| f.denials = !f.denials),
            KeyCode::Char('a') => self.toggle(|f| f.approvals = !f.approvals),
            KeyCode::Char('i') => self.toggle(|f| {
                f.context = (f.context != Some(ContextHint::Ai)).then_some(ContextHint::Ai);
            }),
            KeyCode::Char('h') => self.toggle(|f| {
                f.context = (f.context != Some(ContextHint::Human)).then_some(ContextHint::Human);
            }),
            KeyCode::Esc => {
                if self.flash.is_some() {
                    self.flash = None;
                } else if self.log.filter().is_active() {
                    self.log.set_filter(Filter::default());
                }
            }
            _ => {}
        }
        None
    }

    fn toggle(&mut self, change: impl FnOnce(&mut Filter)) {
        let mut filter = self.log.filter().clone();
        change(&mut filter);
        self.log.set_filter(filter);
    }

    fn move_selection(&mut self, delta: isize, page: usize) {
        match self.focus {
            Focus::Log => self.cursor.move_by(&self.log, page, delta),
            Focus::Pending => {
                if let Some(i) = self.selected_index() {
                    self.select_approval_at(i.saturating_add_signed(delta));
                }
            }
        }
    }

    fn page(&mut self, direction: isize, page: usize) {
        match self.focus {
            Focus::Log => {
                let step = isize::try_from(page.saturating_sub(1).max(1)).unwrap_or(isize::MAX);
                self.cursor.move_by(&self.log, page, direction * step);
            }
            Focus::Pending => self.select_approval_at(if direction < 0 { 0 } else { usize::MAX }),
        }
    }

    fn select_approval_at(&mut self, index: usize) {
        if let Some(last) = self.pending.len().checked_sub(1) {
            self.selected_approval = Some(self.pending[index.min(last)].info.approval_id);
        }
    }

    fn open_detail(&mut self) {
        let target = match self.focus {
            Focus::Pending => self.selected_approval.map(DetailTarget::Approval),
            Focus::Log => self
                .cursor
                .selected_id(&self.log, self.log_page())
                .map(DetailTarget::Log),
        };
        if let Some(target) = target {
            self.mode = Mode::Detail { target, scroll: 0 };
        }
    }

    /// A decision key on the selected approval: once-only decisions go out at once, session-wide
    /// ones ask for confirmation first.
    fn decide(&mut self, verdict: ApprovalVerdict) -> Option<Effect> {
        let Some(p) = self.selected_pending() else {
            self.flash(NoteLevel::Warning, "no approval is waiting");
            return None;
        };
        let id = p.info.approval_id;
        let session = matches!(
            verdict,
            ApprovalVerdict::ApproveSession | ApprovalVerdict::DenySession
        );
        if session && !p.info.session_allowed {
            let rule = p.info.rule.clone().unwrap_or_else(|| "this rule".into());
            self.flash(
                NoteLevel::Warning,
                format!("{rule} allows one-time decisions only: use 1 or 3"),
            );
            return None;
        }
        if let Err(why) = self.can_send(id) {
            self.flash(NoteLevel::Error, why);
            return None;
        }
        if session {
            self.mode = Mode::Confirm {
                approval_id: id,
                verdict,
            };
            return None;
        }
        Some(self.send(id, verdict, None))
    }

    fn can_send(&self, approval_id: u64) -> Result<(), String> {
        let Some(p) = self.pending_by_id(approval_id) else {
            return Err(format!("approval #{approval_id} is no longer waiting"));
        };
        if !self.connected() {
            return Err("not connected to the daemon: the decision cannot be sent now".into());
        }
        if p.sent.is_some() {
            return Err(format!(
                "a decision for #{approval_id} was already sent; waiting for the daemon"
            ));
        }
        Ok(())
    }

    fn send(
        &mut self,
        approval_id: u64,
        verdict: ApprovalVerdict,
        reason: Option<String>,
    ) -> Effect {
        if let Some(p) = self
            .pending
            .iter_mut()
            .find(|p| p.info.approval_id == approval_id)
        {
            p.sent = Some(verdict);
        }
        self.flash(
            NoteLevel::Info,
            format!("sending: {} #{approval_id}…", verdict_words(verdict)),
        );
        Effect::Resolve(ApprovalResolution {
            approval_id,
            verdict,
            reason,
        })
    }

    fn start_reason(&mut self) {
        match self.selected_pending() {
            Some(p) if p.sent.is_none() => {
                self.mode = Mode::Reason {
                    approval_id: p.info.approval_id,
                    text: String::new(),
                };
            }
            Some(p) => {
                let id = p.info.approval_id;
                self.flash(
                    NoteLevel::Info,
                    format!("a decision for #{id} was already sent; waiting for the daemon"),
                );
            }
            None => self.flash(NoteLevel::Warning, "no approval is waiting"),
        }
    }

    fn reason_key(&mut self, key: KeyEvent, approval_id: u64, mut text: String) -> Option<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                self.flash(NoteLevel::Info, "cancelled: nothing was sent");
            }
            KeyCode::Enter => {
                if self.pending_by_id(approval_id).is_none() {
                    self.mode = Mode::Normal;
                    self.flash(
                        NoteLevel::Warning,
                        format!("approval #{approval_id} is no longer waiting"),
                    );
                    return None;
                }
                if let Err(why) = self.can_send(approval_id) {
                    // Keep what was typed; the person can try again once reconnected.
                    self.flash(NoteLevel::Error, why);
                    return None;
                }
                self.mode = Mode::Normal;
                let reason = text.trim();
                let reason = (!reason.is_empty()).then(|| reason.to_owned());
                return Some(self.send(approval_id, ApprovalVerdict::Deny, reason));
            }
            KeyCode::Backspace => {
                text.pop();
                self.mode = Mode::Reason { approval_id, text };
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.mode = Mode::Reason {
                    approval_id,
                    text: String::new(),
                };
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if text.chars().count() < MAX_REASON && !c.is_control() {
                    text.push(c);
                }
                self.mode = Mode::Reason { approval_id, text };
            }
            _ => {}
        }
        None
    }

    fn filter_key(&mut self, key: KeyEvent) {
        let mut filter = self.log.filter().clone();
        let mut text = filter.text().to_owned();
        match key.code {
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                return;
            }
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                text.clear();
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
            _ => return,
        }
        filter.set_text(&text);
        self.log.set_filter(filter);
    }

    fn confirm_key(
        &mut self,
        key: KeyEvent,
        approval_id: u64,
        verdict: ApprovalVerdict,
    ) -> Option<Effect> {
        self.mode = Mode::Normal;
        if matches!(key.code, KeyCode::Char('y' | 'Y')) {
            if let Err(why) = self.can_send(approval_id) {
                self.flash(NoteLevel::Error, why);
                return None;
            }
            return Some(self.send(approval_id, verdict, None));
        }
        self.flash(NoteLevel::Info, "cancelled: nothing was sent");
        None
    }

    fn detail_key(&mut self, key: KeyEvent, target: DetailTarget, scroll: u16) -> Option<Effect> {
        let scroll_to = |state: &mut Self, s: u16| state.mode = Mode::Detail { target, scroll: s };
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Some(Effect::Quit);
            }
            KeyCode::Esc | KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Up | KeyCode::Char('k') => scroll_to(self, scroll.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => scroll_to(self, scroll.saturating_add(1)),
            KeyCode::PageUp => scroll_to(self, scroll.saturating_sub(10)),
            KeyCode::PageDown => scroll_to(self, scroll.saturating_add(10)),
            KeyCode::Home => scroll_to(self, 0),
            KeyCode::Char(c @ ('1' | '2' | '3' | '4' | 'r')) => {
                if let DetailTarget::Approval(id) = target {
                    // Decisions in an approval's detail view act on that approval.
                    self.selected_approval = Some(id);
                    self.mode = Mode::Normal;
                    return match c {
                        '1' => self.decide(ApprovalVerdict::ApproveOnce),
                        '2' => self.decide(ApprovalVerdict::ApproveSession),
                        '3' => self.decide(ApprovalVerdict::Deny),
                        '4' => self.decide(ApprovalVerdict::DenySession),
                        _ => {
                            self.start_reason();
                            None
                        }
                    };
                }
            }
            _ => {}
        }
        None
    }

    fn handle_mouse(&mut self, mouse: MouseEvent) -> Handled {
        if !matches!(self.mode, Mode::Normal | Mode::Help) {
            return Handled::default();
        }
        let at = Position::new(mouse.column, mouse.row);
        let screen = layout::compute(self, self.area);
        let page = usize::from(screen.log_rows.height).max(1);
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if self.mode == Mode::Help {
                    self.mode = Mode::Normal;
                    return Handled::redraw();
                }
                if let Some((button, _)) = screen.buttons.iter().find(|(_, r)| r.contains(at)) {
                    let effect = match button {
                        Button::ApproveOnce => self.decide(ApprovalVerdict::ApproveOnce),
                        Button::ApproveSession => self.decide(ApprovalVerdict::ApproveSession),
                        Button::Deny => self.decide(ApprovalVerdict::Deny),
                        Button::DenySession => self.decide(ApprovalVerdict::DenySession),
                        Button::Reason => {
                            self.start_reason();
                            None
                        }
                    };
                    return Handled::effect(effect);
                }
                if screen.pending_list.contains(at) {
                    let index = screen.pending_offset + usize::from(at.y - screen.pending_list.y);
                    if index < self.pending.len() {
                        self.select_approval_at(index);
                        self.focus = Focus::Pending;
                        return Handled::redraw();
                    }
                }
                if screen.log_rows.contains(at) {
                    let window = self.cursor.window(&self.log, page);
                    let pos = window.top + usize::from(at.y - screen.log_rows.y);
                    if pos < self.log.visible_len() {
                        self.cursor.select(&self.log, page, pos);
                    }
                    self.focus = Focus::Log;
                    return Handled::redraw();
                }
                Handled::default()
            }
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let delta: isize = if mouse.kind == MouseEventKind::ScrollUp {
                    -3
                } else {
                    3
                };
                if screen.pending.contains(at) {
                    if let Some(i) = self.selected_index() {
                        self.select_approval_at(i.saturating_add_signed(delta.signum()));
                    }
                } else {
                    self.cursor.move_by(&self.log, page, delta);
                }
                Handled::redraw()
            }
            _ => Handled::default(),
        }
    }
}

/// A decision in words.
#[must_use]
pub fn verdict_words(verdict: ApprovalVerdict) -> &'static str {
    match verdict {
        ApprovalVerdict::ApproveOnce => "approve once",
        ApprovalVerdict::ApproveSession => "approve for the session",
        ApprovalVerdict::Deny => "deny",
        ApprovalVerdict::DenySession => "deny for the session",
    }
}
