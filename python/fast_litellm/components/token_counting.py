"""Token counting (litellm.token_counter) in Rust. Work in progress: no patch yet."""

PATCHES: list = []
BENCHMARKS: list = []
