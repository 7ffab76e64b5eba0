//! Token counting: the BPE encodings LiteLLM's `token_counter` selects for
//! OpenAI models (`cl100k_base`, `o200k_base`) and the arithmetic around them.
//!
//! Counting is "ordinary" encoding: special-token text such as `<|endoftext|>`
//! is tokenized as plain text, which is what `encode(text, disallowed_special=())`
//! does in tiktoken and what LiteLLM asks for.
//!
//! Backend: `bpe-openai` (GitHub's rust-gems), chosen over `tiktoken-rs` by
//! measurement (see `docs/benchmarks/token-counting.md`); `tiktoken-rs` stays available as
//! [`Backend::Tiktoken`] for the comparison benchmark and as a cross-check in
//! tests. Both embed their vocabularies, so nothing is fetched at run time.
//!
//! LiteLLM versions differ in how a string is counted ([`CountMode`]):
//! 1.83.14 counts the whole string at once; 1.110.2 counts it in chunks of
//! `TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS` code points and sums the chunks, and
//! extrapolates from samples above `TOKEN_COUNTER_MAX_EXACT_CHARS` (that last
//! case is reported as not covered, so the caller hands it to LiteLLM).
//!
//! Models LiteLLM counts with a HuggingFace tokenizer it bundles (the Anthropic
//! tokenizer JSON; DeepSeek's on 1.110) are counted by [`hf`]; [`Counter`] is
//! either kind, and the accounting functions below take one.

pub mod hf;
pub mod image;

use rayon::prelude::*;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock};

/// The tiktoken encodings counted natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Cl100kBase,
    O200kBase,
}

impl Encoding {
    pub fn from_name(name: &str) -> Option<Encoding> {
        match name {
            "cl100k_base" => Some(Encoding::Cl100kBase),
            "o200k_base" => Some(Encoding::O200kBase),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
        }
    }
}

/// What counts a string: a tiktoken encoding or a loaded HuggingFace tokenizer.
#[derive(Clone)]
pub enum Counter {
    Bpe(Encoding),
    Hf(Arc<hf::HfTokenizer>),
}

impl From<Encoding> for Counter {
    fn from(e: Encoding) -> Counter {
        Counter::Bpe(e)
    }
}

impl Counter {
    /// Tokens of one whole string.
    pub fn count_exact(&self, text: &str) -> usize {
        match self {
            Counter::Bpe(e) => count_exact(*e, text),
            Counter::Hf(t) => {
                if text.is_empty() {
                    0
                } else {
                    t.count(text)
                }
            }
        }
    }

    /// Tokens of one whole string, long ones on several threads when the
    /// split is known to be exact (tiktoken encodings only).
    fn count_whole(&self, text: &str) -> usize {
        match self {
            Counter::Bpe(e) => count_whole(*e, text),
            Counter::Hf(_) => self.count_exact(text),
        }
    }

    /// Loads what is lazily loaded now rather than on the first count.
    pub fn warm_up(&self) {
        self.count_exact("warm up");
    }
}

/// Which BPE implementation counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `bpe-openai` with a whole-piece hash lookup (the production backend).
    Bpe,
    /// `bpe-openai` as published (`Tokenizer::count`).
    BpePlain,
    /// `tiktoken-rs` (kept for the comparison and cross-checks).
    Tiktoken,
}

/// `bpe-openai` plus a whole-piece lookup: most pre-tokenizer pieces are a
/// single token, which a hash probe answers without running the BPE encoder
/// (the same shortcut tiktoken takes).
struct Fast {
    tok: &'static bpe_openai::Tokenizer,
    single: HashSet<&'static [u8], BuildHasherDefault<FxHasher>>,
    max_len: usize,
}

impl Fast {
    fn new(tok: &'static bpe_openai::Tokenizer) -> Fast {
        let n = tok.bpe.num_tokens();
        let mut single = HashSet::with_capacity_and_hasher(n, BuildHasherDefault::<FxHasher>::default());
        let mut max_len = 0;
        for id in 0..n as u32 {
            let b = tok.bpe.token_bytes(id);
            max_len = max_len.max(b.len());
            single.insert(b);
        }
        Fast { tok, single, max_len }
    }

    fn count(&self, text: &str) -> usize {
        self.tok
            .split(text)
            .map(|piece| {
                let b = piece.as_bytes();
                if b.len() <= self.max_len && self.single.contains(b) {
                    1
                } else {
                    self.tok.bpe.count(b)
                }
            })
            .sum()
    }
}

