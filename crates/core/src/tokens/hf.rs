//! HuggingFace `tokenizers` models: the tokenizer JSON files LiteLLM bundles
//! (Anthropic's, and DeepSeek's on 1.110), counted as `len(tokenizer.encode(text).ids)`.
//!
//! The JSON is handed in by the caller (read from the installed LiteLLM), parsed
//! once with the `tokenizers` crate and kept in a process-wide cache keyed by the
//! JSON's hash, so every plan over the same file shares one loaded tokenizer.
//!
//! Counting: `Tokenizer::encode` spends most of its time on bookkeeping a count
//! does not need (alignment vectors for every split and byte-level transform,
//! token strings, offsets). [`HfTokenizer::count`] runs the same stages with the
//! crate's own components — the added-vocabulary split and the normalizer
//! (`extract_and_normalize`), the very `SysRegex` patterns of the pre-tokenizer,
//! the BPE model's `tokenize` for every piece — and only replaces the glue:
//! pieces are plain `&str` slices, the byte-level alphabet is applied into a
//! reused buffer and pieces already seen are answered from a count cache.
//! ASCII text on a plain `ByteLevel` pre-tokenizer takes a shorter road still:
//! NFKC leaves ASCII unchanged, so when no added token occurs in the text the
//! normalizer and the added-vocabulary split are skipped, and the GPT-2 pattern is
//! matched by [`ascii_piece_end`], a scanner equal to the regex on ASCII input
//! (checked against the crate's `SysRegex` in the tests).
//! Pipelines it does not know (other pre-tokenizers, post-processors adding
//! tokens) count with `encode_fast`, and at load the fast path is checked against
//! `encode_fast` on a probe set (any disagreement: `encode_fast` everywhere).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};

use tokenizers::pattern::Pattern;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::utils::SysRegex;
use tokenizers::{Model, OffsetReferential, OffsetType, SplitDelimiterBehavior};

/// The GPT-2 split pattern `ByteLevel { use_regex: true }` applies.
const BYTE_LEVEL_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Pieces longer than this (in bytes) are not cached.
const CACHE_MAX_PIECE: usize = 64;
/// Entries kept in the per-tokenizer piece cache.
const CACHE_CAPACITY: usize = 200_000;

enum Stage {
    /// A `Split` with `Isolated` behaviour (or ByteLevel's own regex).
    Isolated(SysRegex),
}

/// One loaded tokenizer.
pub struct HfTokenizer {
    tok: tokenizers::Tokenizer,
    /// Added tokens' contents, when the ASCII road applies (plain ByteLevel
    /// pre-tokenizer, added tokens without strip/word options).
    ascii_road: Option<Vec<String>>,
    /// `None`: count with `encode_fast` (pipeline not reproduced).
    stages: Option<Vec<Stage>>,
    byte_char: [char; 256],
    cache: RwLock<HashMap<Box<str>, u32>>,
}

/// GPT-2's byte-to-unicode alphabet: printable Latin-1 bytes map to themselves,
/// the others to code points from U+0100 upwards in byte order.
fn byte_alphabet() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u32 {
        let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        out[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            let c = char::from_u32(next).unwrap();
            next += 1;
            c
        };
    }
    out
}

/// Strings the fast path is checked on at load.
const PROBES: &[&str] = &[
    "Hey, how's it going?",
    "  leading and trailing spaces   \t\n\n  x",
    "I'M SHOUTING'S AND WE'LL see 'tis 'S",
    "<EOT><META>x<META_START> <META_END><SOS>text<|endoftext|>",
    "数学是研究数量、结构以及空间等概念的一门学科。ひらがなカタカナ",
    "👩\u{200d}👩\u{200d}👧 flag 🏳\u{fe0f}\u{200d}🌈 e\u{301} \u{200b}zw \u{a0}nbsp \u{3000}ideo ﬁ ①",
    "1234567890 3.14159 0xDEADBEEF 12,345.67",
    "\r\n\r\n   \u{2028}\u{2029}\u{85}\u{1680} end",
    "{\"json\": [1, 2, {\"k\": null}]}\n",
    "",
];

