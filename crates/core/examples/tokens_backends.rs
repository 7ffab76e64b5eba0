//! Compare the BPE backends on our workloads:
//! `cargo run --release -p fast-litellm-core --example tokens_backends`
use fast_litellm_core::tokens::{count_with, Backend, Encoding};
use std::time::Instant;

const WORDS: &[&str] = &[
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "token", "counting", "request", "path",
    "context", "window", "limit", "cost", "stream", "response", "router", "proxy", "model", "message", "system",
    "user", "assistant", "tool", "call", "function", "arguments", "naïve", "café", "数据", "模型", "😀", "über",
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

fn median_us(f: &dyn Fn() -> usize) -> (f64, usize) {
    let r = f();
    let mut iters = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..iters { std::hint::black_box(f()); }
        if t.elapsed().as_secs_f64() > 0.02 { break; }
        iters *= 2;
    }
    let mut v: Vec<f64> = (0..9).map(|_| {
        let t = Instant::now();
        for _ in 0..iters { std::hint::black_box(f()); }
        t.elapsed().as_secs_f64() * 1e6 / iters as f64
    }).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[4], r)
}

fn main() {
    println!("| encoding | chars | tiktoken-rs us | bpe-openai us | bpe-openai + piece lookup us (ours) | tiktoken-rs / ours | tokens |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for enc in [Encoding::Cl100kBase, Encoding::O200kBase] {
        count_with(Backend::Bpe, enc, "warm");
        count_with(Backend::Tiktoken, enc, "warm");
        count_with(Backend::BpePlain, enc, "warm");
        for n in [10usize, 100, 1_000, 10_000, 100_000] {
            let t = text(n, 7);
            let (tk, a) = median_us(&|| count_with(Backend::Tiktoken, enc, &t));
            let (bp, b) = median_us(&|| count_with(Backend::BpePlain, enc, &t));
            let (us, c) = median_us(&|| count_with(Backend::Bpe, enc, &t));
            assert_eq!(a, b);
            assert_eq!(a, c);
            println!("| {} | {} | {:.2} | {:.2} | {:.2} | {:.2}x | {} |", enc.name(), n, tk, bp, us, tk / us, a);
        }
    }
}
