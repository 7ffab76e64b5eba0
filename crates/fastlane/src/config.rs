//! What the launcher hands the front, as JSON: its addresses, the format to replicate,
//! the model groups it may serve and their deployments, and its settings.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{claude_chat, conn, providers, router, upstream_tls, Format};

/// One deployment the front may call: an OpenAI wire-format endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// `model_info.id` as the running Python proxy reports it (`/model/info`).
    pub id: String,
    /// `litellm_params.model`, e.g. `openai/gpt-4o-mini`.
    pub model: String,
    /// The model name sent upstream (`model` without the `openai/` prefix).
    pub upstream_model: String,
    /// `litellm_params.api_base` (http or https, no query, no trailing slash).
    pub api_base: String,
    pub api_key: String,
    /// Per-token rates from LiteLLM's price map for `upstream_model`.
    pub input_cost_per_token: f64,
    pub output_cost_per_token: f64,
    /// How LiteLLM verifies an `https://` api_base (`upstream_tls.rs`); `None` for `http://`.
    #[serde(default)]
    pub tls: Option<upstream_tls::Trust>,
    /// How LiteLLM calls the upstream (`providers.rs`); absent: `openai/`.
    #[serde(default)]
    pub provider: providers::Provider,
}

/// What the launcher hands over, as JSON. Built in Python from LiteLLM's own view.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Public address, e.g. `0.0.0.0:4000`.
    pub listen: String,
    /// The Python proxy, e.g. `127.0.0.1:41234`.
    pub backend: String,
    /// Response format to replicate; `None`: pass everything through.
    pub format: Option<Format>,
    /// `x-litellm-version`.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub master_key: Option<String>,
    /// Model group name -> its deployments (every one eligible, else the group is absent).
    #[serde(default)]
    pub groups: HashMap<String, Vec<Deployment>>,
    /// Model group name -> its `openai/` embedding deployments (served on the embeddings
    /// routes only, see `embeddings.rs`).
    #[serde(default)]
    pub embedding_groups: HashMap<String, Vec<Deployment>>,
    /// Deployment id -> what LiteLLM prices an `openai/` answer's cached/reasoning tokens and
    /// service tier with (`answer_shapes::Pricing`); absent: such answers go to LiteLLM.
    #[serde(default)]
    pub answer_pricing: HashMap<String, crate::answer_shapes::Pricing>,
    /// `anthropic/` model groups, served on `/v1/messages` only (`anthropic.rs`).
    #[serde(default)]
    pub anthropic: HashMap<String, Vec<Deployment>>,
    /// Deployment id -> what chat completions to that `anthropic/` deployment need
    /// (`claude_chat.rs`); a deployment absent here: LiteLLM answers them.
    #[serde(default)]
    pub claude_chat: HashMap<String, claude_chat::ChatDefaults>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Serve streaming requests too (the launcher's default; `FAST_LITELLM_FAST_LANE_STREAMS=0`
    /// turns it off). A stream that leaves the verified shape after its first bytes went out
    /// can only be cut, not replayed: counted in `Stats::aborted_by_reason`.
    #[serde(default)]
    pub streams: bool,
    /// Capacity of the logging queue; `Some`: every request served in Rust leaves a
    /// record for LiteLLM's success logging (then streams go to Python: their records
    /// are not built yet).
    #[serde(default)]
    pub log_queue: Option<usize>,
    /// When the logging queue is full: `false` serve anyway and drop the record (counted),
    /// `true` send the request to LiteLLM (which logs it itself): nothing is lost, at
    /// LiteLLM's speed for that request.
    #[serde(default)]
    pub log_full_to_python: bool,
    /// Router settings (timeout, cooldown window, fallback links); `None`: none applied.
    #[serde(default)]
    pub router: Option<router::RouterConfig>,
    /// The launch secret the proxy behind checks on a request carrying a held upstream
    /// answer (`held.rs`) and on the peer header (`forwarded.rs`); `None`: answers out of
    /// the envelope are replayed (a second call) and no peer header is sent (LiteLLM then
    /// sees the front's address).
    #[serde(default)]
    pub secret: Option<String>,
    /// Connection limits and timeouts (see `conn.rs`).
    #[serde(default)]
    pub conn: conn::Limits,
}
