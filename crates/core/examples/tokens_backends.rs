//! Compare the BPE backends on our workloads:
//! `cargo run --release -p fast-litellm-core --example tokens_backends`
use fast_litellm_core::tokens::{count_with, Backend, Encoding};

mod common;
use common::{median_us, text};

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
