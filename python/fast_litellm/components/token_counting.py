"""Token counting (``litellm.token_counter``) in Rust.

Covered (counted natively, same int as the installed LiteLLM):

* models whose tokenizer LiteLLM resolves to tiktoken ``cl100k_base`` or
  ``o200k_base`` (OpenAI/Azure names, prefixed names such as ``openai/gpt-4o``,
  unknown models, ``""``);
* models LiteLLM counts with a HuggingFace tokenizer it bundles, loaded natively
  (``tokenizers`` crate) from the very JSON the installed LiteLLM loads: the
  Anthropic tokenizer (names in ``litellm.anthropic_models`` without
  ``claude-3``: on 1.83 ``claude-sonnet-4-*``, ``claude-opus-4-*``,
  ``claude-haiku-4-5``...; on 1.110 ``claude-sonnet-4-5``, ``claude-opus-4-5+``,
  ``claude-*-latest``...) and, on 1.110, DeepSeek's (``deepseek-chat``,
  ``deepseek/deepseek-chat``, ``deepseek-v3``, ``deepseek-reasoner``...), counted
  as ``len(Tokenizer.encode(text).ids)``, only while LiteLLM's own selection
  returns that Python ``tokenizers.Tokenizer`` (asked once per model;
  ``disable_hf_tokenizer_download`` re-resolves). Prefixed names
  (``anthropic/...``, ``bedrock/...``) and ``claude-3*`` are tiktoken there. The tokenizer, the per-message/per-name constants
  (including the legacy ``gpt-3.5-turbo-0301`` ones) and, on 1.110, the
  chat-template tool section are resolved once per model with LiteLLM's own
  functions and cached;
* ``text=`` as str or list; ``messages=`` as a list of plain dicts with str
  values, ``name``, ``tool_calls``, ``function_call`` (1.110), content-part lists
  (str, ``text``, ``thinking``; on 1.110 also ``redacted_thinking``,
  ``compaction``, ``tool_reference``), ``image_url`` parts with
  ``use_default_image_token_count`` or detail ``low`` (and ``auto`` on 1.83);
  ``image_url`` parts LiteLLM measures from an inline image: detail ``high``
  (both lines) on any non-http(s) string (base64 after the first comma,
  decoded as leniently as ``base64.b64decode``) and ``auto`` on 1.110
  (``data:image/...;base64,`` within LiteLLM's size bound, strictly
  validated; everything else counts the base 85): width and height read from
  the PNG/GIF/JPEG/WebP (VP8X, VP8, VP8L) header at LiteLLM's offsets, its
  JPEG marker walk, its default size for other formats, then its
  high-resolution resize and 512-pixel tiles, with LiteLLM's constants read at
  activation;
  ``tools`` (formatted by LiteLLM's own formatter), ``tool_choice``,
  ``count_response_tokens``.

Handed to LiteLLM unchanged (``NOT_COVERED``): ``custom_tokenizer`` (a
user-held HuggingFace ``Tokenizer`` that is already Rust-backed, mutable at
any time and versioned by the user's ``tokenizers`` wheel: a native copy could
not be kept in step with it exactly, see docs/benchmarks/token-counting.md); models on a
HuggingFace tokenizer LiteLLM downloads from the Hub (Cohere command-r, Llama 2/3),
bundled-tokenizer models while ``disable_hf_tokenizer_download`` is set or on a
non-Python tokenizer backend (1.110 rollout), models on p50k/r50k; images LiteLLM downloads (detail ``high``
on an http(s) URL), inline images whose decoding or header LiteLLM rejects
with an exception, and 1.110 ``auto`` data URLs with non-canonical ``=``
padding (accepted or not depending on the Python version); Anthropic ``tool_use``/``tool_result``,
documents, files, search results, compaction summaries in
``provider_specific_fields``; pydantic ``Message`` objects and dict
subclasses; models whose 1.110 chat template renders tools (when tools or
tool_choice are given); strings over ``TOKEN_COUNTER_MAX_EXACT_CHARS`` on 1.110
(LiteLLM extrapolates); ``litellm.disable_token_counter``; and every input
LiteLLM rejects with an exception (so the exception is LiteLLM's own).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional

from .._patching import NOT_COVERED, Patch

COMPONENT = "token_counting"

V1_SUPPORTS = ">=1.83.14,<1.84"
V2_SUPPORTS = ">=1.110.2,<1.111"
_NATIVE_ENCODINGS = ("cl100k_base", "o200k_base")


def _installed_flavor() -> int:
    try:
        from packaging.version import Version

        v = Version(importlib.metadata.version("litellm"))
    except Exception:
        return 0
    if v.release[:2] == (1, 83):
        return 1
    if v.release[:2] == (1, 110):
        return 2
    return 0


class _Planner:
    """Per-model native plans (``TokenPlan`` or ``None`` = not covered), built with
    LiteLLM's own resolution functions and dropped whenever the model lists change."""

    def __init__(self, flavor: int) -> None:
        import litellm
        from litellm.litellm_core_utils import token_counter as tc

        self.flavor = flavor
        self.litellm = litellm
        self.tc = tc
        self.plans: Dict[Any, Any] = {}
        self.sig: Any = None
        self.tool_sections: Dict[Any, bool] = {}
        if flavor == 2:
            self.chunk = int(tc.TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS)
            self.max_exact = int(tc.TOKEN_COUNTER_MAX_EXACT_CHARS)
        else:
            self.chunk = 0
            self.max_exact = 0
        self.default_image = int(tc.DEFAULT_IMAGE_TOKEN_COUNT)
        self.image_config = self._image_config()

    @property
    def native(self) -> Any:
        # Loaded when the first plan is built, not when the patch is (`import fast_litellm`).
        from .. import _native

        return _native

    def _image_config(self) -> Any:
        """LiteLLM's image constants as the native plan takes them (``None``:
        measured images are left to LiteLLM)."""
        tc = self.tc
        try:
            if tc.calculate_img_tokens.__defaults__[1] != 85:
                return None
            tile_w, tile_h = tc.calculate_tiles_needed.__defaults__
            values = (
                tc.DEFAULT_IMAGE_WIDTH,
                tc.DEFAULT_IMAGE_HEIGHT,
                tc.MAX_SHORT_SIDE_FOR_IMAGE_HIGH_RES,
                tc.MAX_LONG_SIDE_FOR_IMAGE_HIGH_RES,
                tile_w,
                tile_h,
            )
            if any(type(v) is not int for v in values) or tile_w <= 0 or tile_h <= 0:
                return None
            max_bytes = int(tc.MAX_IMAGE_URL_DOWNLOAD_SIZE_MB * 1024 * 1024)
            return values + (max_bytes,)
        except Exception:
            return None

    def _signature(self) -> Any:
        lm = self.litellm
        return (
            len(lm.model_cost),
            len(lm.open_ai_chat_completion_models),
            len(lm.azure_llms),
            len(lm.anthropic_models),
            len(lm.cohere_models),
            lm.disable_hf_tokenizer_download,
        )

    def plan(self, model: Any) -> Any:
        sig = self._signature()
        if sig != self.sig:
            self.plans.clear()
            self.tool_sections.clear()
            self.sig = sig
        try:
            return self.plans[model]
        except KeyError:
            pass
        except TypeError:  # unhashable model
            return None
        try:
            plan = self._resolve(model)
        except Exception:
            plan = None
        self.plans[model] = plan
        return plan

    def _resolve(self, model: Any) -> Any:
        if type(model) is not str:
            return None
        lm, tc = self.litellm, self.tc
        if self.flavor == 1:
            low = model.lower()
            if model in lm.cohere_models and "command-r" in model:
                return None  # a downloaded HuggingFace tokenizer
            if model in lm.anthropic_models and "claude-3" not in model:
                return self._hf_plan(model, "anthropic")
            if "llama-2" in low or "replicate" in low or "llama-3" in low:
                return None  # a downloaded HuggingFace tokenizer
            import tiktoken.model

            fixed = tc._fix_model_name(model)
            if "gpt-4o" in fixed:
                enc = "o200k_base"
            else:
                try:
                    enc = tiktoken.model.encoding_name_for_model(fixed)
                except KeyError:
                    enc = "cl100k_base"
            legacy = fixed == "gpt-3.5-turbo-0301"
            self.tool_sections[model] = False
        else:
            from litellm.litellm_core_utils.prompt_templates.chat_template_tools import chat_template_tool_section
            from litellm.utils import huggingface_tokenizer_kind

            kind = huggingface_tokenizer_kind(model)
            if kind is not None:
                if kind in ("anthropic", "deepseek"):
                    return self._hf_plan(model, kind)
                return None  # a downloaded HuggingFace tokenizer
            enc = tc.openai_tokenizer_encoding_name(model)
            legacy = bool(tc.uses_legacy_message_accounting(model))
            self.tool_sections[model] = chat_template_tool_section(model) is not None
        if enc not in _NATIVE_ENCODINGS:
            return None
        per_message, per_name = (4, -1) if legacy else (3, 1)
        return self.native.TokenPlan(
            enc, self.flavor, per_message, per_name, self.chunk, self.max_exact, self.default_image, self.image_config
        )

    # -- HuggingFace tokenizers LiteLLM bundles ----------------------------------

    def _hf_plan(self, model: str, kind: str) -> Any:
        """A plan on LiteLLM's bundled tokenizer ``kind``, if LiteLLM selects it for
        ``model`` right now (asked through its own selection function: it is
        cached on 1.83, and honours ``disable_hf_tokenizer_download``)."""
        lm, tc = self.litellm, self.tc
        if lm.disable_hf_tokenizer_download is True:
            return None  # LiteLLM counts with tiktoken then; left to it
        try:
            from tokenizers import Tokenizer as PyTokenizer
        except ImportError:
            return None
        import litellm.utils as lu

        if self.flavor == 1:
            selected = lu._select_tokenizer(model)
        else:
            from litellm.rust_bridge import catalog
            from litellm.rust_bridge import tokenizer as dispatch
            from litellm.rust_bridge.configuration import Rollout

            if catalog.rollout(dispatch.HUGGINGFACE_CONTEXT) is not Rollout.PYTHON_ONLY:
                return None  # the backend could change per call
            selected = lu.select_tokenizer(model)
        if selected.get("type") != "huggingface_tokenizer" or type(selected.get("tokenizer")) is not PyTokenizer:
            return None
        native = _hf_tokenizer(kind)
        if native is None:
            return None
        if self.flavor == 1:
            fixed = tc._fix_model_name(model)
            legacy = fixed == "gpt-3.5-turbo-0301"
            self.tool_sections[model] = False
        else:
            from litellm.litellm_core_utils.prompt_templates.chat_template_tools import chat_template_tool_section

            legacy = bool(tc.uses_legacy_message_accounting(model))
            self.tool_sections[model] = chat_template_tool_section(model) is not None
        per_message, per_name = (4, -1) if legacy else (3, 1)
        # HuggingFace strings are counted whole on both lines (1.110 chunks only tiktoken).
        return self.native.TokenPlan(
            native, self.flavor, per_message, per_name, 0, self.max_exact, self.default_image, self.image_config
        )

    # -- tool_choice ---------------------------------------------------------

    def tool_choice_tokens(self, plan: Any, tool_choice: Any) -> Optional[int]:
        """Tokens LiteLLM adds for ``tool_choice``; ``None`` if not covered."""
        if tool_choice is None:
            return 0
        if type(tool_choice) is str:
            return 1 if tool_choice == "none" else 0
        if type(tool_choice) is not dict:
            return None
        if self.flavor == 1:
            function = tool_choice.get("function")
            if type(function) is not dict or "name" not in function:
                return None  # LiteLLM raises
            return _plus(7, plan.count_text(str(function["name"])))
        # 1.110: the `match` statement of _count_tool_choice, for plain dicts
        function = tool_choice.get("function", _MISSING)
        if isinstance(function, Mapping):
            if type(function) is not dict:
                return None
            name = function.get("name", _MISSING)
            if isinstance(name, str):
                return _plus(7, plan.count_text(name))
        kind = tool_choice.get("type", _MISSING)
        if isinstance(kind, str):
            if kind == "none":
                return 1
        elif kind is not _MISSING and type(kind) not in _PLAIN:
            return None  # its == could be anything
        name = tool_choice.get("name", _MISSING)
        if isinstance(name, str):
            return _plus(7, plan.count_text(name))
        return 0


