"""Type stubs for the Rust extension module ``fast_litellm._native``."""

__version__: str
build_profile: str

def _panic_for_tests(message: str) -> None:
    """Panic inside Rust (surfaces as ``pyo3_runtime.PanicException``); for tests."""

# -- audit (fast-litellm audit) ---------------------------------------------------

def audit_list_distributions(base: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """Every ``*.dist-info`` in ``base``: ``(dist_info, name, version, record_or_None)``,
    name/version from METADATA's header. Raises ``OSError`` if ``base`` cannot be listed."""

def audit_base(base: str, targets: list[str], scan_pth: bool = True) -> dict:
    """Verify the distributions whose RECORD paths are ``targets`` (inside ``base``):
    ``{"base", "dists": [{"record", "entries", "verified", "bytes", "error", "package_dirs",
    "issues": [{"path", "problem", ...}], "unlisted": [(path, kind)]}], "pth": [{"path",
    "sha256", "size", "owner_record", "exec_lines": [(lineno, line)], "path_lines", "error"}],
    "record_errors": [(record, message)]}``. Runs in parallel with the GIL released."""

# -- tokens (token_counting component) ------------------------------------------

from typing import Any, List, Optional, Tuple, Union

class HfTokenizer:
    """A HuggingFace ``tokenizer.json`` loaded natively (parsed once per document per
    process); counts as ``len(tokenizers.Tokenizer.encode(text).ids)``."""

    @staticmethod
    def from_json(json: str) -> HfTokenizer: ...
    def count(self, text: str) -> int: ...
    def count_reference(self, text: str) -> int:
        """The same count through the crate's ``Tokenizer.encode_fast`` (tests)."""
    @property
    def fast(self) -> bool:
        """Whether counts take the fast path (else every count is ``encode_fast``)."""

class TokenPlan:
    """Native ``litellm.token_counter`` for one model: its encoding (a tiktoken
    encoding name or an ``HfTokenizer``), LiteLLM's accounting flavor (1: 1.83.x,
    2: 1.110.x) and per-message constants.
    Every method answers ``None`` for inputs it does not cover."""

    def __init__(
        self,
        encoding: Union[str, HfTokenizer],
        flavor: int,
        tokens_per_message: int,
        tokens_per_name: int,
        chunk_chars: int,
        max_exact_chars: int,
        default_image_tokens: int,
        image_config: Optional[Tuple[int, int, int, int, int, int, int]] = None,
    ) -> None: ...
    @property
    def encoding(self) -> str:
        """The tiktoken encoding name, or ``"huggingface"``."""
    def count_messages(
        self, messages: Any, extra: bool = True, use_default_image: bool = False, tools_text: Optional[str] = None
    ) -> Optional[int]: ...
    def count_text(self, text: Any) -> Optional[int]: ...
    def count_batch(self, requests: Any) -> List[Optional[int]]: ...

# -- cost (cost component) -----------------------------------------------------

class CostTable:
    """Resolved per-model rates; ``cost`` replays LiteLLM's generic per-token arithmetic."""

    def __init__(self) -> None: ...
    def add(
        self,
        input: float,
        output: float,
        cache_creation: float,
        cache_read: float,
        reasoning: float | None,
        tiers: list[tuple[float, float, float, float, float]],
        double_count_includes_creation: bool,
    ) -> int: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def cost(
        self,
        idx: int,
        prompt: int,
        completion: int,
        cached: int = 0,
        cache_creation: int = 0,
        prompt_text: int = 0,
        reasoning: int = 0,
        completion_text: int = 0,
    ) -> tuple[float, float]: ...
    def total(
        self,
        idx: int,
        prompt: int,
        completion: int,
        cached: int = 0,
        cache_creation: int = 0,
        prompt_text: int = 0,
        reasoning: int = 0,
        completion_text: int = 0,
    ) -> float: ...
    def completion_total(
        self, r: Any, usage_cls: Any, plans: dict, model_cost: dict, parts: bool = False
    ) -> float | list | tuple | None:
        """``completion_cost(completion_response=r)`` in one call: the float when ``r``'s plan
        (in ``plans``) covers it, ``None`` when not covered, the plan key when it has no plan yet.
        With ``parts``, a covered call gives
        ``[prompt_cost, completion_cost, cached, cache_creation, reasoning, plan]`` instead."""
        ...
    def set_chat(self, state: tuple[Any, Any, Any, dict, dict] | None) -> None:
        """``(litellm, ModelResponse, Usage, model_cost, plans)``: what ``chat_cost`` serves from
        (the plans of one ``model_cost`` fingerprint); ``None`` drops it (``clear`` too)."""
        ...
    def chat_cost(self, r: Any) -> Any:
        """``completion_cost(completion_response=r)`` with nothing else, in one call: the float
        when ``r`` is a ``ModelResponse`` with a native plan, ``None`` when not covered,
        ``NotImplemented`` when the Python side must decide (no state, another type, the price
        map replaced or resized, discount/margin configs, no plan yet)."""
        ...

# -- rate_limit -------------------------------------------------------------
from typing import Any, Dict, List, Optional, Tuple

class RateLimitStore:
    """LiteLLM's ``InMemoryCache`` algorithm in Rust (flavor ``"1.83"`` or ``"1.110"``).

    Exact ``int`` values and ``{"current_requests", "current_tpm", "current_rpm"}``
    dicts of ints are stored as fixed-size Rust values; anything else as the object."""

    max_size: int
    default_ttl: float
    def __init__(self, max_size: int, default_ttl: float, flavor: str) -> None: ...
    def evict(self, now: float) -> None: ...
    def set(self, key: str, value: Any, ttl: Optional[float], now: float) -> None: ...
    def set_many(self, items: List[Tuple[str, Any]], ttl: Optional[float], now: float) -> None: ...
    def get(self, key: str, now: float) -> Any: ...
    def get_many(self, keys: List[Any], now: float) -> List[Any]: ...
    def incr(self, key: str, delta: int, ttl: Optional[float], now: float) -> Optional[int]: ...
    def contains(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def flush(self) -> None: ...
    def ttl(self, key: str) -> Optional[float]: ...
    def __len__(self) -> int: ...
    def heap_len(self) -> int: ...
    def items(self) -> List[Tuple[str, Any, Optional[float]]]: ...
    def heap_items(self) -> List[Tuple[float, str]]: ...
    def approx_bytes(self) -> int: ...
class RateLimitWindows:
    """Per-minute counters of LiteLLM's v1 proxy limiter: one 24-byte slot per scope
    string (64-bit keyed hash; the string is not kept), lock-free CAS updates. In
    this process's heap (``path=None``; grows, reclaims old minutes) or in the
    memory-mapped file ``path`` shared by every process opening it (``slots`` is
    used by the creator only). Counts are ``(current_requests, current_tpm, current_rpm)``."""

    def __init__(self, path: Optional[str] = None, slots: int = 4194304) -> None: ...
    def admit(
        self, window: int, keys: List[str], limits: List[Tuple[int, int, int]], want: int = -1
    ) -> Tuple[int, Optional[Tuple[int, int, int]], Optional[Tuple[int, int, int]]]:
        """Check scopes in order, limits ``(max_parallel, tpm, rpm)``: ``(-1, None, new[want])``
        when all are admitted, else ``(index, current or None, new[want] if admitted before)``."""
    def release(self, window: int, ops: List[Tuple[str, int, int, Tuple[int, int, int]]]) -> None:
        """``(key, released, tokens, default counts)``: in-flight down, tokens added."""
    def get(self, window: int, key: str) -> Optional[Tuple[int, int, int]]: ...
    def live(self, window: int) -> int: ...
    @property
    def shared(self) -> bool: ...
    @property
    def capacity(self) -> int: ...
    @property
    def used(self) -> int: ...
    @property
    def nbytes(self) -> int:
        """Exact bytes of the table (header + slots)."""

class RateLimitFixedWindows:
    """Entries of LiteLLM 1.83's v3 proxy limiter: one 80-byte slot per descriptor
    ``"{key}:{value}"`` (64-bit keyed hash; the string is not kept) holding its
    window / requests / tokens / max_parallel_requests entries, each an exact int
    and ``f64`` expiry with ``InMemoryCache``'s semantics. In this process's heap
    (``path=None``; grows, drops expired slots) or in the memory-mapped file
    ``path`` shared by every process opening it (fixed capacity, expired slots
    reused; per-slot locks with dead-owner takeover)."""

    def __init__(self, path: Optional[str] = None, slots: int = 1048576) -> None: ...
    def check(
        self,
        ids: List[str],
        names: List[str],
        limits: List[Optional[int]],
        now_int: int,
        now: float,
        window_size: int,
    ) -> Dict[str, Any]:
        """``should_rate_limit`` (in memory): limits flat ``(requests, tokens,
        max_parallel)`` per descriptor; returns LiteLLM's ``RateLimitResponse`` dict.
        TypeError for non-int limits, ValueError on overflow, MemoryError when full."""
    def check_auth(
        self,
        auth: Any,
        data: Dict[str, Any],
        clock: Optional[Tuple[int, float]],
        window_size: int,
        defaults: Any,
    ) -> Any:
        """LiteLLM 1.83's v3 pre-call check for the common case in one call (reads the
        ``UserAPIKeyAuth``'s fields from its instance dict and ``data["model"]``).
        ``clock``: ``(limiter second, cache time)`` or None for one system-clock
        reading; ``defaults``: False (no router), None (not looked up) or the
        model's ``(tpm, rpm)`` deployment defaults. Returns None (no descriptor),
        the ``RateLimitResponse`` dict (admitted), ``(response, descriptors)``
        (refused), 1 (not the common case) or 2 (deployment defaults needed)."""
    def increment(self, ops: List[Tuple[str, int, int]], now: float, default_ttl: float) -> None:
        """``(id, entry, delta)``: ``(get or 0) + delta`` then set with ``default_ttl``."""
    def get(self, id: str, entry: int, now: float) -> Optional[int]:
        """Entry 0 window, 1 requests, 2 tokens, 3 max_parallel_requests, at cache time ``now``."""
    @property
    def shared(self) -> bool: ...
    @property
    def capacity(self) -> int: ...
    @property
    def used(self) -> int: ...
    @property
    def nbytes(self) -> int:
        """Exact bytes of the table (header + slots)."""

class RateLimitV1Fast:
    """LiteLLM's v1 pre-call check for the common case in one call, bound to one
    limiter (its table, usage cache, clock and module objects, captured at
    construction): reads the ``UserAPIKeyAuth``'s fields from its instance dict,
    checks nothing outside the common case applies and counts in the table
    (``fast_litellm_core::ratelimit::window::WindowTable::check_v1``)."""

    def __init__(
        self,
        windows: RateLimitWindows,
        v110: bool,
        auth_cls: Any,
        iuc_dict: Dict[str, Any],
        dual: Any,
        clock_dict: Dict[str, Any],
        clock0: Any,
        prl_dict: Dict[str, Any],
        key_model_fns: Tuple[Any, Any],
        modules: Dict[str, Any],
    ) -> None: ...
    def check(self, auth: Any, data: Any, window: Optional[int] = None) -> Any:
        """None (admitted / no scope), 1 (not the common case: nothing counted), 3
        (a replaced clock: call again with its ``window``), or refused:
        ``(scope, max_parallel, tpm, rpm, rate_limit_type, current or None)``."""
    def minute_at(self, secs: int) -> Optional[int]:
        """The minute ``check`` uses at Unix second ``secs`` (per-second cache)."""

class RateLimitV3Fast:
    """LiteLLM 1.83's v3 pre-call hook for the common case in one call, bound to one
    limiter: the delegation checks, clocks, router lookup, ``check_auth`` and the
    write of the response into ``data``."""

    def __init__(
        self,
        table: RateLimitFixedWindows,
        auth_cls: Any,
        lim_dict: Dict[str, Any],
        window: int,
        tp0: Any,
        iuc_dict: Dict[str, Any],
        dual: Any,
        imc_dict: Dict[str, Any],
        time_mod: Any,
        modules: Dict[str, Any],
    ) -> None: ...
    def check(
        self,
        auth: Any,
        data: Any,
        call_type: Any,
        defaults: Any = None,
        clock: Optional[Tuple[int, float]] = None,
    ) -> Any:
        """None (done), ``(response, descriptors)`` (refused), 1 (not the common
        case), 2 (pass the router's ``defaults``), 3 (pass LiteLLM's ``clock``)."""

def ratelimit_local_minute(secs: int) -> Optional[int]:
    """``toordinal() * 1440 + hour * 60 + minute`` of the local time of Unix second
    ``secs`` (``localtime_r``, as ``datetime.now()``), the v1 limiter's minute key."""

def ratelimit_clocks() -> Tuple[int, float]:
    """``(int(datetime.now().timestamp()), time.time())`` of one system-clock reading."""

def ratelimit_lock_owner() -> int:
    """The id the v3 table's slot locks are taken under: this process's pid (cached;
    a forked child takes its own)."""

def ratelimit_clocks_from_ns(ns: int) -> Tuple[int, float]:
    """The same two values for a given nanosecond time (for tests)."""

# -- transport (fast_litellm.httpx_transport) ------------------------------------

_Timeouts = tuple[float | None, float | None, float | None, float | None]  # connect, read, write, pool
_HeaderList = list[tuple[bytes, ...]]  # (name, value) or httpx's (raw name, lower name, value)

class HttpClient:
    def __init__(
        self,
        *,
        verify: bool = True,
        ca_pem: bytes | None = None,
        http2: bool = True,
        max_connections: int = 100,
        max_keepalive: int = 20,
        keepalive_expiry: float | None = 5.0,
        connect_timeout: float | None = None,
        trust_env: bool = True,
    ) -> None: ...
    def submit(
        self, reactor: AsyncReactor, id: int, method: str, url: str, headers: _HeaderList, body: bytes,
        timeouts: _Timeouts, credit: int = 8,
    ) -> Call: ...
    def submit_blocking(
        self, method: str, url: str, headers: _HeaderList, body: bytes, timeouts: _Timeouts, credit: int = 8
    ) -> BlockingCall: ...

class Call:
    def cancel(self) -> None: ...
    def grant(self, n: int) -> None: ...

class BlockingCall:
    def cancel(self) -> None: ...
    def grant(self, n: int) -> None: ...
    def next_event(self) -> tuple: ...

class AsyncReactor:
    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def drain(self) -> list[tuple]:
        """Events since the last call: ``(id, 0, status, [(name, lower name, value)], http_version, body, eof,
        plain)`` (the header entries in httpx's ``Headers._list`` shape), ``(id, 1, data, eof)``,
        ``(id, 2, kind, message)``."""
    def submit_many(self, batch: list[tuple], credit: int = 8) -> None: ...
    def cancel(self, id: int) -> None: ...
    def grant(self, id: int, n: int) -> None: ...
    def in_flight(self) -> int: ...

# -- proxy fast lane (crates/fastlane) ------------------------------------------------

def fastlane_serve(config_json: str) -> None:
    """Bind ``config["listen"]`` and serve until :func:`fastlane_stop` (blocks, GIL released)."""

def fastlane_stop() -> bool:
    """Stop the running front; False when none runs."""

def fastlane_stats() -> Optional[Tuple[int, int, int, int]]:
    """``(served, passed, replayed, backend_errors)`` of the running front, or None."""

def fastlane_float_repr(x: float) -> str:
    """Python's ``str(float)`` as the front formats cost headers."""

def fastlane_orjson_float(x: float) -> str:
    """orjson's text for a finite float, as the front writes embedding vectors."""

def fastlane_drain(max: int, timeout_ms: int) -> Optional[List[str]]:
    """Up to ``max`` logging records (JSON strings) of requests served in Rust, waiting at most
    ``timeout_ms`` for the first (GIL released); None when no queue exists or the front stopped
    and the queue is empty (see ``fast_litellm.fastlane.replay``)."""

def fastlane_log_stats() -> Tuple[int, int, int]:
    """``(queued, dropped, drained)`` logging records since the process started."""

# -- rate limiting: the 1.110.x v3 limiter's local entries (crates/core/src/ratelimit/store110.rs) --

class RateLimitStore110:
    """Window/requests/tokens entries of LiteLLM 1.110.x's v3 limiter (32-byte slots keyed by a
    keyed hash of (key, value, suffix)), in this process or in the file ``path`` shared by
    every process that opens it (``slots`` when it creates the file)."""

    def __init__(self, path: Optional[str] = None, slots: int = 1048576) -> None: ...
    def get(self, key: str, value: str, suffix: str) -> Any:
        """None, int, float, str, or Ellipsis (held by the caller elsewhere)."""
    def set(self, key: str, value: str, suffix: str, v: Any, ttl: Optional[float]) -> bool:
        """False (nothing written) when ``v`` is not an int/float/decimal-int str this table holds."""
    def set_foreign(self, key: str, value: str, suffix: str, ttl: Optional[float]) -> None: ...
    def incr(self, key: str, value: str, suffix: str, amount: Any, ttl: Optional[int]) -> Any:
        """The new value; None for a live string (unchanged); Ellipsis when held elsewhere."""
    def expiry(self, key: str, value: str, suffix: str) -> Optional[float]: ...
    def lock(self) -> None:
        """Take the table lock (re-entrant; across processes for a shared table)."""
    def unlock(self) -> None: ...
    @property
    def held(self) -> bool: ...
    @property
    def shared(self) -> bool: ...
    @property
    def capacity(self) -> int: ...
    @property
    def used(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    def live(self) -> int: ...
