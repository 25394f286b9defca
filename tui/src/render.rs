//! Drawing the state of [`App`] into a frame. Nothing here changes the state.
//!
//! The screen, top to bottom: the transcript (scrollable), the approval panel when a call
//! waits, completions, the prompt box, the status line.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use crate::app::App;
use crate::theme::Theme;
use crate::transcript::{diff_lines, Entry, Folding};
use crate::wrap::wrap_lines;

/// The most lines the prompt box grows to before it scrolls.
const MAX_INPUT_LINES: u16 = 10;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let theme = Theme::new(app.settings.color);
    let area = frame.area();
    let width = area.width.max(1);
    let input_lines = (app.input.text().split('\n').count() as u16).clamp(1, MAX_INPUT_LINES);
    let approval = approval_lines(app, &theme, width.saturating_sub(2) as usize);
    let approval_height = if approval.is_empty() {
        0
    } else {
        (approval.len() as u16 + 2).min(area.height / 2)
    };
    let [transcript, approval_area, input, status] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(approval_height),
        Constraint::Length(input_lines + 2),
        Constraint::Length(1),
    ])
    .areas(area);

    draw_transcript(frame, app, &theme, transcript);
    if approval_height > 0 {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.attention())
            .title(Span::styled(" approval ", theme.attention()));
        frame.render_widget(Paragraph::new(approval).block(block), approval_area);
    }
    draw_input(frame, app, &theme, input);
    draw_completions(frame, app, &theme, input);
    frame.render_widget(
        Paragraph::new(status_line(app, &theme, status.width as usize)),
        status,
    );
}

/// The wrapped lines of each transcript entry, kept between frames: while a reply
/// streams only its own entry changes, and re-rendering the markdown of a long transcript
/// every frame would cost more than the model's decode on a small machine.
#[derive(Debug, Default)]
pub struct RenderCache {
    /// What every cached entry was wrapped for: width, folding, colours.
    layout: Option<(usize, Folding, bool)>,
    /// Per entry: the entry as it was rendered, and its wrapped lines.
    entries: Vec<(Entry, Vec<Line<'static>>)>,
}

impl RenderCache {
    /// Brings the cache up to date with `entries` and returns it.
    fn update(
        &mut self,
        entries: &[Entry],
        theme: &Theme,
        folding: Folding,
        width: usize,
        color: bool,
    ) {
        let layout = (width, folding, color);
        if self.layout != Some(layout) {
            self.entries.clear();
            self.layout = Some(layout);
        }
        self.entries.truncate(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            if self
                .entries
                .get(i)
                .is_some_and(|(cached, _)| cached == entry)
            {
                continue;
            }
            let lines = wrap_lines(entry.lines(theme, folding), width);
            if i < self.entries.len() {
                self.entries[i] = (entry.clone(), lines);
            } else {
                self.entries.push((entry.clone(), lines));
            }
        }
    }
}

fn draw_transcript(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let width = area.width as usize;
    let mut cache = app.render_cache.borrow_mut();
    cache.update(&app.entries, theme, app.folding, width, app.settings.color);
    let blank = Line::raw("");
    let mut lines: Vec<&Line<'static>> = Vec::new();
    let intro = Line::styled(
        "hearth: ask about this repository, or /help for commands and keys.",
        theme.dim(),
    );
    if app.entries.is_empty() && app.loaded.is_some() {
        lines.push(&intro);
    }
    for (i, (_, entry_lines)) in cache.entries.iter().enumerate() {
        if i > 0 {
            lines.push(&blank);
        }
        lines.extend(entry_lines.iter());
    }
    let working = Line::styled("… working (Esc to stop)", theme.dim());
    if app.busy && app.approval.is_none() {
        lines.push(&working);
    }
    let height = area.height as usize;
    let max_scroll = lines.len().saturating_sub(height);
    let scroll = app.scroll.min(max_scroll);
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    let visible: Vec<Line> = lines[start..end].iter().map(|&l| l.clone()).collect();
    frame.render_widget(Paragraph::new(visible), area);
}

fn approval_lines(app: &App, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let Some(pending) = &app.approval else {
        return Vec::new();
    };
    let call = &pending.call;
    let mut lines = Vec::new();
    match call.input.get("command").and_then(|c| c.as_str()) {
        Some(command) => lines.push(Line::from(vec![
            Span::styled(format!("{} wants to run ", call.tool), theme.attention()),
            Span::styled(format!("$ {command}"), theme.code()),
        ])),
        None => {
            let path = call
                .input
                .get("path")
                .and_then(|p| p.as_str())
                .unwrap_or("");
            lines.push(Line::styled(
                format!("{} wants to change {path}", call.tool),
                theme.attention(),
            ));
            match &call.diff {
                // The full diff is in the transcript above; the panel repeats its start.
                Some(diff) => lines.extend(diff_lines(diff, theme).into_iter().take(12)),
                // No diff could be computed (e.g. arguments the tool will reject): show
                // what the call asks for instead.
                None => lines.extend(
                    serde_json::to_string_pretty(&call.input)
                        .unwrap_or_default()
                        .lines()
                        .take(12)
                        .map(|l| Line::styled(format!("  {l}"), theme.dim())),
                ),
            }
        }
    }
    match &pending.reason {
        Some(reason) => lines.push(Line::from(vec![
            Span::styled(
                "reason (Enter to deny, Esc to go back): ",
                theme.attention(),
            ),
            Span::raw(reason.clone()),
        ])),
        None => {
            lines.push(Line::from(vec![
                Span::styled("y", theme.attention()),
                Span::raw(" approve   "),
                Span::styled("n", theme.attention()),
                Span::raw(" deny   "),
                Span::styled("Esc", theme.attention()),
                Span::raw(" stop"),
            ]));
            // Said in full, on a line of its own: `a` approves exactly this and no more.
            lines.push(Line::from(vec![
                Span::styled("a", theme.attention()),
                Span::raw(format!(
                    " approve {} for the session",
                    pending.session_scope()
                )),
            ]));
        }
    }
    wrap_lines(lines, width)
}

fn draw_input(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let title = if app.loaded.is_none() {
        format!(" {} ", app.loading_message)
    } else if app.busy {
        match app.busy_seconds {
            Some(seconds) if seconds > 0 => format!(" working {seconds}s · Esc to stop "),
            _ => " working · Esc to stop ".to_string(),
        }
    } else {
        String::new()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.frame())
        .title(Span::styled(title, theme.dim()));
    let inner_height = area.height.saturating_sub(2) as usize;
    let (line, column) = app.input.cursor_position();
    let skip = (line + 1).saturating_sub(inner_height);
    let text: Vec<Line> = app
        .input
        .text()
        .split('\n')
        .enumerate()
        .skip(skip)
        .map(|(i, l)| {
            let mark = if i == 0 { "› " } else { "  " };
            Line::from(vec![
                Span::styled(mark, theme.user()),
                Span::raw(l.to_string()),
            ])
        })
        .collect();
    // Long lines scroll horizontally with the cursor rather than wrap, so the cursor
    // position stays simple to compute.
    let inner_width = area.width.saturating_sub(4) as usize;
    let hscroll = (column + 1).saturating_sub(inner_width) as u16;
    frame.render_widget(Paragraph::new(text).block(block).scroll((0, hscroll)), area);
    if app.approval.is_none() {
        let x = area.x + 3 + (column as u16).saturating_sub(hscroll);
        let y = area.y + 1 + (line - skip) as u16;
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(2)), y));
    }
}

