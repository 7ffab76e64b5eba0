"""Parity of the token_counting component with the installed LiteLLM.

A seeded generator builds >= 10,000 ``token_counter`` calls covering every shape
the component handles (and many it hands back to LiteLLM). Each call runs once
accelerated and once on LiteLLM's original code (everything deactivated); the
results, or the exception types and messages, must be identical.
"""

from __future__ import annotations

import base64
import random
import struct
import zlib

import pytest

litellm = pytest.importorskip("litellm")
import fast_litellm  # noqa: E402
from fast_litellm import registry  # noqa: E402
from fast_litellm.components import token_counting as tc_component  # noqa: E402

N_CASES = 10_400

MODELS = [
    "gpt-4o", "gpt-4o-mini", "gpt-4o-2024-08-06", "gpt-3.5-turbo", "gpt-4", "gpt-4-turbo", "gpt-4.1",
    "o1", "o3-mini", "gpt-5", "gpt-5-mini", "openai/gpt-4o", "openai/gpt-4.1", "azure/gpt-4o",
    "azure/eu/gpt-4o", "gpt-35-turbo", "gpt-3.5-turbo-0301", "", "unknown-model-xyz", "my-deployment",
    "text-davinci-003", "text-embedding-ada-002", "ft:gpt-4o:org:custom:id", "gemini/gemini-1.5-pro",
    "claude-3-5-sonnet-20240620", "claude-sonnet-4-20250514", "bedrock/anthropic.claude-v2",
    "deepseek-chat", "mistral/mistral-large-latest",
]

_ASCII = "the quick brown fox jumps over the lazy dog Hello World CamelCase snake_case API JSON".split()
_PIECES = [
    "数学是研究数量", "日本語のテキスト", "한국어 문장", "Привет мир", "مرحبا بالعالم", "שלום", "ελληνικά",
    "👩‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🧑‍💻", "😀😃😄", "e\u0301", "a\u0308\u0304", "\u200b", "\u200d", "\ufeff",
    "\u00a0", "\u3000", "<|endoftext|>", "<|im_start|>", "<|fim_prefix|>", "<|endofprompt|>", "'s", "'LL", "'ve",
    "12345678", "3.14159", "0xDEADBEEF", "def f(x):\n    return x", "{\"a\": [1, 2]}", "...", "!!!", "\t", "\n",
    "\r\n", "\n\n\n", "    ", "  \n  ", "ﬁ", "Å", "ß", "İ", "\x00", "\x7f", "\U0001F9D1\u200d\U0001F680",
]


def _rand_text(rng: random.Random, max_len: int = 200) -> str:
    r = rng.random()
    if r < 0.05:
        return ""
    if r < 0.10:
        return rng.choice([" " * rng.randint(1, 300), "\n" * rng.randint(1, 50), " \t\n" * rng.randint(1, 40)])
    target = rng.randint(1, max_len)
    out = []
    size = 0
    while size < target:
        if rng.random() < 0.6:
            w = rng.choice(_ASCII)
        else:
            w = rng.choice(_PIECES)
        sep = rng.choice([" ", " ", " ", "", "\n", "  ", ", ", ". "])
        out.append(w + sep)
        size += len(w) + len(sep)
    return "".join(out)[:target]


def _png_data_url(w: int, h: int) -> str:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    body = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return "data:image/png;base64," + base64.b64encode(body).decode()