/// A small multiplicative hasher for byte strings (FxHash's mixing step).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            h = (h.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
        self.0 = h;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

static FAST_CL100K: LazyLock<Fast> = LazyLock::new(|| Fast::new(bpe_openai::cl100k_base()));
static FAST_O200K: LazyLock<Fast> = LazyLock::new(|| Fast::new(bpe_openai::o200k_base()));

/// Number of tokens of `text` encoded as ordinary text (no special tokens).
pub fn count_with(backend: Backend, enc: Encoding, text: &str) -> usize {
    if text.is_empty() {
        return 0;
    }
    match (backend, enc) {
        (Backend::Bpe, Encoding::Cl100kBase) => FAST_CL100K.count(text),
        (Backend::Bpe, Encoding::O200kBase) => FAST_O200K.count(text),
        (Backend::BpePlain, Encoding::Cl100kBase) => bpe_openai::cl100k_base().count(text),
        (Backend::BpePlain, Encoding::O200kBase) => bpe_openai::o200k_base().count(text),
        (Backend::Tiktoken, Encoding::Cl100kBase) => {
            tiktoken_rs::cl100k_base_singleton().encode_ordinary(text).len()
        }
        (Backend::Tiktoken, Encoding::O200kBase) => {
            tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len()
        }
    }
}

/// Whole-string count with the production backend.
#[inline]
pub fn count_exact(enc: Encoding, text: &str) -> usize {
    count_with(Backend::Bpe, enc, text)
}

/// Loads the vocabularies now rather than on the first count.
pub fn warm_up(enc: Encoding) {
    count_exact(enc, "warm up");
}

/// How one string is counted, per LiteLLM version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountMode {
    /// Count in chunks of this many code points and sum (0: whole string).
    pub chunk_chars: usize,
    /// Strings longer than this many code points are not counted exactly by
    /// LiteLLM (it extrapolates); 0 means no limit.
    pub max_exact_chars: usize,
}

impl CountMode {
    pub const WHOLE: CountMode = CountMode { chunk_chars: 0, max_exact_chars: 0 };
}

/// Above this many bytes a single string is cut into slabs counted on
/// several threads.
const PARALLEL_BYTES: usize = 16 * 1024;

/// Whether a piece boundary of both encodings' pre-tokenizers is guaranteed at
/// byte `p`: an ASCII letter, then a space, then an ASCII letter. No pattern of
/// cl100k_base or o200k_base lets a piece run from a letter across a space, and
/// the piece starting at the space (" word") is matched from `p` alone, so the
/// text splits there without changing any piece, hence any token.
fn safe_cut(bytes: &[u8], p: usize) -> bool {
    p >= 1 && p + 1 < bytes.len() && bytes[p] == b' ' && bytes[p - 1].is_ascii_alphabetic() && bytes[p + 1].is_ascii_alphabetic()
}

fn count_whole(enc: Encoding, text: &str) -> usize {
    let threads = rayon::current_num_threads();
    if text.len() < PARALLEL_BYTES || threads < 2 {
        return count_exact(enc, text);
    }
    let bytes = text.as_bytes();
    let slabs_wanted = threads * 2;
    let target = text.len() / slabs_wanted;
    let mut cuts = vec![0usize];
    for k in 1..slabs_wanted {
        let want = k * target;
        // Look for a safe cut in a window after the ideal position.
        let end = (want + target / 2).min(bytes.len());
        if let Some(p) = (want.max(*cuts.last().unwrap() + 1)..end).find(|&p| safe_cut(bytes, p)) {
            cuts.push(p);
        }
    }
    cuts.push(text.len());
    if cuts.len() == 2 {
        return count_exact(enc, text);
    }
    let slabs: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    slabs.par_iter().map(|&(a, b)| count_exact(enc, &text[a..b])).sum()
}

