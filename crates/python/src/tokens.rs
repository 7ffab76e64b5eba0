//! Bindings for the tokens component: read LiteLLM's `token_counter` inputs
//! (message dicts, content parts, tool calls) straight from the Python objects,
//! collect the strings to tokenize and the fixed token amounts, then count with
//! the GIL released for long inputs.
//!
//! The walk mirrors `litellm.litellm_core_utils.token_counter._count_messages`
//! of the two pinned LiteLLM lines ([`Flavor`]). Whatever it does not reproduce
//! exactly (unusual types, inputs LiteLLM rejects with an exception, images it
//! would download or measure, Anthropic blocks, ...) makes it answer `None`,
//! and the Python side hands the call to LiteLLM unchanged.

use fast_litellm_core::tokens::image::{self, ImageConfig};
use fast_litellm_core::tokens::hf;
use fast_litellm_core::tokens::{self, CountMode, Counter, Encoding, Piece};
use std::sync::Arc;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// Which LiteLLM accounting to mirror.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// 1.83.x: `tool_calls` without `arguments` counts `str([])`; `function_call`
    /// is an ordinary key; content parts: text, image_url, thinking.
    V1,
    /// 1.110.x: `function_call` arguments counted, missing arguments count "";
    /// content-part text is `str(x or "")`; more block types.
    V2,
}

/// Answer "not covered" from inside the walk.
macro_rules! nc {
    () => {
        return Ok(false)
    };
}

/// Long inputs are counted with the GIL released.
const RELEASE_GIL_BYTES: usize = 2048;

#[pyclass(frozen, module = "fast_litellm._native")]
pub struct TokenPlan {
    counter: Counter,
    mode: CountMode,
    flavor: Flavor,
    per_message: i64,
    per_name: i64,
    default_image_tokens: i64,
    /// LiteLLM's image constants; `None`: images that need measuring are not covered.
    image: Option<ImageConfig>,
}

struct Walk {
    pieces: Vec<Piece<String>>,
    bytes: usize,
    has_system: bool,
}

impl Walk {
    fn new() -> Self {
        Walk { pieces: Vec::with_capacity(8), bytes: 0, has_system: false }
    }
    fn text(&mut self, s: String) {
        if !s.is_empty() {
            self.bytes += s.len();
            self.pieces.push(Piece::Text(s));
        }
    }
    fn tokens(&mut self, n: i64) {
        if n != 0 {
            self.pieces.push(Piece::Tokens(n));
        }
    }
}

/// `str(obj)` as Python computes it.
fn py_str(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    Ok(obj.str()?.to_cow()?.into_owned())
}

fn key_is(key: &Option<std::borrow::Cow<'_, str>>, name: &str) -> bool {
    matches!(key, Some(k) if k == name)
}

