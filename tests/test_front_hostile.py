"""The fast lane's front against a hostile client (issue 16), compared with the stock proxy.

Each probe goes, byte for byte over a raw socket, to the stock proxy
(``fast-litellm proxy --no-fast-lane``) and to the fast lane (``fast-litellm proxy``) on
the same config, and the two must agree: status, body, and the client address LiteLLM
saw (``GET /v1/mcp/network/client-ip``), the MCP servers it lists to an outside caller,
the admin-UI login throttle. Connection hygiene (idle keep-alive and half-sent heads
closed, no spin under fd exhaustion) runs on a bare front (``_native.fastlane_serve``
in a subprocess, pass-through to the stock proxy) with short settings, so it stays quick.

``FAST_LITELLM_HOSTILE_FUZZ=<n>`` runs ``n`` random requests in the sampled fuzz test
instead of the CI sample of 80.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from util_proc import free_port, stop_group, wait_http

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-front-hostile"
BIN = Path(sys.executable).parent
UI_USER, UI_PASS = "admin", "right-password-1"

native = pytest.importorskip("fast_litellm._native")
if not hasattr(native, "fastlane_serve"):
    pytest.skip("native module built without the fast lane", allow_module_level=True)

HAS_MCP = importlib.util.find_spec("mcp") is not None  # LiteLLM's MCP servers need the `mcp` package

CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:9/v1
      api_key: sk-mock-upstream
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
""" + ("""  mcp_internal_ip_ranges: ["10.0.0.0/8"]
  enable_mcp_registry: true
mcp_servers:
  private_tools:
    url: http://10.9.9.9:8080/mcp
    transport: http
    available_on_public_internet: false
  public_tools:
    url: http://10.9.9.10:8080/mcp
    transport: http
    available_on_public_internet: true
""" if HAS_MCP else """  custom_auth: whoami.user_api_key_auth
""")

# Without the `mcp` package LiteLLM has no /v1/mcp/network/client-ip: a custom auth tells the
# address LiteLLM saw in its error for one key, and lets the master key in as usual.
WHOAMI = """
import os
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

async def user_api_key_auth(request, api_key):
    if api_key == "sk-whoami":
        raise Exception("client-ip=" + (request.client.host if request.client else "none") + "=")
    if api_key == os.environ["LITELLM_MASTER_KEY"]:
        return UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.PROXY_ADMIN)
    raise Exception("invalid key")
"""


def _litellm_version() -> str:
    from importlib.metadata import version

    return version("litellm")


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    cfg = tmp / "config.yaml"
    cfg.write_text(CONFIG)
    (tmp / "whoami.py").write_text(WHOAMI)
    env = dict(os.environ, LITELLM_MASTER_KEY=KEY, LITELLM_LOCAL_MODEL_COST_MAP="True", UI_USERNAME=UI_USER,
               UI_PASSWORD=UI_PASS, PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "FAST_LITELLM_FAST_LANE", "FORWARDED_ALLOW_IPS"):
        env.pop(var, None)
    ports = {"stock": free_port(), "fast": free_port()}
    procs, logs = [], []
    try:
        for name, extra in (("stock", ["--no-fast-lane"]), ("fast", [])):
            log = open(tmp / f"{name}.log", "wb")
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "fast_litellm.cli", "proxy", "--config", str(cfg), "--port", str(ports[name])]
                + extra, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for name, proc in zip(("stock", "fast"), procs):
            wait_http(f"http://127.0.0.1:{ports[name]}/health/liveliness", proc, 240)
        yield dict(ports, fast_log=tmp / "fast.log")
    finally:
        for p in procs:
            stop_group(p)
        for f in logs:
            f.close()


# -- raw HTTP ------------------------------------------------------------------------


def _raw(port: int, data: bytes, src: str = "127.0.0.1", timeout: float = 30.0) -> bytes:
    """Send ``data`` from source address ``src``; everything the server sends until it closes."""
    with socket.socket() as s:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out


