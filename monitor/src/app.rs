//! The running monitor: the terminal, the event loop, and the wiring between input, the
//! connection layer and the state.
//!
//! Three kinds of threads feed one channel of [`AppEvent`]s: the terminal input thread, the
//! connection threads ([`crate::conn`]) and the signal thread. The UI thread blocks on that
//! channel (with a timeout for the next countdown second) and redraws only when something on
//! screen changed, at most about 60 times a second; when nothing happens it sleeps.

use std::io::{IsTerminal as _, stdout};
use std::panic::PanicHookInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste,
};
use ratatui::crossterm::{Command, execute};
use ratatui::layout::Rect;
use ratatui::{DefaultTerminal, Frame};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::MonitorOptions;
use crate::conn::{ConnEvent, ConnOptions, Connection};
use crate::state::{Effect, State};

/// The shortest time between two frames (about 60 per second).
pub const FRAME_INTERVAL: Duration = Duration::from_millis(16);
/// How often the input thread checks whether it should stop.
const INPUT_POLL: Duration = Duration::from_millis(250);
/// The most events handled before a frame is drawn, so a flood cannot freeze the screen.
const MAX_BATCH: usize = 10_000;

/// Something for the UI thread to handle.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every message is a daemon event; boxing would only add an allocation each"
)]
pub enum AppEvent {
    /// Terminal input: a key, a click, a resize, a paste.
    Term(event::Event),
    /// News from the connection layer.
    Conn(ConnEvent),
    /// A signal asked the monitor to stop.
    Signal(i32),
    /// Reading the terminal failed.
    InputFailed(String),
}

impl From<ConnEvent> for AppEvent {
    fn from(event: ConnEvent) -> Self {
        AppEvent::Conn(event)
    }
}

/// The current time in milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The monitor without its terminal: the state and the connection, wired together.
pub struct App {
    /// Everything shown.
    pub state: State,
    conn: Connection,
    failure: Option<String>,
}

impl App {
    /// Starts connecting to the daemon; what the connection learns arrives on `events`.
    #[must_use]
    pub fn new(options: &MonitorOptions, events: Sender<AppEvent>) -> App {
        Self::with_conn_options(
            options,
            ConnOptions::new(options.socket.clone(), options.history),
            events,
        )
    }

    /// Like [`App::new`] with explicit connection settings (timeouts, back-off).
    #[must_use]
    pub fn with_conn_options(
        options: &MonitorOptions,
        conn: ConnOptions,
        events: Sender<AppEvent>,
    ) -> App {
        let mut state = State::new(options.log_capacity);
        state.set_now(now_ms());
        App {
            state,
            conn: Connection::spawn(conn, events),
            failure: None,
        }
    }

    /// Handles one event; returns whether the screen may have changed.
    pub fn handle_event(&mut self, event: AppEvent) -> bool {
        self.state.set_now(now_ms());
        match event {
            AppEvent::Term(e) => {
                let handled = self.state.handle_event(&e);
                match handled.effect {
                    Some(Effect::Resolve(resolution)) => self.conn.resolve(resolution),
                    Some(Effect::Quit) => self.state.quit = true,
                    None => {}
                }
                handled.redraw
            }
            AppEvent::Conn(e) => self.state.apply(e),
            AppEvent::Signal(_) => {
                self.state.quit = true;
                false
            }
            AppEvent::InputFailed(why) => {
                self.failure = Some(why);
                self.state.quit = true;
                false
            }
        }
    }

    /// Draws the screen.
    pub fn render(&self, frame: &mut Frame) {
        crate::view::render(&self.state, frame);
    }

    /// Whether the monitor should stop.
    #[must_use]
    pub fn should_quit(&self) -> bool {
        self.state.quit
    }
}

