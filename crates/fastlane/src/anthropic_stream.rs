//! A `/v1/messages` stream as LiteLLM's proxy relays it: the upstream's bytes as they come,
//! except that 1.110.2 restamps the first event, `message_start`, with the model group the
//! client named (its `data:` line re-serialised by Python's `json.dumps` with compact
//! separators and `ensure_ascii`); 1.83.14 passes it unchanged.
//!
//! The front holds the upstream's bytes until `message_start` is complete and checked (until
//! then a surprise is still a replay); after it nothing is buffered.

use crate::pyjson::Node;
use crate::stream::Reject;
use crate::wire::Format;

/// The most bytes held while waiting for `message_start` to complete.
const MAX_HELD: usize = 64 << 10;

pub struct MsgStreamState {
    format: Format,
    requested_model: String,
    upstream_model: String,
    held: Vec<u8>,
    started: bool,
}

impl MsgStreamState {
    pub fn new(format: Format, requested_model: &str, upstream_model: &str) -> Self {
        MsgStreamState {
            format,
            requested_model: requested_model.to_string(),
            upstream_model: upstream_model.to_string(),
            held: Vec::new(),
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
        let Some(end) = self.held.windows(2).position(|w| w == b"\n\n") else {
            return if self.held.len() > MAX_HELD { Err("message_start too long") } else { Ok(Vec::new()) };
        };
        let frame = &self.held[..end];
        let mut out = self.first_frame(frame)?;
        out.extend_from_slice(&self.held[end..]);
        self.held = Vec::new();
        self.started = true;
        Ok(out)
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
            Err("stream ended before message_start")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &[u8] = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"content\":[]}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n";

    #[test]
    fn restamps_on_1_110_and_passes_on_1_83() {
        let mut s = MsgStreamState::new(Format::V1_110, "grp", "claude-x");
        assert!(s.feed(&START[..30]).unwrap().is_empty() && !s.started());
        let out = s.feed(&START[30..]).unwrap();
        assert_eq!(out, b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"grp\",\"content\":[]}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n".to_vec());
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
    }
}