_PLAIN = (int, float, bool, list, dict, tuple, type(None))
_MISSING = object()


def _plus(a: int, b: Optional[int]) -> Optional[int]:
    return None if b is None else a + b


_planners: Dict[int, _Planner] = {}
_hf_loaded: Dict[str, Any] = {}


def _bundled_tokenizer_json(kind: str) -> Optional[str]:
    """The text LiteLLM builds its tokenizer from, read from the installed LiteLLM."""
    if kind == "anthropic":
        import litellm.utils as lu

        text = getattr(lu, "claude_json_str", None)
        return text if type(text) is str else None
    if kind == "deepseek":
        from importlib import resources

        return (
            resources.files("litellm.litellm_core_utils.tokenizers")
            .joinpath("deepseek_tokenizer.json")
            .read_text(encoding="utf-8")
        )
    return None


def _hf_tokenizer(kind: str) -> Any:
    """The native tokenizer for a bundled JSON, parsed once per process (``None``
    if it cannot be loaded)."""
    try:
        return _hf_loaded[kind]
    except KeyError:
        pass
    native = None
    try:
        from .. import _native

        text = _bundled_tokenizer_json(kind)
        if text is not None:
            native = _native.HfTokenizer.from_json(text)
    except Exception:
        native = None
    _hf_loaded[kind] = native
    return native


