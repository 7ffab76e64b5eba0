//! Time the HuggingFace tokenizer paths on the Anthropic JSON:
//! `cargo run --release -p fast-litellm-core --example tokens_hf -- path/to/anthropic_tokenizer.json`
use fast_litellm_core::tokens::hf;
use std::time::Instant;

mod common;
use common::{median_us, text};

fn main() {
    let path = std::env::args().nth(1).expect("json path");
    let json = std::fs::read_to_string(path).unwrap();
    let t0 = Instant::now();
    let tok = hf::load(&json).unwrap();
    println!("load {:.1} ms fast={}", t0.elapsed().as_secs_f64() * 1e3, tok.is_fast());
    for n in [20usize, 100, 1000, 10000, 20000, 100000] {
        let s = text(n, 7);
        let (a, ca) = median_us(&|| tok.count_reference(&s));
        let (b, cb) = median_us(&|| tok.count(&s));
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
    let (a, _) = median_us(&|| { let mut n = NormalizedString::from(s); norm.normalize(&mut n).unwrap(); n.get().len() });
    let mut n = NormalizedString::from(s); norm.normalize(&mut n).unwrap();
    let normed = n.get().to_string();
    let (b, _) = median_us(&|| { let mut p = PreTokenizedString::from(normed.as_str()); pre.pre_tokenize(&mut p).unwrap(); p.get_splits(OffsetReferential::Original, OffsetType::None).len() });
    let mut p = PreTokenizedString::from(normed.as_str()); pre.pre_tokenize(&mut p).unwrap();
    let words: Vec<String> = p.get_splits(OffsetReferential::Original, OffsetType::None).into_iter().map(|(w, _, _)| w.to_string()).collect();
    let (c, _) = median_us(&|| words.iter().map(|w| model.tokenize(w).unwrap().len()).sum());
    println!("   normalize {a:.1} us, pre_tokenize {b:.1} us, model {c:.1} us over {} words", words.len());
}

#[allow(dead_code)]
pub fn parts(tok: &tokenizers::Tokenizer, s: &str) {
    use tokenizers::pattern::Pattern;
    let re = tokenizers::utils::SysRegex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+").unwrap();
    let (a, _) = median_us(&|| tok.get_added_vocabulary().extract_and_normalize(tok.get_normalizer(), s).get_splits(tokenizers::OffsetReferential::Normalized, tokenizers::OffsetType::None).len());
    let (b, n) = median_us(&|| (&re).find_matches(s).unwrap().len());
    let fre = fancy_regex::Regex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+").unwrap();
    let (c, m) = median_us(&|| fre.find_iter(s).count());
    println!("   extract_and_normalize {a:.1} us, onig regex {b:.1} us ({n}), fancy {c:.1} us ({m})");
}