def _gif(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\xf7\x00\x00" + b"\x00" * 12


def _jpeg(rng: random.Random, w: int, h: int) -> bytes:
    out = b"\xff\xd8"
    out += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    for _ in range(rng.randint(0, 3)):  # DQT / DHT / APP / COM segments before the frame header
        marker = rng.choice([0xDB, 0xC4, 0xC8, 0xCC, 0xE1, 0xFE, 0xDD])
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        out += b"\xff" * rng.randint(1, 3) + bytes([marker]) + struct.pack(">H", len(body) + 2) + body
    sof = rng.choice([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCF])
    out += b"\xff" + bytes([sof]) + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return out + b"\xff\xda" + b"\x00" * rng.randint(0, 20) + b"\xff\xd9"


def _webp(rng: random.Random, w: int, h: int) -> bytes:
    kind = rng.choice(["VP8X", "VP8 ", "VP8L", "ALPH"])
    if kind == "VP8X":
        w, h = max(1, min(w, 1 << 24)), max(1, min(h, 1 << 24))
        chunk = b"VP8X" + struct.pack("<I", 10) + b"\x10\x00\x00\x00" + struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3]
    elif kind == "VP8 ":
        chunk = b"VP8 " + struct.pack("<I", 20) + b"\x50\x02\x00\x9d\x01\x2a" + struct.pack("<HH", w & 0xFFFF, h & 0xFFFF) + b"\x00" * 10
    elif kind == "VP8L":
        bits = ((max(1, w) - 1) & 0x3FFF) | (((max(1, h) - 1) & 0x3FFF) << 14) | (rng.randrange(4) << 28)
        chunk = b"VP8L" + struct.pack("<I", 10) + b"\x2f" + struct.pack("<I", bits) + b"\x00" * 5
    else:
        chunk = b"ALPH" + struct.pack("<I", 4) + b"\x00" * 4
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _image_bytes(rng: random.Random) -> bytes:
    w = rng.choice([0, 1, rng.randint(1, 800), rng.randint(1, 4000), rng.randint(1, 70000)])
    h = rng.choice([0, 1, rng.randint(1, 800), rng.randint(1, 4000), rng.randint(1, 70000)])
    kind = rng.choice(["png", "png", "gif", "jpeg", "jpeg", "webp", "webp", "heic", "junk", "empty"])
    if kind == "png":
        w, h = min(w, 2**32 - 1), min(h, 2**32 - 1)
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    elif kind == "gif":
        data = _gif(min(w, 65535), min(h, 65535))
    elif kind == "jpeg":
        data = _jpeg(rng, min(w, 65535), min(h, 65535))
    elif kind == "webp":
        data = _webp(rng, w, h)
    elif kind == "heic":
        data = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 20
    elif kind == "junk":
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 60)))
    else:
        data = b""
    if data and rng.random() < 0.1:
        data = data[: rng.randint(0, len(data))]  # truncated header
    return data


def _data_url(rng: random.Random) -> str:
    data = _image_bytes(rng)
    enc = base64.b64encode(data).decode()
    r = rng.random()
    if r < 0.05:
        enc = enc.rstrip("=")  # missing padding
    elif r < 0.08:
        enc = "\n".join(enc[i : i + 16] for i in range(0, len(enc), 16))  # wrapped lines
    elif r < 0.1:
        enc += "="
    elif r < 0.11:
        enc = enc[:5] + "é" + enc[5:]
    elif r < 0.12:
        enc = enc[:-1] if enc else "Q"
    header = rng.choice(
        ["data:image/png;base64", "data:image/jpeg;base64", "data:image/webp;base64", "data:image/gif;base64",
         "data:application/octet-stream;base64", "data:image/png", "data:image/png;base64", "data:image/" + "x" * 130 + ";base64",
         "image/png;base64"]
    )
    if rng.random() < 0.03:
        return header + enc  # no comma
    return header + "," + enc