/// Runs the monitor in this terminal until the person quits or a signal arrives.
pub fn run(options: MonitorOptions) -> Result<()> {
    if !stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!("`safeshell monitor` needs an interactive terminal");
    }
    let (tx, rx) = mpsc::channel();
    let signals = SignalThread::start(tx.clone())?;
    let mut app = App::new(&options, tx.clone());
    let mut session = TerminalSession::enter()?;
    let input = InputThread::start(tx);
    let result = event_loop(&mut session.terminal, &mut app, &rx);
    input.stop();
    drop(session);
    signals.stop();
    drop(app);
    result
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    rx: &Receiver<AppEvent>,
) -> Result<()> {
    let size = terminal.size()?;
    app.state.set_area(Rect::new(0, 0, size.width, size.height));
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut clock = app.state.clock_signature();
    loop {
        let timeout = if dirty {
            last_draw.map_or(Duration::ZERO, |t| {
                FRAME_INTERVAL.saturating_sub(t.elapsed())
            })
        } else {
            Duration::from_millis(app.state.next_tick_ms())
        };
        match rx.recv_timeout(timeout) {
            Ok(event) => {
                dirty |= app.handle_event(event);
                for event in rx.try_iter().take(MAX_BATCH) {
                    dirty |= app.handle_event(event);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if app.should_quit() {
            break;
        }
        app.state.set_now(now_ms());
        let now_clock = app.state.clock_signature();
        if now_clock != clock {
            clock = now_clock;
            dirty = true;
        }
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= FRAME_INTERVAL) {
            terminal.draw(|frame| app.render(frame))?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
    }
    match app.failure.take() {
        Some(why) => bail!("reading the terminal failed: {why}"),
        None => Ok(()),
    }
}

/// Turns on reporting of mouse clicks and the wheel only (not every movement, which would wake
/// the monitor for nothing), in SGR encoding.
struct EnableClicks;

impl Command for EnableClicks {
    fn write_ansi(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        f.write_str("\x1b[?1000h\x1b[?1006h")
    }
}

type PanicHook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// The terminal in raw mode on the alternate screen, with clicks and bracketed paste on; put
/// back as it was when dropped, and by the panic hook if the monitor panics.
struct TerminalSession {
    terminal: DefaultTerminal,
    original_hook: Arc<PanicHook>,
}

fn reinstall(hook: &Arc<PanicHook>) {
    let hook = Arc::clone(hook);
    std::panic::set_hook(Box::new(move |info| hook(info)));
}

fn release_terminal() {
    let _ = execute!(stdout(), DisableMouseCapture, DisableBracketedPaste);
}

impl TerminalSession {
    fn enter() -> Result<Self> {
        let original_hook: Arc<PanicHook> = Arc::new(std::panic::take_hook());
        reinstall(&original_hook);
        // `try_init` chains a hook that restores the terminal; ours turns the mouse off first.
        let terminal = match ratatui::try_init() {
            Ok(t) => t,
            Err(e) => {
                ratatui::restore();
                let _ = std::panic::take_hook();
                reinstall(&original_hook);
                return Err(e).context("cannot set up the terminal");
            }
        };
        let chained = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            release_terminal();
            chained(info);
        }));
        let session = TerminalSession {
            terminal,
            original_hook,
        };
        execute!(stdout(), EnableClicks, EnableBracketedPaste)
            .context("cannot enable the mouse")?;
        Ok(session)
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        release_terminal();
        ratatui::restore();
        let _ = std::panic::take_hook();
        reinstall(&self.original_hook);
    }
}

/// Reads terminal input on its own thread.
struct InputThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl InputThread {
    fn start(tx: Sender<AppEvent>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("safeshell-monitor-input".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match event::poll(INPUT_POLL) {
                        Ok(false) => {}
                        Ok(true) => match event::read() {
                            Ok(e) => {
                                if tx.send(AppEvent::Term(e)).is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(AppEvent::InputFailed(e.to_string()));
                                return;
                            }
                        },
                        Err(e) => {
                            let _ = tx.send(AppEvent::InputFailed(e.to_string()));
                            return;
                        }
                    }
                }
            })
            .ok();
        Self { stop, handle }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Not joined: when the terminal is gone (a closed tmux pane, a hung-up ssh session)
        // crossterm's reader can spin inside `poll` on end-of-file and never come back to check
        // the flag. The process is exiting anyway, which ends the thread.
        drop(self.handle.take());
    }
}

/// Turns SIGTERM, SIGHUP and SIGINT into a clean exit (terminal restored). After the monitor
/// stops, these signals get their default action again.
struct SignalThread {
    done: Arc<AtomicBool>,
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalThread {
    fn start(tx: Sender<AppEvent>) -> Result<Self> {
        const SIGNALS: [i32; 3] = [SIGTERM, SIGHUP, SIGINT];
        let done = Arc::new(AtomicBool::new(false));
        for sig in SIGNALS {
            signal_hook::flag::register_conditional_default(sig, Arc::clone(&done))
                .context("cannot install signal handlers")?;
        }
        let mut signals = Signals::new(SIGNALS).context("cannot install signal handlers")?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("safeshell-monitor-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if tx.send(AppEvent::Signal(sig)).is_err() {
                        return;
                    }
                }
            })
            .ok();
        Ok(Self {
            done,
            handle,
            thread,
        })
    }

    fn stop(mut self) {
        self.done.store(true, Ordering::Relaxed);
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