impl TokenPlan {
    /// Walk one `messages` list; `Ok(false)` means not covered.
    fn walk_messages(&self, messages: &Bound<'_, PyAny>, use_default_image: bool, w: &mut Walk) -> PyResult<bool> {
        let Ok(list) = messages.downcast_exact::<PyList>() else { nc!() };
        for message in list.iter() {
            let Ok(dict) = message.downcast_exact::<PyDict>() else { nc!() };
            w.tokens(self.per_message);
            for (key, value) in dict.iter() {
                if value.is_none() {
                    continue;
                }
                let key_s = match key.downcast_exact::<PyString>() {
                    Ok(k) => Some(k.to_cow()?),
                    Err(_) => {
                        // Only `isinstance(value, str)` can match a non-str key.
                        if let Ok(s) = value.downcast::<PyString>() {
                            w.text(s.to_cow()?.into_owned());
                        }
                        continue;
                    }
                };
                if key_is(&key_s, "role") {
                    if let Ok(s) = value.downcast::<PyString>() {
                        let s = s.to_cow()?;
                        if s == "system" {
                            w.has_system = true;
                        }
                        w.text(s.into_owned());
                        continue;
                    }
                    // A non-str role: `== "system"` could be anything.
                    nc!()
                }
                if key_is(&key_s, "tool_calls") {
                    let Ok(calls) = value.downcast_exact::<PyList>() else { nc!() };
                    for call in calls.iter() {
                        let Ok(call) = call.downcast_exact::<PyDict>() else { nc!() };
                        let Some(function) = call.get_item("function")? else { nc!() };
                        let Ok(function) = function.downcast_exact::<PyDict>() else { nc!() };
                        match function.get_item("arguments")? {
                            Some(args) => w.text(py_str(&args)?),
                            None => {
                                if self.flavor == Flavor::V1 {
                                    w.text("[]".to_string());
                                }
                            }
                        }
                    }
                    continue;
                }
                if self.flavor == Flavor::V2 && key_is(&key_s, "function_call") {
                    let Ok(fc) = value.downcast_exact::<PyDict>() else { nc!() };
                    if let Some(args) = fc.get_item("arguments")? {
                        w.text(py_str(&args)?);
                    }
                    continue;
                }
                if let Ok(s) = value.downcast::<PyString>() {
                    w.text(s.to_cow()?.into_owned());
                    if key_is(&key_s, "name") {
                        w.tokens(self.per_name);
                    }
                    continue;
                }
                if key_is(&key_s, "content") {
                    if let Ok(parts) = value.downcast::<PyList>() {
                        if !parts.is_exact_instance_of::<PyList>() {
                            nc!()
                        }
                        if !self.walk_content(parts, use_default_image, w)? {
                            nc!()
                        }
                        continue;
                    }
                    continue;
                }
                if self.flavor == Flavor::V2 {
                    if key_is(&key_s, "provider_specific_fields") {
                        // Counts only `compaction_blocks` summaries; cover the
                        // common case where there are none.
                        let Ok(d) = value.downcast_exact::<PyDict>() else { nc!() };
                        match d.get_item("compaction_blocks")? {
                            Some(b) if b.downcast::<PyList>().is_ok() => nc!(),
                            _ => {}
                        }
                        continue;
                    }
                    if key_is(&key_s, "search_results") && value.downcast::<PyList>().is_ok() {
                        nc!()
                    }
                }
            }
        }
        Ok(true)
    }

    fn walk_content(&self, parts: &Bound<'_, PyList>, use_default_image: bool, w: &mut Walk) -> PyResult<bool> {
        for part in parts.iter() {
            if let Ok(s) = part.downcast::<PyString>() {
                w.text(s.to_cow()?.into_owned());
                continue;
            }
            let Ok(block) = part.downcast_exact::<PyDict>() else { nc!() };
            let Some(ty) = block.get_item("type")? else { nc!() };
            let Ok(ty) = ty.downcast_exact::<PyString>() else { nc!() };
            let ty = ty.to_cow()?;
            match (self.flavor, ty.as_ref()) {
                (Flavor::V1, "text") => match block.get_item("text")? {
                    Some(t) => w.text(py_str(&t)?),
                    None => {}
                },
                (Flavor::V1, "thinking") => {
                    if let Some(t) = block.get_item("thinking")? {
                        w.text(py_str(&t)?);
                    }
                }
                (Flavor::V2, "text" | "thinking" | "redacted_thinking" | "compaction" | "tool_reference") => {
                    let field = match ty.as_ref() {
                        "text" => "text",
                        "compaction" => "content",
                        "tool_reference" => "tool_name",
                        _ => "thinking",
                    };
                    if let Some(t) = block.get_item(field)? {
                        if t.is_truthy()? {
                            w.text(py_str(&t)?);
                        }
                    }
                }
                (_, "image_url") => {
                    let Some(image) = self.image_tokens(block, use_default_image)? else { nc!() };
                    w.tokens(image);
                }
                _ => nc!(),
            }
        }
        Ok(true)
    }