def _planner(flavor: int) -> _Planner:
    p = _planners.get(flavor)
    if p is None:
        p = _planners[flavor] = _Planner(flavor)
    return p


def _build(flavor: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def build(original: Callable[..., Any]) -> Callable[..., Any]:
        import litellm

        planner = _planner(flavor)
        plan_for = planner.plan
        tc = planner.tc

        def token_counter(
            model="",
            custom_tokenizer=None,
            text=None,
            messages=None,
            count_response_tokens=False,
            tools=None,
            tool_choice=None,
            use_default_image_token_count=False,
            default_token_count=None,
        ):
            if custom_tokenizer is not None or litellm.disable_token_counter is True:
                return NOT_COVERED
            plan = plan_for(model)
            if plan is None:
                return NOT_COVERED
            if messages is not None:
                if text is not None:
                    return NOT_COVERED  # LiteLLM raises
                extra = count_response_tokens is False
                if extra and (tools or tool_choice is not None):
                    if planner.tool_sections.get(model) and (tools or tool_choice is not None):
                        return NOT_COVERED  # 1.110 renders tools with the chat template
                    tools_text = None
                    if tools:
                        try:
                            tools_text = tc._format_function_definitions(tools)
                        except Exception:
                            return NOT_COVERED
                    choice = planner.tool_choice_tokens(plan, tool_choice)
                    if choice is None:
                        return NOT_COVERED
                    n = plan.count_messages(messages, True, bool(use_default_image_token_count), tools_text)
                    return NOT_COVERED if n is None else n + choice
                n = plan.count_messages(messages, extra, bool(use_default_image_token_count))
            elif text is not None:
                if tools or tool_choice:
                    return NOT_COVERED  # LiteLLM raises
                n = plan.count_text(text)
            else:
                return NOT_COVERED  # LiteLLM raises
            return NOT_COVERED if n is None else n

        return token_counter

    return build


_SUMMARY = (
    "litellm.token_counter in Rust (bpe-openai BPE for cl100k_base/o200k_base; the HuggingFace tokenizer JSON "
    "LiteLLM bundles, loaded from it with the tokenizers crate: Anthropic (claude-sonnet-4*/opus-4*/haiku-4-5... "
    "without claude-3) and DeepSeek on 1.110; LiteLLM's accounting of "
    "messages, names, tool_calls, function_call, content parts, tools, tool_choice, default/low image tokens, "
    "count_response_tokens; inline images measured from their PNG/GIF/JPEG/WebP header (detail high; auto on "
    "1.110); per-version rules). Not covered, left to LiteLLM: custom_tokenizer, HuggingFace "
    "tokenizers LiteLLM downloads (Cohere/Llama), p50k/r50k models, downloaded (http) images, "
    "Anthropic tool_use/tool_result/document/file blocks, pydantic Message objects, 1.110 chat-template tools, "
    "1.110 extrapolated (>TOKEN_COUNTER_MAX_EXACT_CHARS) strings, invalid inputs (LiteLLM raises)."
)
_CALLERS = (
    "litellm.token_counter / litellm.utils.token_counter (public, /utils/token_counter), and the core "
    "function every internal caller reaches: completion cost of streamed responses, context-window checks "
    "(get_modified_max_tokens), router pre-call checks, proxy TPM limits and token counting routes."
)


def _patches_for(flavor: int, supports: str, suffix: str) -> List[Patch]:
    return [
        Patch(
            name=f"token_counter{suffix}",
            component=COMPONENT,
            target="litellm.litellm_core_utils.token_counter:token_counter",
            supports=supports,
            build=_build(flavor),
            summary=_SUMMARY,
            callers=_CALLERS,
        ),
        Patch(
            name=f"utils.token_counter{suffix}",
            component=COMPONENT,
            target="litellm.utils:token_counter",
            supports=supports,
            build=_build(flavor),
            summary="The public wrapper litellm.token_counter (same implementation as token_counter; skips the "
            "extra Python hop). " + _SUMMARY,
            callers="litellm.token_counter, `from litellm.utils import token_counter` users.",
        ),
    ]


PATCHES: List[Patch] = _patches_for(1, V1_SUPPORTS, "") + _patches_for(2, V2_SUPPORTS, "@1.110")


# -- batch API -----------------------------------------------------------------


def count_tokens_batch(model: str, list_of_message_lists: List[List[Dict[str, Any]]]) -> List[int]:
    """``[litellm.token_counter(model=model, messages=m) for m in list_of_message_lists]``,
    counted natively on every core with the GIL released.

    Lists the native path does not cover are counted by ``litellm.token_counter``.
    While Fast LiteLLM is deactivated (or the installed LiteLLM is not supported)
    this is exactly the plain loop over ``litellm.token_counter``.
    """
    import litellm

    from .. import registry

    lists = list_of_message_lists if type(list_of_message_lists) is list else list(list_of_message_lists)
    flavor = _installed_flavor()
    if (
        not flavor
        or not registry.is_active()
        or litellm.disable_token_counter is True
        or not any(p.state == "applied" for p in PATCHES)
    ):
        return [litellm.token_counter(model=model, messages=m) for m in lists]
    plan = _planner(flavor).plan(model)
    if plan is None:
        return [litellm.token_counter(model=model, messages=m) for m in lists]
    counts = plan.count_batch(lists)
    return [n if n is not None else litellm.token_counter(model=model, messages=m) for n, m in zip(counts, lists)]


def coverage() -> Dict[str, Any]:
    """What ``doctor`` reports for this component."""
    doc = __doc__ or ""
    start = doc.find("Covered")
    split = doc.find("Handed to LiteLLM")
    return {"covered": " ".join(doc[start:split].split()), "not_covered": " ".join(doc[split:].split())}


# -- benchmarks ------------------------------------------------------------------

_WORDS = (
    "the quick brown fox jumps over lazy dog token counting request path context window limit cost "
    "stream response router proxy model message system user assistant tool call function arguments "
    "naïve café 数据 模型 😀 über résumé 12345 3.14 <tag> {json: true} snake_case CamelCase"
).split()


def _text(n_chars: int, seed: int = 7) -> str:
    import random

    rng = random.Random(seed)
    out: List[str] = []
    size = 0
    while size < n_chars:
        w = rng.choice(_WORDS)
        sep = "\n" if rng.random() < 0.05 else " "
        out.append(w + sep)
        size += len(w) + 1
    return "".join(out)[:n_chars]


def _bench_messages(model: str, messages: Any, **kw: Any) -> Callable[[], Callable[[], Any]]:
    def setup() -> Callable[[], Any]:
        import litellm

        def call() -> Any:
            return litellm.token_counter(model=model, messages=messages, **kw)

        return call

    return setup


def _batch_setup() -> Callable[[], Any]:
    import random

    import fast_litellm

    rng = random.Random(11)
    lists = []
    for i in range(1000):
        n = rng.choice((1, 2, 3, 5))
        msgs = [{"role": "system", "content": _text(rng.choice((20, 200)), seed=i)}] if rng.random() < 0.5 else []
        for j in range(n):
            msgs.append({"role": "user" if j % 2 == 0 else "assistant", "content": _text(rng.choice((10, 100, 1000, 4000)), seed=i * 7 + j)})
        lists.append(msgs)

    def call() -> Any:
        return fast_litellm.count_tokens_batch("gpt-4o", lists)

    return call


def _bench_image_url() -> str:
    import base64
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 1536, 1024, 8, 2, 0, 0, 0)
    body = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        + bytes(range(256)) * 48  # stand-in for the image data chunks
    )
    return "data:image/png;base64," + base64.b64encode(body).decode()