def _image_part(rng: random.Random) -> dict:
    r = rng.random()
    url = rng.choice(["https://example.invalid/cat.png", _png_data_url(rng.randint(1, 4000), rng.randint(1, 4000)),
                      _data_url(rng), _data_url(rng)])
    if r < 0.2:
        return {"type": "image_url", "image_url": url}
    if r < 0.25:
        return {"type": "image_url", "image_url": rng.choice(["", "   ", None, 5])}
    if r < 0.3:
        return {"type": "image_url", "image_url": {"url": rng.choice(["", None])}}
    if r < 0.35:
        return {"type": "image_url", "image_url": {"url": url, "detail": rng.choice(["medium", None, 3])}}
    detail = rng.choice(["low", "auto", "auto", "high", "high", None])
    if detail == "high" and url.startswith("http"):
        detail = "low"  # keep LiteLLM from downloading
    image = {"url": url}
    if detail is not None:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def _content_list(rng: random.Random) -> list:
    parts = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.15:
            parts.append(_rand_text(rng))
        elif r < 0.55:
            part = {"type": "text", "text": _rand_text(rng)}
            if rng.random() < 0.05:
                part["text"] = rng.choice([None, 42, ["x"], ""])
            if rng.random() < 0.03:
                del part["text"]
            if rng.random() < 0.1:
                part["cache_control"] = {"type": "ephemeral"}
            parts.append(part)
        elif r < 0.75:
            parts.append(_image_part(rng))
        elif r < 0.82:
            parts.append({"type": "thinking", "thinking": rng.choice([_rand_text(rng), "", None]), "signature": "sig"})
        elif r < 0.85:
            parts.append({"type": "redacted_thinking", "data": "xyz"})
        elif r < 0.88:
            parts.append({"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}})
        elif r < 0.91:
            parts.append({"type": "tool_result", "tool_use_id": "t1", "content": _rand_text(rng, 40)})
        elif r < 0.93:
            parts.append({"type": "tool_reference", "tool_name": "lookup"})
        elif r < 0.95:
            parts.append({"type": "unknown_kind", "x": 1})
        elif r < 0.97:
            parts.append({"text": "no type"})
        else:
            parts.append(rng.choice([3, None, ["nested"]]))
    return parts


def _tool_call(rng: random.Random) -> object:
    r = rng.random()
    fn: dict = {"name": rng.choice(["get_weather", "search", "f"])}
    if r < 0.7:
        fn["arguments"] = rng.choice(['{"city": "Paris"}', "{}", _rand_text(rng, 80), ""])
    elif r < 0.8:
        fn["arguments"] = rng.choice([{"city": "Paris"}, None, 12, ["a"]])
    elif r < 0.95:
        pass  # no arguments key
    else:
        return rng.choice([{"id": "x", "type": "function"}, "not a dict"])
    return {"id": f"call_{rng.randint(0, 999)}", "type": "function", "function": fn}


def _message(rng: random.Random) -> object:
    role = rng.choice(["system", "user", "user", "assistant", "tool", "function", "developer"])
    msg: dict = {"role": role}
    r = rng.random()
    if r < 0.55:
        msg["content"] = _rand_text(rng)
    elif r < 0.7:
        msg["content"] = _content_list(rng)
    elif r < 0.78:
        msg["content"] = None
    elif r < 0.8:
        msg["content"] = rng.choice([123, {"a": 1}, ("tuple",)])
    if rng.random() < 0.15:
        msg["name"] = rng.choice(["bob", "alice_42", "名前", ""])
    if role == "assistant" and rng.random() < 0.35:
        if rng.random() < 0.9:
            msg["tool_calls"] = [_tool_call(rng) for _ in range(rng.randint(0, 3))]
        else:
            msg["tool_calls"] = rng.choice(["oops", {"function": {}}])
    if role == "assistant" and rng.random() < 0.1:
        msg["function_call"] = rng.choice(
            [{"name": "f", "arguments": '{"x": 1}'}, {"name": "f"}, "a string", {"arguments": {"x": 1}}]
        )
    if role == "tool":
        msg["tool_call_id"] = "call_1"
    if rng.random() < 0.05:
        msg["provider_specific_fields"] = rng.choice([{}, {"citations": None}, None])
    if rng.random() < 0.03:
        msg[rng.choice(["reasoning_content", "audio", "refusal"])] = rng.choice([_rand_text(rng, 30), None, {"id": "a"}])
    if rng.random() < 0.01:
        return rng.choice(["not a message", litellm.Message(content="pydantic message", role="assistant")])
    if rng.random() < 0.01:
        del msg["role"]
    return msg


_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "opts": {"type": "object", "properties": {"deep": {"type": "boolean"}}},
                },
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "no_params"}},
    {"type": "function", "function": {"name": "数据", "description": "unicode ✓", "parameters": {"type": "object", "properties": {}}}},
]


