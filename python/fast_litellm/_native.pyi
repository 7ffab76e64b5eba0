"""Type stubs for the Rust extension module ``fast_litellm._native``."""

__version__: str
build_profile: str

def _panic_for_tests(message: str) -> None:
    """Panic inside Rust (surfaces as ``pyo3_runtime.PanicException``); for tests."""
