//! Model text made safe to print on a terminal.
//!
//! A model's answer (or a file it quotes) can hold escape sequences that a terminal obeys
//! rather than shows: OSC 52 writes the clipboard, OSC 0 retitles the window, CSI moves the
//! cursor and can overwrite what was printed, `\r` and backspace hide text. `hearth exec`
//! removes them from what it prints to a terminal; `--raw` keeps them.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';
/// The 8-bit string terminator (ST), which some terminals take for `ESC \`.
const ST: char = '\u{9c}';

/// `text` without control sequences and control characters, except `\n` and `\t`:
/// CSI (`ESC [` … final byte), OSC, DCS, SOS, PM and APC strings (up to BEL or ST, or to
/// the end of the text when unterminated), other `ESC` sequences, the 8-bit (C1) forms of
/// all of these, and every other C0 character and DEL.
pub(crate) fn strip_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            ESC => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // `ESC` then intermediates (0x20–0x2F) and one final character.
                Some(' '..='/') => {
                    while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
                    chars.next();
                }
                Some(_) | None => {}
            },
            // The C1 introducers: CSI, then OSC, DCS, SOS, PM and APC.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if is_control(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A character a terminal may act on instead of showing.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}'
}

/// The rest of a CSI sequence: parameters and intermediates (0x20–0x3F), then one final
/// character (0x40–0x7E). A character outside those ranges ends it without being eaten.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| matches!(c, ' '..='?')).is_some() {}
    chars.next_if(|c| matches!(c, '@'..='~'));
}

/// The rest of a control string (OSC and its kin): up to BEL, `ESC \` or ST.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | ST => return,
            ESC => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_controls;

    #[test]
    fn control_sequences_are_removed_and_text_newlines_and_tabs_stay() {
        for (raw, shown) in [
            ("plain text\n\tindented", "plain text\n\tindented"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}[2J\u{1b}[1;1Hcleared", "cleared"),
            // A clipboard write (OSC 52), ended by BEL and by ST.
            ("a\u{1b}]52;c;Y3VybCB4fHNo\u{7}b", "ab"),
            ("a\u{1b}]0;title\u{1b}\\b", "ab"),
            // Unterminated: the rest is the sequence's.
            ("a\u{1b}]52;c;Y3VybA==", "a"),
            ("a\u{1b}Pdcs\u{1b}\\b\u{1b}_apc\u{7}c", "abc"),
            ("\u{1b}(Bcharset \u{1b}7saved", "charset saved"),
            // 8-bit forms.
            ("a\u{9b}31mb\u{9d}52;c;x\u{9c}c\u{85}", "abc"),
            // Characters that rewrite what was shown.
            ("safe\rrm -rf ~\u{8}\u{8}\u{7}\u{7f}\u{0}", "saferm -rf ~"),
            ("ünïcödé → ok", "ünïcödé → ok"),
        ] {
            assert_eq!(strip_controls(raw), shown, "{raw:?}");
        }
        assert!(matches!(
            strip_controls("nothing to do"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