fn draw_completions(frame: &mut Frame, app: &App, theme: &Theme, input: Rect) {
    if app.completions.is_empty() {
        return;
    }
    let shown = app.completions.len().min(crate::commands::MAX_COMPLETIONS);
    let width = app
        .completions
        .iter()
        .map(|c| c.width())
        .max()
        .unwrap_or(0)
        .max(12) as u16
        + 2;
    let height = shown as u16;
    if input.y < height {
        return;
    }
    let area = Rect::new(
        input.x + 2,
        input.y - height,
        width.min(input.width),
        height,
    );
    let lines: Vec<Line> = app
        .completions
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, c)| {
            let style = if i == app.selected {
                theme.selected()
            } else {
                theme.frame()
            };
            Line::styled(format!(" {c:<w$} ", w = width as usize - 2), style)
        })
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines), area);
}

/// The status line; the model's name is cut first when the line is too wide.
fn status_line(app: &App, theme: &Theme, width: usize) -> Line<'static> {
    let model = app
        .loaded
        .as_ref()
        .map_or(app.settings.model.clone(), |l| l.model.clone());
    let mut parts = vec![app.mode.to_string()];
    let window = app.loaded.as_ref().and_then(|l| l.context_window);
    match (app.stats.context_used, window) {
        (Some(used), Some(window)) => parts.push(format!(
            "ctx {}/{} ({}%)",
            short(used),
            short(window),
            (used as u64 * 100 / window.max(1) as u64)
        )),
        (None, Some(window)) => parts.push(format!("ctx 0/{}", short(window))),
        (Some(used), None) => parts.push(format!("ctx {}", short(used))),
        (None, None) => {}
    }
    if let Some(share) = app.stats.cache_share {
        parts.push(format!("cache {:.0}%", share * 100.0));
    }
    if let Some(tps) = app.stats.tokens_per_second {
        parts.push(format!("{tps:.1} tok/s"));
    }
    parts.push(match app.settings.thinking_budget {
        Some(n) => format!("think {}", short(n)),
        None => "think off".into(),
    });
    let rest = parts.join(" · ");
    let room = width.saturating_sub(rest.width() + 4);
    let model = if model.width() <= room {
        model
    } else {
        let cut: String = model.chars().take(room.saturating_sub(1)).collect();
        format!("{cut}…")
    };
    Line::styled(format!(" {model} · {rest}"), theme.frame())
}

/// A token count in thousands past 10k: `8192`, `33k`.
fn short(n: u32) -> String {
    if n >= 10_000 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
