//! Server-sent events read as the OpenAI SDK reads them: lines end in `\n`, `\r\n` or
//! `\r`; a blank line ends an event; `:` lines are comments. The envelope takes one
//! `data:` line per event and optionally one `event:` line; any other field is refused.

use crate::stream::Reject;

/// One complete event: its `event:` name, if any, and its `data:` payload.
pub struct SseEvent {
    pub event: Option<String>,
    pub data: Vec<u8>,
}

#[derive(Default)]
pub struct SseReader {
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<Vec<u8>>,
}

/// An upstream event larger than this is out of the envelope.
const MAX_EVENT: usize = 8 << 20;

impl SseReader {
    /// Feed upstream bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, Reject> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        loop {
            let Some(rel) = self.buf[start..].iter().position(|b| *b == b'\n' || *b == b'\r') else { break };
            let end = start + rel;
            let next = if self.buf[end] == b'\r' {
                match self.buf.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    // A `\r` at the end of what arrived: wait for the next byte.
                    None => break,
                }
            } else {
                end + 1
            };
            let line = self.buf[start..end].to_vec();
            start = next;
            self.line(&line, &mut events)?;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_EVENT {
            return Err("event too large");
        }
        Ok(events)
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) -> Result<(), Reject> {
        if line.is_empty() {
            let event = self.event.take();
            if let Some(data) = self.data.take() {
                events.push(SseEvent { event, data });
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        if let Some(value) = line.strip_prefix(b"data:") {
            if self.data.is_some() {
                return Err("multi-line event");
            }
            self.data = Some(value.strip_prefix(b" ").unwrap_or(value).to_vec());
            return Ok(());
        }
        if let Some(value) = line.strip_prefix(b"event:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.event.is_some() {
                return Err("two event names");
            }
            self.event = Some(String::from_utf8(value.to_vec()).map_err(|_| "event name")?);
            return Ok(());
        }
        Err("SSE field other than data:")
    }

    /// Nothing half-read: no partial line and no event without its closing blank line.
    pub fn idle(&self) -> bool {
        self.data.is_none() && self.event.is_none() && self.buf.iter().all(|b| *b == b'\n' || *b == b'\r')
    }
}
