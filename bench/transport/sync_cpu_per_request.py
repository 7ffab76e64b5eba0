"""CPU and wall time per request through a blocking httpx.Client, by transport.

Sequential POSTs of a chat payload to the local mock upstream (its own process):
httpx's default transport (what LiteLLM's sync clients use) vs
``fast_litellm.HTTPTransport`` as the sync patches install it. Rounds alternate;
medians are reported.

  python bench/transport/sync_cpu_per_request.py [--requests 1500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402

from cpu_per_request import PAYLOAD  # noqa: E402
from upstream import MockUpstream  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from fast_litellm.bench import machine
    from fast_litellm.components.transport import _transport

    with MockUpstream() as up:
        url = up.url + "/v1/chat/completions"
        clients = {
            "httpx_default": httpx.Client(timeout=600),
            "fast_litellm": httpx.Client(transport=_transport(True, None, sync=True), timeout=600),
        }
        results = {name: [] for name in clients}
        for client in clients.values():
            for _ in range(200):
                client.post(url, json=PAYLOAD)
        for r in range(args.rounds):
            for name in (list(clients) if r % 2 == 0 else list(clients)[::-1]):
                client = clients[name]
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for _ in range(args.requests):
                    resp = client.post(url, json=PAYLOAD)
                    if resp.status_code != 200 or not resp.content:
                        raise RuntimeError(f"bad response {resp.status_code}")
                results[name].append(((time.process_time() - cpu0) / args.requests * 1e3,
                                      (time.perf_counter() - wall0) / args.requests * 1e3))
        for client in clients.values():
            client.close()
    import importlib.metadata as md

    print(f"machine: {machine()}\nlitellm {md.version('litellm')}, {args.requests} sequential requests x {args.rounds} rounds")
    for name, v in results.items():
        print(f"  {name:<14} {statistics.median(x[0] for x in v):.3f} ms CPU/request  "
              f"{statistics.median(x[1] for x in v):.3f} ms wall/request")


if __name__ == "__main__":
    main()
