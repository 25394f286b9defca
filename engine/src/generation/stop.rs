//! Stop strings over streamed text: text is released only once it can no
//! longer turn out to be the start of a stop string, so a stop string never
//! leaks into the output, even when it spans several tokens. Hidden strings
//! are held back the same way but only dropped: generation goes on.

/// Watches generated text for stop strings and strings to hide.
#[derive(Clone, Debug, Default)]
pub struct StopStrings {
    stops: Vec<String>,
    hidden: Vec<String>,
    text: String,
    released: usize,
}

/// What the text so far means for generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopCheck {
    /// Keep going; this text is final and may be shown.
    Continue(String),
    /// A stop string was found; this text precedes it and ends the output.
    Stop {
        /// Text before the stop string not yet released.
        text: String,
        /// The stop string that matched.
        matched: String,
    },
}

impl StopStrings {
    /// Watches for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> StopStrings {
        StopStrings {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            ..StopStrings::default()
        }
    }

    /// Also drops every occurrence of `hidden` from the released text, without stopping:
    /// for delimiters that must never show, such as a thinking segment's end tag that a
    /// model repeats in its answer after the segment was closed.
    pub fn hiding(mut self, hidden: &str) -> StopStrings {
        if !hidden.is_empty() {
            self.hidden.push(hidden.to_string());
        }
        self
    }

    /// Adds newly decoded text and returns what may be released.
    pub fn push(&mut self, piece: &str) -> StopCheck {
        // A match can start at most (longest string - 1) bytes before the new text.
        let longest = self
            .stops
            .iter()
            .chain(&self.hidden)
            .map(String::len)
            .max()
            .unwrap_or(0);
        let mut search_from = floor_char_boundary(
            &self.text,
            self.text.len().saturating_sub(longest).max(self.released),
        );
        self.text.push_str(piece);
        let mut out = String::new();
        loop {
            let first = |strings: &[String]| {
                strings
                    .iter()
                    .filter_map(|s| {
                        self.text[search_from..]
                            .find(s.as_str())
                            .map(|i| (search_from + i, s.clone()))
                    })
                    .min_by_key(|(i, _)| *i)
            };
            let stop = first(&self.stops);
            let hidden =
                first(&self.hidden).filter(|(h, _)| stop.as_ref().is_none_or(|(s, _)| h < s));
            if let Some((at, matched)) = hidden {
                out.push_str(&self.text[self.released.min(at)..at]);
                self.released = at + matched.len();
                search_from = self.released;
                continue;
            }
            if let Some((at, matched)) = stop {
                out.push_str(&self.text[self.released.min(at)..at]);
                self.released = at;
                return StopCheck::Stop { text: out, matched };
            }
            break;
        }
        let held = self.partial_match_len();
        let until = floor_char_boundary(&self.text, self.text.len() - held);
        out.push_str(&self.text[self.released..until.max(self.released)]);
        self.released = until.max(self.released);
        StopCheck::Continue(out)
    }

    /// Releases whatever is still held back (generation ended otherwise).
    pub fn finish(&mut self) -> String {
        let out = self.text[self.released..].to_string();
        self.released = self.text.len();
        out
    }

    /// Bytes at the end of the text that are a proper prefix of a stop string.
    fn partial_match_len(&self) -> usize {
        let mut held = 0;
        for s in self.stops.iter().chain(&self.hidden) {
            for len in (1..s.len()).rev() {
                if len <= held {
                    break;
                }
                if s.is_char_boundary(len) && self.text.ends_with(&s[..len]) {
                    held = len;
                    break;
                }
            }
        }
        held
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, Option<String>) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut w = StopStrings::new(&stops);
        let mut out = String::new();
        for p in pieces {
            match w.push(p) {
                StopCheck::Continue(t) => out.push_str(&t),
                StopCheck::Stop { text, matched } => {
                    out.push_str(&text);
                    return (out, Some(matched));
                }
            }
        }
        out.push_str(&w.finish());
        (out, None)
    }

    #[test]
    fn stop_spanning_pieces_never_leaks() {
        assert_eq!(
            run(&["</end>"], &["hello </", "en", "d> more"]),
            ("hello ".to_string(), Some("</end>".to_string()))
        );
    }

    #[test]
    fn false_start_is_released_at_the_end() {
        assert_eq!(
            run(&["STOP"], &["ST", "OR", "Y ST"]),
            ("STORY ST".to_string(), None)
        );
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        assert_eq!(
            run(&["bb", "a"], &["xxbba"]),
            ("xx".to_string(), Some("bb".to_string()))
        );
    }

    #[test]
    fn hidden_strings_are_dropped_and_generation_goes_on() {
        let mut w = StopStrings::new(&["STOP".to_string()]).hiding("</think>");
        let mut out = String::new();
        for p in [
            "42\n</",
            "think",
            ">\n\nok </think>",
            " done",
            " STOP",
            " after",
        ] {
            match w.push(p) {
                StopCheck::Continue(t) => out.push_str(&t),
                StopCheck::Stop { text, matched } => {
                    out.push_str(&text);
                    assert_eq!(matched, "STOP");
                    break;
                }
            }
        }
        assert_eq!(out, "42\n\n\nok  done ");
    }

    #[test]
    fn a_partial_hidden_string_is_released_when_it_does_not_complete() {
        let mut w = StopStrings::default().hiding("</think>");
        let StopCheck::Continue(first) = w.push("a </thi") else {
            panic!("no stop string")
        };
        assert_eq!(first, "a ");
        let StopCheck::Continue(second) = w.push("ng>") else {
            panic!("no stop string")
        };
        assert_eq!(format!("{first}{second}{}", w.finish()), "a </thing>");
    }

    #[test]
    fn multibyte_text_is_never_split() {
        assert_eq!(
            run(&["é!"], &["café", "é", "!"]),
            ("café".to_string(), Some("é!".to_string()))
        );
    }
}
