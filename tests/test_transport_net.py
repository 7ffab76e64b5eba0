"""The transport over TLS, through HTTP(S) proxies and across fork().

A throw-away CA and server certificate are generated per test module (with
``cryptography``); the TLS upstream and the proxy are small threaded servers
in this process.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import select
import socket
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "transport"))

from fast_litellm import AsyncHTTPTransport, HTTPTransport  # noqa: E402

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

BODY = json.dumps({"id": "chatcmpl-tls", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "over TLS"},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}).encode()


def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(directory: Path):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("fast-litellm test CA"))
        .issuer_name(_name("fast-litellm test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path = directory / "server.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / "server.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(ca_path), str(cert_path), str(key_path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-request-id", "req-tls")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca, cert, key = make_pki(tmp_path_factory.mktemp("pki"))
    server = _Server(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"https://127.0.0.1:{server.server_address[1]}", "ca": ca}
    server.shutdown()


@pytest.fixture(scope="module")
def plain():
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _Proxy(socketserver.ThreadingTCPServer):
    """CONNECT tunnels, and absolute-form requests answered by the proxy itself."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.seen: list = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode("latin-1").strip()
        headers = {}
        while True:
            h = self.rfile.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        self.server.seen.append(line)
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            conn = self.connection
            try:
                while True:
                    ready, _, _ = select.select([conn, upstream], [], [], 5)
                    if not ready:
                        return
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        (upstream if s is conn else conn).sendall(data)
            finally:
                upstream.close()
        else:
            length = int(headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps({"proxied": target}).encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def proxy():
    server = _Proxy()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


PROXY_VARS = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
              "no_proxy"]


@pytest.fixture
def clean_proxy_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run(coro):
    return asyncio.run(coro)


def normalized(response: httpx.Response):
    headers = sorted((k.lower(), v) for k, v in response.headers.raw if k.lower() != b"date")
    return response.status_code, headers, response.content


# ---------------------------------------------------------------- TLS


def test_https_with_ca_bundle_path_identical_to_httpx(tls, clean_proxy_env):
    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport(verify=tls["ca"])) as ours, \
                httpx.AsyncClient(verify=ssl.create_default_context(cafile=tls["ca"])) as stock:
            return (await ours.post(tls["url"] + "/v1/chat/completions", json={"x": 1}),
                    await stock.post(tls["url"] + "/v1/chat/completions", json={"x": 1}))

    a, b = run(go())
    assert normalized(a) == normalized(b)
    assert a.content == BODY
    with httpx.Client(transport=HTTPTransport(verify=tls["ca"])) as c:
        assert c.get(tls["url"] + "/x").content == BODY


def test_https_ssl_cert_file_and_verify_false(tls, clean_proxy_env):
    clean_proxy_env.setenv("SSL_CERT_FILE", tls["ca"])

    async def go(**kw):
        async with httpx.AsyncClient(transport=AsyncHTTPTransport(**kw)) as c:
            return (await c.get(tls["url"] + "/x")).content

    assert run(go()) == BODY  # verify=True, trust_env: SSL_CERT_FILE
    clean_proxy_env.delenv("SSL_CERT_FILE")
    assert run(go(verify=False)) == BODY


def test_https_unknown_ca_refused_like_httpx(tls, clean_proxy_env):
    clean_proxy_env.delenv("SSL_CERT_FILE", raising=False)

    async def go(transport):
        async with httpx.AsyncClient(transport=transport) as c:
            await c.get(tls["url"] + "/x")

    with pytest.raises(httpx.ConnectError) as stock:
        run(go(httpx.AsyncHTTPTransport()))
    with pytest.raises(httpx.ConnectError) as ours:
        run(go(AsyncHTTPTransport()))
    assert type(ours.value) is type(stock.value)
    with httpx.Client(transport=HTTPTransport()) as c, pytest.raises(httpx.ConnectError):
        c.get(tls["url"] + "/x")


# ---------------------------------------------------------------- proxies


