//! JSON as Python's `json` module round-trips it: objects keep their key order (a dict),
//! and rendering follows `json.dumps(..., separators=(",", ":"))` with `ensure_ascii`
//! on or off. LiteLLM re-serialises some upstream answers as received (the Anthropic
//! message, the `message_start` event): parsing into this tree and rendering it back gives
//! the same bytes.
//!
//! Floats are refused (their Python rendering after a parse is not reproduced here), as are
//! duplicate keys (Python keeps the last value at the first key's place).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

impl Node {
    pub fn parse(bytes: &[u8]) -> Option<Node> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Obj(m) => m.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Node::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The object's keys, in order.
    pub fn keys(&self) -> Option<Vec<&str>> {
        match self {
            Node::Obj(m) => Some(m.iter().map(|(k, _)| k.as_str()).collect()),
            _ => None,
        }
    }

    /// Its keys are exactly `want` (in any order).
    pub fn has_keys(&self, want: &[&str]) -> bool {
        match self.keys() {
            Some(k) => k.len() == want.len() && want.iter().all(|w| k.contains(w)),
            None => false,
        }
    }

    /// `json.dumps(self, separators=(",", ":"), ensure_ascii=ascii)`.
    pub fn render(&self, ascii: bool) -> String {
        let mut out = String::new();
        self.write(ascii, &mut out);
        out
    }

    fn write(&self, ascii: bool, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Int(i) => out.push_str(&i.to_string()),
            Node::Str(s) => write_str(s, ascii, out),
            Node::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(ascii, out);
                }
                out.push(']');
            }
            Node::Obj(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, ascii, out);
                    out.push(':');
                    v.write(ascii, out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string as Python's encoder writes it: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`,
/// other control characters as `\u00XX`; with `ascii` also everything outside `' '..='~'`
/// as `\uXXXX` (UTF-16, lowercase hex).
fn write_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ascii && !(' '..='~').contains(&c)) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON without floats or duplicate keys")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Err(E::custom("float"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Node::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out: Vec<(String, Node)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            if out.iter().any(|(x, _)| *x == k) {
                return Err(de::Error::custom("duplicate key"));
            }
            out.push((k, v));
        }
        Ok(Node::Obj(out))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_order_and_escapes_as_python() {
        let n = Node::parse(br#"{"z": 1, "a": [true, null, -3], "s": "h\u00e9\n\u2603\ud83d\ude00\u007f\""}"#).unwrap();
        assert_eq!(n.keys().unwrap(), vec!["z", "a", "s"]);
        assert_eq!(n.render(false), "{\"z\":1,\"a\":[true,null,-3],\"s\":\"h\u{e9}\\n\u{2603}\u{1f600}\u{7f}\\\"\"}");
        assert_eq!(n.render(true), r#"{"z":1,"a":[true,null,-3],"s":"h\u00e9\n\u2603\ud83d\ude00\u007f\""}"#);
    }

    #[test]
    fn refuses_floats_and_duplicates() {
        assert!(Node::parse(br#"{"a": 1.5}"#).is_none());
        assert!(Node::parse(br#"{"a": 1, "a": 2}"#).is_none());
        assert!(Node::parse(br#"{"a": 1e3}"#).is_none());
    }
}