impl HfTokenizer {
    /// Parse a `tokenizer.json` document.
    pub fn from_json(json: &str) -> Result<HfTokenizer, String> {
        let tok: tokenizers::Tokenizer = json.parse().map_err(|e| format!("{e}"))?;
        let mut t = HfTokenizer {
            ascii_road: None,
            stages: None,
            tok,
            byte_char: byte_alphabet(),
            cache: RwLock::new(HashMap::new()),
        };
        if t.count_reference("") != 0 {
            return Err("the tokenizer adds tokens to an empty text".into());
        }
        if let Some(stages) = t.plan_stages() {
            let plain_byte_level = matches!(
                t.tok.get_pre_tokenizer(),
                Some(PreTokenizerWrapper::ByteLevel(bl)) if bl.use_regex && !bl.add_prefix_space
            );
            let added = t.tok.get_added_tokens_decoder();
            // Normalizers that leave ASCII as it is.
            let ascii_identity = matches!(
                t.tok.get_normalizer(),
                None | Some(
                    tokenizers::NormalizerWrapper::NFKC(_)
                        | tokenizers::NormalizerWrapper::NFC(_)
                        | tokenizers::NormalizerWrapper::NFD(_)
                        | tokenizers::NormalizerWrapper::NFKD(_)
                )
            );
            if plain_byte_level && ascii_identity && added.values().all(|a| !a.lstrip && !a.rstrip && !a.single_word && !a.content.is_empty()) {
                t.ascii_road = Some(added.values().map(|a| a.content.clone()).collect());
            }
            t.stages = Some(stages);
            let agree = PROBES.iter().all(|p| t.count(p) == t.count_reference(p));
            if !agree {
                t.stages = None;
            }
            t.cache.write().unwrap().clear();
        }
        Ok(t)
    }

    /// The pre-tokenizer as split stages followed by the byte-level alphabet,
    /// when the pipeline is one this module reproduces.
    fn plan_stages(&self) -> Option<Vec<Stage>> {
        if let Some(pp) = self.tok.get_post_processor() {
            use tokenizers::PostProcessor;
            if pp.added_tokens(false) != 0 {
                return None;
            }
            if !matches!(pp, tokenizers::PostProcessorWrapper::ByteLevel(_)) {
                return None;
            }
        }
        if !matches!(self.tok.get_model(), tokenizers::ModelWrapper::BPE(_)) {
            return None;
        }
        if self.tok.get_truncation().is_some() || self.tok.get_padding().is_some() {
            return None;
        }
        let byte_level = |bl: &tokenizers::pre_tokenizers::byte_level::ByteLevel, stages: &mut Vec<Stage>| -> Option<()> {
            if bl.add_prefix_space {
                return None;
            }
            if bl.use_regex {
                stages.push(Stage::Isolated(SysRegex::new(BYTE_LEVEL_PATTERN).ok()?));
            }
            Some(())
        };
        let mut stages = Vec::new();
        match self.tok.get_pre_tokenizer()? {
            PreTokenizerWrapper::ByteLevel(bl) => byte_level(bl, &mut stages)?,
            PreTokenizerWrapper::Sequence(seq) => {
                let items = seq.as_ref();
                let (last, splits) = items.split_last()?;
                for s in splits {
                    let PreTokenizerWrapper::Split(split) = s else { return None };
                    if split.invert || split.behavior != SplitDelimiterBehavior::Isolated {
                        return None;
                    }
                    let tokenizers::pre_tokenizers::split::SplitPattern::Regex(pattern) = &split.pattern else {
                        return None;
                    };
                    stages.push(Stage::Isolated(SysRegex::new(pattern).ok()?));
                }
                let PreTokenizerWrapper::ByteLevel(bl) = last else { return None };
                byte_level(bl, &mut stages)?;
            }
            _ => return None,
        }
        Some(stages)
    }

    /// `len(tokenizer.encode(text).ids)` through the crate's `encode_fast`.
    pub fn count_reference(&self, text: &str) -> usize {
        match self.tok.encode_fast(text, true) {
            Ok(e) => e.len(),
            Err(_) => usize::MAX,
        }
    }

    /// The parsed tokenizer.
    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.tok
    }

    /// Whether [`count`](Self::count) runs the fast path.
    pub fn is_fast(&self) -> bool {
        self.stages.is_some()
    }

    /// `len(tokenizer.encode(text).ids)`.
    pub fn count(&self, text: &str) -> usize {
        let Some(stages) = &self.stages else { return self.count_reference(text) };
        if text.is_empty() {
            return 0;
        }
        if let Some(added) = &self.ascii_road {
            if text.is_ascii() && !added.iter().any(|a| text.contains(a.as_str())) {
                return match self.count_ascii(text) {
                    Some(n) => n,
                    None => self.count_reference(text),
                };
            }
        }
        let normalized = self
            .tok
            .get_added_vocabulary()
            .extract_and_normalize(self.tok.get_normalizer(), text);
        let mut total = 0usize;
        let mut buf = String::new();
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let mut next: Vec<(usize, usize)> = Vec::new();
        for (s, _, tokens) in normalized.get_splits(OffsetReferential::Normalized, OffsetType::None) {
            if let Some(tokens) = tokens {
                total += tokens.len();
                continue;
            }
            pieces.clear();
            pieces.push((0, s.len()));
            for Stage::Isolated(re) in stages {
                next.clear();
                for &(a, b) in &pieces {
                    if a == b {
                        continue;
                    }
                    let Ok(found) = (&re).find_matches(&s[a..b]) else { return self.count_reference(text) };
                    next.extend(found.into_iter().map(|((x, y), _)| (a + x, a + y)).filter(|(x, y)| x < y));
                }
                std::mem::swap(&mut pieces, &mut next);
            }
            for &(a, b) in &pieces {
                let piece = &s[a..b];
                buf.clear();
                for &byte in piece.as_bytes() {
                    buf.push(self.byte_char[byte as usize]);
                }
                match self.piece_count(&buf) {
                    Some(n) => total += n,
                    None => return self.count_reference(text),
                }
            }
        }
        total
    }

    /// ASCII text without added tokens on the plain ByteLevel pipeline.
    fn count_ascii(&self, text: &str) -> Option<usize> {
        let mut total = 0usize;
        let mut buf = String::with_capacity(32);
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let end = ascii_piece_end(bytes, at);
            buf.clear();
            for &byte in &bytes[at..end] {
                buf.push(self.byte_char[byte as usize]);
            }
            total += self.piece_count(&buf)?;
            at = end;
        }
        Some(total)
    }

    fn piece_count(&self, word: &str) -> Option<usize> {
        let cacheable = word.len() <= CACHE_MAX_PIECE;
        if cacheable {
            if let Some(&n) = self.cache.read().unwrap().get(word) {
                return Some(n as usize);
            }
        }
        let n = self.tok.get_model().tokenize(word).ok()?.len();
        if cacheable {
            let mut c = self.cache.write().unwrap();
            if c.len() < CACHE_CAPACITY {
                c.insert(word.into(), n as u32);
            }
        }
        Some(n)
    }
}

