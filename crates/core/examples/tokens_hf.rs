//! Time the HuggingFace tokenizer paths on the Anthropic JSON:
//! `cargo run --release -p fast-litellm-core --example tokens_hf -- path/to/anthropic_tokenizer.json`
use fast_litellm_core::tokens::hf;
use std::time::Instant;

const WORDS: &[&str] = &[
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "token", "counting", "request", "path",
    "context", "window", "limit", "cost", "naïve", "café", "数据", "模型", "😀", "über",
    "résumé", "12345", "3.14", "<tag>", "{json: true}", "snake_case", "CamelCase",
];

fn text(n: usize, mut seed: u64) -> String {
    let mut s = String::new();
    while s.chars().count() < n {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        s.push_str(WORDS[(seed >> 33) as usize % WORDS.len()]);
        s.push(if (seed >> 20) % 20 == 0 { '\n' } else { ' ' });
    }
    s.chars().take(n).collect()
}

fn time_us(f: &dyn Fn() -> usize) -> (f64, usize) {
    let r = f();
    let mut iters = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..iters { std::hint::black_box(f()); }
        let e = t.elapsed().as_secs_f64();
        if e > 0.2 { return (e / iters as f64 * 1e6, r); }
        iters *= 2;
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("json path");
    let json = std::fs::read_to_string(path).unwrap();
    let t0 = Instant::now();
    let tok = hf::load(&json).unwrap();
    println!("load {:.1} ms fast={}", t0.elapsed().as_secs_f64() * 1e3, tok.is_fast());
    for n in [20usize, 100, 1000, 10000, 20000, 100000] {
        let s = text(n, 7);
        let (a, ca) = time_us(&|| tok.count_reference(&s));
        let (b, cb) = time_us(&|| tok.count(&s));
        if std::env::var("COMPONENTS").is_ok() { components(tok.tokenizer(), &s); }
        if std::env::var("PARTS").is_ok() { parts(tok.tokenizer(), &s); }
        println!("{n:>7} chars: reference {a:>10.1} us ({ca})   count {b:>10.1} us ({cb})");
    }
}

#[allow(dead_code)]
pub fn components(tok: &tokenizers::Tokenizer, s: &str) {
    use tokenizers::{Model, NormalizedString, Normalizer, PreTokenizedString, PreTokenizer, OffsetReferential, OffsetType};
    let norm = tok.get_normalizer().unwrap();
    let pre = tok.get_pre_tokenizer().unwrap();
    let model = tok.get_model();
    let (a, _) = time_us(&|| { let mut n = NormalizedString::from(s); norm.normalize(&mut n).unwrap(); n.get().len() });
    let mut n = NormalizedString::from(s); norm.normalize(&mut n).unwrap();
    let normed = n.get().to_string();
    let (b, _) = time_us(&|| { let mut p = PreTokenizedString::from(normed.as_str()); pre.pre_tokenize(&mut p).unwrap(); p.get_splits(OffsetReferential::Original, OffsetType::None).len() });
    let mut p = PreTokenizedString::from(normed.as_str()); pre.pre_tokenize(&mut p).unwrap();
    let words: Vec<String> = p.get_splits(OffsetReferential::Original, OffsetType::None).into_iter().map(|(w, _, _)| w.to_string()).collect();
    let (c, _) = time_us(&|| words.iter().map(|w| model.tokenize(w).unwrap().len()).sum());
    println!("   normalize {a:.1} us, pre_tokenize {b:.1} us, model {c:.1} us over {} words", words.len());
}

#[allow(dead_code)]
pub fn parts(tok: &tokenizers::Tokenizer, s: &str) {
    use tokenizers::pattern::Pattern;
    let re = tokenizers::utils::SysRegex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+").unwrap();
    let (a, _) = time_us(&|| tok.get_added_vocabulary().extract_and_normalize(tok.get_normalizer(), s).get_splits(tokenizers::OffsetReferential::Normalized, tokenizers::OffsetType::None).len());
    let (b, n) = time_us(&|| (&re).find_matches(s).unwrap().len());
    let fre = fancy_regex::Regex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+").unwrap();
    let (c, m) = time_us(&|| fre.find_iter(s).count());
    println!("   extract_and_normalize {a:.1} us, onig regex {b:.1} us ({n}), fancy {c:.1} us ({m})");
}