    /// Tokens of an `image_url` block, when counted without looking at the image.
    fn image_tokens(&self, block: &Bound<'_, PyDict>, use_default_image: bool) -> PyResult<Option<i64>> {
        let Some(image) = block.get_item("image_url")? else { return Ok(None) };
        let detail: String;
        let url: Bound<'_, PyAny>;
        if let Ok(d) = image.downcast_exact::<PyDict>() {
            detail = match d.get_item("detail")? {
                None => "auto".to_string(),
                Some(v) => match v.downcast_exact::<PyString>() {
                    Ok(s) => s.to_cow()?.into_owned(),
                    Err(_) => return Ok(None),
                },
            };
            if !matches!(detail.as_str(), "low" | "high" | "auto") {
                return Ok(None); // LiteLLM raises ValueError
            }
            match d.get_item("url")? {
                Some(u) if u.is_truthy()? => url = u,
                _ => return Ok(None), // LiteLLM raises ValueError
            }
        } else if let Ok(s) = image.downcast::<PyString>() {
            let stripped = s.call_method0("strip")?;
            if !stripped.is_truthy()? {
                return Ok(None); // LiteLLM raises ValueError
            }
            detail = "auto".to_string();
            url = image;
        } else {
            return Ok(None);
        }
        if use_default_image {
            return Ok(Some(self.default_image_tokens));
        }
        const BASE: i64 = 85;
        match (self.flavor, detail.as_str()) {
            (_, "low") => return Ok(Some(BASE)),
            (Flavor::V1, "auto") => return Ok(Some(BASE)),
            _ => {}
        }
        // "high" (both lines) and 1.110's "auto" read the image: inline data
        // is measured here; http(s) URLs (a download) are left to LiteLLM.
        let Some(cfg) = self.image else { return Ok(None) };
        let Ok(url) = url.downcast_exact::<PyString>() else { return Ok(None) };
        let url = url.to_cow()?;
        Ok(if detail == "high" {
            image::high_detail_tokens(&url, BASE, &cfg)
        } else {
            image::auto_detail_tokens_v2(&url, BASE, &cfg)
        })
    }

    fn finish(&self, py: Python<'_>, w: Walk, extra: bool, tools_text: Option<String>) -> Option<i64> {
        let (enc, mode) = (&self.counter, self.mode);
        let run = move || -> Option<i64> {
            let mut total = tokens::count_pieces(enc, mode, &w.pieces)?;
            if extra {
                total += 3;
                if let Some(t) = tools_text {
                    total += tokens::count_str(enc, mode, &t)? as i64 + 9;
                    if w.has_system {
                        total -= 4;
                    }
                }
            }
            Some(total)
        };
        if w.bytes >= RELEASE_GIL_BYTES {
            py.allow_threads(run)
        } else {
            run()
        }
    }
}

