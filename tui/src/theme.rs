//! Styles, in the 16 ANSI colours only (terminals and SSH sessions agree on those), or no
//! colour at all when the user set `NO_COLOR` (the cli reads it and passes `color: false`).

use ratatui::style::{Color, Modifier, Style};

/// Every style the screens use.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// A theme with colours, or with text attributes only.
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    /// The user's own turns.
    pub fn user(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    /// Thinking text: dimmed.
    pub fn thinking(&self) -> Style {
        Style::default()
            .add_modifier(Modifier::DIM)
            .add_modifier(Modifier::ITALIC)
    }
    /// Secondary text: notes, summaries, hints.
    pub fn dim(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }
    /// A tool call's line.
    pub fn tool(&self) -> Style {
        self.fg(Color::Magenta)
    }
    /// Failures.
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    /// Success marks.
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    /// Added diff lines.
    pub fn added(&self) -> Style {
        self.fg(Color::Green)
    }
    /// Removed diff lines.
    pub fn removed(&self) -> Style {
        self.fg(Color::Red)
    }
    /// Diff hunk headers.
    pub fn hunk(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::DIM)
    }
    /// Markdown headings.
    pub fn heading(&self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::BOLD)
    }
    /// Inline code.
    pub fn code(&self) -> Style {
        self.fg(Color::Yellow)
    }
    /// Keywords in code blocks.
    pub fn keyword(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }
    /// String literals in code blocks.
    pub fn string(&self) -> Style {
        self.fg(Color::Green)
    }
    /// Comments in code blocks.
    pub fn comment(&self) -> Style {
        self.fg(Color::DarkGray).add_modifier(Modifier::ITALIC)
    }
    /// Numbers in code blocks.
    pub fn number(&self) -> Style {
        self.fg(Color::Cyan)
    }
    /// Borders and the status line.
    pub fn frame(&self) -> Style {
        self.fg(Color::DarkGray)
    }
    /// The approval panel's title and keys.
    pub fn attention(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    /// The selected completion.
    pub fn selected(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }
}