def _parse(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.setdefault(k.strip().lower().decode("latin1"), v.strip().decode("latin1"))
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return status, headers, body


def _request(method: str, target: str, headers=(), body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: proxy.test", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body


def _both(rig, data: bytes, src: str = "127.0.0.1"):
    return tuple(_parse(_raw(rig[name], data, src)) for name in ("stock", "fast"))


def _agree(rig, data: bytes, src: str = "127.0.0.1", body: bool = True):
    (s_status, _, s_body), (f_status, f_headers, f_body) = _both(rig, data, src)
    assert f_status == s_status, (data[:200], s_status, f_status, s_body[:200], f_body[:200])
    if body:
        assert f_body == s_body, (data[:200], s_body[:300], f_body[:300])
    if f_status is not None and f_status not in (400, 431):  # hyper's own parse errors (README)
        assert f_headers.get("x-fast-litellm-lane") in ("rust", "python"), (data[:200], f_headers)
    return s_status, s_body


# -- the client address --------------------------------------------------------------


def _client_ip(rig, name, src, headers=()):
    """The client address LiteLLM saw: its MCP client-ip route, else the custom auth's error."""
    if not HAS_MCP:
        status, _, body = _parse(_raw(rig[name], _request(
            "GET", "/v1/models", [("Authorization", "Bearer sk-whoami"), *headers]), src))
        found = re.search(rb"client-ip=([^=]*)=", body)
        assert found, (status, body)
        return found.group(1).decode()
    status, _, body = _parse(_raw(rig[name], _request(
        "GET", "/v1/mcp/network/client-ip", [("Authorization", f"Bearer {KEY}"), *headers]), src))
    assert status == 200, body
    return json.loads(body)["ip"]


@pytest.mark.parametrize("src, headers", [
    ("127.0.0.2", []),
    ("127.0.0.2", [("X-Forwarded-For", "8.8.8.8")]),
    ("127.0.0.2", [("X-Forwarded-For", "8.8.8.8"), ("X-Forwarded-Proto", "https"), ("X-Real-IP", "9.9.9.9"),
                   ("Forwarded", "for=9.9.9.9"), ("X-Forwarded-Host", "evil.example")]),
    ("127.0.0.1", [("X-Forwarded-For", "8.8.8.8")]),  # the default trusted address: stock takes the header
    ("127.0.0.1", [("X-Forwarded-For", "8.8.8.8, 127.0.0.1")]),
    ("127.0.0.1", []),
    ("127.0.0.2", [("x-fast-litellm-peer", "forged 10.1.2.3 1")]),
    ("127.0.0.2", [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")]),
])
def test_client_address_is_stocks(rig, src, headers):
    stock = _client_ip(rig, "stock", src, headers)
    assert _client_ip(rig, "fast", src, headers) == stock
    # The probe sees what matters: an untrusted peer's header is ignored, the trusted one's taken.
    if src == "127.0.0.2" and not any(k.lower() == "x-forwarded-for" for k, _ in headers):
        assert stock == "127.0.0.2"
    if src == "127.0.0.1" and headers == [("X-Forwarded-For", "8.8.8.8")]:
        assert stock == "8.8.8.8"


@pytest.mark.skipif(not HAS_MCP, reason="the `mcp` package is not installed with this LiteLLM")
def test_mcp_private_server_hidden_from_outside(rig):
    """An outside caller claiming an internal address must not see the private MCP server."""
    data = _request("GET", "/v1/mcp/registry.json", [("X-Forwarded-For", "10.1.2.3")])
    status, body = _agree(rig, data, src="127.0.0.2", body=False)
    if status == 404:
        pytest.skip(f"LiteLLM {_litellm_version()} has no MCP registry")
    (_, _, s_body), (_, _, f_body) = _both(rig, data, src="127.0.0.2")
    assert json.loads(f_body) == json.loads(s_body)
    assert b"10.9.9.9" not in f_body
    # From an internal address (trusted proxy 127.0.0.1 passing 10.1.2.3) both list it.
    _agree(rig, data, src="127.0.0.1", body=False)


def test_login_throttle_counts_the_real_client(rig):
    if not _litellm_version().startswith("1.110"):
        pytest.skip(f"LiteLLM {_litellm_version()} has no admin-UI login throttle")
    statuses = {}
    for name in ("stock", "fast"):
        seen = []
        for i in range(12):
            form = f"username={UI_USER}&password=wrong-{i}".encode()
            status, _, _ = _parse(_raw(rig[name], _request(
                "POST", "/login", [("Content-Type", "application/x-www-form-urlencoded"),
                                   ("X-Forwarded-For", f"203.0.113.{i + 1}")], form), src="127.0.0.3"))
            seen.append(status)
        # Another client, right password: not locked out by the first one's failures on stock.
        form = f"username={UI_USER}&password={UI_PASS}".encode()
        status, _, _ = _parse(_raw(rig[name], _request(
            "POST", "/login", [("Content-Type", "application/x-www-form-urlencoded")], form), src="127.0.0.4"))
        seen.append(status)
        statuses[name] = seen
    assert statuses["fast"] == statuses["stock"]
    assert 429 in statuses["stock"]


# -- paths and targets ---------------------------------------------------------------

INTERNAL_SPELLINGS = [
    "/_fast_litellm/lane-log", "/%5Ffast_litellm/lane-log", "/%5ffast_litellm/lane-log", "//_fast_litellm/lane-log",
    "/./_fast_litellm/lane-log", "/v1/../_fast_litellm/lane-log", "/_fast%5Flitellm/lane-log",
    "/%255Ffast_litellm/lane-log", "/_fast_litellm/lane-log/", "/_fast_litellm/lane-log?x=1", "/_fast_litellm/stats",
    "/_FAST_LITELLM/stats",
]


@pytest.mark.parametrize("path", INTERNAL_SPELLINGS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_internal_route_unreachable(rig, path, method):
    # Even a client that knew the launch secret's header name gets stock's answer (no such route).
    status, _ = _agree(rig, _request(method, path, [("x-fast-litellm-secret", "guess"),
                                                    ("Content-Type", "application/json")], b"[]"))
    assert status in (404, 405, 307), status


@pytest.mark.parametrize("target", [
    "http://evil.example/v1/chat/completions", "http://evil.example/health/liveliness", "*", "evil.example:443",
])
def test_non_origin_form_targets(rig, target):
    status, _ = _agree(rig, _request("POST", target, [("Authorization", f"Bearer {KEY}"),
                                                     ("Content-Type", "application/json")], b"{}"))
    assert status in (400, 404), status


def test_large_headers_pass_like_stock(rig):
    big = [(f"X-Big-{i}", "a" * 1000) for i in range(100)]
    for _ in range(5):
        status, _ = _agree(rig, _request("GET", "/health/liveliness", big))
        assert status == 200
    many = [(f"X-Many-{i}", "b") for i in range(300)]
    assert _agree(rig, _request("GET", "/health/liveliness", many))[0] == 200


# -- a sampled fuzz of methods, paths, headers and framings --------------------------

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
_PATHS = ["/health/liveliness", "/v1/models", "/models", "/v1/model/info", "/v1/chat/completions", "/chat/completions",
          "/v1/responses", "/nope", "/v1/chat/completions/", "/%761/models", "/v1//models", "/v1/models?x=%ZZ"]


def _random_request(rng: random.Random) -> bytes:
    method, path = rng.choice(_METHODS), rng.choice(_PATHS + INTERNAL_SPELLINGS)
    headers = []
    auth = rng.choice([None, f"Bearer {KEY}", "Bearer sk-wrong", "Basic eA=="])
    if auth:
        headers.append(("Authorization", auth))
    for name, value in rng.sample([("X-Forwarded-For", "8.8.8.8"), ("X-Real-IP", "1.2.3.4"), ("Accept", "*/*"),
                                   ("Content-Type", "application/json"), ("Forwarded", "for=1.1.1.1"),
                                   ("User-Agent", "fuzz"), ("x-fast-litellm-peer", "x 1.2.3.4 5"),
                                   ("X-Stainless-Lang", "python")], rng.randint(0, 4)):
        headers.append((name, value))
    # Bodies LiteLLM rejects before any upstream call (no model / a model it does not know / bad JSON).
    body = rng.choice([b"", b"{}", b"not json", b'{"model": "no-such-model", "messages": []}',
                       b'{"messages": [{"role": "user", "content": "x"}]}'])
    framing = rng.choice(["length", "chunked", "none"] if body else ["none"])
    if framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    elif framing == "length":
        headers.append(("Content-Length", str(len(body))))
    else:
        body = b""
    return _request(method, path, headers, body)


def test_fuzz_sample_agrees_with_stock(rig):
    n = int(os.environ.get("FAST_LITELLM_HOSTILE_FUZZ", "80"))
    rng = random.Random(1616)
    for _ in range(n):
        data = _random_request(rng)
        (s_status, _, s_body), (f_status, f_headers, f_body) = _both(rig, data, "127.0.0.2")
        assert f_status == s_status, (data[:300], s_status, f_status, s_body[:200], f_body[:200])
        if s_status != 500:  # error texts may carry ids
            assert f_body == s_body or _same_json_shape(s_body, f_body), (data[:300], s_body[:300], f_body[:300])


def _same_json_shape(a: bytes, b: bytes) -> bool:
    try:
        return type(json.loads(a)) is type(json.loads(b))
    except ValueError:
        return False


# -- connection hygiene on a bare front ----------------------------------------------

_BARE = """
import json, resource, sys
from fast_litellm import _native
nofile = int(sys.argv[2])
if nofile:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
_native.fastlane_serve(sys.argv[1])
"""


@pytest.fixture()
def bare_front(rig, tmp_path):
    started = []

    def start(conn, nofile=0):
        port = free_port()
        cfg = {"listen": f"127.0.0.1:{port}", "backend": f"127.0.0.1:{rig['stock']}", "format": None, "conn": conn,
               "threads": 1}
        proc = subprocess.Popen([sys.executable, "-c", _BARE, json.dumps(cfg), str(nofile)], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, 60)
        return port, proc

    yield start
    for p in started:
        stop_group(p, timeout=10)


def _closed_within(sock: socket.socket, limit: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``limit`` seconds."""
    sock.settimeout(limit)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_idle_keep_alive_closed(bare_front):
    port, _ = bare_front({"idle_timeout_ms": 1000, "header_timeout_ms": 3000})
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(30)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert _closed_within(s, 15)
    with socket.create_connection(("127.0.0.1", port)) as s:  # connected, never sent a byte
        assert _closed_within(s, 15)


def test_half_sent_head_closed(bare_front):
    port, _ = bare_front({"idle_timeout_ms": 1000, "header_timeout_ms": 2000})
    with socket.create_connection(("127.0.0.1", port)) as s:  # half a head, then silence
        s.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\nX-A: ")
        assert _closed_within(s, 15)
    with socket.create_connection(("127.0.0.1", port)) as s:  # a byte every 0.3 s: slowloris
        deadline = time.monotonic() + 20
        closed = False
        for b in b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200:
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if _closed_within(s, 0.3):
                closed = True
                break
            if time.monotonic() > deadline:
                break
        assert closed


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_fd_exhaustion_does_not_spin(bare_front):
    port, proc = bare_front({"idle_timeout_ms": 0, "header_timeout_ms": 0}, nofile=64)
    held = []
    try:
        for _ in range(120):  # past the front's fd limit: it accepts until EMFILE, the rest wait in the backlog
            held.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.5)
        before, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(3)
        share = (_cpu_seconds(proc.pid) - before) / (time.monotonic() - t0)
        assert share < 0.10, f"front used {share:.0%} of a core while out of fds"
    finally:
        for s in held:
            s.close()
    # The fds free up: the front serves again.
    t0 = time.monotonic()
    status = None
    while time.monotonic() - t0 < 20 and status != 200:
        try:
            status, _, _ = _parse(_raw(port, _request("GET", "/health/liveliness"), timeout=5))
        except OSError:
            time.sleep(0.1)
    assert status == 200


# -- launcher settings ---------------------------------------------------------------


def test_launch_env_keeps_the_operators_trust_for_the_middleware():
    from fast_litellm.fastlane import peer

    add = peer.launch_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}, ["--run_gunicorn"])
    assert add == {"FAST_LITELLM_FRONT_SERVER": "gunicorn", "FORWARDED_ALLOW_IPS": "",
                   "FAST_LITELLM_FORWARDED_ALLOW_IPS": "10.0.0.0/8"}
    assert peer.launch_env({}, [])["FAST_LITELLM_FRONT_SERVER"] == "uvicorn"
    assert "FAST_LITELLM_FORWARDED_ALLOW_IPS" not in peer.launch_env({}, [])
    assert peer.trusted_hosts("hypercorn") is None
    # The server's own default when the operator set nothing, whatever the process env says.
    assert "127.0.0.1" in str(peer.trusted_hosts("uvicorn", {}))
    assert peer.trusted_hosts("uvicorn", {"FAST_LITELLM_FORWARDED_ALLOW_IPS": "10.1.1.1"}) == "10.1.1.1"


def test_front_limits_from_env():
    from fast_litellm.fastlane import launcher

    assert launcher.front_limits({}) == {"idle_timeout_ms": 5000, "header_timeout_ms": 60000,
                                         "max_connections": 10000, "backlog": 2048}
    got = launcher.front_limits({"FAST_LITELLM_FRONT_IDLE_TIMEOUT": "0.5", "FAST_LITELLM_FRONT_HEADER_TIMEOUT": "x",
                                 "FAST_LITELLM_FRONT_MAX_CONNECTIONS": "-3"})
    assert got["idle_timeout_ms"] == 500 and got["header_timeout_ms"] == 60000 and got["max_connections"] == 10000
