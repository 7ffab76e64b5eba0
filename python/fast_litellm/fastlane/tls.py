"""How LiteLLM verifies an ``https://`` upstream, for the fast lane's Rust TLS client.

On both verified versions LiteLLM's OpenAI client (chat completions of an ``openai/``
deployment) is built with ``get_ssl_configuration()`` *without* the deployment's own
``litellm_params.ssl_verify``: the trust is the process's, from ``SSL_VERIFY`` (env), else
``litellm.ssl_verify`` (``litellm_settings.ssl_verify``), then ``SSL_CERT_FILE`` when
verification is on, else certifi's bundle -- one CA file loaded into an OpenSSL context
(not the system store), TLS 1.2 minimum, no client certificate (``ssl_certificate`` /
``SSL_CERTIFICATE`` are read by LiteLLM's generic HTTP handler, not by that client).

:func:`trust` asks the installed LiteLLM itself, in a child process with the environment
the proxy will have (the config's ``environment_variables`` applied) and
``litellm.ssl_verify`` set as ``load_config`` sets it. The answer goes to Rust as a
deployment's ``tls`` (``crates/fastlane/src/upstream_tls.rs``). Whatever it cannot
reproduce (a context that is not the expected kind, OpenSSL verify flags other than the
ones it models, an HTTPS proxy from the environment) keeps https deployments on LiteLLM,
with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, Optional, Tuple

# Environment variables that route LiteLLM's https calls through a proxy the front does not use.
PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")

_SCRIPT = r"""
import json, os, ssl, sys
import certifi
import litellm
from litellm.llms.custom_httpx.http_handler import get_ssl_configuration, get_ssl_verify

settings = json.load(sys.stdin)
if "ssl_verify" in settings:
    litellm.ssl_verify = settings["ssl_verify"]
out = {}
resolved = get_ssl_verify()
context = get_ssl_configuration()
# Cipher, security-level and curve choices narrow what OpenSSL accepts in ways rustls does not follow.
tuned = [name for name, value in (
    ("LITELLM_SSL_CIPHERS", os.getenv("LITELLM_SSL_CIPHERS")),
    ("ssl_security_level", os.getenv("SSL_SECURITY_LEVEL", getattr(litellm, "ssl_security_level", None))),
    ("ssl_ecdh_curve", os.getenv("SSL_ECDH_CURVE", getattr(litellm, "ssl_ecdh_curve", None)))) if value]
if tuned:
    out["why"] = f"TLS tuning not reproduced: {', '.join(tuned)}"
elif context is False:
    out["trust"] = {"verify": False}
elif isinstance(context, ssl.SSLContext):
    # The CA file get_ssl_configuration loaded (its own order: an existing ssl_verify path,
    # then an existing SSL_CERT_FILE, then certifi), checked against the context it built.
    cafile = None
    if isinstance(resolved, str) and os.path.exists(resolved):
        cafile = resolved
    if not cafile:
        env_file = os.getenv("SSL_CERT_FILE")
        cafile = env_file if env_file and os.path.exists(env_file) else certifi.where()
    same = ssl.create_default_context(cafile=cafile).get_ca_certs(True) == context.get_ca_certs(True)
    flags = int(context.verify_flags)
    modelled = int(ssl.VERIFY_X509_TRUSTED_FIRST)
    partial = int(getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0))
    if not same:
        out["why"] = "the CA certificates LiteLLM loaded are not those of the CA file it names"
    elif context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        out["why"] = "LiteLLM's TLS context does not verify certificates and names the modelled way"
    elif context.minimum_version != ssl.TLSVersion.TLSv1_2:
        out["why"] = "LiteLLM's TLS context has another minimum version than TLS 1.2"
    elif flags & ~(modelled | partial):
        out["why"] = f"OpenSSL verify flags {flags:#x} not modelled"
    else:
        out["trust"] = {"verify": True, "ca_file": os.path.abspath(cafile), "partial_chain": bool(flags & partial)}
else:
    out["why"] = f"LiteLLM's TLS configuration is {type(context).__name__}, not a context"
print(json.dumps(out))
"""


def trust(litellm_settings: Dict[str, Any], env_after: Dict[str, str]) -> Tuple[Optional[dict], Optional[str]]:
    """(the ``tls`` of every https deployment, None) or (None, why https stays on LiteLLM).

    ``litellm_settings``: the resolved config section; ``env_after``: the process environment
    with the config's ``environment_variables`` applied, as the proxy will run."""
    for var in PROXY_ENV:
        if env_after.get(var):
            return None, f"{var} is set: LiteLLM may reach https upstreams through that proxy"
    settings = {}
    if "ssl_verify" in litellm_settings:
        value = litellm_settings["ssl_verify"]
        if not isinstance(value, (bool, str)):
            return None, "litellm_settings.ssl_verify is neither a boolean nor a path"
        settings["ssl_verify"] = value
    try:
        # The local cost map: the import must not wait on the network (it changes nothing here).
        child_env = dict(env_after, LITELLM_LOCAL_MODEL_COST_MAP="True")
        out = subprocess.run([sys.executable, "-c", _SCRIPT], input=json.dumps(settings), env=child_env,
                             capture_output=True, text=True, timeout=180)
        answer = json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as exc:  # no answer from LiteLLM: nothing to reproduce
        return None, f"LiteLLM's TLS settings could not be read: {exc!r}"
    if "trust" in answer:
        return answer["trust"], None
    return None, str(answer.get("why") or "LiteLLM's TLS settings could not be read")
