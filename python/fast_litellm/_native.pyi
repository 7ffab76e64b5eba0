"""Type stubs for the Rust extension module ``fast_litellm._native``."""

__version__: str
build_profile: str

def _panic_for_tests(message: str) -> None:
    """Panic inside Rust (surfaces as ``pyo3_runtime.PanicException``); for tests."""

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