def _case(rng: random.Random, i: int) -> dict:
    kw: dict = {"model": rng.choice(MODELS)}
    r = rng.random()
    if i < 12:  # 100k-character inputs
        big = _rand_text(rng, 400) * 400
        big = big[:100_000]
        if i % 2:
            kw["text"] = big
        else:
            kw["messages"] = [{"role": "user", "content": big}]
        return kw
    if r < 0.12:
        kw["text"] = _rand_text(rng, rng.choice([50, 300, 3000]))
    elif r < 0.16:
        kw["text"] = [_rand_text(rng, 50) if rng.random() < 0.8 else rng.choice([1, None]) for _ in range(rng.randint(0, 4))]
    elif r < 0.17:
        kw["text"] = _rand_text(rng, 30)
        kw[rng.choice(["messages", "tools", "tool_choice"])] = rng.choice([[{"role": "user", "content": "x"}], _TOOLS[:1], "none"])
    elif r < 0.175:
        pass  # neither text nor messages: LiteLLM raises
    else:
        kw["messages"] = [_message(rng) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.02:
            kw["messages"][0:0] = [{"role": "user", "content": _rand_text(rng, 5000)}]
        if rng.random() < 0.2:
            kw["tools"] = rng.sample(_TOOLS, rng.randint(0, 3))
        if rng.random() < 0.15:
            kw["tool_choice"] = rng.choice(
                ["none", "auto", "required", {"type": "function", "function": {"name": "get_weather"}},
                 {"type": "none"}, {"name": "search"}, {"type": "function"}, {"function": {"name": 5}}]
            )
        if rng.random() < 0.15:
            kw["count_response_tokens"] = rng.choice([True, None, False])
        if rng.random() < 0.2:
            kw["use_default_image_token_count"] = rng.choice([True, None, False])
        if rng.random() < 0.1:
            kw["default_token_count"] = rng.choice([0, 7, None])
    return kw


def _run(kw: dict):
    try:
        return ("ok", litellm.token_counter(**kw))
    except Exception as exc:  # compare exception type and message
        return ("err", type(exc).__name__, str(exc))


def _native_calls() -> int:
    return sum(p.calls - p.delegated - p.fallbacks for p in tc_component.PATCHES if p.name.startswith("utils."))


def _fallbacks() -> int:
    return sum(p.fallbacks for p in tc_component.PATCHES)


def _fast_then_stock(cases: list):
    """Every case accelerated, then every case on stock LiteLLM: ``(diffs, native, fallbacks)``."""
    registry.activate()
    native_before, fallbacks_before = _native_calls(), _fallbacks()
    fast = [_run(kw) for kw in cases]
    native, fallbacks = _native_calls() - native_before, _fallbacks() - fallbacks_before
    registry.deactivate()
    try:
        stock = [_run(kw) for kw in cases]
    finally:
        registry.activate()
    return [(kw, s, f) for kw, s, f in zip(cases, stock, fast) if s != f], native, fallbacks


def _stock_batch_counts(model: str, lists: list) -> list:
    """Stock ``token_counter`` per message list: the count, or the exception type it raised."""
    registry.deactivate()
    try:
        want = []
        for m in lists:
            try:
                want.append(litellm.token_counter(model=model, messages=m))
            except Exception as exc:
                want.append(type(exc))
    finally:
        registry.activate()
    return want


@pytest.fixture(scope="module")
def active():
    registry.activate()
    st = fast_litellm.status()
    applied = [p for p in st["patches"] if p["component"] == "token_counting" and p["state"] == "applied"]
    if not applied:
        pytest.skip("token_counting patches not applied on this LiteLLM")
    yield
    registry.activate()


def test_parity_generated_corpus(active):
    rng = random.Random(20261124)
    cases = [_case(rng, i) for i in range(N_CASES)]
    assert len(cases) >= 10_000
    diffs, native, fallbacks = _fast_then_stock(cases)
    print(f"\n{len(cases)} cases, {native} counted natively, {fallbacks} fallbacks, {len(diffs)} differences")
    assert not diffs, f"{len(diffs)} differences, first: {diffs[0]!r:.2000}"
    assert fallbacks == 0
    assert native >= len(cases) // 2  # most of the corpus goes through Rust


def test_examples_from_the_issue(active):
    one = [{"role": "user", "content": "Hey, how's it going?"}]
    with_tool = one + [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}
    ]
    for kw in (dict(model="gpt-4o", messages=one), dict(model="gpt-3.5-turbo", messages=with_tool, tools=_TOOLS)):
        fast = litellm.token_counter(**kw)
        registry.deactivate()
        try:
            stock = litellm.token_counter(**kw)
        finally:
            registry.activate()
        assert fast == stock


