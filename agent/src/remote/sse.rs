//! Server-sent events read off a byte stream, as the three wire protocols send them.
//!
//! Only what these protocols use is kept: an event's name (`event:`) and its data (`data:`,
//! several lines joined by `\n`). Comments (`:` lines, which servers send as keep-alives) and
//! other fields (`id:`, `retry:`) are skipped. Lines may end in `\n`, `\r\n` or `\r`.

use std::io::BufRead;

/// One server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field; empty when the server sent none (OpenAI's chunks).
    pub(crate) name: String,
    /// The `data:` lines, joined by newlines.
    pub(crate) data: String,
}

/// Reads events from `input` one at a time.
pub(crate) struct SseReader<R> {
    input: R,
    line: Vec<u8>,
    /// The last line ended in a `\r` at the end of a read: a `\n` next belongs to it.
    after_cr: bool,
}

impl<R: BufRead> SseReader<R> {
    /// A reader of the events in `input`.
    pub(crate) fn new(input: R) -> SseReader<R> {
        SseReader {
            input,
            line: Vec::new(),
            after_cr: false,
        }
    }

    /// The next event, or `None` at the end of the stream. An event cut off by the end of
    /// the stream is still returned: a server that closes without the blank line has sent it.
    pub(crate) fn next_event(&mut self) -> std::io::Result<Option<SseEvent>> {
        let mut event = SseEvent::default();
        let mut has_data = false;
        loop {
            self.line.clear();
            let read = self.read_line()?;
            if read == 0 {
                return Ok((has_data || !event.name.is_empty()).then_some(event));
            }
            let line = String::from_utf8_lossy(&self.line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if has_data || !event.name.is_empty() {
                    return Ok(Some(event));
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "event" => event.name = value.to_string(),
                "data" => {
                    if has_data {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                    has_data = true;
                }
                _ => {}
            }
        }
    }

    /// Reads one line ending in `\n`, `\r\n` or a lone `\r` into `self.line` (with its
    /// ending); returns the bytes read, 0 at the end of the input.
    fn read_line(&mut self) -> std::io::Result<usize> {
        let mut read = 0;
        loop {
            let buffer = match self.input.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buffer.is_empty() {
                return Ok(read);
            }
            if std::mem::take(&mut self.after_cr) && buffer[0] == b'\n' {
                self.input.consume(1);
                continue;
            }
            match buffer.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(at) => {
                    let cr = buffer[at] == b'\r';
                    let crlf = cr && buffer.get(at + 1) == Some(&b'\n');
                    // A `\r` at the end of this read may be half of a `\r\n`.
                    self.after_cr = cr && !crlf && at + 1 == buffer.len();
                    let end = at + 1 + usize::from(crlf);
                    self.line.extend_from_slice(&buffer[..end]);
                    self.input.consume(end);
                    return Ok(read + end);
                }
                None => {
                    let n = buffer.len();
                    self.line.extend_from_slice(buffer);
                    self.input.consume(n);
                    read += n;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(bytes: &[u8]) -> Vec<SseEvent> {
        let mut reader = SseReader::new(bytes);
        let mut out = Vec::new();
        while let Some(event) = reader.next_event().unwrap() {
            out.push(event);
        }
        out
    }

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            name: name.to_string(),
            data: data.to_string(),
        }
    }

    #[test]
    fn events_names_and_data_are_read_whatever_the_line_endings() {
        let bytes = b": keep-alive\n\nevent: ping\ndata: {}\n\ndata: a\r\ndata: b\r\n\r\ndata:c\rid: 7\r\rdata: [DONE]";
        assert_eq!(
            all(bytes),
            vec![
                event("ping", "{}"),
                event("", "a\nb"),
                event("", "c"),
                event("", "[DONE]")
            ]
        );
    }

    #[test]
    fn an_event_split_across_reads_is_whole() {
        // A reader that hands out one byte at a time, as a slow network might.
        let bytes = b"event: message_start\r\ndata: {\"x\": 1}\r\n\r\ndata: 2\r\n\r\n";
        let slow = std::io::BufReader::with_capacity(1, &bytes[..]);
        let mut reader = SseReader::new(slow);
        assert_eq!(
            reader.next_event().unwrap(),
            Some(event("message_start", "{\"x\": 1}"))
        );
        assert_eq!(reader.next_event().unwrap(), Some(event("", "2")));
        assert_eq!(reader.next_event().unwrap(), None);
    }
}
