"""A test-only patch over a real LiteLLM function, to exercise the machinery
(activation order, every from-import place, deactivate, fallback, shadow) without
depending on any one component's Rust code.

Target: ``get_llm_provider``, defined in one module and from-imported by many
others on both pinned versions.
"""

from fast_litellm._patching import Patch

TARGET_MODULE = "litellm.litellm_core_utils.get_llm_provider_logic"
TARGET = TARGET_MODULE + ":get_llm_provider"


class Behaviour:
    """What the probe's fast path does; tests flip it."""

    mode = "same"  # same | raise | panic | wrong | decline


def make_probe_patch() -> Patch:
    def build(original):
        def fast(*args, **kwargs):
            if Behaviour.mode == "raise":
                raise RuntimeError("injected failure")
            if Behaviour.mode == "panic":
                from fast_litellm import _native

                _native._panic_for_tests("injected panic")
            if Behaviour.mode == "wrong":
                return ("wrong-model", "wrong-provider", None, None)
            if Behaviour.mode == "decline":
                from fast_litellm import NOT_COVERED

                return NOT_COVERED
            return original(*args, **kwargs)

        return fast

    return Patch(
        name="probe_get_llm_provider",
        component="probe",
        target=TARGET,
        supports=">=1.83.7",
        build=build,
        summary="test-only probe",
    )
