"""Parity of token counting on the HuggingFace tokenizers LiteLLM bundles.

LiteLLM counts some models with a ``tokenizers.Tokenizer`` built from a JSON
file it ships: the Anthropic tokenizer (Anthropic models whose name lacks
"claude-3") on both lines, and DeepSeek's on 1.110. The component loads the
same file natively; these tests compare it with the installed LiteLLM on a
generated corpus (>= 10,000 ``token_counter`` calls per version) and the
tokenizer itself with the Python ``tokenizers`` wheel string by string.

Models whose tokenizer LiteLLM would download (Cohere, Llama) never appear here.
"""

from __future__ import annotations

import contextlib
import random

import pytest

litellm = pytest.importorskip("litellm")
tokenizers = pytest.importorskip("tokenizers")
import fast_litellm  # noqa: E402
import test_token_counting as base  # noqa: E402
from fast_litellm import registry  # noqa: E402
from fast_litellm.components import token_counting as tc_component  # noqa: E402

N_CASES = 10_200

# Names that may route to a bundled tokenizer on one line or the other; each test
# keeps those the installed LiteLLM actually counts with one.
CANDIDATES = [
    "claude-sonnet-4-20250514", "claude-opus-4-1", "claude-opus-4-1-20250805", "claude-haiku-4-5",
    "claude-4-opus-20250514", "claude-sonnet-4-5", "claude-opus-4-6", "claude-opus-latest", "claude-sonnet-5",
    "deepseek-chat", "deepseek/deepseek-chat", "deepseek-reasoner", "deepseek-v3", "openrouter/deepseek/deepseek-chat-v3",
]
# Names next to them that LiteLLM counts with tiktoken (prefixes, claude-3, bedrock).
NEIGHBOURS = ["anthropic/claude-sonnet-4-5", "bedrock/anthropic.claude-v2", "claude-3-5-sonnet-20240620", "claude-2"]

_HF_PIECES = [
    "<EOT>", "<META>", "<META_START>", "<META_END>", "<SOS>", "<META", "EOT>", "<<EOT>>", "<SOS><EOT>",
    "<|endoftext|>", "<|im_start|>", "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>",
    "\ufb01", "\u2460", "\u3300", "\uff21\uff42\uff43", "\uff76\uff9e", "\u2126", "\u00bd", "x\u00b2", "\u2000\u2003\u200a",
    "\u2028", "\u2029", "\u0085", "\u1680", "\u1100\u1161\u11a8", "A\u030a", "\u0915\u094d\u0937", "\u0e01\u0e33",
    "\u0628\u0650\u0633\u0652", "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\u270b\U0001F3FF", "\u2019s", "'S", "'re",
    "12345678901234", "\u0661\u0662\u0663", "\u4e00\u4e8c\u4e09abc", "\u3072\u3089\u304c\u306a", "\u30ab\u30bf\u30ab\u30ca",
    "!!!???", "...\n\n", " \t \n", "\r\n\r\n", "~~~", "\u00a0\u00a0", "\u3000", "\U0001D400\U0001D41A",
]


def _random_code_points(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 8)):
        cp = rng.choice([rng.randint(0x20, 0x2FFF), rng.randint(0x3000, 0xD7FF), rng.randint(0xE000, 0xFFFD),
                         rng.randint(0x10000, 0x1FAFF)])
        out.append(chr(cp))
    return "".join(out)


def _rand_text_hf(rng: random.Random, max_len: int = 200) -> str:
    r = rng.random()
    if r < 0.04:
        return ""
    if r < 0.08:
        return rng.choice([" " * rng.randint(1, 300), "\n" * rng.randint(1, 50), " \t\n" * rng.randint(1, 40),
                           "\u3000" * rng.randint(1, 30), "\u00a0 " * rng.randint(1, 30)])
    target = rng.randint(1, max_len)
    out = []
    size = 0
    while size < target:
        x = rng.random()
        if x < 0.45:
            w = rng.choice(base._ASCII)
        elif x < 0.7:
            w = rng.choice(base._PIECES)
        elif x < 0.95:
            w = rng.choice(_HF_PIECES)
        else:
            w = _random_code_points(rng)
        sep = rng.choice([" ", " ", " ", "", "\n", "  ", ", ", ". ", "\t"])
        out.append(w + sep)
        size += len(w) + len(sep)
    return "".join(out)[:target]


@contextlib.contextmanager
def _hf_text():
    """The shared message generators, drawing text from the HF-flavoured generator."""
    saved = base._rand_text
    base._rand_text = _rand_text_hf
    try:
        yield
    finally:
        base._rand_text = saved


def _hf_models() -> list:
    flavor = tc_component._installed_flavor()
    planner = tc_component._planner(flavor)
    return [m for m in CANDIDATES if (p := planner.plan(m)) is not None and p.encoding == "huggingface"]


active = base.active  # the same fixture: the component is applied on this LiteLLM


@pytest.fixture(scope="module")
def hf_models(active):
    models = _hf_models()
    assert models, "no model routes to a bundled HuggingFace tokenizer"
    return models


