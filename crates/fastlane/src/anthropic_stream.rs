//! A `/v1/messages` stream as LiteLLM's proxy relays it: the upstream's bytes as they come,
//! except that 1.110.2 restamps the first event, `message_start`, with the model group the
//! client named (its `data:` line re-serialised by Python's `json.dumps` with compact
//! separators and `ensure_ascii`); 1.83.14 passes it unchanged.
//!
//! 1.110.2 also holds the lifecycle events (`message_start`, `content_block_start`) until the
//! first `content_block_delta`: an `error` event before it is retried in the group. The front
//! holds them too; any other event before content (an error, a stop without content) is
//! `BEFORE_CONTENT`: the stream is read to its end and LiteLLM answers from it (`held.rs`), so
//! its retries happen as with stock. After the first content event nothing is buffered.

use crate::pyjson::Node;
use crate::stream::Reject;
use crate::wire::Format;

/// The most bytes held while waiting for the first content event.
const MAX_HELD: usize = 64 << 10;

/// An event other than `content_block_start`/`ping` before the first content event.
pub const BEFORE_CONTENT: Reject = "event before content";

pub struct MsgStreamState {
    format: Format,
    requested_model: String,
    upstream_model: String,
    held: Vec<u8>,
    /// The output so far (`message_start` as the client gets it, then the lifecycle events).
    out: Vec<u8>,
    seen_start: bool,
    started: bool,
}

impl MsgStreamState {
    pub fn new(format: Format, requested_model: &str, upstream_model: &str) -> Self {
        MsgStreamState {
            format,
            requested_model: requested_model.to_string(),
            upstream_model: upstream_model.to_string(),
            held: Vec::new(),
            out: Vec::new(),
            seen_start: false,
            started: false,
        }
    }

    pub fn started(&self) -> bool {
        self.started
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<u8>, Reject> {
        if self.started {
            return Ok(data.to_vec());
        }
        self.held.extend_from_slice(data);
        let mut at = 0;
        while let Some(n) = self.held[at..].windows(2).position(|w| w == b"\n\n") {
            let frame = self.held[at..at + n].to_vec();
            if !self.seen_start {
                let first = self.first_frame(&frame)?;
                self.out.extend(first);
                self.seen_start = true;
            } else {
                match event_name(&frame)? {
                    "content_block_start" | "ping" => self.out.extend_from_slice(&frame),
                    "content_block_delta" => {
                        // Content: from here on the upstream's bytes go out as they come.
                        let mut out = std::mem::take(&mut self.out);
                        out.extend_from_slice(&self.held[at..]);
                        self.held = Vec::new();
                        self.started = true;
                        return Ok(out);
                    }
                    _ => return Err(BEFORE_CONTENT),
                }
            }
            self.out.extend_from_slice(b"\n\n");
            at += n + 2;
        }
        self.held.drain(..at);
        if self.held.len() + self.out.len() > MAX_HELD {
            return Err("too long before content");
        }
        Ok(Vec::new())
    }

    /// `event: message_start` + its `data:` line (nothing else, `\n` line ends), as the client
    /// gets it, without the frame's closing blank line.
    fn first_frame(&self, frame: &[u8]) -> Result<Vec<u8>, Reject> {
        if frame.contains(&b'\r') {
            return Err("stream line ends");
        }
        let text = std::str::from_utf8(frame).map_err(|_| "stream not UTF-8")?;
        let mut lines = text.split('\n');
        let (Some(event), Some(data), None) = (lines.next(), lines.next(), lines.next()) else {
            return Err("first event shape");
        };
        if event != "event: message_start" {
            return Err("first event not message_start");
        }
        let payload = data.strip_prefix("data:").ok_or("first event shape")?.trim();
        let mut n = Node::parse(payload.as_bytes()).ok_or("message_start not parsed")?;
        if n.get("type").and_then(Node::as_str) != Some("message_start") {
            return Err("first event not message_start");
        }
        let message = n.get_mut("message").ok_or("message_start shape")?;
        if !matches!(message, Node::Obj(_)) || message.get("model").and_then(Node::as_str) != Some(self.upstream_model.as_str()) {
            return Err("message_start model");
        }
        if self.format == Format::V1_83 || self.requested_model == self.upstream_model {
            return Ok(frame.to_vec());
        }
        *message.get_mut("model").ok_or("message_start shape")? = Node::Str(self.requested_model.clone());
        Ok(format!("{event}\ndata: {}", n.render(true)).into_bytes())
    }

    pub fn end(&self) -> Result<(), Reject> {
        if self.started {
            Ok(())
        } else {
            Err(BEFORE_CONTENT)
        }
    }
}

/// The `event:` name of a frame (`event: <name>` then one `data:` line).
fn event_name(frame: &[u8]) -> Result<&str, Reject> {
    let text = std::str::from_utf8(frame).map_err(|_| "stream not UTF-8")?;
    let mut lines = text.split('\n');
    match (lines.next(), lines.next(), lines.next()) {
        (Some(e), Some(d), None) if d.starts_with("data:") => e.strip_prefix("event: ").ok_or("event shape"),
        _ => Err("event shape"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &[u8] = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"content\":[]}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: content_block_delta\ndata: {}\n\n";

    #[test]
    fn restamps_on_1_110_and_passes_on_1_83() {
        let mut s = MsgStreamState::new(Format::V1_110, "grp", "claude-x");
        assert!(s.feed(&START[..30]).unwrap().is_empty() && !s.started());
        let out = s.feed(&START[30..]).unwrap();
        assert_eq!(out, b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"grp\",\"content\":[]}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: content_block_delta\ndata: {}\n\n".to_vec());
        assert!(s.started());
        assert_eq!(s.feed(b"x").unwrap(), b"x");
        let mut s = MsgStreamState::new(Format::V1_83, "grp", "claude-x");
        assert_eq!(s.feed(START).unwrap(), START.to_vec());
    }

    #[test]
    fn other_first_events_are_refused() {
        let mut s = MsgStreamState::new(Format::V1_110, "grp", "claude-x");
        assert!(s.feed(b"event: ping\ndata: {}\n\n").is_err());
        let s = MsgStreamState::new(Format::V1_110, "grp", "claude-x");
        assert!(s.end().is_err());
        let mut s = MsgStreamState::new(Format::V1_110, "grp", "claude-x");
        let error = b"event: error\ndata: {\"type\": \"error\"}\n\n";
        assert_eq!(s.feed(&[&START[..START.len() - 37], error].concat()), Err(BEFORE_CONTENT));
    }
}