/// `\s` of the pattern on ASCII (Unicode White_Space: TAB, LF, VT, FF, CR, space).
#[inline]
fn ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// `[^\s\p{L}\p{N}]` on ASCII.
#[inline]
fn ascii_other(b: u8) -> bool {
    !ascii_space(b) && !b.is_ascii_alphanumeric()
}

/// End of the GPT-2 pattern's match starting at `i` (leftmost-first alternation,
/// as the regex engine takes it) on ASCII input:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
/// On ASCII every position starts a match, so the pieces tile the text.
fn ascii_piece_end(b: &[u8], i: usize) -> usize {
    let n = b.len();
    let run = |mut j: usize, f: fn(u8) -> bool| {
        while j < n && f(b[j]) {
            j += 1;
        }
        j
    };
    let c = b[i];
    if c == b'\'' && i + 1 < n {
        match b[i + 1] {
            b's' | b't' | b'm' | b'd' => return i + 2,
            b'r' | b'v' if i + 2 < n && b[i + 2] == b'e' => return i + 3,
            b'l' if i + 2 < n && b[i + 2] == b'l' => return i + 3,
            _ => {}
        }
    }
    // ` ?X+` for the three classes: the optional space first, then the class run.
    let start = if c == b' ' && i + 1 < n && !ascii_space(b[i + 1]) { i + 1 } else { i };
    let d = b[start];
    if d.is_ascii_alphabetic() {
        return run(start, |x| x.is_ascii_alphabetic());
    }
    if d.is_ascii_digit() {
        return run(start, |x| x.is_ascii_digit());
    }
    if ascii_other(d) {
        return run(start, ascii_other);
    }
    // Whitespace: `\s+(?!\S)` backs off one before a non-space, else `\s+`.
    let j = run(i, ascii_space);
    if j == n || j - i == 1 {
        j
    } else {
        j - 1
    }
}

static LOADED: Mutex<Option<HashMap<u64, Arc<HfTokenizer>>>> = Mutex::new(None);

/// The tokenizer for this JSON document, parsed on first use.
pub fn load(json: &str) -> Result<Arc<HfTokenizer>, String> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut h);
    let key = h.finish();
    if let Some(t) = LOADED.lock().unwrap().as_ref().and_then(|m| m.get(&key)) {
        return Ok(t.clone());
    }
    let t = Arc::new(HfTokenizer::from_json(json)?);
    LOADED.lock().unwrap().get_or_insert_with(HashMap::new).entry(key).or_insert(t.clone());
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII scanner against the crate's regex engine on the same pattern.
    #[test]
    fn ascii_scanner_matches_regex() {
        let re = SysRegex::new(BYTE_LEVEL_PATTERN).unwrap();
        let alphabet: &[u8] = b"ab Z9 0'srtvemld'\t\n\r\x0b\x0c\x00\x1f\x7f!?.,-_<>|'  ";
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..50000 {
            let len = next() % 24 + 1;
            let s: String = (0..len).map(|_| alphabet[next() % alphabet.len()] as char).collect();
            let want: Vec<(usize, usize)> = (&re).find_matches(&s).unwrap().into_iter().map(|(o, _)| o).collect();
            let mut got = Vec::new();
            let mut at = 0;
            while at < s.len() {
                let e = ascii_piece_end(s.as_bytes(), at);
                got.push((at, e));
                at = e;
            }
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn byte_alphabet_is_a_bijection() {
        let a = byte_alphabet();
        let set: std::collections::HashSet<char> = a.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(a[b'a' as usize], 'a');
        assert_eq!(a[b' ' as usize], '\u{120}');
    }
}