def test_internal_function_is_patched(active):
    from litellm.litellm_core_utils import token_counter as core

    assert getattr(core.token_counter, "_fast_litellm_patch", None)
    assert getattr(litellm.utils.token_counter, "_fast_litellm_patch", None)
    assert litellm.token_counter is litellm.utils.token_counter


def test_batch_matches_loop(active):
    rng = random.Random(5)
    lists = [[_message(rng) for _ in range(rng.randint(0, 4))] for _ in range(300)]
    for model in ("gpt-4o", "gpt-3.5-turbo", "claude-sonnet-4-20250514"):
        want = _stock_batch_counts(model, lists)
        ok = [w for w in want if not isinstance(w, type)]
        assert len(ok) > 100
        # Lists LiteLLM rejects raise from the batch call too; compare the valid ones.
        valid = [m for m, w in zip(lists, want) if not isinstance(w, type)]
        assert fast_litellm.count_tokens_batch(model, valid) == ok


def test_disable_token_counter_and_custom_tokenizer_delegate(active):
    msgs = [{"role": "user", "content": "hi"}]
    litellm.disable_token_counter = True
    try:
        assert litellm.token_counter(model="gpt-4o", messages=msgs) == 0
    finally:
        litellm.disable_token_counter = False
    assert litellm.token_counter(model="gpt-4o", messages=msgs) > 0


def test_parity_images(active):
    """Images LiteLLM measures (detail high; auto on 1.110): generated PNG/GIF/JPEG/WebP
    headers of many sizes in data URLs, valid and broken."""
    rng = random.Random(777)
    cases = []
    for i in range(3000):
        parts = []
        for _ in range(rng.randint(1, 3)):
            url = _data_url(rng) if rng.random() < 0.9 else "https://example.invalid/x.png"
            detail = rng.choice(["high", "high", "auto", None])
            if detail == "high" and url.startswith("http"):
                detail = "auto"  # never download
            image = {"url": url} if detail is None else {"url": url, "detail": detail}
            parts.append({"type": "image_url", "image_url": image if rng.random() < 0.9 else url})
        parts.append({"type": "text", "text": _rand_text(rng, 40)})
        cases.append({"model": rng.choice(["gpt-4o", "gpt-4.1", "unknown-model-xyz"]), "messages": [{"role": "user", "content": parts}]})
    diffs, native, _ = _fast_then_stock(cases)
    print(f"\n{len(cases)} image cases, {native} counted natively, {len(diffs)} differences")
    assert not diffs, f"{len(diffs)} differences, first: {diffs[0]!r:.2000}"
    assert native >= len(cases) // 2
