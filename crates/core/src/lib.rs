//! Fast LiteLLM's core: the algorithms the Python patches and the Rust proxy
//! front share. Nothing here knows about Python; `crates/python` is the thin
//! PyO3 layer that converts arguments and releases the GIL.

/// Version of the core crate, reported by `fast-litellm doctor`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod audit;
pub mod cost;
pub mod ratelimit;
pub mod route_select;
pub mod tokens;
pub mod transport;
