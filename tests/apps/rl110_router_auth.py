"""A ``general_settings.custom_auth`` for the 1.110.x fused pre-call proxy test: every request is
the key ``FAST_LITELLM_TEST_KEY`` with rpm/tpm limits, and each call first writes the fused
pre-call patch's counters (as of the requests before it) to ``FAST_LITELLM_TEST_COUNTERS``."""

import json
import os

from litellm.proxy._types import UserAPIKeyAuth


def _write_counters() -> None:
    path = os.environ.get("FAST_LITELLM_TEST_COUNTERS")
    if not path:
        return
    import fast_litellm
    from fast_litellm.components.rate_limit import v3_110 as m

    patch = next((p for p in fast_litellm.status()["patches"] if p["name"] == "rate_limit.v3_110_fused_pre_call"), None)
    with open(path + ".tmp", "w") as f:
        json.dump({"patch": patch, "fused": m.FUSED.fused, "delegated": m.FUSED.delegated}, f)
    os.replace(path + ".tmp", path)


async def user_api_key_auth(request, api_key: str) -> UserAPIKeyAuth:
    _write_counters()
    return UserAPIKeyAuth(
        api_key=os.environ.get("FAST_LITELLM_TEST_KEY", "hk-rl110-test"),
        rpm_limit=int(os.environ.get("FAST_LITELLM_TEST_RPM", "100")),
        tpm_limit=int(os.environ.get("FAST_LITELLM_TEST_TPM", "1000000")),
    )
