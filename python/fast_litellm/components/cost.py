"""Cost calculation (litellm.completion_cost / cost_per_token) in Rust. Work in progress: no patch yet."""

PATCHES: list = []
BENCHMARKS: list = []
