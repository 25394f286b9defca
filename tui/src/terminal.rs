//! The real terminal: raw mode and the alternate screen, restored on every way out (a
//! panic too), and the loop that joins keys, session events and drawing.
//!
//! The alternate screen, not an inline viewport: the transcript re-wraps on resize and
//! folds and unfolds thinking and tool output, which text already pushed into the
//! terminal's scrollback could not do. It scrolls with PageUp/PageDown and the wheel.

use std::io::{self, Stdout};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, KeyboardEnhancementFlags, MouseEventKind, PopKeyboardEnhancementFlags,
    PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{execute, queue};
use hearth_agent::protocol::Op;
use hearth_agent::AgentHandle;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::app::{App, Loaded};
use crate::render::draw;

/// Starts the session (loads the model, opens the repository) off the UI thread, so the
/// TUI shows progress meanwhile. An error is shown, and the user quits.
pub type Startup = Box<dyn FnOnce() -> Result<(AgentHandle, Loaded), String> + Send>;

/// The shortest time between two frames: streaming tokens arrive faster than a terminal
/// needs to be redrawn, and a frame per token would be a redraw storm.
const FRAME: Duration = Duration::from_millis(33);

/// Runs the TUI until the user quits; the terminal is restored whatever happens.
pub fn run(mut app: App, startup: Startup) -> io::Result<()> {
    let mut terminal = enter()?;
    install_panic_hook();
    let result = event_loop(&mut terminal, &mut app, startup);
    leave()?;
    result
}

fn enter() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    execute!(
        stdout,
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableMouseCapture
    )?;
    // Where the terminal supports it (kitty's protocol), Shift+Enter is told from Enter.
    if crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false) {
        queue!(
            stdout,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )?;
    }
    Terminal::new(CrosstermBackend::new(stdout))
}

fn leave() -> io::Result<()> {
    let mut stdout = io::stdout();
    if crossterm::terminal::supports_keyboard_enhancement().unwrap_or(false) {
        let _ = execute!(stdout, PopKeyboardEnhancementFlags);
    }
    execute!(
        stdout,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    )?;
    disable_raw_mode()
}

/// Restores the terminal before the panic message prints, so it is readable and the
/// shell is usable after.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = leave();
        previous(info);
    }));
}

enum Session {
    Loading(Receiver<Result<(AgentHandle, Loaded), String>>),
    Running(AgentHandle),
    Failed,
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    startup: Startup,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(startup());
    });
    let mut session = Session::Loading(rx);
    let started = Instant::now();
    let mut last_frame = Instant::now() - FRAME;
    let mut queued: Vec<Op> = Vec::new();
    loop {
        let prompt_was_open = app.approval.is_some();
        // Session progress.
        match &mut session {
            Session::Loading(rx) => match rx.try_recv() {
                Ok(Ok((handle, loaded))) => {
                    app.set_loaded(loaded);
                    session = Session::Running(handle);
                }
                Ok(Err(message)) => {
                    app.set_load_failed(&message);
                    session = Session::Failed;
                }
                Err(TryRecvError::Empty) => {
                    let seconds = started.elapsed().as_secs();
                    let message = format!("loading {} … {seconds}s", app.settings.model);
                    if message != app.loading_message {
                        app.loading_message = message;
                        app.dirty = true;
                    }
                }
                Err(TryRecvError::Disconnected) => {
                    app.set_load_failed("the session's start-up thread ended without a session");
                    session = Session::Failed;
                }
            },
            Session::Running(handle) => loop {
                match handle.events.try_recv() {
                    Ok(event) => app.on_event(event),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        app.set_load_failed("the session ended");
                        session = Session::Failed;
                        break;
                    }
                }
            },
            Session::Failed => {}
        }
        if !prompt_was_open && app.approval.is_some() {
            drop_typed_ahead_keys(app)?;
        }

        app.tick(Instant::now());
        if app.dirty && last_frame.elapsed() >= FRAME {
            terminal.draw(|frame| draw(frame, app))?;
            app.dirty = false;
            last_frame = Instant::now();
        }

        // Terminal input; the timeout paces the loop: short while a turn streams (events
        // are picked up within a frame), longer while idle, so an idle TUI costs no CPU.
        let wait = if app.busy || app.loaded.is_none() || app.dirty {
            Duration::from_millis(16)
        } else {
            Duration::from_millis(100)
        };
        if event::poll(wait)? {
            on_terminal_event(app, event::read()?);
        }

        queued.extend(app.take_ops());
        if let Session::Running(handle) = &session {
            for op in queued.drain(..) {
                // A closed channel shows up as a disconnected event channel above.
                let _ = handle.ops.send(op);
            }
        }
        if app.should_quit() {
            break;
        }
    }
    if let Session::Running(handle) = session {
        let _ = handle.ops.send(Op::Interrupt);
        let _ = handle.ops.send(Op::Shutdown);
        // The session thread finishes the op it is in (an interrupted model request ends
        // at its next token) and exits; its errors were already shown as events.
        let _ = handle.join();
    }
    Ok(())
}

fn on_terminal_event(app: &mut App, event: TermEvent) {
    match event {
        TermEvent::Key(key) => app.on_key(key),
        TermEvent::Paste(text) => app.on_paste(&text),
        TermEvent::Mouse(mouse) => match mouse.kind {
            MouseEventKind::ScrollUp => app.scroll_by(3),
            MouseEventKind::ScrollDown => app.scroll_by(-3),
            _ => {}
        },
        TermEvent::Resize(_, _) => app.dirty = true,
        _ => {}
    }
}

/// An approval prompt just opened: every key still waiting in the terminal's input was
/// typed before it appeared (meant for the prompt box), so none of them may answer it.
/// Other input (a resize, the wheel) is handled as usual. The prompt's own arming delay
/// covers keys that arrive just after this.
fn drop_typed_ahead_keys(app: &mut App) -> io::Result<()> {
    while event::poll(Duration::ZERO)? {
        match event::read()? {
            TermEvent::Key(_) => {}
            // A paste is typed-ahead text too.
            TermEvent::Paste(_) => {}
            other => on_terminal_event(app, other),
        }
    }
    Ok(())
}