/// Count one string as LiteLLM's counting function would; `None` when the
/// string is past the exact-count limit (LiteLLM would extrapolate).
pub fn count_str(enc: &Counter, mode: CountMode, text: &str) -> Option<usize> {
    if mode.chunk_chars == 0 {
        if mode.max_exact_chars != 0 && text.len() > mode.max_exact_chars && text.chars().count() > mode.max_exact_chars {
            return None;
        }
        return Some(enc.count_whole(text));
    }
    if text.len() <= mode.chunk_chars {
        // bytes >= code points, so this is one chunk
        return Some(enc.count_exact(text));
    }
    let mut bounds: Vec<usize> = Vec::with_capacity(text.len() / mode.chunk_chars + 2);
    bounds.push(0);
    let mut n = 0usize;
    for (i, _) in text.char_indices() {
        if n != 0 && n % mode.chunk_chars == 0 && *bounds.last().unwrap() != i {
            bounds.push(i);
        }
        n += 1;
    }
    if mode.max_exact_chars != 0 && n > mode.max_exact_chars {
        return None;
    }
    bounds.push(text.len());
    let chunks: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    if text.len() >= PARALLEL_BYTES && rayon::current_num_threads() > 1 {
        Some(chunks.par_iter().map(|c| enc.count_exact(c)).sum())
    } else {
        Some(chunks.iter().map(|c| enc.count_exact(c)).sum())
    }
}

/// One piece of a request's accounting: text to tokenize or a fixed number.
#[derive(Clone, Debug)]
pub enum Piece<S> {
    Text(S),
    Tokens(i64),
}

/// Sum a request's pieces; `None` if any text is not counted exactly.
pub fn count_pieces<S: AsRef<str>>(enc: &Counter, mode: CountMode, pieces: &[Piece<S>]) -> Option<i64> {
    let mut total = 0i64;
    for p in pieces {
        match p {
            Piece::Text(s) => total += count_str(enc, mode, s.as_ref())? as i64,
            Piece::Tokens(n) => total += *n,
        }
    }
    Some(total)
}

/// Count many requests on every core.
pub fn count_batch<S: AsRef<str> + Sync>(
    enc: &Counter,
    mode: CountMode,
    requests: &[Option<Vec<Piece<S>>>],
) -> Vec<Option<i64>> {
    requests
        .par_iter()
        .map(|r| r.as_ref().and_then(|p| count_pieces(enc, mode, p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "hello world",
        "Hey, how's it going?",
        "  leading and trailing spaces   ",
        "tabs\tand\nnewlines\r\n\r\n  end",
        "<|endoftext|> is special text <|fim_prefix|>",
        "数学是研究数量、结构以及空间等概念的一门学科。",
        "👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, e\u{301} combining, zero\u{200b}width",
        "1234567890 3.14159 0xDEADBEEF",
        "I'M SHOUTING'S AND WE'LL see",
        "                                                              ",
    ];

    #[test]
    fn backends_agree() {
        for enc in [Encoding::Cl100kBase, Encoding::O200kBase] {
            for s in SAMPLES {
                assert_eq!(count_with(Backend::Bpe, enc, s), count_with(Backend::Tiktoken, enc, s), "{enc:?} {s:?}");
                assert_eq!(count_with(Backend::BpePlain, enc, s), count_with(Backend::Tiktoken, enc, s), "{enc:?} {s:?}");
            }
        }
    }

    #[test]
    fn known_counts() {
        assert_eq!(count_exact(Encoding::Cl100kBase, "hello world"), 2);
        assert_eq!(count_exact(Encoding::O200kBase, "hello world"), 2);
        assert_eq!(count_exact(Encoding::Cl100kBase, ""), 0);
    }

    #[test]
    fn parallel_split_is_exact() {
        let long: String = SAMPLES.iter().cycle().take(4000).cloned().collect::<Vec<_>>().join(" ");
        for enc in [Encoding::Cl100kBase, Encoding::O200kBase] {
            assert_eq!(count_whole(enc, &long), count_with(Backend::Tiktoken, enc, &long));
        }
    }

    #[test]
    fn chunked_counts_sum_chunks() {
        let long: String = "héllo wörld ".repeat(300);
        let mode = CountMode { chunk_chars: 1024, max_exact_chars: 0 };
        let chars: Vec<char> = long.chars().collect();
        let expected: usize = chars
            .chunks(1024)
            .map(|c| count_exact(Encoding::Cl100kBase, &c.iter().collect::<String>()))
            .sum();
        let c = Counter::from(Encoding::Cl100kBase);
        assert_eq!(count_str(&c, mode, &long), Some(expected));
        let limited = CountMode { chunk_chars: 1024, max_exact_chars: 100 };
        assert_eq!(count_str(&c, limited, &long), None);
    }
}