def _case(rng: random.Random, i: int, models: list) -> dict:
    kw: dict = {"model": rng.choice(models)}
    if i < 6:  # 100k-character inputs
        big = (_rand_text_hf(rng, 400) + " ") * 400
        big = big[:100_000]
        if i % 2:
            kw["text"] = big
        else:
            kw["messages"] = [{"role": "user", "content": big}]
        return kw
    r = rng.random()
    if r < 0.15:
        kw["text"] = _rand_text_hf(rng, rng.choice([30, 300, 2000]))
    elif r < 0.18:
        kw["text"] = [_rand_text_hf(rng, 50) if rng.random() < 0.8 else rng.choice([1, None]) for _ in range(rng.randint(0, 4))]
    elif r < 0.185:
        kw["text"] = "x"
        kw["tools"] = base._TOOLS[:1]  # LiteLLM raises
    else:
        kw["messages"] = [base._message(rng) for _ in range(rng.randint(0, 5))]
        if rng.random() < 0.2:
            kw["tools"] = rng.sample(base._TOOLS, rng.randint(0, 3))
        if rng.random() < 0.15:
            kw["tool_choice"] = rng.choice(
                ["none", "auto", {"type": "function", "function": {"name": "get_weather"}}, {"type": "none"},
                 {"name": "search"}, {"type": "function"}]
            )
        if rng.random() < 0.1:
            kw["count_response_tokens"] = rng.choice([True, False])
        if rng.random() < 0.2:
            kw["use_default_image_token_count"] = rng.choice([True, False])
    return kw


def test_routes(hf_models):
    """The names LiteLLM sends to a bundled tokenizer are covered; their neighbours are not routed there."""
    flavor = tc_component._installed_flavor()
    if flavor == 1:
        assert "claude-sonnet-4-20250514" in hf_models
        assert not any(m.startswith("deepseek") for m in hf_models)
    else:
        assert "claude-sonnet-4-5" in hf_models and "deepseek-chat" in hf_models
    planner = tc_component._planner(flavor)
    for m in NEIGHBOURS:
        plan = planner.plan(m)
        assert plan is None or plan.encoding != "huggingface", m


def test_parity_generated_corpus_hf(hf_models):
    rng = random.Random(3_2026)
    with _hf_text():
        cases = [_case(rng, i, hf_models) for i in range(N_CASES)]
    assert len(cases) >= 10_000
    diffs, native, fallbacks = base._fast_then_stock(cases)
    print(f"\n{len(cases)} HF cases on {hf_models}: {native} counted natively, {fallbacks} fallbacks, {len(diffs)} differences")
    assert not diffs, f"{len(diffs)} differences, first: {diffs[0]!r:.2000}"
    assert fallbacks == 0
    assert native >= len(cases) // 2


def _bundled(kind: str):
    text = tc_component._bundled_tokenizer_json(kind)
    return tokenizers.Tokenizer.from_str(text), tc_component._hf_tokenizer(kind)


@pytest.mark.parametrize("kind", ["anthropic", "deepseek"])
def test_tokenizer_matches_python_wheel(active, kind):
    """String by string against the Python ``tokenizers`` wheel, with the fast path
    and the crate's own ``encode_fast`` (its reference)."""
    if kind == "deepseek" and tc_component._installed_flavor() != 2:
        pytest.skip("LiteLLM 1.83 does not bundle the DeepSeek tokenizer")
    py, native = _bundled(kind)
    assert native is not None and native.fast
    rng = random.Random(99)
    texts = [_rand_text_hf(rng, rng.choice([20, 200, 1500])) for _ in range(6000)]
    texts += [_random_code_points(rng) * rng.randint(1, 5) for _ in range(2000)]
    texts += ["".join(rng.choice(_HF_PIECES) for _ in range(rng.randint(1, 12))) for _ in range(2000)]
    want = [len(e.ids) for e in py.encode_batch_fast(texts)]
    got = [native.count(t) for t in texts]
    diffs = [(t, w, g) for t, w, g in zip(texts, want, got) if w != g]
    assert not diffs, f"{len(diffs)} differences, first: {diffs[:3]!r:.2000}"
    sample = texts[::10]
    assert [native.count_reference(t) for t in sample] == [len(py.encode(t).ids) for t in sample]


def test_batch_matches_loop_hf(hf_models):
    rng = random.Random(8)
    with _hf_text():
        lists = [[base._message(rng) for _ in range(rng.randint(0, 4))] for _ in range(200)]
    for model in hf_models[:3]:
        want = base._stock_batch_counts(model, lists)
        valid = [m for m, w in zip(lists, want) if not isinstance(w, type)]
        ok = [w for w in want if not isinstance(w, type)]
        assert len(ok) > 50
        assert fast_litellm.count_tokens_batch(model, valid) == ok


def test_disable_hf_tokenizer_download(hf_models):
    """With downloads disabled LiteLLM 1.110 counts these models with tiktoken (1.83
    keeps its cached choice); either way the result is LiteLLM's own."""
    msgs = [{"role": "user", "content": "Hello <EOT> 数据 \ufb01"}]
    model = hf_models[0]
    litellm.disable_hf_tokenizer_download = True
    try:
        fast = litellm.token_counter(model=model, messages=msgs)
        registry.deactivate()
        try:
            stock = litellm.token_counter(model=model, messages=msgs)
        finally:
            registry.activate()
    finally:
        litellm.disable_hf_tokenizer_download = False
    assert fast == stock
    assert litellm.token_counter(model=model, messages=msgs) > 0
