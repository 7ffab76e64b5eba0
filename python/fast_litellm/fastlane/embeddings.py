"""Which model groups the fast lane serves on ``/v1/embeddings`` (``crates/fastlane/src/embeddings.rs``).

A group whose every deployment is an ``openai/`` model LiteLLM's price map lists with
``mode: embedding`` and plain per-token rates is handed to the front apart from the chat
groups: the front serves it on the embeddings routes only (a chat request to it goes to
LiteLLM, as any request to a group the front does not serve).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

MODE = "embedding"


def price(info: Dict[str, Any], upstream_model: str, plain: Any) -> Optional[Tuple[float, float]]:
    """The plain per-token rates of an embedding model (``plain``: the chat check, applied
    to the same entry with its mode set aside), or None."""
    if info.get("mode") != MODE:
        return None
    return plain(dict(info, mode=None), upstream_model)


def split(groups: Dict[str, list], declined: Dict[str, str]) -> Tuple[Dict[str, list], Dict[str, list]]:
    """-> (chat groups, embedding groups), without the ``mode`` mark; a group mixing both is declined."""
    chat: Dict[str, list] = {}
    embedding: Dict[str, list] = {}
    for name, deps in groups.items():
        modes = {d.get("mode") for d in deps}
        clean = [{k: v for k, v in d.items() if k != "mode"} for d in deps]
        if modes == {MODE}:
            embedding[name] = clean
        elif MODE in modes:
            declined[name] = "group mixes embedding and chat models"
        else:
            chat[name] = clean
    return chat, embedding


def summary(embedding_groups: Dict[str, list], logging: bool) -> str:
    """The start-up line's part about embeddings."""
    if not embedding_groups:
        return ""
    if logging:
        return f"; embedding groups {sorted(embedding_groups)} via LiteLLM (callbacks: their replay is not verified)"
    return f"; embedding groups {sorted(embedding_groups)} in Rust on /v1/embeddings"
