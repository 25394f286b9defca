//! Renders agent events in the terminal and sends user ops (ratatui + crossterm).
