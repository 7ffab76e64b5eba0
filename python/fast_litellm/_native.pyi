"""Type stubs for the Rust extension module ``fast_litellm._native``."""

__version__: str
build_profile: str

def _panic_for_tests(message: str) -> None:
    """Panic inside Rust (surfaces as ``pyo3_runtime.PanicException``); for tests."""

# -- transport (fast_litellm.transport) ------------------------------------------

_Timeouts = tuple[float | None, float | None, float | None, float | None]  # connect, read, write, pool
_HeaderList = list[tuple[bytes, bytes]]

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
    def drain(self) -> list[tuple]: ...
    def submit_many(self, batch: list[tuple], credit: int = 8) -> None: ...
    def cancel(self, id: int) -> None: ...
    def grant(self, id: int, n: int) -> None: ...
    def in_flight(self) -> int: ...