def _benchmarks() -> List[Any]:
    from ..bench import Benchmark

    flavor = _installed_flavor()
    patch = "utils.token_counter" + ("@1.110" if flavor == 2 else "")
    short = [{"role": "user", "content": "Hey, how's it going?"}]
    out = [
        Benchmark(name="token_counter short message gpt-4o", patch=patch, setup=_bench_messages("gpt-4o", short)),
        Benchmark(name="token_counter short message gpt-3.5-turbo", patch=patch, setup=_bench_messages("gpt-3.5-turbo", short)),
    ]
    for n in (10, 100, 1000, 10000, 20000, 100000):
        out.append(
            Benchmark(
                name=f"token_counter {n} chars gpt-4o",
                patch=patch,
                setup=_bench_messages("gpt-4o", [{"role": "user", "content": _text(n)}]),
                tags=["curve"],
            )
        )
    # Models on a HuggingFace tokenizer LiteLLM bundles (the Anthropic JSON; DeepSeek's on 1.110).
    hf = "claude-sonnet-4-20250514" if flavor == 1 else "claude-sonnet-4-5"
    out.append(Benchmark(name=f"token_counter short message {hf}", patch=patch, setup=_bench_messages(hf, short)))
    for n in (10, 100, 1000, 10000, 20000, 100000):
        out.append(
            Benchmark(
                name=f"token_counter {n} chars {hf}",
                patch=patch,
                setup=_bench_messages(hf, [{"role": "user", "content": _text(n)}]),
                tags=["curve-hf"],
            )
        )
    if flavor == 2:
        out.append(Benchmark(name="token_counter short message deepseek-chat", patch=patch, setup=_bench_messages("deepseek-chat", short)))
        out.append(
            Benchmark(
                name="token_counter 20000 chars deepseek-chat",
                patch=patch,
                setup=_bench_messages("deepseek-chat", [{"role": "user", "content": _text(20000)}]),
            )
        )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                    "required": ["city"],
                },
            },
        }
    ]
    chat = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C, cloudy"},
    ]
    img = _bench_image_url()
    out.append(
        Benchmark(
            name="token_counter image detail high data URL gpt-4o",
            patch=patch,
            setup=_bench_messages(
                "gpt-4o",
                [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                              {"type": "image_url", "image_url": {"url": img, "detail": "high"}}]}],
            ),
            notes="a 1536x1024 PNG of ~12 KB as a base64 data URL",
        )
    )
    out.append(Benchmark(name="token_counter tool chat + tools gpt-4o", patch=patch, setup=_bench_messages("gpt-4o", chat, tools=tools)))
    out.append(
        Benchmark(
            name="count_tokens_batch 1000 mixed vs stock loop",
            patch=patch,
            setup=_batch_setup,
            batch_seconds=0.5,
            notes="fast: fast_litellm.count_tokens_batch; stock: loop over litellm.token_counter",
        )
    )
    return out


class _LazyBenchmarks(list):
    """Built on first use so importing this module stays cheap."""

    _done = False

    def _fill(self) -> None:
        if not self._done:
            self._done = True
            try:
                super().extend(_benchmarks())
            except Exception:
                pass

    def __iter__(self):  # type: ignore[override]
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()


BENCHMARKS: List[Any] = _LazyBenchmarks()