def test_http_proxy_from_env(plain, proxy, clean_proxy_env):
    clean_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")

    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as c:
            return (await c.post(plain + "/v1/chat/completions", json={"x": 1})).json()

    assert run(go()) == {"proxied": plain + "/v1/chat/completions"}
    with httpx.Client(transport=HTTPTransport()) as c:
        assert c.get(plain + "/y").json() == {"proxied": plain + "/y"}
    # trust_env=False ignores it
    async def direct():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport(trust_env=False)) as c:
            return (await c.get(plain + "/z")).content

    assert run(direct()) == BODY


def test_no_proxy_bypasses(plain, proxy, clean_proxy_env):
    clean_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    clean_proxy_env.setenv("NO_PROXY", "127.0.0.1,localhost")

    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport()) as c:
            return (await c.get(plain + "/x")).content

    assert run(go()) == BODY
    assert proxy.seen == []


def test_https_proxy_connect_tunnel(tls, proxy, clean_proxy_env):
    clean_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")

    async def go():
        async with httpx.AsyncClient(transport=AsyncHTTPTransport(verify=tls["ca"])) as c:
            return (await c.get(tls["url"] + "/x")).content

    assert run(go()) == BODY
    port = tls["url"].rsplit(":", 1)[1]
    assert proxy.seen and proxy.seen[0].startswith(f"CONNECT 127.0.0.1:{port} ")


# ---------------------------------------------------------------- fork


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_requests_work_in_forked_child(plain, clean_proxy_env):
    transport = AsyncHTTPTransport()

    async def get():
        async with httpx.AsyncClient(transport=transport) as c:
            return (await c.get(plain + "/x")).content

    assert run(get()) == BODY  # the runtime and a pooled connection exist in the parent
    sync = HTTPTransport()
    with httpx.Client(transport=sync) as c:
        assert c.get(plain + "/x").content == BODY
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            ok = run(get()) == BODY
            with httpx.Client(transport=sync) as c:
                ok = ok and c.get(plain + "/x").content == BODY
            os.write(w, b"ok" if ok else b"bad")
            code = 0
        except BaseException as e:  # noqa: BLE001
            os.write(w, repr(e).encode()[:500])
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    out = os.read(r, 1000)
    os.close(r)
    assert out == b"ok" and status == 0
    assert run(get()) == BODY  # the parent still works


# ---------------------------------------------------------------- LiteLLM over TLS


def _litellm_tls_outcome(url: str, ssl_verify):
    import litellm
    from litellm.llms.custom_httpx import http_handler

    litellm.ssl_verify = ssl_verify
    for cache in (getattr(litellm, "in_memory_llm_clients_cache", None),):
        if cache is not None:
            cache.flush_cache()
    getattr(http_handler, "_ssl_context_cache", {}).clear()

    async def go():
        try:
            r = await litellm.acompletion(model="openai/gpt-4o-mini", api_base=url + "/v1", api_key="sk-test",
                                          messages=[{"role": "user", "content": "hi"}], max_retries=0,
                                          num_retries=0)
            return ("ok", r.choices[0].message.content, r.usage.total_tokens)
        except Exception as exc:  # noqa: BLE001
            return ("error", type(exc).__name__, getattr(exc, "status_code", None))

    return run(go())


@pytest.mark.parametrize("verify", ["ca_path", "false", "unknown_ca"])
def test_litellm_over_tls_same_as_stock(tls, transport_on, clean_proxy_env, verify):
    import fast_litellm
    import litellm

    applied = [p for p in fast_litellm.status()["patches"] if p["component"] == "transport" and p["state"] == "applied"]
    if not applied:
        pytest.skip("transport patch not applied on this LiteLLM")
    ssl_verify = {"ca_path": tls["ca"], "false": False, "unknown_ca": True}[verify]
    saved = litellm.ssl_verify
    try:
        calls = sum(p["calls"] for p in fast_litellm.status()["patches"] if p["component"] == "transport")
        fast = _litellm_tls_outcome(tls["url"], ssl_verify)
        assert sum(p["calls"] for p in fast_litellm.status()["patches"] if p["component"] == "transport") > calls
        fast_litellm.deactivate()
        try:
            stock = _litellm_tls_outcome(tls["url"], ssl_verify)
        finally:
            fast_litellm.activate()
    finally:
        litellm.ssl_verify = saved
    assert fast == stock
    assert fast[0] == ("error" if verify == "unknown_ca" else "ok")