#[pymethods]
impl TokenPlan {
    #[new]
    #[pyo3(signature = (encoding, flavor, tokens_per_message, tokens_per_name, chunk_chars, max_exact_chars, default_image_tokens, image_config=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        encoding: &Bound<'_, PyAny>,
        flavor: u8,
        tokens_per_message: i64,
        tokens_per_name: i64,
        chunk_chars: usize,
        max_exact_chars: usize,
        default_image_tokens: i64,
        image_config: Option<(i64, i64, i64, i64, i64, i64, i64)>,
    ) -> PyResult<Self> {
        let counter = if let Ok(t) = encoding.downcast::<HfTokenizer>() {
            Counter::Hf(t.get().inner.clone())
        } else {
            let name: String = encoding.extract()?;
            Counter::Bpe(Encoding::from_name(&name).ok_or_else(|| PyValueError::new_err(format!("unsupported encoding {name}")))?)
        };
        let flavor = match flavor {
            1 => Flavor::V1,
            2 => Flavor::V2,
            _ => return Err(PyValueError::new_err("flavor must be 1 or 2")),
        };
        counter.warm_up();
        Ok(TokenPlan {
            counter,
            mode: CountMode { chunk_chars, max_exact_chars },
            flavor,
            per_message: tokens_per_message,
            per_name: tokens_per_name,
            default_image_tokens,
            image: image_config.map(|(dw, dh, short, long, tw, th, max_bytes)| ImageConfig {
                default_width: dw,
                default_height: dh,
                max_short_side: short,
                max_long_side: long,
                tile_width: tw,
                tile_height: th,
                max_bytes,
            }),
        })
    }

    /// The tiktoken encoding name, or `"huggingface"`.
    #[getter]
    fn encoding(&self) -> &'static str {
        match &self.counter {
            Counter::Bpe(e) => e.name(),
            Counter::Hf(_) => "huggingface",
        }
    }

    /// `token_counter(messages=...)`: the count, or `None` if not covered.
    /// `extra` adds the reply primer (and `tools_text`, the formatted tool
    /// definitions, with their fixed overhead).
    #[pyo3(signature = (messages, extra=true, use_default_image=false, tools_text=None))]
    fn count_messages(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        extra: bool,
        use_default_image: bool,
        tools_text: Option<String>,
    ) -> PyResult<Option<i64>> {
        let mut w = Walk::new();
        if !self.walk_messages(messages, use_default_image, &mut w)? {
            return Ok(None);
        }
        Ok(self.finish(py, w, extra, tools_text))
    }

    /// `token_counter(text=...)`: `text` is a str or a list (its str items are
    /// joined); `None` if not covered.
    fn count_text(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let mut w = Walk::new();
        if let Ok(s) = text.downcast::<PyString>() {
            w.text(s.to_cow()?.into_owned());
        } else if let Ok(list) = text.downcast_exact::<PyList>() {
            let mut joined = String::new();
            for item in list.iter() {
                if let Ok(s) = item.downcast::<PyString>() {
                    joined.push_str(&s.to_cow()?);
                }
            }
            w.text(joined);
        } else {
            return Ok(None);
        }
        Ok(self.finish(py, w, false, None))
    }

    /// Many `messages` lists (reply primer included, no tools), counted on
    /// every core with the GIL released. `None` marks a list not covered.
    fn count_batch(&self, py: Python<'_>, requests: &Bound<'_, PyAny>) -> PyResult<Vec<Option<i64>>> {
        let mut all: Vec<Option<Vec<Piece<String>>>> = Vec::new();
        for messages in requests.try_iter()? {
            let messages = messages?;
            let mut w = Walk::new();
            if self.walk_messages(&messages, false, &mut w)? {
                w.pieces.push(Piece::Tokens(3));
                all.push(Some(w.pieces));
            } else {
                all.push(None);
            }
        }
        let (enc, mode) = (&self.counter, self.mode);
        Ok(py.allow_threads(move || tokens::count_batch(enc, mode, &all)))
    }
}

/// A HuggingFace `tokenizer.json` loaded natively (once per document per
/// process), to count the way `len(tokenizers.Tokenizer.encode(text).ids)` does.
#[pyclass(frozen, module = "fast_litellm._native")]
pub struct HfTokenizer {
    inner: Arc<hf::HfTokenizer>,
}

#[pymethods]
impl HfTokenizer {
    /// Parse `json` (the text of a tokenizer.json), with the GIL released.
    #[staticmethod]
    fn from_json(py: Python<'_>, json: &str) -> PyResult<Self> {
        let inner = py.allow_threads(|| hf::load(json)).map_err(PyValueError::new_err)?;
        Ok(HfTokenizer { inner })
    }

    /// Tokens of one string (`len(encode(text).ids)`).
    fn count(&self, py: Python<'_>, text: &str) -> usize {
        if text.len() >= RELEASE_GIL_BYTES {
            py.allow_threads(|| self.inner.count(text))
        } else {
            self.inner.count(text)
        }
    }

    /// The same count through the `tokenizers` crate's `encode_fast` (for tests).
    fn count_reference(&self, py: Python<'_>, text: &str) -> usize {
        py.allow_threads(|| self.inner.count_reference(text))
    }

    /// Whether counts take the fast path (else every count is `encode_fast`).
    #[getter]
    fn fast(&self) -> bool {
        self.inner.is_fast()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TokenPlan>()?;
    m.add_class::<HfTokenizer>()?;
    Ok(())
}
