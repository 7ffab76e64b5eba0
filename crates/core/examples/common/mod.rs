//! What the timing examples share: a generated text of n characters and a median timer.
use std::time::Instant;

const WORDS: &[&str] = &[
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "token", "counting", "request", "path",
    "context", "window", "limit", "cost", "stream", "response", "router", "proxy", "model", "message", "system",
    "user", "assistant", "tool", "call", "function", "arguments", "naïve", "café", "数据", "模型", "😀", "über",
    "résumé", "12345", "3.14", "<tag>", "{json: true}", "snake_case", "CamelCase",
];

pub fn text(n: usize, mut seed: u64) -> String {
    let mut s = String::new();
    while s.chars().count() < n {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        s.push_str(WORDS[(seed >> 33) as usize % WORDS.len()]);
        s.push(if (seed >> 20) % 20 == 0 { '\n' } else { ' ' });
    }
    s.chars().take(n).collect()
}

pub fn median_us(f: &dyn Fn() -> usize) -> (f64, usize) {
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
