"""A LiteLLM proxy ``general_settings.custom_auth`` for the rate-limit tests:
every request is the key ``FAST_LITELLM_TEST_KEY`` limited to
``FAST_LITELLM_TEST_RPM`` requests per minute (LiteLLM's v3 limiter enforces it)."""

import os

from litellm.proxy._types import UserAPIKeyAuth


async def user_api_key_auth(request, api_key: str) -> UserAPIKeyAuth:
    return UserAPIKeyAuth(
        api_key=os.environ.get("FAST_LITELLM_TEST_KEY", "hk-rl-test"),
        rpm_limit=int(os.environ.get("FAST_LITELLM_TEST_RPM", "5")),
    )
